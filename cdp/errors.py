"""The one error hierarchy of cdp (root in ``graph.errors``, domain errors here).

Every error a user can cause or meet carries a stable machine-readable
``code``; the GraphQL layer copies it into ``extensions.code`` and the CLI
prints the message. Anything that is not a ``CdpError`` is a bug: it is
logged with its traceback and reaches clients only as ``INTERNAL_SERVER_ERROR``.
"""

from __future__ import annotations

from typing import TypeVar

from graph.errors import CdpError, Conflict, InvalidInput, StoreError, StoreLocked, StoreUnavailable

__all__ = [
    "CdpError", "Conflict", "ConfigurationError", "InvalidInput", "NotConfirmed", "NotFound",
    "PortInUse", "ShuttingDown", "StoreError", "StoreLocked", "StoreMissing", "StoreUnavailable", "Unauthenticated", "Forbidden",
    "require_analytics",
]


class NotFound(CdpError):
    """An entity that must exist does not."""

    code = "NOT_FOUND"


class ConfigurationError(CdpError):
    """A setting is missing or contradictory."""

    code = "CONFIGURATION_ERROR"


_Part = TypeVar("_Part")


def require_analytics(part: _Part | None) -> _Part:
    """``part`` (the app's ``cdp.analytics.analytics.Analytics``, or one of its services) when it is
    there: the one guard of every operation that needs the app's analytics (segments,
    scores, value, offers, campaign audiences, relationship management). Raises
    ``ConfigurationError`` (``CONFIGURATION_ERROR``, docs/errors.md) when it is None: a
    context or service built without them (an app always builds them)."""
    if part is None:
        raise ConfigurationError("analytics are not available in this context (the app was built without them)")
    return part


class ShuttingDown(CdpError):
    """The server is stopping and cancelled long work (``cdp.ops.cancellation``); retry elsewhere or later."""

    code = "SHUTTING_DOWN"


class Unauthenticated(CdpError):
    """No credentials, or credentials that are unknown, expired, revoked or malformed (HTTP 401)."""

    code = "UNAUTHENTICATED"


class Forbidden(CdpError):
    """Valid credentials that do not allow this operation, field or customer."""

    code = "FORBIDDEN"


class StoreMissing(StoreUnavailable):
    """A command that reads or changes a store found no store where the settings point
    (``CDP_DB_PATH``); only commands that create a store (``cdp init``, ``cdp serve``,
    ``cdp demo load``, ``cdp import``) make one."""


class PortInUse(CdpError):
    """``cdp serve`` cannot listen: another process holds the address and port."""

    code = "PORT_IN_USE"


class NotConfirmed(CdpError):
    """An irreversible command was not confirmed (the answer was not yes, or there was no
    terminal to ask and no ``--yes``); nothing was changed."""

    code = "NOT_CONFIRMED"
