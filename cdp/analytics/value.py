"""Value segmentation: who brings the revenue, how recently and often they pay,
and which behavioural groups the base falls into.

``analyse(data, features)`` computes, for the customer base of one projection
snapshot:

* **revenue concentration**: each customer's revenue over the last year
  (invoices, purchases and top-ups minus refunds; customers without monetary
  events count their recurring monthly spend times twelve), the share of total
  revenue from the top 20% of customers, a Lorenz curve in deciles and the
  Gini coefficient;
* **value tiers**: HIGH (top 20% by revenue), MEDIUM (next 30%), LOW (the
  rest with revenue) and NONE (no revenue);
* **RFM**: recency (days since the last money event of ``RECENCY_KINDS``: invoice,
  payment, purchase or top-up, configurable with ``CDP_RFM_RECENCY_KINDS``), frequency (revenue
  events in the last year) and monetary value (revenue) scored 1-5 by quintile
  and mapped to named segments (champions, loyal, at risk, ...);
* **behavioural clusters**: k-means on standardised behaviour (spend, holdings,
  tenure, contacts, complaints, digital use, campaign response), with k chosen
  by silhouette on a sample, and a description of what sets each cluster apart
  (the features whose cluster mean is furthest from the base, in standard
  deviations).

``ValueAnalysis`` caches the result per projection version, so repeated
questions cost nothing until the data changes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import silhouette_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from graph.clock import utc_now
from cdp.projection.features import DAY_US, NEVER_DAYS, REVENUE_KINDS, FeatureFrame, describe, signed_revenue
from cdp.projection.tables import Projection, ProjectionData

#: Share of customers (by revenue) called the top in the concentration figure.
TOP_SHARE = 0.2
#: Value tiers: name and the share of revenue-bearing customers in it, best first.
TIERS = (("HIGH", 0.2), ("MEDIUM", 0.3), ("LOW", 0.5))
#: Behaviour the clusters are built on; heavy-tailed ones are log-transformed.
CLUSTER_FEATURES = (
    "monthly_spend", "revenue_365d", "products_held", "has_bundle", "tenure_months", "contacts_365d",
    "complaints_365d", "digital_share_365d", "offers_accepted_365d", "days_since_contact",
)
_LOG_FEATURES = {"monthly_spend", "revenue_365d", "products_held", "contacts_365d", "complaints_365d",
                 "offers_accepted_365d", "days_since_contact", "tenure_months"}
#: k values tried for the clusters.
K_RANGE = range(3, 9)
#: Rows used to fit the clusters and to score silhouettes (the rest are assigned).
FIT_SAMPLE = 50_000
SILHOUETTE_SAMPLE = 2_000
SEED = 7

#: Monetary event kinds whose latest one sets RFM recency (``Settings.rfm_recency_kinds``):
#: every kind of money coming in, so purchase-only or top-up-only customers are not all "never".
RECENCY_KINDS = ("INVOICE", "PAYMENT", "PURCHASE", "TOP_UP")

#: RFM segments: (name, condition on recency R, frequency F, monetary M scores), first match wins.
RFM_SEGMENTS: tuple[tuple[str, str], ...] = (
    ("CHAMPIONS", "R >= 4 and F >= 4 and M >= 4"),
    ("LOYAL", "F >= 4 and M >= 3"),
    ("BIG_SPENDERS_AT_RISK", "R <= 2 and M >= 4"),
    ("AT_RISK", "R <= 2 and F >= 3"),
    ("HIBERNATING", "R <= 2"),
    ("RECENT", "R >= 4 and F <= 2"),
    ("POTENTIAL", "R >= 3 and M >= 3"),
    ("NEEDS_ATTENTION", "True"),
)


@dataclass(frozen=True)
class TierFigures:
    """One value tier."""

    name: str
    customers: int
    share: float
    revenue: float
    revenue_share: float
    average_revenue: float
    average_margin: float


@dataclass(frozen=True)
class RfmSegment:
    """One RFM segment."""

    name: str
    rule: str
    customers: int
    share: float
    revenue_share: float


@dataclass(frozen=True)
class Trait:
    """How a cluster differs from the base on one feature."""

    feature: str
    description: str
    cluster_mean: float
    base_mean: float
    z: float  # (cluster mean - base mean) / base standard deviation


@dataclass(frozen=True)
class Cluster:
    """One behavioural cluster."""

    id: int
    name: str
    customers: int
    share: float
    revenue_share: float
    description: str
    traits: tuple[Trait, ...]


@dataclass(frozen=True)
class ValueSegmentation:
    """The whole analysis of one projection version.

    Per-customer columns (indexed by customer row) are in ``by_customer``:
    ``revenue``, ``tier``, ``recency``, ``frequency``, ``monetary``,
    ``rfm_segment``, ``cluster``; rows outside the base are missing.
    """

    data_version: int
    computed_at: datetime
    seconds: float
    customers: int
    total_revenue: float
    top_share: float
    lorenz: tuple[float, ...]  # revenue share of the top 10%, 20%, ... 100% of customers
    gini: float
    tiers: tuple[TierFigures, ...]
    rfm: tuple[RfmSegment, ...]
    clusters: tuple[Cluster, ...]
    k: int
    silhouette: float
    by_customer: pd.DataFrame = field(repr=False)
    clustering: Pipeline | None = field(default=None, repr=False)


def recency(data: ProjectionData, rows: np.ndarray, at: datetime,
            kinds: tuple[str, ...] = RECENCY_KINDS) -> np.ndarray:
    """Days from the last monetary event of ``kinds`` before ``at`` to ``at``, per row in
    ``rows`` (``NEVER_DAYS`` when there is none)."""
    events = data.fact("events")
    pos = np.full(data.size, -1, dtype=np.int64)
    pos[rows] = np.arange(len(rows))
    where = pos[events["row"].to_numpy()]
    t = np.datetime64(at, "us").astype(np.int64)
    stamp = events["at"].to_numpy(dtype="datetime64[us]")
    seen = (where >= 0) & ~np.isnat(stamp) & np.isin(events["kind"].astype(object).to_numpy(), kinds)
    seen &= stamp.astype(np.int64) < t
    last = np.full(len(rows), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, where[seen], stamp[seen].astype(np.int64))
    return np.where(last == np.iinfo(np.int64).min, NEVER_DAYS, (t - last) / DAY_US)


def revenue_and_frequency(data: ProjectionData, rows: np.ndarray, at: datetime) -> tuple[np.ndarray, np.ndarray]:
    """Last year's revenue and number of revenue events of each row in ``rows`` as of ``at``."""
    events = data.fact("events")
    pos = np.full(data.size, -1, dtype=np.int64)
    pos[rows] = np.arange(len(rows))
    where = pos[events["row"].to_numpy()]
    t = np.datetime64(at, "us").astype(np.int64)
    age = (t - events["at"].to_numpy(dtype="datetime64[us]").astype(np.int64)) / DAY_US
    kind = events["kind"].astype(object).to_numpy()
    amount = events["amount"].fillna(0).to_numpy()
    year = (where >= 0) & (age > 0) & (age <= 365)
    revenue_kind = np.isin(kind, REVENUE_KINDS)
    signed = signed_revenue(kind, amount)
    n = len(rows)
    revenue = np.bincount(where[year], weights=signed[year], minlength=n)
    frequency = np.bincount(where[year & revenue_kind], minlength=n).astype(float)
    return revenue, frequency


