"""What every predictive model shares: its card, its metrics, its drivers and reasons.

* ``ModelCard``: what a trained model is (name, when, on how many rows, held-out
  ROC AUC / PR AUC / Brier score, the same for a logistic-regression baseline,
  top drivers, notes). Saved as JSON next to the model (``cdp.models.scoring``).
* ``metrics(y, p)``: the three figures of a card on one held-out split.
* ``baseline_pipeline(frame)``: the logistic-regression baseline (imputer,
  scaler, one-hot) every classifier is compared with in the same run.
* ``model_frame(frame)``: a feature frame in the shape the estimators take
  (categoricals kept as pandas categoricals; ``HistGradientBoosting`` reads them
  with ``categorical_features="from_dtype"``).
* ``drivers(...)``: permutation importance on a held-out sample, in words.
* ``Typical`` and ``reasons(...)``: per-customer reasons: each feature in turn
  replaced by the base's typical value (median or most frequent) and the
  change of the score that causes.

Raises ``ModelNotTrained`` (code ``MODEL_NOT_TRAINED``) for a model that has
not been trained yet.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from cdp.formats.display_format import iso, number
from cdp.errors import InvalidInput
from cdp.projection.features import categorical_columns, describe

#: Categorical columns with more categories than this are left out (HistGradientBoosting's limit is 255).
MAX_CATEGORIES = 250


class ModelNotTrained(InvalidInput):
    """A score or card of a model that has not been trained yet (``cdp train`` / ``trainModel``)."""

    code = "MODEL_NOT_TRAINED"


@dataclass(frozen=True)
class Metrics:
    """Held-out quality of a classifier."""

    roc_auc: float | None
    pr_auc: float | None
    brier: float | None


@dataclass(frozen=True)
class Driver:
    """One top driver of a model: how much shuffling the feature costs (ROC AUC points)."""

    feature: str
    description: str
    importance: float


@dataclass(frozen=True)
class ProductModel:
    """The propensity model of one product, as its card lists it."""

    product: str
    rows: int
    positives: int
    base_rate: float
    trained: bool  # False: too few positives, the score is the base rate
    roc_auc: float | None = None
    pr_auc: float | None = None
    brier: float | None = None


@dataclass
class ModelCard:
    """The card of one trained model (JSON-serialisable)."""

    name: str
    kind: str
    trained_at: datetime
    rows: int
    positives: int | None = None
    held_out_rows: int | None = None
    seconds: float | None = None
    metrics: Metrics | None = None
    baseline: Metrics | None = None
    drivers: list[Driver] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    excluded_features: list[str] = field(default_factory=list)
    products: list[ProductModel] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Signal the imports' mappings lost (``cdp.ingest.column_signal.stored_findings``) when it was trained.
    import_findings: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """The card as JSON text."""
        data = asdict(self)
        data["trained_at"] = self.trained_at.isoformat()
        return json.dumps(data, indent=2, default=_plain)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        """A card read back from ``to_json`` text; ValueError/KeyError when malformed."""
        data = json.loads(text)
        data["trained_at"] = datetime.fromisoformat(data["trained_at"])
        for key in ("metrics", "baseline"):
            if data.get(key) is not None:
                data[key] = Metrics(**data[key])
        data["drivers"] = [Driver(**d) for d in data.get("drivers", [])]
        data["products"] = [ProductModel(**p) for p in data.get("products", [])]
        return cls(**data)

    def summary(self) -> str:
        """A few readable lines (the CLI prints them)."""
        lines = [f"model {self.name} ({self.kind}), trained {iso(self.trained_at)} "
                 f"on {self.rows:,} rows" + (f" ({self.positives:,} positive)" if self.positives is not None else "")
                 + (f" in {self.seconds:.1f} s" if self.seconds is not None else "")]
        if self.metrics is not None:
            lines.append(f"  held out ({self.held_out_rows:,} rows): {_fmt(self.metrics)}")
        if self.baseline is not None:
            lines.append(f"  logistic baseline:        {_fmt(self.baseline)}")
        for p in self.products:
            lines.append(f"  {p.product:<16} positives {p.positives:>7,}  base rate {p.base_rate:.3f}  "
                         + (_fmt(Metrics(p.roc_auc, p.pr_auc, p.brier)) if p.trained else "base rate only"))
        if self.drivers:
            lines.append("  top drivers: " + "; ".join(f"{d.description} ({d.importance:+.3f})" for d in self.drivers))
        for key, value in self.parameters.items():
            lines.append(f"  {key}: {number(value)}")
        lines.extend(f"  note: {n}" for n in self.notes)
        lines.extend(f"  import: {f}" for f in self.import_findings)
        return "\n".join(lines)


def _fmt(m: Metrics) -> str:
    def f(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.4f}"
    return f"ROC AUC {f(m.roc_auc)}  PR AUC {f(m.pr_auc)}  Brier {f(m.brier)}"


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def metrics(y: np.ndarray, p: np.ndarray) -> Metrics:
    """ROC AUC, PR AUC (average precision) and Brier score of probabilities ``p`` for labels ``y``.

    AUCs are None when ``y`` holds one class only.
    """
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    if len(np.unique(y)) < 2:
        return Metrics(None, None, float(brier_score_loss(y, p, labels=[0, 1])) if len(y) else None)
    return Metrics(round(float(roc_auc_score(y, p)), 4), round(float(average_precision_score(y, p)), 4),
                   round(float(brier_score_loss(y, p)), 4))


# --------------------------------------------------------------------------- frames and estimators


def model_frame(frame: pd.DataFrame, columns: list[str] | None = None, drop_constant: bool = True) -> pd.DataFrame:
    """``frame`` as the estimators take it: ``columns`` (default: all usable), numbers as float,
    categoricals with at most ``MAX_CATEGORIES`` categories kept categorical; columns with a
    single value (or none) are left out when ``drop_constant``."""
    if columns is None:
        categorical = set(categorical_columns(frame))
        columns = [c for c in frame.columns
                   if c not in categorical or len(frame[c].cat.categories) <= MAX_CATEGORIES]
    out = {}
    for c in columns:
        column = frame[c] if c in frame else pd.Series(np.nan, index=frame.index)
        if drop_constant and (column.nunique(dropna=True) <= 1 or column.notna().sum() < 10):
            continue  # nothing to learn (and HistGradientBoosting cannot bin an all-missing column)
        if isinstance(column.dtype, pd.CategoricalDtype):
            out[c] = column
        else:
            out[c] = pd.to_numeric(column, errors="coerce").astype(float)
    return pd.DataFrame(out, index=frame.index)


def align(frame: pd.DataFrame, columns: list[str], categories: dict[str, list]) -> pd.DataFrame:
    """``frame`` with exactly the training ``columns`` and each categorical's training ``categories``
    (unseen values become missing), so a fitted estimator can score it."""
    out = {}
    for c in columns:
        if c in categories:
            values = frame[c].astype(object) if c in frame else pd.Series(None, index=frame.index, dtype=object)
            out[c] = pd.Categorical(values, categories=categories[c])
        elif c in frame and not isinstance(frame[c].dtype, pd.CategoricalDtype):
            out[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
        else:
            out[c] = np.full(len(frame), np.nan)
    return pd.DataFrame(out, index=frame.index)


def gradient_boosting(**overrides: Any):
    """The gradient-boosted trees every classifier of cdp is built on."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    params = dict(categorical_features="from_dtype", learning_rate=0.06, max_iter=400, max_leaf_nodes=31,
                  min_samples_leaf=20, l2_regularization=1.0, early_stopping=True, validation_fraction=0.15,
                  n_iter_no_change=20, random_state=0)
    params.update(overrides)
    return HistGradientBoostingClassifier(**params)


