"""What cdp accepts as a GraphQL request over HTTP, and how it refuses everything else.

A GraphQL request is

- a ``POST`` with ``Content-Type: application/json`` whose body is one UTF-8 JSON object
  ``{"query": str, "operationName": str | null, "variables": object | null,
  "extensions": object | null}``; or
- a ``GET`` whose query string holds ``query``, ``operationName`` and, as JSON text,
  ``variables`` and ``extensions`` (queries only: a mutation needs ``POST``).

Either may leave ``query`` out when its ``extensions`` name a persisted query (Apollo's
automatic persisted queries, ``cdp.transport.persisted_queries``).

``read_request`` turns an HTTP request into strawberry's ``GraphQLRequestData`` and checks
on the way, once per request, that the JSON nests no deeper than ``CDP_MAX_JSON_DEPTH``
and that no string in it (the query, a variable, a key, an extension) holds a lone
surrogate, which no store can write and no client can read back. What is not acceptable
raises a ``TransportError``: the view answers it with its ``status`` and a GraphQL-shaped
JSON body (``cdp.limits.request_limits.send_error``), before GraphQL runs and before the store is reached:

| refusal | status | code | ``extensions.field`` |
|---|---|---|---|
| body not UTF-8 or not JSON; not one JSON object (a list: batches are not supported) | 400 | ``BAD_REQUEST`` | |
| no ``query`` (and no persisted query), or ``query``, ``operationName``, ``variables``, ``extensions`` of the wrong type | 400 | ``BAD_REQUEST`` | the member |
| a malformed ``extensions.persistedQuery``, or a ``sha256Hash`` that is not the query's | 400 | ``BAD_REQUEST`` | ``extensions.persistedQuery...`` |
| a persisted query's hash the server does not hold (the client sends the text again) | 200 | ``PERSISTED_QUERY_NOT_FOUND`` | |
| JSON nested deeper than ``CDP_MAX_JSON_DEPTH`` | 400 | ``JSON_TOO_DEEP`` | |
| a lone surrogate (``"\\ud800"``) in any string | 400 | ``BAD_USER_INPUT`` | its path, e.g. ``variables.items[3].email`` |
| ``operationName`` names no operation, or several operations and no name | 400 | ``OPERATION_RESOLUTION_FAILURE`` | ``operationName`` |
| a mutation over ``GET``; a method other than ``GET`` and ``POST`` | 405 + ``Allow`` | ``METHOD_NOT_ALLOWED`` | |
| a ``POST`` that is not ``application/json`` | 415 | ``UNSUPPORTED_MEDIA_TYPE`` | |
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError, OperationDefinitionNode, parse
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from cdp.errors import CdpError

#: The one media type a POST body may have (RFC 8259: JSON between systems is UTF-8).
JSON_MEDIA_TYPE = "application/json"

#: A JSON escape of a UTF-16 surrogate (``\ud800``-``\udfff``): the only way a lone surrogate
#: gets into a string decoded from strict UTF-8. Texts without one need no string check.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class TransportError(CdpError):
    """A request refused by the HTTP transport, before GraphQL runs. ``status`` is its HTTP status."""

    code = "BAD_REQUEST"
    status = 400
    headers: Mapping[str, str] = {}
    extensions: Mapping[str, Any] = {}


class BadRequest(TransportError):
    """The request is not a GraphQL request: bad encoding, bad JSON, wrong shape or member types."""


class JsonTooDeep(TransportError):
    """The request's JSON nests deeper than ``CDP_MAX_JSON_DEPTH`` (or than the parser can)."""

    code = "JSON_TOO_DEEP"

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"the request's JSON nests objects and arrays deeper than {max_depth} levels")
        self.extensions = {"limit": max_depth}


class UnreadableText(TransportError):
    """A string of the request holds a lone surrogate: not Unicode text (``field``: where)."""

    code = "BAD_USER_INPUT"


class OperationResolutionFailure(TransportError):
    """The document is readable but ``operationName`` does not pick one operation of it."""

    code = "OPERATION_RESOLUTION_FAILURE"


