"""Every GraphQL error leaves cdp with ``extensions.code`` and no traceback.

| code | when |
|---|---|
| ``GRAPHQL_PARSE_FAILED`` | the document is not valid GraphQL syntax |
| ``GRAPHQL_VALIDATION_FAILED`` | unknown field, wrong argument type, bad variable |
| ``TOO_MANY_TOKENS`` / ``QUERY_TOO_DEEP`` | the parser gave up on a too long or too nested document (docs/limits.md) |
| ``BAD_USER_INPUT`` | also: a variable value its type rejects (e.g. an unknown enum value) |
| a ``CdpError`` code | e.g. ``BAD_USER_INPUT``, ``NOT_FOUND``, ``STORE_UNAVAILABLE`` |
| ``INTERNAL_SERVER_ERROR`` | anything else: a bug, logged server-side with its traceback |
"""

from __future__ import annotations

import logging

from collections.abc import Awaitable, Callable
from typing import Any

from graphql.error import GraphQLError
from strawberry.extensions import FieldExtension, MaskErrors
from strawberry.utils.str_converters import to_camel_case

from cdp.errors import CdpError
from cdp.limits.request_limits import PageTooLarge

log = logging.getLogger("cdp.graphql")


def error_code(error: GraphQLError) -> str:
    """The ``extensions.code`` an error is reported with."""
    original = error.original_error
    if isinstance(original, CdpError):
        return original.code
    if isinstance(original, GraphQLError):  # a variable value that does not fit its type
        return "BAD_USER_INPUT"
    if original is None:
        if error.message.startswith("Syntax Error: Document contains more than"):
            return "TOO_MANY_TOKENS"  # the parser's max_tokens (docs/limits.md)
        if error.message.startswith("Syntax Error: Document is nested too deeply"):
            return "QUERY_TOO_DEEP"
        if error.message.startswith("Syntax Error"):
            return "GRAPHQL_PARSE_FAILED"
        return "GRAPHQL_VALIDATION_FAILED"
    return "INTERNAL_SERVER_ERROR"


class FieldsUnder(FieldExtension):
    """``extensions.field`` is the full path in a field's arguments on every operation
    (docs/errors.md). Domain code that checks an input object names the fields inside it
    (``offers[1]``, ``eligibility.contract``); on a field taking that object as argument
    ``argument``, this roots such a path there (``input.offers[1]``). A path that already
    starts with one of the field's own arguments (``productId``) is left as it is."""

    def __init__(self, argument: str) -> None:
        self.argument = argument
        self.arguments: frozenset[str] = frozenset()

    def apply(self, field: Any) -> None:
        self.arguments = frozenset(a.graphql_name or to_camel_case(a.python_name) for a in field.arguments)

    def rooted(self, error: CdpError) -> CdpError:
        head = (error.field or "").split(".", 1)[0].split("[", 1)[0]
        if error.field and head not in self.arguments:
            error.field = f"{self.argument}.{error.field}"
        return error

    def resolve(self, next_: Callable[..., Any], source: Any, info: Any, **kwargs: Any) -> Any:
        try:
            return next_(source, info, **kwargs)
        except CdpError as error:
            raise self.rooted(error) from error.__cause__

    async def resolve_async(self, next_: Callable[..., Awaitable[Any]], source: Any, info: Any,
                            **kwargs: Any) -> Any:
        try:
            return await next_(source, info, **kwargs)
        except CdpError as error:
            raise self.rooted(error) from error.__cause__


class ErrorCodes(MaskErrors):
    """Adds ``extensions.code`` to every error and masks unexpected ones."""

    def __init__(self) -> None:
        super().__init__(error_message="Internal server error.")

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        out = []
        for error in errors:
            code = error_code(error)
            original = error.original_error
            message = error.message
            extensions = dict(error.extensions or {})
            if code == "INTERNAL_SERVER_ERROR":
                log.error("unexpected error in %s", error.path, exc_info=original)
                message = self.error_message
            elif isinstance(original, CdpError):
                message = original.message
                if original.field:
                    extensions["field"] = original.field
                if isinstance(original, PageTooLarge):
                    extensions["limit"] = original.limit
            extensions["code"] = code
            out.append(GraphQLError(
                message, nodes=error.nodes, source=error.source, positions=error.positions,
                path=error.path, original_error=None, extensions=extensions,
            ))
        return out