class _AsText:
    """Categoricals as text with a missing marker (what ``OneHotEncoder`` takes)."""

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.astype(object).where(frame.notna(), "(missing)").astype(str)


def _signed_log(a: np.ndarray) -> np.ndarray:
    """``sign(a) * log(1 + |a|)``: tenure, spend and counts on a scale where a linear model
    can bend (the tenth month matters more than the hundredth)."""
    return np.sign(a) * np.log1p(np.abs(a))


def baseline_pipeline(frame: pd.DataFrame, log_numbers: bool = False):
    """The logistic-regression baseline for ``frame``'s columns: median imputation and
    scaling of numbers, one-hot encoding of categoricals. ``log_numbers`` adds each
    number's signed logarithm (``_signed_log``, scaled) beside it: the churn model's
    linear candidate (cdp.models.churn), not the card's baseline."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    categorical = categorical_columns(frame)
    numeric = [c for c in frame.columns if c not in categorical]
    steps = [("numbers", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                                       StandardScaler()), numeric)]
    if log_numbers and numeric:
        steps.append(("logs", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                                            FunctionTransformer(_signed_log), StandardScaler()), numeric))
    if categorical:
        steps.append(("categories", make_pipeline(FunctionTransformer(_AsText()),
                                                  OneHotEncoder(handle_unknown="ignore", min_frequency=5)),
                      categorical))
    return Pipeline([("prepare", ColumnTransformer(steps)), ("logistic", LogisticRegression(max_iter=2000))])


# --------------------------------------------------------------------------- drivers and reasons


def drivers(estimator: Any, x: pd.DataFrame, y: np.ndarray, top: int = 8, seed: int = 0) -> list[Driver]:
    """The ``top`` features whose shuffling lowers held-out ROC AUC most (permutation importance)."""
    from sklearn.inspection import permutation_importance

    if len(np.unique(y)) < 2:
        return []
    result = permutation_importance(estimator, x, y, scoring="roc_auc", n_repeats=3, random_state=seed, n_jobs=1)
    order = np.argsort(-result.importances_mean)[:top]
    return [Driver(x.columns[i], describe(x.columns[i]), round(float(result.importances_mean[i]), 4))
            for i in order if result.importances_mean[i] > 0]


@dataclass(frozen=True)
class Reason:
    """Why one customer's score is what it is: the feature, the customer's value, and by how
    much the score would change if the feature had the base's typical value (``effect`` > 0:
    this feature raises the score)."""

    feature: str
    description: str
    value: str
    effect: float


def typical_values(frame: pd.DataFrame) -> dict[str, Any]:
    """The base's typical value of each column: the median of numbers, the most frequent category."""
    out: dict[str, Any] = {}
    for c in frame.columns:
        column = frame[c]
        if isinstance(column.dtype, pd.CategoricalDtype):
            counts = column.value_counts()
            out[c] = counts.index[0] if len(counts) and counts.iloc[0] > 0 else None
        else:
            median = column.median()
            out[c] = None if pd.isna(median) else float(median)
    return out


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "unknown"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return str(value)


