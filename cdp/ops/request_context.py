"""What is known about the HTTP request being served, for logs and metrics.

``RequestInfo`` is created by ``cdp.ops.request_middleware`` for every HTTP request
and held in the context variable ``CURRENT`` while the request is served, so
every log line emitted on its behalf (on the event loop or in a worker thread:
anyio copies the context) carries its request id, and the GraphQL layer can
record the operation name and the error codes it answered.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field

#: Header a caller (a gateway, a front end) may set to correlate its logs with ours.
REQUEST_ID_HEADER = "x-request-id"

#: An accepted incoming request id: 1-64 characters among letters, digits and ``._:-``.
#: Anything else (too long, spaces, quotes, control characters) is replaced by a new id,
#: so a caller cannot inject text into log lines or headers.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")


@dataclass
class RequestInfo:
    """One request being served. Filled in as the request goes through the layers."""

    request_id: str
    #: The GraphQL operation name as the metrics label it (bounded; see ``cdp.ops.metrics``),
    #: or None for a request that is not a GraphQL operation.
    operation: str | None = None
    #: ``query``, ``mutation`` or ``subscription`` when known.
    operation_type: str | None = None
    #: ``extensions.code`` of every error the response carries, in order, with repeats.
    error_codes: list[str] = field(default_factory=list)
    #: The authenticated principal's id (``cdp.security.authentication``), or None.
    principal: str | None = None


#: The request being served in this context, or None outside a request.
CURRENT: ContextVar[RequestInfo | None] = ContextVar("cdp_request", default=None)


def request_id_from(header: str | None) -> str:
    """The request id to use: ``header`` when it is a safe id, else a new random one (32 hex digits).

    In: the raw ``X-Request-ID`` header value or None. Out: the id. Never fails.
    """
    if header is not None and _SAFE_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request being served in this context, or None."""
    info = CURRENT.get()
    return info.request_id if info is not None else None
