"""Customer-level rules (``cdp.customers.rules``): derived figures of the unified view and the
translation of search criteria into the store's filter, with typed refusals."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from cdp.customers import rules
from cdp.customers.rules import CustomerCriteria
from cdp.errors import InvalidInput


def test_display_name_prefers_the_company_then_the_person_then_the_id() -> None:
    assert rules.display_name({"id": "C1", "company_name": "Acme", "first_name": "Ann"}) == "Acme"
    assert rules.display_name({"id": "C1", "first_name": "Ann", "last_name": "Lee"}) == "Ann Lee"
    assert rules.display_name({"id": "C1", "last_name": "Lee"}) == "Lee"
    assert rules.display_name({"id": "C1"}) == "C1"


def test_tenure_counts_whole_months_and_is_unknown_without_a_join_date() -> None:
    assert rules.tenure_months(date(2024, 1, 31), date(2024, 3, 30)) == 1
    assert rules.tenure_months(date(2024, 1, 15), date(2024, 3, 15)) == 2
    assert rules.tenure_months(date(2025, 1, 1), date(2024, 1, 1)) == 0  # joined in the future
    assert rules.tenure_months(None, date(2024, 1, 1)) is None


def test_revenue_counts_active_subscriptions_after_discount() -> None:
    subscriptions = [
        {"product_id": "P1", "status": "ACTIVE", "monthly_fee": 40.0, "discount": 0.25},
        {"product_id": "P1", "status": "ACTIVE", "monthly_fee": 10.0},
        {"product_id": "P2", "status": "CANCELLED", "monthly_fee": 99.0},
        {"product_id": "P3", "status": "ACTIVE"},  # fee unknown
    ]
    assert rules.net_monthly_fee(subscriptions[0]) == 30.0
    assert rules.net_monthly_fee(subscriptions[3]) == 0.0
    assert rules.monthly_revenue(subscriptions) == 40.0
    assert rules.active_product_count(subscriptions) == 2


def test_contact_summary_counts_only_unresolved_open_complaints() -> None:
    contacts = [
        {"kind": "CALL", "at": datetime(2024, 5, 1)},
        {"kind": "COMPLAINT", "outcome": "OPEN", "at": datetime(2024, 6, 1)},
        {"kind": "COMPLAINT", "outcome": "ESCALATED", "at": datetime(2024, 4, 1)},
        {"kind": "COMPLAINT", "outcome": "OPEN", "resolved_at": datetime(2024, 6, 2), "at": datetime(2024, 3, 1)},
        {"kind": "COMPLAINT", "outcome": "RESOLVED", "at": datetime(2024, 2, 1)},
    ]
    assert rules.contact_summary(contacts) == {
        "contacts": 5, "last_contact_at": datetime(2024, 6, 1), "open_complaints": 2}
    assert rules.contact_summary([]) == {"contacts": 0, "last_contact_at": None, "open_complaints": 0}


def test_months_before_clamps_to_the_end_of_a_shorter_month() -> None:
    assert rules.months_before(date(2024, 3, 31), 1) == date(2024, 2, 29)
    assert rules.months_before(date(2023, 3, 31), 1) == date(2023, 2, 28)
    assert rules.months_before(date(2024, 1, 15), 13) == date(2022, 12, 15)


def test_tenure_becomes_a_join_date_range_against_today() -> None:
    today = date(2024, 6, 15)
    store_filter = rules.customer_filter(CustomerCriteria(tenure_min_months=12, tenure_max_months=24,
                                                          tiers=("GOLD",)), today)
    assert store_filter.joined_to == date(2023, 6, 15)      # at least 12 months ago
    assert store_filter.joined_from == date(2022, 5, 16)    # fewer than 25 months ago
    assert store_filter.tiers == ("GOLD",)
    assert not hasattr(store_filter, "tenure_min_months")   # the store's own filter type
    for joined in (store_filter.joined_from, store_filter.joined_to):
        assert 12 <= rules.tenure_months(joined, today) <= 24
    # An explicit join range narrows, never widens, the tenure bound.
    narrowed = rules.customer_filter(CustomerCriteria(tenure_min_months=12, joined_to=date(2020, 1, 1)), today)
    assert narrowed.joined_to == date(2020, 1, 1)
    assert rules.customer_filter(CustomerCriteria(name_contains=""), today).name_contains is None


@pytest.mark.parametrize(("criteria", "field"), [
    (CustomerCriteria(tenure_min_months=-1), "tenureMonths"),
    (CustomerCriteria(tenure_min_months=5, tenure_max_months=2), "tenureMonths"),
    (CustomerCriteria(spend_min=100.0, spend_max=10.0), "monthlySpend"),
    (CustomerCriteria(joined_from=date(2024, 2, 1), joined_to=date(2024, 1, 1)), "joinedOn"),
    (CustomerCriteria(name_contains="x" * 101), "nameContains"),
    (CustomerCriteria(ids=tuple(f"C{i}" for i in range(1001))), "ids"),
])
def test_bad_criteria_are_refused_naming_the_field(criteria: CustomerCriteria, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        rules.customer_filter(criteria, date(2024, 6, 15))
    assert caught.value.field == field


def test_personal_uses_name_the_argument_that_reads_each_personal_field() -> None:
    assert rules.personal_uses(CustomerCriteria(email="a@b.c", tiers=("GOLD",)), "LAST_NAME") == {
        "email": "where.email", "lastName": "orderBy.field"}
    assert rules.personal_uses(CustomerCriteria(tiers=("GOLD",)), "CITY") == {}


def test_only_known_sort_keys_are_accepted() -> None:
    assert rules.check_sort("MONTHLY_SPEND") == "MONTHLY_SPEND"
    with pytest.raises(InvalidInput) as caught:
        rules.check_sort("PASSWORD")
    assert caught.value.field == "orderBy"
