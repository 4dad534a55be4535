"""Next-best offer (and its channel and time) for one customer or many, on demand.

For each customer the candidates are the catalogue products they may take
(``cdp.catalog_rules.eligible``: not held, requirements met, no exclusion,
eligibility and validity; each classified CROSS_SELL or UP_SELL). Each
candidate gets:

* a **probability**: the collaborative-filtering score (item-item co-occurrence
  on the customer x product holdings: the average, over the products held, of
  the share of their holders who also hold the candidate) blended with the
  trained propensity model of the product when there is one
  (``PROPENSITY_WEIGHT``), then lowered when the customer recently declined
  (x ``DECLINED_FACTOR``) or ignored (x ``IGNORED_FACTOR``) an offer of it;
* a **margin**: ``MARGIN_MONTHS`` of monthly price minus monthly cost; for an
  up-sell, the gain over the held product it upgrades;
* an **expected value** = probability x margin, the ranking key;
* **reasons** ("held by 41% of customers who hold P-BB-500", "propensity 0.31",
  "margin 12.40 a month", "declined on 2026-10-01");
* the **channel and time** to make it (``cdp.channel_choice``: expected net
  value of the offer through each channel the customer consents to).

``RecommendationEngine`` keeps the holdings matrix and the fitted co-occurrence
model per projection version (refitted when the data changed); the batch path
ranks every customer of a list in chunks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cdp.collaborative import ItemCooccurrence
from cdp.errors import InvalidInput
from cdp.projection import ProjectionData, subscriptions_held, utc_now

#: Months of margin an accepted offer is worth.
MARGIN_MONTHS = 12
#: Weight of the propensity model against collaborative filtering, when a product has one.
PROPENSITY_WEIGHT = 0.5
#: How far back a response counts, and what it does to the probability.
RESPONSE_DAYS = 180
DECLINED_FACTOR = 0.2
IGNORED_FACTOR = 0.6
#: Up to this many rows, rules are applied on a subset snapshot of just those customers.
SUBSET_ROWS = 2_000
#: Rows ranked at once in the batch path.
CHUNK = 50_000


@dataclass(frozen=True)
class Recommendation:
    """One offer for one customer."""

    product: str
    name: str
    kind: str  # CROSS_SELL or UP_SELL
    probability: float
    margin: float
    expected_value: float
    reasons: tuple[str, ...]
    channel: str | None
    best_time: datetime | None


class RecommendationEngine:
    """Recommendations on the live projection of an ``Analytics``."""

    def __init__(self, analytics: Any) -> None:
        self.analytics = analytics
        self._lock = threading.Lock()
        self._state: tuple[ProjectionData, _State] | None = None

    # ------------------------------------------------------------ public

    def for_customer(self, customer_id: str, first: int = 5, at: datetime | None = None) -> list[Recommendation]:
        """The ``first`` best offers for one customer, best first (empty outside the base)."""
        data = self.analytics.data()
        row = data.row_of(customer_id)
        if row is None:
            return []
        return self.for_rows(np.array([row]), first, at, data)[0]

    def for_rows(self, rows: np.ndarray, first: int = 5, at: datetime | None = None,
                 data: ProjectionData | None = None, explain: bool = True) -> list[list[Recommendation]]:
        """The ``first`` best offers for each row of ``rows`` (customer rows of ``data``)."""
        if first < 1:
            raise InvalidInput("first must be at least 1", field="first")
        data = data or self.analytics.data()
        at = at or utc_now()
        state = self._current(data)
        out: list[list[Recommendation]] = []
        for lo in range(0, len(rows), CHUNK):
            chunk = np.asarray(rows[lo:lo + CHUNK], dtype=np.int64)
            out += self._rank(data, state, chunk, first, at, explain)
        return out

    def top_products(self, rows: np.ndarray, first: int = 5, at: datetime | None = None,
                     data: ProjectionData | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Batch ranking without explanations: ``(product index, expected value)``, each
        ``len(rows) x first`` (index -1 where fewer candidates); product order is ``data.products.index``."""
        data = data or self.analytics.data()
        at = at or utc_now()
        state = self._current(data)
        items = np.full((len(rows), first), -1, dtype=np.int64)
        values = np.full((len(rows), first), -np.inf, dtype=np.float32)
        for lo in range(0, len(rows), CHUNK):
            chunk = np.asarray(rows[lo:lo + CHUNK], dtype=np.int64)
            ev, *_ = self._scores(data, state, chunk, at)
            k = min(first, ev.shape[1])
            top = np.argpartition(-ev, k - 1, axis=1)[:, :k]
            tv = np.take_along_axis(ev, top, axis=1)
            order = np.argsort(-tv, axis=1, kind="stable")
            top, tv = np.take_along_axis(top, order, axis=1), np.take_along_axis(tv, order, axis=1)
            items[lo:lo + len(chunk), :k] = np.where(np.isfinite(tv), top, -1)
            values[lo:lo + len(chunk), :k] = tv
        return items, values

    # ------------------------------------------------------------ internals

    def _current(self, data: ProjectionData) -> _State:
        with self._lock:
            if self._state is None or self._state[0] is not data:
                from cdp import catalog_rules

                self._state = (data, _State.build(data, catalog_rules.read_rules(self.analytics.store)))
            return self._state[1]

    def _scores(self, data: ProjectionData, state: _State, rows: np.ndarray, at: datetime,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, _Offers | None, np.ndarray]:
        """Expected value, probability, margin and up-sell flag (each rows x products), and the
        offers frame with the rows of ``rows`` in it (for reasons)."""
        from cdp import catalog_rules

        if len(rows) <= SUBSET_ROWS:
            # A few customers: apply the rules to their rows only (O(their facts), not O(base)).
            view = data.subset(rows)
            rules = catalog_rules.evaluate(view, np.arange(len(rows)), at, state.rules)
            offers, local = _offers_frame(view, state.products), np.arange(len(rows))
        else:
            rules = catalog_rules.evaluate(data, rows, at, state.rules)
            offers, local = state.offers, rows
        eligible, upsell = rules.eligible, rules.upsell
        held = state.holdings[rows]
        cf = np.asarray(state.model.score(holdings=held), dtype=np.float64)
        count = np.maximum(np.asarray(held.sum(axis=1)).ravel(), 1)[:, None]
        probability = np.clip(cf / count, 0.0, 1.0)
        propensity = self._propensities(data, rows, state)
        has = ~np.isnan(propensity)
        probability = np.where(has, (1 - PROPENSITY_WEIGHT) * probability + PROPENSITY_WEIGHT *
                               np.nan_to_num(propensity), probability)
        probability = probability * _response_factor(offers, local, len(state.products), at,
                                                     data.size if offers is state.offers else len(rows))
        margin = np.broadcast_to(state.margin, probability.shape).copy()
        if upsell.any():
            # An up-sell is worth what it adds over the best held product it upgrades.
            dense = held.toarray().astype(bool)
            for j in np.flatnonzero(upsell.any(axis=0)):
                sources = np.flatnonzero(state.upgrades[:, j])
                if len(sources):
                    replaced = np.where(dense[:, sources], state.margin[sources][None, :], -np.inf).max(axis=1)
                    margin[:, j] = np.where(upsell[:, j] & np.isfinite(replaced), state.margin[j] - replaced,
                                            margin[:, j])
        margin = np.maximum(margin, 0.0) * MARGIN_MONTHS
        ev = np.where(eligible, probability * margin, -np.inf)
        return ev.astype(np.float32), probability, margin, upsell, offers, local

    def _propensities(self, data: ProjectionData, rows: np.ndarray, state: _State) -> np.ndarray:
        out = np.full((len(rows), len(state.products)), np.nan)
        models = getattr(self.analytics, "models", None)
        if models is None:
            return out
        for j, product in enumerate(state.products):
            try:
                column = models.score_column(f"propensity:{product}", data)
            except InvalidInput:
                continue
            out[:, j] = column[rows]
        return out

    def _rank(self, data: ProjectionData, state: _State, rows: np.ndarray, first: int, at: datetime,
              explain: bool) -> list[list[Recommendation]]:
        ev, probability, margin, upsell, offers, local = self._scores(data, state, rows, at)
        propensity = self._propensities(data, rows, state) if explain else None
        channels = self.analytics.channels.current(data)
        out = []
        for i, row in enumerate(rows):
            order = [j for j in np.argsort(-ev[i], kind="stable")[:first] if np.isfinite(ev[i, j])]
            recs = []
            for j in order:
                value = float(ev[i, j])
                best = channels.best(np.array([row]), value=value)[0]
                channel = channels.channels[best] if best >= 0 else None
                reasons = self._reasons(state, int(row), int(j), probability[i, j], margin[i, j],
                                        None if propensity is None else propensity[i, j], at,
                                        _last_response(offers, int(local[i]), int(j))) if explain else ()
                recs.append(Recommendation(
                    product=state.products[j], name=str(state.names[j]),
                    kind="UP_SELL" if upsell[i, j] else "CROSS_SELL", probability=float(probability[i, j]),
                    margin=float(margin[i, j]), expected_value=value, reasons=reasons, channel=channel,
                    best_time=channels.best_time(int(row), channel) if channel else None,
                ))
            out.append(recs)
        return out

    def _reasons(self, state: _State, row: int, j: int, probability: float, margin: float,
                 propensity: float | None, at: datetime, last: tuple[str, datetime] | None) -> tuple[str, ...]:
        held = state.holdings[row].indices
        reasons: list[str] = []
        if len(held):
            # The held product whose holders most often hold the candidate too.
            shares = state.together[held, j] / np.maximum(state.holders[held], 1)
            best = int(np.argmax(shares))
            if shares[best] > 0:
                reasons.append(f"held by {shares[best]:.0%} of customers who hold {state.products[held[best]]}")
        if propensity is not None and not np.isnan(propensity):
            reasons.append(f"propensity {propensity:.2f}")
        reasons.append(f"probability {probability:.2f}, margin {margin / MARGIN_MONTHS:.2f} a month")
        if last is not None:
            outcome, when = last
            if (at - when) <= timedelta(days=RESPONSE_DAYS):
                word = {"DECLINED": "declined", "NO_RESPONSE": "ignored", "ACCEPTED": "accepted"}.get(outcome, outcome)
                reasons.append(f"{word} this offer on {when.date().isoformat()}")
        return tuple(reasons)


