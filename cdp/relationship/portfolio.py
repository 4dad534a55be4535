"""Account managers and their portfolios.

An account manager is a name on ``Customer.account_manager`` (the model keeps
no separate manager node). Only KEY_ACCOUNT and BUSINESS customers can have one
(``ASSIGNABLE_TIERS``): consumers are served by the shared channels, and an
account manager on a consumer is almost always a data error.

A manager's **portfolio** is every customer in the base (present, not merged)
with their name. For each customer, and in total, it gives (docs/relationship.md):

* open complaints: complaints not resolved (``cdp.relationship.complaints`` status);
* churn risk: the churn model's probability (``Customer.churnRisk``); when the
  model is not trained the risk is unavailable with the reason, never guessed;
  the portfolio's mean and the number at or above a threshold (default 0.5);
* revenue: last 365 days' revenue from monetary events (invoices, purchases and
  top-ups minus refunds; ``cdp.projection.features.signed_revenue``), the monthly recurring
  spend (active subscriptions' fees net of discount) and revenue per calendar
  month over the last 12 months (the current month to date);
* satisfaction: mean score and count over the last 365 days.

Everything is computed with numpy on the projection for the portfolio's rows
(one masked pass per fact table), so a portfolio costs tens of milliseconds at
a million customers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from cdp.relationship import complaints as C
from cdp.errors import InvalidInput, NotFound
from cdp.projection.features import signed_revenue
from cdp.projection.tables import ProjectionData, subscriptions_held
from graph.store import GraphStore, Row, node_op

ASSIGNABLE_TIERS = ("KEY_ACCOUNT", "BUSINESS")
MAX_NAME = 200
#: Default churn probability from which a customer counts as high risk.
HIGH_RISK = 0.5
#: Orders of a portfolio's customers (ties by customer id).
ORDERS = ("ID", "REVENUE", "CHURN_RISK", "OPEN_COMPLAINTS", "MONTHLY_RECURRING")

Scores = Callable[[str, ProjectionData], np.ndarray]


# --------------------------------------------------------------------------- managers


@dataclass(frozen=True)
class ManagerSummary:
    """One account manager: customers in their portfolio (by tier) and their open complaints."""

    name: str
    customers: int
    key_accounts: int
    business: int
    open_complaints: int


def managers(data: ProjectionData, complaints: pd.DataFrame) -> list[ManagerSummary]:
    """Every account manager named on a customer in the base, by name; ``complaints`` as
    from ``cdp.relationship.complaints.frame``."""
    names = data.customers["account_manager"].to_numpy(dtype=object)
    has = data.base() & pd.notna(names) & (names != "")
    rows = np.flatnonzero(has)
    if not len(rows):
        return []
    labels, inverse = np.unique(names[rows].astype(str), return_inverse=True)
    tier = data.customers["tier"].astype(object).to_numpy()[rows]
    open_ = C.open_counts(data, complaints)[rows]
    count = np.bincount(inverse, minlength=len(labels))
    key = np.bincount(inverse, weights=(tier == "KEY_ACCOUNT").astype(float), minlength=len(labels))
    business = np.bincount(inverse, weights=(tier == "BUSINESS").astype(float), minlength=len(labels))
    complaints_open = np.bincount(inverse, weights=open_.astype(float), minlength=len(labels))
    return [ManagerSummary(name=str(n), customers=int(count[i]), key_accounts=int(key[i]),
                           business=int(business[i]), open_complaints=int(complaints_open[i]))
            for i, n in enumerate(labels)]


def assign(store: GraphStore, customer_id: str, name: str, now: datetime) -> Row:
    """Make ``name`` the account manager of ``customer_id`` (replacing any other); returns
    the customer row as stored.

    Raises ``NotFound`` (``customerId``) for an unknown customer, ``InvalidInput`` for
    an empty or too long name (``name``), a consumer or a merged customer (``customerId``).
    """
    name = (name or "").strip()
    if not name:
        raise InvalidInput("name must not be empty", field="name")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"name is longer than {MAX_NAME} characters", field="name")
    customer = _customer(store, customer_id)
    tier = customer.get("tier")
    if tier not in ASSIGNABLE_TIERS:
        raise InvalidInput(f"customer {customer_id} is a {tier or 'customer without tier'}; account managers "
                           f"serve {' and '.join(ASSIGNABLE_TIERS)} customers only", field="customerId")
    store.write([node_op("Customer", [{"id": customer_id, "account_manager": name, "updated_at": now}])])
    return {**customer, "account_manager": name, "updated_at": now}


def unassign(store: GraphStore, customer_id: str, now: datetime) -> Row:
    """Remove the account manager of ``customer_id`` (nothing changes when it has none);
    returns the customer row. Raises ``NotFound`` (``customerId``) for an unknown customer."""
    customer = _customer(store, customer_id, merged_ok=True)
    if customer.get("account_manager") is None:
        return customer
    store.write([node_op("Customer", [{"id": customer_id, "account_manager": None, "updated_at": now}])])
    return {**customer, "account_manager": None, "updated_at": now}


def _customer(store: GraphStore, customer_id: str, merged_ok: bool = False) -> Row:
    customer = store.customers([customer_id]).get(customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found", field="customerId")
    if customer.get("merged_into") and not merged_ok:
        raise InvalidInput(f"customer {customer_id} was merged into {customer['merged_into']}",
                           field="customerId")
    return customer


# --------------------------------------------------------------------------- portfolio


@dataclass(frozen=True)
class MonthlyRevenue:
    """Revenue of one calendar month (``month`` is its first day)."""

    month: date
    revenue: float


@dataclass(frozen=True)
class Portfolio:
    """One manager's customers and their figures as of ``as_of``; arrays are per customer,
    in customer-id order (``ids``). ``churn`` is None when the churn model is not trained
    (``churn_unavailable`` says why); NaN in it marks a customer the model does not score."""

    manager: str
    as_of: datetime
    ids: np.ndarray
    rows: np.ndarray
    open_complaints: np.ndarray
    complaints_365d: np.ndarray
    churn: np.ndarray | None
    churn_unavailable: str | None
    revenue_12m: np.ndarray
    monthly_recurring: np.ndarray
    months: tuple[MonthlyRevenue, ...]
    satisfaction_mean: float | None
    satisfaction_count: int

    @property
    def size(self) -> int:
        return len(self.ids)

    def churn_mean(self) -> float | None:
        """Mean churn risk of the scored customers; None when unavailable or nobody is scored."""
        if self.churn is None or np.isnan(self.churn).all():
            return None
        return float(np.nanmean(self.churn))

    def high_risk(self, threshold: float = HIGH_RISK) -> int | None:
        """Customers with churn risk at or above ``threshold``; None when unavailable."""
        if self.churn is None:
            return None
        return int((self.churn >= threshold).sum())

    def order(self, by: str = "ID") -> np.ndarray:
        """Positions of the customers sorted by ``by`` (``ORDERS``): ID ascending, the others
        descending (highest revenue, riskiest first); unscored customers last, ties by id.

        Raises ``InvalidInput`` (``orderBy``) for an unknown order or CHURN_RISK without a model.
        """
        if by == "ID":
            return np.arange(self.size)
        return np.lexsort((np.arange(self.size), -self.sort_key(by)))

    def sort_key(self, by: str) -> np.ndarray:
        """The figure the customers are ordered by (descending) for ``by`` other than ID, unscored
        customers as -inf. Raises ``InvalidInput`` as ``order`` does."""
        if by == "CHURN_RISK":
            if self.churn is None:
                raise InvalidInput(f"cannot order by churn risk: {self.churn_unavailable}", field="orderBy")
            key = np.where(np.isnan(self.churn), -np.inf, self.churn)
        elif by in ("REVENUE", "OPEN_COMPLAINTS", "MONTHLY_RECURRING"):
            key = {"REVENUE": self.revenue_12m, "OPEN_COMPLAINTS": self.open_complaints,
                   "MONTHLY_RECURRING": self.monthly_recurring}[by].astype(float)
        else:
            raise InvalidInput(f"unknown order {by!r}; expected one of {', '.join(ORDERS)}", field="orderBy")
        return key


def portfolio(data: ProjectionData, manager: str, as_of: datetime, complaints: pd.DataFrame,
              scores: Scores | None = None) -> Portfolio | None:
    """The portfolio of ``manager`` as of ``as_of`` (None when no customer in the base has
    that manager). ``complaints`` as from ``cdp.relationship.complaints.frame``; ``scores(name, data)``
    gives per-row model scores (``Analytics.score_column``) and may raise ``InvalidInput``
    (e.g. ``ModelNotTrained``), which makes the churn figures unavailable with that reason.
    """
    rows = C.manager_rows(data, manager)
    if not len(rows):
        return None
    ids = data.ids[rows].to_numpy(dtype=object)
    order = np.argsort(ids, kind="stable")
    rows, ids = rows[order], ids[order]
    n = len(rows)
    pos = np.full(data.size, -1, dtype=np.int64)
    pos[rows] = np.arange(n)
    t = np.datetime64(as_of, "us")
    year_ago = np.datetime64(as_of - timedelta(days=365), "us")

    open_ = C.open_counts(data, complaints)[rows]
    c_where = pos[complaints["row"].to_numpy()]
    c_at = complaints["at"].to_numpy(dtype="datetime64[us]")
    recent = (c_where >= 0) & (c_at >= year_ago) & (c_at < t)
    complaints_365d = np.bincount(c_where[recent], minlength=n)

    churn, reason = None, None
    if scores is None:
        reason = "no churn model is available in this context"
    else:
        try:
            churn = np.asarray(scores("churn_risk", data), dtype=float)[rows]
        except InvalidInput as exc:
            reason = exc.message

    revenue_12m, months = _revenue(data, pos, n, as_of)
    recurring = _recurring(data, pos, n, t)
    mean, count = _satisfaction(data, pos, year_ago, t)
    return Portfolio(manager=manager, as_of=as_of, ids=ids, rows=rows, open_complaints=open_,
                     complaints_365d=complaints_365d, churn=churn, churn_unavailable=reason,
                     revenue_12m=revenue_12m, monthly_recurring=recurring, months=months,
                     satisfaction_mean=mean, satisfaction_count=count)


def _revenue(data: ProjectionData, pos: np.ndarray, n: int,
             as_of: datetime) -> tuple[np.ndarray, tuple[MonthlyRevenue, ...]]:
    """Last 365 days' signed revenue per customer (as ``cdp.analytics.value``: after ``as_of - 365 days``,
    before ``as_of``) and the portfolio's revenue per calendar month, the last 12 months."""
    events = data.fact("events")
    where = pos[events["row"].to_numpy()]
    mine = np.flatnonzero(where >= 0)
    where = where[mine]
    at = events["at"].to_numpy(dtype="datetime64[us]")[mine]
    kind = events["kind"].astype(object).to_numpy()[mine]
    signed = signed_revenue(kind, events["amount"].fillna(0).to_numpy()[mine])
    t = np.datetime64(as_of, "us")
    year = (at > np.datetime64(as_of - timedelta(days=365), "us")) & (at < t)
    revenue = np.bincount(where[year], weights=signed[year], minlength=n)
    this_month = t.astype("datetime64[M]").astype(np.int64)
    month = at.astype("datetime64[M]").astype(np.int64)
    first = this_month - 11
    in_window = (month >= first) & (at < t)
    per_month = np.bincount(month[in_window] - first, weights=signed[in_window], minlength=12)
    months = tuple(MonthlyRevenue(month=date(1970 + int(m) // 12, int(m) % 12 + 1, 1), revenue=float(v))
                   for m, v in zip(range(first, this_month + 1), per_month))
    return revenue, months


def _recurring(data: ProjectionData, pos: np.ndarray, n: int, t: np.datetime64) -> np.ndarray:
    """Monthly recurring spend per customer at ``t``: held subscriptions' fee × (1 - discount)."""
    subs = data.fact("subscriptions")
    where = pos[subs["row"].to_numpy()]
    mine = np.flatnonzero(where >= 0)
    s = subs.iloc[mine]
    held = subscriptions_held(s, t.astype(np.int64))
    fee = s["monthly_fee"].fillna(0).to_numpy() * (1 - s["discount"].fillna(0).to_numpy())
    return np.bincount(where[mine][held], weights=fee[held], minlength=n)


def _satisfaction(data: ProjectionData, pos: np.ndarray, start: np.datetime64,
                  end: np.datetime64) -> tuple[float | None, int]:
    contacts = data.fact("contacts")
    where = pos[contacts["row"].to_numpy()]
    score = contacts["satisfaction"].to_numpy(dtype=float)
    at = contacts["at"].to_numpy(dtype="datetime64[us]")
    keep = (where >= 0) & ~np.isnan(score) & (at >= start) & (at < end)
    count = int(keep.sum())
    return (float(score[keep].mean()) if count else None), count

