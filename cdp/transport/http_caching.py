"""Caching headers of the answers to ``GET`` queries: what a browser may keep, and for whom.

A ``GET /graphql?query=...`` (or a persisted query's hash) is a read whose URL names it, so
browsers may cache its answer. Answers hold personal data read with one credential, so:

- ``Cache-Control: private``: a browser's own cache only, never a shared proxy or CDN;
- ``Vary: Authorization, X-API-Key``: an answer read with one key is never reused for another;
- ``max-age`` is ``CDP_GET_MAX_AGE`` (default 0, sent as ``no-cache``: the browser asks each
  time, so every read is authorised and audited again); above 0, a browser may show an
  answer that old without asking (and such re-reads are not in the audit log);
- ``ETag`` (a hash of the answer): a browser asking again with ``If-None-Match`` gets
  ``304 Not Modified`` without the body when the answer is unchanged (the query still runs);
- an answer holding errors gets ``Cache-Control: no-store``, as does everything sent with ``POST``
  (never cached by browsers) and every refusal before GraphQL.

Mutations are never served over ``GET`` (405, ``cdp.transport.graphql_request``).
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

#: The request headers that carry a credential: answers differ by them.
CREDENTIAL_HEADERS = "Authorization, X-API-Key"


def entity_tag(body: bytes) -> str:
    """A strong ``ETag`` of an answer's body (128 bits of its SHA-256)."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def cache_get_answer(request: Request, response: Response, max_age: int, *, failed: bool) -> Response:
    """The answer to a ``GET`` query with its caching headers, or a ``304`` in its place.

    In: the request, strawberry's JSON answer, ``CDP_GET_MAX_AGE``, whether the answer holds
    errors. Out: the answer with ``Cache-Control`` (and, unless ``failed``, ``ETag`` and
    ``Vary``), or an empty ``304 Not Modified`` when the request's ``If-None-Match`` names
    the answer's tag.
    """
    if failed:
        response.headers["Cache-Control"] = "no-store"
        return response
    tag = entity_tag(bytes(response.body))
    headers = {
        "Cache-Control": f"private, max-age={max_age}" if max_age > 0 else "private, no-cache",
        "ETag": tag,
        "Vary": CREDENTIAL_HEADERS,
    }
    if tag in _tags(request.headers.get("if-none-match", "")):
        return Response(None, 304, headers=headers)
    for name, value in headers.items():
        response.headers[name] = value
    return response


def _tags(header: str) -> set[str]:
    """The entity tags an ``If-None-Match`` names (``W/`` prefixes dropped: weak comparison, RFC 9110)."""
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}
