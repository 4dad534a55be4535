"""GraphQL type of next-best channel and time (``Customer.nextBestChannels``)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from cdp.outreach.channel_choice import ChannelChoice as Choice
from resolvers import channel_choice as resolve
from resolvers.context import Context


@strawberry.type(description="A channel to reach the customer through, and when, with what the score is made of.")
class ChannelChoice:
    channel: strawberry.ID = strawberry.field(description="The channel id.")
    name: str = strawberry.field(description="Display name of the channel.")
    score: float = strawberry.field(description="Chance of a response; with `value`, expected net value "
                                                "(value x chance - cost per contact).")
    response_rate: float = strawberry.field(description="The customer's offer acceptance through the channel, "
                                                        "smoothed toward the channel's rate over the base.")
    offers: int = strawberry.field(description="Campaign offers the customer received through the channel.")
    accepted: int = strawberry.field(description="Offers the customer accepted through this channel so far.")
    use_share: float = strawberry.field(description="Share of the customer's contacts in the last year.")
    preference_rank: int | None = strawberry.field(
        description="Rank among the customer's preferred channels (1 favourite); null when not preferred.")
    best_time: datetime | None = strawberry.field(description="Next hour in the channel's contact window, outside "
                                                         "quiet hours, at the customer's usual hour if possible.")
    reasons: list[str] = strawberry.field(description="Why this channel, one sentence each.")

    @classmethod
    def from_choice(cls, c: Choice) -> ChannelChoice:
        return cls(channel=strawberry.ID(c.channel), name=c.name, score=round(c.score, 6),
                   response_rate=round(c.response_rate, 6), offers=c.offers, accepted=c.accepted,
                   use_share=round(c.use_share, 6), preference_rank=c.preference_rank,
                   best_time=c.best_time,
                   reasons=list(c.reasons))


async def next_best_channels(info: Info[Context, None], customer_id: str, first: int,
                             value: float | None) -> list[ChannelChoice]:
    """Resolver of ``Customer.nextBestChannels``."""
    return [ChannelChoice.from_choice(c) for c in await resolve.choices(info.context, customer_id, first, value)]
