"""The ASGI middleware that gives every HTTP request an id, metrics and an access log line.

For each HTTP request ``RequestObserver``:

1. takes the request id from ``X-Request-ID`` when it is safe (1-64 of ``A-Za-z0-9._:-``)
   or makes one, holds it in ``cdp.ops.request_context.CURRENT`` while the request is
   served (so every log line carries it) and echoes it in the response's ``X-Request-ID``;
2. counts it in flight, then records its latency, status and GraphQL error codes
   per route template and GraphQL operation (``cdp.ops.metrics``);
3. writes one ``cdp.access`` log line: method, path (never the query string, which
   may hold variables), status, duration in ms, route, operation, error codes.
   Probes and scrapes (``/healthz``, ``/readyz``, ``/metrics``) log at DEBUG, the rest at INFO.

It is pure ASGI (no ``BaseHTTPMiddleware``): a few microseconds per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from cdp.ops.metrics import Metrics
from cdp.ops.request_context import CURRENT, REQUEST_ID_HEADER, RequestInfo, request_id_from

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("cdp.access")

#: Routes whose access lines are DEBUG: probes and scrapes every few seconds would drown the log.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})

_HEADER = REQUEST_ID_HEADER.encode("latin-1")


def route_of(scope: Scope) -> str:
    """The template of the route that served ``scope`` (``unmatched`` when none did)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


class RequestObserver:
    """ASGI middleware: request id, in-flight gauge, latency/status/error metrics, access log."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == _HEADER:
                incoming = value.decode("latin-1")
                break
        info = RequestInfo(request_id=request_id_from(incoming))
        echoed = (_HEADER, info.request_id.encode("latin-1"))
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        token = CURRENT.set(info)
        self.metrics.in_flight.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.in_flight.dec()
            if status == 0:  # failed or was cancelled before answering
                status = 500
            route = route_of(scope)
            operation = None if info.operation is None else self.metrics.operation_label(info.operation)
            self.metrics.observe_request(route, operation, status, seconds, info.error_codes)
            level = logging.DEBUG if route in QUIET_ROUTES else logging.INFO
            if access_log.isEnabledFor(level):
                access_log.log(level, "%s %s %s", scope.get("method", ""), scope.get("path", ""), status, extra={
                    "method": scope.get("method", ""), "path": scope.get("path", ""), "status": status,
                    "duration_ms": round(seconds * 1000, 2), "route": route, "operation": info.operation,
                    "principal": info.principal,
                    "error_codes": info.error_codes})
            CURRENT.reset(token)
