"""GraphQL types of security, admins only (docs/security.md): the audit log (``auditLog``) and API keys
(``apiKeys``, ``createApiKey``, ``revokeApiKey``: key management while a server holds the embedded store)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from cdp.api_keys import ApiKey
from cdp.audit import AuditRecord
from graph.clock import naive_utc
from resolvers import security as resolve
from resolvers.context import Context
from schema.connections import BeforeArgument, LastArgument
from schema.types import PageInfo, page_info

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
                        first: int | None = None, after: str | None = None, last: LastArgument = None,
                        before: BeforeArgument = None) -> AuditEntryConnection:
        page, total = await resolve.audit_page(info.context, str(customer_id) if customer_id else None,
                                               principal, action, since, first, after, last, before)
        edges = [AuditEntryEdge(cursor=c, node=AuditEntry.from_record(r))
                 for c, (_, r) in zip(page.cursors(), page.items)]
        return AuditEntryConnection(edges=edges, page_info=page_info(page), total_count=total)


@strawberry.type(description="An edge of the audit log: one record and its cursor.")
class AuditEntryEdge:
    cursor: str = strawberry.field(description="Opaque keyset cursor of this record (`after` / `before`).")
    node: AuditEntry = strawberry.field(description="The record.")


@strawberry.type(description="A page of the audit log, newest first. Cursors name a record's place in the log "
                             "file, so records appended while paging do not shift the pages; after a rotation "
                             "of the file, its old cursors are refused (BAD_USER_INPUT).")
class AuditEntryConnection:
    edges: list[AuditEntryEdge] = strawberry.field(description="The page's records, newest first.")
    page_info: PageInfo = strawberry.field(description="Cursors of the page's ends and whether records lie "
                                                       "beyond them.")
    total_count: int = strawberry.field(description="Records matching the filters (all pages).")


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
        keys = await resolve.keys(info.context)
        return [ApiKeyInfo.from_key(k) for k in keys]


@strawberry.type
class SecurityMutation:
    @strawberry.mutation(description="Create an API key (the same rules as `cdp keys create`; usable while the "
                                     "server holds the embedded store). Admins only.")
    async def create_api_key(self, info: Info[Context, None], name: str, role: str,
                             scopes: list[str] | None = None, operations: list[str] | None = None,
                             customer_id: strawberry.ID | None = None,
                             expires_at: datetime | None = None) -> CreatedApiKey:
        key, text = await resolve.create_key(info.context, name, role, scopes or [], operations or [],
                                             str(customer_id) if customer_id else None, naive_utc(expires_at))
        return CreatedApiKey(key=text, api_key=ApiKeyInfo.from_key(key))

    @strawberry.mutation(description="Revoke an API key: refused from now on by this server, and by other "
                                     "server processes within CDP_API_KEY_CACHE_SECONDS. Admins only. The last "
                                     "active admin key cannot be revoked here (CONFLICT): create another admin "
                                     "key first.")
    async def revoke_api_key(self, info: Info[Context, None], id: strawberry.ID) -> ApiKeyInfo:
        return ApiKeyInfo.from_key(await resolve.revoke_key(info.context, str(id)))
