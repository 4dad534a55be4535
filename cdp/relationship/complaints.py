"""Complaints: tracked from open to resolved, with resolution times and SLA figures.

A complaint is a ``Contact`` of kind COMPLAINT (``graph.model``). Its lifecycle:

* **open** (``open_complaint``): an inbound contact with outcome OPEN, linked to
  its customer (HAD_CONTACT), the channel it came through (VIA) and, optionally,
  the product it is about (ABOUT);
* **escalate** (``escalate``): outcome ESCALATED; still open;
* **resolve** (``resolve``): outcome RESOLVED and ``resolved_at`` set, optionally
  with the customer's satisfaction score (1..5).

**Status** is derived the same way everywhere (``status_of`` for one row,
``status_codes`` for the projection): RESOLVED when ``resolved_at`` is set or the
outcome is anything but OPEN or ESCALATED (a complaint answered with INFORMED is
closed, without a resolution time); otherwise ESCALATED or OPEN. The resolved
time wins over the outcome because source systems (and the demo data) close
escalated tickets without rewriting their outcome.

Writes go through ``GraphStore.write`` (one transaction each); lists and
figures over many complaints are computed on the analytic projection
(``cdp.projection.tables``) with numpy, so they stay fast at a million customers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from cdp.formats.display_format import iso
from cdp.customers.erased_customers import customer_to_record
from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.projection.tables import ProjectionData
from graph.store import GraphStore, node_op, relationship_op

KIND = "COMPLAINT"
OPEN, ESCALATED, RESOLVED = "OPEN", "ESCALATED", "RESOLVED"
STATUSES = (OPEN, ESCALATED, RESOLVED)
#: Outcomes that keep a complaint open (``cdp.customers.rules.OPEN_OUTCOMES`` counts the same).
OPEN_OUTCOMES = (OPEN, ESCALATED)

#: Longest subject accepted.
MAX_SUBJECT = 500
#: A complaint time this far ahead of the server clock is refused (clock skew allowance).
FUTURE_TOLERANCE = timedelta(minutes=5)
_HOUR_US = 3_600_000_000


@dataclass(frozen=True)
class Complaint:
    """One complaint as stored. Times are naive UTC."""

    id: str
    customer_id: str
    subject: str | None
    channel_id: str | None
    product_id: str | None
    opened_at: datetime | None
    outcome: str | None
    resolved_at: datetime | None
    satisfaction: int | None

    @property
    def status(self) -> str:
        return status_of(self.outcome, self.resolved_at)

    @property
    def resolution_hours(self) -> float | None:
        """Hours from opening to resolution; None while unresolved (or no resolution time)."""
        if self.resolved_at is None or self.opened_at is None:
            return None
        return (self.resolved_at - self.opened_at).total_seconds() / 3600

    def open_hours(self, now: datetime) -> float | None:
        """How long an unresolved complaint has been open at ``now``; None once resolved."""
        if self.status == RESOLVED or self.opened_at is None:
            return None
        return max(0.0, (now - self.opened_at).total_seconds() / 3600)

    @classmethod
    def from_row(cls, row: dict[str, Any], customer_id: str, channel_id: str | None,
                 product_id: str | None) -> Complaint:
        """A complaint from a stored Contact row (``GraphStore.nodes`` or ``contacts_of_customers``)."""
        return cls(id=row["id"], customer_id=customer_id, subject=row.get("subject"), channel_id=channel_id,
                   product_id=product_id, opened_at=row.get("at"), outcome=row.get("outcome"),
                   resolved_at=row.get("resolved_at"), satisfaction=row.get("satisfaction"))


def status_of(outcome: str | None, resolved_at: datetime | None) -> str:
    """The status of one complaint from its outcome and resolution time (module docstring)."""
    if resolved_at is not None or outcome not in OPEN_OUTCOMES:
        return RESOLVED
    return outcome


# --------------------------------------------------------------------------- writes


def get(store: GraphStore, complaint_id: str) -> Complaint | None:
    """The complaint ``complaint_id`` with its customer, channel and product; None when
    there is no contact of that id or it is not a complaint."""
    row = store.nodes("Contact", [complaint_id]).get(complaint_id)
    if row is None or row.get("kind") != KIND:
        return None
    owners = store.owners("Contact", [complaint_id])
    channel = next((to for (_, to) in store.relationships("VIA", [complaint_id])), None)
    product = next((to for (_, to) in store.relationships("ABOUT", [complaint_id])), None)
    return Complaint.from_row(row, min(owners) if owners else "", channel, product)


def open_complaint(store: GraphStore, customer_id: str, subject: str, channel_id: str, now: datetime,
                   at: datetime | None = None, product_id: str | None = None) -> Complaint:
    """Record a new complaint of ``customer_id`` (outcome OPEN) received through ``channel_id``
    at ``at`` (default ``now``), optionally about ``product_id``. Returns it as stored.

    Raises ``NotFound`` (field ``customerId``, ``channelId`` or ``productId``) for an
    unknown customer, channel or product; ``Conflict`` for an erased customer; ``InvalidInput`` for an empty or too long
    subject (``subject``), a time in the future (``at``) or a customer merged into another.
    """
    subject = (subject or "").strip()
    if not subject:
        raise InvalidInput("subject must not be empty", field="subject")
    if len(subject) > MAX_SUBJECT:
        raise InvalidInput(f"subject is longer than {MAX_SUBJECT} characters", field="subject")
    at = at or now
    if at > now + FUTURE_TOLERANCE:
        raise InvalidInput(f"at {iso(at, 'auto')} is in the future", field="at")
    customer = customer_to_record(store, customer_id)
    if customer.get("merged_into"):
        raise InvalidInput(f"customer {customer_id} was merged into {customer['merged_into']}; "
                           "record the complaint there", field="customerId")
    if channel_id not in store.channels():
        raise NotFound(f"channel {channel_id} not found", field="channelId")
    if product_id is not None and product_id not in store.products([product_id]):
        raise NotFound(f"product {product_id} not found", field="productId")
    complaint_id = "KC-" + uuid.uuid4().hex[:16].upper()
    ops = [
        node_op("Contact", [{"id": complaint_id, "at": at, "direction": "INBOUND", "kind": KIND,
                             "outcome": OPEN, "subject": subject}]),
        relationship_op("HAD_CONTACT", [{"from": customer_id, "to": complaint_id}]),
        relationship_op("VIA", [{"from": complaint_id, "to": channel_id}]),
    ]
    if product_id is not None:
        ops.append(relationship_op("ABOUT", [{"from": complaint_id, "to": product_id}]))
    store.write(ops)
    return Complaint(id=complaint_id, customer_id=customer_id, subject=subject, channel_id=channel_id,
                     product_id=product_id, opened_at=at, outcome=OPEN, resolved_at=None, satisfaction=None)


def _unresolved(store: GraphStore, complaint_id: str, action: str) -> Complaint:
    complaint = get(store, complaint_id)
    if complaint is None:
        raise NotFound(f"complaint {complaint_id} not found", field="id")
    if complaint.status == RESOLVED:
        when = f" at {iso(complaint.resolved_at, 'auto')}" if complaint.resolved_at else ""
        raise Conflict(f"complaint {complaint_id} is already resolved{when}; it cannot be {action}",
                       field="id")
    return complaint


def escalate(store: GraphStore, complaint_id: str) -> Complaint:
    """Mark an unresolved complaint ESCALATED (it stays open). Returns it as stored.

    Raises ``NotFound`` (``complaintId``) for an unknown complaint, ``Conflict`` when it
    is already resolved or already escalated.
    """
    complaint = _unresolved(store, complaint_id, "escalated")
    if complaint.status == ESCALATED:
        raise Conflict(f"complaint {complaint_id} is already escalated", field="id")
    store.write([node_op("Contact", [{"id": complaint_id, "outcome": ESCALATED}])])
    return _replace(complaint, outcome=ESCALATED)


def resolve(store: GraphStore, complaint_id: str, now: datetime, at: datetime | None = None,
            satisfaction: int | None = None) -> Complaint:
    """Resolve an open or escalated complaint at ``at`` (default ``now``), optionally with
    the customer's satisfaction score (1..5). Returns it as stored.

    Raises ``NotFound`` (``complaintId``) for an unknown complaint, ``Conflict`` when it
    is already resolved, ``InvalidInput`` for a resolution time before the complaint was
    opened or in the future (``at``) or a score outside 1..5 (``satisfaction``).
    """
    if satisfaction is not None and not 1 <= satisfaction <= 5:
        raise InvalidInput(f"satisfaction must be 1..5, got {satisfaction}", field="satisfaction")
    complaint = _unresolved(store, complaint_id, "resolved again")
    at = at or now
    if at > now + FUTURE_TOLERANCE:
        raise InvalidInput(f"at {iso(at, 'auto')} is in the future", field="at")
    if complaint.opened_at is not None and at < complaint.opened_at:
        raise InvalidInput(f"resolved at {iso(at, 'auto')} is before the complaint was opened "
                           f"({iso(complaint.opened_at, 'auto')})", field="at")
    row: dict[str, Any] = {"id": complaint_id, "outcome": RESOLVED, "resolved_at": at}
    if satisfaction is not None:
        row["satisfaction"] = satisfaction
    store.write([node_op("Contact", [row])])
    return _replace(complaint, outcome=RESOLVED, resolved_at=at,
                    satisfaction=satisfaction if satisfaction is not None else complaint.satisfaction)


def _replace(complaint: Complaint, **changes: Any) -> Complaint:
    from dataclasses import replace

    return replace(complaint, **changes)


# --------------------------------------------------------------------------- whole-base queries


@dataclass(frozen=True)
class ComplaintFilter:
    """Which complaints a list or figure covers; every field given must match.

    ``customer_ids``: those customers'; ``manager``: complaints of that account
    manager's customers; ``statuses``: any of these; ``opened_from`` / ``opened_to``:
    opened at or after / before.
    """

    statuses: tuple[str, ...] | None = None
    customer_ids: tuple[str, ...] | None = None
    manager: str | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None


def frame(data: ProjectionData) -> pd.DataFrame:
    """Every complaint of the projection's present customers, one row each, newest first
    (ties by customer row): ``row``, ``at``, ``resolved_at``, ``outcome``, ``satisfaction``,
    ``channel``, ``status`` (a string of ``STATUSES``) and ``resolution_hours`` (NaN when unresolved).
    """
    contacts = data.fact("contacts")
    rows = contacts["row"].to_numpy()
    keep = (contacts["kind"] == KIND).to_numpy() & data.present[rows]
    c = contacts.loc[keep]
    at = c["at"].to_numpy(dtype="datetime64[us]")
    resolved_at = (c["resolved_at"].to_numpy(dtype="datetime64[us]") if "resolved_at" in c
                   else np.full(len(c), np.datetime64("NaT"), dtype="datetime64[us]"))
    outcome = c["outcome"].astype(object).to_numpy()
    is_resolved = ~np.isnat(resolved_at) | ~np.isin(outcome, OPEN_OUTCOMES)
    status = np.where(is_resolved, RESOLVED, np.where(outcome == ESCALATED, ESCALATED, OPEN))
    hours = np.where(np.isnat(resolved_at) | np.isnat(at), np.nan,
                     (resolved_at.astype(np.int64) - at.astype(np.int64)) / _HOUR_US)
    out = pd.DataFrame({
        "row": c["row"].to_numpy(), "at": at, "resolved_at": resolved_at, "outcome": outcome,
        "satisfaction": c["satisfaction"].to_numpy(dtype=float), "channel": c["channel"].astype(object).to_numpy(),
        "status": status, "resolution_hours": hours,
    })
    order = np.lexsort((out["row"].to_numpy(), -out["at"].to_numpy().astype(np.int64)))
    return out.iloc[order].reset_index(drop=True)


def manager_rows(data: ProjectionData, manager: str) -> np.ndarray:
    """Customer rows (present, not merged) whose account manager is ``manager``."""
    names = data.customers["account_manager"].to_numpy(dtype=object)
    return np.flatnonzero((names == manager) & data.base())


def select(data: ProjectionData, complaints: pd.DataFrame, flt: ComplaintFilter) -> pd.DataFrame:
    """The rows of ``complaints`` (as from ``frame``) that ``flt`` keeps, in the same order.

    Raises ``InvalidInput`` (``status``) for an unknown status.
    """
    keep = np.ones(len(complaints), dtype=bool)
    rows = complaints["row"].to_numpy()
    if flt.statuses is not None:
        unknown = set(flt.statuses) - set(STATUSES)
        if unknown:
            raise InvalidInput(f"unknown complaint status {sorted(unknown)[0]!r}; expected one of "
                               f"{', '.join(STATUSES)}", field="status")
        keep &= np.isin(complaints["status"].to_numpy(), list(flt.statuses))
    if flt.customer_ids is not None:
        wanted = data.rows_of(flt.customer_ids)
        keep &= np.isin(rows, wanted[wanted >= 0])
    if flt.manager is not None:
        keep &= np.isin(rows, manager_rows(data, flt.manager))
    at = complaints["at"].to_numpy(dtype="datetime64[us]")
    if flt.opened_from is not None:
        keep &= at >= np.datetime64(flt.opened_from, "us")
    if flt.opened_to is not None:
        keep &= at < np.datetime64(flt.opened_to, "us")
    return complaints.loc[keep]


def page(store: GraphStore, data: ProjectionData, selected: pd.DataFrame, skip: int,
         limit: int) -> list[Complaint]:
    """Complaints ``skip`` .. ``skip + limit`` of ``selected`` (as from ``select``), read
    from the store with their ids, subjects, channels and products.

    The projection has no contact ids, so the page's customers' complaints are read
    (one keyed read) and matched on customer and opening time; complaints of one
    customer opened in the same microsecond are told apart by id.
    """
    part = selected.iloc[skip:skip + limit]
    if part.empty:
        return []
    ids = data.ids[part["row"].to_numpy()]
    contacts = store.contacts_of_customers(sorted(set(ids)), kind=KIND)
    by_key: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for owner, rows in contacts.items():
        for r in sorted(rows, key=lambda r: r["id"]):
            by_key.setdefault((owner, _us(r.get("at"))), []).append(r)
    chosen: list[tuple[str, dict[str, Any]]] = []
    used: dict[tuple[str, Any], int] = {}
    for customer, at in zip(ids, part["at"].to_numpy(dtype="datetime64[us]")):
        key = (customer, None if np.isnat(at) else int(at.astype(np.int64)))
        n = used.get(key, 0)
        found = by_key.get(key, [])
        if n < len(found):  # else written or deleted since the snapshot: skipped
            chosen.append((customer, found[n]))
            used[key] = n + 1
    products = store.relationships("ABOUT", [r["id"] for _, r in chosen]) if chosen else {}
    product_of = dict(products.keys())  # keyed by (complaint, product) pairs
    return [Complaint.from_row(r, customer, r.get("channel_id"), product_of.get(r["id"])) for customer, r in chosen]


def _us(value: datetime | None) -> int | None:
    if value is None:
        return None
    return int(np.datetime64(value, "us").astype(np.int64))


@dataclass(frozen=True)
class ComplaintStats:
    """Figures over a set of complaints (``stats``).

    ``median_resolution_hours`` / ``p90_resolution_hours``: over complaints with a
    resolution time; ``within_sla_share``: share of those resolved within ``sla_hours``;
    ``overdue``: unresolved complaints open longer than ``sla_hours`` at ``as_of``;
    ``mean_open_hours`` / ``oldest_open_hours``: age of the unresolved ones;
    ``mean_satisfaction``: mean score given on resolved complaints (with its count).
    """

    total: int
    open: int
    escalated: int
    resolved: int
    median_resolution_hours: float | None
    p90_resolution_hours: float | None
    mean_resolution_hours: float | None
    sla_hours: float
    within_sla_share: float | None
    overdue: int
    mean_open_hours: float | None
    oldest_open_hours: float | None
    mean_satisfaction: float | None
    satisfaction_count: int
    as_of: datetime


def stats(selected: pd.DataFrame, sla_hours: float, as_of: datetime) -> ComplaintStats:
    """Counts, resolution times and SLA figures of ``selected`` (as from ``select``) at ``as_of``.

    Raises ``InvalidInput`` (``slaHours``) when ``sla_hours`` is not positive.
    """
    if not sla_hours > 0:
        raise InvalidInput(f"slaHours must be positive, got {sla_hours}", field="slaHours")
    status = selected["status"].to_numpy()
    hours = selected["resolution_hours"].to_numpy(dtype=float)
    timed = hours[~np.isnan(hours)]
    unresolved = status != RESOLVED
    t = np.datetime64(as_of, "us").astype(np.int64)
    age = (t - selected["at"].to_numpy(dtype="datetime64[us]").astype(np.int64)[unresolved]) / _HOUR_US
    age = np.maximum(age, 0.0)
    scores = selected["satisfaction"].to_numpy(dtype=float)[status == RESOLVED]
    scores = scores[~np.isnan(scores)]

    def stat(values: np.ndarray, f: Any) -> float | None:
        return float(f(values)) if len(values) else None

    return ComplaintStats(
        total=len(selected), open=int((status == OPEN).sum()), escalated=int((status == ESCALATED).sum()),
        resolved=int((status == RESOLVED).sum()),
        median_resolution_hours=stat(timed, np.median), p90_resolution_hours=stat(timed, lambda v: np.quantile(v, .9)),
        mean_resolution_hours=stat(timed, np.mean), sla_hours=float(sla_hours),
        within_sla_share=stat(timed, lambda v: (v <= sla_hours).mean()), overdue=int((age > sla_hours).sum()),
        mean_open_hours=stat(age, np.mean), oldest_open_hours=stat(age, np.max),
        mean_satisfaction=stat(scores, np.mean), satisfaction_count=len(scores), as_of=as_of,
    )


def open_counts(data: ProjectionData, complaints: pd.DataFrame) -> np.ndarray:
    """Unresolved complaints per customer row of ``data`` (``frame``'s status)."""
    unresolved = complaints["status"].to_numpy() != RESOLVED
    return np.bincount(complaints["row"].to_numpy()[unresolved], minlength=data.size)
