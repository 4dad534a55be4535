"""Stopping long computations when the server shuts down.

On SIGTERM the server stops accepting, lets in-flight requests run for at most
``CDP_SHUTDOWN_GRACE_SECONDS``, then shuts the app down (``cdp.app.application``'s lifespan), which
closes its ``Analytics`` and so cancels its ``Cancellation``. Work running in worker
threads cannot be interrupted from outside, so long loops (the recommendation engine's
model fit and calibration, batch ranking) call ``check()`` between steps: once cancelled,
the next check raises ``ShuttingDown`` and the thread ends, so the process can exit.
"""

from __future__ import annotations

import threading

from cdp.errors import ShuttingDown


class Cancellation:
    """A flag long work polls; ``cancel()`` sets it for good (one per ``Analytics``)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask every computation that checks this flag to stop."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once ``cancel()`` was called."""
        return self._event.is_set()

    def check(self) -> None:
        """Raise ``ShuttingDown`` when cancelled; return at once otherwise (cheap: call it often)."""
        if self._event.is_set():
            raise ShuttingDown("the server is shutting down: the computation was stopped; retry on another instance")


def never() -> None:
    """A ``check`` that never stops (callers without a cancellation flag)."""
