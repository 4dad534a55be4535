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
