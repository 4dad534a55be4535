"""Request limits through the real HTTP endpoint (docs/limits.md): each abusive request
is refused with its own ``extensions.code``, and ordinary queries still pass."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import api_client, with_key
from graphql import get_introspection_query
from starlette.testclient import TestClient

from cdp.limits.rate_limit import RateLimiter
from cdp.settings import Settings
from graph.store import GraphStore

VIEW = """query View($id: ID!) { customer(id: $id) {
  name tier accounts { id subscriptions { status product { name category } } }
  contacts(first: 10) { totalCount edges { node { at channel { name } } } }
  monetaryHistory(first: 5) { totalCount edges { node { at kind amount } } } } }"""


@pytest.fixture(scope="module")
def limited(demo_store: GraphStore) -> Iterator[TestClient]:
    """A client on an app with small limits (no rate limit: tested on its own app)."""
    settings = Settings(max_query_depth=8, max_aliases=10, max_query_tokens=2000, max_query_cost=5000,
                        max_body_bytes=20_000, rate_limit=0)
    with api_client(settings, demo_store) as c:
        yield c


def codes(response) -> list[str]:  # type: ignore[no-untyped-def]
    """The ``extensions.code`` of every error of a GraphQL response."""
    return [e["extensions"]["code"] for e in response.json().get("errors") or []]


def post(client: TestClient, query: str, variables: dict | None = None):  # type: ignore[no-untyped-def]
    return client.post("/graphql", json={"query": query, "variables": variables or {}})


def test_ordinary_queries_pass(limited: TestClient) -> None:
    r = post(limited, VIEW, {"id": "C0000001"})
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    assert r.json()["data"]["customer"]["name"]
    r = post(limited, "{ customers(first: 50) { totalCount edges { node { id name } } } }")
    assert "errors" not in r.json(), r.text
    assert len(r.json()["data"]["customers"]["edges"]) == 50


def test_introspection_passes_with_default_limits(client: TestClient) -> None:
    r = post(client, get_introspection_query(descriptions=True))
    assert r.status_code == 200 and "errors" not in r.json(), r.text


def test_deep_nesting_is_refused(limited: TestClient) -> None:
    n = 12
    query = '{ product(id: "P-X") { ' + "requires { " * n + "id" + " }" * n + " } }"
    r = post(limited, query)
    assert r.status_code == 200
    assert "QUERY_TOO_DEEP" in codes(r)
    error = next(e for e in r.json()["errors"] if e["extensions"]["code"] == "QUERY_TOO_DEEP")
    assert error["extensions"]["limit"] == 8 and error["extensions"]["value"] == n + 2


def test_nesting_beyond_the_parser_is_refused(client: TestClient) -> None:
    n = 3000
    query = "{ " + "a { " * n + "b" + " }" * n + " }"
    r = post(client, query)
    assert r.status_code == 200 and codes(r) == ["QUERY_TOO_DEEP"]


def test_thousands_of_aliases_are_refused(limited: TestClient, client: TestClient) -> None:
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(3000)) + " }"
    assert codes(post(client, query)) == ["TOO_MANY_ALIASES"]
    few = "{ " + " ".join(f'c{i}: customer(id: "C000000{i + 1}") {{ id }}' for i in range(5)) + " }"
    assert "errors" not in post(limited, few).json()


def test_aliases_hidden_in_fragments_count(limited: TestClient) -> None:
    query = ("{ ...F } fragment F on Query { " + " ".join(f"x{i}: __typename" for i in range(11)) + " }")
    assert codes(post(limited, query)) == ["TOO_MANY_ALIASES"]


def test_huge_documents_are_refused(limited: TestClient, client: TestClient) -> None:
    tokens = "{ " + "a " * 3000 + "}"  # under the body limit, over the token limit
    assert codes(post(limited, tokens)) == ["TOO_MANY_TOKENS"]
    huge = "{ " + "__typename " * 150_000 + "}"  # 1.6 MB: under the default body limit
    assert codes(post(client, huge)) == ["TOO_MANY_TOKENS"]


def test_costly_queries_are_refused(limited: TestClient) -> None:
    query = """{ customers(first: 100) { edges { node { accounts { subscriptions { product { name } } }
                 contacts(first: 50) { edges { node { at } } } } } } }"""
    r = post(limited, query)
    assert codes(r) == ["QUERY_TOO_COMPLEX"]
    assert r.json()["errors"][0]["extensions"]["value"] > 5000
    # a variable page size counts as the largest page unless the variable has a default
    by_variable = "query($n: Int!) { customers(first: $n) { edges { node { contacts(first: 100) { edges { node { at } } } } } } }"
    assert codes(post(limited, by_variable, {"n": 1})) == ["QUERY_TOO_COMPLEX"]
    with_default = ("query($n: Int! = 2) { customers(first: $n) { edges { node {"
                    " contacts(first: 100) { edges { node { at } } } } } } }")
    assert "errors" not in post(limited, with_default).json()


def test_fragment_bombs_are_costed_not_expanded(limited: TestClient) -> None:
    """Each fragment spreads the next one ten times: 10^8 fields, refused at once."""
    fragments = " ".join(
        f"fragment F{i} on Query {{ " + " ".join([f"...F{i + 1}"] * 10) + " }" for i in range(8)
    ) + " fragment F8 on Query { __typename }"
    assert codes(post(limited, "{ ...F0 } " + fragments)) == ["QUERY_TOO_COMPLEX"]


def test_oversized_pages_are_refused(limited: TestClient) -> None:
    r = post(limited, "{ customers(first: 101) { totalCount } }")
    assert codes(r) == ["PAGE_TOO_LARGE"]
    assert r.json()["errors"][0]["extensions"]["field"] == "first"
    r = post(limited, '{ customer(id: "C0000001") { contacts(first: 500) { totalCount } } }')
    assert "PAGE_TOO_LARGE" in codes(r)


def test_oversized_bodies_are_refused_before_parsing(limited: TestClient) -> None:
    body = '{"query": "{ __typename }", "variables": {"pad": "' + "x" * 30_000 + '"}}'
    r = limited.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert codes(r) == ["REQUEST_TOO_LARGE"]
    assert r.json()["errors"][0]["extensions"]["limit"] == 20_000

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        yield b'{"query": "{ __typename }", "pad": "'
        for _ in range(100):
            yield b"y" * 1000
        yield b'"}'

    r = limited.post("/graphql", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and codes(r) == ["REQUEST_TOO_LARGE"]

    def small() -> Iterator[bytes]:
        yield b'{"query": "{ __typename }"}'

    r = limited.post("/graphql", content=small(), headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json() == {"data": {"__typename": "Query"}}


def test_slow_operations_time_out(demo_store: GraphStore) -> None:
    """Whole-base analytics run in a worker thread: the client is answered anyway."""
    settings = Settings(request_timeout=0.001, rate_limit=0)
    with api_client(settings, demo_store) as c:
        r = post(c, "{ valueSegmentation { concentration { topShare gini } tiers { name customers } } }")
        assert r.status_code == 200
        assert codes(r) == ["TIMEOUT"]
        assert r.json()["data"] is None
        assert post(c, "{ __typename }").json() == {"data": {"__typename": "Query"}}


def test_rate_limit_per_client(demo_store: GraphStore) -> None:
    settings = Settings(rate_limit=0.01, rate_burst=3)
    with api_client(settings, demo_store) as c:
        for _ in range(3):
            assert post(c, "{ __typename }").status_code == 200
        r = post(c, "{ __typename }")
        assert r.status_code == 429
        assert codes(r) == ["RATE_LIMITED"]
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["errors"][0]["extensions"]["retryAfter"] == int(r.headers["retry-after"])
        # another credential has its own bucket (tests/security/test_security.py covers refused credentials)
        other = c.post("/graphql", json={"query": "{ __typename }"}, headers=with_key(c, demo_store, "app"))
        assert other.status_code == 200
        # health checks are never limited
        assert c.get("/healthz").status_code == 200


def test_token_bucket_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=2, clock=lambda: now[0])
    assert limiter.take("a") == 0.0 and limiter.take("a") == 0.0
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0.0
    now[0] = 0.5
    assert limiter.take("a") == 0.0
    small = RateLimiter(rate=1.0, burst=1, max_keys=2, clock=lambda: now[0])
    for key in ("x", "y", "z"):
        small.take(key)
    assert len(small._buckets) == 2


def test_limits_are_read_from_the_environment() -> None:
    from cdp.errors import ConfigurationError

    s = Settings.from_env({"CDP_MAX_QUERY_DEPTH": "9", "CDP_MAX_ALIASES": "4", "CDP_MAX_QUERY_TOKENS": "99",
                           "CDP_MAX_QUERY_COST": "1234", "CDP_MAX_BODY_BYTES": "1000",
                           "CDP_REQUEST_TIMEOUT": "2.5", "CDP_RATE_LIMIT": "0", "CDP_RATE_BURST": "7"})
    assert (s.max_query_depth, s.max_aliases, s.max_query_tokens, s.max_query_cost) == (9, 4, 99, 1234)
    assert (s.max_body_bytes, s.request_timeout, s.rate_limit, s.rate_burst) == (1000, 2.5, 0.0, 7)
    with pytest.raises(ConfigurationError, match="CDP_REQUEST_TIMEOUT"):
        Settings.from_env({"CDP_REQUEST_TIMEOUT": "0"})
    with pytest.raises(ConfigurationError, match="CDP_RATE_LIMIT"):
        Settings.from_env({"CDP_RATE_LIMIT": "fast"})
