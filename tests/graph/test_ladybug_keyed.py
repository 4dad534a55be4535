"""The embedded store's two ways to answer a keyed read give the same rows.

A keyed read of up to ``PER_KEY_LIMIT`` keys runs ``Query.ladybug_per_key``
once per key (primary-key lookups); a larger one runs the ``IN $ids`` text
once. Both are compared here on the demo data for every keyed read the API
makes, so a per-key text that drifts from its batch text fails.
"""

from __future__ import annotations

import pytest

from graph import ladybug_store
from graph import queries as Q
from graph.cypher import Query
from graph.store import GraphStore


def _reads(store: GraphStore, customers: list[str], accounts: list[str], products: list[str]) -> dict:
    return {
        "customers": store.customers(customers),
        "accounts": store.accounts_of_customers(customers),
        "contacts": store.contacts_of_customers(customers),
        "preferences": store.preferred_channels(customers),
        "subscriptions": store.subscriptions_of_accounts(accounts),
        "events": store.monetary_events_of_accounts(accounts),
        # products() is served from the cached catalogue: read the keyed query itself
        "products": sorted(store._read_keyed(Q.PRODUCTS_BY_IDS, products), key=lambda r: r["p"]["id"]),
        "components": store.bundle_components(products),
        "existing": store.existing_ids("Customer", [*customers, "NO-SUCH-ID"]),
    }


def test_per_key_and_batch_reads_agree(demo_store: GraphStore, demo_data, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    if demo_store.backend != "ladybug":
        pytest.skip("the embedded store's per-key reads")
    customers = demo_data.nodes["Customer"].column("id").to_pylist()[:40]
    holds = demo_data.relationships["HOLDS"].to_pandas()
    accounts = holds[holds["from"].isin(customers)]["to"].tolist()
    products = demo_data.nodes["Product"].column("id").to_pylist()
    assert accounts and products

    calls, statements = demo_store.call_count, demo_store.query_count
    per_key = _reads(demo_store, customers, accounts, products)
    assert demo_store.call_count - calls == 9
    assert demo_store.query_count - statements > 9  # one lookup per key

    monkeypatch.setattr(ladybug_store, "PER_KEY_LIMIT", 0)
    statements = demo_store.query_count
    batch = _reads(demo_store, customers, accounts, products)
    assert demo_store.query_count - statements == 9  # one statement per call

    assert per_key == batch
    assert per_key["existing"] == set(customers)
    assert sum(map(len, per_key["accounts"].values())) == len(accounts)


def _keyed_queries() -> list[Query]:
    fixed = [q for q in vars(Q).values() if isinstance(q, Query)]
    return [q for q in [*fixed, *Q.EXISTING_IDS.values()] if q.ladybug_per_key]


@pytest.mark.parametrize("query", _keyed_queries(), ids=lambda q: q.name)
def test_per_key_text_binds_one_id_and_returns_the_batch_columns(query: Query) -> None:
    one, batch = query.ladybug_per_key, query.text("ladybug")
    assert one is not None and "$id}" in one and "$ids" not in one
    assert one.split(" RETURN ", 1)[1] == batch.split(" RETURN ", 1)[1]


def test_the_api_reads_have_per_key_texts() -> None:
    names = {q.name for q in _keyed_queries()}
    assert {"customers_by_ids", "accounts_by_customers", "subscriptions_by_accounts", "products_by_ids",
            "contacts_by_customers", "preferred_channels",
            "monetary_events_by_accounts"} <= names


def test_an_older_store_gets_the_properties_added_since(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A store file made before a property existed is upgraded on open: the
    property is added (null for existing rows) and reads and writes work."""
    import ladybug

    from graph.ladybug_store import LadybugStore
    from graph.store import node_op

    path = tmp_path / "old.lbdb"
    db = ladybug.Database(str(path), buffer_pool_size=64 * 1024 * 1024)
    conn = ladybug.Connection(db)
    conn.execute("CREATE NODE TABLE Customer(id STRING, first_name STRING, status STRING, PRIMARY KEY(id))")
    conn.execute("CREATE (:Customer {id: 'OLD-1', first_name: 'Ada', status: 'ACTIVE'})")
    conn.close()
    db.close()
    store = LadybugStore(path, buffer_pool_mb=64)
    try:
        row = store.customers(["OLD-1"])["OLD-1"]
        assert row["first_name"] == "Ada" and row["merged_into"] is None and row["tier"] is None
        store.write([node_op("Customer", [{"id": "OLD-1", "merged_into": "C-2", "tier": "CONSUMER"}])])
        again = store.customers(["OLD-1"])["OLD-1"]
        assert again["merged_into"] == "C-2" and again["first_name"] == "Ada"
        assert store.projection_table("customers").num_rows == 1
    finally:
        store.close()
