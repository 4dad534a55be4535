"""Glue for privacy: consents, the export of everything held about a person, erasure.

Exports and erasures are audited here (``export``, ``erase``), on top of the
``write`` record ``schema.authorization`` keeps of every mutation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from anyio import to_thread

from cdp.privacy import consent
from cdp.privacy import customer_export
from cdp.privacy import erasure
from cdp.errors import CdpError
from cdp.security.permissions import check_customer
from cdp.security.principal import Role
from cdp.customers.profile import SELF_SERVICE_SOURCE
from resolvers.context import Context

#: Source recorded for a consent when the caller names none (customers always record CUSTOMER).
DEFAULT_SOURCE = "API"


async def consents(ctx: Context, customer_id: str) -> list[consent.Consent]:
    """The customer's effective consent statements now (``cdp.privacy.consent.current``)."""
    return consent.current(await ctx.loaders.attribute_values.load(customer_id), ctx.now)


async def consent_history(ctx: Context, customer_id: str, purpose: str | None,
                          channel: str | None) -> list[consent.Consent]:
    """Every consent statement of the customer, newest first, optionally of one purpose and/or channel."""
    found = consent.history(await ctx.loaders.attribute_values.load(customer_id))
    return [c for c in found if (purpose is None or c.purpose == purpose) and (channel is None or c.channel == channel)]


async def record_consent(ctx: Context, customer_id: str, purpose: str | None, channel: str | None, status: str,
                         expires_at: datetime | None, source: str | None) -> list[consent.Consent]:
    """Record one consent statement and return the customer's effective consents. A customer
    principal records for itself only, as source ``CUSTOMER`` (customer-maintained); who may
    record what is ``cdp.privacy.consent.check_recorder`` (a partner never grants DATA_SHARING)."""
    check_customer(ctx.principal, customer_id)
    consent.check_recorder(ctx.principal, purpose, status, source)
    by_customer = ctx.principal.role is Role.CUSTOMER
    source = SELF_SERVICE_SOURCE if by_customer else (source or DEFAULT_SOURCE)
    now = ctx.now
    await to_thread.run_sync(lambda: consent.record(ctx.store, customer_id, purpose, channel, status, expires_at,
                                                    source, by_customer, now))
    ctx.forget_reads()
    return await consents(ctx, customer_id)


async def export_customer_data(ctx: Context, customer_id: str) -> dict[str, Any]:
    """Everything held about one person (``cdp.privacy.customer_export``), audited as ``export``."""
    check_customer(ctx.principal, customer_id)
    document = await to_thread.run_sync(customer_export.export, ctx.store, customer_id, ctx.now, ctx.analytics)
    if ctx.audit is not None:  # before anything leaves: an export that cannot be audited is refused
        ctx.audit.record(ctx.principal, "export", "exportCustomerData", customers=[customer_id])
    return document


async def erase_customer(ctx: Context, customer_id: str) -> erasure.Erasure:
    """Erase one person (``cdp.privacy.erasure``), audited as ``erase`` with its outcome."""
    check_customer(ctx.principal, customer_id)
    try:
        result = await to_thread.run_sync(erasure.erase, ctx.store, customer_id, ctx.now)
    except CdpError as exc:
        if ctx.audit is not None:
            ctx.audit.record(ctx.principal, "erase", "eraseCustomer", customers=[customer_id], outcome=exc.code)
        raise
    if ctx.audit is not None:
        ctx.audit.record(ctx.principal, "erase", "eraseCustomer", customers=[customer_id, *result.customers])
    ctx.forget_reads()
    return result
