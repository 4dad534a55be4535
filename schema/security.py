"""GraphQL types of security, admins only (docs/security.md): the audit log (``auditLog``) and API keys
(``apiKeys``, ``createApiKey``, ``revokeApiKey``: key management while a server holds the embedded store)."""

from __future__ import annotations

from datetime import datetime, timezone

import strawberry
from anyio import to_thread
from strawberry.types import Info

from cdp.security import api_keys
from cdp.security.api_keys import ApiKey
from cdp.security.audit import AuditRecord
from cdp.security.principal import Role
from cdp.errors import InvalidInput
from resolvers.context import Context

#: Most audit records one ``auditLog`` call returns.
MAX_AUDIT_PAGE = 1000


@strawberry.type(description="One audit record: who did or read what, when (ids only, never personal values).")
class AuditEntry:
    at: datetime
    principal: str = strawberry.field(description="key:<key id>, jwt:<issuer>:<subject> or cli:<user>.")
    role: str
    action: str = strawberry.field(description="write, read_personal, export, erase, key_created, key_revoked "
                                               "or denied.")
    operation: str = strawberry.field(description="GraphQL root fields (or CLI command) of the call.")
    customers: list[strawberry.ID]
    fields: list[str] = strawberry.field(description="Personal fields read unmasked.")
    outcome: str = strawberry.field(description="ok, or the error code the call ended with.")
    request_id: str | None

    @classmethod
    def from_record(cls, r: AuditRecord) -> AuditEntry:
        return cls(at=datetime.fromisoformat(r.at.replace("Z", "+00:00")), principal=r.principal, role=r.role,
                   action=r.action, operation=r.operation, customers=[strawberry.ID(c) for c in r.customers],
                   fields=list(r.fields), outcome=r.outcome, request_id=r.request_id)


@strawberry.type
class SecurityQuery:
    @strawberry.field(description="Audit records, newest first, filtered by customer, principal, action and "
                                  "time. Admins only.")
    async def audit_log(self, info: Info[Context, None], customer_id: strawberry.ID | None = None,
                        principal: str | None = None, action: str | None = None, since: datetime | None = None,
                        first: int = 100) -> list[AuditEntry]:
        ctx = info.context
        if not 0 < first <= MAX_AUDIT_PAGE:
            raise InvalidInput(f"first must be between 1 and {MAX_AUDIT_PAGE}", field="first")
        if ctx.audit is None:
            return []
        records = await to_thread.run_sync(lambda: ctx.audit.read(
            customer_id=str(customer_id) if customer_id else None, principal=principal, action=action,
            since=since, limit=first))
        return [AuditEntry.from_record(r) for r in records]


@strawberry.type(description="An API key (never its secret).")
class ApiKeyInfo:
    id: strawberry.ID
    name: str
    role: str
    scopes: list[str]
    operations: list[str] = strawberry.field(description="Partner keys: the operations they may use.")
    customer_id: strawberry.ID | None
    created_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_key(cls, k: ApiKey) -> ApiKeyInfo:
        return cls(id=strawberry.ID(k.id), name=k.name, role=k.role.value, scopes=list(k.scopes),
                   operations=list(k.operations), customer_id=strawberry.ID(k.customer_id) if k.customer_id else None,
                   created_at=k.created_at, expires_at=k.expires_at, revoked_at=k.revoked_at)


@strawberry.type(description="A new API key: `key` is shown only in this answer (its secret is stored hashed).")
class CreatedApiKey:
    key: str
    api_key: ApiKeyInfo


@strawberry.type
class SecurityKeysQuery:
    @strawberry.field(description="Every API key, revoked ones too, oldest first. Admins only.")
    async def api_keys(self, info: Info[Context, None]) -> list[ApiKeyInfo]:
        keys = await to_thread.run_sync(api_keys.list_keys, info.context.store)
        return [ApiKeyInfo.from_key(k) for k in keys]


@strawberry.type
class SecurityMutation:
    @strawberry.mutation(description="Create an API key (the same rules as `cdp keys create`; usable while the "
                                     "server holds the embedded store). Admins only.")
    async def create_api_key(self, info: Info[Context, None], name: str, role: str,
                             scopes: list[str] | None = None, operations: list[str] | None = None,
                             customer_id: strawberry.ID | None = None,
                             expires_at: datetime | None = None) -> CreatedApiKey:
        try:
            parsed = Role.parse(role)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="role") from None
        expires = expires_at.astimezone(timezone.utc).replace(tzinfo=None) if expires_at and expires_at.tzinfo \
            else expires_at
        key, text = await to_thread.run_sync(lambda: api_keys.create_key(
            info.context.store, name, parsed, scopes=scopes or (), operations=operations or (),
            customer_id=str(customer_id) if customer_id else None, expires_at=expires))
        return CreatedApiKey(key=text, api_key=ApiKeyInfo.from_key(key))

    @strawberry.mutation(description="Revoke an API key: refused from now on by this server, and by other "
                                     "server processes within CDP_API_KEY_CACHE_SECONDS. Admins only. The last "
                                     "active admin key cannot be revoked here (CONFLICT): create another admin "
                                     "key first.")
    async def revoke_api_key(self, info: Info[Context, None], id: strawberry.ID) -> ApiKeyInfo:
        ctx = info.context
        key = await to_thread.run_sync(api_keys.revoke_key, ctx.store, str(id))
        authenticator = getattr(getattr(getattr(ctx.request, "app", None), "state", None), "authenticator", None)
        if authenticator is not None:
            authenticator.keys.forget(key.id)
        return ApiKeyInfo.from_key(key)
