"""Satisfaction over time: monthly mean scores per customer, per portfolio and per channel.

A score is a contact's ``satisfaction`` (1 very unhappy .. 5 very happy), given
when the customer was asked (surveys after service contacts, resolved
complaints). A month is a calendar month (UTC) of the contact's time. Figures:

* ``mean``: mean score of the month's scored contacts; ``count``: how many;
* ``low_share``: share of those scores at or below ``LOW_SCORE`` (2): unhappy customers.

Computed with numpy on the projection's ``contacts`` frame (one pass, grouped
by integer month codes), so a channel breakdown over a year stays well under a
second at a million customers (docs/relationship.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from cdp.formats.display_format import iso
from cdp.errors import InvalidInput
from cdp.projection.tables import ProjectionData

#: Scores at or below this count as unhappy (``low_share``).
LOW_SCORE = 2
#: Window used when the caller gives no start: a year before the end.
DEFAULT_DAYS = 365


@dataclass(frozen=True)
class MonthlySatisfaction:
    """One calendar month's scores: ``month`` is its first day."""

    month: date
    mean: float
    count: int
    low_share: float


@dataclass(frozen=True)
class ChannelSatisfaction:
    """One channel's scores over the window, in total and per month (oldest first)."""

    channel: str
    mean: float
    count: int
    low_share: float
    months: tuple[MonthlySatisfaction, ...]


def window(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """``(start, end)``: ``end`` defaults to ``now``, ``start`` to a year before ``end``.

    Raises ``InvalidInput`` (``from``) when ``start`` is not before ``end``.
    """
    end = end or now
    start = start or end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise InvalidInput(f"from ({iso(start, 'auto')}) must be before to ({iso(end, 'auto')})", field="from")
    return start, end


def _scored(data: ProjectionData, start: datetime, end: datetime,
            rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Month codes (months since 1970-01), scores and positions in ``contacts`` of the
    scored contacts of present customers (of ``rows`` when given) with ``start <= at < end``."""
    contacts = data.fact("contacts")
    score = contacts["satisfaction"].to_numpy(dtype=float)
    at = contacts["at"].to_numpy(dtype="datetime64[us]")
    row = contacts["row"].to_numpy()
    wanted = data.present.copy()
    if rows is not None:
        chosen = np.zeros(data.size, dtype=bool)
        chosen[rows] = True
        wanted &= chosen
    keep = (~np.isnan(score)) & (at >= np.datetime64(start, "us")) & (at < np.datetime64(end, "us")) & wanted[row]
    where = np.flatnonzero(keep)
    return at[where].astype("datetime64[M]").astype(np.int64), score[where], where


def _months(codes: np.ndarray, scores: np.ndarray) -> tuple[MonthlySatisfaction, ...]:
    if not len(codes):
        return ()
    months, inverse = np.unique(codes, return_inverse=True)
    count = np.bincount(inverse)
    total = np.bincount(inverse, weights=scores)
    low = np.bincount(inverse, weights=(scores <= LOW_SCORE).astype(float))
    return tuple(
        MonthlySatisfaction(month=_month_start(int(m)), mean=float(total[i] / count[i]), count=int(count[i]),
                            low_share=float(low[i] / count[i]))
        for i, m in enumerate(months))


def _month_start(code: int) -> date:
    return date(1970 + code // 12, code % 12 + 1, 1)


def monthly(data: ProjectionData, start: datetime, end: datetime,
            rows: np.ndarray | None = None) -> tuple[MonthlySatisfaction, ...]:
    """Monthly satisfaction of the present customers (of customer ``rows`` when given) over
    ``[start, end)``, oldest month first; months without a score are left out."""
    codes, scores, _ = _scored(data, start, end, rows)
    return _months(codes, scores)


def of_customer(data: ProjectionData, customer_id: str, start: datetime,
                end: datetime) -> tuple[MonthlySatisfaction, ...] | None:
    """Monthly satisfaction of one customer over ``[start, end)``; None when the customer
    is not in the projection."""
    row = data.row_of(customer_id)
    if row is None:
        return None
    return monthly(data, start, end, np.array([row]))


def by_channel(data: ProjectionData, start: datetime, end: datetime,
               rows: np.ndarray | None = None) -> list[ChannelSatisfaction]:
    """Satisfaction per channel over ``[start, end)`` (of customer ``rows`` when given):
    totals and months, channels by id; channels without a score are left out."""
    codes, scores, where = _scored(data, start, end, rows)
    channel = data.fact("contacts")["channel"].astype(object).to_numpy()[where]
    channel = np.where(channel == None, "", channel).astype(str)  # noqa: E711 (elementwise)
    out = []
    names, inverse = np.unique(channel, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(len(names) + 1))
    for i, name in enumerate(names):
        take = order[starts[i]:starts[i + 1]]
        s = scores[take]
        out.append(ChannelSatisfaction(channel=str(name), mean=float(s.mean()), count=len(s),
                                       low_share=float((s <= LOW_SCORE).mean()),
                                       months=_months(codes[take], s)))
    return out
