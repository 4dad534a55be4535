"""Resolvers for rule segments: thin glue to ``cdp.segments.engine`` on the app's analytics.

Whole-base work (evaluation, profiles) and store calls run in a worker thread;
member rows come through the request's customer DataLoader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import logging

from cdp.errors import CdpError, Forbidden, InvalidInput
from cdp.limits.fair_share import run_sync
from cdp.transport.pagination import Page, PageRequest, keyset_page, page_request, sorted_ids_page
from cdp.security.permissions import readable_in_full
from cdp.segments.engine import Evaluation, ProfileItem, SavedSegment, SegmentEngine
from cdp.segments.definition import masked_definition
from graph.store import Row
from resolvers.context import Context

log = logging.getLogger(__name__)


def engine(ctx: Context) -> SegmentEngine:
    """The segment engine of the app's analytics; ``ConfigurationError`` when the app has none."""
    return ctx.ready_analytics().segments


#: The ordering of a segment's members (customer id), named in their cursors.
MEMBER_ORDER = "members:id:asc"


@dataclass
class MemberPage:
    """One keyset page of members (``page.items``: customer rows) with the evaluation it came from."""

    evaluation: Evaluation
    page: Page[Row]

    @property
    def size(self) -> int:
        return self.evaluation.size


async def evaluate(ctx: Context, definition: Any, as_of: datetime | None) -> Evaluation:
    """The members of ``definition`` now or as of ``as_of``; ``InvalidInput`` for a bad definition,
    ``Forbidden`` when it compares a personal field the principal may not read
    (``Context.authorise_personal_use``)."""
    return await run_sync(
        lambda: engine(ctx).evaluate(definition, as_of, authorise=ctx.authorise_personal_use))


async def members(ctx: Context, definition: Any, first: int | None, after: str | None,
                  as_of: datetime | None, last: int | None = None, before: str | None = None) -> MemberPage:
    """One keyset page of members in id order (``cdp.transport.pagination``); ``InvalidInput`` for a bad
    definition, page size or cursor."""
    request = page_request(first, after, last, before, ctx.settings.max_page_size, MEMBER_ORDER, 1)
    evaluation = await evaluate(ctx, definition, as_of)
    return await _page(ctx, evaluation, request)


async def preview(ctx: Context, definition: Any, first: int | None, after: str | None,
                  as_of: datetime | None, last: int | None = None, before: str | None = None) -> MemberPage:
    """Size and one page of members of an unsaved definition (the profile is computed only
    when asked for: ``profile_of``)."""
    return await members(ctx, definition, first, after, as_of, last, before)


async def profile(ctx: Context, definition: Any, as_of: datetime | None) -> list[ProfileItem]:
    """The profile of ``definition``'s members against the base."""
    return await profile_of(ctx, await evaluate(ctx, definition, as_of))


async def profile_of(ctx: Context, evaluation: Evaluation) -> list[ProfileItem]:
    """The profile of an evaluation's members against the base."""
    return await run_sync(lambda: engine(ctx).profile(evaluation, authorise=ctx.authorise_personal_use))


async def _page(ctx: Context, evaluation: Evaluation, request: PageRequest) -> MemberPage:
    if request.cursor is not None and not isinstance(request.cursor[0], str):
        field = "before" if request.backward else "after"
        raise InvalidInput(f"{field} is not a valid cursor of this list and order", field=field)
    ids = sorted_ids_page(evaluation.member_ids(), request)
    rows = await ctx.loaders.customer.load_many(ids.items)
    kept = [(r, k) for r, k in zip(rows, ids.keys) if r is not None]
    page = Page([r for r, _ in kept], [k for _, k in kept], ids.has_previous, ids.has_next, ids.order, ids.total)
    return MemberPage(evaluation, page)


def shown_definition(ctx: Context, definition: Any) -> Any:
    """A saved definition as the principal may read it (``cdp.segments.definition.masked_definition``)."""
    return masked_definition(definition, lambda key: readable_in_full(ctx.principal, key))


async def saved_segments(ctx: Context) -> list[SavedSegment]:
    return await run_sync(engine(ctx).list)


#: Ordering name of ``segments`` cursors: by name, then id.
SEGMENT_ORDER = "segments:name"


async def saved_segment_page(ctx: Context, first: int | None, after: str | None, last: int | None,
                             before: str | None) -> Page[SavedSegment]:
    """One keyset page of the saved segments by name then id (a cursor names a segment's name and
    id, so segments saved while paging do not shift the pages); ``total``: every saved segment.
    Raises ``InvalidInput`` / ``PageTooLarge`` for bad paging arguments (``page_request``)."""
    request = page_request(first, after, last, before, ctx.settings.max_page_size, SEGMENT_ORDER, 2)
    return keyset_page(await saved_segments(ctx), lambda s: (s.name, s.id), request)


async def saved_segment(ctx: Context, segment_id: str) -> SavedSegment | None:
    return await run_sync(engine(ctx).get, segment_id)


async def create(ctx: Context, name: str, description: str | None, definition: Any) -> SavedSegment:
    return await run_sync(
        lambda: engine(ctx).create(name, description, definition, authorise=ctx.authorise_personal_use))


async def update(ctx: Context, segment_id: str, name: str | None, description: str | None,
                 definition: Any) -> SavedSegment:
    return await run_sync(
        lambda: engine(ctx).update(segment_id, name, description, definition, authorise=ctx.authorise_personal_use))


async def delete(ctx: Context, segment_id: str) -> bool:
    return await run_sync(engine(ctx).delete, segment_id)


async def segments_of(ctx: Context, customer_id: str) -> list[SavedSegment]:
    """The saved segments ``customer_id`` belongs to now, by name. A saved
    definition that no longer evaluates (a product removed, a model not trained)
    is skipped and logged, so one stale segment cannot break a customer view; one that
    compares a personal field the principal may not read is left out (membership
    would reveal the value)."""
    def run() -> list[SavedSegment]:
        found = []
        segments = engine(ctx)
        for segment in segments.list():
            try:
                evaluation = segments.evaluate(segment.definition, authorise=ctx.authorise_personal_use)
                if evaluation.contains(customer_id):
                    found.append(segment)
            except Forbidden:
                continue
            except CdpError as exc:
                log.warning("segment %s skipped for customer %s: %s", segment.id, customer_id, exc)
        return found

    return await run_sync(run)
