"""Resolvers for the product catalogue and the channels."""

from __future__ import annotations

from datetime import datetime

from graph.store import Row
from resolvers.context import Context


async def product(ctx: Context, product_id: str) -> Row | None:
    """The product with ``product_id``, or None when unknown."""
    return await ctx.loaders.product_by_id(product_id)


async def products(ctx: Context, category: str | None) -> list[Row]:
    """The catalogue, optionally one category, sorted by id."""
    rows = await ctx.loaders.all_products()
    return [r for r in rows.values() if category is None or r.get("category") == category]


async def components(ctx: Context, product_id: str) -> list[Row]:
    return await ctx.loaders.components.load(product_id)


async def subscriber_count(ctx: Context, product_id: str) -> int:
    return await ctx.loaders.subscribers.load(product_id)


async def channel(ctx: Context, channel_id: str) -> Row | None:
    return await ctx.loaders.channel_by_id(channel_id)


async def channels(ctx: Context) -> list[Row]:
    """Every channel, sorted by id."""
    return list((await ctx.loaders.all_channels()).values())


async def contact_volume(ctx: Context, channel_id: str, since: datetime | None) -> int:
    return await ctx.loaders.channel_volume.load((channel_id, since))
