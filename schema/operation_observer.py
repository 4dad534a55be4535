"""Tells the request being served which GraphQL operation it runs.

``OperationObserver`` writes the operation's name and type into
``cdp.ops.request_context.CURRENT`` (set by ``cdp.ops.request_middleware``), which
metrics and the access log read; outside an HTTP request it does nothing.
The error codes are noted by ``cdp.app.application.CdpGraphQL.process_result``, which also
sees errors made outside the schema (an operation's timeout).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from cdp.ops.request_context import CURRENT

_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")


class OperationObserver(SchemaExtension):
    """Records the operation name (``anonymous`` when unnamed, ``invalid`` when not a GraphQL name),
    and its type on the current ``RequestInfo``."""

    def on_execute(self) -> Iterator[None]:
        self._note()  # before executing: an operation cut short by its timeout is still named
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        info = CURRENT.get()
        if info is not None and info.operation is None:
            self._note()  # parse or validation failed: there was no execution

    def _note(self) -> None:
        info = CURRENT.get()
        if info is None:
            return
        ctx = self.execution_context
        try:
            name = ctx.operation_name
        except Exception:  # noqa: BLE001 - an unparsable document has no name
            name = None
        if name is None:
            info.operation = "anonymous"
        else:
            info.operation = name if _GRAPHQL_NAME.fullmatch(name) else "invalid"
        try:
            info.operation_type = ctx.operation_type.value
        except Exception:  # noqa: BLE001 - no document, or no such operation
            info.operation_type = None
