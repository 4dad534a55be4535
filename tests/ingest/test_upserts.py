"""Partner upserts (``cdp.ingest.upserts``) on the real stores: good items written together with
their provenance, each bad item reported by index, field and path and not written, links to
missing or erased customers refused, batch-level refusals raised."""

from __future__ import annotations

from datetime import datetime

import pytest

from cdp.customers.profile import load_policy
from cdp.errors import InvalidInput
from cdp.ingest.upserts import MAX_BATCH, ItemError, upsert
from graph.store import GraphStore, node_op

NOW = datetime(2024, 6, 1, 12, 0)
POLICY = load_policy()


def test_good_items_are_written_with_provenance_bad_ones_reported(store: GraphStore) -> None:
    outcome = upsert(store, POLICY, "Customer", [
        {"id": "C1", "first_name": "Ada", "email": "ada@example.com", "phone": "06 1234 5678", "country": "nl",
         "attributes": [{"key": "favourite_team", "value": "Ajax"}]},
        {"id": "C2", "email": "not an address"},
        {"id": "C3", "status": "MERGED"},
        {"id": "", "first_name": "Nobody"},
    ], "CRM", NOW)
    assert (outcome.created, outcome.updated, outcome.written_ids) == (1, 0, ["C1"])
    assert [(e.index, e.field, e.path, e.code) for e in outcome.errors] == [
        (1, "email", "items[1].email", "BAD_USER_INPUT"),
        (2, "status", "items[2].status", "BAD_USER_INPUT"),
        (3, "id", "items[3].id", "BAD_USER_INPUT")]
    stored = store.customers(["C1", "C2", "C3"])
    assert set(stored) == {"C1"}
    c1 = stored["C1"]
    assert c1["phone"] == "+31612345678" and c1["country"] == "NL"  # E.164, capitals
    assert c1["status"] and c1["tier"]  # the documented defaults for a new customer
    identities = store.identities_of_customers(["C1"])["C1"]
    assert [i["id"] for i in identities] == ["CRM:C1"]
    values = {v["key"]: v for v in store.attribute_values_of_customers(["C1"])["C1"]}
    assert values["email"]["value"] == "ada@example.com" and values["email"]["source"] == "CRM"
    assert values["email"]["identity_id"] == "CRM:C1"
    assert values["favourite_team"]["value"] == "Ajax"


def test_an_update_changes_only_the_fields_sent(store: GraphStore) -> None:
    upsert(store, POLICY, "Customer", [{"id": "C1", "first_name": "Ada", "city": "Utrecht"}], "CRM", NOW)
    outcome = upsert(store, POLICY, "Customer", [{"id": "C1", "city": "Delft"}], "CRM", NOW)
    assert (outcome.created, outcome.updated) == (0, 1)
    row = store.customers(["C1"])["C1"]
    assert (row["first_name"], row["city"]) == ("Ada", "Delft")


def test_links_must_name_existing_customers_that_were_not_erased(store: GraphStore) -> None:
    store.write([node_op("Customer", [{"id": "C1", "status": "ACTIVE", "tier": "CONSUMER"},
                                      {"id": "C9", "status": "ERASED", "tier": "CONSUMER"}])])
    outcome = upsert(store, POLICY, "Account", [
        {"id": "A1", "customer_id": "C1"},
        {"id": "A2", "customer_id": "C404"},
        {"id": "A3", "customer_id": "C9"},
        {"id": "A4"},
    ], "BILLING", NOW)
    assert outcome.written_ids == ["A1"]
    assert outcome.errors == [
        ItemError(3, "customerId", "customerId is required"),
        ItemError(1, "customerId", "no Customer 'C404'", "NOT_FOUND"),
        ItemError(2, "customerId", "customer 'C9' was erased; nothing more is recorded about them", "CONFLICT"),
    ]
    assert [a["id"] for a in store.accounts_of_customers(["C1"])["C1"]] == ["A1"]
    assert store.existing_ids("Account", ["A2", "A3", "A4"]) == set()


def test_numbers_out_of_range_are_refused_per_field(store: GraphStore) -> None:
    store.write([node_op("Customer", [{"id": "C1", "status": "ACTIVE", "tier": "CONSUMER"}]),
                 node_op("Account", [{"id": "A1"}])])
    outcome = upsert(store, POLICY, "MonetaryEvent", [
        {"id": "E1", "account_id": "A1", "amount": float("nan")},
        {"id": "E2", "account_id": "A1", "amount": 2e9},
    ], "BILLING", NOW)
    assert [(e.index, e.field) for e in outcome.errors] == [(0, "amount"), (1, "amount")]
    assert "finite" in outcome.errors[0].message and "between" in outcome.errors[1].message
    assert outcome.written_ids == [] and store.existing_ids("MonetaryEvent", ["E1", "E2"]) == set()


@pytest.mark.parametrize(("label", "items", "source", "field"), [
    ("Product", [{"id": "P1"}], "CRM", "label"),
    ("Customer", [{"id": f"C{i}"} for i in range(MAX_BATCH + 1)], "CRM", "items"),
])
def test_batch_level_problems_are_raised(store: GraphStore, label: str, items: list, source: str,
                                         field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        upsert(store, POLICY, label, items, source, NOW)
    assert caught.value.field == field


def test_an_unknown_source_is_refused(store: GraphStore) -> None:
    with pytest.raises(InvalidInput):
        upsert(store, POLICY, "Customer", [{"id": "C1"}], "not a source!", NOW)
    assert store.existing_ids("Customer", ["C1"]) == set()
