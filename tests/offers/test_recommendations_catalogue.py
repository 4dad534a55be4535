"""Recommendations on a store built only by ``cdp import`` (the real CLI), asked over the
real HTTP endpoint, on both backends: the channel catalogue is there from schema creation,
a catalogue without prices ranks by probability (and says so), a repeatable product
(a top-up) is offered again while held, and a catalogue of thousands of products answers
(issue 20, item 4). No timing is asserted: docs/benchmarks.md has the figures."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdp.offers.recommendations import EASE_MAX_ITEMS, UNPRICED
from cdp.settings import Settings
from graph.model import CHANNELS
from graph.store import GraphStore
from tests.conftest import BACKENDS, NEO4J_TEST_URI, api_client, gql, make_store

ROOT = Path(__file__).resolve().parents[2]

MAPPING = """
[source]
name = "SHOP"

[[entity]]
label = "Customer"
key = "customer"

[[entity]]
label = "Account"
key = "account"
[entity.columns]
type = { column = "account_type", values = { POST = "POSTPAID", PRE = "PREPAID" } }
status = { column = "account_status" }

[[entity]]
label = "Product"
key = "product"
[entity.columns]
name = "product_name"
lifecycle = "lifecycle"
repeatable = { column = "repeatable", convert = "bool" }

[[entity]]
label = "Subscription"
key = "subscription"
[entity.columns]
status = "subscription_status"
since = { column = "since", convert = "date" }

[[relationship]]
type = "HOLDS"
from = "Customer"
to = "Account"

[[relationship]]
type = "HAS_SUBSCRIPTION"
from = "Account"
to = "Subscription"

