"""Rate limits per credential: one token bucket per principal, refused with HTTP 429.

``RateLimiter.key(request)`` names the client: the verified principal's id
(``cdp.security.authentication`` puts it in ``request.state``; so the limit is one per API key
or token subject), and the client's address for requests that need no credential
(docs/limits.md). Requests refused authentication are charged to their address by
``cdp.security.authentication``.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

from starlette.requests import Request

from cdp.limits.request_limits import ASGIApp, RateLimited, send_error


class RateLimiter:
    """Token buckets: ``rate`` requests per second per key, bursts of up to ``burst``.

    Thread-unsafe by design: it is used from the event loop only. At most
    ``max_keys`` buckets are kept; the least recently seen is dropped first (a
    dropped key starts again with a full bucket, which only errs towards allowing).
    """

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def key(self, request: Request) -> str:
        """The client a request counts against (see the module docstring)."""
        principal = request.scope.get("state", {}).get("principal")
        if principal is not None:
            return principal.id
        client = request.client
        return "addr:" + (client.host if client else "unknown")

    def take(self, key: str) -> float:
        """Spend one token of ``key``'s bucket.

        Out: 0.0 when the request may go on, else the seconds until a token is back.
        """
        now = self.clock()
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


class RateLimit:
    """ASGI middleware: one ``RateLimiter`` token per HTTP request, 429 + ``Retry-After`` when empty.

    Paths starting with one of ``exempt`` (health checks, metrics, static assets) are not counted.
    """

    def __init__(self, app: ASGIApp, limiter: RateLimiter, exempt: Iterable[str] = ()) -> None:
        self.app = app
        self.limiter = limiter
        self.exempt = tuple(exempt)

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]],
                       send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        wait = self.limiter.take(self.limiter.key(Request(scope)))
        if wait <= 0.0:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        error = RateLimited(f"rate limit exceeded: at most {self.limiter.rate:g} requests per second "
                            f"(bursts of {self.limiter.burst:g}); retry after {retry_after} s")
        await send_error(send, 429, error, {"retryAfter": retry_after},
                         headers={"Retry-After": str(retry_after)})
