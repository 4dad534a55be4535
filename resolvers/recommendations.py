"""Glue for next-best offers: whole-base or per-customer work off the event loop."""

from __future__ import annotations

from datetime import datetime

from cdp.offers import catalog_rules
from cdp.offers import offer_responses
from cdp.errors import InvalidInput, NotFound
from cdp.limits.fair_share import run_sync
from cdp.limits.request_limits import PageTooLarge
from cdp.transport.pagination import PageRequest, sorted_ids_page
from cdp.offers.recommendations import Recommendation
from resolvers import catalog_rules as catalog_rules_resolvers
from resolvers.context import Context

#: Most offers one customer's list holds.
MAX_OFFERS = 20


def _check_first(first: int) -> None:
    if not 1 <= first <= MAX_OFFERS:
        raise InvalidInput(f"first must be between 1 and {MAX_OFFERS}", field="first")


async def for_customer(ctx: Context, customer_id: str, first: int) -> list[Recommendation]:
    """The ``first`` best offers for one customer (empty outside the base). The customers of
    one page are ranked together (``Loaders.offers``)."""
    _check_first(first)
    ctx.ready_analytics()
    return await ctx.loaders.offers.load((customer_id, first))


async def offer_eligibility(ctx: Context, customer_id: str, product_id: str,
                            at: datetime | None) -> catalog_rules.OfferCheck:
    """Every catalog rule applied to one customer and one product at ``at`` (None: now).
    Raises NotFound (a customer outside the analytic projection, or an unknown product)."""
    analytics = ctx.ready_analytics()
    rules = await catalog_rules_resolvers.rules(ctx)

    def run() -> catalog_rules.OfferCheck:
        data = analytics.data()
        row = data.row_of(customer_id)
        if row is None:
            raise NotFound(f"no customer {customer_id!r} in the analytic projection")
        return catalog_rules.explain(data, row, product_id, at, rules)

    return await run_sync(run)


async def for_segment(ctx: Context, definition: object, first: int, request: PageRequest,
                      ) -> tuple[list[tuple[str, list[Recommendation]]], int, bool]:
    """Offers for one keyset page of a segment's members (customer-id order, ``cdp.transport.pagination``):
    ``(pairs, size, has_next)``."""
    _check_first(first)
    analytics = ctx.ready_analytics()

    def run() -> tuple[list[tuple[str, list[Recommendation]]], int, bool]:
        evaluation = analytics.segments.evaluate(definition, authorise=ctx.authorise_personal_use)
        page = sorted_ids_page(evaluation.member_ids(), request)
        ids, has_next = page.items, page.has_next
        data = evaluation.data
        rows = data.rows_of(ids)
        recs = analytics.recommendations.for_rows(rows, first, data=data) if len(rows) else []
        return list(zip(ids, recs)), evaluation.size, has_next

    return await run_sync(run)


async def record_response(ctx: Context, customer_id: str, product_id: str, response: str, channel: str,
                          at: datetime, campaign: str | None) -> offer_responses.OfferResponse:
    """Write a customer's answer to an offer; the next recommendations take it into account."""
    result = await run_sync(
        lambda: offer_responses.record(ctx.store, customer_id, product_id, response, channel, at, campaign))
    ctx.forget_reads()
    return result


def member_page_size(ctx: Context, members: int) -> int:
    """``members`` when it is a page size ``segmentRecommendations`` may serve. Raises
    ``InvalidInput`` below 0 and ``PageTooLarge`` above ``CDP_MAX_PAGE_SIZE`` (both naming
    ``members``), as every paged field does, rather than serving a silently smaller page."""
    limit = ctx.settings.max_page_size
    if members < 0:
        raise InvalidInput("members must not be negative", field="members")
    if members > limit:
        raise PageTooLarge(f"members must be at most {limit}", field="members", limit=limit)
    return members
