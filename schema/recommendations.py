"""GraphQL types of next-best offers (``Customer.recommendations``,
``segmentRecommendations``, ``recordOfferResponse``)."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from graph.clock import naive_utc
from cdp.errors import InvalidInput
from cdp.transport.pagination import PageRequest, decode_cursor, encode_cursor
from resolvers.segments import MEMBER_ORDER
from cdp.offers.recommendations import Recommendation as Rec
from resolvers import recommendations as resolve
from resolvers.context import Context
from schema.enums import described


@strawberry.enum(description="What kind of offer: something new, or an upgrade of something held.")
class OfferKind(enum.Enum):
    CROSS_SELL = described("CROSS_SELL", description="A product the customer does not hold yet.")
    UP_SELL = described(
        "UP_SELL", description="An upgrade of a product the customer holds (catalog rule UPGRADES_TO).")


@strawberry.enum(description="How the customer answered an offer.")
class OfferResponseKind(enum.Enum):
    ACCEPTED = described("ACCEPTED", description="The customer took the offer.")
    DECLINED = described(
        "DECLINED", description="The customer said no; later recommendations rank the offer lower.")
    IGNORED = described("IGNORED", description="The customer did not react to the offer.")


@strawberry.type(description="One offer for one customer, ranked by expected value, with its channel and time.")
class Recommendation:
    offer: strawberry.ID = strawberry.field(description="The product offered.")
    name: str = strawberry.field(description="Display name of the product offered.")
    kind: OfferKind = strawberry.field(description="Cross-sell or up-sell.")
    score: float = strawberry.field(description="Probability the customer takes the offer (0..1).")
    margin: float = strawberry.field(description="Margin if taken, over 12 months (for an up-sell: the gain).")
    expected_value: float = strawberry.field(description="score x margin: the ranking key (without catalogue prices the score ranks, and this is 0).")
    reasons: list[str] = strawberry.field(
        description="Why this offer, one sentence each.")
    channel: strawberry.ID | None = strawberry.field(
        description="Channel with the best expected net value the customer consents to.")
    best_time: datetime | None = strawberry.field(
        description="When to make the offer: the next hour in the channel's contact window, outside quiet hours, "
                    "at the customer's usual hour if possible (ISO 8601, UTC); null without a channel.")

    @classmethod
    def from_rec(cls, r: Rec) -> Recommendation:
        return cls(offer=strawberry.ID(r.product), name=r.name, kind=OfferKind(r.kind),
                   score=round(r.probability, 6), margin=round(r.margin, 2),
                   expected_value=round(r.expected_value, 4), reasons=list(r.reasons),
                   channel=strawberry.ID(r.channel) if r.channel else None,
                   best_time=r.best_time.replace(tzinfo=timezone.utc) if r.best_time else None)


@strawberry.enum(description="A catalog rule that keeps a product from being offered to a customer.")
class EligibilityRule(enum.Enum):
    HELD = described("held", description="The customer already holds the product.")
    LIFECYCLE = described("lifecycle", description="The product is not ACTIVE (planned or retired).")
    NOT_OFFERABLE = described("not_offerable", description="The product is marked not offerable.")
    NOT_YET = described("not_yet", description="Before the product's `offerFrom` day.")
    EXPIRED = described("expired", description="After the product's `offerUntil` day.")
    REQUIRES = described("requires", description="The customer holds none of the products it requires.")
    EXCLUDES = described("excludes", description="The customer holds a product it excludes.")
    ACCOUNT_TYPE = described("account_type", description="No open account of an allowed type.")
    TIER = described("tier", description="The customer's tier is not allowed.")
    CONTRACT = described("contract", description="The customer's contract state is not the one required.")
    TENURE = described(
        "tenure", description="The customer has been a customer for fewer months than required.")


@strawberry.type(description="Whether a product may be offered to a customer, and every rule that says no "
                             "(already held, requires, excludes, account type, tier, contract, tenure, "
                             "validity dates, lifecycle, offerable).")
class OfferEligibility:
    product_id: strawberry.ID = strawberry.field(description="The product checked.")
    eligible: bool = strawberry.field(description="True when no catalog rule keeps the product from being offered.")
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
    customer_id: strawberry.ID = strawberry.field(description="The member's customer id.")
    cursor: str = strawberry.field(description="Cursor of this member: pass it as `after` to continue after it.")
    recommendations: list[Recommendation] = strawberry.field(
        description="The member's offers, best first (empty when consent or rules allow none).")


@strawberry.type(description="A page of a segment's members (customer-id order) with their offers.")
class SegmentRecommendations:
    size: int = strawberry.field(description="Members of the segment (all pages).")
    has_next_page: bool = strawberry.field(description="True when more members follow this page.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last member of the page (pass it as `after`); null when the page is empty.")
    members: list[MemberRecommendations] = strawberry.field(description="The members of this page with their offers.")


@strawberry.type(description="A recorded answer to an offer.")
class OfferResponse:
    contact_id: strawberry.ID = strawberry.field(description="Id of the contact recorded for the answer.")
    customer_id: strawberry.ID = strawberry.field(description="The customer who answered.")
    offer: strawberry.ID = strawberry.field(description="The product offered.")
    channel: strawberry.ID = strawberry.field(description="The channel the offer was made through.")
    response: OfferResponseKind = strawberry.field(description="How the customer answered.")
    at: datetime = strawberry.field(description="When the customer answered (ISO 8601, UTC).")


async def customer_recommendations(info: Info[Context, None], customer_id: str, first: int) -> list[Recommendation]:
    """Resolver of ``Customer.recommendations``."""
    return [Recommendation.from_rec(r) for r in await resolve.for_customer(info.context, customer_id, first)]


@strawberry.type
class RecommendationQuery:
    @strawberry.field(description="Offers for every member of a segment definition, one page of members at a "
                                  "time (batched: one ranking per page).")
    async def segment_recommendations(
        self,
        info: Info[Context, None],
        definition: Annotated[JSON, strawberry.argument(
            description="A segment definition as JSON (the shape of `SegmentDefinitionInput`).")],
        first: Annotated[int, strawberry.argument(description="Offers per member, best first.")] = 3,
        members: Annotated[int, strawberry.argument(
            description="Members per page, 0..`CDP_MAX_PAGE_SIZE` (PAGE_TOO_LARGE above, BAD_USER_INPUT "
                        "below 0).")] = 50,
        after: Annotated[str | None, strawberry.argument(
            description="Cursor of the member to start after; null: from the first member.")] = None,
    ) -> SegmentRecommendations:
        limit = resolve.member_page_size(info.context, members)
        cursor = decode_cursor(after, MEMBER_ORDER, 1) if after else None
        if cursor is not None and not isinstance(cursor[0], str):
            raise InvalidInput("after is not a valid cursor of this list and order", field="after")
        request = PageRequest(MEMBER_ORDER, limit, cursor=cursor)
        pairs, size, has_next = await resolve.for_segment(info.context, definition, first, request)
        out = [MemberRecommendations(customer_id=strawberry.ID(c), cursor=encode_cursor(MEMBER_ORDER, (c,)),
                                     recommendations=[Recommendation.from_rec(r) for r in recs])
               for c, recs in pairs]
        return SegmentRecommendations(size=size, has_next_page=has_next,
                                      end_cursor=out[-1].cursor if out else None, members=out)


@strawberry.type
class RecommendationMutation:
    @strawberry.mutation(description="Record how a customer answered an offer (accepted, declined, ignored); "
                                     "the next recommendations take it into account.")
    async def record_offer_response(
        self,
        info: Info[Context, None],
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="The customer who answered.")],
        offer: Annotated[strawberry.ID, strawberry.argument(description="The product offered.")],
        response: Annotated[OfferResponseKind, strawberry.argument(description="How the customer answered.")],
        channel: Annotated[strawberry.ID, strawberry.argument(
            description="The channel id the offer was made through.")],
        at: Annotated[datetime | None, strawberry.argument(
            description="When the customer answered (ISO 8601; without offset: UTC); null: now.")] = None,
        campaign: Annotated[str | None, strawberry.argument(
            description="Code of the campaign that made the offer, if any.")] = None,
    ) -> OfferResponse:
        when = naive_utc(at) if at else info.context.now
        r = await resolve.record_response(info.context, str(customer_id), str(offer), response.value,
                                          str(channel), when, campaign)
        return OfferResponse(contact_id=strawberry.ID(r.contact_id), customer_id=strawberry.ID(r.customer_id),
                             offer=strawberry.ID(r.product_id), channel=strawberry.ID(r.channel_id),
                             response=OfferResponseKind(r.response), at=r.at.replace(tzinfo=timezone.utc))
