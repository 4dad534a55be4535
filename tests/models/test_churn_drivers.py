"""Churn drivers (``cdp.models.churn_drivers``): per-customer reasons counted into drivers, only the
reasons raising risk, ordered; and the typed refusal of out-of-range arguments."""

from __future__ import annotations

import pytest

from cdp.errors import InvalidInput
from cdp.models.churn_drivers import MAX_EXPLAINED, MAX_REASONS, ChurnDriver, check, summarise
from cdp.models.model_card import Reason


def reason(feature: str, value: str, effect: float) -> Reason:
    return Reason(feature=feature, description=f"the {feature}", value=value, effect=effect)


def test_reasons_raising_risk_are_counted_per_feature() -> None:
    explained = [
        [reason("tenure", "2", 0.20), reason("complaints", "3", 0.10), reason("fee", "10", -0.05)],
        [reason("tenure", "3", 0.10), reason("fee", "80", 0.30)],
        [reason("tenure", "2", 0.30), reason("complaints", "1", 0.0)],  # no effect: not a driver
        [],
    ]
    count, drivers = summarise(explained)
    assert count == 4
    assert drivers == (
        ChurnDriver("tenure", "the tenure", customers=3, share=0.75, mean_effect=0.2, typical_value="2"),
        ChurnDriver("fee", "the fee", customers=1, share=0.25, mean_effect=0.3, typical_value="80"),
        ChurnDriver("complaints", "the complaints", customers=1, share=0.25, mean_effect=0.1, typical_value="3"),
    )


def test_ties_go_to_the_smaller_value_and_the_feature_name() -> None:
    _, drivers = summarise([[reason("b", "y", 0.1), reason("a", "x", 0.1)], [reason("a", "w", 0.1)],
                            [reason("b", "z", 0.1)]])
    assert [(d.feature, d.typical_value) for d in drivers] == [("a", "w"), ("b", "y")]


def test_nothing_explained_has_no_drivers() -> None:
    assert summarise([]) == (0, ())


@pytest.mark.parametrize(("args", "field"), [
    ((0.0, 10, 3), "threshold"), ((1.5, 10, 3), "threshold"),
    ((0.5, 0, 3), "customers"), ((0.5, MAX_EXPLAINED + 1, 3), "customers"),
    ((0.5, 10, 0), "top"), ((0.5, 10, MAX_REASONS + 1), "top"),
])
def test_arguments_out_of_range_are_refused_naming_them(args: tuple, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check(*args)
    assert caught.value.field == field


def test_arguments_at_their_bounds_are_accepted() -> None:
    check(1.0, MAX_EXPLAINED, MAX_REASONS)
    check(0.01, 1, 1)