@dataclass(frozen=True)
class _Offers:
    """Campaign offers as arrays: customer ``row``, product ``code``, ``at`` (datetime64[us]), ``outcome``."""

    row: np.ndarray
    code: np.ndarray
    at: np.ndarray
    outcome: np.ndarray

    def __len__(self) -> int:
        return len(self.row)


def _offers_frame(data: ProjectionData, products: list[str]) -> _Offers | None:
    """The campaign offers of ``data`` about products of ``products``."""
    if "offers" not in data.facts:
        return None
    f = data.fact("offers")
    kind = f["kind"].to_numpy(dtype=object)
    code = pd.Index(products).get_indexer(f["product"].to_numpy(dtype=object))
    keep = (kind == "CAMPAIGN_OFFER") & (code >= 0)
    return _Offers(row=f["row"].to_numpy()[keep], code=code[keep],
                   at=f["at"].to_numpy(dtype="datetime64[us]")[keep], outcome=f["outcome"].to_numpy(dtype=object)[keep])


def _response_factor(offers: _Offers | None, rows: np.ndarray, products: int, at: datetime,
                     size: int) -> np.ndarray:
    """Per row of ``rows`` (rows of ``offers``) and product: DECLINED_FACTOR / IGNORED_FACTOR
    for the latest answer in the last ``RESPONSE_DAYS``, else 1."""
    factor = np.ones((len(rows), products))
    if offers is None or not len(offers):
        return factor
    pos = np.full(size, -1, dtype=np.int64)
    pos[rows] = np.arange(len(rows))
    where = pos[offers.row]
    keep = (where >= 0) & (offers.at >= np.datetime64(at - timedelta(days=RESPONSE_DAYS), "us"))
    if not keep.any():
        return factor
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(offers.at[idx], kind="stable")]  # oldest first: the latest answer is written last
    outcome = offers.outcome[idx]
    values = np.where(outcome == "DECLINED", DECLINED_FACTOR, np.where(outcome == "NO_RESPONSE", IGNORED_FACTOR, 1.0))
    factor[where[idx], offers.code[idx]] = values
    return factor