[[relationship]]
type = "OF_PRODUCT"
from = "Subscription"
to = "Product"
"""

HEADER = "customer,account,account_type,account_status,product,product_name,lifecycle,repeatable,subscription," \
         "subscription_status,since\n"

QUERY = """query($id: ID!, $first: Int!) { customer(id: $id) {
  recommendations(first: $first) { offer kind score margin expectedValue reasons channel bestTime } } }"""


def _row(customer: int, product: str, repeatable: bool = False) -> str:
    c = f"C{customer:03d}"
    return (f"{c},A-{c},PRE,ACTIVE,{product},Product {product},ACTIVE,{'yes' if repeatable else 'no'},"
            f"S-{c}-{product},ACTIVE,2024-01-{1 + customer % 28:02d}\n")


def small_catalogue() -> str:
    """60 customers, no prices anywhere. Everyone holds P1; half hold P2; a third hold P10;
    a fifth hold the repeatable top-up PTOP; P3..P9, P11, P12 are held once each."""
    rows = []
    for i in range(60):
        rows.append(_row(i, "P1"))
        if i % 2 == 0:
            rows.append(_row(i, "P2"))
        if i % 3 == 0:
            rows.append(_row(i, "P10"))
        if i % 5 == 0:
            rows.append(_row(i, "PTOP", repeatable=True))
    for k, p in enumerate(["P3", "P4", "P5", "P6", "P7", "P8", "P9", "P11", "P12"]):
        rows.append(_row(2 * k, p))
    return HEADER + "".join(rows)


def big_catalogue(products: int, customers: int) -> str:
    """``customers`` customers holding 12 products each out of ``products``, in overlapping runs,
    so every product is held and neighbours share products."""
    rows = []
    for i in range(customers):
        start = (i * products) // customers
        rows += [_row(i, f"Q{(start + k) % products:05d}") for k in range(12)]
    return HEADER + "".join(rows)


def cdp_import(backend: str, db: Path, mapping: Path, csv: Path) -> subprocess.CompletedProcess:
    """The real ``cdp import`` into the embedded store at ``db`` or the test Neo4j."""
    env = {**os.environ, "CDP_DB_PATH": str(db), "CDP_BUFFER_POOL_MB": "256", "PYTHONPATH": str(ROOT)}
    env.pop("NEO4J_URI", None)
    if backend == "neo4j":
        env["NEO4J_URI"] = NEO4J_TEST_URI
    return subprocess.run([sys.executable, "-m", "cdp.cli", "import", "--mapping", str(mapping), str(csv)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def imported_store(backend: str, tmp_path: Path, text: str) -> GraphStore:
    """A store of ``backend`` built only by ``cdp import`` of ``text`` (a CSV)."""
    db = tmp_path / "store.lbdb"
    if backend == "neo4j":
        make_store(backend, tmp_path).close()  # wiped: as new
    mapping, csv = tmp_path / "shop.toml", tmp_path / "shop.csv"
    mapping.write_text(MAPPING)
    csv.write_text(text)
    done = cdp_import(backend, db, mapping, csv)
    assert done.returncode == 0, done.stderr
    if backend == "ladybug":
        from graph.ladybug_store import LadybugStore

        return LadybugStore(db, buffer_pool_mb=256)
    from graph.neo4j_store import Neo4jStore

    return Neo4jStore(NEO4J_TEST_URI, "neo4j", "", "neo4j")


@pytest.fixture(params=BACKENDS)
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    store = imported_store(request.param, tmp_path, small_catalogue())
    yield store
    if request.param == "neo4j":
        store.wipe()
    store.close()


def test_imported_store_has_the_channel_catalogue_and_offers_work(shop: GraphStore, tmp_path: Path) -> None:
    assert sorted(shop.channels()) == sorted(c[0] for c in CHANNELS)
    with api_client(Settings(audit_log=tmp_path / "audit.jsonl"), shop) as client:
        body = gql(client, QUERY, {"id": "C001", "first": 5})
    assert "errors" not in body, body
    offers = body["data"]["customer"]["recommendations"]
    assert offers, "an imported store must answer with offers"
    assert all(o["channel"] in {c[0] for c in CHANNELS} and o["bestTime"] for o in offers)


def test_without_prices_offers_rank_by_probability_and_say_so(shop: GraphStore, tmp_path: Path) -> None:
    with api_client(Settings(audit_log=tmp_path / "audit.jsonl"), shop) as client:
        offers = gql(client, QUERY, {"id": "C001", "first": 5})["data"]["customer"]["recommendations"]
    scores = [o["score"] for o in offers]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
    # P2 (held by half of the P1 holders) beats P10 (a third), whatever their ids sort as.
    ids = [o["offer"] for o in offers]
    assert ids[:2] == ["P2", "P10"], ids
    assert all(UNPRICED in o["reasons"][-1] for o in offers)
    assert all(o["margin"] == 0 and o["expectedValue"] == 0 for o in offers)


def test_a_held_repeatable_product_is_offered_again_a_held_plan_is_not(shop: GraphStore, tmp_path: Path) -> None:
    with api_client(Settings(audit_log=tmp_path / "audit.jsonl"), shop) as client:
        offers = gql(client, QUERY, {"id": "C000", "first": 20})["data"]["customer"]["recommendations"]
    by_id = {o["offer"]: o for o in offers}
    assert "PTOP" in by_id, [o["offer"] for o in offers]  # C000 holds the top-up
    assert any("repeatable" in r for r in by_id["PTOP"]["reasons"])
    assert not {"P1", "P2", "P10"} & set(by_id)  # held, not repeatable


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_catalogue_of_thousands_of_products_answers(backend: str, tmp_path: Path) -> None:
    products = EASE_MAX_ITEMS + 1_000  # more held products than EASE takes: the sparse path
    store = imported_store(backend, tmp_path, big_catalogue(products, 400))
    try:
        with api_client(Settings(audit_log=tmp_path / "audit.jsonl"), store) as client:
            offers = gql(client, QUERY, {"id": "C000", "first": 5})["data"]["customer"]["recommendations"]
        held = {f"Q{k:05d}" for k in range(12)}
        assert len(offers) == 5 and not held & {o["offer"] for o in offers}
        # C000 holds Q00000..Q00011, C001 Q00010..Q00021, C399 Q03990..Q00001 (wrapping): the offers
        # come from what those neighbours hold.
        assert all(o["score"] > 0 for o in offers), offers
    finally:
        if backend == "neo4j":
            store.wipe()
        store.close()


def test_after_shutdown_long_work_stops_with_a_typed_error(shop: GraphStore, tmp_path: Path) -> None:
    """The app's shutdown (after CDP_SHUTDOWN_GRACE_SECONDS) cancels its analytics; the
    engine's build checks the flag between steps and answers SHUTTING_DOWN, not a 500."""
    with api_client(Settings(audit_log=tmp_path / "audit.jsonl"), shop) as client:
        analytics = client.app.state.analytics
        assert not analytics.cancellation.cancelled
        analytics.cancellation.cancel()  # what the lifespan's shutdown does (Analytics.close)
        body = gql(client, QUERY, {"id": "C001", "first": 5})
    assert body["errors"][0]["extensions"]["code"] == "SHUTTING_DOWN", body
    assert body["errors"][0]["path"] == ["customer", "recommendations"]
    with api_client(Settings(audit_log=tmp_path / "audit2.jsonl"), shop) as client:
        analytics = client.app.state.analytics
    assert analytics.cancellation.cancelled  # the lifespan's shutdown cancelled it
