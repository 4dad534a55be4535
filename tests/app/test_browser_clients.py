"""What browser and GraphQL clients expect of the HTTP endpoint: CORS (``cdp.transport.cors``),
automatic persisted queries (``cdp.transport.persisted_queries``, Apollo's protocol) and ``GET`` queries
with caching headers (``cdp.transport.http_caching``). Everything through the real app
(``cdp.app.build_app``) over the demo store, with real API keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdp.errors import ConfigurationError
from cdp.transport.persisted_queries import PersistedQueries, PersistedQueryNotFound, query_hash
from cdp.settings import Settings
from strawberry.http import GraphQLRequestData
from tests.conftest import api_client

ORIGIN = "https://app.example.com"
QUERY = "{ channels { id } }"


def apq(digest: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


@pytest.fixture(scope="module")
def cors_client(demo_store, tmp_path_factory: pytest.TempPathFactory) -> Iterator:  # type: ignore[no-untyped-def]
    settings = Settings(cors_origins=(ORIGIN, "http://localhost:3000"), cors_max_age=120,
                        audit_log=tmp_path_factory.mktemp("cors") / "audit.jsonl")
    with api_client(settings, demo_store) as c:
        yield c


def preflight(client, origin: str = ORIGIN, method: str = "POST",  # type: ignore[no-untyped-def]
              headers: str = "authorization, content-type"):
    """A browser's preflight: no credential (the test client's key header is removed)."""
    return client.options("/graphql", headers={"Origin": origin, "Access-Control-Request-Method": method,
                                               "Access-Control-Request-Headers": headers,
                                               "Authorization": ""})


# -- CORS -------------------------------------------------------------------------------------


def test_cors_is_off_by_default(client) -> None:  # type: ignore[no-untyped-def]
    response = client.options("/graphql", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in response.headers
    answer = client.post("/graphql", json={"query": QUERY}, headers={"Origin": ORIGIN})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


def test_preflight_is_answered_before_authentication(cors_client) -> None:  # type: ignore[no-untyped-def]
    response = preflight(cors_client)
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert set(response.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST"}
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "x-api-key" in allowed and "content-type" in allowed
    assert response.headers["access-control-max-age"] == "120"
    assert "access-control-allow-credentials" not in response.headers  # keys travel in headers, not cookies
    assert "origin" in response.headers["vary"].lower()


@pytest.mark.parametrize(("origin", "method", "headers", "named"), [
    ("https://evil.example", "POST", "authorization", "https://evil.example"),
    (ORIGIN, "PUT", "authorization", "PUT"),
    (ORIGIN, "POST", "authorization, x-secret", "header"),
])
def test_refused_preflight_is_a_json_403(cors_client, origin: str, method: str, headers: str,  # type: ignore[no-untyped-def]
                                         named: str) -> None:
    response = preflight(cors_client, origin, method, headers)
    assert response.status_code == 403
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert named in error["message"]
    if origin != ORIGIN:
        assert "access-control-allow-origin" not in response.headers


def test_cross_origin_answers_carry_cors_headers(cors_client) -> None:  # type: ignore[no-untyped-def]
    answer = cors_client.post("/graphql", json={"query": QUERY}, headers={"Origin": ORIGIN})
    assert answer.status_code == 200 and answer.json()["data"]["channels"]
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "etag" in answer.headers["access-control-expose-headers"].lower()
    # A refusal is readable by the page too (so it can tell the user the key is wrong).
    refused = cors_client.post("/graphql", json={"query": QUERY}, headers={"Origin": ORIGIN, "Authorization": ""})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ORIGIN
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # An origin not listed gets no grant: the browser keeps the answer from the page.
    other = cors_client.post("/graphql", json={"query": QUERY}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_any_origin(demo_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with api_client(Settings(cors_origins=("*",), audit_log=tmp_path / "a.jsonl"), demo_store) as c:
        response = preflight(c, "http://localhost:5173")
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("raw", ["https://app.example.com/", "app.example.com", "ftp://x.example",
                                 "*, https://app.example.com", "https://app.example.com/path"])
def test_cors_origins_setting_is_checked(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="CDP_CORS_ORIGINS"):
        Settings.from_env({"CDP_CORS_ORIGINS": raw})


def test_cors_origins_setting_is_read() -> None:
    settings = Settings.from_env({"CDP_CORS_ORIGINS": "https://a.example, http://localhost:3000"})
    assert settings.cors_origins == ("https://a.example", "http://localhost:3000")
    assert Settings.from_env({}).cors_origins == ()


# -- automatic persisted queries --------------------------------------------------------------


def test_persisted_query_round_trip(client) -> None:  # type: ignore[no-untyped-def]
    query = "query PersistedChannels { channels { id } }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    plain = client.post("/graphql", json={"query": query}).json()

    # The hash alone, unknown yet: the protocol's not-found answer, on which clients resend with the text.
    missing = client.post("/graphql", json={"extensions": apq(digest)})
    assert missing.status_code == 200
    error = missing.json()["errors"][0]
    assert error["message"] == "PersistedQueryNotFound"
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert client.get("/graphql", params={"extensions": json.dumps(apq(digest))}).headers["cache-control"] == "no-store"

    registered = client.post("/graphql", json={"query": query, "extensions": apq(digest)})
    assert registered.status_code == 200 and registered.json() == plain
    # From now on the hash alone runs it, over POST and over GET.
    assert client.post("/graphql", json={"extensions": apq(digest)}).json() == plain
    got = client.get("/graphql", params={"extensions": json.dumps(apq(digest))})
    assert got.status_code == 200 and got.json() == plain
    # A client sending Accept: */* (curl) gets the answer, not the playground page.
    curl = client.get("/graphql", params={"extensions": json.dumps(apq(digest))}, headers={"Accept": "*/*"})
    assert curl.headers["content-type"].startswith("application/json") and curl.json() == plain


def test_persisted_query_with_variables(client) -> None:  # type: ignore[no-untyped-def]
    query = "query One($n: Int!) { customers(first: $n) { edges { node { id } } } }"
    digest = query_hash(query)
    first = client.post("/graphql", json={"query": query, "variables": {"n": 1}, "extensions": apq(digest)}).json()
    second = client.post("/graphql", json={"variables": {"n": 2}, "extensions": apq(digest)}).json()
    assert len(first["data"]["customers"]["edges"]) == 1
    assert len(second["data"]["customers"]["edges"]) == 2


def test_persisted_query_hash_is_verified(client) -> None:  # type: ignore[no-untyped-def]
    wrong = query_hash("{ products { totalCount } }")
    response = client.post("/graphql", json={"query": QUERY, "extensions": apq(wrong)})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "BAD_REQUEST", "field": "extensions.persistedQuery.sha256Hash"}
    # Nothing was registered under the wrong hash.
    again = client.post("/graphql", json={"extensions": apq(wrong)}).json()
    assert again["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(("extensions", "field"), [
    ({"persistedQuery": "abc"}, "extensions.persistedQuery"),
    ({"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}}, "extensions.persistedQuery.version"),
    ({"persistedQuery": {"version": 1, "sha256Hash": "ABC"}}, "extensions.persistedQuery.sha256Hash"),
    ({"persistedQuery": {"version": 1}}, "extensions.persistedQuery.sha256Hash"),
])
def test_malformed_persisted_query(client, extensions: dict, field: str) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/graphql", json={"extensions": extensions})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST", "field": field}


def test_persisted_mutation_is_not_run_over_get(client) -> None:  # type: ignore[no-untyped-def]
    mutation = "mutation { __typename }"
    digest = query_hash(mutation)
    posted = client.post("/graphql", json={"query": mutation, "extensions": apq(digest)})
    assert posted.json() == {"data": {"__typename": "Mutation"}}
    got = client.get("/graphql", params={"extensions": json.dumps(apq(digest))})
    assert got.status_code == 405
    assert got.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


def test_persisted_queries_are_bounded_over_http(demo_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # 1 MiB of query text kept: four queries of ~300 KB (a long comment) push the first out.
    settings = Settings(persisted_query_cache_mb=1, audit_log=tmp_path / "a.jsonl")
    with api_client(settings, demo_store) as c:
        queries = [f"# {str(i) * 300_000}\nquery Q{i} {{ channels {{ id }} }}" for i in range(4)]
        for query in queries:
            answer = c.post("/graphql", json={"query": query, "extensions": apq(query_hash(query))})
            assert answer.status_code == 200 and "errors" not in answer.json(), answer.text[:500]
        codes = [c.post("/graphql", json={"extensions": apq(query_hash(q))}).json().get("errors", [{}])[0]
                 .get("extensions", {}).get("code") for q in queries]
        assert codes == ["PERSISTED_QUERY_NOT_FOUND", None, None, None]


def test_persisted_query_registry_keeps_within_its_bytes() -> None:
    registry = PersistedQueries(max_bytes=100)

    def register(query: str) -> None:
        registry.resolve(GraphQLRequestData(query=query, variables=None, operation_name=None,
                                            extensions=apq(query_hash(query))))

    def known(query: str) -> bool:
        try:
            registry.resolve(GraphQLRequestData(query=None, variables=None, operation_name=None,
                                                extensions=apq(query_hash(query))))
        except PersistedQueryNotFound:
            return False
        return True

    a, b, c = "{ a }" + " " * 35, "{ b }" + " " * 35, "{ c }" + " " * 35  # 40 bytes each
    register(a)
    register(b)
    assert known(a)  # a is now the most recently used
    register(c)  # 120 bytes > 100: the least recently used (b) goes
    assert registry.size_bytes <= 100 and len(registry) == 2
    assert known(a) and known(c) and not known(b)
    register("{ x }" + " " * 200)  # larger than the whole registry: runs, never kept
    assert registry.size_bytes <= 100


# -- GET queries and caching ------------------------------------------------------------------


def test_get_query_is_privately_cacheable_with_revalidation(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/graphql", params={"query": QUERY})
    assert response.status_code == 200 and response.json()["data"]["channels"]
    assert response.headers["cache-control"] == "private, no-cache"
    assert {v.strip().lower() for v in response.headers["vary"].split(",")} >= {"authorization", "x-api-key"}
    tag = response.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"')
    # Asked again with the tag: 304 without a body.
    again = client.get("/graphql", params={"query": QUERY}, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag
    # Another answer (another query) does not match that tag.
    other = client.get("/graphql", params={"query": "{ segments { totalCount } }"},
                       headers={"If-None-Match": tag})
    assert other.status_code == 200 and other.headers["etag"] != tag


def test_get_answer_with_errors_is_not_stored(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/graphql", params={"query": "{ customer(id: \"no-such-customer\") { nope } }"})
    assert response.json()["errors"]
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers


def test_post_answers_carry_no_cache_validators(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/graphql", json={"query": QUERY})
    assert response.status_code == 200
    assert "etag" not in response.headers and "cache-control" not in response.headers


def test_get_max_age_setting(demo_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert Settings.from_env({"CDP_GET_MAX_AGE": "30"}).get_max_age == 30
    with api_client(Settings(get_max_age=30, audit_log=tmp_path / "a.jsonl"), demo_store) as c:
        response = c.get("/graphql", params={"query": QUERY})
        assert response.headers["cache-control"] == "private, max-age=30"


def test_get_refuses_mutations(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/graphql", params={"query": "mutation { __typename }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "cache-control" not in response.headers
