"""Predictive models: churn, lifetime value, repeat purchase, propensity; their registry
(training, persistence, scores) and their cards (docs/models.md).

Modules:

- ``churn``: Churn risk: a calibrated probability that a customer closes every account within a horizon after the time they are described at.
- ``churn_drivers``: What drives churn risk across the at-risk base: the per-customer reasons, counted.
- ``lifetime_value``: Customer lifetime value: the expected, discounted margin over a horizon.
- ``model_card``: What every predictive model shares: its card, its metrics, its drivers and reasons.
- ``propensity``: Propensity to take each product: the chance a customer starts a subscription to it.
- ``repeat_purchase``: Lifetime value of transactional customers: BG/NBD repeat purchases x Gamma-Gamma spend.
- ``scoring``: The model registry: trains, keeps, persists and applies the predictive models.
"""

__all__ = [
    "churn",
    "churn_drivers",
    "lifetime_value",
    "model_card",
    "propensity",
    "repeat_purchase",
    "scoring",
]
