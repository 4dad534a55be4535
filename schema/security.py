"""GraphQL types of security, admins only (docs/security.md): the audit log (``auditLog``) and API keys
(``apiKeys``, ``createApiKey``, ``revokeApiKey``: key management while a server holds the embedded store)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from cdp.security.api_keys import ApiKey
from cdp.security.audit import AuditRecord
from graph.clock import naive_utc
from resolvers import security as resolve
from resolvers.context import Context
from schema.connections import BeforeArgument, LastArgument
from schema.types import PageInfo, page_info

@strawberry.type(description="One audit record: who did or read what, when (ids only, never personal values).")
class AuditEntry:
    at: datetime = strawberry.field(description="When the call happened (ISO 8601, UTC).")
    principal: str = strawberry.field(description="key:<key id>, jwt:<issuer>:<subject> or cli:<user>.")
    role: str = strawberry.field(description="Role of the principal: admin, app, analyst, partner or customer.")
    action: str = strawberry.field(description="write, read_personal, export, erase, key_created, key_revoked "
                                               "or denied.")
    operation: str = strawberry.field(description="GraphQL root fields (or CLI command) of the call.")
    customers: list[strawberry.ID] = strawberry.field(description="Ids of the customers written, read or exported.")
    fields: list[str] = strawberry.field(description="Personal fields read unmasked.")
    outcome: str = strawberry.field(description="ok, or the error code the call ended with.")
    request_id: str | None = strawberry.field(
        description="The request id (`X-Request-Id`) the call ran under; null for CLI calls.")

    @classmethod
    def from_record(cls, r: AuditRecord) -> AuditEntry:
        return cls(at=datetime.fromisoformat(r.at.replace("Z", "+00:00")), principal=r.principal, role=r.role,
                   action=r.action, operation=r.operation, customers=[strawberry.ID(c) for c in r.customers],
                   fields=list(r.fields), outcome=r.outcome, request_id=r.request_id)


@strawberry.type
class SecurityQuery:
    @strawberry.field(description="Audit records, newest first, filtered by customer, principal, action and "
                                  "time. Admins only.")
    async def audit_log(
        self,
        info: Info[Context, None],
        customer_id: Annotated[strawberry.ID | None, strawberry.argument(
            description="Only records naming this customer.")] = None,
        principal: Annotated[str | None, strawberry.argument(
            description="Only records of this principal, e.g. `key:<key id>`.")] = None,
        action: Annotated[str | None, strawberry.argument(
            description="Only records of this action, e.g. `read_personal`.")] = None,
        since: Annotated[datetime | None, strawberry.argument(
            description="Only records at or after this time (ISO 8601; without offset: UTC).")] = None,
        first: Annotated[int | None, strawberry.argument(
            description="Page forward: the first `first` records (newest first) after `after`, 1..1000; not "
                        "with `last`. Null with `last` null: 100.")] = None,
        after: Annotated[str | None, strawberry.argument(
            description="Cursor of the record to start after (`pageInfo.endCursor`); null: the newest.")] = None,
        last: LastArgument = None,
        before: BeforeArgument = None,
    ) -> AuditEntryConnection:
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
    id: strawberry.ID = strawberry.field(
        description="Key id (not the secret); `revokeApiKey` and `cdp keys revoke` take it.")
    name: str = strawberry.field(description="Name given at creation, e.g. the service that uses the key.")
    role: str = strawberry.field(
        description="Role of the key: admin, app, analyst, partner or customer (docs/security.md).")
    scopes: list[str] = strawberry.field(description="Extra scopes: `personal_data`, `personal:<field>`, `metrics`.")
    operations: list[str] = strawberry.field(description="Partner keys: the operations they may use.")
    customer_id: strawberry.ID | None = strawberry.field(
        description="For a customer key, the only customer it may read and change; null otherwise.")
    created_at: datetime | None = strawberry.field(description="When the key was created (ISO 8601, UTC).")
    expires_at: datetime | None = strawberry.field(
        description="When the key stops working (ISO 8601, UTC); null: never.")
    revoked_at: datetime | None = strawberry.field(
        description="When the key was revoked (ISO 8601, UTC); null while active.")

    @classmethod
    def from_key(cls, k: ApiKey) -> ApiKeyInfo:
        return cls(id=strawberry.ID(k.id), name=k.name, role=k.role.value, scopes=list(k.scopes),
                   operations=list(k.operations), customer_id=strawberry.ID(k.customer_id) if k.customer_id else None,
                   created_at=k.created_at, expires_at=k.expires_at, revoked_at=k.revoked_at)


@strawberry.type(description="A new API key: `key` is shown only in this answer (its secret is stored hashed).")
class CreatedApiKey:
    key: str = strawberry.field(
        description="The secret, shown this once only: send it as `Authorization: Bearer <key>`.")
    api_key: ApiKeyInfo = strawberry.field(description="The key's record (without the secret).")


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
    async def create_api_key(
        self,
        info: Info[Context, None],
        name: Annotated[str, strawberry.argument(
            description="A name for people, e.g. the service that will use the key.")],
        role: Annotated[str, strawberry.argument(
            description="admin, app, analyst, partner or customer (BAD_USER_INPUT otherwise).")],
        scopes: Annotated[list[str] | None, strawberry.argument(
            description="Extra scopes: `personal_data`, `personal:<field>`, `metrics`.")] = None,
        operations: Annotated[list[str] | None, strawberry.argument(
            description="For a partner key: the root fields it may call (docs/security.md).")] = None,
        customer_id: Annotated[strawberry.ID | None, strawberry.argument(
            description="For a customer key (required then): the customer it acts for.")] = None,
        expires_at: Annotated[datetime | None, strawberry.argument(
            description="When the key stops working (ISO 8601; without offset: UTC); null: never.")] = None,
    ) -> CreatedApiKey:
        key, text = await resolve.create_key(info.context, name, role, scopes or [], operations or [],
                                             str(customer_id) if customer_id else None, naive_utc(expires_at))
        return CreatedApiKey(key=text, api_key=ApiKeyInfo.from_key(key))

    @strawberry.mutation(description="Revoke an API key: refused from now on by this server, and by other "
                                     "server processes within CDP_API_KEY_CACHE_SECONDS. Admins only. The last "
                                     "active admin key cannot be revoked here (CONFLICT): create another admin "
                                     "key first.")
    async def revoke_api_key(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The key id (not the secret).")],
    ) -> ApiKeyInfo:
        return ApiKeyInfo.from_key(await resolve.revoke_key(info.context, str(id)))
