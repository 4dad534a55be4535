"""The one error hierarchy of cdp (root in ``graph.errors``, domain errors here).

Every error a user can cause or meet carries a stable machine-readable
``code``; the GraphQL layer copies it into ``extensions.code`` and the CLI
prints the message. Anything that is not a ``CdpError`` is a bug: it is
logged with its traceback and reaches clients only as ``INTERNAL_SERVER_ERROR``.
"""

from __future__ import annotations

from graph.errors import CdpError, Conflict, InvalidInput, StoreError, StoreUnavailable

__all__ = [
    "CdpError", "Conflict", "ConfigurationError", "InvalidInput", "NotFound",
    "ShuttingDown", "StoreError", "StoreUnavailable", "Unauthenticated", "Forbidden",
]


class NotFound(CdpError):
    """An entity that must exist does not."""

    code = "NOT_FOUND"


class ConfigurationError(CdpError):
    """A setting is missing or contradictory."""

    code = "CONFIGURATION_ERROR"


class ShuttingDown(CdpError):
    """The server is stopping and cancelled long work (``cdp.cancellation``); retry elsewhere or later."""

    code = "SHUTTING_DOWN"


class Unauthenticated(CdpError):
    """No credentials, or credentials that are unknown, expired, revoked or malformed (HTTP 401)."""

    code = "UNAUTHENTICATED"


class Forbidden(CdpError):
    """Valid credentials that do not allow this operation, field or customer."""

    code = "FORBIDDEN"
