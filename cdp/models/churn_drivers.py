"""What drives churn risk across the at-risk base: the per-customer reasons, counted.

``ModelRegistry.churn_drivers`` explains the highest-risk customers one by one (the churn
model's reasons, ``cdp.models.model_card.reasons``: the score minus the score with the base's
typical value of a feature) and ``summarise`` counts them: for each feature, how many of
the explained customers have it among their top reasons *raising* their risk, and by how
much on average. A feature that lowers a customer's risk is not a driver of that
customer's risk, so reasons with effect <= 0 are not counted.

Why not the model card's ``topDrivers``: those measure what the model relies on over the
whole base (permutation importance on held-out ROC AUC), in both directions; an analyst
looking at the customers about to leave asks what is wrong *for them*.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cdp.errors import InvalidInput
from cdp.models.model_card import Reason

#: Customers explained at most in one request (each costs one small batch of predictions).
MAX_EXPLAINED = 1000
#: Reasons looked at per customer at most.
MAX_REASONS = 10


@dataclass(frozen=True)
class ChurnDriver:
    """One feature raising churn risk: among the explained at-risk customers, how many have
    it among their top reasons (``customers``, ``share`` of the explained) and its mean
    effect on their probability (> 0), with the commonest value they have."""

    feature: str
    description: str
    customers: int
    share: float
    mean_effect: float
    typical_value: str


@dataclass(frozen=True)
class ChurnDrivers:
    """The drivers of churn risk at ``threshold``: ``scored`` customers have a score,
    ``at_risk`` of them reach the threshold, the ``explained`` highest-risk of those were
    explained (``top`` reasons each); ``drivers`` most frequent first."""

    threshold: float
    scored: int
    at_risk: int
    explained: int
    top: int
    drivers: tuple[ChurnDriver, ...]


def check(threshold: float, customers: int, top: int) -> None:
    """Raise ``InvalidInput`` (naming the argument) unless 0 < ``threshold`` <= 1,
    1 <= ``customers`` <= ``MAX_EXPLAINED`` and 1 <= ``top`` <= ``MAX_REASONS``."""
    if not 0.0 < threshold <= 1.0:
        raise InvalidInput(f"threshold must be in (0, 1], got {threshold}", field="threshold")
    if not 1 <= customers <= MAX_EXPLAINED:
        raise InvalidInput(f"customers must be 1..{MAX_EXPLAINED}, got {customers}", field="customers")
    if not 1 <= top <= MAX_REASONS:
        raise InvalidInput(f"top must be 1..{MAX_REASONS}, got {top}", field="top")


def summarise(explained: Iterable[list[Reason]]) -> tuple[int, tuple[ChurnDriver, ...]]:
    """Count the reasons raising risk of each explained customer (one list per customer).

    In: the customers' reasons. Out: ``(customers explained, drivers)``, drivers by number of
    customers, then mean effect (highest first), then feature name.
    """
    count = 0
    effects: dict[str, list[float]] = {}
    values: dict[str, dict[str, int]] = {}
    descriptions: dict[str, str] = {}
    for reasons in explained:
        count += 1
        for r in reasons:
            if r.effect <= 0:
                continue
            effects.setdefault(r.feature, []).append(r.effect)
            seen = values.setdefault(r.feature, {})
            seen[r.value] = seen.get(r.value, 0) + 1
            descriptions[r.feature] = r.description
    drivers = [ChurnDriver(feature=f, description=descriptions[f], customers=len(e),
                           share=round(len(e) / count, 4), mean_effect=round(sum(e) / len(e), 4),
                           typical_value=min(values[f].items(), key=lambda kv: (-kv[1], kv[0]))[0])
               for f, e in effects.items()]
    drivers.sort(key=lambda d: (-d.customers, -d.mean_effect, d.feature))
    return count, tuple(drivers)
