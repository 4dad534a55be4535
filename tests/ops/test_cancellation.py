"""Long work stops at its next check once the server shuts down (``cdp.ops.cancellation``)."""

from __future__ import annotations

import threading

import pytest

from cdp.errors import ShuttingDown
from cdp.ops.cancellation import Cancellation, never


def test_check_passes_until_cancelled_then_raises_shutting_down() -> None:
    flag = Cancellation()
    flag.check()
    assert not flag.cancelled
    flag.cancel()
    assert flag.cancelled
    with pytest.raises(ShuttingDown) as raised:
        flag.check()
    assert raised.value.code == "SHUTTING_DOWN"
    flag.cancel()  # cancelling twice is harmless: the flag stays set
    assert flag.cancelled


def test_a_worker_thread_stops_at_its_next_check() -> None:
    flag = Cancellation()
    started, outcome = threading.Event(), []

    def work() -> None:
        started.set()
        try:
            while True:
                flag.check()
        except ShuttingDown:
            outcome.append("stopped")

    worker = threading.Thread(target=work)
    worker.start()
    started.wait()
    flag.cancel()
    worker.join()
    assert outcome == ["stopped"]


def test_never_never_stops() -> None:
    assert never() is None
