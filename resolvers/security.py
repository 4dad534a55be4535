"""Glue for security administration: the audit log and API keys, off the event loop."""

from __future__ import annotations

from datetime import datetime

from anyio import to_thread

from cdp.security import api_keys
from cdp.security.api_keys import ApiKey
from cdp.security.audit import AuditRecord
from cdp.errors import InvalidInput
from cdp.transport.pagination import Page, keyset_page, page_request
from cdp.security.principal import Role
from resolvers.context import Context

#: Most audit records one ``auditLog`` page holds.
MAX_AUDIT_PAGE = 1000
#: Records of an ``auditLog`` page without ``first`` or ``last``.
DEFAULT_AUDIT_PAGE = 100


async def audit_page(ctx: Context, customer_id: str | None, principal: str | None, action: str | None,
                     since: datetime | None, first: int | None, after: str | None, last: int | None,
                     before: str | None) -> tuple[Page[tuple[int, AuditRecord]], int]:
    """One keyset page of audit records, newest first, filtered, and how many match in all
    (empty where the context has no audit log). Cursors name a record's place in the log file.

    Raises ``InvalidInput`` (with the argument as field) for bad paging arguments or a cursor
    that is not one of this list's (``cdp.transport.pagination.page_request``)."""
    audit = ctx.audit
    numbered: list[tuple[int, AuditRecord]]
    if audit is None:
        identity, numbered = "none", []
    else:
        identity, numbered = await to_thread.run_sync(lambda: audit.numbered(
            customer_id=customer_id, principal=principal, action=action, since=since))
    request = page_request(first, after, last, before, MAX_AUDIT_PAGE, f"audit:{identity}", 1,
                           default_size=DEFAULT_AUDIT_PAGE)
    if request.cursor is not None and not isinstance(request.cursor[0], int):
        field = "before" if request.backward else "after"
        raise InvalidInput(f"{field} is not a valid cursor of this list and order", field=field)
    return keyset_page(numbered, lambda item: (item[0],), request, descending=True), len(numbered)


async def keys(ctx: Context) -> list[ApiKey]:
    """Every API key, revoked ones too, oldest first."""
    return await to_thread.run_sync(api_keys.list_keys, ctx.store)


async def create_key(ctx: Context, name: str, role: str, scopes: list[str], operations: list[str],
                     customer_id: str | None, expires_at: datetime | None) -> tuple[ApiKey, str]:
    """Create an API key (``cdp.security.api_keys.create_key``): the key and its secret text, shown once.
    Raises ``InvalidInput`` for an unknown role (``field="role"``) or a bad key."""
    try:
        parsed = Role.parse(role)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="role") from None
    return await to_thread.run_sync(lambda: api_keys.create_key(
        ctx.store, name, parsed, scopes=scopes, operations=operations, customer_id=customer_id,
        expires_at=expires_at))


async def revoke_key(ctx: Context, key_id: str) -> ApiKey:
    """Revoke an API key (``cdp.security.api_keys.revoke_key``: ``NotFound``, ``Conflict`` for the last
    active admin key); this server's authenticator forgets it at once."""
    key = await to_thread.run_sync(api_keys.revoke_key, ctx.store, key_id)
    authenticator = getattr(getattr(getattr(ctx.request, "app", None), "state", None), "authenticator", None)
    if authenticator is not None:
        authenticator.keys.forget(key.id)
    return key
