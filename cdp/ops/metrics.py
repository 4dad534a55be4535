"""Prometheus metrics of one cdp app, exposed at ``/metrics``.

| metric | type | labels | what |
|---|---|---|---|
| ``cdp_http_request_duration_seconds`` | histogram | ``route``, ``operation`` | time to answer a request |
| ``cdp_http_requests_total`` | counter | ``route``, ``operation``, ``status`` | requests answered |
| ``cdp_http_requests_in_flight`` | gauge | | requests being served now |
| ``cdp_graphql_errors_total`` | counter | ``operation``, ``code`` | errors by ``extensions.code``: GraphQL's and HTTP refusals' (``cdp.limits.request_limits.note_refusal``) |
| ``cdp_store_call_duration_seconds`` | histogram | ``query`` | one store call (a read, a keyed read, a write batch) |
| ``cdp_store_call_errors_total`` | counter | ``query``, ``code`` | store calls that failed, by error code |
| ``cdp_projection_last_build_seconds`` etc. | gauge | | the analytic projection's last build / refresh |
| ``cdp_projection_builds_total`` / ``cdp_projection_refreshes_total`` | counter | | full builds / incremental refreshes of the projection since start |
| ``cdp_change_feed_entries_total`` | counter | | other servers' writes applied from the Neo4j change feed (docs/neo4j.md) |
| ``cdp_change_feed_position`` | gauge | | the last change-feed entry the projection follows (absent when not following one) |

plus the client library's process and Python metrics (``process_*``, ``python_*``).

Labels never carry customer data: ``route`` is the route's template
(``/campaigns/{campaign_id}/waves/{wave}/contacts.{format}``), ``operation`` a
GraphQL operation name (``anonymous`` when unnamed; names that are not GraphQL
names become ``invalid``; past ``MAX_OPERATIONS`` distinct names, ``other``),
``query`` the name of a ``graph.cypher.Query`` (fixed by the code, capped too).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest,
                               GCCollector, PlatformCollector, ProcessCollector)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from graph.errors import CdpError

#: Distinct GraphQL operation names kept as labels; later new names count as ``other``.
MAX_OPERATIONS = 200
#: Distinct store query names kept as labels (the code has fewer than this).
MAX_QUERIES = 500

#: The ``operation`` label of requests that are not GraphQL operations.
NO_OPERATION = ""

_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")

#: Request latency buckets (seconds): the view target is 20 ms at p50.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Store call buckets (seconds): an embedded key lookup is ~0.3 ms, a projection slice seconds.
STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0)


class BoundedNames:
    """A label value set that stops growing at ``limit`` distinct values.

    ``label(name)`` returns ``name`` when it matches ``pattern`` and is known or
    there is still room, ``overflow`` when there is none, ``invalid`` when it
    does not match. Thread-safe; the lock is taken only to add a new name.
    """

    def __init__(self, limit: int, pattern: re.Pattern[str], overflow: str = "other",
                 invalid: str = "invalid") -> None:
        self.limit = limit
        self.pattern = pattern
        self.overflow = overflow
        self.invalid = invalid
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str) -> str:
        """The label value for ``name`` (see the class). Never fails."""
        if name in self._known:
            return name
        if not self.pattern.fullmatch(name):
            return self.invalid
        with self._lock:
            if name in self._known or len(self._known) < self.limit:
                self._known.add(name)
                return name
        return self.overflow


class Metrics:
    """The metrics of one app, in their own registry (several apps may live in a test process).

    ``observe_store_call`` is the hook ``GraphStore.call_observer`` calls;
    ``render()`` is the text ``/metrics`` answers.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.request_seconds = Histogram(
            "cdp_http_request_duration_seconds", "Time to answer an HTTP request, per route and GraphQL operation.",
            ["route", "operation"], buckets=REQUEST_BUCKETS, registry=self.registry)
        self.requests = Counter(
            "cdp_http_requests", "HTTP requests answered, per route, GraphQL operation and status.",
            ["route", "operation", "status"], registry=self.registry)
        self.in_flight = Gauge("cdp_http_requests_in_flight", "HTTP requests being served now.",
                               registry=self.registry)
        self.graphql_errors = Counter(
            "cdp_graphql_errors", "GraphQL errors answered, per operation and extensions.code.",
            ["operation", "code"], registry=self.registry)
        self.store_seconds = Histogram(
            "cdp_store_call_duration_seconds", "Time of one graph store call, per query name.",
            ["query"], buckets=STORE_BUCKETS, registry=self.registry)
        self.store_errors = Counter(
            "cdp_store_call_errors", "Graph store calls that failed, per query name and error code.",
            ["query", "code"], registry=self.registry)
        self.operations = BoundedNames(MAX_OPERATIONS, _GRAPHQL_NAME)
        self._queries = BoundedNames(MAX_QUERIES, re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,127}"))
        self._store_children: dict[str, Any] = {}  # query name -> histogram child (a labels() lookup is ~2 us)
        self._projection = _ProjectionCollector()
        self.registry.register(self._projection)

    # ------------------------------------------------------------ hooks

    def operation_label(self, name: str | None) -> str:
        """The ``operation`` label for a GraphQL operation named ``name`` (None: ``anonymous``)."""
        return "anonymous" if not name else self.operations.label(name)

    def observe_request(self, route: str, operation: str | None, status: int, seconds: float,
                        error_codes: list[str]) -> None:
        """Record one answered request. ``operation`` is already a label (or None: not GraphQL)."""
        op = operation if operation is not None else NO_OPERATION
        self.request_seconds.labels(route, op).observe(seconds)
        self.requests.labels(route, op, str(status)).inc()
        for code in error_codes:
            self.graphql_errors.labels(op, code if _CODE.fullmatch(code) else "OTHER").inc()

    def observe_store_call(self, query: str, seconds: float, error: BaseException | None) -> None:
        """``GraphStore.call_observer``: one store call named ``query`` took ``seconds``; ``error`` if it failed."""
        child = self._store_children.get(query)
        if child is None:
            child = self.store_seconds.labels(self._queries.label(query))
            if len(self._store_children) < MAX_QUERIES:
                self._store_children[query] = child
        child.observe(seconds)
        if error is not None:
            code = error.code if isinstance(error, CdpError) else "INTERNAL_SERVER_ERROR"
            self.store_errors.labels(self._queries.label(query), code).inc()

    def watch_projection(self, last_refresh: Callable[[], Any], totals: Callable[[], Any] | None = None) -> None:
        """Report the analytic projection's last build / refresh: ``last_refresh()`` returns
        ``cdp.projection.tables.RefreshStats`` and ``totals()`` ``cdp.projection.tables.ProjectionTotals``
        (read at scrape time only: no cost per request)."""
        self._projection.source = last_refresh
        self._projection.totals = totals

    # ------------------------------------------------------------ exposition

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _ProjectionCollector(Collector):
    """Gauges read from the projection's last ``RefreshStats`` when scraped."""

    def __init__(self) -> None:
        self.source: Callable[[], Any] | None = None
        self.totals: Callable[[], Any] | None = None
        self._build: tuple[float, int] | None = None
        self._refresh: tuple[float, int] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stats = self.source() if self.source is not None else None
        if stats is not None and getattr(stats, "seconds", None):
            kept = (float(stats.seconds), int(stats.customers))
            if stats.rebuilt:
                self._build = kept
            else:
                self._refresh = kept
        for kind, last in (("build", self._build), ("refresh", self._refresh)):
            seconds = GaugeMetricFamily(f"cdp_projection_last_{kind}_seconds",
                                        f"Seconds the analytic projection's last {kind} took (seen at a scrape).")
            customers = GaugeMetricFamily(f"cdp_projection_last_{kind}_customers",
                                          f"Customers the analytic projection's last {kind} read.")
            if last is not None:
                seconds.add_metric([], last[0])
                customers.add_metric([], last[1])
            yield seconds
            yield customers
        totals = self.totals() if self.totals is not None else None
        if totals is not None:
            for name, value, what in (
                    ("cdp_projection_builds", totals.builds, "Full builds of the analytic projection since start."),
                    ("cdp_projection_refreshes", totals.refreshes,
                     "Incremental refreshes of the analytic projection since start."),
                    ("cdp_change_feed_entries", totals.feed_entries,
                     "Other servers' writes applied from the change feed since start.")):
                counter = CounterMetricFamily(name, what)
                counter.add_metric([], value)
                yield counter
            if totals.feed_position >= 0:
                position = GaugeMetricFamily("cdp_change_feed_position",
                                             "The last change-feed entry the analytic projection follows.")
                position.add_metric([], totals.feed_position)
                yield position

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())
