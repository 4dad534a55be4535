"""LadybugDB 0.22 keeps buffer-pool memory per statement that reads an Arrow
parameter until its connection closes; the store replaces connections so a
long-running server does not fill its pool ("buffer pool is full") with small writes."""

from __future__ import annotations

from pathlib import Path

from graph.ladybug_store import LadybugStore
from graph.store import node_op


def test_many_small_writes_and_keyed_reads_do_not_fill_the_buffer_pool(tmp_path: Path) -> None:
    store = LadybugStore(tmp_path / "m.lbdb", buffer_pool_mb=64)
    try:
        store.write([node_op("Customer", [{"id": "C1", "status": "ACTIVE"}, {"id": "C2", "status": "ACTIVE"}])])
        # Without recycling, a 64 MiB pool is full after ~160 such statements.
        for i in range(500):
            store.write([node_op("Customer", [{"id": "C1", "country": f"X{i}"}])])
            assert store.existing_ids("Customer", ["C1", "C2", "C3"]) == {"C1", "C2"}
        assert store.customers(["C1"])["C1"]["country"] == "X499"
    finally:
        store.close()


def test_concurrent_searches_do_not_fill_the_buffer_pool_for_good(tmp_path: Path) -> None:
    """40 threads (a server's worker pool) running customer searches with a spend range on a
    64 MiB pool: before reads were gated and their connections pooled, 31 of 400 failed with
    "buffer pool is full" and afterwards 41 of 50 single searches still failed (idle per-thread
    connections kept the pages). Now none fails, during or after."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    from cdp.demo import telecom as demo
    from graph.queries import CustomerFilter

    data = demo.generate(2000, seed=7)
    loader = LadybugStore(tmp_path / "s.lbdb", buffer_pool_mb=1024)
    loader.bulk_load(data.nodes, data.relationships)
    loader.close()
    store = LadybugStore(tmp_path / "s.lbdb", buffer_pool_mb=64)
    try:
        def search(i: int) -> int:
            rng = random.Random(i)
            flt = CustomerFilter(spend_min=float(rng.randrange(0, 80)))
            sort = rng.choice(["ID", "LAST_NAME", "JOINED_ON", "CITY", "MONTHLY_SPEND"])
            page = store.find_customers(flt, sort, rng.random() < 0.5, 0, 20)
            assert store.count_customers(flt) >= len(page)
            return len(page)

        with ThreadPoolExecutor(40) as pool:
            pages = list(pool.map(search, range(400)))
        assert all(0 < n <= 20 for n in pages)
        assert all(search(i) > 0 for i in range(50))
        assert len(store._readers) <= store.max_concurrent_reads
    finally:
        store.close()
