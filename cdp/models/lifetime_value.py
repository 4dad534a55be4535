"""Customer lifetime value: the expected, discounted margin over a horizon.

For a customer with monthly margin ``m`` (feature ``monthly_margin``: recurring
spend after discounts minus the cost to serve the products held) and churn
probability ``p`` (``cdp.models.churn``), over ``H`` months::

    r     = (1 - p) ** (1 / W)          monthly retention; W = the churn model's label window in months
    q     = r / (1 + d)                 d = monthly discount rate = (1 + annual rate) ** (1/12) - 1
    value = m * (q + q^2 + ... + q^H) = m * q * (1 - q^H) / (1 - q)

The churn probability is the chance of closing every account within the
churn model's horizon (``label_window_months`` on its card, ``cdp.models.churn``), so
it is spread over that many months as a constant monthly hazard. A negative
margin gives a negative value (the customer costs more than they pay).

``LifetimeValueModel`` is a scikit-learn estimator over a frame with the
columns ``churn_probability`` and ``monthly_margin``; it learns nothing from
data itself (``fit`` records the churn window), so it follows every retrain of
the churn model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

#: Months the value is summed over.
HORIZON_MONTHS = 24
#: Yearly discount rate of future margin.
ANNUAL_DISCOUNT_RATE = 0.08


class LifetimeValueModel(RegressorMixin, BaseEstimator):
    """Expected discounted margin over ``horizon_months`` from churn probability and margin.

    ``predict(X)`` takes a frame with ``churn_probability`` and ``monthly_margin``
    and returns one value per row (nan where the probability is missing).
    """

    def __init__(self, horizon_months: int = HORIZON_MONTHS, annual_discount_rate: float = ANNUAL_DISCOUNT_RATE,
                 window_months: float = 12.0) -> None:
        self.horizon_months = horizon_months
        self.annual_discount_rate = annual_discount_rate
        self.window_months = window_months

    def fit(self, X: pd.DataFrame | None = None, y: np.ndarray | None = None) -> LifetimeValueModel:
        """Nothing to learn: marks the model fitted (``window_months`` comes from the churn card)."""
        self.fitted_ = True
        return self

    def monthly_retention(self, probability: np.ndarray) -> np.ndarray:
        """The monthly retention rate equivalent to churn ``probability`` over the label window."""
        p = np.clip(np.asarray(probability, dtype=float), 0.0, 1.0 - 1e-9)
        return (1.0 - p) ** (1.0 / max(self.window_months, 1e-9))

    def expected_months(self, probability: np.ndarray) -> np.ndarray:
        """Discounted expected months of margin within the horizon: ``q (1 - q^H) / (1 - q)``."""
        d = (1.0 + self.annual_discount_rate) ** (1.0 / 12.0) - 1.0
        q = self.monthly_retention(probability) / (1.0 + d)
        h = self.horizon_months
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(np.isclose(q, 1.0), float(h), q * (1.0 - q ** h) / (1.0 - q))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Lifetime value per row of ``X``."""
        margin = np.nan_to_num(np.asarray(X["monthly_margin"], dtype=float))
        return margin * self.expected_months(np.asarray(X["churn_probability"], dtype=float))
