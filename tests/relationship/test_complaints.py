"""The complaint lifecycle (``cdp.relationship.complaints``) on the real stores: open, escalate,
resolve, what is stored, and the typed refusals (nothing written when refused)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.relationship import complaints
from graph.store import GraphStore, node_op

NOW = datetime(2024, 6, 1, 12, 0)


@pytest.fixture
def crm(store: GraphStore) -> GraphStore:
    store.write([
        node_op("Customer", [{"id": "C1", "tier": "CONSUMER", "status": "ACTIVE", "joined_on": date(2020, 1, 1)},
                             {"id": "C2", "tier": "CONSUMER", "status": "MERGED", "merged_into": "C1"},
                             {"id": "C3", "tier": "CONSUMER", "status": "ERASED"}]),
        node_op("Channel", [{"id": "CALL_CENTRE", "name": "Call centre", "kind": "ASSISTED"}]),
        node_op("Product", [{"id": "P1", "name": "Fibre", "category": "BROADBAND", "monthly_price": 60.0}]),
    ])
    return store


def test_status_is_derived_from_outcome_and_resolution_time() -> None:
    assert complaints.status_of("OPEN", None) == "OPEN"
    assert complaints.status_of("ESCALATED", None) == "ESCALATED"
    assert complaints.status_of("ESCALATED", NOW) == "RESOLVED"  # closed without rewriting the outcome
    assert complaints.status_of("INFORMED", None) == "RESOLVED"


def test_a_complaint_from_open_through_escalation_to_resolved(crm: GraphStore) -> None:
    opened_at = NOW - timedelta(hours=30)
    opened = complaints.open_complaint(crm, "C1", "  Invoice too high ", "CALL_CENTRE", NOW, at=opened_at,
                                       product_id="P1")
    assert opened.subject == "Invoice too high" and opened.status == "OPEN"
    stored = complaints.get(crm, opened.id)
    assert stored is not None
    assert (stored.customer_id, stored.channel_id, stored.product_id) == ("C1", "CALL_CENTRE", "P1")
    assert stored.opened_at == opened_at and stored.open_hours(NOW) == pytest.approx(30.0)

    assert complaints.escalate(crm, opened.id).status == "ESCALATED"
    assert complaints.get(crm, opened.id).outcome == "ESCALATED"  # type: ignore[union-attr]
    with pytest.raises(Conflict, match="already escalated"):
        complaints.escalate(crm, opened.id)

    resolved = complaints.resolve(crm, opened.id, NOW, at=NOW - timedelta(hours=6), satisfaction=4)
    again = complaints.get(crm, opened.id)
    assert again == resolved
    assert again.status == "RESOLVED" and again.satisfaction == 4  # type: ignore[union-attr]
    assert again.resolution_hours == pytest.approx(24.0) and again.open_hours(NOW) is None  # type: ignore[union-attr]
    with pytest.raises(Conflict, match="already resolved"):
        complaints.resolve(crm, opened.id, NOW)
    with pytest.raises(Conflict):
        complaints.escalate(crm, opened.id)


@pytest.mark.parametrize(("args", "error", "field"), [
    (("C1", "   ", "CALL_CENTRE"), InvalidInput, "subject"),
    (("C1", "x" * 501, "CALL_CENTRE"), InvalidInput, "subject"),
    (("C9", "Late", "CALL_CENTRE"), NotFound, "customerId"),
    (("C2", "Late", "CALL_CENTRE"), InvalidInput, "customerId"),  # merged: record it on C1
    (("C3", "Late", "CALL_CENTRE"), Conflict, "customerId"),      # erased
    (("C1", "Late", "FAX"), NotFound, "channelId"),
])
def test_bad_complaints_are_refused_and_nothing_is_written(crm: GraphStore, args: tuple, error: type,
                                                          field: str) -> None:
    with pytest.raises(error) as caught:
        complaints.open_complaint(crm, *args, NOW)
    assert caught.value.field == field
    assert crm.contacts_of_customers(["C1", "C2", "C3"]) in ({}, {"C1": [], "C2": [], "C3": []})


def test_times_and_scores_out_of_range_are_refused(crm: GraphStore) -> None:
    with pytest.raises(InvalidInput) as future:
        complaints.open_complaint(crm, "C1", "Late", "CALL_CENTRE", NOW, at=NOW + timedelta(hours=1))
    assert future.value.field == "at"
    with pytest.raises(NotFound) as product:
        complaints.open_complaint(crm, "C1", "Late", "CALL_CENTRE", NOW, product_id="P9")
    assert product.value.field == "productId"
    opened = complaints.open_complaint(crm, "C1", "Late", "CALL_CENTRE", NOW, at=NOW - timedelta(hours=2))
    for kwargs, field in (({"satisfaction": 6}, "satisfaction"), ({"at": NOW - timedelta(hours=3)}, "at"),
                          ({"at": NOW + timedelta(hours=1)}, "at")):
        with pytest.raises(InvalidInput) as caught:
            complaints.resolve(crm, opened.id, NOW, **kwargs)
        assert caught.value.field == field
    assert complaints.get(crm, opened.id).status == "OPEN"  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        complaints.resolve(crm, "KC-NONE", NOW)
    assert complaints.get(crm, "KC-NONE") is None
