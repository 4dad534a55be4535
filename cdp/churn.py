"""Churn risk: a calibrated probability that a customer closes every account.

Label (from the store's own history): a customer of the base with at least one
account is a **churner** when all their accounts are closed, a **stayer** when
at least one is open. Customers without accounts, and churners whose accounts
carry no closing date, are left out.

Leakage: a churner is described as of one day before their last account closed
(``cdp.features.compute`` with one time per row: only history before that time
counts, holdings and contracts are those active then). A stayer is described as
of a time drawn from the same distribution as the churners' cutoffs (or now,
when that time is before the stayer's first account opened): describing every
stayer as of *now* lets features that depend on when they are measured (days
since the last payment, windows of billing history a source keeps) tell the
classes apart for the wrong reason. Features that alone separate the classes
almost perfectly (single-feature ROC AUC >= ``LEAKAGE_AUC``) are treated as
leakage and left out; the card lists them.

Model: ``HistGradientBoostingClassifier`` (pandas categoricals used natively)
calibrated with isotonic regression (``CalibratedClassifierCV``: 3-fold
ensemble up to ``ENSEMBLE_ROWS`` training rows, above that one model calibrated
on a held-out fifth through ``FrozenEstimator``). The card's figures are on a
stratified held-out 20% the model never saw, next to a logistic-regression
baseline trained on the same rows in the same run. At most ``MAX_ROWS`` rows
(stratified sample) are used, so a million customers train in about half a
minute on two cores (docs/models.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from cdp import features as F
from cdp.consent import trainable
from cdp.errors import InvalidInput
from cdp.model_card import (
    ModelCard,
    Reason,
    align,
    baseline_pipeline,
    drivers,
    gradient_boosting,
    metrics,
    model_frame,
    reasons,
    typical_values,
)
from cdp.projection import ProjectionData

#: Rows (customers) a training run uses at most; a stratified sample above that.
MAX_ROWS = 300_000
#: Up to this many training rows the calibrated model is a 3-fold ensemble.
ENSEMBLE_ROWS = 60_000
#: Share of the labelled rows held out for the card's figures.
HELD_OUT = 0.2
#: A feature whose own ROC AUC reaches this is treated as leakage and left out.
LEAKAGE_AUC = 0.97
#: Rows the permutation importance of the card's drivers is computed on.
DRIVER_ROWS = 4000
#: Fewest churners and stayers needed to train.
MIN_CLASS = 20
#: Features never used: they describe the label itself rather than the customer before it.
EXCLUDED = ("accounts_open",)


@dataclass(frozen=True)
class Labels:
    """Labelled customers: ``rows``, ``y`` (1 = churned) and the time each is described at."""

    rows: np.ndarray
    y: np.ndarray
    at: np.ndarray  # datetime64[us]
    window_months: float
    unprofiled: int = 0  # base customers left out because they refused PROFILING or were erased


def labels(data: ProjectionData, now: datetime, seed: int = 0) -> Labels:
    """Churners and stayers of the base, with leakage-free description times (module docstring).

    ``window_months``: the period the churners' closures span (5th percentile to
    ``now``, 1..60 months): the horizon the churn probability refers to.
    """
    a = data.fact("accounts")
    rows = a["row"].to_numpy()
    closed_on = np.asarray(a["closed_on"], dtype="datetime64[us]")
    status = a["status"].astype(object).to_numpy()
    is_closed = ~np.isnat(closed_on) | (status == "CLOSED")
    n = data.size
    total = np.bincount(rows, minlength=n)
    closed = np.bincount(rows, weights=is_closed.astype(float), minlength=n)
    last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    dated = ~np.isnat(closed_on)
    np.maximum.at(last, rows[dated], closed_on[dated].astype(np.int64))
    first_open = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    opened = np.asarray(a["opened_on"], dtype="datetime64[us]")
    has_open = ~np.isnat(opened)
    np.minimum.at(first_open, rows[has_open], opened[has_open].astype(np.int64))
    base = trainable(data, now)  # PROFILING refused or erased: not trained on (cdp.consent)
    churner = base & (total > 0) & (closed == total) & (last > np.iinfo(np.int64).min)
    stayer = base & (total > 0) & (closed < total)
    now_us = np.datetime64(now, "us").astype(np.int64)
    day = F.DAY_US
    churn_rows = np.flatnonzero(churner)
    stay_rows = np.flatnonzero(stayer)
    cutoffs = np.minimum(last[churn_rows] - day, now_us)
    rng = np.random.default_rng(seed)
    if len(cutoffs):
        drawn = rng.choice(cutoffs, size=len(stay_rows))
        stay_at = np.where(drawn > first_open[stay_rows], drawn, now_us)
        window = (now_us - np.percentile(cutoffs, 5)) / day / 30.44
    else:
        stay_at = np.full(len(stay_rows), now_us)
        window = 12.0
    order = np.concatenate([churn_rows, stay_rows])
    y = np.concatenate([np.ones(len(churn_rows), dtype=int), np.zeros(len(stay_rows), dtype=int)])
    at = np.concatenate([cutoffs, stay_at]).astype("datetime64[us]")
    sort = np.argsort(order)
    left_out = int((data.base() & ~base).sum())
    return Labels(order[sort], y[sort], at[sort], float(np.clip(window, 1, 60)), left_out)


def _stratified(y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of a stratified sample of ``size`` of ``y`` (all when smaller)."""
    if len(y) <= size:
        return np.arange(len(y))
    picked = []
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        take = max(1, int(round(size * len(idx) / len(y))))
        picked.append(rng.choice(idx, size=min(take, len(idx)), replace=False))
    return np.sort(np.concatenate(picked))


