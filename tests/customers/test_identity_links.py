"""Reversing a wrong merge (``cdp.customers.identity_links``) on the real stores: one identity and
the values its record contributed move to a customer of their own, both profiles recomputed,
nothing deleted; the split is recorded and refusals are typed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cdp.customers import identity_links
from cdp.customers.profile import load_policy
from cdp.errors import InvalidInput, NotFound
from cdp.ingest.upserts import upsert
from graph.store import GraphStore

NOW = datetime(2024, 6, 1, 12, 0)
POLICY = load_policy()


@pytest.fixture
def merged(store: GraphStore) -> GraphStore:
    """C1 known to the CRM as Ada and, wrongly, to billing as Bob with his own e-mail (newer)."""
    assert not upsert(store, POLICY, "Customer", [{"id": "C1", "first_name": "Ada", "email": "ada@example.com",
                                                   "country": "NL", "tier": "CONSUMER"}],
                      "CRM", NOW - timedelta(days=2)).errors
    assert not upsert(store, POLICY, "Customer", [{"id": "C1", "email": "bob@example.com"}], "BILLING",
                      NOW - timedelta(days=1)).errors
    assert store.customers(["C1"])["C1"]["email"] == "bob@example.com"  # the newer value won
    return store


def test_the_split_customer_id_is_deterministic() -> None:
    assert identity_links.split_customer_id("BILLING:C1") == identity_links.split_customer_id("BILLING:C1")
    assert identity_links.split_customer_id("BILLING:C1").startswith("CS-")
    assert identity_links.split_customer_id("BILLING:C1") != identity_links.split_customer_id("CRM:C1")


def test_splitting_moves_the_identity_and_its_values_to_a_new_customer(merged: GraphStore) -> None:
    split = identity_links.split_identity(merged, POLICY, "BILLING:C1", NOW)
    new = identity_links.split_customer_id("BILLING:C1")
    assert (split.original_customer_id, split.new_customer_id, split.moved_values) == ("C1", new, 1)

    customers = merged.customers(["C1", new])
    assert customers["C1"]["email"] == "ada@example.com"  # recomputed from what stayed
    assert customers[new]["email"] == "bob@example.com"
    assert customers[new]["country"] == "NL" and customers[new]["tier"] == "CONSUMER"  # inherited
    assert merged.customer_of_identity("BILLING:C1") == new
    identity = merged.identities_of_customers([new])[new][0]
    assert identity["matched_by"] == identity_links.SPLIT
    assert [i["id"] for i in merged.identities_of_customers(["C1"])["C1"]] == ["CRM:C1"]
    moved = merged.attribute_values_of_customers([new])[new]
    assert [(v["key"], v["value"], v["identity_id"]) for v in moved] == [("email", "bob@example.com", "BILLING:C1")]


def test_the_only_identity_cannot_be_split_and_an_unknown_one_is_not_found(merged: GraphStore) -> None:
    identity_links.split_identity(merged, POLICY, "BILLING:C1", NOW)
    with pytest.raises(InvalidInput) as only:
        identity_links.split_identity(merged, POLICY, "CRM:C1", NOW)
    assert only.value.field == "identityId"
    with pytest.raises(NotFound) as unknown:
        identity_links.split_identity(merged, POLICY, "CRM:C404", NOW)
    assert unknown.value.field == "identityId"
