"""The analytic projection: a full build matches the store, and writes are
applied incrementally (only the touched customers are re-read) with the same
result as a full rebuild."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from cdp.projection.tables import Projection, build
from graph.store import GraphStore, node_op, relationship_op


@pytest.fixture()
def small_store(store: GraphStore, demo_data) -> GraphStore:  # type: ignore[no-untyped-def]
    """A store (each backend) holding the demo data."""
    store.bulk_load(demo_data.nodes, demo_data.relationships)
    return store


def _canonical(frame: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    """A fact frame with customer ids instead of rows, sorted, for comparisons."""
    out = frame.copy()
    out.insert(0, "customer", ids.to_numpy()[out.pop("row").to_numpy()])
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype(object)
    return out.sort_values(list(out.columns)).reset_index(drop=True)


def test_build_matches_the_store(small_store: GraphStore, demo_data) -> None:  # type: ignore[no-untyped-def]
    data = build(small_store)
    customers = demo_data.nodes["Customer"]
    assert data.size == customers.num_rows
    assert list(data.ids) == sorted(customers.column("id").to_pylist())
    assert len(data.fact("accounts")) == demo_data.relationships["HOLDS"].num_rows
    assert len(data.fact("contacts")) == demo_data.relationships["HAD_CONTACT"].num_rows
    assert len(data.fact("subscriptions")) == demo_data.relationships["OF_PRODUCT"].num_rows
    assert len(data.fact("events")) == demo_data.relationships["HAS_EVENT"].num_rows
    # Every contact row points at the customer that had it.
    had = demo_data.relationships["HAD_CONTACT"].to_pandas()
    expected = had.groupby("from").size().sort_index()
    contacts = data.fact("contacts")
    got = pd.Series(data.ids.to_numpy()[contacts["row"].to_numpy()]).value_counts().sort_index()
    assert got.to_dict() == expected.to_dict()
    # Enumerations are categoricals over the model's values; dates are datetime64.
    assert list(data.customers["tier"].cat.categories) == ["KEY_ACCOUNT", "BUSINESS", "CONSUMER"]
    assert data.customers["joined_on"].dtype.kind == "M"
    assert set(data.products.index) == {r["id"] for r in small_store.products().values()}
    assert data.bundles and all(data.bundles.values())
    assert data.base().sum() == data.size


def test_slices_give_the_same_tables(small_store: GraphStore) -> None:
    whole = build(small_store, slice_customers=10_000)
    sliced = build(small_store, slice_customers=7)
    for fact in whole.facts:
        pd.testing.assert_frame_equal(_canonical(whole.fact(fact), whole.ids),
                                      _canonical(sliced.fact(fact), sliced.ids))


def test_writes_are_applied_incrementally(small_store: GraphStore) -> None:
    projection = Projection(small_store)
    before = projection.data()
    customer_id = before.ids[5]
    row = before.row_of(customer_id)
    contacts_before = int((before.fact("contacts")["row"] == row).sum())
    small_store.write([
        node_op("Customer", [{"id": "C-NEW-1", "first_name": "Nel", "tier": "BUSINESS", "status": "ACTIVE",
                              "city": "Nieuwstad", "joined_on": date(2026, 1, 2)}]),
        node_op("Contact", [{"id": "K-NEW-1", "at": datetime(2026, 11, 1, 10), "direction": "INBOUND",
                             "kind": "COMPLAINT", "outcome": "OPEN"},
                            {"id": "K-NEW-2", "at": datetime(2026, 11, 2, 10), "direction": "INBOUND",
                             "kind": "INQUIRY", "outcome": "RESOLVED"}]),
        relationship_op("HAD_CONTACT", [{"from": customer_id, "to": "K-NEW-1"}, {"from": "C-NEW-1", "to": "K-NEW-2"}]),
        relationship_op("VIA", [{"from": "K-NEW-1", "to": "CALL_CENTRE"}, {"from": "K-NEW-2", "to": "WEB"}]),
    ])
    after = projection.data()
    assert after.version > before.version
    assert projection.last_refresh.rebuilt is False
    assert projection.last_refresh.customers == 2  # only the two touched customers were re-read
    assert int((after.fact("contacts")["row"] == row).sum()) == contacts_before + 1
    new_row = after.row_of("C-NEW-1")
    assert new_row == before.size  # new customers are appended; existing rows keep their numbers
    assert after.customers["city"][new_row] == "Nieuwstad"
    assert after.customers["tier"][new_row] == "BUSINESS"
    new_contacts = after.fact("contacts")[after.fact("contacts")["row"] == new_row]
    assert list(new_contacts["channel"].astype(str)) == ["WEB"]
    # The old snapshot is untouched (readers keep a consistent view).
    assert before.size == after.size - 1
    assert int((before.fact("contacts")["row"] == row).sum()) == contacts_before

    # An update through an owned node (a contact's outcome) is traced to its customer.
    small_store.write([node_op("Contact", [{"id": "K-NEW-1", "outcome": "RESOLVED"}])])
    latest = projection.data()
    assert projection.last_refresh.customers == 1
    mine = latest.fact("contacts")[latest.fact("contacts")["row"] == row]
    assert "RESOLVED" in set(mine["outcome"].astype(str)) and "OPEN" not in set(
        mine.loc[mine["kind"] == "COMPLAINT", "outcome"].astype(str)) - set(
        before.fact("contacts").loc[(before.fact("contacts")["row"] == row)
                                    & (before.fact("contacts")["kind"] == "COMPLAINT"), "outcome"].astype(str))

    # Incremental state equals a full rebuild.
    rebuilt = build(small_store)
    for fact in rebuilt.facts:
        pd.testing.assert_frame_equal(_canonical(latest.fact(fact), latest.ids),
                                      _canonical(rebuilt.fact(fact), rebuilt.ids))
    ours = latest.customers.assign(id=latest.ids.to_numpy()).sort_values("id").reset_index(drop=True)
    theirs = rebuilt.customers.sort_values("id").reset_index(drop=True)
    for column in theirs.columns:
        assert list(ours[column].astype(object).fillna("~")) == list(theirs[column].astype(object).fillna("~")), column


def test_deleted_customers_leave_the_base(small_store: GraphStore) -> None:
    projection = Projection(small_store)
    data = projection.data()
    gone = data.ids[0]
    small_store.delete_nodes("Customer", [gone])
    after = projection.data()
    assert after.row_of(gone) is None
    assert after.base().sum() == data.base().sum() - 1
    assert not (after.fact("contacts")["row"] == 0).any()


def test_a_wipe_rebuilds(small_store: GraphStore) -> None:
    projection = Projection(small_store)
    assert projection.data().size > 0
    small_store.wipe()
    assert projection.data().size == 0
    assert projection.last_refresh.rebuilt


def test_listeners_hear_changed_rows(small_store: GraphStore) -> None:
    projection = Projection(small_store)
    heard: list[object] = []
    projection.listeners.append(lambda snapshot, rows: heard.append(None if rows is None else list(rows)))
    data = projection.data()
    small_store.write([node_op("Customer", [{"id": data.ids[3], "city": "Elders"}])])
    projection.data()
    assert heard == [None, [3]]


def test_a_bad_listener_does_not_break_refresh(store: GraphStore) -> None:
    projection = Projection(store)
    projection.listeners.append(lambda snapshot, rows: 1 / 0)
    store.write([node_op("Customer", [{"id": "X1", "status": "ACTIVE"}])])
    assert list(projection.data().ids) == ["X1"]
    assert np.all(projection.data().present)


def test_writes_outside_the_projection_change_nothing(small_store: GraphStore) -> None:
    projection = Projection(small_store)
    before = projection.data()
    small_store.write([node_op("ImportRun", [{"id": "RUN-1", "source": "CRM"}])])
    small_store.delete_nodes("ImportRun", ["RUN-1"])
    after = projection.data()
    assert after is before and after.version == before.version


def test_new_contacts_reread_contacts_only(small_store: GraphStore) -> None:
    """A new contact re-reads the customer's contacts, not their offers (an offer needs ABOUT)."""
    from cdp.projection.tables import touched_customers
    from graph.store import Changes

    customer = build(small_store).ids[0]
    changes = Changes()
    small_store.subscribe(changes.merge)
    small_store.write([
        node_op("Contact", [{"id": "K-NEW-9", "at": datetime(2026, 11, 1), "kind": "INQUIRY",
                             "direction": "INBOUND", "outcome": "OPEN"}]),
        relationship_op("HAD_CONTACT", [{"from": customer, "to": "K-NEW-9"}]),
        relationship_op("VIA", [{"from": "K-NEW-9", "to": "WEB"}]),
    ])
    assert changes.created == {"Contact": {"K-NEW-9"}}
    assert touched_customers(small_store, changes) == {"contacts": {customer}}
    about = Changes()
    small_store.subscribe(about.merge)
    small_store.write([node_op("Contact", [{"id": "K-NEW-9", "outcome": "RESOLVED"}]),
                       relationship_op("ABOUT", [{"from": "K-NEW-9", "to": "P-TV-PLUS"}])])
    assert touched_customers(small_store, about) == {"contacts": {customer}, "offers": {customer}}
