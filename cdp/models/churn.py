"""Churn risk: a calibrated probability that a customer closes every account
within a horizon after the time they are described at.

**Point-in-time examples.** Training examples are customers *as they were* at
several rolling cutoff dates ``c`` (``cutoffs``): every customer of the base
with an open account at ``c`` is one example, described by
``cdp.projection.features.compute(data, c)`` (only facts before ``c``: contacts, money,
holdings, contracts and tenure of that day), and labelled 1 when they are no
longer a customer at ``c + horizon`` (``snapshot``; per account kind, ``active``:
closed accounts, and prepaid-only customers without a top-up or other money-in
event for ``PREPAID_INACTIVITY_DAYS``). Nothing recorded
after the training time ``as_of`` is read: closures after ``as_of`` do not
count, and the latest cutoff is ``as_of - horizon``, so every label is fully
observed. Both classes are described at the same dates, so features that only
depend on *when* a customer is measured cannot tell them apart.

**Out-of-time evaluation.** The card's figures are on the latest cutoff; the
model they come from is trained only on cutoffs whose horizon ended before it
(``cutoff <= latest - horizon``), so no label of the evaluation period is seen.
When those earlier cutoffs hold too few churners (a one-off extract), the
card says so and falls back to a random 20% of customers (in-time). The
deployed model is then refit on every cutoff.

**Leakage checks.** A numeric feature whose ROC AUC alone reaches
``LEAKAGE_AUC`` is left out, and so is a time-derived feature (tenure, age,
days since ...) that a small gradient-boosted model on that feature alone
tells the classes apart with (adversarial validation, ``time_leakage``): that
catches date artefacts (e.g. every churner's tenure an exact number of months
minus one day) that a monotone check misses. Both are named on the card.

Model: ``HistGradientBoostingClassifier`` (pandas categoricals used natively)
calibrated with isotonic regression (``CalibratedClassifierCV``: 3-fold
ensemble up to ``ENSEMBLE_ROWS`` training rows, above that one model calibrated
on a held-out fifth through ``FrozenEstimator``), next to a logistic-regression
baseline trained on the same rows in the same run. The model served is the better
of the two by ROC AUC on the evaluation rows (ties: the trees); the card's
``served_model`` says which. At most ``MAX_ROWS`` examples (stratified sample) are used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from cdp.projection import features as F
from cdp.privacy.consent import trainable
from cdp.formats.display_format import iso
from cdp.errors import InvalidInput
from cdp.models.model_card import (
    ModelCard,
    Reason,
    align,
    baseline_pipeline,
    drivers,
    gradient_boosting,
    metrics,
    model_frame,
    reasons,
    reasons_of_rows,
    typical_values,
)
from cdp.projection.tables import ProjectionData

#: Examples a training run uses at most; a stratified sample above that.
MAX_ROWS = 300_000
#: Up to this many training rows the calibrated model is a 3-fold ensemble.
ENSEMBLE_ROWS = 60_000
#: Share of the customers held out when the evaluation cannot be out-of-time.
HELD_OUT = 0.2
#: Folds of the cross-validation, on the training part only, that chooses the served candidate.
CHOICE_FOLDS = 3
#: Most training rows that cross-validation reads (a stratified sample above).
CHOICE_ROWS = 60_000
#: The candidates served: the calibrated trees, a logistic regression on the numbers and their
#: signed logarithms (``baseline_pipeline(log_numbers=True)``), the mean of the two.
CANDIDATES = ("trees", "logistic", "mean")
#: A feature whose own ROC AUC reaches this is treated as leakage and left out.
LEAKAGE_AUC = 0.97
#: Rows the permutation importance of the card's drivers is computed on.
DRIVER_ROWS = 4000
#: Fewest churners and stayers needed to train.
MIN_CLASS = 20
#: Features never used: they describe the label itself rather than the customer before it.
EXCLUDED = ("accounts_open",)
#: Days after a cutoff within which closing every account counts as churn (``Settings.churn_horizon_days``).
HORIZON_DAYS = 90
#: Days between two rolling cutoffs (``Settings.churn_cutoff_step_days``).
CUTOFF_STEP_DAYS = 30
#: Rolling cutoffs the evaluated model is trained on (``Settings.churn_cutoffs``).
CUTOFFS = 6
#: A prepaid-only customer without a money-in event for this many days has churned
#: (``Settings.prepaid_inactivity_days``; ``active``).
PREPAID_INACTIVITY_DAYS = 90
#: Monetary events that show a prepaid customer is still active.
ACTIVITY_KINDS = ("TOP_UP", "PURCHASE", "PAYMENT", "INVOICE")
#: Features that depend on when a customer is measured: checked by ``time_leakage``.
TIME_FEATURES = ("tenure_months", "age_years", "days_since_contact", "days_since_payment",
                 "contract_months_left")
#: A time-derived feature a model on it alone separates this well, by a pattern ...
TIME_LEAKAGE_AUC = 0.9
#: ... that beats the feature's own order by this much, is a date artefact (``time_leakage``).
TIME_PATTERN_GAIN = 0.1
#: Rows the adversarial time check is fitted on at most.
TIME_CHECK_ROWS = 20_000


@dataclass(frozen=True)
class Examples:
    """Point-in-time training examples: customer ``rows`` (a row may repeat, once per
    cutoff), label ``y`` (1 = closed every account within the horizon), the cutoff
    each is described at (``at``, datetime64[us]) and its index ``k`` (0 = the latest)."""

    rows: np.ndarray
    y: np.ndarray
    at: np.ndarray
    k: np.ndarray
    cutoffs: list[datetime]
    horizon_days: int
    unprofiled: int = 0  # base customers left out because they refused PROFILING or were erased

    @property
    def window_months(self) -> float:
        """The horizon in months: the period the churn probability refers to."""
        return self.horizon_days / 30.44


def open_accounts(data: ProjectionData, at: datetime) -> np.ndarray:
    """Per customer row of ``data``: accounts open at ``at`` (opened on or before it, not
    closed by then). A CLOSED account without a closing date counts as closed at any time,
    as in ``cdp.projection.features``."""
    a = data.fact("accounts")
    t = np.datetime64(at.replace(tzinfo=None), "us")
    opened = np.asarray(a["opened_on"], dtype="datetime64[us]")
    closed = np.asarray(a["closed_on"], dtype="datetime64[us]")
    status = a["status"].astype(object).to_numpy()
    started = np.isnat(opened) | (opened <= t)
    ended = (~np.isnat(closed) & (closed <= t)) | (np.isnat(closed) & (status == "CLOSED"))
    return np.bincount(a["row"].to_numpy(), weights=(started & ~ended).astype(float), minlength=data.size)


def open_subscription_accounts(data: ProjectionData, at: datetime) -> np.ndarray:
    """Per customer row of ``data``: open accounts at ``at`` that are not prepaid (postpaid,
    business: the accounts a recurring margin and a closing date belong to)."""
    a = data.fact("accounts")
    t = np.datetime64(at.replace(tzinfo=None), "us")
    started = np.asarray(a["opened_on"], dtype="datetime64[us]")
    closed = np.asarray(a["closed_on"], dtype="datetime64[us]")
    status = a["status"].astype(object).to_numpy()
    open_ = (np.isnat(started) | (started <= t)) & ~((~np.isnat(closed) & (closed <= t))
                                                    | (np.isnat(closed) & (status == "CLOSED")))
    prepaid = (a["type"].astype(object).to_numpy() == "PREPAID")
    return np.bincount(a["row"].to_numpy(), weights=(open_ & ~prepaid).astype(float), minlength=data.size)


def active(data: ProjectionData, at: datetime, inactivity_days: int | None = PREPAID_INACTIVITY_DAYS) -> np.ndarray:
    """Per customer row of ``data``: True when the customer is still a customer at ``at``.

    Churn is defined per account kind: a postpaid or business account is gone when it is
    closed (or its contract ended and it was closed); a **prepaid** account is never closed
    by anyone, it lapses. So a customer whose open accounts at ``at`` are all prepaid counts
    as active only with a money-in event (top-up, purchase, payment or invoice) in the
    ``inactivity_days`` before ``at``. ``inactivity_days=None`` turns the prepaid rule off, and
    so does a store without any money events (activity cannot be observed there).
    """
    opened = open_accounts(data, at)
    e = data.fact("events")
    if inactivity_days is None or e.empty:  # no money events recorded at all: activity is not observable
        return opened > 0
    other = open_subscription_accounts(data, at)
    t = np.datetime64(at.replace(tzinfo=None), "us")
    stamp = np.asarray(e["at"], dtype="datetime64[us]")
    money_in = np.isin(e["kind"].astype(object).to_numpy(), ACTIVITY_KINDS)
    recent = money_in & ~np.isnat(stamp) & (stamp <= t) & (stamp > t - np.timedelta64(inactivity_days, "D"))
    activity = np.bincount(e["row"].to_numpy(), weights=recent.astype(float), minlength=data.size)
    return (opened > 0) & ((other > 0) | (activity > 0))


def snapshot(data: ProjectionData, cutoff: datetime, horizon_days: int, base: np.ndarray,
             inactivity_days: int | None = PREPAID_INACTIVITY_DAYS) -> tuple[np.ndarray, np.ndarray]:
    """Customers of ``base`` active at ``cutoff`` (``rows``, see ``active``) and whether they
    were no longer active ``horizon_days`` later (``y``)."""
    rows = np.flatnonzero(base & active(data, cutoff, inactivity_days))
    later = active(data, cutoff + timedelta(days=horizon_days), inactivity_days)
    return rows, (~later[rows]).astype(int)


def cutoffs(as_of: datetime, horizon_days: int = HORIZON_DAYS, step_days: int = CUTOFF_STEP_DAYS,
            count: int = CUTOFFS) -> list[datetime]:
    """The rolling cutoffs of a training run as of ``as_of``, latest first: the evaluation
    cutoff ``as_of - horizon``, every cutoff between it and the first training cutoff, then
    ``count`` training cutoffs ending at least a horizon before the evaluation cutoff."""
    latest = as_of - timedelta(days=horizon_days)
    gap = -(-horizon_days // step_days)  # ceil: the first cutoff whose horizon ends by ``latest``
    return [latest - timedelta(days=k * step_days) for k in range(gap + count)]


def examples(data: ProjectionData, as_of: datetime, horizon_days: int = HORIZON_DAYS,
             step_days: int = CUTOFF_STEP_DAYS, count: int = CUTOFFS,
             inactivity_days: int | None = PREPAID_INACTIVITY_DAYS) -> Examples:
    """The point-in-time examples of a training run as of ``as_of`` (module docstring)."""
    base = trainable(data, as_of)  # PROFILING refused or erased at training time: not trained on
    dates = cutoffs(as_of, horizon_days, step_days, count)
    parts = [(k, *snapshot(data, c, horizon_days, base, inactivity_days)) for k, c in enumerate(dates)]
    rows = np.concatenate([r for _, r, _ in parts]).astype(np.int64)
    y = np.concatenate([y for _, _, y in parts]).astype(int)
    k = np.concatenate([np.full(len(r), i) for i, r, _ in parts]).astype(int)
    at = np.array([np.datetime64(dates[i].replace(tzinfo=None), "us") for i in k], dtype="datetime64[us]")
    left_out = int((data.base() & ~base).sum())
    return Examples(rows, y, at, k, dates, horizon_days, left_out)


def labels(data: ProjectionData, now: datetime, seed: int = 0) -> Examples:
    """The examples of the latest cutoff only (kept for callers that want one labelled
    customer per row, e.g. the value analysis)."""
    ex = examples(data, now)
    keep = ex.k == 0
    return Examples(ex.rows[keep], ex.y[keep], ex.at[keep], ex.k[keep], ex.cutoffs[:1], ex.horizon_days,
                    ex.unprofiled)


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

    ``predict(frame)`` takes a feature frame (``cdp.projection.features``) and returns one
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

    def reasons_of_rows(self, features: pd.DataFrame, top: int = 5) -> list[list[Reason]]:
        """Top reasons of each customer of ``features`` (what ``reasons`` gives one by one),
        with one batch of predictions for them all."""
        x = self.frame(features)
        return reasons_of_rows(lambda b: self.estimator.predict_proba(b)[:, 1], x, self.typical, top)


def _refit(chosen: str, x: pd.DataFrame, y: np.ndarray, seed: int):
    """The candidate ``chosen`` by ``train`` (one of ``CANDIDATES``) fitted on every example."""
    if chosen == "logistic":
        return linear(x).fit(x, y)
    if chosen == "mean":
        return MeanProbability([fit_calibrated(x, y, seed), linear(x).fit(x, y)])
    return fit_calibrated(x, y, seed)


def linear(x: pd.DataFrame):
    """The linear candidate for ``x``'s columns: the card's logistic baseline with each
    number's signed logarithm beside it (unfitted)."""
    return baseline_pipeline(x, log_numbers=True)


