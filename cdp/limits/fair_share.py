"""Fair share of the server between credentials: the heavy lane (docs/limits.md, "Lanes").

Cheap requests (a customer view, ``{ __typename }``) and heavy ones (analytics over the
whole base, offers for a page of customers, segment previews, training) share one event
loop and one process. Without a bound, one credential's thirty heavy requests filled
every worker thread of the pool with Python code competing for the GIL, and another
credential's ``{ __typename }`` waited 13-29 s (issue 18). So heavy work goes through
``HeavyLane``:

- **per credential**, at most ``CDP_HEAVY_PER_CREDENTIAL`` heavy operations at once
  (``admit``); one more is refused at once with ``Busy`` (no queue to hold it: a queue
  per credential would hold sockets and memory for a client that is not waiting well);
- **per credential**, a time budget: heavy operations may run ``CDP_HEAVY_BUDGET`` seconds
  per second on average (bursts of ``CDP_HEAVY_BURST`` seconds). Each operation is charged
  the time it actually ran on its lane thread (measured, not estimated: the estimate only decides what is
  heavy, and the same query costs more on a busy server than on an idle one). An operation
  is let in while the budget is not spent and may overdraw it, so a single long operation
  is never refused for its length alone; the next one waits until the debt is paid
  (``RateLimited``, with the seconds to wait);
- **for everyone**, heavy operations run on at most ``CDP_HEAVY_THREADS`` lane threads
  (a FIFO ``anyio.CapacityLimiter``: beyond it they wait their turn, in order), each
  operation *whole* in its own thread with its own event loop (``HeavyLane.run``): its
  GraphQL execution (completing 100 customers' offers is ~50 ms of Python) and its
  blocking calls. The server's event loop and the shared worker pool stay with cheap
  requests, which then wait at most for the interpreter lock, handed over every few
  milliseconds, instead of queueing behind a heavy operation's callbacks.

``run_sync(fn, *args)`` is how every resolver runs a blocking call: in the shared worker
pool, or inline in a lane thread (which is a worker thread already).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import weakref
from collections.abc import Callable, Coroutine, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from anyio import CapacityLimiter, to_thread

from cdp.limits.request_limits import Busy, RateLimited
from cdp.settings import Settings

T = TypeVar("T")

#: True in a heavy lane's thread: its blocking calls run inline (it is a worker thread already).
_IN_LANE: ContextVar[bool] = ContextVar("cdp_in_heavy_lane", default=False)
#: The ticket of the heavy operation a lane thread runs (``not_charged`` excuses time on it).
_TICKET: ContextVar[Ticket | None] = ContextVar("cdp_heavy_ticket", default=None)


async def run_sync(fn: Callable[..., T], *args: Any) -> T:
    """Run the blocking ``fn(*args)`` off the server's event loop and return its result.

    In a worker thread of the shared pool; inline when called in a heavy lane's thread
    (``HeavyLane.run``), whose event loop serves that one operation only. What ``fn``
    raises is raised here.
    """
    if _IN_LANE.get():
        return fn(*args)
    return await to_thread.run_sync(fn, *args)


@contextlib.contextmanager
def not_charged() -> Iterator[None]:
    """Time spent inside is not charged to the budget of the heavy operation running in
    this thread (if any): work the server does for everyone that the first caller happens
    to trigger, such as the projection's first build (seconds on Neo4j). Without it a new
    user's first segment preview spent their whole burst and the next query was refused.
    Outside a lane thread it does nothing."""
    ticket = _TICKET.get()
    if ticket is None:
        yield
        return
    began = ticket.lane.clock()
    try:
        yield
    finally:
        ticket.excused += ticket.lane.clock() - began


@dataclass
class _Credential:
    """What one credential holds in the lane: operations in flight and its work budget."""

    running: int = 0
    tokens: float = 0.0
    at: float = 0.0


@dataclass
class Ticket:
    """A heavy operation let into the lane at ``started``; ``release`` (idempotent) gives its
    place back and charges the time since to the credential's budget."""

    lane: HeavyLane
    key: str
    started: float
    released: bool = field(default=False)
    #: seconds spent in ``not_charged`` blocks (not charged)
    excused: float = field(default=0.0)

    def start(self) -> None:
        """The operation starts running now (it may have waited for a lane thread: not charged)."""
        self.started = self.lane.clock()

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.lane._leave(self.key, max(0.0, self.lane.clock() - self.started - self.excused))