def _last_response(offers: _Offers | None, row: int, j: int) -> tuple[str, datetime] | None:
    """The latest answer of ``row`` (a row of ``offers``) to an offer of product ``j``, if any."""
    if offers is None or not len(offers):
        return None
    mine = np.flatnonzero((offers.row == row) & (offers.code == j))
    if not len(mine):
        return None
    last = mine[np.argmax(offers.at[mine])]
    return str(offers.outcome[last]), pd.Timestamp(offers.at[last]).to_pydatetime()


class _State:
    """What one projection version gives the engine: holdings, the fitted model, margins."""

    def __init__(self, products: list[str], names: list[str], holdings: sp.csr_matrix, model: ItemCooccurrence,
                 margin: np.ndarray, offers: _Offers | None, rules: Any, upgrades: np.ndarray) -> None:
        self.rules = rules
        self.upgrades = upgrades
        self.products = products
        self.names = names
        self.holdings = holdings
        self.model = model
        self.margin = margin
        self.offers = offers

    @classmethod
    def build(cls, data: ProjectionData, rules: Any, at: datetime | None = None) -> _State:
        from cdp import catalog_rules

        at = at or utc_now()
        products = list(data.products.index)
        names = list(data.products["name"]) if "name" in data.products else products
        holdings = holdings_matrix(data, at)
        model = ItemCooccurrence(alpha=1.0, shrink=10.0, neighbours=0).fit(holdings)
        together = np.asarray((holdings.T @ holdings).toarray(), dtype=np.float64)  # customers holding both
        holders = np.diag(together).copy()
        price = data.products.get("monthly_price", pd.Series(0.0, index=data.products.index)).fillna(0)
        cost = data.products.get("monthly_cost", pd.Series(0.0, index=data.products.index)).fillna(0)
        margin = (price - cost).to_numpy(dtype=float)
        offers = _offers_frame(data, products)
        ids = pd.Index(products, dtype=object)
        upgrades = catalog_rules._closure(catalog_rules._matrix(
            ids, {k: tuple(u.target for u in v) for k, v in rules.upgrades.items()}))
        state = cls(products, names, holdings, model, margin, offers, rules, upgrades)
        state.together, state.holders = together, holders
        return state


def holdings_matrix(data: ProjectionData, at: datetime) -> sp.csr_matrix:
    """Customers x products (``data.products.index`` order), 1 where a subscription is held at
    ``at``; a held bundle also counts its components as held."""
    products = pd.Index(data.products.index)
    s = data.fact("subscriptions")
    active = subscriptions_held(s, np.datetime64(at, "us").astype(np.int64))
    code = products.get_indexer(s["product"].astype(object).to_numpy())
    ok = active & (code >= 0)
    rows, cols = s["row"].to_numpy()[ok].astype(np.int64), code[ok]
    extra_rows, extra_cols = [], []
    for bundle, parts in data.bundles.items():
        b = products.get_loc(bundle) if bundle in products else -1
        if b < 0:
            continue
        holders = rows[cols == b]
        for part in parts:
            if part in products:
                extra_rows.append(holders)
                extra_cols.append(np.full(len(holders), products.get_loc(part)))
    if extra_rows:
        rows = np.concatenate([rows, *extra_rows])
        cols = np.concatenate([cols, *extra_cols])
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(data.size, len(products)))
    matrix.data[:] = 1.0  # duplicates summed by the constructor count once
    return matrix
