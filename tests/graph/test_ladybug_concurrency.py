"""Reads on the embedded store under concurrency: they do not wait for a write transaction,
and the read gate admits waiting readers first come, first served (no starvation)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from cdp.demo import telecom as demo
from graph.ladybug_store import LadybugStore, ReadGate


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LadybugStore]:
    data = demo.generate(300, seed=5)
    s = LadybugStore(tmp_path_factory.mktemp("concurrency") / "c.lbdb", buffer_pool_mb=128)
    s.bulk_load(data.nodes, data.relationships)
    yield s
    s.close()


def test_reads_go_on_while_a_write_transaction_is_open(store: LadybugStore) -> None:
    ids = sorted(store.existing_ids("Customer", [f"C{i:07d}" for i in range(1, 40)]))
    assert ids, "the demo store has customers C0000001..."
    opened, finish = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def long_write() -> None:
        try:
            with store._transaction():  # what an import batch holds for seconds
                opened.set()
                finish.wait(30)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
            opened.set()

    writer = threading.Thread(target=long_write)
    writer.start()
    try:
        assert opened.wait(10)
        answered: list[int] = []
        reader = threading.Thread(target=lambda: answered.append(len(store.customers(ids))))
        reader.start()
        reader.join(10)
        # the read finished while the transaction was still open
        assert not reader.is_alive() and answered == [len(ids)]
        assert not finish.is_set()
    finally:
        finish.set()
        writer.join(30)
    assert not failures


def test_read_gate_admits_waiters_in_arrival_order() -> None:
    gate = ReadGate(1)
    admitted: list[str] = []
    gate.__enter__()  # the slot is taken

    def wait_turn(name: str) -> None:
        with gate:
            admitted.append(name)

    waiters = []
    for name in ("first", "second"):
        t = threading.Thread(target=wait_turn, args=(name,))
        t.start()
        waiters.append(t)
        deadline = time.monotonic() + 5
        while len(gate._waiters) < len(waiters) and time.monotonic() < deadline:
            time.sleep(0.001)
    assert len(gate._waiters) == 2
    # the holder leaves and at once wants the slot again: it must queue behind both
    gate.__exit__(None, None, None)
    with gate:
        admitted.append("holder again")
    for t in waiters:
        t.join(5)
    assert admitted == ["first", "second", "holder again"]


def test_read_gate_never_exceeds_its_slots() -> None:
    gate = ReadGate(3)
    inside, peak = [0], [0]
    lock = threading.Lock()

    def work() -> None:
        for _ in range(200):
            with gate:
                with lock:
                    inside[0] += 1
                    peak[0] = max(peak[0], inside[0])
                time.sleep(0)
                with lock:
                    inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert peak[0] == 3 and inside[0] == 0