def leaky_features(x: pd.DataFrame, y: np.ndarray, threshold: float = LEAKAGE_AUC) -> dict[str, float]:
    """Numeric features whose own ROC AUC (either direction) reaches ``threshold``."""
    from sklearn.metrics import roc_auc_score

    out = {}
    for c in x.columns:
        if isinstance(x[c].dtype, pd.CategoricalDtype):
            continue
        values = x[c].to_numpy(dtype=float)
        if np.all(np.isnan(values)) or np.nanstd(values) == 0:
            continue
        filled = np.where(np.isnan(values), np.nanmedian(values), values)
        auc = roc_auc_score(y, filled)
        auc = max(auc, 1 - auc)
        if auc >= threshold:
            out[c] = round(float(auc), 4)
    return out


class ChurnModel:
    """A trained churn model: the calibrated classifier and what scoring needs.

    ``predict(frame)`` takes a feature frame (``cdp.features``) and returns one
    probability per row; ``reasons(frame_row)`` explains one customer.
    """

    def __init__(self, estimator: Any, columns: list[str], categories: dict[str, list],
                 typical: dict[str, Any], window_months: float) -> None:
        self.estimator = estimator
        self.columns = columns
        self.categories = categories
        self.typical = typical
        self.window_months = window_months

    def frame(self, features: pd.DataFrame) -> pd.DataFrame:
        """``features`` shaped as the estimator was trained on."""
        return align(features, self.columns, self.categories)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Churn probability of each row of ``features``."""
        if len(features) == 0:
            return np.zeros(0)
        return self.estimator.predict_proba(self.frame(features))[:, 1]

    def reasons(self, features: pd.DataFrame, top: int = 5) -> list[Reason]:
        """Top reasons of the one customer in ``features`` (a one-row frame)."""
        x = self.frame(features)
        return reasons(lambda b: self.estimator.predict_proba(b)[:, 1], x, self.typical, top)


def fit_calibrated(x: pd.DataFrame, y: np.ndarray, seed: int = 0, **params: Any):  # type: ignore[no-untyped-def]
    """Gradient-boosted trees with isotonic calibration (see module docstring)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import train_test_split

    if len(x) <= ENSEMBLE_ROWS:
        model = CalibratedClassifierCV(gradient_boosting(random_state=seed, **params), method="isotonic", cv=3)
        return model.fit(x, y)
    fit_idx, cal_idx = train_test_split(np.arange(len(x)), test_size=0.2, stratify=y, random_state=seed)
    trees = gradient_boosting(random_state=seed, **params).fit(x.iloc[fit_idx], y[fit_idx])
    model = CalibratedClassifierCV(FrozenEstimator(trees), method="isotonic")
    return model.fit(x.iloc[cal_idx], y[cal_idx])


