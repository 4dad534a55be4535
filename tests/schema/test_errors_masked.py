"""Unexpected exceptions reach clients only as INTERNAL_SERVER_ERROR, without details."""

from __future__ import annotations

import strawberry

from graph.errors import StoreUnavailable
from schema.errors import ErrorCodes


@strawberry.type
class _Query:
    @strawberry.field
    def boom(self) -> int:
        raise RuntimeError("secret internals /etc/passwd")

    @strawberry.field
    def down(self) -> int:
        raise StoreUnavailable("the store is down")


_schema = strawberry.Schema(query=_Query, extensions=[ErrorCodes])


def test_unexpected_errors_are_masked() -> None:
    result = _schema.execute_sync("{ boom }")
    error = result.errors[0]
    assert error.message == "Internal server error."
    assert error.extensions == {"code": "INTERNAL_SERVER_ERROR"}
    assert "secret" not in str(error.formatted)


def test_cdp_errors_keep_their_code_and_message() -> None:
    error = _schema.execute_sync("{ down }").errors[0]
    assert error.extensions["code"] == "STORE_UNAVAILABLE"
    assert error.message == "the store is down"
