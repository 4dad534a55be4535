"""Resolvers for profile maintenance and identity splits (writes run in a worker thread)."""

from __future__ import annotations

from anyio import to_thread

from cdp.customers import identity_links
from cdp.customers import profile
from cdp.customers.write_rules import WriteRules
from graph.store import Row
from resolvers.context import Context


async def update_profile(
    ctx: Context, customer_id: str, changes: list[tuple[str, str | None]],
) -> tuple[list[Row], list[profile.ItemError]]:
    """Self-service changes of one customer, checked by the write rules partners and imports
    pass (``cdp.customers.write_rules``); see ``cdp.customers.profile.self_service_update``."""
    return await to_thread.run_sync(
        profile.self_service_update, ctx.store, ctx.policy, customer_id, changes, ctx.now,
        WriteRules.of(ctx.settings, ctx.now))


async def verify_value(ctx: Context, customer_id: str, value_id: str) -> Row:
    """Mark one value verified; see ``cdp.customers.profile.verify_value``."""
    return await to_thread.run_sync(profile.verify_value, ctx.store, ctx.policy, customer_id, value_id, ctx.now)


async def split_identity(ctx: Context, identity_id: str) -> identity_links.Split:
    """Split an identity out of its customer; see ``cdp.customers.identity_links.split_identity``."""
    return await to_thread.run_sync(identity_links.split_identity, ctx.store, ctx.policy, identity_id, ctx.now)
