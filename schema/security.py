"""GraphQL types of security: the audit log (``auditLog``, admins only; docs/security.md)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from anyio import to_thread
from strawberry.types import Info

from cdp.audit import AuditRecord
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
