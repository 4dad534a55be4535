"""Next-best offer (and its channel and time) for one customer or many, on demand.

For each customer the candidates are the catalogue products they may take
(``cdp.offers.catalog_rules.eligible``: not held unless repeatable, requirements met, no
exclusion, eligibility and validity; each classified CROSS_SELL or UP_SELL). Each
candidate gets:

* a **probability**: the collaborative-filtering score (``COLLABORATIVE``: EASE
  item-item regression on the customer x product holdings, by default) calibrated
  to the chance of starting the product within ``CALIBRATION_DAYS`` (isotonic
  regression fitted on what customers took in the last ``CALIBRATION_DAYS``,
  scored from what they held before; ``CollaborativeProbability``), averaged with
  the trained propensity model of the product when there is one
  (``PROPENSITY_WEIGHT``; it answers the same question), then lowered when the
  customer recently declined (x ``DECLINED_FACTOR``) or ignored
  (x ``IGNORED_FACTOR``) an offer of it. Without enough recent takers to
  calibrate on, the probability is the co-occurrence share: the average, over
  the products held, of the share of their holders who also hold the candidate;
* a **margin**: ``MARGIN_MONTHS`` of monthly price minus monthly cost; for an
  up-sell, the gain over the held product it upgrades;
* an **expected value** = probability x margin, the ranking key; when the catalogue
  has no prices at all, the probability is the ranking key (``UNPRICED`` in the reasons);
* **reasons** ("held by 41% of customers who hold P-BB-500", "propensity 0.31",
  "margin 12.40 a month", "declined on 2026-10-01");
* the **channel and time** to make it (``cdp.outreach.channel_choice``: expected net
  value of the offer through each channel the customer consents to for MARKETING).

Offers are marketing, and ranking them profiles the customer, so a customer gets
none at all (``withheld``) when their MARKETING consent is refused (denied or revoked,
or no yes while the contact policy asks for one), their PROFILING consent is refused,
or they were erased (``cdp.privacy.consent``, docs/privacy.md). Campaigns choosing offers by
expected value get no value for customers who refused PROFILING (the campaign falls
back to its offers' rank for them).

``RecommendationEngine`` keeps the holdings matrix, the co-occurrence counts
(for reasons) and the calibrated collaborative model per projection version
(refitted when the data changed); the batch path ranks every customer of a list
in chunks. ``holdout_quality`` measures the engine's ranking as of a past time
against what customers took afterwards (recall@k, NDCG@k, with popularity over
the same eligible candidates as the baseline).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cdp.offers import catalog_rules
from cdp.outreach import contact_policy
from cdp.ops.cancellation import never
from cdp.offers.collaborative import ItemCooccurrence, ItemRegression, Recommender, _minmax_rows, ranking_quality
from cdp.privacy.consent import ConsentTable, trainable, unprofiled
from cdp.errors import InvalidInput
from cdp.projection.tables import ProjectionData, subscriptions_held
from graph.clock import utc_now
from graph.store import GraphStore

if TYPE_CHECKING:
    from cdp.outreach.channel_choice import ChannelChoices

#: Trained propensities of customer rows of a snapshot: ``(product ids, rows x products)``,
#: nan = not scored (``cdp.models.scoring.ModelRegistry.propensity_rows``); raises ``InvalidInput``
#: (``ModelNotTrained``) while the propensity models are not trained.
Propensities = Callable[[np.ndarray, ProjectionData], tuple[list[str], np.ndarray]]

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
#: The collaborative model behind the probability: "ease", "cooccurrence" or "blend" (both, equal weights).
COLLABORATIVE = "ease"
#: EASE ridge penalty (10 to 1,000 all within 0.01 recall@10 on the demo holdout; 100 was the best).
EASE_REG = 100.0
#: The calibration's window: the probability is the chance of starting the product within this many days.
CALIBRATION_DAYS = 180
#: Customers sampled for the calibration fit at most.
CALIBRATION_ROWS = 200_000
#: Fewest takers in the window for a calibrated model (below: the co-occurrence share, uncalibrated).
MIN_TAKERS = 30
#: Fewest takers of one product for a calibration curve of its own (below: the pooled curve).
MIN_PRODUCT_TAKERS = 30
#: Most (customer, product) cells scored for the calibration fit: a big catalogue samples fewer customers.
CALIBRATION_CELLS = 8_000_000
#: Most held products for EASE (its inverse is dense, n x n, and is fitted twice: about 1 s each at
#: 1,500 on the 2-core machine, 5 s at 2,500): a bigger catalogue fits EASE over its 1,500 most held
#: products, and the others rank below them (on the Instacart validation split, EASE over the 1,500
#: most held beat the pruned co-occurrence model over all: docs/recommendations.md).
EASE_MAX_ITEMS = 1_500
#: Most (score, label) pairs the pooled calibration curve is fitted on (a weighted sample above).
POOLED_POINTS = 2_000_000
#: Neighbours each product keeps in the co-occurrence model of a catalogue above ``EASE_MAX_ITEMS``.
NEIGHBOURS = 200
#: The reason given when the catalogue has no prices, so offers rank by probability alone.
UNPRICED = "ranked by probability: the catalogue has no prices (monthly_price), so no margin"


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
    """Recommendations on the live projection.

    ``store``: where the catalog rules and the contact policy are read; ``data``: the live
    snapshot (``cdp.analytics.analytics.Analytics.data``); ``channels``: each customer's best channel
    and time; ``propensities``: the trained propensity models' scores (None: none, the
    collaborative probability alone); ``check``: called in long work, raises to stop it once
    the app shuts down (``cdp.ops.cancellation``). The app wires them (``cdp.analytics.analytics``).
    """

    def __init__(self, store: GraphStore, data: Callable[[], ProjectionData], channels: ChannelChoices,
                 propensities: Propensities | None = None, check: Callable[[], None] = never) -> None:
        self.store = store
        self.data = data
        self.channels = channels
        self._propensity_rows = propensities
        self.check = check
        self._lock = threading.Lock()
        self._state: tuple[ProjectionData, _State] | None = None

    # ------------------------------------------------------------ public

    def for_customer(self, customer_id: str, first: int = 5, at: datetime | None = None) -> list[Recommendation]:
        """The ``first`` best offers for one customer, best first (empty outside the base)."""
        data = self.data()
        row = data.row_of(customer_id)
        if row is None:
            return []
        return self.for_rows(np.array([row]), first, at, data)[0]

    def for_rows(self, rows: np.ndarray, first: int = 5, at: datetime | None = None,
                 data: ProjectionData | None = None, explain: bool = True) -> list[list[Recommendation]]:
        """The ``first`` best offers for each row of ``rows`` (customer rows of ``data``)."""
        if first < 1:
            raise InvalidInput("first must be at least 1", field="first")
        data = data or self.data()
        at = at or utc_now()
        state = self._current(data)
        out: list[list[Recommendation]] = []
        for lo in range(0, len(rows), CHUNK):
            self.check()
            chunk = np.asarray(rows[lo:lo + CHUNK], dtype=np.int64)
            out += self._rank(data, state, chunk, first, at, explain)
        return out

    def top_products(self, rows: np.ndarray, first: int = 5, at: datetime | None = None,
                     data: ProjectionData | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Batch ranking without explanations: ``(product index, expected value)``, each
        ``len(rows) x first`` (index -1 where fewer candidates); product order is ``data.products.index``."""
        data = data or self.data()
        at = at or utc_now()
        state = self._current(data)
        items = np.full((len(rows), first), -1, dtype=np.int64)
        values = np.full((len(rows), first), -np.inf, dtype=np.float32)
        withheld = self.withheld(data, at)
        for lo in range(0, len(rows), CHUNK):
            self.check()
            chunk = np.asarray(rows[lo:lo + CHUNK], dtype=np.int64)
            ev, *_ = self._scores(data, state, chunk, at)
            ev[withheld[chunk]] = -np.inf
            k = min(first, ev.shape[1])
            top = np.argpartition(-ev, k - 1, axis=1)[:, :k]
            tv = np.take_along_axis(ev, top, axis=1)
            order = np.argsort(-tv, axis=1, kind="stable")
            top, tv = np.take_along_axis(top, order, axis=1), np.take_along_axis(tv, order, axis=1)
            items[lo:lo + len(chunk), :k] = np.where(np.isfinite(tv), top, -1)
            values[lo:lo + len(chunk), :k] = tv
        return items, values

    def expected_values(self, rows: np.ndarray, products: list[str], at: datetime | None = None,
                        data: ProjectionData | None = None) -> np.ndarray:
        """Expected value of offering each of ``products`` to each customer row
        (``len(rows) x len(products)``; -inf where the catalog rules rule it out, the
        product is unknown, or the customer refused PROFILING (``cdp.privacy.consent.unprofiled``)). Used by
        campaigns to pick each customer's best offer."""
        data = data or self.data()
        at = at or utc_now()
        state = self._current(data)
        columns = pd.Index(state.products).get_indexer(products)
        out = np.full((len(rows), len(products)), -np.inf, dtype=np.float32)
        known = columns >= 0
        no_profile = unprofiled(data, at)
        for lo in range(0, len(rows), CHUNK):
            self.check()
            chunk = np.asarray(rows[lo:lo + CHUNK], dtype=np.int64)
            ev, *_ = self._scores(data, state, chunk, at)
            ev[no_profile[chunk]] = -np.inf
            out[lo:lo + len(chunk)][:, known] = ev[:, columns[known]]
        return out

    def withheld(self, data: ProjectionData, at: datetime) -> np.ndarray:
        """Per customer row of ``data``: True when the customer gets no offers at all: MARKETING
        refused (under the contact policy's explicit purposes), PROFILING refused, or erased.
        Reads the contact policy (one small store read)."""
        policy = contact_policy.load(self.store)
        consents = ConsentTable(data, at)
        refused = consents.purpose_refused("MARKETING", None, policy.explicit_consent_purposes)
        return refused | unprofiled(data, at, consents)

    def calibration(self, data: ProjectionData | None = None) -> Calibration | None:
        """How the current collaborative probability was calibrated (fits the state if needed)."""
        return self._current(data or self.data()).model.calibration_

    # ------------------------------------------------------------ internals

    def _current(self, data: ProjectionData) -> _State:
        with self._lock:
            if self._state is None or self._state[0] is not data:
                self._state = (data, _State.build(data, catalog_rules.read_rules(self.store),
                                                  check=self.check))
            return self._state[1]

    def _scores(self, data: ProjectionData, state: _State, rows: np.ndarray, at: datetime,
                propensity: bool = True,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, _Offers | None, np.ndarray, np.ndarray]:
        """Expected value (-inf where not eligible), probability, margin and up-sell flag (each
        rows x products), the offers frame with the rows of ``rows`` in it and their rows there
        (for reasons), and the propensities (rows x products, nan where none).
        ``propensity=False`` leaves the propensity models out (the holdout evaluation: they are
        trained on what came after a past ``at``)."""
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
        probability = state.model.probability(held)
        p = self._propensities(data, rows, state) if propensity else np.full(probability.shape, np.nan)
        has = ~np.isnan(p)
        probability = np.where(has, (1 - PROPENSITY_WEIGHT) * probability + PROPENSITY_WEIGHT *
                               np.nan_to_num(p), probability)
        probability = probability * _response_factor(offers, local, len(state.products), at,
                                                     data.size if offers is state.offers else len(rows))
        margin = np.broadcast_to(state.margin, probability.shape).copy()
        if upsell.any():
            # An up-sell is worth what it adds over the best held product it upgrades.
            dense = held.toarray().astype(bool)
            for j in np.flatnonzero(upsell.any(axis=0)):
                sources = state.upgrades.indices[state.upgrades.indptr[j]:state.upgrades.indptr[j + 1]]
                if len(sources):
                    replaced = np.where(dense[:, sources], state.margin[sources][None, :], -np.inf).max(axis=1)
                    margin[:, j] = np.where(upsell[:, j] & np.isfinite(replaced), state.margin[j] - replaced,
                                            margin[:, j])
        margin = np.maximum(margin, 0.0) * MARGIN_MONTHS
        # Without prices every margin is 0, and probability x 0 would rank offers by product id:
        # the probability is then the ranking key (and the value campaigns compare).
        ev = np.where(eligible, probability * margin if state.priced else probability, -np.inf)
        return ev.astype(np.float32), probability, margin, upsell, offers, local, p

    def _propensities(self, data: ProjectionData, rows: np.ndarray, state: _State) -> np.ndarray:
        """Trained propensities of ``rows`` (rows of ``data``) x ``state.products``; nan where none."""
        out = np.full((len(rows), len(state.products)), np.nan)
        if self._propensity_rows is None:
            return out
        try:
            products, matrix = self._propensity_rows(rows, data)
        except InvalidInput:  # not trained
            return out
        column = pd.Index(state.products).get_indexer(products)
        ok = column >= 0
        out[:, column[ok]] = matrix[:, ok]
        return out

    def _rank(self, data: ProjectionData, state: _State, rows: np.ndarray, first: int, at: datetime,
              explain: bool) -> list[list[Recommendation]]:
        ev, probability, margin, upsell, offers, local, propensity = self._scores(data, state, rows, at)
        ev[self.withheld(data, at)[rows]] = -np.inf
        channels = self.channels.current(data)
        out = []
        for i, row in enumerate(rows):
            if i % 1_000 == 0:
                self.check()
            order = [j for j in np.argsort(-ev[i], kind="stable")[:first] if np.isfinite(ev[i, j])]
            recs = []
            for j in order:
                value = float(ev[i, j]) if state.priced else float(probability[i, j] * margin[i, j])
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
        if j in held:
            reasons.append("held already: a repeatable product (top-up, data pack) offered again")
        others = held[held != j]
        if len(others):
            # The held product whose holders most often hold the candidate too (``together`` is
            # symmetric and sparse: row j gives every product's count with j).
            line = state.together[j]
            counts = np.zeros(len(others))
            if line.nnz:
                pos = np.minimum(np.searchsorted(line.indices, others), line.nnz - 1)
                hit = line.indices[pos] == others
                counts[hit] = line.data[pos[hit]]
            shares = counts / np.maximum(state.holders[others], 1)
            best = int(np.argmax(shares))
            if shares[best] > 0:
                reasons.append(f"held by {shares[best]:.0%} of customers who hold {state.products[others[best]]}")
        if propensity is not None and not np.isnan(propensity):
            reasons.append(f"propensity {propensity:.2f}")
        if state.priced:
            reasons.append(f"probability {probability:.3g}, margin {margin / MARGIN_MONTHS:.2f} a month")
        else:
            reasons.append(f"probability {probability:.3g}; {UNPRICED}")
        if last is not None:
            outcome, when = last
            if timedelta(0) <= (at - when) <= timedelta(days=RESPONSE_DAYS):
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
    keep = (where >= 0) & (offers.at >= np.datetime64(at - timedelta(days=RESPONSE_DAYS), "us")) & (
        offers.at <= np.datetime64(at, "us"))
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


