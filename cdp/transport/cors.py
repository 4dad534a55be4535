"""Cross-origin requests (CORS): which browser pages on other origins may call the API.

Off unless ``CDP_CORS_ORIGINS`` lists origins (or ``*``; ``cdp.settings``). When on, ``Cors``
(ASGI middleware, outside authentication and the rate limit) answers a browser's preflight
(``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) itself, before any
credential is asked for: a preflight carries none, and a browser gives up on a preflight
that is not a 2xx. Allowed: ``GET`` and ``POST``, the headers ``Authorization``,
``X-API-Key``, ``Content-Type``, ``X-Request-ID``; a page may read ``Retry-After``, ``ETag``
and ``X-Request-ID`` of an answer. Every other request is served as usual (authentication
included), its answer carrying ``Access-Control-Allow-Origin`` when the origin is allowed.
An accepted preflight gets 204 with the CORS headers. A preflight that is refused (an origin not listed, another method or header) gets 403
``FORBIDDEN`` in cdp's JSON shape, naming what was refused.

Credentials travel in headers, never cookies, so ``Access-Control-Allow-Credentials`` is not
sent: another origin's page can only call with a key its own code holds.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from cdp.errors import Forbidden
from cdp.limits.request_limits import error_body, note_refusal

ALLOWED_METHODS = ("GET", "POST")
ALLOWED_HEADERS = ("Authorization", "X-API-Key", "Content-Type", "X-Request-ID")
EXPOSED_HEADERS = ("Retry-After", "ETag", "X-Request-ID")


class Cors(CORSMiddleware):
    """Starlette's CORS middleware set up for cdp, its refused preflights answered in JSON."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...], max_age: int) -> None:
        super().__init__(app, allow_origins=origins, allow_methods=ALLOWED_METHODS, allow_headers=ALLOWED_HEADERS,
                         expose_headers=EXPOSED_HEADERS, max_age=max_age)

    def preflight_response(self, request_headers: Headers) -> Response:
        """The answer to a preflight: Starlette's when it passes; else 403 ``FORBIDDEN`` naming
        the refused origin, method or headers (and the CORS headers, so a browser reports it)."""
        response = super().preflight_response(request_headers)
        kept = {k: v for k, v in response.headers.items() if k.lower().startswith(("access-control-", "vary"))}
        if response.status_code < 400:
            return Response(None, 204, headers=kept)
        reasons = []
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ").split(", ")
        if "origin" in refused:
            reasons.append(f"the origin {request_headers['origin']} is not in CDP_CORS_ORIGINS")
        if "method" in refused:
            reasons.append(f"the method {request_headers['access-control-request-method']} is not served "
                           f"(only {', '.join(ALLOWED_METHODS)})")
        if "headers" in refused:
            reasons.append(f"a requested header is not accepted (only {', '.join(ALLOWED_HEADERS)})")
        if "private-network" in refused:
            reasons.append("private network access is not granted")
        error = Forbidden("CORS preflight refused: " + "; ".join(reasons))
        note_refusal(error)
        return Response(error_body(error), 403, headers=kept, media_type="application/json")