class MethodNotAllowed(TransportError):
    """An HTTP method the endpoint does not serve, or a mutation sent with GET (HTTP 405)."""

    code = "METHOD_NOT_ALLOWED"
    status = 405

    def __init__(self, message: str, *, allow: str) -> None:
        super().__init__(message)
        self.headers = {"Allow": allow}


class UnsupportedMediaType(TransportError):
    """A POST body that is not ``application/json`` (HTTP 415)."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415


async def read_request(request: AsyncHTTPRequestAdapter, max_depth: int) -> GraphQLRequestData:
    """The GraphQL request an HTTP request carries.

    In: strawberry's adapter of the request, and the deepest JSON nesting accepted.
    Out: query, operation name, variables and extensions, checked as the module says.
    Raises a ``TransportError`` for anything else.
    """
    if request.method == "GET":
        params = dict(request.query_params)
        data: Any = {name: params.get(name) for name in ("query", "operationName")}
        for name in ("variables", "extensions"):
            text = params.get(name)
            data[name] = decode_json(text, max_depth, name) if text else None
        check_json({"query": data["query"], "operationName": data["operationName"]}, max_depth, "")
    else:
        media_type = parse_content_type(request.content_type or "")[0].lower()  # case-insensitive (RFC 9110)
        if media_type != JSON_MEDIA_TYPE:
            shown = media_type or "none"
            raise UnsupportedMediaType(f"a GraphQL request is sent as {JSON_MEDIA_TYPE}, not as {shown}")
        data = decode_json(await request.get_body(), max_depth, "")
    return request_data(data)


def decode_json(raw: bytes | str, max_depth: int, where: str) -> Any:
    """The JSON value of ``raw`` (the body, or a query parameter named ``where``), checked.

    Bytes must be UTF-8. Raises ``BadRequest`` (not UTF-8, not JSON), ``JsonTooDeep`` and
    ``UnreadableText`` (``check_json``).
    """
    what = f"`{where}`" if where else "the request body"
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"{what} is not valid UTF-8 (byte {exc.start})", field=where or None) from None
    else:
        text = raw
    try:
        value = json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                         field=where or None) from None
    except ValueError as exc:  # NaN or Infinity (not JSON), an integer of more than 4,300 digits
        raise BadRequest(f"{what} is not valid JSON: {exc}", field=where or None) from None
    except RecursionError:  # the parser recurses once per level: far past any limit
        raise JsonTooDeep(max_depth) from None
    # A lone surrogate can only come from an escape (strict UTF-8 decoding refuses encoded
    # ones), so only a text with such an escape needs every string looked at; else only the
    # nesting is measured, and only when the text has more brackets than the limit.
    if _SURROGATE_ESCAPE.search(text):
        check_json(value, max_depth, where)
    elif text.count("[") + text.count("{") > max_depth and _nests_deeper(value, max_depth):
        raise JsonTooDeep(max_depth)
    return value


def _nests_deeper(value: Any, max_depth: int) -> bool:
    """Whether the objects and arrays of a decoded JSON ``value`` nest deeper than ``max_depth``.

    Level by level over containers only, strings untouched: a third to a half of the time
    ``json.loads`` takes to decode it (0.7-1.1 ms CPU for a batch of 1,000 partner items),
    a fifth of ``check_json`` (docs/benchmarks.md).
    """
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            return True
        below = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
    return False


def _not_json(constant: str) -> Any:
    """``parse_constant`` of ``json.loads``: Python reads ``NaN`` and ``Infinity``, JSON has no such values."""
    raise ValueError(f"{constant} is not a JSON value")


def check_json(value: Any, max_depth: int, where: str) -> None:
    """Check a decoded JSON value: nesting and text. ``where`` is its path (``""``: the body).

    Raises ``JsonTooDeep`` when objects and arrays nest deeper than ``max_depth``, and
    ``UnreadableText`` (``field``: the path) for a string or key holding a lone surrogate.
    Iterative, so no nesting can exhaust the stack.
    """
    stack: list[tuple[Any, int, tuple | None]] = [(value, 1, (None, where) if where else None)]
    while stack:
        node, depth, trail = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                raise _unreadable(trail, "a string")
            continue
        if isinstance(node, dict):
            pairs: Any = node.items()
            for key in node:
                if _SURROGATE.search(key):
                    raise _unreadable(trail, "a key")
        elif isinstance(node, list):
            pairs = enumerate(node)
        else:
            continue
        if depth > max_depth:
            raise JsonTooDeep(max_depth)
        for key, item in pairs:
            if isinstance(item, (str, dict, list)):
                stack.append((item, depth + 1, (trail, key)))


def _unreadable(trail: tuple | None, what: str) -> UnreadableText:
    path = _path(trail)
    where = f" at {path}" if path else ""
    return UnreadableText(f"{what}{where} holds a lone UTF-16 surrogate, which is not text", field=path or None)


def _path(trail: tuple | None) -> str:
    """``variables.items[3].email`` from a trail of ``(parent trail, key)`` pairs."""
    keys = []
    while trail is not None:
        trail, key = trail
        keys.append(key)
    out = ""
    for key in reversed(keys):
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def request_data(data: Any) -> GraphQLRequestData:
    """The members of a decoded request object, type-checked. Raises ``BadRequest``."""
    if isinstance(data, list):
        raise BadRequest("the request must be one JSON object; batches (a JSON array) are not supported")
    if not isinstance(data, dict):
        raise BadRequest("the request must be a JSON object with a `query` member")
    for member in ("variables", "extensions"):
        if not isinstance(data.get(member), (dict, type(None))):
            raise BadRequest(f"`{member}` must be a JSON object or null", field=member)
    query = data.get("query")
    if query is None and "persistedQuery" in (data.get("extensions") or {}):
        pass  # a persisted query's hash alone: ``cdp.transport.persisted_queries`` fills the query in
    elif query is None or query == "":
        raise BadRequest("the request holds no GraphQL query (`query`)", field="query")
    elif not isinstance(query, str):
        raise BadRequest("`query` must be a string", field="query")
    operation_name = data.get("operationName")
    if not isinstance(operation_name, (str, type(None))):
        raise BadRequest("`operationName` must be a string or null", field="operationName")
    return GraphQLRequestData(query=query, variables=data.get("variables"), operation_name=operation_name,
                              extensions=data.get("extensions"), protocol="http")


@lru_cache(maxsize=512)
def _operations_in(text: str, max_tokens: int) -> int:
    """How many operations the document ``text`` defines; 0 when it does not parse (the
    GraphQL layer answers that error)."""
    try:
        document = parse(text, max_tokens=max_tokens)
    except (GraphQLError, RecursionError):
        return 0
    return sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)


def check_operation_choice(data: GraphQLRequestData, max_tokens: int) -> None:
    """Refuse a document of several operations sent without ``operationName``
    (``OperationResolutionFailure``). The GraphQL spec requires the name then; strawberry
    would run the first operation, so a client that forgot it gets an answer to a question
    it may not have meant (and a mutation listed first would run). Computed once per
    document text (a cache of 512)."""
    if data.operation_name is None and isinstance(data.query, str) and _operations_in(data.query, max_tokens) > 1:
        raise OperationResolutionFailure(
            "the document holds several operations: name the one to run in `operationName`", field="operationName")


def refusal_of(exc: HTTPException) -> TransportError:
    """The ``TransportError`` for a refusal strawberry raised as a plain-text ``HTTPException``.

    Its cause tells which: an operation name that picks no operation, a mutation over GET,
    no query; otherwise the status decides (405: a method the endpoint does not serve).
    """
    cause = exc.__cause__
    if isinstance(cause, CannotGetOperationTypeError):
        if cause.operation_name is None:
            message = "the document holds several operations: name the one to run in `operationName`"
        else:
            message = f"the document holds no operation named {cause.operation_name!r}"
        return OperationResolutionFailure(message, field="operationName")
    if isinstance(cause, InvalidOperationTypeError):
        return MethodNotAllowed(f"{exc.reason}: send it with POST", allow="POST")
    if isinstance(cause, MissingQueryError):
        return BadRequest("the request holds no GraphQL query (`query`)", field="query")
    if exc.status_code == 405:
        return MethodNotAllowed("the GraphQL endpoint serves GET and POST only", allow="GET, POST")
    return BadRequest(exc.reason)
