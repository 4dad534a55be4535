"""Customer-level domain rules: derived figures and search criteria.

Derived figures of the unified view (tenure, monthly revenue, number of
products) are computed here from the rows the store returns, so the GraphQL
layer and later analytics agree on one definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any

from cdp.errors import InvalidInput
from graph.queries import CUSTOMER_SORT_KEYS, CustomerFilter


def display_name(customer: Mapping[str, Any]) -> str:
    """Company name for organisations, else "first last"; never empty for a known customer."""
    if customer.get("company_name"):
        return str(customer["company_name"])
    parts = [customer.get("first_name"), customer.get("last_name")]
    name = " ".join(p for p in parts if p)
    return name or str(customer["id"])


def tenure_months(joined_on: date | None, today: date) -> int | None:
    """Whole months from ``joined_on`` to ``today`` (None when the join date is unknown)."""
    if joined_on is None:
        return None
    months = (today.year - joined_on.year) * 12 + (today.month - joined_on.month)
    if today.day < joined_on.day:
        months -= 1
    return max(months, 0)


def net_monthly_fee(subscription: Mapping[str, Any]) -> float:
    """The fee after discount of one subscription (0 when the fee is unknown)."""
    fee = subscription.get("monthly_fee") or 0.0
    discount = subscription.get("discount") or 0.0
    return round(fee * (1.0 - discount), 2)


def monthly_revenue(subscriptions: Iterable[Mapping[str, Any]]) -> float:
    """Monthly recurring revenue of the active subscriptions given."""
    return round(sum(net_monthly_fee(s) for s in subscriptions if s.get("status") == "ACTIVE"), 2)


def active_product_count(subscriptions: Iterable[Mapping[str, Any]]) -> int:
    """Number of distinct products held through active subscriptions."""
    return len({s["product_id"] for s in subscriptions if s.get("status") == "ACTIVE"})


#: Contact outcomes that leave a complaint unresolved.
OPEN_OUTCOMES = frozenset({"OPEN", "ESCALATED"})


def contact_summary(contacts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Figures over one customer's contacts (any order).

    Returns ``contacts`` (how many), ``last_contact_at`` (latest ``at``, None
    when there are none) and ``open_complaints`` (complaints whose outcome is
    open or escalated and that have no resolution time; as in ``cdp.relationship.complaints``).
    """
    count, last, open_complaints = 0, None, 0
    for c in contacts:
        count += 1
        at = c.get("at")
        if at is not None and (last is None or at > last):
            last = at
        if c.get("kind") == "COMPLAINT" and c.get("outcome") in OPEN_OUTCOMES and c.get("resolved_at") is None:
            open_complaints += 1
    return {"contacts": count, "last_contact_at": last, "open_complaints": open_complaints}


def months_before(today: date, months: int) -> date:
    """The calendar day ``months`` months before ``today`` (clamped to month ends)."""
    year, month = divmod(today.year * 12 + today.month - 1 - months, 12)
    month += 1
    for day in (today.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class CustomerCriteria(CustomerFilter):
    """What a client may ask ``customers(where:)`` for: the store's one customer filter
    (``graph.queries.CustomerFilter``, every condition the store evaluates) plus a tenure
    range in whole months, which only becomes a join-date range against today
    (``customer_filter``)."""

    tenure_min_months: int | None = None
    tenure_max_months: int | None = None


#: Criteria and sort keys that read a personal field, by the GraphQL name of the field they read.
PERSONAL_CRITERIA = {"email": "email", "phone": "phone", "name_contains": "name"}
PERSONAL_SORTS = {"LAST_NAME": "lastName"}
#: The GraphQL argument each criterion comes from (for error paths).
_ARGUMENTS = {"email": "where.email", "phone": "where.phone", "name_contains": "where.nameContains"}


def personal_uses(criteria: CustomerCriteria, sort: str | None) -> dict[str, str]:
    """The personal fields a customer search reads, each with the argument that names it
    (``{"email": "where.email", "lastName": "orderBy.field"}``), for
    ``cdp.security.permissions.authorise_personal_use``."""
    uses = {field: _ARGUMENTS[name] for name, field in PERSONAL_CRITERIA.items()
            if getattr(criteria, name) is not None}
    if sort in PERSONAL_SORTS:
        uses[PERSONAL_SORTS[sort]] = "orderBy.field"
    return uses


def _check_range(low: float | None, high: float | None, field: str) -> None:
    if low is not None and low < 0:
        raise InvalidInput(f"{field}.min must not be negative", field=field)
    if low is not None and high is not None and low > high:
        raise InvalidInput(f"{field}.min must not exceed {field}.max", field=field)


def customer_filter(criteria: CustomerCriteria, today: date) -> CustomerFilter:
    """Translate ``criteria`` into a store filter; tenure becomes a join-date range.

    Raises ``InvalidInput`` naming the field for an inverted or negative range
    or an over-long text.
    """
    _check_range(criteria.tenure_min_months, criteria.tenure_max_months, "tenureMonths")
    _check_range(criteria.spend_min, criteria.spend_max, "monthlySpend")
    if criteria.joined_from and criteria.joined_to and criteria.joined_from > criteria.joined_to:
        raise InvalidInput("joinedOn.from must not be after joinedOn.to", field="joinedOn")
    if criteria.name_contains is not None and len(criteria.name_contains) > 100:
        raise InvalidInput("nameContains is limited to 100 characters", field="nameContains")
    if criteria.ids is not None and len(criteria.ids) > 1000:
        raise InvalidInput("ids is limited to 1000 values", field="ids")
    joined_from, joined_to = criteria.joined_from, criteria.joined_to
    if criteria.tenure_max_months is not None:
        # Tenure <= N months means joined after the day N+1 months ago.
        bound = months_before(today, criteria.tenure_max_months + 1)
        bound = date.fromordinal(bound.toordinal() + 1)
        joined_from = max(joined_from, bound) if joined_from else bound
    if criteria.tenure_min_months is not None:
        bound = months_before(today, criteria.tenure_min_months)
        joined_to = min(joined_to, bound) if joined_to else bound
    store_filter = CustomerFilter(**{f.name: getattr(criteria, f.name) for f in fields(CustomerFilter)})
    return replace(store_filter, name_contains=criteria.name_contains or None,
                   joined_from=joined_from, joined_to=joined_to)


def check_sort(field: str) -> str:
    """Return ``field`` if customers can be sorted by it; raise ``InvalidInput`` otherwise."""
    if field not in CUSTOMER_SORT_KEYS:
        raise InvalidInput(f"cannot sort customers by {field}", field="orderBy")
    return field
