"""Erasure (``cdp.privacy.erasure``) on the real stores: the personal data of a person and of every
customer merged into them is removed in one write, the anonymised aggregates stay, the person's
API keys are revoked, and erasing again writes nothing."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from cdp.errors import NotFound
from cdp.privacy import erasure
from cdp.security.api_keys import create_key
from graph.store import GraphStore, node_op, relationship_op

NOW = datetime(2024, 6, 1, 12, 0)


@pytest.fixture
def person(store: GraphStore) -> GraphStore:
    """C1 with personal data, C2 merged into C1, C3 (someone else); a contact, an event, a value."""
    store.write([
        node_op("Customer", [
            {"id": "C1", "tier": "CONSUMER", "status": "ACTIVE", "first_name": "Ada", "last_name": "Lee",
             "email": "ada@example.com", "city": "Utrecht", "joined_on": date(2020, 1, 1)},
            {"id": "C2", "tier": "CONSUMER", "status": "MERGED", "merged_into": "C1", "phone": "+31612345678"},
            {"id": "C3", "tier": "CONSUMER", "status": "ACTIVE", "first_name": "Bo", "email": "bo@example.com"},
        ]),
        node_op("Channel", [{"id": "EMAIL", "name": "E-mail", "kind": "DIGITAL"}]),
        node_op("Contact", [{"id": "K1", "kind": "COMPLAINT", "outcome": "OPEN", "at": NOW,
                             "subject": "Ada's address is wrong"}]),
        node_op("Account", [{"id": "A1"}]),
        node_op("MonetaryEvent", [{"id": "E1", "kind": "INVOICE", "amount": 42.5, "at": NOW,
                                   "description": "Invoice for Ada Lee"}]),
        node_op("AttributeValue", [{"id": 1, "key": "email", "value": "ada@old.example", "source": "CRM"}]),
        relationship_op("HAD_CONTACT", [{"from": "C2", "to": "K1"}]),
        relationship_op("VIA", [{"from": "K1", "to": "EMAIL"}]),
        relationship_op("HOLDS", [{"from": "C1", "to": "A1"}]),
        relationship_op("HAS_EVENT", [{"from": "A1", "to": "E1"}]),
        relationship_op("HAS_ATTRIBUTE", [{"from": "C1", "to": 1}]),
    ])
    return store


def test_erasing_removes_personal_data_of_the_person_and_their_merged_records(person: GraphStore) -> None:
    create_key(person, "Ada's app", "customer", customer_id="C1")
    other_key, _ = create_key(person, "Bo's app", "customer", customer_id="C3")
    result = erasure.erase(person, "C2", NOW)  # a merged record: the person it was merged into goes

    assert result.customer_id == "C1" and set(result.customers) == {"C1", "C2"}
    assert (result.attribute_values, result.contact_subjects, result.event_descriptions, result.api_keys) == (1, 1, 1, 1)
    assert result.written and not result.already_erased
    customers = person.customers(["C1", "C2", "C3"])
    for cid in ("C1", "C2"):
        assert customers[cid]["status"] == "ERASED"
        assert all(customers[cid].get(p) is None for p in erasure.ERASED_PROPERTIES)
    assert customers["C1"]["city"] == "Utrecht" and customers["C1"]["joined_on"] == date(2020, 1, 1)
    assert customers["C3"]["email"] == "bo@example.com" and customers["C3"]["status"] == "ACTIVE"
    assert person.attribute_values_of_customers(["C1"]).get("C1", []) == []
    contact = person.nodes("Contact", ["K1"])["K1"]
    assert contact["subject"] is None and contact["outcome"] == "OPEN"  # the contact itself stays
    event = person.nodes("MonetaryEvent", ["E1"])["E1"]
    assert event["description"] is None and event["amount"] == 42.5
    keys = {row["customer_id"]: row["revoked_at"] for row in person.export_nodes("ApiKey").to_pylist()}
    assert keys["C1"] is not None and keys["C3"] is None
    assert other_key.customer_id == "C3"


def test_erasing_again_writes_nothing(person: GraphStore) -> None:
    erasure.erase(person, "C1", NOW)
    again = erasure.erase(person, "C1", NOW)
    assert again.already_erased and not again.written
    assert (again.attribute_values, again.contact_subjects, again.event_descriptions, again.api_keys) == (0, 0, 0, 0)


def test_an_unknown_customer_is_not_found(person: GraphStore) -> None:
    with pytest.raises(NotFound) as caught:
        erasure.erase(person, "C9", NOW)
    assert caught.value.field == "customerId"
