"""Operating the running server: request ids, log lines, metrics, shutdown (docs/operations.md).

Modules:

- ``cancellation``: Stopping long computations when the server shuts down.
- ``metrics``: Prometheus metrics of one cdp app, exposed at ``/metrics``.
- ``request_context``: What is known about the HTTP request being served, for logs and metrics.
- ``request_log``: Log lines of cdp: JSON (one object per line) or plain text, each with its request id.
- ``request_middleware``: The ASGI middleware that gives every HTTP request an id, metrics and an access log line.
"""

__all__ = [
    "cancellation",
    "metrics",
    "request_context",
    "request_log",
    "request_middleware",
]
