"""The GraphQL-over-HTTP transport (issue 18, items 3, 6, 7 and 9) through the real app:
whatever a client sends, the answer is JSON with ``errors[0].extensions.code`` and the
status docs/errors.md promises (400, 405, 408, 413, 415), never a 500 or plain text, and
no refusal counts as a store error in ``/metrics``."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from cdp.settings import Settings
from graph.store import GraphStore
from tests.conftest import api_client
from tests.schema.test_fuzz_graphql import GRAPHQL, _throwaway_store, injection_requests

ROOT = Path(__file__).resolve().parents[2]

#: A small body limit, so the 413 case stays small; everything else fits in it.
MAX_BODY = 64_000

VIEW = "query View($id: ID!) { customer(id: $id) { id name } }"

DEEP = "[" * 1000 + "]" * 1000  # about 2 kB


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _raw(text: str) -> bytes:
    return text.encode()


#: (label, method, body or query parameters, content type, status, code, extensions.field or None).
#: A ``bytes`` body is POSTed as it is; a ``dict`` with GET becomes the query string.
CASES: list[tuple[str, str, Any, str | None, int, str, str | None]] = [
    # bodies that are not a JSON object
    ("invalid JSON", "POST", b'{"query": ', "application/json", 400, "BAD_REQUEST", None),
    ("empty body", "POST", b"", "application/json", 400, "BAD_REQUEST", None),
    ("non-UTF-8 byte", "POST", b'{"query": "{ __typename }", "x": "\xff"}', "application/json", 400,
     "BAD_REQUEST", None),
    ("UTF-8 encoded surrogate", "POST", b'{"query": "{ __typename }", "x": "\xed\xa0\x80"}',
     "application/json", 400, "BAD_REQUEST", None),
    ("UTF-16 body", "POST", '{"query": "{ __typename }"}'.encode("utf-16"), "application/json", 400,
     "BAD_REQUEST", None),
    ("JSON list (a batch)", "POST", _json([{"query": "{ __typename }"}]), "application/json", 400,
     "BAD_REQUEST", None),
    ("JSON number", "POST", b"1", "application/json", 400, "BAD_REQUEST", None),
    ("JSON string", "POST", b'"{ __typename }"', "application/json", 400, "BAD_REQUEST", None),
    ("JSON null", "POST", b"null", "application/json", 400, "BAD_REQUEST", None),
    # nesting
    ("1,000 levels at the top", "POST", _raw(DEEP), "application/json", 400, "JSON_TOO_DEEP", None),
    ("1,000 levels in the body", "POST", _raw('{"query": "{ __typename }", "x": ' + DEEP + "}"),
     "application/json", 400, "JSON_TOO_DEEP", None),
    ("1,000 levels in variables", "POST", _raw('{"query": "{ __typename }", "variables": {"a": ' + DEEP + "}}"),
     "application/json", 400, "JSON_TOO_DEEP", None),
    ("1,000 levels in extensions", "POST",
     _raw('{"query": "{ __typename }", "extensions": {"a": ' + DEEP + "}}"), "application/json", 400,
     "JSON_TOO_DEEP", None),
    ("100 levels of objects in variables", "POST",
     _raw('{"query": "{ __typename }", "variables": ' + '{"a": ' * 100 + "1" + "}" * 100 + "}"),
     "application/json", 400, "JSON_TOO_DEEP", None),
    # content types
    ("text/plain", "POST", _json({"query": "{ __typename }"}), "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE", None),
    ("no content type", "POST", _json({"query": "{ __typename }"}), None, 415, "UNSUPPORTED_MEDIA_TYPE", None),
    ("a form", "POST", b"query=%7B__typename%7D", "application/x-www-form-urlencoded", 415,
     "UNSUPPORTED_MEDIA_TYPE", None),
    ("multipart", "POST", b"--b\r\n\r\n--b--", "multipart/form-data; boundary=b", 415,
     "UNSUPPORTED_MEDIA_TYPE", None),
    ("application/graphql", "POST", b"{ __typename }", "application/graphql", 415, "UNSUPPORTED_MEDIA_TYPE", None),
    # the members of the request object
    ("no query", "POST", _json({}), "application/json", 400, "BAD_REQUEST", "query"),
    ("query null", "POST", _json({"query": None}), "application/json", 400, "BAD_REQUEST", "query"),
    ("empty query", "POST", _json({"query": ""}), "application/json", 400, "BAD_REQUEST", "query"),
    ("query not a string", "POST", _json({"query": 1}), "application/json", 400, "BAD_REQUEST", "query"),
    ("operationName unknown", "POST", _json({"query": "query A { __typename }", "operationName": "B"}),
     "application/json", 400, "OPERATION_RESOLUTION_FAILURE", "operationName"),
    ("several operations, no operationName", "POST",
     _json({"query": "query A { __typename } query B { __schema { queryType { name } } }"}),
     "application/json", 400, "OPERATION_RESOLUTION_FAILURE", "operationName"),
    ("several operations, operationName null", "POST",
     _json({"query": "query A { __typename } mutation B { __typename }", "operationName": None}),
     "application/json", 400, "OPERATION_RESOLUTION_FAILURE", "operationName"),
    ("GET with several operations, no operationName", "GET",
     {"query": "query A { __typename } query B { __typename }"}, None, 400, "OPERATION_RESOLUTION_FAILURE",
     "operationName"),
    ("operationName not a string", "POST", _json({"query": "query A { __typename }", "operationName": 3}),
     "application/json", 400, "BAD_REQUEST", "operationName"),
    ("variables a list", "POST", _json({"query": "{ __typename }", "variables": [1]}), "application/json", 400,
     "BAD_REQUEST", "variables"),
    ("variables a string", "POST", _json({"query": "{ __typename }", "variables": "{}"}), "application/json", 400,
     "BAD_REQUEST", "variables"),
    ("extensions a list", "POST", _json({"query": "{ __typename }", "extensions": [1]}), "application/json", 400,
     "BAD_REQUEST", "extensions"),
    # lone surrogates (sent as the JSON escape: the body itself is valid UTF-8)
    ("lone surrogate in a variable", "POST", b'{"query": "' + VIEW.encode() + b'", "variables": {"id": "\\ud800"}}',
     "application/json", 400, "BAD_USER_INPUT", "variables.id"),
    ("lone surrogate deep in a variable", "POST",
     b'{"query": "{ __typename }", "variables": {"items": [{"id": "C1"}, {"id": "x\\udfff"}]}}',
     "application/json", 400, "BAD_USER_INPUT", "variables.items[1].id"),
    ("lone surrogate in a variable's key", "POST", b'{"query": "{ __typename }", "variables": {"\\ud800": 1}}',
     "application/json", 400, "BAD_USER_INPUT", "variables"),
    ("lone surrogate in the query", "POST", b'{"query": "{ customer(id: \\"\\ud800\\") { id } }"}',
     "application/json", 400, "BAD_USER_INPUT", "query"),
    ("lone surrogate in operationName", "POST", b'{"query": "query A { __typename }", "operationName": "\\ud800"}',
     "application/json", 400, "BAD_USER_INPUT", "operationName"),
    ("lone surrogate in extensions", "POST", b'{"query": "{ __typename }", "extensions": {"a": ["\\udc00"]}}',
     "application/json", 400, "BAD_USER_INPUT", "extensions.a[0]"),
    # size
    ("body over the limit", "POST", _json({"query": "{ __typename }", "pad": "x" * MAX_BODY}), "application/json",
     413, "REQUEST_TOO_LARGE", None),
    # GET
    ("mutation over GET", "GET", {"query": "mutation { __typename }"}, None, 405,
     "METHOD_NOT_ALLOWED", None),
    ("GET without query", "GET", {}, None, 400, "BAD_REQUEST", "query"),
    ("GET with variables not JSON", "GET", {"query": "{ __typename }", "variables": "{"}, None, 400,
     "BAD_REQUEST", "variables"),
    ("NaN in variables", "POST", b'{"query": "{ __typename }", "variables": {"x": NaN}}', "application/json", 400,
     "BAD_REQUEST", None),
    ("an integer of 5,000 digits", "POST", b'{"query": "{ __typename }", "variables": {"x": ' + b"9" * 5000 + b"}}",
     "application/json", 400, "BAD_REQUEST", None),
    ("GET with variables a list", "GET", {"query": "{ __typename }", "variables": "[1]"}, None, 400,
     "BAD_REQUEST", "variables"),
    ("GET with a lone surrogate", "GET", {"query": VIEW, "variables": '{"id": "\\ud800"}'}, None, 400,
     "BAD_USER_INPUT", "variables.id"),
    ("GET with deep variables", "GET", {"query": "{ __typename }", "variables": '{"a": ' + DEEP + "}"}, None, 400,
     "JSON_TOO_DEEP", None),
    # methods and paths
    ("PUT", "PUT", _json({"query": "{ __typename }"}), "application/json", 405, "METHOD_NOT_ALLOWED", None),
    ("DELETE", "DELETE", b"", None, 405, "METHOD_NOT_ALLOWED", None),
    ("unknown path", "GET", "/nowhere", None, 404, "NOT_FOUND", None),
    ("a method /healthz does not serve", "POST", "/healthz", None, 405, "METHOD_NOT_ALLOWED", None),
]


@pytest.fixture(scope="module")
def transport_client(demo_store: GraphStore) -> Iterator[TestClient]:
    """An app of its own (its metrics start at zero) over the shared demo store."""
    with api_client(Settings(rate_limit=0, max_body_bytes=MAX_BODY), demo_store) as c:
        yield c


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING)
    return caplog


def _send(client: TestClient, method: str, body: Any, content_type: str | None):  # type: ignore[no-untyped-def]
    headers = {"accept": "application/json"}
    if content_type is not None:
        headers["content-type"] = content_type
    if isinstance(body, str):  # a path
        return client.request(method, body, headers=headers)
    if isinstance(body, dict):
        return client.request(method, "/graphql", params=body, headers=headers)
    if content_type is None:  # httpx would add one for content; send none
        request = client.build_request(method, "/graphql", content=body, headers=headers)
        request.headers.pop("content-type", None)
        return client.send(request)
    return client.request(method, "/graphql", content=body, headers=headers)


@pytest.mark.parametrize(("label", "method", "body", "content_type", "status", "code", "field"), CASES,
                         ids=[case[0] for case in CASES])
def test_malformed_requests_answer_json_with_a_code(
        transport_client: TestClient, server_log: pytest.LogCaptureFixture, label: str, method: str, body: Any,
        content_type: str | None, status: int, code: str, field: str | None) -> None:
    response = _send(transport_client, method, body, content_type)
    assert response.status_code == status, (label, response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    answer = response.json()
    assert answer["data"] is None
    [error] = answer["errors"]
    assert error["extensions"]["code"] == code, error
    assert error["extensions"].get("field") == field, error
    assert error["message"] and "Traceback" not in error["message"] and "pybind" not in error["message"]
    if status == 405:
        assert set(response.headers["allow"].split(", ")) in ({"GET", "POST"}, {"POST"}, {"GET", "HEAD"})
    if code == "JSON_TOO_DEEP":
        assert error["extensions"]["limit"] == 64
    assert not [r for r in server_log.records if r.exc_info], [r.getMessage() for r in server_log.records]


def test_a_failure_outside_graphql_answers_500_in_json(demo_store: GraphStore) -> None:
    """A bug in a route (one added to the real app here: none is known) is answered in JSON
    without details (the server logs it with its traceback)."""
    from starlette.routing import Route

    async def broken(_: object) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    with api_client(Settings(rate_limit=0), demo_store) as client:
        client.app.router.routes.append(Route("/broken", broken))  # type: ignore[attr-defined]
        quiet = TestClient(client.app, raise_server_exceptions=False, headers=dict(client.headers))
        response = quiet.get("/broken")
    assert response.status_code == 500 and response.headers["content-type"].startswith("application/json")
    assert response.json() == {"data": None, "errors": [{"message": "Internal server error.",
                                                          "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}


def test_json_depth_within_the_limit_passes(transport_client: TestClient) -> None:
    """A segment definition nested as deep as segments allow (8 levels of ``all``) is well inside it."""
    definition: dict = {"attribute": {"name": "tier", "op": "EQ", "value": "gold"}}
    for _ in range(8):
        definition = {"all": [definition]}
    response = transport_client.post("/graphql", json={
        "query": "query($d: JSON!) { segmentRecommendations(definition: $d, first: 1) { __typename } }",
        "variables": {"d": definition, "deep": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}})
    assert response.status_code == 200
    assert "JSON_TOO_DEEP" not in response.text


def test_a_named_operation_of_several_runs_that_one(transport_client: TestClient) -> None:
    """With ``operationName`` a document of several operations runs the one named (POST and GET);
    a document of one operation needs no name."""
    document = "query A { __typename } query B { __schema { queryType { name } } }"
    r = transport_client.post("/graphql", json={"query": document, "operationName": "B"})
    assert r.status_code == 200 and r.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    r = transport_client.get("/graphql", params={"query": document, "operationName": "A"},
                             headers={"accept": "application/json"})
    assert r.status_code == 200 and r.json() == {"data": {"__typename": "Query"}}
    r = transport_client.post("/graphql", json={"query": "query Only { __typename }"})
    assert r.status_code == 200 and r.json() == {"data": {"__typename": "Query"}}


def test_valid_surrogate_pairs_and_other_text_pass(transport_client: TestClient) -> None:
    r = transport_client.post("/graphql", content=b'{"query": "' + VIEW.encode() + b'", '
                              b'"variables": {"id": "\\ud83d\\ude00 \xc3\xa9 \\u0000"}}',
                              headers={"content-type": "Application/JSON; charset=UTF-8"})
    assert r.status_code == 200 and r.json() == {"data": {"customer": None}}
    r = transport_client.get("/graphql", params={"query": "{ __typename }"}, headers={"accept": "application/json"})
    assert r.status_code == 200 and r.json() == {"data": {"__typename": "Query"}}


def _samples(client: TestClient) -> list[tuple[str, dict[str, str], float]]:
    text = client.get("/metrics").text
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def test_refusals_are_counted_by_code_and_never_as_store_errors(transport_client: TestClient) -> None:
    for _label, method, body, content_type, *_ in CASES:
        _send(transport_client, method, body, content_type)
    rows = _samples(transport_client)
    assert sum(v for n, _, v in rows if n == "cdp_store_call_errors_total") == 0
    refused = {lab["code"] for n, lab, v in rows if n == "cdp_graphql_errors_total" and v > 0}
    assert {"BAD_REQUEST", "JSON_TOO_DEEP", "UNSUPPORTED_MEDIA_TYPE", "BAD_USER_INPUT",
            "METHOD_NOT_ALLOWED", "OPERATION_RESOLUTION_FAILURE"} <= refused
    assert not [lab for n, lab, v in rows if n == "cdp_http_requests_total" and lab["status"].startswith("5")]


# ------------------------------------------------------------------ lone surrogates in every argument


def _path_of(value: Any, needle: str, path: str) -> str | None:
    """Where ``needle`` is in ``value``, written like ``variables.items[0].city``."""
    if value == needle:
        return path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _path_of(item, needle, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}")
        if found is not None:
            return found
    return None


@pytest.mark.parametrize("operation", ["query", "mutation"])
def test_a_lone_surrogate_in_any_string_or_id_argument_is_bad_user_input(
        tmp_path_factory: pytest.TempPathFactory, operation: str) -> None:
    """Every String and ID position of every argument of every root field, by variable: refused
    as ``BAD_USER_INPUT`` naming the variable's path; nothing reaches the store."""
    folder = tmp_path_factory.mktemp(f"surrogate-{operation}")
    store = _throwaway_store("ladybug", folder)  # refused before any store call: one backend shows it
    root = GRAPHQL.query_type if operation == "query" else GRAPHQL.mutation_type
    try:
        with api_client(Settings(db_path=folder / "throwaway.lbdb", model_dir=folder / "models",
                                 rate_limit=0), store) as client:
            before = store.counts()
            sent = 0
            for label, document, variables in injection_requests(root, operation, payloads=["\ud800"]):
                response = client.post("/graphql", content=json.dumps({"query": document, "variables": variables}),
                                       headers={"content-type": "application/json"})
                assert response.status_code == 400, (label, response.text[:300])
                [error] = response.json()["errors"]
                expected = _path_of(variables, "\ud800", "variables")
                assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": expected}, (label, error)
                sent += 1
            assert sent > 20
            assert store.counts() == before
            rows = _samples(client)
            assert sum(v for n, _, v in rows if n == "cdp_store_call_errors_total") == 0
    finally:
        store.close()


