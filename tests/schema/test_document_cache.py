"""Repeated query texts are parsed and validated once; bad texts still get coded errors."""

from __future__ import annotations

from schema import DOCUMENT_CACHE_SIZE
from schema.document_cache import _cached_parse
from tests.conftest import gql


def test_a_repeated_query_is_parsed_once(client) -> None:  # type: ignore[no-untyped-def]
    query = "query Repeated { channels { id name } }"
    info = _cached_parse(DOCUMENT_CACHE_SIZE).cache_info
    first = gql(client, query)
    before = info()
    second = gql(client, query)
    after = info()
    assert first == second and "errors" not in second and second["data"]["channels"]
    assert after.hits == before.hits + 1 and after.misses == before.misses


def test_syntax_errors_are_coded_every_time_and_not_cached(client) -> None:  # type: ignore[no-untyped-def]
    info = _cached_parse(DOCUMENT_CACHE_SIZE).cache_info
    size = info().currsize
    for _ in range(2):
        body = gql(client, "{ channels { id ")
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert info().currsize == size


def test_validation_errors_are_coded_on_a_cached_document(client) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):
        body = gql(client, "{ channels { noSuchField } }")
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
