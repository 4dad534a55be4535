"""An offer response is one contact written whole, or nothing (``cdp.offers.offer_responses``),
on each backend."""

from __future__ import annotations

from datetime import datetime

import pytest

from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.offers.offer_responses import record
from graph.store import GraphStore, node_op

AT = datetime(2026, 3, 1, 10, 30)


def _catalogue(store: GraphStore) -> None:
    store.write([
        node_op("Customer", [{"id": "C1", "status": "ACTIVE"}, {"id": "C2", "status": "ERASED"}]),
        node_op("Product", [{"id": "P1", "name": "Mobile 10 GB", "category": "MOBILE"}]),
        node_op("Channel", [{"id": "SMS", "name": "SMS"}]),
    ])


def test_a_response_is_a_campaign_offer_contact_about_the_product(store: GraphStore) -> None:
    _catalogue(store)
    written = record(store, "C1", "P1", "IGNORED", "SMS", AT, campaign="CMP-1")
    assert written.contact_id.startswith("RESP-") and written.response == "IGNORED"
    (contact,) = store.nodes("Contact", [written.contact_id]).values()
    assert (contact["kind"], contact["outcome"], contact["direction"]) == ("CAMPAIGN_OFFER", "NO_RESPONSE", "OUTBOUND")
    assert contact["campaign"] == "CMP-1" and contact["subject"] == "offer P1"
    again = record(store, "C1", "P1", "IGNORED", "SMS", AT, campaign="CMP-1")
    assert again.contact_id == written.contact_id  # the same response twice is one contact


def test_bad_responses_are_refused_and_write_nothing(store: GraphStore) -> None:
    _catalogue(store)
    cases = [
        (("C1", "P1", "MAYBE", "SMS"), InvalidInput, "response"),
        (("C9", "P1", "ACCEPTED", "SMS"), NotFound, "customerId"),
        (("C2", "P1", "ACCEPTED", "SMS"), Conflict, "customerId"),
        (("C1", "P9", "ACCEPTED", "SMS"), NotFound, "offer"),
        (("C1", "P1", "ACCEPTED", "PIGEON"), NotFound, "channel"),
    ]
    for args, error, field in cases:
        with pytest.raises(error) as refused:
            record(store, *args, AT)
        assert refused.value.field == field
    assert sum(len(rows) for rows in store.contacts_of_customers(["C1", "C2"]).values()) == 0
