"""Everything held about one person (``cdp.privacy.customer_export``) on the real stores: the
document holds the customer, their values with provenance, accounts with events, contacts with
complaints and merged customers, in JSON-ready form; an unknown customer is not found."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from cdp.customers.profile import load_policy
from cdp.errors import NotFound
from cdp.ingest.upserts import upsert
from cdp.privacy import customer_export
from graph.store import GraphStore, node_op, relationship_op

NOW = datetime(2024, 6, 1, 12, 0)


@pytest.fixture
def person(store: GraphStore) -> GraphStore:
    assert not upsert(store, load_policy(), "Customer", [{"id": "C1", "first_name": "Ada", "email": "ada@example.com",
                                                         "birth_date": date(1980, 3, 4)}], "CRM", NOW).errors
    store.write([
        node_op("Customer", [{"id": "C2", "tier": "CONSUMER", "status": "MERGED", "merged_into": "C1"},
                             {"id": "C3", "tier": "CONSUMER", "status": "ACTIVE", "first_name": "Bo"}]),
        node_op("Channel", [{"id": "EMAIL", "name": "E-mail", "kind": "DIGITAL"}]),
        node_op("Contact", [{"id": "K1", "kind": "COMPLAINT", "outcome": "OPEN", "at": NOW, "subject": "Late"},
                            {"id": "K2", "kind": "SERVICE", "at": datetime(2024, 5, 1), "subject": "Hi"},
                            {"id": "K3", "kind": "SERVICE", "at": NOW, "subject": "Bo's"}]),
        node_op("Account", [{"id": "A1"}]),
        node_op("MonetaryEvent", [{"id": "E1", "kind": "INVOICE", "amount": 42.5, "at": NOW}]),
        relationship_op("HAD_CONTACT", [{"from": "C1", "to": "K1"}, {"from": "C1", "to": "K2"},
                                        {"from": "C3", "to": "K3"}]),
        relationship_op("VIA", [{"from": k, "to": "EMAIL"} for k in ("K1", "K2", "K3")]),
        relationship_op("HOLDS", [{"from": "C1", "to": "A1"}]),
        relationship_op("HAS_EVENT", [{"from": "A1", "to": "E1"}]),
    ])
    return store


def test_the_document_holds_what_is_known_about_the_person_only(person: GraphStore) -> None:
    document = customer_export.export(person, "C1", NOW)
    assert json.loads(json.dumps(document)) == document  # JSON as it is
    assert document["format_version"] == customer_export.FORMAT_VERSION
    assert document["customer_id"] == "C1" and document["exported_at"] == "2024-06-01T12:00:00+00:00"
    assert document["customer"]["first_name"] == "Ada" and document["customer"]["birth_date"] == "1980-03-04"
    assert {(v["key"], v["value"], v["source"]) for v in document["attribute_values"]} >= {
        ("first_name", "Ada", "CRM"), ("email", "ada@example.com", "CRM")}
    assert [i["id"] for i in document["identities"]] == ["CRM:C1"]
    assert [(a["id"], [e["amount"] for e in a["monetary_events"]]) for a in document["accounts"]] == [("A1", [42.5])]
    assert [k["id"] for k in document["contacts"]] == ["K1", "K2"]  # newest first, not Bo's
    assert [k["id"] for k in document["complaints"]] == ["K1"]
    assert document["contacts"][0]["channel_id"] == "EMAIL"
    assert document["merged_customers"] == ["C2"]
    assert document["segments"] is None and document["scores"] is None  # no analytics given


def test_an_unknown_customer_is_not_found(person: GraphStore) -> None:
    with pytest.raises(NotFound) as caught:
        customer_export.export(person, "C404", NOW)
    assert caught.value.field == "customerId"
