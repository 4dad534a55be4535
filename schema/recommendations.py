"""GraphQL types of next-best offers (``Customer.recommendations``,
``segmentRecommendations``, ``recordOfferResponse``)."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from cdp.transport.pagination import decode_cursor, encode_cursor
from cdp.offers.recommendations import Recommendation as Rec
from resolvers import recommendations as resolve
from resolvers.context import Context
from schema.types import naive_utc


@strawberry.enum(description="What kind of offer: something new, or an upgrade of something held.")
class OfferKind(enum.Enum):
    CROSS_SELL = "CROSS_SELL"
    UP_SELL = "UP_SELL"


@strawberry.enum(description="How the customer answered an offer.")
class OfferResponseKind(enum.Enum):
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    IGNORED = "IGNORED"


@strawberry.type(description="One offer for one customer, ranked by expected value, with its channel and time.")
class Recommendation:
    offer: strawberry.ID = strawberry.field(description="The product offered.")
    name: str
    kind: OfferKind
    score: float = strawberry.field(description="Probability the customer takes the offer (0..1).")
    margin: float = strawberry.field(description="Margin if taken, over 12 months (for an up-sell: the gain).")
    expected_value: float = strawberry.field(description="score x margin: the ranking key (without catalogue prices the score ranks, and this is 0).")
    reasons: list[str]
    channel: strawberry.ID | None = strawberry.field(
        description="Channel with the best expected net value the customer consents to.")
    best_time: datetime | None

    @classmethod
    def from_rec(cls, r: Rec) -> Recommendation:
        return cls(offer=strawberry.ID(r.product), name=r.name, kind=OfferKind(r.kind),
                   score=round(r.probability, 6), margin=round(r.margin, 2),
                   expected_value=round(r.expected_value, 4), reasons=list(r.reasons),
                   channel=strawberry.ID(r.channel) if r.channel else None,
                   best_time=r.best_time.replace(tzinfo=timezone.utc) if r.best_time else None)


@strawberry.enum(description="A catalog rule that keeps a product from being offered to a customer.")
class EligibilityRule(enum.Enum):
    HELD = "held"
    LIFECYCLE = "lifecycle"
    NOT_OFFERABLE = "not_offerable"
    NOT_YET = "not_yet"
    EXPIRED = "expired"
    REQUIRES = "requires"
    EXCLUDES = "excludes"
    ACCOUNT_TYPE = "account_type"
    TIER = "tier"
    CONTRACT = "contract"
    TENURE = "tenure"


@strawberry.type(description="Whether a product may be offered to a customer, and every rule that says no "
                             "(already held, requires, excludes, account type, tier, contract, tenure, "
                             "validity dates, lifecycle, offerable).")
class OfferEligibility:
    product_id: strawberry.ID
    eligible: bool
    kind: OfferKind | None = strawberry.field(description="CROSS_SELL or UP_SELL when eligible.")
    failing: list[EligibilityRule] = strawberry.field(description="The rules that fail, in a fixed order.")
    reasons: list[str] = strawberry.field(description="One sentence per failing rule, e.g. 'requires one of "
                                                      "P-BB-100, P-BB-500'; empty when eligible.")


async def customer_offer_eligibility(info: Info[Context, None], customer_id: str, product_id: str,
                                     at: datetime | None) -> OfferEligibility:
    """Resolver of ``Customer.offerEligibility``: NOT_FOUND for an unknown product."""
    c = await resolve.offer_eligibility(info.context, customer_id, product_id, naive_utc(at) if at else None)
    return OfferEligibility(product_id=strawberry.ID(c.product), eligible=c.eligible,
                            kind=OfferKind(c.kind) if c.kind else None,
                            failing=[EligibilityRule(f) for f in c.failing], reasons=list(c.reasons))


@strawberry.type(description="One member of a segment with their offers.")
class MemberRecommendations:
    customer_id: strawberry.ID
    cursor: str
    recommendations: list[Recommendation]


@strawberry.type(description="A page of a segment's members (customer-id order) with their offers.")
class SegmentRecommendations:
    size: int = strawberry.field(description="Members of the segment (all pages).")
    has_next_page: bool
    end_cursor: str | None
    members: list[MemberRecommendations]


@strawberry.type(description="A recorded answer to an offer.")
class OfferResponse:
    contact_id: strawberry.ID
    customer_id: strawberry.ID
    offer: strawberry.ID
    channel: strawberry.ID
    response: OfferResponseKind
    at: datetime


async def customer_recommendations(info: Info[Context, None], customer_id: str, first: int) -> list[Recommendation]:
    """Resolver of ``Customer.recommendations``."""
    return [Recommendation.from_rec(r) for r in await resolve.for_customer(info.context, customer_id, first)]


@strawberry.type
class RecommendationQuery:
    @strawberry.field(description="Offers for every member of a segment definition, one page of members at a "
                                  "time (batched: one ranking per page).")
    async def segment_recommendations(
        self, info: Info[Context, None], definition: JSON, first: int = 3, members: int = 50,
        after: str | None = None,
    ) -> SegmentRecommendations:
        limit = min(members, info.context.settings.max_page_size)
        skip = decode_cursor(after) + 1 if after else 0
        pairs, size, has_next = await resolve.for_segment(info.context, definition, first, skip, limit)
        out = [MemberRecommendations(customer_id=strawberry.ID(c), cursor=encode_cursor(skip + i),
                                     recommendations=[Recommendation.from_rec(r) for r in recs])
               for i, (c, recs) in enumerate(pairs)]
        return SegmentRecommendations(size=size, has_next_page=has_next,
                                      end_cursor=out[-1].cursor if out else None, members=out)


@strawberry.type
class RecommendationMutation:
    @strawberry.mutation(description="Record how a customer answered an offer (accepted, declined, ignored); "
                                     "the next recommendations take it into account.")
    async def record_offer_response(
        self, info: Info[Context, None], customer_id: strawberry.ID, offer: strawberry.ID,
        response: OfferResponseKind, channel: strawberry.ID, at: datetime | None = None,
        campaign: str | None = None,
    ) -> OfferResponse:
        when = naive_utc(at) if at else info.context.now
        r = await resolve.record_response(info.context, str(customer_id), str(offer), response.value,
                                          str(channel), when, campaign)
        return OfferResponse(contact_id=strawberry.ID(r.contact_id), customer_id=strawberry.ID(r.customer_id),
                             offer=strawberry.ID(r.product_id), channel=strawberry.ID(r.channel_id),
                             response=OfferResponseKind(r.response), at=r.at.replace(tzinfo=timezone.utc))
