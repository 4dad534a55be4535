"""Which operations are heavy, and running them in the heavy lane (``cdp.limits.fair_share``;
docs/limits.md, "Lanes").

``FairShare.execute`` wraps the execution of every GraphQL operation (``cdp.app.application``). It
looks at the operation first: its analytic work (``schema.limits.operation_work``:
customers scored, a whole-base computation counting ``WHOLE_BASE``; computed once per
document text) below ``CDP_HEAVY_WORK`` makes it cheap, and it runs as it always did, on
the server's event loop. A heavy one takes the credential's place in the lane
(``HeavyLane.admit``) and runs whole on a lane thread (``HeavyLane.run``); the time it ran
is charged to the credential's budget. A refusal (``BUSY``: the credential runs too many
heavy operations; ``RATE_LIMITED``: its time budget is spent) is one error with
``extensions.code``, ``retryAfter``, ``limit`` and ``value``, answered with HTTP 429 and
``Retry-After``; nothing runs.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import lru_cache
from typing import Any

from graphql import GraphQLError, parse
from strawberry.types import ExecutionResult

from cdp.limits.fair_share import HeavyLane
from cdp.limits.request_limits import LimitExceeded
from cdp.settings import Settings
from schema.limits import operation_work


@lru_cache(maxsize=512)
def work_of(text: str, operation_name: str | None, max_page_size: int, max_tokens: int) -> int:
    """The analytic work of operation ``operation_name`` of the document ``text``; 0 for a
    document that does not parse (the GraphQL layer answers its error)."""
    from schema import schema  # the schema module imports this one

    try:
        document = parse(text, max_tokens=max_tokens)
    except (GraphQLError, RecursionError):
        return 0
    return operation_work(document, schema._schema, operation_name, max_page_size)


class FairShare:
    """Runs each operation in the right lane (see the module docstring)."""

    def __init__(self, lane: HeavyLane, settings: Settings) -> None:
        self.lane = lane
        self.settings = settings

    def work(self, query: str | None, operation_name: str | None) -> int:
        """The analytic work of one operation (see ``work_of``)."""
        if not query or not isinstance(query, str):
            return 0
        return work_of(query, operation_name if isinstance(operation_name, str) else None,
                       self.settings.max_page_size, self.settings.max_query_tokens)

    async def execute(self, principal_id: str, query: str | None, operation_name: str | None, response: Any,
                      execute: Callable[[], Coroutine[Any, Any, ExecutionResult]]) -> ExecutionResult:
        """``execute()``'s result: run on the event loop when cheap, on a lane thread when heavy,
        or the refusal (``response`` then gets HTTP 429 and ``Retry-After``)."""
        work = self.work(query, operation_name)
        if work < self.settings.heavy_work:
            return await execute()
        try:
            ticket = self.lane.admit(principal_id)
        except LimitExceeded as exc:
            retry_after = exc.retry_after or 1
            limit = self.settings.heavy_per_credential if exc.code == "BUSY" else self.settings.heavy_budget
            if response is not None:
                response.status_code = 429
                response.headers["Retry-After"] = str(retry_after)
            return ExecutionResult(data=None, errors=[GraphQLError(exc.message, extensions={
                "code": exc.code, "retryAfter": retry_after, "limit": limit, "value": work})])
        try:
            return await self.lane.run(execute, ticket)
        finally:
            ticket.release()
