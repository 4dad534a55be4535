"""The Relay paging arguments every connection of the API shares (``cdp.transport.pagination`` checks them).

``first``/``after`` page forward, ``last``/``before`` backward; cursors are keyset cursors,
so pages do not shift when rows are written before the cursor (docs/api.md).
"""

from __future__ import annotations

from typing import Annotated

import strawberry

#: ``last``: page backward.
LastArgument = Annotated[int | None, strawberry.argument(
    description="Page backward: the last `last` items before `before` (or the end of the list); "
                "not with `first`. At most the list's page limit (CDP_MAX_PAGE_SIZE; auditLog: 1000).")]
#: ``before``: the cursor to page backward from.
BeforeArgument = Annotated[str | None, strawberry.argument(
    description="Cursor (an edge's `cursor` or `pageInfo.startCursor`) to page backward from, with `last`.")]

#: ``first``: page forward.
FirstArgument = Annotated[int | None, strawberry.argument(
    description="Page forward: the first `first` items after `after` (or the start of the list), "
                "0..`CDP_MAX_PAGE_SIZE` (PAGE_TOO_LARGE above); not with `last`. Null with `last` null: 20.")]
#: ``after``: the cursor to page forward from.
AfterArgument = Annotated[str | None, strawberry.argument(
    description="Cursor (an edge's `cursor` or `pageInfo.endCursor`) to page forward from; null: the start.")]
