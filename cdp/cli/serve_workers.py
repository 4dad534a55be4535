"""``cdp serve --workers N``: N server processes on one port, for a Neo4j store.

One Python process runs the GraphQL layer on one core. With Neo4j the server keeps no
state a request needs from another process (the store is the database server; caches
expire), so uvicorn's supervisor can start N worker processes that share the listening
socket, and the kernel spreads connections over them.

What stays per process, and how it is kept right:

- **Rate limits:** each worker has its own buckets, so each enforces ``1/N`` of
  ``CDP_RATE_LIMIT`` and of ``CDP_RATE_BURST`` (at least 1): a principal never gets more
  than the configured rate in total; one whose connections all land on one worker gets
  less. ``worker_environment`` sets the shares for the workers.
- **API-key cache, catalogue cache:** per process, each with its own expiry (as several
  servers behind a load balancer would have).
- **Audit log:** the workers append to the same file (``cdp.security.audit`` writes each record
  with one ``O_APPEND`` write, safe across processes).
- **Metrics:** ``/metrics`` answers for the worker that took the request.

The embedded store is one process's file (LadybugDB): ``--workers`` above 1 is refused
for it (``ConfigurationError``).
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING
from cdp.errors import ConfigurationError
from cdp.settings import Settings

if TYPE_CHECKING:
    from starlette.applications import Starlette


def worker_environment(settings: Settings, workers: int) -> dict[str, str]:
    """The environment variables the ``workers`` processes need on top of the parent's: the
    per-worker share of the rate limit. Raises ``ConfigurationError`` for the embedded store."""
    if settings.backend != "neo4j":
        raise ConfigurationError(
            f"--workers {workers} needs the Neo4j store (NEO4J_URI): the embedded store at "
            f"{settings.db_path} can be opened by one process only")
    env = {}
    if settings.rate_limit > 0:  # 0 turns rate limiting off: nothing to share
        env["CDP_RATE_LIMIT"] = repr(settings.rate_limit / workers)
        env["CDP_RATE_BURST"] = str(max(1, math.floor(settings.rate_burst / workers)))
    return env


def app() -> Starlette:
    """The ASGI app of one worker (uvicorn's factory): settings from the environment the
    parent prepared, logging as ``cdp serve`` configures it (``CDP_SERVE_LOG_LEVEL``)."""
    # deferred: each worker builds its app; the parent (``cdp serve``) never loads it
    from cdp.app import build_app
    from cdp.ops.request_log import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_format, os.environ.get("CDP_SERVE_LOG_LEVEL", "info"))
    return build_app(settings)


def prepare(settings: Settings, workers: int, log_level: str) -> None:
    """Put the workers' environment into ``os.environ`` (the workers inherit it).
    Raises ``ConfigurationError`` for the embedded store."""
    os.environ.update(worker_environment(settings, workers))
    os.environ["CDP_SERVE_LOG_LEVEL"] = log_level
