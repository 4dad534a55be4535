"""Property-based fuzzing of the GraphQL API and Cypher-injection strings in every
string and ID argument, through the real HTTP endpoint.

The property: whatever a client sends, cdp answers (HTTP 200 with a GraphQL body)
and never with ``INTERNAL_SERVER_ERROR``: every refusal has a proper code. Queries
run on the shared read-only ``demo_store``; mutations write, so they run on a
throwaway store of their own. Bounded: fixed example counts, derandomised (the
same examples on every run, so CI cannot flake), well under a minute in all.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis_graphql as hg
import pytest

from tests.conftest import BACKENDS, api_client, make_store
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from cdp.settings import Settings
from graph.store import GraphStore
from schema import schema as cdp_schema

# graphql-core leaves sibling resolvers' coroutines unawaited when a non-null error ends a selection
pytestmark = pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")

GRAPHQL: GraphQLSchema = cdp_schema._schema
QUERY_FIELDS = sorted(GRAPHQL.query_type.fields) if GRAPHQL.query_type else []
MUTATION_FIELDS = sorted(GRAPHQL.mutation_type.fields) if GRAPHQL.mutation_type else []

#: Limits of a fuzzing app: no rate limit (the fuzzer is one fast client), a short timeout.
FUZZ_SETTINGS = dict(rate_limit=0.0, request_timeout=10.0)

FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))

#: Values for cdp's own scalars: mostly well-formed, sometimes not.
CUSTOM_SCALARS = {
    "Date": st.one_of(st.dates().map(str), st.text(max_size=12)).map(hg.nodes.String),
    "DateTime": st.one_of(st.datetimes().map(lambda d: d.isoformat() + "Z"), st.text(max_size=25)
                          ).map(hg.nodes.String),
    "JSON": st.one_of(st.text(max_size=20).map(hg.nodes.String), st.integers(-5, 5).map(hg.nodes.Int)),
}

INJECTIONS = [
    "' OR 1=1 //",
    "\" OR 1=1 //",
    "\"}) MATCH (n) DETACH DELETE n //",
    "'}) MATCH (n) DETACH DELETE n //",
    "x` MATCH (n) DETACH DELETE n //",
    "$ids] MATCH (n) RETURN n //",
    "\\u0000\u0000",
    "C0000001' UNION MATCH (n) RETURN n.id AS id //",
    "é" * 20_000,
]


def internal_errors(response) -> list[dict]:  # type: ignore[no-untyped-def]
    """Errors a client must never see: a 5xx status, a body that is not JSON, an error without
    ``extensions.code`` or with ``INTERNAL_SERVER_ERROR``.

    A 400 (no query in the request, a lone surrogate) is a proper refusal, in JSON with a code too."""
    assert response.status_code in (200, 400), (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.text[:500]
    body = response.json()
    return [e for e in body.get("errors") or []
            if (e.get("extensions") or {}).get("code") in (None, "INTERNAL_SERVER_ERROR")]


@pytest.fixture(scope="module")
def fuzz_client(demo_store: GraphStore) -> Iterator[TestClient]:
    """An app over the shared demo store, for queries only."""
    with api_client(Settings(**FUZZ_SETTINGS), demo_store) as c:
        yield c


def _throwaway_store(backend: str, folder: Path, buffer_pool_mb: int = 256) -> GraphStore:
    """A store of 80 demo customers of ``backend`` (embedded: in ``folder``; Neo4j: the test
    server, wiped). The embedded store's buffer pool fills up after some hundred small writes
    (about 2.8 MB each, not freed before the store is reopened), so tests that write many
    times give it room."""
    from cdp.demo import telecom as demo
    from graph.ladybug_store import LadybugStore

    data = demo.generate(80, seed=11)
    store = LadybugStore(folder / "throwaway.lbdb", buffer_pool_mb=buffer_pool_mb) if backend == "ladybug" \
        else make_store(backend, folder)
    store.bulk_load(data.nodes, data.relationships)
    return store


@pytest.fixture(scope="module", params=BACKENDS)
def throwaway(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, GraphStore]]:
    """An app over a store of its own that mutations may write to, per backend."""
    folder = tmp_path_factory.mktemp("fuzz")
    store = _throwaway_store(request.param, folder)
    app_settings = Settings(db_path=folder / "throwaway.lbdb", model_dir=folder / "models", **FUZZ_SETTINGS)
    with api_client(app_settings, store) as c:
        yield c, store
    store.close()


@pytest.fixture(autouse=True)
def _quiet_server_log() -> Iterator[None]:
    """Refused fuzz requests are expected; keep the (JSON) server log out of the output."""
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


def _post(client: TestClient, query: object) -> Any:
    return client.post("/graphql", json={"query": str(query)})


@FUZZ
@given(query=hg.queries(GRAPHQL, custom_scalars=CUSTOM_SCALARS))
def test_fuzzed_queries_never_fail_internally(fuzz_client: TestClient, query: str) -> None:
    assert internal_errors(_post(fuzz_client, query)) == [], query


@settings(FUZZ, max_examples=60)
@given(query=hg.from_schema(GRAPHQL, custom_scalars=CUSTOM_SCALARS, mode=hg.Mode.NEGATIVE))
def test_fuzzed_invalid_operations_get_coded_errors(fuzz_client: TestClient, query: str) -> None:
    assert internal_errors(_post(fuzz_client, query)) == [], query


@settings(FUZZ, max_examples=80)
@given(query=hg.mutations(GRAPHQL, custom_scalars=CUSTOM_SCALARS))
def test_fuzzed_mutations_never_fail_internally(throwaway: tuple[TestClient, GraphStore], query: str) -> None:
    client, _ = throwaway
    assert internal_errors(_post(client, query)) == [], query


@settings(FUZZ, max_examples=40)
@given(text=st.text(alphabet=string.printable + "{}()[]:$@!\u0000é", max_size=300))
def test_arbitrary_text_gets_coded_errors(fuzz_client: TestClient, text: str) -> None:
    assert internal_errors(_post(fuzz_client, text)) == [], text


# ------------------------------------------------------------------ Cypher injection

def _unwrap(type_: Any) -> Any:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


def _plain_value(type_: GraphQLInputType, depth: int = 0) -> Any:
    """A well-formed JSON value of ``type_``: required input fields filled, lists of one."""
    if isinstance(type_, GraphQLNonNull):
        return _plain_value(type_.of_type, depth)
    if isinstance(type_, GraphQLList):
        return [_plain_value(type_.of_type, depth)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        if depth > 3:
            return {}
        return {name: _plain_value(f.type, depth + 1) for name, f in type_.fields.items()
                if isinstance(f.type, GraphQLNonNull) or _unwrap(f.type).name in ("String", "ID")}
    return {"Int": 1, "Float": 1.0, "Boolean": True, "String": "x", "ID": "x", "Date": "2025-01-01",
            "DateTime": "2025-01-01T00:00:00Z", "JSON": {}}.get(type_.name, "x")


def _string_paths(type_: GraphQLInputType, depth: int = 0) -> Iterator[tuple[Any, ...]]:
    """Paths (keys and list indexes) of every String and ID position in ``_plain_value(type_)``."""
    if isinstance(type_, GraphQLNonNull):
        yield from _string_paths(type_.of_type, depth)
    elif isinstance(type_, GraphQLList):
        for path in _string_paths(type_.of_type, depth):
            yield (0, *path)
    elif isinstance(type_, GraphQLInputObjectType):
        if depth > 3:
            return
        for name, f in type_.fields.items():
            if isinstance(f.type, GraphQLNonNull) or _unwrap(f.type).name in ("String", "ID"):
                for path in _string_paths(f.type, depth + 1):
                    yield (name, *path)
    elif isinstance(type_, GraphQLScalarType) and type_.name in ("String", "ID"):
        yield ()


def _set(value: Any, path: tuple[Any, ...], payload: str) -> Any:
    if not path:
        return payload
    head, rest = path[0], path[1:]
    copy = list(value) if isinstance(value, list) else dict(value)
    copy[head] = _set(value[head], rest, payload)
    return copy


def injection_requests(root: GraphQLObjectType, operation: str,
                       payloads: list[str] = INJECTIONS) -> Iterator[tuple[str, str, dict]]:
    """``(label, document, variables)``: one request per root field, string position and payload."""
    for name, field in sorted(root.fields.items()):
        field: GraphQLField  # type: ignore[no-redef]
        args = field.args
        declared = ", ".join(f"${a}: {t.type}" for a, t in args.items())
        passed = ", ".join(f"{a}: ${a}" for a in args)
        selection = " { __typename }" if not isinstance(_unwrap(field.type), (GraphQLScalarType, GraphQLEnumType)) else ""
        document = (f"{operation}{f'({declared})' if declared else ''} "
                    f"{{ {name}{f'({passed})' if passed else ''}{selection} }}")
        base = {a: _plain_value(t.type) for a, t in args.items()}
        for arg, definition in args.items():
            for path in _string_paths(definition.type):
                for payload in payloads:
                    variables = dict(base, **{arg: _set(base[arg], path, payload)})
                    yield f"{name}.{arg}{list(path)}", document, variables


def _send_all(client: TestClient, root: GraphQLObjectType, operation: str) -> int:
    sent = 0
    for label, document, variables in injection_requests(root, operation):
        response = client.post("/graphql", json={"query": document, "variables": variables})
        assert internal_errors(response) == [], (label, variables, response.text[:500])
        sent += 1
    return sent


def test_injection_strings_in_query_arguments_change_nothing(
        backend: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("inject-q")
    store = _throwaway_store(backend, folder)
    try:
        with api_client(Settings(db_path=folder / "throwaway.lbdb", model_dir=folder / "models",
                                           **FUZZ_SETTINGS), store) as client:
            before = store.counts()  # after the client's API key was stored
            assert _send_all(client, GRAPHQL.query_type, "query") > 50
        assert store.counts() == before
    finally:
        store.close()


def test_injection_strings_in_mutation_arguments_are_data(backend: str,
                                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    """Mutations may create what they are asked to (an injection string is then a name or
    an id like any other), but nothing is ever deleted or changed wholesale by one."""
    folder = tmp_path_factory.mktemp("inject-m")
    store = _throwaway_store(backend, folder, buffer_pool_mb=1536)
    try:
        before = store.counts()
        with api_client(Settings(db_path=folder / "throwaway.lbdb", model_dir=folder / "models",
                                           **FUZZ_SETTINGS), store) as client:
            assert _send_all(client, GRAPHQL.mutation_type, "mutation") > 50
            after = store.counts()
            shrunk = {k: (before[k], after.get(k, 0)) for k in before if after.get(k, 0) < before[k]}
            assert shrunk == {}
            # the demo customers are all still there and readable
            body = client.post("/graphql", json={"query": "{ customers(first: 1) { totalCount } }"}).json()
            assert body["data"]["customers"]["totalCount"] >= 80
    finally:
        store.close()