def reasons(predict: Any, row: pd.DataFrame, typical: dict[str, Any], top: int = 5) -> list[Reason]:
    """The ``top`` reasons of one customer's score.

    ``predict`` maps a frame to scores; ``row`` is the customer's one-row model
    frame. One batch of one perturbed copy per feature: the copy has that
    feature set to its typical value. Reasons are the features whose value moves
    the score most (largest absolute effect), effect = own score - perturbed score.
    """
    columns = [c for c in row.columns if c in typical]
    own = row.iloc[0]
    changed = [c for c in columns if not _same(own[c], typical[c])]
    if not changed:
        return []
    batch = pd.concat([row] * (len(changed) + 1), ignore_index=True)
    for i, c in enumerate(changed, start=1):
        value = typical[c]
        if isinstance(batch[c].dtype, pd.CategoricalDtype):
            batch.loc[i, c] = value if value in batch[c].cat.categories else np.nan
        else:
            batch.loc[i, c] = np.nan if value is None else value
    scores = np.asarray(predict(batch), dtype=float)
    effects = scores[0] - scores[1:]
    order = np.argsort(-np.abs(effects))[:top]
    return [Reason(changed[i], describe(changed[i]), _text(own[changed[i]]), round(float(effects[i]), 4))
            for i in order if abs(effects[i]) >= 0.0005]


def reasons_of_rows(predict: Any, frame: pd.DataFrame, typical: dict[str, Any], top: int = 5) -> list[list[Reason]]:
    """``reasons`` of each row of ``frame`` (a model frame), in order, with one batch of
    predictions for them all: each row, then one copy of the frame per feature with that
    feature set to its typical value. Gives what ``reasons`` gives row by row (predictions
    are per row; the reasons are ranked by the same code)."""
    n = len(frame)
    if n == 0:
        return []
    columns = [c for c in frame.columns if c in typical]
    copies = [frame]
    for c in columns:
        copy = frame.copy()
        value = typical[c]
        if isinstance(copy[c].dtype, pd.CategoricalDtype):
            categories = copy[c].cat.categories
            copy[c] = pd.Categorical([value if value in categories else np.nan] * n, categories=categories)
        else:
            copy[c] = np.nan if value is None else value
        copies.append(copy)
    scores = np.asarray(predict(pd.concat(copies, ignore_index=True)), dtype=float).reshape(len(copies), n)
    out: list[list[Reason]] = []
    for i in range(n):
        own = frame.iloc[i]
        changed = [j for j, c in enumerate(columns) if not _same(own[c], typical[c])]
        if not changed:
            out.append([])
            continue
        effects = scores[0, i] - scores[[j + 1 for j in changed], i]
        order = np.argsort(-np.abs(effects))[:top]
        out.append([Reason(columns[changed[k]], describe(columns[changed[k]]), _text(own[columns[changed[k]]]),
                           round(float(effects[k]), 4)) for k in order if abs(effects[k]) >= 0.0005])
    return out

def _same(a: Any, b: Any) -> bool:
    if a is None or (isinstance(a, float) and np.isnan(a)):
        return b is None or (isinstance(b, float) and np.isnan(b))
    if isinstance(a, int | float | np.floating) and isinstance(b, int | float | np.floating):
        return bool(np.isclose(float(a), float(b)))
    return a == b
