"""Resolvers for the product catalogue and the channels."""

from __future__ import annotations

from datetime import datetime

from cdp.transport.pagination import Page, keyset_page, page_request
from graph.store import Row
from resolvers.context import Context

#: Ordering name of ``products`` cursors: by product id.
PRODUCT_ORDER = "products:id"


async def product(ctx: Context, product_id: str) -> Row | None:
    """The product with ``product_id``, or None when unknown."""
    return await ctx.loaders.product_by_id(product_id)


async def products(ctx: Context, category: str | None) -> list[Row]:
    """The catalogue, optionally one category, sorted by id."""
    rows = await ctx.loaders.all_products()
    return [r for r in rows.values() if category is None or r.get("category") == category]


async def product_page(ctx: Context, category: str | None, first: int | None, after: str | None,
                       last: int | None, before: str | None) -> Page[Row]:
    """One keyset page of the catalogue (optionally one category) by product id; its ``total`` is
    the number of products matching. Raises ``InvalidInput`` / ``PageTooLarge`` for bad paging
    arguments (``cdp.transport.pagination.page_request``)."""
    request = page_request(first, after, last, before, ctx.settings.max_page_size, PRODUCT_ORDER, 1)
    return keyset_page(await products(ctx, category), lambda r: (str(r["id"]),), request)


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
