"""Authentication: every HTTP request but the open ones must carry a credential.

``Authentication`` (ASGI middleware) reads ``Authorization: Bearer <credential>`` or
``X-API-Key: <key>``. A credential starting with ``cdp_`` is an API key
(``cdp.security.api_keys``); any other bearer credential is a JWT (``cdp.security.jwt_tokens``, when
configured). The verified ``Principal`` is put in ``scope["state"]["principal"]``
(Starlette's ``request.state.principal``) and on the request's ``RequestInfo`` (so
the access log names it).

Open without credentials (``is_open``): ``/healthz``, ``/readyz``, the playground's
static assets (``/static/``), the playground page itself (a browser's ``GET /graphql``
asking for HTML, with no query), the insights page (``/insights``: no data in it; its
charts query the API with the user's key) and ``/``, which redirects to the playground. ``/metrics`` needs
an admin or the ``metrics`` scope.

A refused request gets HTTP 401 with ``WWW-Authenticate: Bearer`` and a GraphQL-shaped
body whose ``extensions.code`` is ``UNAUTHENTICATED``; each refusal spends a token of
the client address's rate-limit bucket, so keys cannot be guessed at speed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

from anyio import to_thread

from cdp.security.api_keys import KEY_PREFIX, KeyVerifier, parse_key
from cdp.errors import CdpError, Forbidden, Unauthenticated
from cdp.security.jwt_tokens import JwtVerifier
from cdp.limits.request_limits import RateLimited, send_error
from cdp.security.principal import METRICS_SCOPE, Principal
from cdp.limits.rate_limit import RateLimiter
from cdp.ops.request_context import CURRENT
from cdp.settings import Settings
from graph.store import GraphStore

log = logging.getLogger("cdp.auth")

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/", "/insights"})
OPEN_PREFIXES = ("/static/",)
METRICS_PATH = "/metrics"


def is_open(scope: dict) -> bool:
    """True for the requests that need no credential (see the module docstring)."""
    path = scope["path"]
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return True
    if scope.get("method") == "GET" and path == "/graphql" and not scope.get("query_string"):
        accept = next((v for k, v in scope["headers"] if k == b"accept"), b"")
        return b"text/html" in accept  # the playground page; it sends the user's key with each query
    return False


def credential_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The credential a request carries: a bearer token or an ``X-API-Key``, else None."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return ""  # present but not a bearer credential: refused below with a clear message
        if name == b"x-api-key":
            return value.decode("latin-1").strip()
    return None


class Authenticator:
    """Turns a credential into a ``Principal``: API keys always, JWTs when configured."""

    def __init__(self, store: GraphStore, settings: Settings) -> None:
        self.keys = KeyVerifier(store, settings.api_key_cache_seconds)
        self.jwt = (JwtVerifier(settings.jwt_issuer, settings.jwt_audience, settings.jwt_key, settings.jwt_algorithm)
                    if settings.jwt_issuer and settings.jwt_key else None)

    async def authenticate(self, credential: str | None) -> Principal:
        """The principal of ``credential``. Raises ``Unauthenticated``, or ``StoreUnavailable``
        when a key must be looked up and the store cannot be reached."""
        if credential is None:
            raise Unauthenticated("credentials required: send 'Authorization: Bearer <API key or token>' "
                                  "or 'X-API-Key: <API key>' (cdp keys create; docs/security.md)")
        if not credential:
            raise Unauthenticated("the Authorization header must read 'Bearer <API key or token>'")
        if credential.startswith(KEY_PREFIX + "_"):
            key_id, _ = parse_key(credential)
            if self.keys.is_fresh(key_id):
                return self.keys.verify(credential)
            return await to_thread.run_sync(self.keys.verify, credential)
        if self.jwt is None:
            raise Unauthenticated("bearer tokens are not accepted by this server (no CDP_JWT_ISSUER); "
                                  "use an API key")
        return self.jwt.verify(credential)


class Authentication:
    """ASGI middleware: authenticate each HTTP request (see the module docstring)."""

    def __init__(self, app: Callable[..., Awaitable[None]], authenticator: Authenticator,
                 limiter: RateLimiter | None = None) -> None:
        self.app = app
        self.authenticator = authenticator
        self.limiter = limiter

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]],
                       send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http" or is_open(scope):
            await self.app(scope, receive, send)
            return
        try:
            principal = await self.authenticator.authenticate(credential_of(scope["headers"]))
        except Unauthenticated as exc:
            await self._refuse(scope, send, exc)
            return
        except CdpError as exc:  # the store holding the keys is down
            await send_error(send, 503, exc)
            return
        if scope["path"] == METRICS_PATH and not principal.has_scope(METRICS_SCOPE):
            await send_error(send, 403, Forbidden(f"/metrics needs an admin or the {METRICS_SCOPE} scope"))
            return
        scope.setdefault("state", {})["principal"] = principal
        info = CURRENT.get()
        if info is not None:
            info.principal = principal.id
        await self.app(scope, receive, send)

    async def _refuse(self, scope: dict, send: Callable[[dict], Awaitable[None]], exc: Unauthenticated) -> None:
        client = scope.get("client")
        address = client[0] if client else "unknown"
        log.warning("authentication refused: %s", exc.message, extra={"client": address, "path": scope["path"]})
        if self.limiter is not None:
            wait = self.limiter.take("addr:" + address)
            if wait > 0:
                retry_after = max(1, math.ceil(wait))
                await send_error(send, 429, RateLimited(f"too many refused requests; retry after {retry_after} s"),
                                 {"retryAfter": retry_after}, headers={"Retry-After": str(retry_after)})
                return
        await send_error(send, 401, exc, headers={"WWW-Authenticate": 'Bearer realm="cdp"'})
