"""Integer observation ids: stable hashes, collisions settled against the store, old stores migrated."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import ladybug
import numpy as np
import pytest
import pyarrow as pa

from cdp.customers.provenance import settle_ids, value_ops, write_observations
from graph import queries as Q
from graph.ladybug_store import LadybugStore
from graph.observation_ids import distinct_ids, next_ids, value_id, value_ids
from graph.errors import IdTaken
from graph.store import GraphStore, node_op, relationship_op
from tests.conftest import NEO4J_TEST_URI, make_store

T = datetime(2025, 1, 2, 3, 4, 5)


def test_ids_are_stable_positive_and_vectorised() -> None:
    # A stored id must never change between versions: these are the ids of existing stores.
    assert value_id("CRM:C1", "email", T) == 3229446151585206354
    assert value_id("CRM:C1", "email", None) == 7756122796803140890
    many = value_ids(pa.array(["CRM:C1", "CRM:C2", "CRM:C1"]), "email",
                     pa.array([T, T, datetime(2025, 1, 2, 3, 4, 6)], pa.timestamp("us"))).to_pylist()
    assert many[0] == value_id("CRM:C1", "email", T)
    assert len(set(many)) == 3 and all(0 < i < 2**63 for i in many)
    per_row = value_ids(pa.array(["CRM:C1", "CRM:C1"]), pa.array(["email", "phone"]),
                        pa.array([T, T], pa.timestamp("us"))).to_pylist()
    assert per_row == [value_id("CRM:C1", "email", T), value_id("CRM:C1", "phone", T)]


def test_distinct_ids_moves_only_different_observations() -> None:
    ids = np.array([5, 5, 5, 7], np.int64)
    same = [("a",), ("a",), ("b",), ("c",)]
    out = distinct_ids(ids, same)
    assert out[0] == out[1] == 5 and out[2] == next_ids(np.array([5]))[0] and out[3] == 7


def _observation(owner: str, key: str, value: str) -> pa.Table:
    identity = f"CRM:{owner}"
    return pa.table({"id": value_ids(pa.array([identity]), key, pa.array([T], pa.timestamp("us"))),
                     "key": [key], "value": [value], "source": ["CRM"], "identity_id": [identity],
                     "observed_at": pa.array([T], pa.timestamp("us")), "owner": [owner]})


def _plant_collision(store: GraphStore) -> tuple[pa.Table, int]:
    """Store C1's phone under the id that C2's e-mail observation (returned) hashes to."""
    new = _observation("C2", "email", "b@example.org")
    taken = new.column("id")[0].as_py()
    store.write([node_op("Customer", [{"id": "C1"}, {"id": "C2"}]),
                 node_op("AttributeValue", [{"id": taken, "key": "phone", "value": "+31 6 1",
                                             "identity_id": "CRM:C1", "observed_at": T}]),
                 relationship_op("HAS_ATTRIBUTE", [{"from": "C1", "to": taken}])])
    return new, taken


def test_a_colliding_id_moves_along_a_fixed_sequence(store: GraphStore) -> None:
    """Another observation already holds the hash of a new one: the new one takes the next id,
    and recording it again finds that same id instead of adding a second node."""
    new, taken = _plant_collision(store)
    store.write(value_ops(settle_ids(store, new)))
    mine = store.attribute_values_of_customers(["C1", "C2"])
    assert [v["value"] for v in mine["C1"]] == ["+31 6 1"]  # untouched
    moved = mine["C2"][0]["id"]
    assert moved == next_ids(np.array([taken]))[0] and mine["C2"][0]["value"] == "b@example.org"
    again = settle_ids(store, new.set_column(2, "value", pa.array(["c@example.org"])))
    assert again.column("id").to_pylist() == [moved]
    store.write(value_ops(settle_ids(store, new.set_column(2, "value", pa.array(["c@example.org"])))))
    assert store.counts()["AttributeValue"] == 2
    assert store.attribute_values_of_customers(["C2"])["C2"][0]["value"] == "c@example.org"


def test_a_write_refuses_a_collision_and_write_observations_settles_it(store: GraphStore) -> None:
    """Imports settle ids within the batch only: the write itself finds the stored
    observation under the new one's id, refuses (IdTaken, nothing written), and
    ``write_observations`` moves the new one along the sequence and writes it with its link."""
    new, taken = _plant_collision(store)
    ops = value_ops(settle_ids(None, new))
    with pytest.raises(IdTaken) as refused:
        store.write(ops)
    assert refused.value.ids == [taken] and refused.value.code == "CONFLICT"
    assert store.counts()["AttributeValue"] == 1  # nothing written
    write_observations(store, ops)
    mine = store.attribute_values_of_customers(["C1", "C2"])
    assert [(v["id"], v["value"]) for v in mine["C1"]] == [(taken, "+31 6 1")]
    assert [(v["id"], v["value"]) for v in mine["C2"]] == [(next_ids(np.array([taken]))[0], "b@example.org")]
    # The same observation again (same identity, key, time) is an update, not a collision.
    write_observations(store, value_ops(settle_ids(None, new.set_column(2, "value", pa.array(["c@x.org"])))))
    assert store.counts()["AttributeValue"] == 2
    assert [v["value"] for v in store.attribute_values_of_customers(["C2"])["C2"]] == ["c@x.org"]
    # Updating a stored observation's other properties by id alone is no collision either.
    store.write([node_op("AttributeValue", [{"id": taken, "verified": True}])])
    assert store.attribute_values_of_customers(["C1"])["C1"][0]["verified"] is True


def test_a_store_with_text_ids_is_migrated_once(tmp_path: Path) -> None:
    """A store written before ids were INT64 gets the new keys on open; values and links survive."""
    # The embedded file's old schema (a STRING key column) is written with LadybugDB's own
    # connection; the Neo4j case is the next test.
    path = tmp_path / "old.lbdb"
    db = ladybug.Database(str(path))
    conn = ladybug.Connection(db)
    for stmt in Q.ladybug_schema_statements():
        text = stmt.text("ladybug")
        conn.execute(text.replace("id INT64", "id STRING") if "TABLE IF NOT EXISTS AttributeValue(" in text
                     else text)
    conn.execute("CREATE (:Customer {id: 'C1'}), (:Customer {id: 'C2'})")
    for owner, key, value in (("C1", "email", "a@x"), ("C1", "phone", "+31"), ("C2", "email", "b@x")):
        conn.execute(f"CREATE (:AttributeValue {{id: 'CRM:{owner}|{key}', key: '{key}', value: '{value}', "
                     f"source: 'CRM', identity_id: 'CRM:{owner}', observed_at: timestamp('2025-01-02 03:04:05')}})")
        conn.execute(f"MATCH (c:Customer {{id: '{owner}'}}), (v:AttributeValue {{id: 'CRM:{owner}|{key}'}}) "
                     "CREATE (c)-[:HAS_ATTRIBUTE]->(v)")
    conn.execute("CREATE (:AttributeValue {id: 'no-owner', key: 'k', value: 'v'})")
    conn.close()
    db.close()

    store = LadybugStore(path)
    try:
        values = store.attribute_values_of_customers(["C1", "C2"])
        assert {(v["key"], v["value"], v["id"]) for v in values["C1"]} == {
            ("email", "a@x", value_id("CRM:C1", "email", T)), ("phone", "+31", value_id("CRM:C1", "phone", T))}
        assert [v["value"] for v in values["C2"]] == ["b@x"]
        assert store.counts()["AttributeValue"] == 4 and store.counts()["HAS_ATTRIBUTE"] == 3
    finally:
        store.close()
    again = LadybugStore(path)  # already migrated: opening changes nothing
    try:
        assert again.counts()["AttributeValue"] == 4
        assert {v["id"] for v in again.attribute_values_of_customers(["C1"])["C1"]} == {
            value_id("CRM:C1", "email", T), value_id("CRM:C1", "phone", T)}
    finally:
        again.close()


def test_a_neo4j_store_with_text_ids_is_migrated_once(tmp_path: Path) -> None:
    """On Neo4j the same: values an older cdp stored with text ids get integer ids when a
    store opens; their links survive, and opening again changes nothing."""
    if not NEO4J_TEST_URI:
        pytest.skip("needs the Neo4j test server (CDP_TEST_NEO4J_URI)")
    import neo4j

    make_store("neo4j", tmp_path).close()  # wiped, schema made
    with neo4j.GraphDatabase.driver(NEO4J_TEST_URI, auth=("neo4j", "")) as driver:
        # An older cdp's data, written as it wrote it (test data only: cdp's statements are in graph/).
        driver.execute_query("CREATE (:Customer {id: 'C1'}), (:Customer {id: 'C2'})", database_="neo4j")
        for owner, key, value in (("C1", "email", "a@x"), ("C1", "phone", "+31"), ("C2", "email", "b@x")):
            driver.execute_query(
                "MATCH (c:Customer {id: $owner}) CREATE (c)-[:HAS_ATTRIBUTE]->(:AttributeValue {id: $id, "
                "key: $key, value: $value, source: 'CRM', identity_id: $identity, "
                "observed_at: localdatetime('2025-01-02T03:04:05')})",
                {"owner": owner, "id": f"CRM:{owner}|{key}", "key": key, "value": value, "identity": f"CRM:{owner}"},
                database_="neo4j")
        driver.execute_query("CREATE (:AttributeValue {id: 'no-owner', key: 'k', value: 'v'})", database_="neo4j")
    for _ in range(2):  # the second open finds nothing to migrate
        store = make_store("neo4j", tmp_path, wipe=False)
        try:
            values = store.attribute_values_of_customers(["C1", "C2"])
            assert {(v["key"], v["value"], v["id"]) for v in values["C1"]} == {
                ("email", "a@x", value_id("CRM:C1", "email", T)), ("phone", "+31", value_id("CRM:C1", "phone", T))}
            assert [v["value"] for v in values["C2"]] == ["b@x"]
            assert store.counts()["AttributeValue"] == 4 and store.counts()["HAS_ATTRIBUTE"] == 3
        finally:
            store.close()
