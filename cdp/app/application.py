"""Assembly of the cdp web application, in one visible place.

``build_app(settings, store)`` returns a Starlette app with:

- ``/graphql``: the GraphQL API (POST, or GET for queries, with caching headers:
  ``cdp.transport.http_caching``; automatic persisted queries: ``cdp.transport.persisted_queries``) and, for a
  browser, the GraphiQL playground served from cdp's own assets (no internet needed);
- ``/static/graphiql`` and ``/static/cdp``: the playground's JavaScript and CSS (vendored GraphiQL, cdp's own);
- ``/healthz`` (process alive) and ``/readyz`` (store answers);
- ``/metrics``: Prometheus metrics (``cdp.ops.metrics``; docs/operations.md);
- ``/insights``: charts of the data drawn from the GraphQL API with the user's key
  (``cdp.app.insights``);
- ``/``: a redirect to the playground.

Authentication (``cdp.security.authentication``; docs/security.md) admits only requests with
an API key or JWT, except health checks and the playground's page and assets; the
GraphQL layer then authorises each operation and field (``schema.authorization``).
Cross-origin pages may call it when ``CDP_CORS_ORIGINS`` says so (``cdp.transport.cors``: preflights
answered before authentication). Request limits (docs/limits.md) wrap it: a rate limit per credential (429), the body
size (413, before anything is parsed), the time a client has to send its body (408),
and the execution timeout of each operation (``CdpGraphQL.execute_single``); depth,
aliases, tokens and cost are checked per document in ``schema.limits``; heavy operations
run in the heavy lane (``cdp.limits.fair_share``, ``schema.fair_share``) and training runs as a
job (``cdp.limits.jobs``).

Whatever a client sends, the answer is JSON: a request that is not a GraphQL request is
refused by ``cdp.transport.graphql_request`` (400, 405, 415) with a GraphQL-shaped body, and so are
unknown paths (404) and, should one happen, an unexpected failure (500,
``INTERNAL_SERVER_ERROR``; the server logs its traceback).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

from anyio import to_thread
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from graphql import GraphQLError
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.types import ExecutionResult as _ExecutionResult
from strawberry.types import ExecutionResult

from cdp.analytics.analytics import Analytics
from cdp.security.audit import AuditLog
from cdp.security.authentication import Authentication, Authenticator
from cdp.errors import CdpError, NotFound
from cdp.transport.graphql_request import MethodNotAllowed, TransportError, check_operation_choice, read_request, refusal_of
from cdp.limits.fair_share import HeavyLane
from cdp.limits.jobs import Jobs
from cdp.security.principal import Principal, Role
from cdp.limits.request_limits import (BodyReadTimeout, BodySizeLimit, RequestTimeout, error_body, note_refusal, run_with_timeout,
                        send_error)
from cdp.limits.rate_limit import RateLimit, RateLimiter
from cdp.campaigns.contact_lists import contact_list_response
from cdp.transport.cors import Cors
from cdp.transport.http_caching import cache_get_answer
from cdp.transport.persisted_queries import PersistedQueries
from cdp.ops.metrics import Metrics
from cdp.app.insights import INSIGHTS_PATH, insights_html
from cdp.app.playground import asset_routes, playground_html
from cdp.ops.request_context import CURRENT
from cdp.ops.request_middleware import RequestObserver
from cdp.settings import Settings
from cdp.store import open_store
from graph.store import GraphStore
from cdp.customers.profile import load_policy
from resolvers.context import Context
from schema import schema
from schema.fair_share import FairShare

log = logging.getLogger("cdp.app.application")

#: Paths no rate limit applies to: health checks, metrics scrapes, the playground's assets.
#: The principal of an open request (the playground page): a customer bound to no customer, so nothing.
ANONYMOUS = Principal(id="anonymous", role=Role.CUSTOMER, name="no credentials")

RATE_LIMIT_EXEMPT = ("/healthz", "/readyz", "/metrics", "/static/")

#: Key in the request's state: whether the operation answered errors (its answer is then not cached).
_FAILED = "cdp.graphql_failed"


class CdpGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI GraphQL app with cdp's context and offline playground."""

    def __init__(self, store: GraphStore, settings: Settings) -> None:
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)
        self.store = store
        self.settings = settings
        self.policy = load_policy(settings.profile_policy_path)  # fails at start-up, not per request
        self.analytics = Analytics(store, settings)
        self.audit = AuditLog(settings.audit_log_path)
        self.lane = HeavyLane.of(settings)  # heavy operations and jobs of every request (docs/limits.md)
        self.fair_share = FairShare(self.lane, settings)
        self.jobs = Jobs(self.lane, settings.heavy_per_credential)
        self.persisted = PersistedQueries(settings.persisted_query_cache_mb * 1024 * 1024)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Strawberry's ASGI entry, with its plain-text refusals (``HTTPException``) and cdp's
        ``TransportError`` answered as GraphQL-shaped JSON (``cdp.transport.graphql_request``)."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self.run(request)
        except HTTPException as exc:
            error = refusal_of(exc)
        except TransportError as exc:
            error = exc
        else:
            if request.method == "GET" and response.media_type == "application/json":
                response = cache_get_answer(request, response, self.settings.get_max_age,
                                            failed=scope.get("state", {}).get(_FAILED, True))
            await response(scope, receive, send)
            return
        await send_error(send, error.status, error, error.extensions, headers=error.headers)

    def should_render_graphql_ide(self, request: Any) -> bool:
        """The playground page: a browser's ``GET`` asking for HTML, with neither a query nor a
        persisted query's hash (strawberry's own rule also takes ``Accept: */*``, so a
        ``curl`` of a persisted query would get the page instead of its answer)."""
        params = request.query_params
        return (request.method == "GET" and params.get("query") is None and params.get("extensions") is None
                and "text/html" in request.headers.get("accept", ""))

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
        """The request's query, operation name, variables and extensions, checked once here:
        encoding, shape, JSON depth, lone surrogates; a persisted query's hash resolved
        (``cdp.transport.persisted_queries``). Raises ``TransportError``."""
        return self.persisted.resolve(await read_request(request, self.settings.max_json_depth))

    async def get_context(self, request: Any, response: Any = None) -> Context:
        # Only the playground page (an open path: strawberry builds a context before rendering
        # it) arrives here without a principal; it runs no operation.
        principal = request.scope.get("state", {}).get("principal") or ANONYMOUS
        return Context(store=self.store, settings=self.settings, request=request, response=response,
                       policy=self.policy, analytics=self.analytics, principal=principal, audit=self.audit,
                       jobs=self.jobs)

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(playground_html(graphql_path=request.url.path, insights_path=INSIGHTS_PATH))

    async def process_result(self, request: Request, result: _ExecutionResult) -> GraphQLHTTPResponse:
        """Strawberry's response body, after noting each error's ``extensions.code`` on the
        request being served (``cdp.ops.request_context``) for the metrics and the access log."""
        request.scope.setdefault("state", {})[_FAILED] = bool(result.errors)
        info = CURRENT.get()
        if info is not None and result.errors:
            info.error_codes.extend(str((error.extensions or {}).get("code", "INTERNAL_SERVER_ERROR"))
                                    for error in result.errors)
        return await super().process_result(request, result)

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """Execute one operation in its lane within ``settings.request_timeout`` seconds.

        A document of several operations without ``operationName`` is refused first
        (``OPERATION_RESOLUTION_FAILURE``, HTTP 400). Cheap operations run on the event loop, heavy ones on a heavy lane thread, or are
        refused with BUSY / RATE_LIMITED (``schema.fair_share``). Out: the result, or one
        ``TIMEOUT`` error when it ran out of time; work left in a thread goes on to its end
        (``cdp.limits.request_limits.run_with_timeout``).
        """
        context: Context = kwargs["context"]
        data = kwargs["request_data"]
        check_operation_choice(data, self.settings.max_query_tokens)  # strawberry would run the first
        execute = super().execute_single
        lanes = self.fair_share.execute(context.principal.id, data.query, data.operation_name,
                                        kwargs.get("sub_response"), lambda: execute(*args, **kwargs))
        try:
            return await run_with_timeout(lanes, self.settings.request_timeout)
        except RequestTimeout as exc:
            return ExecutionResult(data=None, errors=[GraphQLError(
                exc.message, extensions={"code": exc.code, "limit": self.settings.request_timeout})])


