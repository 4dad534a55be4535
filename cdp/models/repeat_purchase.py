"""Lifetime value of transactional customers: BG/NBD repeat purchases x Gamma-Gamma spend.

Prepaid and retail customers never close an account, so the subscription-margin model
(``cdp.models.lifetime_value``: margin x churn-derived retention) cannot value them. Their value
is the purchases they will still make. Per customer, from their purchase history as of a
time ``at`` (``summary``):

* ``frequency``: repeat purchases (purchase days after the first, one per day),
* ``recency``: days from the first to the last purchase,
* ``T``: days from the first purchase to ``at``,
* ``monetary_value``: the mean amount of the repeat purchases.

``RepeatPurchaseValue`` is a scikit-learn-style estimator over those four columns:

* **BG/NBD** (Fader, Hardie and Lee 2005): while alive, a customer buys at a Poisson rate
  drawn from Gamma(r, alpha); after each purchase they drop out with a probability drawn
  from Beta(a, b). ``expected_purchases(X, days)`` is the conditional expectation of
  purchases in the next ``days``.
* **Gamma-Gamma** (Fader, Hardie and Lee 2005b): spend per purchase is Gamma(p, nu) with
  nu drawn from Gamma(q, v), independent of frequency. ``expected_spend(X)`` is the
  conditional mean spend per purchase.
* ``predict(X)`` = expected purchases over ``horizon_days`` x expected spend, discounted
  at ``annual_discount_rate`` (by the horizon's midpoint).

Both are fitted by maximum likelihood (``scipy.optimize.minimize``, L-BFGS-B on log
parameters). Implemented here rather than by depending on ``lifetimes`` (unmaintained)
or ``pymc-marketing`` (heavy). ``fit`` raises ``InvalidInput`` with too few customers.

``transactional(data, at)`` says which customers this model values (an open account, none
postpaid or business); ``train(data, now, ...)`` fits it on them and writes its card
(``cdp.models.scoring`` serves it as ``Customer.lifetimeValue`` for them, docs/models.md).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1
from sklearn.base import BaseEstimator, RegressorMixin

from cdp.models.churn import open_accounts, open_subscription_accounts
from cdp.privacy.consent import trainable
from cdp.errors import InvalidInput
from cdp.models.model_card import ModelCard

#: Money events counted as purchases by default.
PURCHASE_KINDS = ("PURCHASE", "TOP_UP")
#: Fewest customers (with at least one repeat purchase for Gamma-Gamma) needed to fit.
MIN_CUSTOMERS = 30
COLUMNS = ("frequency", "recency", "T", "monetary_value")


def summary(data, at: datetime, kinds: tuple[str, ...] = PURCHASE_KINDS,
            since: datetime | None = None, rows: np.ndarray | None = None) -> pd.DataFrame:
    """Frequency, recency, T and monetary value (``COLUMNS``, days) of every customer row of
    ``data`` (a ``ProjectionData``; only ``rows`` when given) with a purchase of ``kinds`` in
    ``[since, at)``; indexed by row."""
    e = data.fact("events")
    stamp = np.asarray(e["at"], dtype="datetime64[us]")
    keep = np.isin(e["kind"].astype(object).to_numpy(), kinds) & ~np.isnat(stamp) \
        & (stamp < np.datetime64(at.replace(tzinfo=None), "us"))
    if since is not None:
        keep &= stamp >= np.datetime64(since.replace(tzinfo=None), "us")
    if rows is not None:
        keep &= np.isin(e["row"].to_numpy(), rows)
    frame = pd.DataFrame({"row": e["row"].to_numpy()[keep],
                          "day": stamp[keep].astype("datetime64[D]"),
                          "amount": e["amount"].fillna(0).to_numpy(dtype=float)[keep]})
    return summary_of(frame, np.datetime64(at.replace(tzinfo=None), "D"))


def summary_of(frame: pd.DataFrame, at: np.datetime64) -> pd.DataFrame:
    """``COLUMNS`` from a frame of purchases (``row``, ``day`` as datetime64[D], ``amount``):
    one purchase per customer and day (amounts of a day summed), the first is not a repeat."""
    daily = frame.groupby(["row", "day"], sort=True)["amount"].sum().reset_index()
    first = daily.groupby("row")["day"].transform("min")
    repeat = daily[daily["day"] > first]
    g = daily.groupby("row")
    out = pd.DataFrame({"first": g["day"].min(), "last": g["day"].max()})
    out["frequency"] = repeat.groupby("row").size().reindex(out.index).fillna(0).astype(float)
    out["recency"] = (out["last"] - out["first"]).dt.days.astype(float)
    out["T"] = ((at - out["first"].to_numpy()).astype("timedelta64[D]").astype(float))
    out["monetary_value"] = repeat.groupby("row")["amount"].mean().reindex(out.index).fillna(0.0)
    return out[list(COLUMNS)]


def _bgnbd_ll(params: np.ndarray, x: np.ndarray, tx: np.ndarray, t: np.ndarray) -> float:
    r, alpha, a, b = np.exp(params)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + t)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + tx), -np.inf)
    return -float(np.sum(a1 + a2 + np.logaddexp(a3, a4)))


def _gamma_gamma_ll(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> float:
    p, q, v = np.exp(params)
    ll = (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v) + (p * x - 1) * np.log(m)
          + p * x * np.log(x) - (p * x + q) * np.log(x * m + v))
    return -float(np.sum(ll))


class RepeatPurchaseValue(RegressorMixin, BaseEstimator):
    """BG/NBD + Gamma-Gamma value of transactional customers over ``horizon_days``.

    ``fit(X)`` takes a frame with ``COLUMNS`` (``summary``); ``predict(X)`` returns the
    expected discounted revenue per row. Fitted parameters: ``bgnbd_`` (r, alpha, a, b)
    and ``gamma_gamma_`` (p, q, v).
    """

    def __init__(self, horizon_days: int = 365, annual_discount_rate: float = 0.08) -> None:
        self.horizon_days = horizon_days
        self.annual_discount_rate = annual_discount_rate

    def fit(self, X: pd.DataFrame, y: np.ndarray | None = None) -> RepeatPurchaseValue:
        """Fit both models by maximum likelihood; ``InvalidInput`` with fewer than
        ``MIN_CUSTOMERS`` customers or repeat buyers."""
        x, tx, t, m = (np.asarray(X[c], dtype=float) for c in COLUMNS)
        if len(x) < MIN_CUSTOMERS or int((x > 0).sum()) < MIN_CUSTOMERS:
            raise InvalidInput(f"cannot fit repeat purchases: need at least {MIN_CUSTOMERS} customers with a "
                               f"repeat purchase; have {int((x > 0).sum())} of {len(x)}")
        scale = max(float(np.median(t)), 1.0)  # days rescaled for a well-conditioned optimisation
        fit = minimize(_bgnbd_ll, np.zeros(4), args=(x, tx / scale, t / scale), method="L-BFGS-B",
                       bounds=[(-8, 8)] * 4)
        r, alpha, a, b = np.exp(fit.x)
        self.bgnbd_ = (float(r), float(alpha * scale), float(a), float(b))
        repeat = (x > 0) & (m > 0)
        gg = minimize(_gamma_gamma_ll, np.zeros(3), args=(x[repeat], m[repeat]), method="L-BFGS-B",
                      bounds=[(-8, 8), (-8, 8), (-8, 12)])
        self.gamma_gamma_ = tuple(float(v) for v in np.exp(gg.x))
        self.mean_spend_ = float(np.mean(m[repeat]))
        return self

    def expected_purchases(self, X: pd.DataFrame, days: float | None = None) -> np.ndarray:
        """Expected purchases of each row in the next ``days`` (default ``horizon_days``)."""
        r, alpha, a, b = self.bgnbd_
        x, tx, t = (np.asarray(X[c], dtype=float) for c in COLUMNS[:3])
        d = float(self.horizon_days if days is None else days)
        z = d / (alpha + t + d)
        head = (a + b + x - 1) / (a - 1)
        body = 1 - ((alpha + t) / (alpha + t + d)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
        alive = 1 + (x > 0) * (a / np.maximum(b + x - 1, 1e-12)) * ((alpha + t) / (alpha + tx)) ** (r + x)
        return np.maximum(head * body / alive, 0.0)

    def expected_spend(self, X: pd.DataFrame) -> np.ndarray:
        """Conditional mean spend per purchase of each row (the population mean without repeats)."""
        p, q, v = self.gamma_gamma_
        x = np.asarray(X["frequency"], dtype=float)
        m = np.asarray(X["monetary_value"], dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            own = p * (v + x * m) / (p * x + q - 1)
        population = p * v / (q - 1) if q > 1 else self.mean_spend_
        return np.where(x > 0, own, population)

    def probability_alive(self, X: pd.DataFrame) -> np.ndarray:
        """Probability that each row has not dropped out (BG/NBD): 1 without repeat purchases."""
        r, alpha, a, b = self.bgnbd_
        x, tx, t = (np.asarray(X[c], dtype=float) for c in COLUMNS[:3])
        odds = (x > 0) * (a / np.maximum(b + x - 1, 1e-12)) * ((alpha + t) / (alpha + tx)) ** (r + x)
        return 1.0 / (1.0 + odds)

    def discount(self) -> float:
        """The factor of the horizon's revenue for discounting at ``annual_discount_rate`` (by its midpoint)."""
        return float((1 + self.annual_discount_rate) ** (-(self.horizon_days / 2) / 365.25))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Expected discounted revenue of each row over ``horizon_days``."""
        return self.expected_purchases(X) * self.expected_spend(X) * self.discount()


# --------------------------------------------------------------------------- who, training, card


def transactional(data, at: datetime) -> np.ndarray:
    """Per customer row of ``data``: True when the customer's value is transactional at ``at``:
    an open account, none of them postpaid or business (prepaid, pay-as-you-go, retail).
    These customers never close an account and have no recurring margin."""
    return (open_accounts(data, at) > 0) & (open_subscription_accounts(data, at) == 0)


#: Longest held-out period of the card's out-of-time evaluation (days).
HOLDOUT_DAYS = 180


def train(data, now: datetime, horizon_days: int = 730, annual_discount_rate: float = 0.08,
          kinds: tuple[str, ...] = PURCHASE_KINDS):
    """Fit ``RepeatPurchaseValue`` on the transactional customers of ``data`` (``transactional``,
    trainable: in the base, profiling not refused) from their purchases before ``now``; returns
    ``(model, card)``.

    The card's out-of-time check: the model is fitted on the purchases before ``now - h``
    (``h`` = ``HOLDOUT_DAYS``, at most a third of the purchase history) of the customers
    transactional then and forecasts their revenue in ``[now - h, now)``; its MAE per customer
    is recorded beside the baseline "the calibration pace carries on" (repeat purchases per
    day x mean spend). The served model is then refitted on everything before ``now``.

    Raises ``InvalidInput`` with fewer than ``MIN_CUSTOMERS`` repeat buyers.
    """
    import time


    started = time.perf_counter()
    now = now.replace(tzinfo=None)
    who = np.flatnonzero(trainable(data, now) & transactional(data, now))
    x = summary(data, now, kinds, rows=who)
    model = RepeatPurchaseValue(horizon_days=horizon_days, annual_discount_rate=annual_discount_rate).fit(x)
    r, alpha, a, b = model.bgnbd_
    p, q, v = model.gamma_gamma_
    params: dict = {"purchase_kinds": ",".join(kinds), "horizon_days": horizon_days,
                    "annual_discount_rate": annual_discount_rate,
                    "bgnbd_r": round(r, 4), "bgnbd_alpha": round(alpha, 4), "bgnbd_a": round(a, 4),
                    "bgnbd_b": round(b, 4), "gamma_gamma_p": round(p, 4), "gamma_gamma_q": round(q, 4),
                    "gamma_gamma_v": round(v, 4)}
    notes = ["customers with an open account, none of them postpaid or business, are valued by this "
             "model; the others by lifetime_value (docs/models.md)"]
    params.update(_holdout(data, now, kinds, notes))
    card = ModelCard(name="repeat_purchase",
                     kind="BG/NBD repeat purchases x Gamma-Gamma spend: expected discounted revenue over a horizon",
                     trained_at=now, rows=int(len(x)), positives=int((x["frequency"] > 0).sum()),
                     seconds=round(time.perf_counter() - started, 2), features=list(COLUMNS),
                     parameters=params, notes=notes)
    return model, card


def _holdout(data, now: datetime, kinds: tuple[str, ...], notes: list[str]) -> dict:
    """The card's out-of-time figures (``train``); a note instead when the history is too short."""
    from datetime import timedelta


    e = data.fact("events")
    stamp = np.asarray(e["at"], dtype="datetime64[us]")
    bought = np.isin(e["kind"].astype(object).to_numpy(), kinds) & ~np.isnat(stamp) \
        & (stamp < np.datetime64(now, "us"))
    if not bought.any():
        return {}
    span = (np.datetime64(now, "us") - stamp[bought].min()).astype("timedelta64[D]").astype(int)
    days = int(min(HOLDOUT_DAYS, span // 3))
    cut = now - timedelta(days=days)
    who = np.flatnonzero(transactional(data, cut) & trainable(data, now))
    calibration = summary(data, cut, kinds, rows=who)
    try:
        held = RepeatPurchaseValue(horizon_days=days, annual_discount_rate=0.0).fit(calibration)
    except InvalidInput as error:
        notes.append(f"no out-of-time evaluation: {error}")
        return {}
    rows = calibration.index.to_numpy()
    later = bought & (stamp >= np.datetime64(cut, "us")) & np.isin(e["row"].to_numpy(), rows)
    actual = pd.Series(e["amount"].fillna(0).to_numpy(dtype=float)[later],
                       index=e["row"].to_numpy()[later]).groupby(level=0).sum().reindex(rows).fillna(0.0).to_numpy()
    forecast = held.predict(calibration)
    m = calibration["monetary_value"].to_numpy()
    pace = calibration["frequency"].to_numpy() / np.maximum(calibration["T"].to_numpy(), 1.0) * days \
        * np.where(m > 0, m, float(m[m > 0].mean()) if (m > 0).any() else 0.0)
    notes.append(f"out-of-time: fitted on purchases before {cut:%Y-%m-%d}, revenue of its {len(rows):,} "
                 f"customers forecast for the {days} days after")
    return {"evaluation": f"out-of-time, {days} days", "holdout_days": days, "holdout_customers": int(len(rows)),
            "holdout_revenue": round(float(actual.sum()), 2), "holdout_forecast": round(float(forecast.sum()), 2),
            "holdout_mae": round(float(np.mean(np.abs(forecast - actual))), 4),
            "holdout_mae_pace_baseline": round(float(np.mean(np.abs(pace - actual))), 4)}
