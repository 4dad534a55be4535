"""Observations with provenance (``cdp.customers.provenance``) on the real stores: what a source says
about a customer becomes values owned by the identity ``<SOURCE>:<id>`` with the source's trust and
observation time; unchanged values add nothing, so recording the same again is a no-op."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from cdp.customers import provenance
from graph.store import GraphStore, node_op

SEEN = datetime(2024, 5, 1, 9, 0)
LATER = datetime(2024, 5, 2, 9, 0)


def record(store: GraphStore, rows: list[dict], at: datetime) -> None:
    """What an import does: write the rows and record them as observations of CRM (trust 0.8)."""
    table = pa.Table.from_pylist(rows)
    stored = store.nodes("Customer", [r["id"] for r in rows])
    ops = provenance.observation_ops(store, "CRM", 0.8, table, stored, [at] * len(rows))
    provenance.write_observations(store, [node_op("Customer", rows), *ops])


def values(store: GraphStore, customer: str) -> list[tuple]:
    return sorted((v["key"], v["value"], v["identity_id"], v["source"], v["accuracy"], v["observed_at"])
                  for v in store.attribute_values_of_customers([customer]).get(customer, []))


def test_a_source_saying_something_new_records_it_with_provenance(store: GraphStore) -> None:
    record(store, [{"id": "C1", "email": "ada@example.com", "city": "Utrecht"}], SEEN)
    assert values(store, "C1") == [("city", "Utrecht", "CRM:C1", "CRM", 0.8, SEEN),
                                   ("email", "ada@example.com", "CRM:C1", "CRM", 0.8, SEEN)]
    identity = store.identities_of_customers(["C1"])["C1"]
    assert [(i["id"], i["source"], i["source_key"], i["matched_by"]) for i in identity] == [
        ("CRM:C1", "CRM", "C1", "SEED")]


def test_recording_the_same_again_adds_nothing_and_a_change_adds_one_value(store: GraphStore) -> None:
    record(store, [{"id": "C1", "email": "ada@example.com", "city": "Utrecht"}], SEEN)
    record(store, [{"id": "C1", "email": "ada@example.com", "city": "Utrecht"}], LATER)
    assert len(values(store, "C1")) == 2
    assert len(store.identities_of_customers(["C1"])["C1"]) == 1
    record(store, [{"id": "C1", "email": "ada@example.com", "city": "Delft"}], LATER)
    assert [v[:2] for v in values(store, "C1")] == [("city", "Delft"), ("city", "Utrecht"),
                                                    ("email", "ada@example.com")]


def test_custom_attributes_are_recorded_once_per_change(store: GraphStore) -> None:
    store.write([node_op("Customer", [{"id": "C1"}, {"id": "C2"}])])
    ids = pa.array(["C1", "C2"], pa.string())
    said = {"favourite_team": pa.array(["Ajax", None], pa.string())}
    at = pa.array([SEEN, SEEN], pa.timestamp("us"))
    ops, recorded, unchanged = provenance.attribute_ops(store, "CRM", 0.8, ids, said, at)
    assert (recorded, unchanged) == (1, 0)
    assert provenance.identities_in(ops) == {"CRM:C1"}  # C2 said nothing: no identity for it
    provenance.write_observations(store, ops)
    assert [v[:3] for v in values(store, "C1")] == [("favourite_team", "Ajax", "CRM:C1")]
    assert values(store, "C2") == []
    again, recorded, unchanged = provenance.attribute_ops(store, "CRM", 0.8, ids, said,
                                                          pa.array([LATER, LATER], pa.timestamp("us")))
    assert (again, recorded, unchanged) == ([], 0, 1)


def test_settled_ids_name_one_observation_each(store: GraphStore) -> None:
    record(store, [{"id": "C1", "email": "ada@example.com"}], SEEN)
    stored = store.attribute_values_of_customers(["C1"])["C1"][0]
    row = {k: stored[k] for k in ("id", "key", "value", "source", "identity_id", "observed_at", "accuracy")}
    # The same observation keeps its id; another with a clashing id moves to a free one.
    same, clash = provenance.settle_rows(store, [row, {**row, "key": "phone", "value": "+31612345678"}])
    assert same["id"] == stored["id"]
    assert clash["id"] != stored["id"]
