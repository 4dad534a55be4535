"""Resolvers for relationship management: thin glue to ``cdp.relationship.complaints``,
``cdp.relationship.portfolio`` and ``cdp.relationship.satisfaction``.

Store writes and whole-base computations on the projection run in a worker
thread; customer rows come through the request's DataLoader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from cdp.relationship import complaints as C
from cdp.relationship import portfolio as P
from cdp.relationship import satisfaction as S
from cdp.limits.fair_share import run_sync
from cdp.transport.pagination import Page, keyset_page, page_request
from cdp.projection.tables import ProjectionData
from graph.store import Row
from resolvers.context import Context


# --------------------------------------------------------------------------- complaints


async def open_complaint(ctx: Context, customer_id: str, subject: str, channel_id: str, at: datetime | None,
                         product_id: str | None) -> C.Complaint:
    """Record a complaint (``cdp.relationship.complaints.open_complaint``)."""
    ctx.forget_reads()
    return await run_sync(lambda: C.open_complaint(ctx.store, customer_id, subject, channel_id,
                                                             ctx.now, at, product_id))


async def escalate(ctx: Context, complaint_id: str) -> C.Complaint:
    """Escalate a complaint (``cdp.relationship.complaints.escalate``)."""
    ctx.forget_reads()
    return await run_sync(C.escalate, ctx.store, complaint_id)


async def resolve(ctx: Context, complaint_id: str, at: datetime | None, satisfaction: int | None) -> C.Complaint:
    """Resolve a complaint (``cdp.relationship.complaints.resolve``)."""
    ctx.forget_reads()
    return await run_sync(lambda: C.resolve(ctx.store, complaint_id, ctx.now, at, satisfaction))


async def complaint(ctx: Context, complaint_id: str) -> C.Complaint | None:
    """One complaint from the store; None when unknown or not a complaint."""
    return await run_sync(C.get, ctx.store, complaint_id)


#: The ordering of complaints (newest first; ties by customer id, then by order of opening),
#: named in their cursors.
COMPLAINT_ORDER = "complaints:at:desc"


@dataclass
class ComplaintPage:
    """One keyset page of complaints, newest first, with the size of the whole selection."""

    page: Page[C.Complaint]
    total: int


def _selection(ctx: Context, flt: C.ComplaintFilter, data: ProjectionData | None = None,
               complaints: pd.DataFrame | None = None) -> tuple[ProjectionData, pd.DataFrame]:
    data = data if data is not None else ctx.ready_analytics().data()
    complaints = complaints if complaints is not None else C.frame(data)
    return data, C.select(data, complaints, flt)


#: The key time of a complaint without an opening time (sorts last, newest first).
_NO_TIME = -(2 ** 62)


def _micros(value: datetime | None) -> int:
    return _NO_TIME if value is None else int(np.datetime64(value, "us").astype(np.int64))


def _complaint_keys(data: ProjectionData, selected: pd.DataFrame) -> list[tuple[int, str, int]]:
    """The keyset key of each selected complaint: ``(opened at in µs since the epoch, customer id,
    n)``, n telling apart a customer's complaints opened in the same microsecond."""
    at = selected["at"].to_numpy(dtype="datetime64[us]")
    owners = data.ids[selected["row"].to_numpy()]
    seen: dict[tuple[int, str], int] = {}
    keys = []
    for a, owner in zip(at, owners):
        pair = (_NO_TIME if np.isnat(a) else int(a.astype(np.int64)), str(owner))
        n = seen.get(pair, 0)
        seen[pair] = n + 1
        keys.append((*pair, n))
    return keys


async def complaints(ctx: Context, flt: C.ComplaintFilter, first: int | None, after: str | None,
                     data: ProjectionData | None = None, frame: pd.DataFrame | None = None,
                     last: int | None = None, before: str | None = None) -> ComplaintPage:
    """A keyset page of the complaints ``flt`` selects (``cdp.transport.pagination``); ``InvalidInput`` for a
    bad page size or cursor. ``data`` / ``frame``: a snapshot and its complaint frame already at hand."""
    request = page_request(first, after, last, before, ctx.settings.max_page_size, COMPLAINT_ORDER, 3)

    def run() -> ComplaintPage:
        snapshot, selected = _selection(ctx, flt, data, frame)
        keys = _complaint_keys(snapshot, selected)
        chosen = keyset_page(range(len(keys)), lambda i: keys[i], request, descending=True)
        found = C.page(ctx.store, snapshot, selected.iloc[chosen.items], 0, len(chosen.items))
        # complaints deleted since the snapshot are missing from ``found``: keep the keys aligned
        items, item_keys, rest = [], [], iter(found)
        complaint = next(rest, None)
        for key in chosen.keys:
            if complaint is not None and (complaint.customer_id, _micros(complaint.opened_at)) == (key[1], key[0]):
                items.append(complaint)
                item_keys.append(key)
                complaint = next(rest, None)
        return ComplaintPage(Page(items, item_keys, chosen.has_previous, chosen.has_next, chosen.order),
                             len(selected))

    return await run_sync(run)


