"""Glue for security administration: the audit log and API keys, off the event loop."""

from __future__ import annotations

from datetime import datetime

from anyio import to_thread

from cdp import api_keys
from cdp.api_keys import ApiKey
from cdp.audit import AuditRecord
from cdp.errors import InvalidInput
from cdp.principal import Role
from resolvers.context import Context

#: Most audit records one ``auditLog`` call returns.
MAX_AUDIT_PAGE = 1000


async def audit_log(ctx: Context, customer_id: str | None, principal: str | None, action: str | None,
                    since: datetime | None, first: int) -> list[AuditRecord]:
    """Audit records, newest first, filtered; empty where the context has no audit log.
    Raises ``InvalidInput`` when ``first`` is not within 1..``MAX_AUDIT_PAGE``."""
    if not 0 < first <= MAX_AUDIT_PAGE:
        raise InvalidInput(f"first must be between 1 and {MAX_AUDIT_PAGE}", field="first")
    audit = ctx.audit
    if audit is None:
        return []
    return await to_thread.run_sync(lambda: audit.read(
        customer_id=customer_id, principal=principal, action=action, since=since, limit=first))


async def keys(ctx: Context) -> list[ApiKey]:
    """Every API key, revoked ones too, oldest first."""
    return await to_thread.run_sync(api_keys.list_keys, ctx.store)


async def create_key(ctx: Context, name: str, role: str, scopes: list[str], operations: list[str],
                     customer_id: str | None, expires_at: datetime | None) -> tuple[ApiKey, str]:
    """Create an API key (``cdp.api_keys.create_key``): the key and its secret text, shown once.
    Raises ``InvalidInput`` for an unknown role (``field="role"``) or a bad key."""
    try:
        parsed = Role.parse(role)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="role") from None
    return await to_thread.run_sync(lambda: api_keys.create_key(
        ctx.store, name, parsed, scopes=scopes, operations=operations, customer_id=customer_id,
        expires_at=expires_at))


async def revoke_key(ctx: Context, key_id: str) -> ApiKey:
    """Revoke an API key (``cdp.api_keys.revoke_key``: ``NotFound``, ``Conflict`` for the last
    active admin key); this server's authenticator forgets it at once."""
    key = await to_thread.run_sync(api_keys.revoke_key, ctx.store, key_id)
    authenticator = getattr(getattr(getattr(ctx.request, "app", None), "state", None), "authenticator", None)
    if authenticator is not None:
        authenticator.keys.forget(key.id)
    return key
