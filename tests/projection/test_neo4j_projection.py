"""Neo4j's columnar projection reads (issue 19, item 5): one record of ``collect()`` lists per
slice, absent values encoded, times as ISO text. They must give exactly the tables the
embedded store gives for the same data, nulls included."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from cdp.projection.tables import FACTS, build
from graph.store import GraphStore
from tests.conftest import NEO4J_TEST_URI, make_store

pytestmark = pytest.mark.skipif(not NEO4J_TEST_URI, reason="needs a Neo4j (CDP_TEST_NEO4J_URI; make test starts one)")


@pytest.fixture(scope="module")
def both(demo_data, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The demo data in LadybugDB and in Neo4j, plus customers with absent values of every type."""
    stores = [make_store("ladybug", tmp_path_factory.mktemp("lady")), make_store("neo4j", Path("."))]
    first = min(demo_data.nodes["Customer"].column("id").to_pylist())
    for store in stores:
        store.bulk_load(demo_data.nodes, demo_data.relationships)
        store.upsert_nodes("Customer", [
            {"id": "ZZ-ABSENT", "first_name": None, "birth_date": None, "tier": None},
            {"id": "ZZ-EMPTY", "first_name": "", "birth_date": date(1970, 1, 1), "tier": "GOLD",
             "joined_on": date(2001, 2, 3)},
        ])
        store.upsert_nodes("Contact", [
            {"id": "ZZ-K1", "at": datetime(2026, 5, 6, 7, 8, 9, 123456), "kind": "CALL", "satisfaction": None,
             "wave": 3, "resolved_at": None},
            {"id": "ZZ-K2", "at": datetime(2026, 5, 6, 7, 8, 9), "kind": "CALL", "satisfaction": 4, "wave": None},
        ])
        store.upsert_relationships("HAD_CONTACT", [{"from": "ZZ-ABSENT", "to": "ZZ-K1"},
                                                   {"from": "ZZ-ABSENT", "to": "ZZ-K2"}])
        channel = next(iter(store.channels()))
        store.upsert_relationships("VIA", [{"from": "ZZ-K1", "to": channel}, {"from": "ZZ-K2", "to": channel}])
        store.upsert_nodes("AttributeValue", [  # custom attributes beside the demo's consents, with absent values
            {"id": 9001, "key": "pet", "value": "cat", "source": "crm", "observed_at": datetime(2026, 1, 1),
             "accuracy": 0.5, "customer_maintained": True, "verified": None, "expires_at": None},
            {"id": 9002, "key": "pet", "value": None, "source": "crm", "observed_at": datetime(2026, 1, 2),
             "accuracy": None, "customer_maintained": False, "verified": True, "expires_at": datetime(2027, 1, 1)},
        ])
        store.upsert_relationships("HAS_ATTRIBUTE", [{"from": first, "to": 9001}, {"from": "ZZ-ABSENT", "to": 9002}])
    yield stores
    stores[1].wipe()
    for store in stores:
        store.close()


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(name, "ascending") for name in table.column_names
                          if not pa.types.is_boolean(table.schema.field(name).type)])


def test_the_columnar_customers_table_equals_the_embedded_one(both: list[GraphStore]) -> None:
    lady, neo = (store.projection_table("customers") for store in both)
    assert neo.schema == lady.schema
    assert _sorted(neo).equals(_sorted(lady))
    absent = neo.filter(pa.compute.equal(neo.column("id"), "ZZ-ABSENT")).to_pylist()[0]
    assert absent["first_name"] is None and absent["birth_date"] is None and absent["tier"] is None
    empty = neo.filter(pa.compute.equal(neo.column("id"), "ZZ-EMPTY")).to_pylist()[0]
    assert empty["first_name"] == "" and empty["birth_date"] == date(1970, 1, 1)


@pytest.mark.parametrize("fact", FACTS)
def test_each_columnar_fact_slice_equals_the_embedded_one(both: list[GraphStore], fact: str) -> None:
    ids = sorted(both[0].projection_table("customers").column("id").to_pylist())
    between = (ids[0], ids[len(ids) // 2])
    lady, neo = (store.projection_table(fact, between=between) for store in both)
    assert neo.schema == lady.schema and neo.num_rows == lady.num_rows > 0
    assert _sorted(neo).equals(_sorted(lady))
    # Keyed reads (what an incremental refresh runs) are columnar too.
    keyed = [ids[1], ids[2], "ZZ-ABSENT"]
    if fact == "attributes":  # the keyed customers' values (the demo's consents among them), absent ids none
        keyed_neo, keyed_lady = (store.projection_table(fact, keyed) for store in both)
        assert keyed_neo.num_rows == keyed_lady.num_rows
        assert _sorted(keyed_neo).equals(_sorted(keyed_lady))
        assert set(keyed_neo.column("customer").to_pylist()) <= set(keyed)
    lady, neo = (store.projection_table(fact, keyed) for store in both)
    assert _sorted(neo).equals(_sorted(lady))


def test_absent_numbers_and_times_stay_absent(both: list[GraphStore]) -> None:
    contacts = both[1].projection_table("contacts", ["ZZ-ABSENT"])
    rows = {r["at"]: r for r in contacts.to_pylist()}
    assert rows[datetime(2026, 5, 6, 7, 8, 9, 123456)]["satisfaction"] is None
    assert rows[datetime(2026, 5, 6, 7, 8, 9, 123456)]["wave"] == 3
    assert rows[datetime(2026, 5, 6, 7, 8, 9)]["wave"] is None
    assert rows[datetime(2026, 5, 6, 7, 8, 9)]["resolved_at"] is None


def test_a_parallel_build_equals_a_serial_one(both: list[GraphStore]) -> None:
    neo = both[1]
    parallel = build(neo, slice_customers=37)  # several slices on several readers
    neo.projection_readers = 1
    try:
        serial = build(neo)
    finally:
        neo.projection_readers = type(neo).projection_readers
    assert list(parallel.ids) == list(serial.ids) and _plain(parallel.customers).equals(_plain(serial.customers))
    for fact in FACTS:
        assert _rows(parallel.fact(fact)).equals(_rows(serial.fact(fact))), fact


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with categoricals as plain values (category order depends on read order)."""
    return frame.astype({c: object for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)})


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    plain = _plain(frame)
    return plain.sort_values(list(plain.columns)).reset_index(drop=True)