@dataclass(frozen=True)
class Calibration:
    """How ``CollaborativeProbability`` turned scores into probabilities.

    ``method``: "isotonic", or "none" (the co-occurrence share, uncalibrated: too few
    takers, or asked for); ``model``: the collaborative model scored; ``since`` /
    ``until``: the window whose new subscriptions are the labels; ``customers``:
    customers sampled (they held something at ``since``); ``pairs``: their
    (customer, product not held) pairs; ``takers``: pairs whose product was started in
    the window; ``observed``: takers / pairs; ``predicted``: the mean fitted
    probability over those pairs (isotonic: equal to ``observed``); ``brier``: mean
    squared error of the fitted probabilities there (None uncalibrated);
    ``per_product``: products with a curve of their own (the rest share a pooled one).
    """

    method: str
    model: str
    since: datetime
    until: datetime
    customers: int
    pairs: int
    takers: int
    observed: float
    predicted: float
    brier: float | None
    per_product: int


class CollaborativeProbability:
    """A collaborative-filtering score turned into P(customer starts the product within ``days``).

    ``fit(data, at, holdings)`` fits the model on the holdings as of ``at - days``,
    scores a sample (``rows``) of the customers who held something then, and fits
    isotonic regression (non-decreasing, clipped to [0, 1]) from those scores to
    whether they started the product in ``(at - days, at]``, over the products they did
    not hold: one curve per product with at least ``MIN_PRODUCT_TAKERS`` takers, a
    pooled curve for the others (fitted on their pairs). The model is then refitted on ``holdings`` (as of
    ``at``) for scoring, and the curves map its scores. The propensity models answer
    the same question (``cdp.models.propensity``, a 180-day horizon), so the two can be
    averaged, and probability x margin is an expected value.

    ``kind`` (default ``COLLABORATIVE``): "ease" (``ItemRegression``, ``EASE_REG``), "cooccurrence" (the
    co-occurrence share: the average over held products of P(candidate | held)),
    "blend" (the two, each min-max normalised per customer, equal weights), or
    "share" (the co-occurrence share as the probability, uncalibrated: the engine
    before calibration). With fewer than ``MIN_TAKERS`` takers in the window (a new
    store, a test fixture) every kind falls back to "share".

    Raises ValueError for an unknown kind.
    """

    KINDS = ("ease", "cooccurrence", "blend", "share")

    def __init__(self, kind: str | None = None, days: int = CALIBRATION_DAYS, rows: int = CALIBRATION_ROWS,
                 seed: int = 0) -> None:
        kind = kind or COLLABORATIVE
        if kind not in self.KINDS:
            raise ValueError(f"unknown collaborative model {kind!r}: one of {', '.join(self.KINDS)}")
        self.kind, self.days, self.rows, self.seed = kind, days, rows, seed
        #: (pooled curve, {product column: its own curve}), each curve (x thresholds, y values); None uncalibrated.
        self.curves_: tuple[tuple[np.ndarray, np.ndarray], dict[int, tuple[np.ndarray, np.ndarray]]] | None = None
        self.models_: dict[str, Recommender] = {}
        self.calibration_: Calibration | None = None

    def _fit_models(self, X: sp.csr_matrix, kind: str) -> dict[str, Recommender]:
        out: dict[str, Recommender] = {}
        # A big catalogue keeps each product's strongest neighbours only (sparse), not all n x n.
        neighbours = 0 if X.shape[1] <= EASE_MAX_ITEMS else NEIGHBOURS
        if kind in ("cooccurrence", "blend", "share"):
            out["cooccurrence"] = ItemCooccurrence(alpha=1.0, shrink=10.0, neighbours=neighbours).fit(X)
        if kind in ("ease", "blend"):
            # EASE's inverse is dense: a big catalogue takes its EASE_MAX_ITEMS most held products.
            out["ease"] = ItemRegression(reg=EASE_REG, min_count=1, most=EASE_MAX_ITEMS).fit(X)
        return out

    @staticmethod
    def _feasible(kind: str, holdings: sp.csr_matrix) -> str:
        """``kind``, or "cooccurrence" for a blend over more than ``EASE_MAX_ITEMS`` held products
        (EASE leaves the rest at its floor, which min-max normalising would lift to the
        co-occurrence scale). EASE alone takes the ``EASE_MAX_ITEMS`` most held products."""
        if kind == "blend" and int((np.diff(holdings.tocsc().indptr) > 0).sum()) > EASE_MAX_ITEMS:
            return "cooccurrence"
        return kind

    @staticmethod
    def _raw(models: dict[str, Recommender], kind: str, held: sp.csr_matrix) -> np.ndarray:
        """Uncalibrated scores (float64, rows of ``held`` x products)."""
        parts = {}
        if "cooccurrence" in models:
            count = np.maximum(np.asarray(held.sum(axis=1)).ravel(), 1)[:, None]
            parts["cooccurrence"] = np.clip(np.asarray(models["cooccurrence"].score(holdings=held), np.float64)
                                            / count, 0.0, 1.0)
        if "ease" in models:
            parts["ease"] = np.asarray(models["ease"].score(holdings=held), dtype=np.float64)
        if kind == "blend":
            return 0.5 * _minmax_rows(parts["ease"]) + 0.5 * _minmax_rows(parts["cooccurrence"])
        return parts["ease" if kind == "ease" else "cooccurrence"]

    def fit(self, data: ProjectionData, at: datetime, holdings: sp.csr_matrix,
            check: Callable[[], None] = never) -> CollaborativeProbability:
        """Fit on ``data`` as of ``at`` (``holdings``: ``holdings_matrix(data, at)``); returns self.
        ``check`` is called between steps and raises to stop (``cdp.ops.cancellation``: ShuttingDown)."""
        since = at - timedelta(days=self.days)
        n = holdings.shape[1]
        kind = self._feasible(self.kind, holdings)
        # Customers who refused PROFILING (or were erased) are not trained on (cdp.privacy.consent.trainable).
        allowed = trainable(data, at)
        self.left_out_ = int((data.base() & ~allowed).sum())
        train = holdings[np.flatnonzero(allowed)]
        check()
        past = holdings_matrix(data, since) if kind != "share" else None
        rows = np.flatnonzero((np.diff(past.indptr) > 0) & allowed) if past is not None else np.empty(0, np.int64)
        most = max(1, min(self.rows, CALIBRATION_CELLS // max(n, 1)))  # dense rows x products below
        if len(rows) > most:
            rows = np.sort(np.random.default_rng(self.seed).choice(rows, most, replace=False))
        labels = candidates = None
        if past is not None and len(rows):
            candidates = past[rows].toarray() == 0
            labels = started_matrix(data, rows, since, at, n) & candidates
        takers = int(labels.sum()) if labels is not None else 0
        if kind == "share" or takers < MIN_TAKERS:
            self.models_ = self._fit_models(train, "share")
            self.curves_ = None
            self.used_ = "share"
            pairs = int(candidates.sum()) if candidates is not None else 0
            self.calibration_ = Calibration("none", "cooccurrence share", since, at, len(rows), pairs, takers,
                                            takers / pairs if pairs else 0.0, float("nan"), None, 0)
            return self
        from sklearn.isotonic import IsotonicRegression

        assert past is not None and labels is not None and candidates is not None  # takers >= MIN_TAKERS
        check()
        models = self._fit_models(past[np.flatnonzero(allowed)], kind)
        check()
        raw = self._raw(models, kind, past[rows])
        check()

        def curve(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
            return np.asarray(iso.X_thresholds_, np.float64), np.asarray(iso.y_thresholds_, np.float64)

        per_product = labels.sum(axis=0) >= MIN_PRODUCT_TAKERS
        # The pooled curve is fitted on the products without a curve of their own (rarer takes),
        # unless they have too few takers between them: then on every pair.
        rest = candidates & ~per_product[None, :]
        if int(labels[rest].sum()) < MIN_PRODUCT_TAKERS:
            rest = candidates
        x, y, weight = _pooled_sample(raw[rest], labels[rest], POOLED_POINTS, self.seed)
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y, sample_weight=weight)
        pooled = (np.asarray(iso.X_thresholds_, np.float64), np.asarray(iso.y_thresholds_, np.float64))
        # One interpolation over the whole matrix, then the few products with curves of their own.
        fitted = np.interp(raw, *pooled)
        own_curves = {}
        for j in np.flatnonzero(per_product):
            check()
            mask = candidates[:, j]
            own_curves[int(j)] = curve(raw[mask, j], labels[mask, j].astype(np.float64))
            fitted[:, j] = np.interp(raw[:, j], *own_curves[int(j)])
        own = int(per_product.sum())
        err = (fitted - labels)[candidates]
        self.curves_ = (pooled, own_curves)
        check()
        self.models_ = self._fit_models(train, kind)
        self.used_ = kind
        pairs = int(candidates.sum())
        self.calibration_ = Calibration("isotonic", kind, since, at, len(rows), pairs, takers, takers / pairs,
                                        float(fitted[candidates].mean()), float((err ** 2).mean()), own)
        return self

    def probability(self, held: sp.csr_matrix) -> np.ndarray:
        """P(start within ``days``) per row of ``held`` (customers x products CSR) and product,
        float64; ties between products broken by the raw score (at most 1e-6)."""
        raw = self._raw(self.models_, self.used_, held)
        if self.curves_ is None:
            return raw
        pooled, own = self.curves_
        out = np.interp(raw, *pooled)
        for j, (x, y) in own.items():
            out[:, j] = np.interp(raw[:, j], x, y)
        return np.clip(out + 1e-6 * _minmax_rows(raw), 0.0, 1.0)


def _pooled_sample(x: np.ndarray, y: np.ndarray, most: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores ``x`` and 0/1 labels ``y`` for the pooled curve, at most about ``most`` of them:
    every taker, and a uniform sample of the others weighted by the inverse sampling rate,
    so the weighted fit estimates the same curve (20M pairs of a 20,000-product catalogue
    take 14 s to fit; 2M about 1 s). Returns ``(x, y, weight)``."""
    y = y.astype(np.float64)
    if len(x) <= most:
        return x, y, np.ones(len(x))
    positive = y > 0
    negatives = len(y) - int(positive.sum())
    rate = max(most - int(positive.sum()), 1) / max(negatives, 1)
    if rate >= 1:
        return x, y, np.ones(len(x))
    # Bernoulli sampling of the non-takers (a draw per pair: far quicker than choosing without replacement).
    keep = positive | (np.random.default_rng(seed).random(len(y)) < rate)
    return x[keep], y[keep], np.where(positive[keep], 1.0, 1.0 / rate)


def started_matrix(data: ProjectionData, rows: np.ndarray, after: datetime, until: datetime,
                   products: int) -> np.ndarray:
    """Boolean ``len(rows) x products`` (``data.products.index`` order): the customer at that
    row started a subscription to the product in ``(after, until]``."""
    s = data.fact("subscriptions")
    pos = np.full(data.size, -1, dtype=np.int64)
    pos[rows] = np.arange(len(rows))
    where = pos[s["row"].to_numpy()]
    since = s["since"].to_numpy(dtype="datetime64[us]")
    column = pd.Index(data.products.index).get_indexer(s["product"].astype(object).to_numpy())
    hit = (where >= 0) & (column >= 0) & ~np.isnat(since) & (since > np.datetime64(after, "us")) & (
        since <= np.datetime64(until, "us"))
    out = np.zeros((len(rows), products), dtype=bool)
    out[where[hit], column[hit]] = True
    return out


class _State:
    """What one projection version gives the engine: holdings, the fitted model, margins."""

    together: sp.csr_matrix  # products x products: customers holding both (set by ``build``)
    holders: np.ndarray  # per product: customers holding it (set by ``build``)

    def __init__(self, products: list[str], names: list[str], holdings: sp.csr_matrix,
                 model: CollaborativeProbability, margin: np.ndarray, offers: _Offers | None, rules: Any,
                 upgrades: sp.csc_matrix, priced: bool = True) -> None:
        self.rules = rules
        self.upgrades = upgrades  # transitive, products x products; column j: what j upgrades
        self.priced = priced
        self.products = products
        self.names = names
        self.holdings = holdings
        self.model = model
        self.margin = margin
        self.offers = offers

    @classmethod
    def build(cls, data: ProjectionData, rules: Any, at: datetime | None = None,
              collaborative: str | None = None, check: Callable[[], None] = never) -> _State:
        """The state of ``data`` as of ``at`` (default now) with catalog ``rules``; ``collaborative``
        names the model behind the probability (``CollaborativeProbability.KINDS``). ``check`` is
        called between steps and raises to stop (``cdp.ops.cancellation``: ShuttingDown)."""
        at = at or utc_now()
        products = list(data.products.index)
        names = list(data.products["name"]) if "name" in data.products else products
        holdings = holdings_matrix(data, at)
        model = CollaborativeProbability(collaborative).fit(data, at, holdings, check)
        check()
        # Customers holding both, sparse (a 20,000-product catalogue would be 3 GB dense).
        together = (holdings.T @ holdings).tocsr()
        together.sort_indices()
        holders = np.asarray(together.diagonal(), dtype=np.float64)
        price = pd.to_numeric(data.products.get("monthly_price", pd.Series(np.nan, index=data.products.index)),
                              errors="coerce")
        cost = pd.to_numeric(data.products.get("monthly_cost", pd.Series(np.nan, index=data.products.index)),
                             errors="coerce")
        margin = (price.fillna(0) - cost.fillna(0)).to_numpy(dtype=float)
        priced = bool((price.fillna(0) > 0).any())
        offers = _offers_frame(data, products)
        ids = pd.Index(products, dtype=object)
        upgrades = catalog_rules._catalogue(data.products, data.bundles, rules, ids).upgrades.tocsc()
        upgrades.sort_indices()
        state = cls(products, names, holdings, model, margin, offers, rules, upgrades, priced)
        state.together, state.holders = together, holders
        return state


def holdout_quality(analytics: Any, at: datetime, until: datetime | None = None, k: int = 10,
                    kinds: tuple[str, ...] = CollaborativeProbability.KINDS,
                    ) -> dict[str, Any]:
    """The engine's ranking as of a past time ``at``, against what customers took afterwards.

    As of ``at``: holdings, catalog rules (eligibility, exclusions, validity), the
    collaborative model and its calibration (on ``(at - CALIBRATION_DAYS, at]``), recent
    answers to offers. No propensities: the trained models have seen what came after
    ``at``. The held-out items of a customer are the products they started in
    ``(at, until]`` (default now) and did not hold at ``at``; customers who held
    something at ``at`` and started at least one such product are evaluated. A
    held-out product the rules did not allow at ``at`` counts as a miss.

    Returns ``{"at", "until", "customers", "held_out", "k", "calibration": {kind:
    Calibration}, "rankings": {name: {"probability": Quality, "expected_value":
    Quality}}}``: for each collaborative kind, and for ``popularity`` (the same
    eligible candidates ranked by how many customers held them at ``at``; its expected
    value is that share x margin). ``probability`` ranks by the probability alone,
    ``expected_value`` as the engine does. Raises ValueError for an unknown kind.
    """
    data = analytics.data()
    until = until or utc_now()
    rules = catalog_rules.read_rules(analytics.store)
    engine = analytics.recommendations
    held_at = holdings_matrix(data, at)
    n = held_at.shape[1]
    holding = np.flatnonzero(np.diff(held_at.indptr) > 0)
    new = started_matrix(data, holding, at, until, n) & (held_at[holding].toarray() == 0)
    rows = holding[new.any(axis=1)]
    test = sp.csr_matrix(new[new.any(axis=1)].astype(np.float32))
    out: dict[str, Any] = {"at": at, "until": until, "customers": len(rows), "held_out": int(test.nnz), "k": k,
                           "calibration": {}, "rankings": {}}
    popularity = np.asarray(held_at.sum(axis=0)).ravel() / max(len(holding), 1)
    for kind in kinds:
        state = _State.build(data, rules, at, collaborative=kind)
        out["calibration"][kind] = state.model.calibration_
        by_p: list[np.ndarray] = []
        by_ev: list[np.ndarray] = []
        pop_p: list[np.ndarray] = []
        pop_ev: list[np.ndarray] = []
        for lo in range(0, len(rows), CHUNK):
            chunk = rows[lo:lo + CHUNK]
            ev, probability, margin, *_ = engine._scores(data, state, chunk, at, propensity=False)
            eligible = np.isfinite(ev)
            for target, score in ((by_p, probability), (by_ev, ev), (pop_p, popularity[None, :]),
                                  (pop_ev, popularity[None, :] * margin)):
                masked = np.where(eligible, np.broadcast_to(score, ev.shape), -np.inf)
                target.append(_top(masked, k))
        out["rankings"][kind] = {"probability": ranking_quality(np.vstack(by_p), test, k),
                                 "expected_value": ranking_quality(np.vstack(by_ev), test, k)}
        out["rankings"].setdefault("popularity", {"probability": ranking_quality(np.vstack(pop_p), test, k),
                                                  "expected_value": ranking_quality(np.vstack(pop_ev), test, k)})
    return out


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Each row's ``k`` best finite columns, best first, -1 padding."""
    kk = min(k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :kk]
    top = np.where(np.isfinite(np.take_along_axis(scores, order, axis=1)), order, -1)
    return np.hstack([top, np.full((len(top), k - kk), -1, dtype=top.dtype)]) if kk < k else top


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