async def complaint_stats(ctx: Context, flt: C.ComplaintFilter, sla_hours: float | None,
                          data: ProjectionData | None = None, frame: pd.DataFrame | None = None) -> C.ComplaintStats:
    """Figures of the complaints ``flt`` selects; the SLA defaults to ``CDP_COMPLAINT_SLA_HOURS``."""
    sla = float(sla_hours if sla_hours is not None else ctx.settings.complaint_sla_hours)
    now = ctx.now

    def run() -> C.ComplaintStats:
        return C.stats(_selection(ctx, flt, data, frame)[1], sla, now)

    return await run_sync(run)


# --------------------------------------------------------------------------- account managers


async def managers(ctx: Context) -> list[P.ManagerSummary]:
    """Every account manager with their portfolio's size and open complaints."""
    def run() -> list[P.ManagerSummary]:
        data = ctx.ready_analytics().data()
        return P.managers(data, C.frame(data))

    return await run_sync(run)


@dataclass
class PortfolioView:
    """A portfolio with the snapshot and complaint frame it was computed on (for nested fields)."""

    portfolio: P.Portfolio
    data: ProjectionData
    complaints: pd.DataFrame


async def portfolio(ctx: Context, name: str) -> PortfolioView | None:
    """The portfolio of account manager ``name`` now; None when no customer has that manager."""
    a = ctx.ready_analytics()
    now = ctx.now

    def run() -> PortfolioView | None:
        data = a.data()
        frame = C.frame(data)
        found = P.portfolio(data, name, now, frame, a.score_column)
        return PortfolioView(found, data, frame) if found is not None else None

    return await run_sync(run)


async def customer_rows(ctx: Context, ids: list[str]) -> list[Row | None]:
    """Customer rows of ``ids`` through the request's DataLoader (None for a vanished id)."""
    return await ctx.loaders.customer.load_many(ids)


async def assign(ctx: Context, customer_id: str, name: str) -> Row:
    """Make ``name`` the account manager of a customer (``cdp.relationship.portfolio.assign``)."""
    ctx.forget_reads()
    return await run_sync(lambda: P.assign(ctx.store, customer_id, name, ctx.now))


async def unassign(ctx: Context, customer_id: str) -> Row:
    """Remove a customer's account manager (``cdp.relationship.portfolio.unassign``)."""
    ctx.forget_reads()
    return await run_sync(lambda: P.unassign(ctx.store, customer_id, ctx.now))


# --------------------------------------------------------------------------- satisfaction


async def by_channel(ctx: Context, start: datetime | None, end: datetime | None,
                     manager: str | None = None) -> list[S.ChannelSatisfaction]:
    """Satisfaction per channel over a window (default: the last year), of one manager's
    customers when ``manager`` is given."""
    begin, stop = S.window(start, end, ctx.now)

    def run() -> list[S.ChannelSatisfaction]:
        data = ctx.ready_analytics().data()
        rows = C.manager_rows(data, manager) if manager is not None else None
        return S.by_channel(data, begin, stop, rows)

    return await run_sync(run)


async def of_customer(ctx: Context, customer_id: str, start: datetime | None,
                      end: datetime | None) -> tuple[S.MonthlySatisfaction, ...]:
    """One customer's monthly satisfaction over a window (default: the last year); empty
    when the customer is not projected."""
    begin, stop = S.window(start, end, ctx.now)

    def run() -> tuple[S.MonthlySatisfaction, ...]:
        return S.of_customer(ctx.ready_analytics().data(), customer_id, begin, stop) or ()

    return await run_sync(run)


async def of_rows(ctx: Context, data: ProjectionData, rows: np.ndarray, start: datetime | None,
                  end: datetime | None) -> tuple[S.MonthlySatisfaction, ...]:
    """Monthly satisfaction of customer ``rows`` of ``data`` over a window (default: the last year)."""
    begin, stop = S.window(start, end, ctx.now)
    return await run_sync(lambda: S.monthly(data, begin, stop, rows))