def analyse(data: ProjectionData, features: pd.DataFrame, at: datetime | None = None,
            clustering: Pipeline | None = None, recency_kinds: tuple[str, ...] = RECENCY_KINDS) -> ValueSegmentation:
    """The value segmentation of the base of ``data``; ``features`` as from ``FeatureFrame.current``.
    RFM recency counts the monetary events of ``recency_kinds``.

    ``clustering``: a fitted ``cluster_pipeline`` to assign customers with
    (the k search and fit are skipped); the result's ``clustering`` holds the one used.
    """
    import time

    started = time.perf_counter()
    at = at or utc_now()
    rows = np.flatnonzero(data.base())
    f = features.reindex(rows)
    revenue, frequency = revenue_and_frequency(data, rows, at)
    no_events = frequency == 0
    revenue = np.where(no_events, f["monthly_spend"].fillna(0).to_numpy() * 12, revenue)
    revenue = np.maximum(revenue, 0.0)
    n = len(rows)
    total = float(revenue.sum())
    order = np.argsort(-revenue, kind="stable")
    cumulative = np.cumsum(revenue[order])
    lorenz = tuple(float(cumulative[max(int(np.ceil(n * d / 10)) - 1, 0)] / total) if total and n else 0.0
                   for d in range(1, 11))
    top_share = float(cumulative[max(int(np.ceil(n * TOP_SHARE)) - 1, 0)] / total) if total and n else 0.0
    gini = _gini(revenue)

    tier = np.full(n, "NONE", dtype=object)
    payers = order[revenue[order] > 0]
    start = 0
    for name, share in TIERS:
        count = int(round(share * len(payers))) if name != TIERS[-1][0] else len(payers) - start
        tier[payers[start:start + count]] = name
        start += count
    margin = f["monthly_margin"].fillna(0).to_numpy()
    tiers = tuple(
        TierFigures(name=name, customers=int(m.sum()), share=_ratio(m.sum(), n), revenue=float(revenue[m].sum()),
                    revenue_share=_ratio(revenue[m].sum(), total),
                    average_revenue=float(revenue[m].mean()) if m.any() else 0.0,
                    average_margin=float(margin[m].mean()) if m.any() else 0.0)
        for name in [t for t, _ in TIERS] + ["NONE"] for m in [tier == name]
    )

    recency_days = recency(data, rows, at, recency_kinds)
    r = _quintile(-recency_days)
    fq = _quintile(frequency)
    mq = _quintile(revenue)
    segment = np.full(n, "", dtype=object)
    unassigned = np.ones(n, dtype=bool)
    rfm = []
    for name, rule in RFM_SEGMENTS:
        hit = unassigned & _rule(rule, r, fq, mq)
        segment[hit] = name
        unassigned &= ~hit
        rfm.append(RfmSegment(name=name, rule=rule, customers=int(hit.sum()), share=_ratio(hit.sum(), n),
                              revenue_share=_ratio(revenue[hit].sum(), total)))

    labels, k, silhouette, clusters, clustering = _clusters(f, revenue, total, clustering)
    by_customer = pd.DataFrame({
        "revenue": revenue, "tier": tier, "recency": r, "frequency": fq, "monetary": mq,
        "rfm_segment": segment, "cluster": labels,
    }, index=pd.Index(rows, name="row"))
    return ValueSegmentation(
        data_version=data.version, computed_at=at, seconds=time.perf_counter() - started, customers=n,
        total_revenue=total, top_share=top_share, lorenz=lorenz, gini=gini, tiers=tiers, rfm=tuple(rfm),
        clusters=clusters, k=k, silhouette=silhouette, by_customer=by_customer, clustering=clustering,
    )


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


