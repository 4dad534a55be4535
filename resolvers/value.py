"""Glue for value segmentation: run the whole-base computation off the event loop."""

from __future__ import annotations


from cdp.analytics import value as V
from cdp.limits.fair_share import run_sync
from resolvers.context import Context


async def segmentation(ctx: Context) -> V.ValueSegmentation:
    """The current value segmentation (computed once per data version)."""
    analytics = ctx.ready_analytics()
    return await run_sync(lambda: analytics.value.current(analytics.data()))


async def customer_value(ctx: Context, customer_id: str) -> tuple[dict, str] | None:
    """One customer's row of the segmentation and their cluster's name, or None outside the base."""
    seg = await segmentation(ctx)
    data = ctx.ready_analytics().data()
    row = data.row_of(customer_id)
    if row is None or row not in seg.by_customer.index:
        return None
    values = seg.by_customer.loc[row].to_dict()
    names = {c.id: c.name for c in seg.clusters}
    return values, names.get(int(values["cluster"]), "")