def train(data: ProjectionData, now: datetime, max_rows: int = MAX_ROWS, seed: int = 0) -> tuple[ChurnModel, ModelCard]:
    """Train the churn model on ``data`` as of ``now``; returns the model and its card.

    Raises ``InvalidInput`` when there are fewer than ``MIN_CLASS`` churners or stayers.
    """
    from sklearn.model_selection import train_test_split

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    lab = labels(data, now, seed)
    positives, negatives = int(lab.y.sum()), int((1 - lab.y).sum())
    if positives < MIN_CLASS or negatives < MIN_CLASS:
        raise InvalidInput(f"cannot train churn: need at least {MIN_CLASS} customers who closed every account "
                           f"and {MIN_CLASS} who kept one; the store has {positives} and {negatives}")
    pick = _stratified(lab.y, max_rows, rng)
    rows, y, at = lab.rows[pick], lab.y[pick], lab.at[pick]
    frame = F.compute(data, at, rows)
    x = model_frame(frame)
    leaky = leaky_features(x, y)
    excluded = [c for c in x.columns if c in EXCLUDED or c in leaky]
    x = x.drop(columns=excluded)
    train_idx, test_idx = train_test_split(np.arange(len(y)), test_size=HELD_OUT, stratify=y, random_state=seed)
    x_train, x_test, y_train, y_test = x.iloc[train_idx], x.iloc[test_idx], y[train_idx], y[test_idx]
    estimator = fit_calibrated(x_train, y_train, seed)
    held_out = metrics(y_test, estimator.predict_proba(x_test)[:, 1])
    baseline = baseline_pipeline(x_train).fit(x_train, y_train)
    base_metrics = metrics(y_test, baseline.predict_proba(x_test)[:, 1])
    sample = rng.choice(len(y_test), size=min(DRIVER_ROWS, len(y_test)), replace=False)
    top = drivers(estimator, x_test.iloc[sample], y_test[sample], seed=seed)
    categories = {c: list(x[c].cat.categories) for c in x.columns if isinstance(x[c].dtype, pd.CategoricalDtype)}
    model = ChurnModel(estimator, list(x.columns), categories, typical_values(x), lab.window_months)
    notes = [f"feature {c} left out: alone it separates the classes (ROC AUC {auc})" for c, auc in leaky.items()]
    if len(lab.y) > len(y):
        notes.append(f"trained on a stratified sample of {len(y):,} of {len(lab.y):,} labelled customers")
    card = ModelCard(
        name="churn", kind="calibrated gradient-boosted trees (HistGradientBoostingClassifier, isotonic)",
        trained_at=now, rows=len(y), positives=int(y.sum()), held_out_rows=len(y_test),
        seconds=round(time.perf_counter() - started, 2), metrics=held_out, baseline=base_metrics, drivers=top,
        features=list(x.columns), excluded_features=excluded,
        parameters={"label_window_months": round(lab.window_months, 1),
                    "churn_rate": round(float(y.mean()), 4),
                    "left_out_no_profiling_consent": lab.unprofiled,
                    "calibration": "3-fold isotonic ensemble" if len(y_train) <= ENSEMBLE_ROWS
                    else "isotonic on a held-out fifth"},
        notes=notes,
    )
    return model, card

