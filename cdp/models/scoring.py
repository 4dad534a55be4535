"""The model registry: trains, keeps, persists and applies the predictive models.

``ModelRegistry(projection, features, settings)`` knows three models (docs/models.md):

* ``churn``: calibrated churn probability with per-customer reasons (``cdp.models.churn``);
* ``lifetime_value``: expected discounted margin over a horizon (``cdp.models.lifetime_value``);
* ``repeat_purchase``: expected discounted revenue of transactional customers (prepaid,
  retail: no postpaid or business account), BG/NBD x Gamma-Gamma (``cdp.models.repeat_purchase``).
  ``Customer.lifetimeValue`` serves it for those customers and ``lifetime_value`` for the
  others (``value_model`` says which);
* ``propensity``: per-product probability of taking it (``cdp.models.propensity``).

``train(name)`` trains one (or ``"all"``) on the current projection and saves
the model (joblib) and its card (JSON) under ``settings.models_path``; a new
registry loads them, so a restart keeps the models. Scores of every customer
are computed once after training (or loading) and kept current: the registry
follows the projection (``Projection.listeners``) and rescores only the rows a
write changed or added, so a customer imported after training is scored on
their first read. ``customer_scores(id)`` is then a lookup.

A customer is scored when they are in the base (not merged away) and hold an
open account; others get no score (nan / None). Asking for the scores or card
of a model not trained yet raises ``ModelNotTrained`` (``MODEL_NOT_TRAINED``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cdp.models.churn_drivers import ChurnDrivers, summarise
from cdp.models.churn_drivers import check as check_drivers
from cdp.privacy.consent import unprofiled
from cdp.formats.display_format import iso
from cdp.errors import InvalidInput
from cdp.projection import features as F
from cdp.models.model_card import ModelCard, ModelNotTrained, Reason
from cdp.projection.tables import Projection, ProjectionData
from cdp.settings import Settings
from graph.clock import naive_utc, utc_now

log = logging.getLogger(__name__)

#: Models the registry trains, in training order (lifetime value needs churn).
NAMES = ("churn", "lifetime_value", "repeat_purchase", "propensity")
#: What serves a customer's lifetime value: the subscription-margin model or the repeat-purchase model.
VALUE_MODELS = ("lifetime_value", "repeat_purchase")


@dataclass
class CustomerScores:
    """The scores of one customer (None: not scored, or that model is not trained)."""

    churn_probability: float | None
    lifetime_value: float | None
    monthly_margin: float | None
    monthly_retention: float | None
    horizon_months: int | None
    propensities: list[tuple[str, float, bool]] = field(default_factory=list)  # (product, p, model-based)
    value_model: str | None = None  # "lifetime_value" (subscription margin) or "repeat_purchase"
    expected_purchases: float | None = None  # repeat_purchase: purchases expected over the horizon
    expected_spend: float | None = None  # repeat_purchase: spend per purchase
    probability_alive: float | None = None  # repeat_purchase: chance the customer still buys


#: Past times whose scores of everyone are kept (``scores_as_of``).
PAST_TIMES = 4

#: Score groups, each kept current on its own: churn risk, margin and lifetime value
#: (cheap, computed for everyone first) and the product propensities (a matrix of
#: customers x products, computed on first use).
GROUPS = ("risk", "propensity")


@dataclass
class _Scores:
    """Scores of one group for every projected row, and what they were computed from."""

    version: int
    size: int
    as_of: Any
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


class ModelRegistry:
    """Trained models of one store, their cards and the scores of every customer.

    ``projection``: the live projection (models train and score on its snapshots; the
    registry follows its refreshes); ``features``: the feature frame kept current with it;
    ``settings``: where models are kept and how they train; ``import_findings``: what the
    store's imports lost (``cdp.ingest.column_signal.stored_findings``), written on every card
    trained (none when not given). The app wires them (``cdp.analytics.analytics``)."""

    def __init__(self, projection: Projection, features: F.FeatureFrame, settings: Settings,
                 import_findings: Callable[[], list[str]] | None = None) -> None:
        self.projection = projection
        self._import_findings = import_findings or list
        self.features = features
        self.path = Path(settings.models_path)
        self.settings = settings
        self._models: dict[str, Any] = {}
        self._cards: dict[str, ModelCard] = {}
        self._lock = threading.RLock()
        self._train_lock = threading.Lock()
        self._data_lock = threading.Lock()
        self._scores: dict[str, _Scores | None] = dict.fromkeys(GROUPS)
        self._dirty: dict[str, set[int]] = {g: set() for g in GROUPS}
        self._rebuilt: dict[str, bool] = dict.fromkeys(GROUPS, False)
        self._past: dict[tuple[Any, int], dict[str, np.ndarray]] = {}  # scores as of a past time
        self._load()
        projection.listeners.append(self._on_refresh)

    # ------------------------------------------------------------ training and cards

    @staticmethod
    def check_name(name: str) -> None:
        """Raise ``InvalidInput`` (field ``name``) unless ``name`` is one of ``NAMES`` or ``"all"``."""
        if name != "all" and name not in NAMES:
            raise InvalidInput(f"unknown model {name!r}; expected one of {', '.join(NAMES)} or all", field="name")

    @staticmethod
    def check_as_of(as_of: datetime | None) -> datetime:
        """The training time for ``as_of`` (default: now; naive UTC or aware), as naive UTC.
        Raises ``InvalidInput`` (field ``asOf``) for a future time."""
        now = utc_now() if as_of is None else naive_utc(as_of)
        if now > utc_now():
            raise InvalidInput(f"asOf {iso(now, 'auto')} is in the future; models train on the past",
                               field="asOf")
        return now

    def train(self, name: str, as_of: datetime | None = None,
              progress: Callable[[float], None] | None = None) -> list[ModelCard]:
        """Train model ``name`` (one of ``NAMES``, or ``"all"``) as of ``as_of`` (default: now;
        naive UTC or aware) and save it; returns the new card(s). Training as of a past time
        reads only what was known then (``cdp.models.churn``: cutoffs and labels end at ``as_of``).

        ``lifetime_value`` trains churn first when churn is not trained. With ``"all"``,
        ``repeat_purchase`` is left out (logged) when the store has too few repeat buyers: a
        store of subscriptions only is normal. ``progress`` is
        told the fraction of the models trained after each one (``cdp.limits.jobs``).
        Raises ``InvalidInput`` for an unknown name, a future ``as_of`` or data that cannot
        train the model.
        """
        self.check_name(name)
        names = list(NAMES) if name == "all" else [name]
        now = self.check_as_of(as_of)
        with self._train_lock:
            data = self._data()
            if "lifetime_value" in names and "churn" not in self._models and "churn" not in names:
                names.insert(names.index("lifetime_value"), "churn")
            cards = []
            for done, n in enumerate(names, 1):
                try:
                    cards.append(self._train_one(n, data, now))
                except InvalidInput as error:
                    if name != "all" or n != "repeat_purchase" or isinstance(error, ModelNotTrained):
                        raise
                    log.info("repeat_purchase not trained: %s", error)
                if progress is not None:
                    progress(done / len(names))
            return cards

    def _train_one(self, name: str, data: ProjectionData, now: Any) -> ModelCard:
        # deferred: the models load scikit-learn and SciPy (seconds); a registry that only serves
        # stored scores, or none, does not need them until it trains
        from cdp.models import churn
        from cdp.models import propensity
        from cdp.models import repeat_purchase
        from cdp.models.lifetime_value import LifetimeValueModel

        model: churn.ChurnModel | propensity.PropensityModel | repeat_purchase.RepeatPurchaseValue | LifetimeValueModel
        if name == "churn":
            st = self.settings
            model, card = churn.train(data, now, horizon_days=st.churn_horizon_days,
                                      step_days=st.churn_cutoff_step_days, count=st.churn_cutoffs,
                                      inactivity_days=st.prepaid_inactivity_days)
        elif name == "propensity":
            model, card = propensity.train(data, now)
        elif name == "repeat_purchase":
            model, card = repeat_purchase.train(data, now, horizon_days=self.settings.repeat_purchase_horizon_days,
                                                annual_discount_rate=self.settings.ltv_discount_rate)
        else:
            card_churn = self._cards.get("churn")
            if card_churn is None:
                raise ModelNotTrained("lifetime_value needs the churn model: train churn first", field="name")
            window = float(card_churn.parameters.get("label_window_months", 12.0))
            model = LifetimeValueModel(window_months=window,
                                       annual_discount_rate=self.settings.ltv_discount_rate).fit()
            card = ModelCard(name="lifetime_value", kind="expected discounted margin over a horizon "
                                                         "(churn probability as a monthly retention rate)",
                             trained_at=now, rows=0,
                             parameters={"horizon_months": model.horizon_months,
                                         "annual_discount_rate": model.annual_discount_rate,
                                         "churn_window_months": window,
                                         "churn_model_trained_at": iso(card_churn.trained_at, "auto")})
        # What the imports' mappings lost (constant, collapsed, unused columns), seen at training time.
        card.import_findings = self._import_findings()
        self._save(name, model, card)
        with self._lock:
            self._models[name] = model
            self._cards[name] = card
            self._scores["propensity" if name == "propensity" else "risk"] = None  # rescore with the new model
            self._past.clear()
        if name in VALUE_MODELS:
            card = self._describe_values(card)
        log.info("trained %s: %s", name, card.summary().splitlines()[0])
        return card

    def _describe_values(self, card: ModelCard) -> ModelCard:
        """Add the distribution of the lifetime values ``card``'s model serves to the card (scores
        everyone once); the repeat-purchase card keeps its training rows and adds ``valued_customers``."""
        arrays = self._current("risk").arrays
        value, which = arrays.get("value"), arrays.get("value_model")
        chosen = which == (VALUE_MODELS.index(card.name) + 1) if which is not None else None
        values = value[chosen & ~np.isnan(value)] if value is not None and chosen is not None else np.zeros(0)
        if card.name == "lifetime_value":
            card.rows = int(len(values))
        else:
            card.parameters["valued_customers"] = int(len(values))
        if len(values):
            card.parameters.update(mean_value=round(float(values.mean()), 2),
                                   median_value=round(float(np.median(values)), 2),
                                   total_value=round(float(values.sum()), 2))
        self._save_card(card)
        return card

    def cards(self) -> list[ModelCard]:
        """Cards of the trained models, in ``NAMES`` order."""
        with self._lock:
            return [self._cards[n] for n in NAMES if n in self._cards]

    def require_value(self) -> None:
        """Raise ``ModelNotTrained`` unless a lifetime value model (``VALUE_MODELS``) is trained."""
        with self._lock:
            if not any(n in self._cards for n in VALUE_MODELS):
                raise ModelNotTrained("lifetime value is not trained: run `cdp train lifetime_value` "
                                      "(subscriptions) or `cdp train repeat_purchase` (transactional customers)")

    def card(self, name: str) -> ModelCard:
        """The card of model ``name``; ``ModelNotTrained`` when it is not trained."""
        with self._lock:
            if name not in self._cards:
                if name not in NAMES:
                    raise InvalidInput(f"unknown model {name!r}", field="name")
                raise ModelNotTrained(f"model {name} is not trained; run `cdp train {name}` or trainModel")
            return self._cards[name]

    # ------------------------------------------------------------ persistence

    def _save(self, name: str, model: Any, card: ModelCard) -> None:
        import joblib

        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / f"{name}.joblib"
        tmp = target.with_suffix(".joblib.tmp")
        joblib.dump(model, tmp)
        os.replace(tmp, target)
        self._save_card(card)

    def _save_card(self, card: ModelCard) -> None:
        target = self.path / f"{card.name}.json"
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(card.to_json())
        os.replace(tmp, target)

    def _load(self) -> None:
        import joblib

        for name in NAMES:
            model_file, card_file = self.path / f"{name}.joblib", self.path / f"{name}.json"
            if not (model_file.exists() and card_file.exists()):
                continue
            try:
                self._models[name] = joblib.load(model_file)
                self._cards[name] = ModelCard.from_json(card_file.read_text())
            except Exception:  # a model saved by another version: retrain it
                log.exception("cannot load model %s from %s; retrain it", name, model_file)
                self._models.pop(name, None)
                self._cards.pop(name, None)

    # ------------------------------------------------------------ scores

    def _data(self) -> ProjectionData:
        """The current snapshot. Serialised: while one thread applies a write, another
        calling ``Projection.data()`` may get the snapshot before that write (its fast
        path sees no pending changes once the refresh took them)."""
        with self._data_lock:
            return self.projection.data()

    def _on_refresh(self, snapshot: ProjectionData, rows: np.ndarray | None) -> None:
        with self._lock:
            for group in GROUPS:
                if rows is None:
                    self._rebuilt[group] = True
                else:
                    self._dirty[group].update(int(r) for r in rows)

    def _current(self, group: str) -> _Scores:
        """Scores of ``group`` for every row of the current snapshot, rescoring only what changed."""
        data = self._data()
        frame = self.features.current(data)
        as_of = self.features.as_of
        with self._lock:
            scores = self._scores[group]
            if scores is not None and scores.version == data.version and scores.as_of == as_of:
                return scores
            if scores is None or self._rebuilt[group] or scores.as_of != as_of or scores.size > data.size:
                rows = np.arange(data.size, dtype=np.int64)
                scores = _Scores(data.version, data.size, as_of, self._score(group, data, frame, rows, as_of))
            else:
                grown = range(scores.size, data.size)
                rows = np.array(sorted(self._dirty[group].union(grown)), dtype=np.int64)
                rows = rows[rows < data.size]
                fresh = self._score(group, data, frame, rows, as_of)
                arrays = {k: _grown(v, data.size) for k, v in scores.arrays.items()}
                for k, v in fresh.items():
                    if k in arrays:
                        arrays[k][rows] = v
                scores = _Scores(data.version, data.size, as_of, arrays)
            self._dirty[group].clear()
            self._rebuilt[group] = False
            self._scores[group] = scores
            return scores

    def _score(self, group: str, data: ProjectionData, frame: pd.DataFrame, rows: np.ndarray,
               at: datetime | None = None) -> dict:
        """Arrays of ``group`` for ``rows``: ``churn``, ``margin``, ``value`` and ``value_model``
        (1: subscription margin, 2: repeat purchases), and the repeat-purchase parts
        ``purchases``, ``spend``, ``alive`` (risk); or ``propensity`` (rows x products). Models
        not trained are left out. ``frame`` describes the customers at one time ``at`` (now,
        or a past time for ``scores_as_of``)."""
        from cdp.models.propensity import holdings

        x = frame.iloc[rows] if len(rows) != len(frame) else frame
        # A customer who refused PROFILING (now), or was erased, is not scored (cdp.privacy.consent, docs/privacy.md).
        scorable = data.base()[rows] & (x["accounts_open"].to_numpy() > 0) & ~unprofiled(data, utc_now())[rows]
        out: dict[str, np.ndarray] = {}
        if group == "risk":
            margin = np.where(scorable, x["monthly_margin"].to_numpy(dtype=float), np.nan)
            out["margin"] = margin
            if "churn" in self._models:
                churn = np.full(len(rows), np.nan)
                if scorable.any():
                    churn[scorable] = self._models["churn"].predict(x[scorable])
                out["churn"] = churn
            out.update(self._values(data, x, rows, scorable, out.get("churn"), margin, at))
        elif "propensity" in self._models:
            model = self._models["propensity"]
            propensity = np.full((len(rows), len(model.products)), np.nan, dtype=np.float32)
            if scorable.any():
                held = holdings(data, rows[scorable], utc_now(), model.products)
                propensity[scorable] = model.predict(x[scorable], held)
            out["propensity"] = propensity
        return out

    def _values(self, data: ProjectionData, x: pd.DataFrame, rows: np.ndarray, scorable: np.ndarray,
                churn: np.ndarray | None, margin: np.ndarray, at: datetime | None) -> dict:
        """Lifetime values of ``rows`` (``_score``): transactional customers (an open account,
        none postpaid or business) by the repeat-purchase model when it is trained, everyone
        else (and they too when it is not) by the subscription-margin model."""
        from cdp.models.repeat_purchase import PURCHASE_KINDS, summary

        out: dict[str, np.ndarray] = {}
        value = np.full(len(rows), np.nan)
        which = np.full(len(rows), np.nan)
        if "lifetime_value" in self._models and churn is not None:
            sub = self._models["lifetime_value"].predict(pd.DataFrame({"churn_probability": churn,
                                                                       "monthly_margin": margin}))
            known = ~np.isnan(churn)
            value[known], which[known] = sub[known], 1.0
        model = self._models.get("repeat_purchase")
        if model is not None:
            subscribed = (x["has_postpaid"].to_numpy() > 0) | (x["has_business_account"].to_numpy() > 0)
            transactional = scorable & ~subscribed
            value[transactional], which[transactional] = np.nan, np.nan
            purchases, spend, alive = (np.full(len(rows), np.nan) for _ in range(3))
            if transactional.any():
                when = at if at is not None else utc_now()
                history = summary(data, when, PURCHASE_KINDS, rows=rows[transactional])
                # No purchase yet (a prepaid line never topped up): valued as a customer who has
                # made none since joining (x = 0, T = tenure), at the population's mean spend.
                none = transactional & ~np.isin(rows, history.index.to_numpy())
                if none.any():
                    tenure = np.nan_to_num(x["tenure_months"].to_numpy(dtype=float)[none]) * 30.44
                    history = pd.concat([history, pd.DataFrame(
                        {"frequency": 0.0, "recency": 0.0, "T": tenure, "monetary_value": 0.0}, index=rows[none])])
                position = pd.Series(np.arange(len(rows)), index=rows)
                at_rows = position.reindex(history.index).to_numpy()
                purchases[at_rows] = model.expected_purchases(history)
                spend[at_rows] = model.expected_spend(history)
                alive[at_rows] = model.probability_alive(history)
                value[at_rows] = purchases[at_rows] * spend[at_rows] * model.discount()
                which[at_rows] = 2.0
            out.update(purchases=purchases, spend=spend, alive=alive)
        if model is not None or "lifetime_value" in self._models:
            out.update(value=value, value_model=which)
        return out

    def score_everyone(self, propensity: bool = False) -> int:
        """Score every customer from scratch: churn risk and lifetime value, and with
        ``propensity`` also every product's propensity. Returns how many customers were scored."""
        with self._lock:
            self._scores["risk"] = None
            if propensity:
                self._scores["propensity"] = None
        churn = self._current("risk").arrays.get("churn")
        if propensity:
            self._current("propensity")
        return 0 if churn is None else int((~np.isnan(churn)).sum())

    def score_column(self, name: str, data: ProjectionData | None = None) -> np.ndarray:
        """Scores of every row of ``data`` (default: the current snapshot) for ``name``:
        ``churn_risk``, ``lifetime_value`` or ``propensity:<product id>``; nan = not scored.

        Raises ``InvalidInput`` for an unknown name, ``ModelNotTrained`` for an untrained model.
        """
        model = {"churn_risk": "churn", "lifetime_value": "value"}.get(name)
        product = name.split(":", 1)[1] if name.startswith("propensity:") else None
        if model is None and product is None:
            raise InvalidInput(f"unknown score {name!r}; expected churn_risk, lifetime_value or "
                               "propensity:<product id>", field="score")
        model = model or "propensity"
        if model == "value":
            self.require_value()
        else:
            self.card(model)  # raises when not trained
        if model == "propensity":
            products = self._models["propensity"].products
            if product not in products:
                raise InvalidInput(f"no propensity model for product {product!r}", field="score")
            scores = self._current("propensity")
            column = scores.arrays["propensity"][:, products.index(product)].astype(float)
        else:
            scores = self._current("risk")
            column = scores.arrays["churn" if model == "churn" else "value"]
        out = np.full(data.size if data is not None else scores.size, np.nan)
        n = min(len(out), len(column))
        out[:n] = column[:n]
        return out

    def propensity_rows(self, rows: np.ndarray, data: ProjectionData | None = None) -> tuple[list[str], np.ndarray]:
        """Propensities of customer ``rows`` of ``data`` (default: the current snapshot):
        ``(product ids, len(rows) x products float64)``, nan = not scored. Reads just those
        rows (``score_column`` copies a whole column per product).

        Raises ``ModelNotTrained`` when the propensity models are not trained.
        """
        self.card("propensity")  # raises when not trained
        products = list(self._models["propensity"].products)
        matrix = self._current("propensity").arrays["propensity"]
        rows = np.asarray(rows, dtype=np.int64)
        out = np.full((len(rows), len(products)), np.nan)
        inside = rows < len(matrix)
        out[inside] = matrix[rows[inside]]
        return products, out

    def customer_scores(self, customer_id: str, propensity: bool = True) -> CustomerScores | None:
        """The scores of one customer (None when the customer is not projected); product
        propensities only with ``propensity``. A lookup once everyone is scored."""
        data = self._data()
        row = data.row_of(customer_id)
        if row is None:
            return None
        with self._lock:
            model = self._models.get("propensity")
        risk = self._current("risk").arrays

        def at(name: str) -> float | None:
            column = risk.get(name)
            if column is None or row >= len(column) or np.isnan(column[row]):
                return None
            return float(column[row])

        churn = at("churn")
        props: list[tuple[str, float, bool]] = []
        if propensity and model is not None:
            matrix = self._current("propensity").arrays.get("propensity")
            if matrix is not None and row < len(matrix):
                props = sorted(((p, float(v), p in model.estimators) for p, v in zip(model.products, matrix[row])
                                if not np.isnan(v)), key=lambda item: -item[1])
        return self._with_value(CustomerScores(
            churn_probability=churn, lifetime_value=None, monthly_margin=at("margin"), monthly_retention=None,
            horizon_months=None, propensities=props), at)

    def scores_as_of(self, customer_id: str, at: datetime) -> CustomerScores | None:
        """One customer's churn risk and lifetime value as they were at ``at`` (naive UTC or
        aware): features from facts before ``at`` only, scored by the current models; no
        propensities. None when the customer is not projected. Everyone is scored at ``at``
        once and kept for later calls at the same time (a few times are kept).

        Raises ``InvalidInput`` when ``at`` is in the future.
        """
        at = naive_utc(at)
        if at > utc_now():
            raise InvalidInput(f"asOf {iso(at, 'auto')} is in the future", field="asOf")
        data = self._data()
        row = data.row_of(customer_id)
        if row is None:
            return None
        with self._lock:
            arrays = self._past.get((at, data.version))
        if arrays is None:
            frame = F.compute(data, at)
            arrays = self._score("risk", data, frame, np.arange(data.size, dtype=np.int64), at)
            with self._lock:
                while len(self._past) >= PAST_TIMES:
                    self._past.pop(next(iter(self._past)))
                self._past[(at, data.version)] = arrays

        def value(name: str) -> float | None:
            column = arrays.get(name)
            return None if column is None or np.isnan(column[row]) else float(column[row])

        return self._with_value(CustomerScores(churn_probability=value("churn"), lifetime_value=None,
                                               monthly_margin=value("margin"), monthly_retention=None,
                                               horizon_months=None), value)

    def _with_value(self, scores: CustomerScores, value: Callable[[str], float | None]) -> CustomerScores:
        """``scores`` with the lifetime value of the model that values the customer (``_values``);
        ``value(name)`` reads the customer's entry of a score array (None: not scored)."""
        which = value("value_model")
        if which is None or value("value") is None:
            return scores
        with self._lock:
            name = VALUE_MODELS[int(which) - 1]
            model = self._models.get(name)
        if model is None:
            return scores
        scores.lifetime_value, scores.value_model = value("value"), name
        if name == "lifetime_value":
            churn = scores.churn_probability
            scores.monthly_retention = None if churn is None else float(model.monthly_retention(np.array([churn]))[0])
            scores.horizon_months = model.horizon_months
        else:
            scores.horizon_months = int(round(model.horizon_days / 30.4375))
            scores.expected_purchases, scores.expected_spend = value("purchases"), value("spend")
            scores.probability_alive = value("alive")
        return scores

    def churn_reasons(self, customer_id: str, top: int = 5, at: datetime | None = None) -> list[Reason]:
        """Why one customer's churn probability is what it is (computed on demand), as of
        now or as of ``at``."""
        self.card("churn")
        data = self._data()
        row = data.row_of(customer_id)
        if row is None:
            return []
        if at is not None:
            frame = F.compute(data, naive_utc(at), np.array([row]))
            with self._lock:
                model = self._models["churn"]
            return model.reasons(frame, top)
        frame = self.features.current(data)
        with self._lock:
            model = self._models["churn"]
        return model.reasons(frame.iloc[[row]], top)

    def churn_drivers(self, threshold: float = 0.5, customers: int = 200, top: int = 3) -> ChurnDrivers:
        """What drives churn risk among the customers scored at or above ``threshold``
        (``cdp.models.churn_drivers``): the ``customers`` highest-risk of them are explained
        (``top`` reasons each, computed now on the current data) and their reasons counted.

        Raises ``InvalidInput`` for an argument out of range (``churn_drivers.check``),
        ``ModelNotTrained`` when the churn model is not trained.
        """
        check_drivers(threshold, customers, top)
        self.card("churn")
        data = self._data()
        risk = self.score_column("churn_risk", data)
        scored = ~np.isnan(risk)
        at_risk = np.flatnonzero(scored & (risk >= threshold))
        # Highest risk first; ties by row, so the same data explains the same customers.
        chosen = at_risk[np.lexsort((at_risk, -risk[at_risk]))][:customers]
        frame = self.features.current(data)
        with self._lock:
            model = self._models["churn"]
        explained, drivers = summarise(model.reasons_of_rows(frame.iloc[chosen], top))
        return ChurnDrivers(threshold=threshold, scored=int(scored.sum()), at_risk=len(at_risk),
                            explained=explained, top=top, drivers=drivers)


def _grown(column: np.ndarray, size: int) -> np.ndarray:
    """A copy of ``column`` grown to ``size`` rows (new rows nan)."""
    if len(column) >= size:
        return column.copy()
    extra = np.full((size - len(column),) + column.shape[1:], np.nan, dtype=column.dtype)
    return np.concatenate([column, extra])