class MeanProbability:
    """A classifier whose probability is the mean of its fitted classifiers' (``predict_proba``).

    What comes in: classifiers already fitted on the same columns, labels 0 and 1. Nothing
    is fitted here; ``predict_proba(x)`` is ``n x 2``."""

    _estimator_type = "classifier"

    def __init__(self, estimators: list[Any]) -> None:
        self.estimators = estimators
        self.classes_ = np.array([0, 1])

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags())

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> MeanProbability:
        """Already fitted: returns self (``permutation_importance`` and the like never refit)."""
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return np.mean([e.predict_proba(x) for e in self.estimators], axis=0)

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)


def choose_candidate(x: pd.DataFrame, y: np.ndarray, seed: int = 0,
                     groups: np.ndarray | None = None) -> tuple[str, dict[str, float]]:
    """Which of ``CANDIDATES`` to serve, by ``CHOICE_FOLDS``-fold cross-validated ROC AUC on
    ``x``, ``y`` (the training part only: the evaluation rows stay unseen), at most
    ``CHOICE_ROWS`` of them (stratified). ``groups`` (the customer of each row) keeps a
    customer's examples at several cutoffs in one fold, so no fold is scored on customers
    it was fitted on. Returns the name (ties: trees, then logistic) and each candidate's
    AUC over the out-of-fold probabilities."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    rng = np.random.default_rng(seed)
    pick = np.sort(_stratified(y, CHOICE_ROWS, rng))
    x, y = x.iloc[pick], y[pick]
    group = np.arange(len(y)) if groups is None else np.asarray(groups)[pick]
    out = {n: np.zeros(len(y)) for n in ("trees", "logistic")}
    folds = StratifiedGroupKFold(CHOICE_FOLDS, shuffle=True, random_state=seed)
    for fit, val in folds.split(np.zeros(len(y)), y, group):
        # A column with one value in this fold's training rows cannot be binned by the trees.
        columns = model_frame(x.iloc[fit]).columns
        out["trees"][val] = fit_calibrated(x.iloc[fit][columns], y[fit], seed).predict_proba(x.iloc[val][columns])[:, 1]
        out["logistic"][val] = linear(x[columns]).fit(x.iloc[fit][columns], y[fit]).predict_proba(
            x.iloc[val][columns])[:, 1]
    out["mean"] = (out["trees"] + out["logistic"]) / 2
    auc = {n: round(float(roc_auc_score(y, p)), 4) for n, p in out.items()}
    return max(CANDIDATES, key=lambda n: (auc[n], -CANDIDATES.index(n))), auc


def fit_calibrated(x: pd.DataFrame, y: np.ndarray, seed: int = 0, **params: Any):
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


def time_leakage(x: pd.DataFrame, y: np.ndarray, seed: int = 0,
                 max_rows: int = TIME_CHECK_ROWS) -> dict[str, float]:
    """Adversarial validation of the time-derived features (``TIME_FEATURES``) of ``x``:
    for each one alone, the 3-fold cross-validated ROC AUC of a small gradient-boosted
    model telling the classes ``y`` apart. Returns the features it flags, with that AUC:
    those reaching ``LEAKAGE_AUC``, and those reaching ``TIME_LEAKAGE_AUC`` while beating
    the feature's own (monotone) ROC AUC by ``TIME_PATTERN_GAIN`` or more.

    The second rule catches date artefacts a monotone check cannot see: one class sitting
    on a lattice of dates (every churner's tenure an exact number of months minus a day)
    is separable by a model that isolates the lattice, not by the feature's order.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    columns = [c for c in TIME_FEATURES if c in x.columns and not isinstance(x[c].dtype, pd.CategoricalDtype)]
    if not columns or min(int(y.sum()), int((1 - y).sum())) < 3:
        return {}
    pick = _stratified(y, max_rows, np.random.default_rng(seed))
    folds = StratifiedKFold(3, shuffle=True, random_state=seed)
    out = {}
    for c in columns:
        values = x[c].to_numpy(dtype=float)[pick]
        if np.all(np.isnan(values)) or np.nanstd(values) == 0:
            continue
        filled = np.where(np.isnan(values), np.nanmedian(values), values)
        order = roc_auc_score(y[pick], filled)
        order = max(order, 1 - order)
        model = HistGradientBoostingClassifier(max_iter=60, max_leaf_nodes=63, min_samples_leaf=5,
                                               early_stopping=False, random_state=seed)
        auc = float(np.mean(cross_val_score(model, values.reshape(-1, 1), y[pick], cv=folds, scoring="roc_auc")))
        auc = max(auc, 1 - auc)
        if auc >= LEAKAGE_AUC or (auc >= TIME_LEAKAGE_AUC and auc - order >= TIME_PATTERN_GAIN):
            out[c] = round(auc, 4)
    return out


def _frame(data: ProjectionData, ex: Examples, pick: np.ndarray) -> pd.DataFrame:
    """Features of examples ``pick``, each as of its own cutoff (one ``compute`` per cutoff:
    a customer may be an example at several cutoffs), in ``pick`` order."""
    parts = []
    for k in np.unique(ex.k[pick]):
        chosen = pick[ex.k[pick] == k]
        frame = F.compute(data, ex.cutoffs[int(k)], ex.rows[chosen])
        frame.index = pd.Index(chosen, name="example")
        parts.append(frame)
    frame = pd.concat(parts).reindex(pick)
    for c in frame.columns:  # a category seen at one cutoff only makes concat fall back to object
        if frame[c].dtype == object:
            frame[c] = frame[c].astype("category")
    return frame


def train(data: ProjectionData, now: datetime, max_rows: int = MAX_ROWS, seed: int = 0,
          horizon_days: int = HORIZON_DAYS, step_days: int = CUTOFF_STEP_DAYS,
          count: int = CUTOFFS, inactivity_days: int | None = PREPAID_INACTIVITY_DAYS) -> tuple[ChurnModel, ModelCard]:
    """Train the churn model on ``data`` as of ``now`` (facts after ``now`` are not read);
    returns the model and its card (module docstring).

    Raises ``InvalidInput`` when the cutoffs hold fewer than ``MIN_CLASS`` churners or stayers.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    ex = examples(data, now, horizon_days, step_days, count, inactivity_days)
    positives, negatives = int(ex.y.sum()), int((1 - ex.y).sum())
    if positives < MIN_CLASS or negatives < MIN_CLASS:
        raise InvalidInput(f"cannot train churn as of {now:%Y-%m-%d}: need at least {MIN_CLASS} customers who "
                           f"closed every account within {horizon_days} days of a cutoff and {MIN_CLASS} who "
                           f"kept one; the cutoffs {ex.cutoffs[-1]:%Y-%m-%d}..{ex.cutoffs[0]:%Y-%m-%d} hold "
                           f"{positives} and {negatives}")
    # A cutoff whose horizon holds no churner at all lies before the store's recorded history
    # of closures (a one-off extract): its "stayers" would only teach the model that date.
    churned = np.bincount(ex.k, weights=ex.y, minlength=len(ex.cutoffs))
    empty = [ex.cutoffs[i] for i in range(len(ex.cutoffs)) if churned[i] == 0]
    pick = _stratified(ex.y, max_rows, rng)
    sampled = len(pick) < len(ex.y)
    pick = pick[churned[ex.k[pick]] > 0]
    y, k, rows = ex.y[pick], ex.k[pick], ex.rows[pick]
    raw = _frame(data, ex, pick).reset_index(drop=True)
    x = model_frame(raw)
    # Name what cannot reach the model, so a mapping that lost a column's signal is seen
    # (issue 20: a contract type imported without end dates became a constant, silently).
    unused = [c for c in raw.columns if c not in x.columns and c not in EXCLUDED]
    gap = -(-horizon_days // step_days)
    test = k == 0
    train_ = k >= gap
    out_of_time = (min(int(y[train_].sum()), int((1 - y[train_]).sum())) >= MIN_CLASS
                   and min(int(y[test].sum()), int((1 - y[test]).sum())) >= 5)
    notes: list[str] = []
    if empty:
        notes.append(f"{len(empty)} of {len(ex.cutoffs)} cutoffs left out: no customer closed every account within "
                     f"{horizon_days} days of them (the store's history of closures does not reach back that far)")
    if out_of_time:
        evaluation = (f"out-of-time: trained on cutoffs {ex.cutoffs[-1]:%Y-%m-%d}..{ex.cutoffs[gap]:%Y-%m-%d}, "
                      f"evaluated on the cutoff {ex.cutoffs[0]:%Y-%m-%d}")
    else:
        # Too few churners before the evaluation period (a one-off extract): hold out a random
        # fifth of the customers instead, every cutoff of a customer on the same side.
        customers = np.unique(rows)
        held = rng.choice(customers, size=max(1, int(round(len(customers) * HELD_OUT))), replace=False)
        train_ = ~np.isin(rows, held)
        test = ~train_ & (k == k.min())  # evaluated on the latest cutoff used
        evaluation = (f"in-time: a random {HELD_OUT:.0%} of customers held out, scored at the cutoff "
                      f"{ex.cutoffs[int(k.min())]:%Y-%m-%d}, because the cutoffs before "
                      f"{ex.cutoffs[gap]:%Y-%m-%d} hold {int(y[k >= gap].sum())} churners (at least "
                      f"{MIN_CLASS} are needed for an out-of-time evaluation)")
        notes.append("evaluation is in-time, not out-of-time: the store's history holds too few earlier churners")
    # A column with nothing to learn in the training part (e.g. an attribute first seen after
    # the training cutoffs) cannot be binned by the trees: leave it out.
    x = x[model_frame(x[train_]).columns]
    leaky = leaky_features(x[train_], y[train_])
    timed = time_leakage(x[train_], y[train_], seed=seed)
    excluded = [c for c in x.columns if c in EXCLUDED or c in leaky or c in timed]
    x = x.drop(columns=excluded)
    x_train, x_test, y_train, y_test = x[train_], x[test], y[train_], y[test]
    trees = fit_calibrated(x_train, y_train, seed)
    baseline = baseline_pipeline(x_train).fit(x_train, y_train)
    base_metrics = metrics(y_test, baseline.predict_proba(x_test)[:, 1])
    # The served model is the best of the trees, the logistic regression and their mean by
    # ROC AUC cross-validated on the training part. On some data a linear model is as good
    # or better (the IBM telco set, docs/models.md); the evaluation rows stay out of the
    # choice, so the card's figures carry no selection bias.
    chosen, cross_validated = choose_candidate(x_train, y_train, seed, groups=rows[train_])
    linear_model = linear(x_train).fit(x_train, y_train)
    candidates = {"trees": trees, "logistic": linear_model, "mean": MeanProbability([trees, linear_model])}
    scored = {name: metrics(y_test, c.predict_proba(x_test)[:, 1]) for name, c in candidates.items()}
    held_out = scored[chosen]
    evaluated = candidates[chosen]
    sample = rng.choice(len(y_test), size=min(DRIVER_ROWS, len(y_test)), replace=False)
    top = drivers(evaluated, x_test.iloc[sample], y_test[sample], seed=seed)
    estimator = _refit(chosen, x, y, seed)  # deployed: every cutoff, the latest included
    if chosen != "trees":
        notes.append(f"served model: {chosen} (cross-validated ROC AUC on the training part: "
                     + ", ".join(f"{n} {a}" for n, a in cross_validated.items()) + ")")
    categories = {c: list(x[c].cat.categories) for c in x.columns if isinstance(x[c].dtype, pd.CategoricalDtype)}
    model = ChurnModel(estimator, list(x.columns), categories, typical_values(x), ex.window_months)
    notes += [f"feature {c} left out: alone it separates the classes (ROC AUC {auc})" for c, auc in leaky.items()]
    notes += [f"feature {c} left out: a model on it alone tells churners from stayers (cross-validated ROC AUC "
              f"{auc}); its dates are an artefact of how the data was recorded" for c, auc in timed.items()]
    unused_attributes = [c for c in unused if c.startswith("attr_")]
    if unused_attributes:
        notes.append("imported attributes not used (one value, or fewer than 10 known, at the cutoffs): "
                     + ", ".join(unused_attributes))
    if sampled:
        notes.append(f"trained on a stratified sample of {len(y):,} of {len(ex.y):,} examples")
    notes.append("custom attributes and profile columns are current values, not as of each cutoff")
    card = ModelCard(
        name="churn", kind={"trees": "calibrated gradient-boosted trees (HistGradientBoostingClassifier, isotonic)",
                            "logistic": "logistic regression on numbers and their logarithms (chosen over the "
                                        "trees by cross-validation)",
                            "mean": "mean of calibrated gradient-boosted trees and logistic regression "
                                    "(chosen by cross-validation)"}[chosen],
        trained_at=now, rows=len(y), positives=int(y.sum()), held_out_rows=int(test.sum()),
        seconds=round(time.perf_counter() - started, 2), metrics=held_out, baseline=base_metrics, drivers=top,
        features=list(x.columns), excluded_features=excluded,
        parameters={"evaluation": evaluation,
                    "out_of_time": out_of_time,
                    "as_of": iso(now, "auto"),  # the API's one time format
                    "horizon_days": horizon_days,
                    "prepaid_inactivity_days": inactivity_days,
                    "label_window_months": round(ex.window_months, 1),
                    "cutoffs": len(ex.cutoffs),
                    "first_cutoff": ex.cutoffs[-1].date().isoformat(),
                    "last_cutoff": ex.cutoffs[0].date().isoformat(),
                    "customers": int(len(np.unique(rows))),
                    "churn_rate": round(float(y.mean()), 4),
                    "held_out_churn_rate": round(float(y_test.mean()), 4) if len(y_test) else None,
                    "left_out_no_profiling_consent": ex.unprofiled,
                    "unused_features": ", ".join(unused) or "none",
                    "served_model": chosen,
                    "cross_validated_roc_auc": cross_validated,
                    "evaluation_roc_auc": {n: m.roc_auc for n, m in scored.items()},
                    "calibration": "3-fold isotonic ensemble" if len(y) <= ENSEMBLE_ROWS
                    else "isotonic on a held-out fifth"},
        notes=notes,
    )
    return model, card