def _gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative ``values`` (0: equal, 1: one customer has everything)."""
    n = len(values)
    if n == 0 or values.sum() == 0:
        return 0.0
    v = np.sort(values)
    index = np.arange(1, n + 1)
    return float((2 * (index * v).sum()) / (n * v.sum()) - (n + 1) / n)


def _quintile(values: np.ndarray) -> np.ndarray:
    """Scores 1-5 by quintile of ``values`` (ties share the lower score)."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    ranks = pd.Series(values).rank(method="min", pct=True).to_numpy()
    return np.clip(np.ceil(ranks * 5), 1, 5).astype(np.int64)


def _rule(rule: str, r: np.ndarray, f: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Evaluate one RFM rule (a fixed expression from ``RFM_SEGMENTS``) over score arrays."""
    if rule == "True":
        return np.ones(len(r), dtype=bool)
    mask = np.ones(len(r), dtype=bool)
    for term in rule.split(" and "):
        name, op, value = term.split()
        column = {"R": r, "F": f, "M": m}[name]
        mask &= column >= int(value) if op == ">=" else column <= int(value)
    return mask


def cluster_pipeline(k: int, rows: int) -> Pipeline:
    """log1p on heavy-tailed behaviour, standardise, then k-means (mini-batch for big bases)."""
    log_columns = [i for i, name in enumerate(CLUSTER_FEATURES) if name in _LOG_FEATURES]

    def log1p(x: np.ndarray) -> np.ndarray:
        x = np.array(x, dtype=float, copy=True)
        x[:, log_columns] = np.log1p(np.maximum(x[:, log_columns], 0))
        return x

    estimator = (KMeans(n_clusters=k, n_init=2, random_state=SEED) if rows <= 20_000
                 else MiniBatchKMeans(n_clusters=k, n_init=3, random_state=SEED, batch_size=4096))
    return Pipeline([("log", FunctionTransformer(log1p)), ("scale", StandardScaler()), ("kmeans", estimator)])


def _clusters(f: pd.DataFrame, revenue: np.ndarray, total: float, fitted: Pipeline | None = None,
              ) -> tuple[np.ndarray, int, float, tuple[Cluster, ...], Pipeline | None]:
    n = len(f)
    if n < max(K_RANGE) * 5:
        return np.zeros(n, dtype=np.int64), 1, 0.0, (), None
    x = f[list(CLUSTER_FEATURES)].astype(float).fillna(0.0).to_numpy()
    if fitted is not None:
        pipeline, k, silhouette = fitted, fitted[-1].n_clusters, float(getattr(fitted, "silhouette_", 0.0))
    else:
        rng = np.random.default_rng(SEED)
        fit_rows = rng.choice(n, min(n, FIT_SAMPLE), replace=False)
        score_rows = fit_rows[: min(len(fit_rows), SILHOUETTE_SAMPLE)]
        best: tuple[float, int, Pipeline] | None = None
        for k in K_RANGE:
            pipeline = cluster_pipeline(k, len(fit_rows)).fit(x[fit_rows])
            transformed = pipeline[:-1].transform(x[score_rows])
            labels = pipeline[-1].predict(transformed)
            if len(set(labels)) < 2:
                continue
            score = float(silhouette_score(transformed, labels, random_state=SEED))
            if best is None or score > best[0]:
                best = (score, k, pipeline)
        if best is None:
            return np.zeros(n, dtype=np.int64), 1, 0.0, (), None
        silhouette, k, pipeline = best
        pipeline.silhouette_ = silhouette
    labels = pipeline.predict(x)
    # Number clusters by size, largest first, so ids are stable for the same data.
    sizes = np.bincount(labels, minlength=k)
    rank = np.empty(k, dtype=np.int64)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(k)
    labels = rank[labels]
    means, stds = x.mean(axis=0), x.std(axis=0)
    stds[stds == 0] = 1.0
    clusters = []
    for cid in range(k):
        member = labels == cid
        cm = x[member].mean(axis=0)
        z = (cm - means) / stds
        order = np.argsort(-np.abs(z))
        traits = tuple(Trait(feature=CLUSTER_FEATURES[i], description=describe(CLUSTER_FEATURES[i]),
                             cluster_mean=float(cm[i]), base_mean=float(means[i]), z=float(z[i])) for i in order[:4])
        words = [_trait_text(t) for t in traits[:3] if abs(t.z) >= 0.25] or ["close to the base on every behaviour"]
        lead = traits[0]
        name = f"{'high' if lead.z > 0 else 'low'}: {lead.description}"
        clusters.append(Cluster(
            id=cid, name=name, customers=int(member.sum()), share=_ratio(member.sum(), n),
            revenue_share=_ratio(revenue[member].sum(), total), description="; ".join(words), traits=traits,
        ))
    return labels, k, silhouette, tuple(clusters), pipeline


#: Features that are 0/1 flags, described as shares of customers.
_FLAGS = {"has_bundle"}


def _trait_text(trait: Trait) -> str:
    """A readable phrase for one trait, e.g. ``higher monthly recurring spend (458 vs 61.4 in the base)``."""
    if trait.feature in _FLAGS:
        return f"{trait.cluster_mean:.0%} {trait.description} (base {trait.base_mean:.0%})"
    direction = "higher" if trait.z > 0 else "lower"
    return f"{direction} {trait.description} ({trait.cluster_mean:.3g} vs {trait.base_mean:.3g} in the base)"


class ValueAnalysis:
    """``analyse`` cached per projection version (one computation at a time).

    Finding and fitting the clusters is the slow part, so a fitted clustering
    is reused across data versions (customers are re-assigned, descriptions
    recomputed) until it is ``refit_seconds`` old or the base has grown or
    shrunk by more than ``refit_change``; ``current(refit=True)`` forces it.
    """

    def __init__(self, projection: Projection, features: FeatureFrame, refit_seconds: float = 24 * 3600.0,
                 refit_change: float = 0.05, recency_kinds: tuple[str, ...] = RECENCY_KINDS) -> None:
        self.projection = projection
        self.recency_kinds = recency_kinds
        self.features = features
        self.refit_seconds = refit_seconds
        self.refit_change = refit_change
        self._lock = threading.Lock()
        self._cached: ValueSegmentation | None = None
        self._fit: tuple[Pipeline, float, int] | None = None  # clustering, fitted at (monotonic), base size

    def current(self, data: ProjectionData | None = None, refit: bool = False) -> ValueSegmentation:
        """The segmentation of the latest data (recomputed only when the data changed)."""
        import time

        data = data or self.projection.data()
        with self._lock:
            if self._cached is not None and self._cached.data_version == data.version and not refit:
                return self._cached
            fitted = None
            if self._fit is not None and not refit:
                pipeline, fitted_at, size = self._fit
                base = int(data.base().sum())
                if time.monotonic() - fitted_at < self.refit_seconds and abs(base - size) <= self.refit_change * size:
                    fitted = pipeline
            result = analyse(data, self.features.current(data), clustering=fitted, recency_kinds=self.recency_kinds)
            if fitted is None and result.clustering is not None:
                self._fit = (result.clustering, time.monotonic(), result.customers)
            self._cached = result
            return result
