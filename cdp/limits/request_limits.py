"""Request limits that protect the API from abusive or runaway requests.

The errors of every limit (each with its own ``extensions.code``, docs/limits.md),
the GraphQL-shaped JSON body of a refusal made before GraphQL runs, the request
body size limit (an ASGI middleware that rejects before anything is parsed), the
body read timeout (an ASGI middleware: a client that stops sending gets 408), and
the execution timeout (``run_with_timeout``). The header timeout is kept by the
HTTP server itself (``cdp.transport.http_connection``). The per-document checks (depth,
aliases, tokens, cost) live in ``schema.limits``; rate limits in ``cdp.limits.rate_limit``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

from cdp.errors import CdpError, InvalidInput
from cdp.ops.request_context import CURRENT

log = logging.getLogger("cdp.limits.request_limits")

T = TypeVar("T")

ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


class LimitExceeded(CdpError):
    """Base of the refusals of a request limit (docs/limits.md).

    ``retry_after``: whole seconds after which the same request may pass, when the limit
    is one of time (answered as ``Retry-After`` and ``extensions.retryAfter``); else None.
    """

    code = "LIMIT_EXCEEDED"

    def __init__(self, message: str, *, field: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class QueryTooDeep(LimitExceeded):
    """The document nests fields deeper than ``CDP_MAX_QUERY_DEPTH``."""

    code = "QUERY_TOO_DEEP"


class TooManyAliases(LimitExceeded):
    """The document holds more aliased fields than ``CDP_MAX_ALIASES``."""

    code = "TOO_MANY_ALIASES"


class QueryTooComplex(LimitExceeded):
    """The estimated cost of an operation is above ``CDP_MAX_QUERY_COST``."""

    code = "QUERY_TOO_COMPLEX"


class PageTooLarge(InvalidInput):
    """A page size (``first``) above ``CDP_MAX_PAGE_SIZE``; ``limit`` is that maximum
    (answered as ``extensions.limit``, like the other limits)."""

    code = "PAGE_TOO_LARGE"

    def __init__(self, message: str, *, field: str | None = None, limit: int) -> None:
        super().__init__(message, field=field)
        self.limit = limit


class RequestTooLarge(LimitExceeded):
    """The request body is larger than ``CDP_MAX_BODY_BYTES`` (HTTP 413)."""

    code = "REQUEST_TOO_LARGE"


class RequestTimeout(LimitExceeded):
    """The operation ran longer than ``CDP_REQUEST_TIMEOUT`` seconds."""

    code = "TIMEOUT"


class BodyTimeout(LimitExceeded):
    """The request body did not arrive within ``CDP_BODY_TIMEOUT`` seconds (HTTP 408)."""

    code = "BODY_TIMEOUT"


class HeaderTimeout(LimitExceeded):
    """The request line and headers did not arrive within ``CDP_HEADER_TIMEOUT`` seconds (HTTP 408)."""

    code = "HEADER_TIMEOUT"


class RateLimited(LimitExceeded):
    """The client sent more requests than its rate allows, or spent its heavy-lane budget (HTTP 429)."""

    code = "RATE_LIMITED"


class Busy(LimitExceeded):
    """The credential already runs as many heavy operations or jobs as it may (HTTP 429, docs/limits.md)."""

    code = "BUSY"


def error_body(error: CdpError, extensions: Mapping[str, Any] | None = None) -> bytes:
    """A GraphQL-shaped JSON response body holding ``error`` alone.

    In: the error and extra ``extensions`` entries. Out: UTF-8 JSON
    ``{"data": null, "errors": [{"message", "extensions": {"code", "field"?, ...}}]}``.
    """
    ext = {"code": error.code, **({"field": error.field} if error.field else {}), **(extensions or {})}
    return json.dumps({"data": None, "errors": [{"message": error.message, "extensions": ext}]}).encode()


def note_refusal(error: CdpError) -> None:
    """Note ``error``'s code on the request being served: ``/metrics`` and the access log count it."""
    info = CURRENT.get()
    if info is not None:
        info.error_codes.append(error.code)


async def send_error(send: Callable[[dict], Awaitable[None]], status: int, error: CdpError,
                     extensions: Mapping[str, Any] | None = None,
                     headers: Mapping[str, str] | None = None) -> None:
    """Answer an ASGI HTTP request with ``status`` and the GraphQL-shaped body of ``error``,
    and note its code on the request being served (``note_refusal``)."""
    note_refusal(error)
    body = error_body(error, extensions)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """ASGI middleware: refuse an HTTP request body above ``max_bytes`` with 413.

    A declared ``Content-Length`` above the limit is refused before a byte of the
    body is read; a chunked body is read up to the limit and refused as soon as it
    passes it. Accepted bodies are handed on unchanged (replayed from memory), so
    nothing downstream ever parses an oversized body.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _refusal(self, size: int | None) -> RequestTooLarge:
        got = f"{size} bytes" if size is not None else "more"
        return RequestTooLarge(f"request body too large: {got}; at most {self.max_bytes} bytes are accepted")

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]],
                       send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
                break
        if declared is not None:
            if declared > self.max_bytes:
                await send_error(send, 413, self._refusal(declared), {"limit": self.max_bytes})
                return
            await self.app(scope, receive, send)  # the server stops at the declared length
            return
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await send_error(send, 413, self._refusal(None), {"limit": self.max_bytes})
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class BodyReadTimeout:
    """ASGI middleware: a request body must arrive within ``seconds`` of its headers.

    ``receive`` is handed on with a deadline: when a read passes it (a client that sent
    half a body and stopped, or drips it), the request is answered 408 ``BODY_TIMEOUT`` with
    ``Connection: close``, so the server closes the connection instead of waiting for the
    rest. Requests that send no body, and reads after the body, are not affected.
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]],
                       send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds
        body_done = False
        started = False

        async def timed_receive() -> dict:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(f"the request body did not arrive within {self.seconds:g} s") from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def noting_send(message: dict) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, noting_send)
        except BodyTimeout as exc:
            if started:  # nothing reads a body after answering; should it happen, let the server end it
                raise
            log.info("%s", exc.message)
            await send_error(send, 408, exc, {"limit": self.seconds}, headers={"Connection": "close"})


def _forget(task: asyncio.Task) -> None:
    """Done-callback of an abandoned task: retrieve its outcome so nothing is logged as lost."""
    if task.cancelled():
        return
    error = task.exception()
    if error is not None and not isinstance(error, asyncio.CancelledError):
        log.warning("an operation that timed out failed afterwards: %r", error)


async def run_with_timeout(work: Coroutine[Any, Any, T], seconds: float) -> T:
    """Await ``work`` for at most ``seconds``.

    In: a coroutine and the limit in seconds. Out: its result.
    Raises ``RequestTimeout`` when it is not done in time. The work is run as
    its own task, which is cancelled and *not awaited*: a resolver waiting on a
    worker thread (whole-base analytics, a write) cannot be interrupted, and
    awaiting its cancellation would hold the client until the thread ends. The
    thread runs to its end (a write it started commits; a projection it builds
    serves later requests); the client is answered at once.
    """
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:  # the client went away: stop the work too
        task.cancel()
        task.add_done_callback(_forget)
        raise
    if task in done:
        return task.result()
    task.cancel()
    task.add_done_callback(_forget)
    raise RequestTimeout(f"the operation took longer than {seconds:g} s and was abandoned")