async def http_refusal(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (an unknown path, a method a route does not serve) as JSON."""
    status = exc.status_code if isinstance(exc, StarletteHTTPException) else 400
    if status == 404:
        error: CdpError = NotFound(f"nothing is served at {request.url.path}")
    elif status == 405 and isinstance(exc, StarletteHTTPException):
        error = MethodNotAllowed(f"{request.method} is not served at {request.url.path}",
                                 allow=(exc.headers or {}).get("Allow", "GET"))
    else:
        error = TransportError(str(getattr(exc, "detail", "bad request")))
    return _error_response(status, error, getattr(error, "headers", {}))


class UnexpectedError(CdpError):
    """What a client is told of a bug outside GraphQL: no details (GraphQL masks its own, ``schema.errors``)."""

    code = "INTERNAL_SERVER_ERROR"


async def internal_error(request: Request, exc: Exception) -> Response:
    """A failure outside GraphQL (a bug): answered 500 ``INTERNAL_SERVER_ERROR`` in JSON, without
    details. Starlette raises the exception again after this answer; the server logs it with
    its traceback."""
    return _error_response(500, UnexpectedError("Internal server error."), {})


def _error_response(status: int, error: CdpError, headers: Any) -> Response:
    """A GraphQL-shaped JSON response of ``error``, its code noted for the metrics."""
    note_refusal(error)
    return Response(error_body(error), status, headers=dict(headers), media_type="application/json")


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

    async def insights(_: Request) -> Response:
        return HTMLResponse(insights_html())

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
        graphql.jobs.bind(asyncio.get_running_loop())
        yield
        gc.unfreeze()  # give it back (tests start many apps in one process)
        graphql.analytics.close()
        if owns_store:
            store.close()
            log.info("store closed")

    async def wave_contacts(request: Request) -> Response:
        return await contact_list_response(graphql.analytics.campaigns, request, graphql.audit)

    routes = [
        Route("/graphql", graphql),  # every method: the view answers 405 itself, in JSON
        Route("/campaigns/{campaign_id}/waves/{wave:int}/contacts.{format}", wave_contacts),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/", home),
        Route(INSIGHTS_PATH, insights, methods=["GET"]),
        *asset_routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        StarletteHTTPException: http_refusal, Exception: internal_error})
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    limiter = RateLimiter(settings.rate_limit, settings.rate_burst) if settings.rate_limit > 0 else None
    if limiter is not None:  # per principal, so inside authentication
        app.add_middleware(RateLimit, limiter=limiter, exempt=RATE_LIMIT_EXEMPT)
    authenticator = Authenticator(store, settings)
    app.add_middleware(Authentication, authenticator=authenticator, limiter=limiter)
    app.add_middleware(BodyReadTimeout, seconds=settings.body_timeout)  # before anything reads the body
    if settings.cors_origins:  # preflights carry no credential: answered before authentication
        app.add_middleware(Cors, origins=settings.cors_origins, max_age=settings.cors_max_age)
    app.add_middleware(RequestObserver, metrics=metrics)  # outermost: every request gets an id and is counted
    app.state.metrics = metrics
    app.state.store = store
    app.state.settings = settings
    app.state.analytics = graphql.analytics
    app.state.lane = graphql.lane
    app.state.jobs = graphql.jobs
    app.state.authenticator = authenticator
    return app
