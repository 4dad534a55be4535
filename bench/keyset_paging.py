"""Deep customer pages: the keyset read (``GraphStore.customer_keyset``) against the offset
read it replaced (``find_customers`` with SKIP), on the embedded store (docs/benchmarks.md).

Loads ``--customers`` synthetic customers (id, last name, city, join date; no accounts)
into a fresh embedded store, then times pages of 20 at several depths for the ID and
LAST_NAME orders: the offset read skips ``depth`` rows, the keyset read starts past the
cursor of the row at ``depth - 1``. Prints the median of ``--repeat`` reads per case.

Then, for one customer's contacts (``--contact-customers`` demo customers, the busiest
one), the read the API uses (every contact of the customer by key, paged in Python:
``Customer.contacts``) against the keyset traversal it would take to page in the store
(ORDER BY / WHERE on the contacts; bench-only Cypher, measured and not used: docs/api.md).

    .venv/bin/python bench/keyset_paging.py --customers 200000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa

# bench/ itself off the path: its neo4j.py would shadow the driver
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdp.demo import telecom as demo  # noqa: E402
from graph.cypher import Query  # noqa: E402
from graph.ladybug_store import LadybugStore  # noqa: E402
from graph.model import MODEL  # noqa: E402
from graph.neo4j_store import Neo4jStore  # noqa: E402
from graph.queries import CustomerFilter  # noqa: E402
from graph.store import GraphStore  # noqa: E402

CITIES = ["Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven", "Groningen", None]


def customers(n: int) -> pa.Table:
    schema = MODEL.node("Customer").arrow_schema()
    rows = {
        "id": [f"C{i:08d}" for i in range(n)],
        "last_name": [None if i % 50 == 0 else f"Name{(i * 7919) % 100003:06d}" for i in range(n)],
        "city": [CITIES[i % len(CITIES)] for i in range(n)],
        "joined_on": [date(2000, 1, 1) + timedelta(days=(i * 37) % 9000) for i in range(n)],
    }
    columns = {f.name: pa.array(rows.get(f.name, [None] * n), type=f.type) for f in schema}
    return pa.table(columns, schema=schema)


def median_ms(read, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        read()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--contact-customers", type=int, default=5000)
    parser.add_argument("--neo4j", metavar="URI", help="measure the customer pages on this (wiped!) Neo4j "
                        "server instead of the embedded store (user neo4j, no password: tools/neo4j/local.py)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cdp-keyset-") as tmp:
        store: GraphStore
        if args.neo4j:
            store = Neo4jStore(args.neo4j, "neo4j", "")
            store.wipe()
        else:
            store = LadybugStore(Path(tmp) / "keyset.lbdb")
        store.bulk_load({"Customer": customers(args.customers)}, {})
        flt = CustomerFilter()
        where = "Neo4j" if args.neo4j else "embedded store"
        print(f"{args.customers:,} customers, {where}, page of 20, median of {args.repeat} reads (ms)")
        print(f"{'order':<10} {'depth':>9} {'offset':>9} {'keyset':>9}")
        for sort in ("ID", "LAST_NAME"):
            whole = store.customer_keyset(flt, sort, False, args.customers)
            for depth in (0, args.customers // 10, args.customers // 2, args.customers - 40):
                cursor = None if depth == 0 else (whole[depth - 1][1], whole[depth - 1][0])
                keyset = store.customer_keyset(flt, sort, False, 21, cursor)
                assert [i for i, _ in keyset] == [i for i, _ in whole[depth:depth + 21]]
                offset = median_ms(lambda s=sort, d=depth: store.find_customers(flt, s, False, d, 21), args.repeat)
                keyed = median_ms(lambda s=sort, c=cursor: store.customer_keyset(flt, s, False, 21, c), args.repeat)
                print(f"{sort:<10} {depth:>9,} {offset:>9.1f} {keyed:>9.1f}")
        if args.neo4j:
            store.wipe()
        store.close()
        if not args.neo4j:
            contacts(Path(tmp), args.contact_customers, args.repeat)


FIRST_CONTACTS = Query(
    "bench_contact_keyset_first",
    "MATCH (c:Customer {id: $id})-[:HAD_CONTACT]->(k:Contact)-[:VIA]->(ch:Channel) "
    "RETURN k, ch.id AS channel_id ORDER BY k.at DESC, k.id DESC LIMIT $limit", ("id", "limit"))
NEXT_CONTACTS = Query(
    "bench_contact_keyset_next",
    "MATCH (c:Customer {id: $id})-[:HAD_CONTACT]->(k:Contact)-[:VIA]->(ch:Channel) "
    "WHERE k.at < $at OR (k.at = $at AND k.id < $kid) "
    "RETURN k, ch.id AS channel_id ORDER BY k.at DESC, k.id DESC LIMIT $limit", ("id", "limit", "at", "kid"))


def contacts(tmp: Path, n: int, repeat: int) -> None:
    data = demo.generate(n, seed=3)
    store = LadybugStore(tmp / "contacts.lbdb")
    store.bulk_load(data.nodes, data.relationships)
    per_customer = data.relationships["HAD_CONTACT"].to_pandas().groupby("from").size()
    busiest = str(per_customer.idxmax())
    print(f"\none customer's contacts ({n:,} demo customers; the busiest has {per_customer.max()}, "
          f"the median {per_customer.median():.0f}), median of {repeat} reads (ms)")
    every = median_ms(lambda: store.contacts_of_customers([busiest]), repeat)
    print(f"every contact by key (the API's read, paged in Python) {every:>9.2f}")
    rows = store._read(FIRST_CONTACTS, {"id": busiest, "limit": 21})
    first = median_ms(lambda: store._read(FIRST_CONTACTS, {"id": busiest, "limit": 21}), repeat)
    mid = rows[len(rows) // 2]["k"]
    params = {"id": busiest, "limit": 21, "at": mid["at"], "kid": mid["id"]}
    following = median_ms(lambda: store._read(NEXT_CONTACTS, params), repeat)
    print(f"keyset traversal, first page                          {first:>9.2f}")
    print(f"keyset traversal, page after a cursor                 {following:>9.2f}")
    store.close()


if __name__ == "__main__":
    main()