# ------------------------------------------------------------------ slow and half-sent requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_answer(sock: socket.socket) -> tuple[bytes, bytes, bool]:
    """Everything the server sends until it closes: (head, body, closed)."""
    data = b""
    closed = False
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body, closed


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """A real ``cdp serve`` (an empty store, no demo data) with 1-second read timeouts: (port, key)."""
    # Embedded only: these tests time the HTTP layer (slow headers and bodies) and never reach
    # the store; a second server on Neo4j would only repeat the waits.
    folder = tmp_path_factory.mktemp("slow")
    port = _free_port()
    env = {**os.environ, "CDP_DB_PATH": str(folder / "slow.lbdb"), "CDP_BUFFER_POOL_MB": "256",
           "CDP_LOG_FORMAT": "json", "CDP_BODY_TIMEOUT": "1", "CDP_HEADER_TIMEOUT": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "cdp.cli", "serve", "--port", str(port), "--no-demo",
                             "--dev-key"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"cdp serve did not start: {''.join(log)[-3000:]}")
        time.sleep(0.1)
    key = next(m.group(0) for line in log if (m := re.search(r"cdp_[0-9a-f]{12}_\S{43}", line)))
    try:
        yield port, key
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_half_sent_body_gets_408_and_the_connection_is_closed(slow_server: tuple[int, str]) -> None:
    port, key = slow_server
    body = json.dumps({"query": "{ __typename }"}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + key.encode() + b"\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:10])
        head, payload, closed = _read_answer(sock)  # the client sends nothing more
    assert head.startswith(b"HTTP/1.1 408"), head
    assert b"content-type: application/json" in head.lower()
    assert json.loads(payload)["errors"][0]["extensions"]["code"] == "BODY_TIMEOUT"
    assert closed
    # a chunked body that stops half-way, too
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + key.encode() + b"\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n5\r\n" + body[:5] + b"\r\n")
        head, payload, closed = _read_answer(sock)
    assert head.startswith(b"HTTP/1.1 408") and closed, head
    assert json.loads(payload)["errors"][0]["extensions"]["code"] == "BODY_TIMEOUT"
    # the server still answers a whole request
    answer = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ __typename }"},
                        headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert answer.json() == {"data": {"__typename": "Query"}}


