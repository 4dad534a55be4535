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

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

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
