"""Account-manager assignment (``cdp.relationship.portfolio``) on the real stores: what is stored,
who may have a manager, and the typed refusals. (Portfolio figures over the demo data are
checked through the API in test_relationship.py.)"""

from __future__ import annotations

from datetime import datetime

import pytest

from cdp.errors import InvalidInput, NotFound
from cdp.relationship import portfolio
from graph.store import GraphStore, node_op

NOW = datetime(2024, 6, 1, 12, 0)


@pytest.fixture
def crm(store: GraphStore) -> GraphStore:
    store.write([node_op("Customer", [
        {"id": "K1", "tier": "KEY_ACCOUNT", "status": "ACTIVE", "company_name": "Dijk N.V."},
        {"id": "B1", "tier": "BUSINESS", "status": "MERGED", "merged_into": "K1", "account_manager": "Eva"},
        {"id": "P1", "tier": "CONSUMER", "status": "ACTIVE", "first_name": "Ada"},
    ])])
    return store


def test_assign_replaces_the_manager_and_unassign_removes_it(crm: GraphStore) -> None:
    row = portfolio.assign(crm, "K1", "  Jan de Vries ", NOW)
    assert row["account_manager"] == "Jan de Vries"
    assert crm.customers(["K1"])["K1"]["account_manager"] == "Jan de Vries"
    portfolio.assign(crm, "K1", "Eva", NOW)
    assert crm.customers(["K1"])["K1"]["account_manager"] == "Eva"
    assert portfolio.unassign(crm, "K1", NOW)["account_manager"] is None
    assert crm.customers(["K1"])["K1"].get("account_manager") is None
    assert portfolio.unassign(crm, "K1", NOW)["account_manager"] is None  # nothing to remove: harmless


def test_a_merged_customer_can_lose_but_not_get_a_manager(crm: GraphStore) -> None:
    with pytest.raises(InvalidInput) as caught:
        portfolio.assign(crm, "B1", "Jan", NOW)
    assert caught.value.field == "customerId" and "merged into K1" in str(caught.value)
    assert portfolio.unassign(crm, "B1", NOW)["account_manager"] is None
    assert crm.customers(["B1"])["B1"].get("account_manager") is None


@pytest.mark.parametrize(("customer", "name", "error", "field"), [
    ("K1", "  ", InvalidInput, "name"),
    ("K1", "x" * 201, InvalidInput, "name"),
    ("P1", "Jan", InvalidInput, "customerId"),  # consumers are served by the shared channels
    ("X9", "Jan", NotFound, "customerId"),
])
def test_bad_assignments_are_refused_and_nothing_is_written(crm: GraphStore, customer: str, name: str,
                                                            error: type, field: str) -> None:
    with pytest.raises(error) as caught:
        portfolio.assign(crm, customer, name, NOW)
    assert caught.value.field == field
    assert all(row.get("account_manager") is None for row in crm.customers(["K1", "P1"]).values())


def test_unassigning_an_unknown_customer_is_not_found(crm: GraphStore) -> None:
    with pytest.raises(NotFound):
        portfolio.unassign(crm, "X9", NOW)
