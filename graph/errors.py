"""Root of cdp's one error hierarchy, and the store's errors.

The root lives here, in the lowest layer, because imports point one way
(schema -> resolvers -> cdp -> graph): the store must raise errors that the
API layer maps to ``extensions.code`` without importing upwards.
``cdp.errors`` re-exports these and adds the domain errors.
"""

from __future__ import annotations


class CdpError(Exception):
    """Base of all cdp errors. ``code`` is stable and documented in docs/errors.md."""

    code = "CDP_ERROR"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(CdpError):
    """A request, file or row holds a value cdp cannot accept."""

    code = "BAD_USER_INPUT"


class StoreError(CdpError):
    """The graph store rejected an operation (a constraint or a bug)."""

    code = "STORE_ERROR"


class StoreUnavailable(StoreError):
    """The graph store cannot be reached or opened right now."""

    code = "STORE_UNAVAILABLE"


class StoreLocked(StoreUnavailable):
    """The embedded store's file is held read-write by another process (one writer at a
    time, usually a running ``cdp serve``); ``pid`` is that process's id when LadybugDB
    names it, else ``None``."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class Conflict(CdpError):
    """The operation conflicts with the current state (e.g. loading into a non-empty store)."""

    code = "CONFLICT"


class IdTaken(Conflict):
    """A write would update an ``AttributeValue`` whose id (a hash of identity, key and time,
    ``graph.observation_ids``) another observation holds: a hash collision. Nothing is
    written; ``ids`` are the contested ids. ``cdp.customers.provenance.write_observations`` moves the
    new observations along ``next_ids`` and writes again, so callers rarely see it."""

    def __init__(self, message: str, ids: list[int]) -> None:
        super().__init__(message, field="id")
        self.ids = ids


class KeyTaken(Conflict):
    """A write op marked ``fresh`` (rows believed new, so created without reading which
    keys are stored) named a node that is stored already. Nothing is written; write the
    ops again without ``fresh`` (``cdp.customers.provenance.write_observations`` does)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="id")