def test_a_body_dripped_byte_by_byte_gets_408(slow_server: tuple[int, str]) -> None:
    """The deadline is for the whole body, not for each read: a client cannot hold the request
    open by sending a byte now and then."""
    import select

    port, key = slow_server
    body = json.dumps({"query": "{ __typename }", "pad": "x" * 200}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + key.encode() + b"\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        for i in range(len(body)):  # about 40 s if nothing stopped it
            if select.select([sock], [], [], 0.2)[0]:
                break  # the server answered
            try:
                sock.sendall(body[i:i + 1])
            except OSError:
                break
        head, payload, closed = _read_answer(sock)
    assert head.startswith(b"HTTP/1.1 408") and closed, head
    assert json.loads(payload)["errors"][0]["extensions"]["code"] == "BODY_TIMEOUT"


def test_half_sent_headers_get_408_and_the_connection_is_closed(slow_server: tuple[int, str]) -> None:
    port, _ = slow_server
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Ty")
        head, payload, closed = _read_answer(sock)
    assert head.startswith(b"HTTP/1.1 408"), head
    assert json.loads(payload)["errors"][0]["extensions"]["code"] == "HEADER_TIMEOUT"
    assert closed
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:  # a connection that sends nothing
        head, payload, closed = _read_answer(sock)
    assert closed and (head == b"" or head.startswith(b"HTTP/1.1 408")), head


def test_read_timeouts_are_settings() -> None:
    from cdp.errors import ConfigurationError

    s = Settings.from_env({"CDP_BODY_TIMEOUT": "2.5", "CDP_HEADER_TIMEOUT": "4", "CDP_MAX_JSON_DEPTH": "40"})
    assert (s.body_timeout, s.header_timeout, s.max_json_depth) == (2.5, 4.0, 40)
    assert (Settings().body_timeout, Settings().header_timeout, Settings().max_json_depth) == (30.0, 10.0, 64)
    with pytest.raises(ConfigurationError, match="CDP_BODY_TIMEOUT"):
        Settings.from_env({"CDP_BODY_TIMEOUT": "0"})
