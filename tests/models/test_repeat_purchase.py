"""BG/NBD + Gamma-Gamma on purchases simulated from the model itself: the fitted
parameters come back, and holdout purchases and revenue are forecast in aggregate and
beat "the same as in calibration" per customer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdp.errors import InvalidInput
from cdp.models.repeat_purchase import RepeatPurchaseValue, summary_of

R, ALPHA, A, B = 0.5, 20.0, 0.6, 3.0          # per-day purchase rates ~ Gamma(r, alpha)
P, Q, V = 6.0, 4.0, 15.0                       # spend per purchase


def simulate(n: int = 3000, calibration: int = 365, holdout: int = 180, seed: int = 0) -> pd.DataFrame:
    """Purchases (row, day, amount) of ``n`` customers whose first purchase falls in the first
    half of the calibration period."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        rate, drop = rng.gamma(R, 1 / ALPHA), rng.beta(A, B)
        nu = rng.gamma(Q, 1 / V)
        day = float(rng.integers(0, calibration // 2))
        while day < calibration + holdout:
            out.append((i, int(day), rng.gamma(P, 1 / nu)))
            if rng.random() < drop:
                break
            day += rng.exponential(1 / rate)
    frame = pd.DataFrame(out, columns=["row", "day", "amount"])
    frame["day"] = np.datetime64("2025-01-01", "D") + frame["day"].to_numpy().astype("timedelta64[D]")
    return frame


def test_forecasts_holdout_purchases_and_revenue() -> None:
    purchases = simulate()
    cut = np.datetime64("2025-01-01", "D") + np.timedelta64(365, "D")
    calib = summary_of(purchases[purchases["day"] < cut], cut)
    later = purchases[(purchases["day"] >= cut)]
    actual_n = later.groupby("row").size().reindex(calib.index).fillna(0).to_numpy()
    actual_rev = later.groupby("row")["amount"].sum().reindex(calib.index).fillna(0).to_numpy()
    model = RepeatPurchaseValue(horizon_days=180, annual_discount_rate=0.0).fit(calib)
    r, alpha, a, b = model.bgnbd_
    assert r == pytest.approx(R, rel=0.3) and alpha == pytest.approx(ALPHA, rel=0.4)
    predicted_n = model.expected_purchases(calib)
    assert predicted_n.sum() == pytest.approx(actual_n.sum(), rel=0.1)
    predicted_rev = model.predict(calib)
    assert predicted_rev.sum() == pytest.approx(actual_rev.sum(), rel=0.15)
    # Per customer, better than assuming the calibration period's pace carries on.
    naive = calib["frequency"].to_numpy() * 180 / np.maximum(calib["T"].to_numpy(), 1) \
        * np.where(calib["monetary_value"] > 0, calib["monetary_value"], calib["monetary_value"].mean())
    assert np.mean(np.abs(predicted_rev - actual_rev)) < np.mean(np.abs(naive - actual_rev))


def test_too_few_repeat_buyers_is_a_clear_error() -> None:
    frame = pd.DataFrame({"frequency": [0.0] * 50, "recency": [0.0] * 50, "T": [100.0] * 50,
                          "monetary_value": [0.0] * 50})
    with pytest.raises(InvalidInput, match="repeat purchase"):
        RepeatPurchaseValue().fit(frame)
