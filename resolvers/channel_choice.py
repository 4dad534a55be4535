"""Glue for next-best channel and time."""

from __future__ import annotations

from cdp.outreach.channel_choice import ChannelChoice
from cdp.errors import InvalidInput
from cdp.limits.fair_share import run_sync
from resolvers.context import Context

#: Most channels one answer lists.
MAX_CHANNELS = 8


async def choices(ctx: Context, customer_id: str, first: int, value: float | None) -> list[ChannelChoice]:
    """The ``first`` best channels for a customer; empty for a customer outside the projection."""
    if not 1 <= first <= MAX_CHANNELS:
        raise InvalidInput(f"first must be between 1 and {MAX_CHANNELS}", field="first")
    if value is not None and value < 0:
        raise InvalidInput("value must not be negative", field="value")
    analytics = ctx.ready_analytics()

    def run() -> list[ChannelChoice]:
        data = analytics.data()
        row = data.row_of(customer_id)
        if row is None:
            return []
        return analytics.channels.current(data).choices(row, first, value)

    return await run_sync(run)