class HeavyLane:
    """Admission and threads of heavy work (see the module docstring).

    Used from the event loop only (no locks). ``clock`` is the one monotonic clock,
    replaceable in tests of the budget.
    """

    def __init__(self, per_credential: int, budget: float, burst: float, threads: int, *,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.per_credential = per_credential
        self.budget = budget
        self.burst = float(burst)
        self.threads = threads
        self.clock = clock
        self.max_keys = max_keys
        self._credentials: dict[str, _Credential] = {}
        # one limiter per event loop: an anyio limiter belongs to the loop it is first used on
        # (tests run several apps, each TestClient on its own loop)
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = (
            weakref.WeakKeyDictionary())

    @classmethod
    def of(cls, settings: Settings) -> HeavyLane:
        """The lane ``settings`` configure (``CDP_HEAVY_*``)."""
        return cls(settings.heavy_per_credential, settings.heavy_budget, settings.heavy_burst,
                   settings.heavy_threads)

    def limiter(self) -> CapacityLimiter:
        """The lane's thread limiter on the running event loop."""
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = CapacityLimiter(self.threads)
        return limiter

    def running(self, key: str) -> int:
        """Heavy operations of credential ``key`` in the lane now."""
        held = self._credentials.get(key)
        return held.running if held is not None else 0

    def admit(self, key: str) -> Ticket:
        """Let one heavy operation of credential ``key`` in.

        Out: its ticket (release it when the operation ends: that charges its time). Raises
        ``Busy`` when the credential already runs ``per_credential`` heavy operations,
        ``RateLimited`` when its time budget is spent; both carry ``retry_after`` (whole
        seconds, at least 1).
        """
        now = self.clock()
        held = self._credentials.get(key)
        if held is None:
            if len(self._credentials) >= self.max_keys:
                self._forget_idle()
            held = self._credentials[key] = _Credential(tokens=self.burst, at=now)
        if held.running >= self.per_credential:
            raise Busy(f"this credential already runs {held.running} heavy operations (analytics, offers "
                       f"for many customers, segment previews, training); at most {self.per_credential} "
                       "run at once: retry when one is done", retry_after=1)
        if self.budget > 0:
            held.tokens = min(self.burst, held.tokens + (now - held.at) * self.budget)
            held.at = now
            if held.tokens < 0:  # in debt: wait until it is paid
                wait = max(1, math.ceil(-held.tokens / self.budget))
                raise RateLimited(f"heavy-lane budget spent: this credential's heavy operations may run "
                                  f"{self.budget:g} s per second on average (bursts of {self.burst:g} s); "
                                  f"retry after {wait} s", retry_after=wait)
        held.running += 1
        return Ticket(self, key, now)

    async def run(self, operation: Callable[[], Coroutine[Any, Any, T]], ticket: Ticket | None = None) -> T:
        """Run ``operation()`` on a lane thread, in an event loop of its own, once a lane
        thread is free (first come, first served); return its result or raise its error.
        ``ticket`` (the operation's admission) is started when the thread is.

        Whatever runs the coroutine must not need the server's event loop: what it
        schedules (DataLoader batches, tasks) stays on its own loop.
        """
        def in_lane() -> T:
            if ticket is not None:
                ticket.start()
            _IN_LANE.set(True)  # in this thread's copy of the request's context only
            _TICKET.set(ticket)
            return asyncio.run(operation())

        return await to_thread.run_sync(in_lane, limiter=self.limiter())

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Run the blocking ``fn(*args)`` on a lane thread once one is free (jobs)."""
        return await to_thread.run_sync(fn, *args, limiter=self.limiter())

    def _leave(self, key: str, seconds: float) -> None:
        held = self._credentials.get(key)
        if held is not None and held.running > 0:
            held.running -= 1
            if self.budget > 0:
                now = self.clock()
                held.tokens = min(self.burst, held.tokens + (now - held.at) * self.budget) - seconds
                held.at = now

    def _forget_idle(self) -> None:
        """Drop credentials with nothing in flight whose budget is full again (bounded memory)."""
        now = self.clock()
        for key in [k for k, c in self._credentials.items()
                    if c.running == 0 and c.tokens + (now - c.at) * self.budget >= self.burst]:
            del self._credentials[key]
