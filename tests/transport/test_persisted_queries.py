"""Automatic persisted queries (``cdp.transport.persisted_queries``): the registry itself (hashes,
refusals, the byte bound), and the protocol over the real HTTP endpoint."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from strawberry.http import GraphQLRequestData

from cdp.settings import Settings
from cdp.transport.graphql_request import BadRequest
from cdp.transport.persisted_queries import PersistedQueries, PersistedQueryNotFound, persisted_hash, query_hash
from tests.conftest import api_client


def request(query: str | None, digest: str) -> GraphQLRequestData:
    return GraphQLRequestData(query=query, variables=None, operation_name=None,
                              extensions={"persistedQuery": {"version": 1, "sha256Hash": digest}})


def test_the_hash_is_the_hex_sha256_of_the_utf8_text() -> None:
    assert query_hash("{ ä }") == hashlib.sha256("{ ä }".encode()).hexdigest()


@pytest.mark.parametrize(("extensions", "field"), [
    ({"persistedQuery": "abc"}, "extensions.persistedQuery"),
    ({"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}}, "extensions.persistedQuery.version"),
    ({"persistedQuery": {"version": 1, "sha256Hash": "A" * 64}}, "extensions.persistedQuery.sha256Hash"),
    ({"persistedQuery": {"version": 1}}, "extensions.persistedQuery.sha256Hash"),
])
def test_a_malformed_persisted_query_is_a_bad_request_naming_the_member(extensions: dict, field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        persisted_hash(extensions)
    assert caught.value.field == field


def test_no_persisted_query_asked_for() -> None:
    assert persisted_hash(None) is None and persisted_hash({"other": 1}) is None


def test_a_query_is_registered_with_its_hash_then_found_by_the_hash_alone() -> None:
    registry = PersistedQueries(max_bytes=1000)
    query = "{ products { id } }"
    with pytest.raises(PersistedQueryNotFound) as caught:
        registry.resolve(request(None, query_hash(query)))
    assert caught.value.status == 200 and caught.value.code == "PERSISTED_QUERY_NOT_FOUND"
    assert registry.resolve(request(query, query_hash(query))).query == query
    assert registry.resolve(request(None, query_hash(query))).query == query
    assert len(registry) == 1 and registry.size_bytes == len(query)


def test_a_hash_that_is_not_the_querys_is_refused_and_nothing_is_registered() -> None:
    registry = PersistedQueries(max_bytes=1000)
    with pytest.raises(BadRequest) as caught:
        registry.resolve(request("{ a }", query_hash("{ b }")))
    assert caught.value.field == "extensions.persistedQuery.sha256Hash"
    assert len(registry) == 0


def test_the_registry_keeps_its_byte_bound_least_recently_used_out() -> None:
    registry = PersistedQueries(max_bytes=30)
    first, second, third = "{ a0123456789 }", "{ b0123456789 }", "{ c0123456789 }"  # 15 bytes each
    for query in (first, second):
        registry.resolve(request(query, query_hash(query)))
    registry.resolve(request(None, query_hash(first)))  # first is now the most recently used
    registry.resolve(request(third, query_hash(third)))
    assert registry.size_bytes == 30 and len(registry) == 2
    assert registry.resolve(request(None, query_hash(first))).query == first
    with pytest.raises(PersistedQueryNotFound):
        registry.resolve(request(None, query_hash(second)))
    huge = "{ " + "x" * 100 + " }"
    assert registry.resolve(request(huge, query_hash(huge))).query == huge  # runs, but is not kept
    assert registry.size_bytes == 30


def test_the_protocol_over_the_real_endpoint(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    query = "{ __typename }"
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": query_hash(query)}}
    with api_client(Settings(db_path=tmp_path / "unused.lbdb"), store) as client:
        missing = client.post("/graphql", json={"extensions": extensions})
        assert missing.status_code == 200
        assert missing.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        registered = client.post("/graphql", json={"query": query, "extensions": extensions})
        assert registered.json() == {"data": {"__typename": "Query"}}
        by_hash = client.post("/graphql", json={"extensions": extensions})
        assert by_hash.json() == {"data": {"__typename": "Query"}}
        wrong = client.post("/graphql", json={"query": "{ __schema { queryType { name } } }", "extensions": extensions})
        assert wrong.status_code == 400 and "sha256Hash" in wrong.text
