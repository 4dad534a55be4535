"""Assembly of the cdp web application, in one visible place.

``build_app(settings, store)`` returns a Starlette app with:

- ``/graphql``: the GraphQL API (POST, or GET for queries) and, for a browser,
  the GraphiQL playground served from cdp's own assets (no internet needed);
- ``/static/graphiql``: the playground's JavaScript and CSS;
- ``/healthz`` (process alive) and ``/readyz`` (store answers);
- ``/metrics``: Prometheus metrics (``cdp.metrics``; docs/operations.md);
- ``/``: a redirect to the playground.

Authentication (``cdp.authentication``; docs/security.md) admits only requests with
an API key or JWT, except health checks and the playground's page and assets; the
GraphQL layer then authorises each operation and field (``schema.authorization``).
Request limits (docs/limits.md) wrap it: a rate limit per credential (429), the body
size (413, before anything is parsed), and the execution timeout of each operation
(``CdpGraphQL.execute_single``); depth, aliases, tokens and cost are checked per
document in ``schema.limits``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from graphql import GraphQLError
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult as _ExecutionResult
from strawberry.types import ExecutionResult

from cdp.analytics import Analytics
from cdp.audit import AuditLog
from cdp.authentication import Authentication, Authenticator
from cdp.errors import CdpError
from cdp.principal import Principal, Role
from cdp.limits import BodySizeLimit, RequestTimeout, run_with_timeout
from cdp.rate_limit import RateLimit, RateLimiter
from cdp.contact_lists import contact_list_response
from cdp.metrics import Metrics
from cdp.playground import asset_routes, playground_html
from cdp.request_context import CURRENT
from cdp.request_middleware import RequestObserver
from cdp.settings import Settings
from cdp.store import open_store
from graph.store import GraphStore
from cdp.profile import load_policy
from resolvers.context import Context
from schema import schema

log = logging.getLogger("cdp.app")

#: Paths no rate limit applies to: health checks, metrics scrapes, the playground's assets.
#: The principal of an open request (the playground page): a customer bound to no customer, so nothing.
ANONYMOUS = Principal(id="anonymous", role=Role.CUSTOMER, name="no credentials")

RATE_LIMIT_EXEMPT = ("/healthz", "/readyz", "/metrics", "/static/")


class CdpGraphQL(GraphQL):
    """Strawberry's ASGI GraphQL app with cdp's context and offline playground."""

    def __init__(self, store: GraphStore, settings: Settings) -> None:
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)
        self.store = store
        self.settings = settings
        self.policy = load_policy(settings.profile_policy_path)  # fails at start-up, not per request
        self.analytics = Analytics(store, settings)
        self.audit = AuditLog(settings.audit_log_path)

    async def get_context(self, request: Any, response: Any = None) -> Context:
        # Only the playground page (an open path: strawberry builds a context before rendering
        # it) arrives here without a principal; it runs no operation.
        principal = request.scope.get("state", {}).get("principal") or ANONYMOUS
        return Context(store=self.store, settings=self.settings, request=request, response=response,
                       policy=self.policy, analytics=self.analytics, principal=principal, audit=self.audit)

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(playground_html(graphql_path=request.url.path))

    async def process_result(self, request: Request, result: _ExecutionResult) -> GraphQLHTTPResponse:
        """Strawberry's response body, after noting each error's ``extensions.code`` on the
        request being served (``cdp.request_context``) for the metrics and the access log."""
        info = CURRENT.get()
        if info is not None and result.errors:
            info.error_codes.extend(str((error.extensions or {}).get("code", "INTERNAL_SERVER_ERROR"))
                                    for error in result.errors)
        return await super().process_result(request, result)

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """Execute one operation within ``settings.request_timeout`` seconds.

        Out: its result, or one ``TIMEOUT`` error when it ran out of time; work
        left in a worker thread goes on to its end (``cdp.limits.run_with_timeout``).
        """
        try:
            return await run_with_timeout(super().execute_single(*args, **kwargs), self.settings.request_timeout)
        except RequestTimeout as exc:
            return ExecutionResult(data=None, errors=[GraphQLError(
                exc.message, extensions={"code": exc.code, "limit": self.settings.request_timeout})])


def build_app(settings: Settings, store: GraphStore | None = None) -> Starlette:
    """The cdp ASGI app. Opens the configured store unless ``store`` is given.

    When the app opened the store itself it closes it on shutdown.
    Raises ``StoreUnavailable`` when the store cannot be opened.
    """
    owns_store = store is None
    store = store or open_store(settings, lazy=True)  # a Neo4j server may come up after the API
    graphql = CdpGraphQL(store, settings)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        try:
            await to_thread.run_sync(store.ping)
        except CdpError as exc:
            return JSONResponse({"status": "unavailable", "code": exc.code, "detail": exc.message}, 503)
        return JSONResponse({"status": "ready", "backend": store.backend})

    async def home(_: Request) -> Response:
        return RedirectResponse("/graphql")

    metrics = Metrics()
    store.call_observer = metrics.observe_store_call  # the latest app over a store records its calls
    metrics.watch_projection(lambda: graphql.analytics.projection.last_refresh,
                             lambda: graphql.analytics.projection.totals())

    async def metrics_endpoint(_: Request) -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # What start-up built (schema, caches, store, key tables) lives as long as the
        # process: move it out of the collector's reach. Without this every full collection
        # walked it all, about every 10 s under load, stalling every request for ~100 ms
        # (p99 of {__typename} 102 ms instead of ~1 ms; docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        yield
        gc.unfreeze()  # give it back (tests start many apps in one process)
        graphql.analytics.close()
        if owns_store:
            store.close()
            log.info("store closed")

    async def wave_contacts(request: Request) -> Response:
        return await contact_list_response(graphql.analytics.campaigns, request, graphql.audit)

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/campaigns/{campaign_id}/waves/{wave:int}/contacts.{format}", wave_contacts),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/", home),
        *asset_routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    limiter = RateLimiter(settings.rate_limit, settings.rate_burst) if settings.rate_limit > 0 else None
    if limiter is not None:  # per principal, so inside authentication
        app.add_middleware(RateLimit, limiter=limiter, exempt=RATE_LIMIT_EXEMPT)
    authenticator = Authenticator(store, settings)
    app.add_middleware(Authentication, authenticator=authenticator, limiter=limiter)
    app.add_middleware(RequestObserver, metrics=metrics)  # outermost: every request gets an id and is counted
    app.state.metrics = metrics
    app.state.store = store
    app.state.settings = settings
    app.state.analytics = graphql.analytics
    app.state.authenticator = authenticator
    return app
