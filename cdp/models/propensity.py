"""Propensity to take each product: the chance a customer starts a subscription to it.

Snapshot design: ``T0 = now - HORIZON_DAYS``. For each catalogue product that
is not retired, the candidates are the base's customers who had an open account
at ``T0`` and did not hold the product then; the label is whether they started
a subscription to it in ``(T0, now]``. Features are those as of ``T0``
(``cdp.projection.features.compute``), so nothing after the snapshot leaks in. Scoring
describes customers as of now and asks the same question for the next period.

One ``HistGradientBoostingClassifier`` per product with at least
``MIN_POSITIVES`` takers (trained on a stratified sample of at most
``MAX_ROWS`` candidates, its figures on a held-out 20%); a product with fewer
takers is scored with its base rate and marked ``trained = False`` on the card.
A customer who already holds a product is not scored for it (nan).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from cdp.projection import features as F
from cdp.privacy.consent import trainable
from cdp.errors import InvalidInput
from cdp.models.model_card import ModelCard, ProductModel, align, gradient_boosting, metrics, model_frame
from cdp.projection.tables import ProjectionData, subscriptions_held

#: The period whose new subscriptions are the label.
HORIZON_DAYS = 180
#: Fewest takers of a product for a model of its own.
MIN_POSITIVES = 30
#: Candidates used per training run at most (a stratified sample above that).
MAX_ROWS = 150_000
#: Share of candidates held out for the card's figures.
HELD_OUT = 0.2


def holdings(data: ProjectionData, rows: np.ndarray, at: datetime, products: list[str]) -> np.ndarray:
    """Boolean matrix (len(rows) x len(products)): customer row holds product at ``at``."""
    s = data.fact("subscriptions")
    pos = np.full(data.size, -1, dtype=np.int64)
    pos[rows] = np.arange(len(rows))
    where = pos[s["row"].to_numpy()]
    keep = where >= 0
    active = subscriptions_held(s, np.datetime64(at, "us").astype(np.int64))
    column = pd.Index(products).get_indexer(s["product"].astype(object).to_numpy())
    hit = keep & active & (column >= 0)
    out = np.zeros((len(rows), len(products)), dtype=bool)
    out[where[hit], column[hit]] = True
    return out


def _started(data: ProjectionData, rows: np.ndarray, after: datetime, until: datetime,
             products: list[str]) -> np.ndarray:
    """Boolean matrix: customer row started a subscription to product in ``(after, until]``."""
    s = data.fact("subscriptions")
    pos = np.full(data.size, -1, dtype=np.int64)
    pos[rows] = np.arange(len(rows))
    where = pos[s["row"].to_numpy()]
    since = np.asarray(s["since"], dtype="datetime64[us]")
    column = pd.Index(products).get_indexer(s["product"].astype(object).to_numpy())
    hit = (where >= 0) & (column >= 0) & ~np.isnat(since) & (since > np.datetime64(after, "us")) & (
        since <= np.datetime64(until, "us"))
    out = np.zeros((len(rows), len(products)), dtype=bool)
    out[where[hit], column[hit]] = True
    return out


def matrix(x: pd.DataFrame) -> np.ndarray:
    """``x`` as a float matrix: categoricals as their category codes (missing: nan).

    The per-product models take this instead of a frame: scikit-learn then skips
    its per-call categorical preprocessing, which would otherwise cost more than
    the trees themselves when a few dozen models score everyone.
    """
    out = np.empty((len(x), x.shape[1]), dtype=np.float32)
    for j, c in enumerate(x.columns):
        column = x[c]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy().astype(np.float32)
            codes[codes < 0] = np.nan
            out[:, j] = codes
        else:
            out[:, j] = column.to_numpy(dtype=np.float32, na_value=np.nan)
    return out


class PropensityModel:
    """Per-product classifiers (or base rates) and what scoring needs.

    ``predict(features, held)`` returns a (rows x products) matrix of
    probabilities, nan where the customer already holds the product.
    """

    def __init__(self, products: list[str], estimators: dict[str, Any], base_rates: dict[str, float],
                 columns: list[str], categories: dict[str, list]) -> None:
        self.products = products
        self.estimators = estimators
        self.base_rates = base_rates
        self.columns = columns
        self.categories = categories

    def predict(self, features: pd.DataFrame, held: np.ndarray) -> np.ndarray:
        """Probabilities per row of ``features`` and product (nan where ``held``)."""
        out = np.full((len(features), len(self.products)), np.nan, dtype=np.float32)
        if len(features) == 0:
            return out
        x = matrix(align(features, self.columns, self.categories))
        for j, product in enumerate(self.products):
            estimator = self.estimators.get(product)
            out[:, j] = estimator.predict_proba(x)[:, 1] if estimator is not None else self.base_rates[product]
        out[held] = np.nan
        return out


def _stratified(y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    if len(y) <= size:
        return np.arange(len(y))
    idx = [rng.choice(np.flatnonzero(y == c), size=max(1, int(round(size * (y == c).mean()))), replace=False)
           for c in (0, 1) if (y == c).any()]
    return np.sort(np.concatenate(idx))


def train(data: ProjectionData, now: datetime, horizon_days: int = HORIZON_DAYS, max_rows: int = MAX_ROWS,
          seed: int = 0) -> tuple[PropensityModel, ModelCard]:
    """Train one propensity model per product on ``data`` as of ``now``.

    Raises ``InvalidInput`` when no customer had an open account at the snapshot.
    """
    from sklearn.model_selection import train_test_split

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    snapshot = now - timedelta(days=horizon_days)
    catalogue = data.products
    products = [p for p, life in zip(catalogue.index, catalogue.get("lifecycle", pd.Series(index=catalogue.index)))
                if life != "RETIRED"]
    allowed = trainable(data, now)  # PROFILING refused or erased: not trained on (cdp.privacy.consent)
    left_out = int((data.base() & ~allowed).sum())
    base = np.flatnonzero(allowed)
    if len(base) > 2 * max_rows:
        base = np.sort(rng.choice(base, size=2 * max_rows, replace=False))
    frame = F.compute(data, snapshot, base)
    active = frame["accounts_open"].to_numpy() > 0
    rows = base[active]
    if len(rows) == 0:
        raise InvalidInput(f"cannot train propensity: no customer had an open account on {snapshot:%Y-%m-%d}")
    x_all = model_frame(frame.loc[rows])
    categories = {c: list(x_all[c].cat.categories) for c in x_all.columns
                  if isinstance(x_all[c].dtype, pd.CategoricalDtype)}
    x_matrix = matrix(x_all)
    held = holdings(data, rows, snapshot, products)
    took = _started(data, rows, snapshot, now, products)
    estimators: dict[str, Any] = {}
    base_rates: dict[str, float] = {}
    cards: list[ProductModel] = []
    for j, product in enumerate(products):
        candidates = np.flatnonzero(~held[:, j])
        y = took[candidates, j].astype(int)
        positives = int(y.sum())
        rate = float(y.mean()) if len(y) else 0.0
        base_rates[product] = rate
        if positives < MIN_POSITIVES or len(y) - positives < MIN_POSITIVES:
            cards.append(ProductModel(product, len(y), positives, round(rate, 5), False))
            continue
        pick = candidates[_stratified(y, max_rows, rng)]
        y = took[pick, j].astype(int)
        tr, te = train_test_split(np.arange(len(pick)), test_size=HELD_OUT, stratify=y, random_state=seed)
        x = x_matrix[pick]
        estimator = gradient_boosting(max_iter=150, learning_rate=0.1, random_state=seed, categorical_features=None)
        estimator.fit(x[tr], y[tr])
        m = metrics(y[te], estimator.predict_proba(x[te])[:, 1])
        estimators[product] = estimator
        cards.append(ProductModel(product, len(pick), int(y.sum()), round(rate, 5), True, m.roc_auc, m.pr_auc,
                                  m.brier))
    model = PropensityModel(products, estimators, base_rates, list(x_all.columns), categories)
    trained = [c for c in cards if c.trained]
    aucs = [c.roc_auc for c in trained if c.roc_auc is not None]
    card = ModelCard(
        name="propensity", kind="one HistGradientBoostingClassifier per product (base rate below "
                                 f"{MIN_POSITIVES} takers)",
        trained_at=now, rows=len(rows), positives=int(took.sum()), seconds=round(time.perf_counter() - started, 2),
        products=cards, features=list(x_all.columns),
        parameters={"snapshot": snapshot.isoformat(timespec="seconds"), "horizon_days": horizon_days,
                    "left_out_no_profiling_consent": left_out,
                    "products_with_model": len(trained), "products_base_rate_only": len(cards) - len(trained),
                    "mean_roc_auc": round(float(np.mean(aucs)), 4) if aucs else None},
    )
    return model, card
