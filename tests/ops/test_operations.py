"""Operations (issue 7, item 5) through the real HTTP endpoints: ``/metrics``, request ids
and JSON logs, ``STORE_UNAVAILABLE`` and recovery, and a graceful shutdown of ``cdp serve``."""

from __future__ import annotations

import io
import json
import re
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CliStore, api_client
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from cdp.app import build_app
from cdp.errors import ConfigurationError
from cdp.ops.metrics import BoundedNames, Metrics
from cdp.ops.request_context import request_id_from
from cdp.ops.request_log import PlainFormatter, make_handler
from cdp.settings import Settings
from graph.errors import StoreUnavailable
from graph.store import GraphStore

ROOT = Path(__file__).resolve().parents[2]

VIEW = """query CustomerView($id: ID!) { customer(id: $id) { name accounts { id subscriptions { status } } } }"""


@pytest.fixture(scope="module")
def ops_client(demo_store: GraphStore) -> Iterator[TestClient]:
    """An app of its own over the shared demo store (its metrics start at zero)."""
    with api_client(Settings(), demo_store) as c:
        yield c


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every log record of the process, as JSON lines, while the test runs."""
    stream = io.StringIO()
    handler = make_handler("json", stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def samples(client: TestClient) -> list[tuple[str, dict[str, str], float]]:
    """``/metrics`` parsed: (sample name, labels, value)."""
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(response.text)
            for s in family.samples]


def value(rows: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    """Sum of the samples ``name`` whose labels include ``labels``."""
    return sum(v for n, lab, v in rows if n == name and all(lab.get(k) == x for k, x in labels.items()))


# ------------------------------------------------------------------ metrics


def test_metrics_expose_latency_per_operation_errors_by_code_and_store_calls(ops_client: TestClient,
                                                                             demo_store: GraphStore) -> None:
    view = ops_client.post("/graphql", json={"query": VIEW, "variables": {"id": "C0000001"}})
    assert view.status_code == 200 and view.json()["data"]["customer"]["name"]
    bad = ops_client.post("/graphql", json={"query": "{ customers(first: 5) { nope } }"})
    assert bad.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert ops_client.get("/healthz").status_code == 200

    rows = samples(ops_client)
    assert value(rows, "cdp_http_request_duration_seconds_count", route="/graphql", operation="CustomerView") == 1
    assert value(rows, "cdp_http_requests_total", route="/graphql", operation="CustomerView", status="200") == 1
    assert value(rows, "cdp_http_requests_total", route="/graphql", operation="anonymous") == 1
    assert value(rows, "cdp_graphql_errors_total", operation="anonymous", code="GRAPHQL_VALIDATION_FAILED") == 1
    assert value(rows, "cdp_graphql_errors_total", operation="CustomerView") == 0
    assert value(rows, "cdp_http_requests_total", route="/healthz", operation="", status="200") == 1
    assert value(rows, "cdp_http_requests_in_flight") == 1  # this scrape
    # The view's store calls, by query name: the customer, then its accounts, then their
    # subscriptions; or, where a view is one statement (Neo4j), that statement.
    if demo_store.one_statement_views:
        views = [lab["query"] for n, lab, _ in rows
                 if n == "cdp_store_call_duration_seconds_count" and lab.get("query", "").startswith("customer_views_")]
        assert views, "no customer_views_* store call counted"
    else:
        for query in ("customers_by_ids", "accounts_by_customers", "subscriptions_by_accounts"):
            assert value(rows, "cdp_store_call_duration_seconds_count", query=query) >= 1, query
    assert value(rows, "process_cpu_seconds_total") > 0


def test_metric_labels_carry_no_customer_data(ops_client: TestClient, demo_store: GraphStore) -> None:
    customer = demo_store.customers(["C0000002"])["C0000002"]
    ops_client.post("/graphql", json={"query": VIEW, "variables": {"id": "C0000002"}})
    ops_client.get("/campaigns/CMP-secret-42/waves/1/contacts.csv")
    text = ops_client.get("/metrics").text
    for secret in ("C0000002", customer["last_name"] or "C0000002", "CMP-secret-42", "customer(id"):
        assert secret not in text
    assert 'route="/campaigns/{campaign_id}/waves/{wave:int}/contacts.{format}"' in text


def test_operation_names_are_bounded() -> None:
    names = BoundedNames(3, Metrics().operations.pattern)
    assert [names.label(n) for n in ("a", "b", "c", "d", "a")] == ["a", "b", "c", "other", "a"]
    assert names.label("has space") == "invalid" and names.label("x" * 65) == "invalid"
    assert Metrics().operation_label(None) == "anonymous"


def test_operation_names_a_client_makes_up_never_become_labels(ops_client: TestClient) -> None:
    refused = ops_client.post("/graphql", json={"query": "query A { customers(first: 1) { totalCount } }",
                                                "operationName": "C0000001 drop"})
    assert refused.status_code == 400  # strawberry refuses it before executing anything
    rows = samples(ops_client)
    assert value(rows, "cdp_http_requests_total", route="/graphql", operation="", status="400") == 1
    assert not any("C0000001" in lab.get("operation", "") for _, lab, _ in rows)


# ------------------------------------------------------------------ request ids and logs


def test_request_id_round_trip_and_every_log_line_of_the_request_carries_it(
        demo_store: GraphStore, log_lines: io.StringIO) -> None:
    # A fresh app: its analytic projection is built by this request, in a worker thread, and logged.
    with api_client(Settings(), demo_store) as client:
        response = client.post("/graphql", headers={"X-Request-ID": "trace-42.a:b"}, json={
            "query": "query Value { valueSegmentation { concentration { gini } } }"})
        assert response.status_code == 200 and "errors" not in response.json()
        assert response.headers["x-request-id"] == "trace-42.a:b"
        unsafe = client.post("/graphql", headers={"X-Request-ID": 'x"\n' + "y" * 80},
                             json={"query": "{ customers(first: 1) { totalCount } }"})
        generated = unsafe.headers["x-request-id"]
        assert len(generated) == 32 and all(c in "0123456789abcdef" for c in generated)

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    mine = [line for line in lines if line["request_id"] == "trace-42.a:b"]
    assert {"time", "level", "logger", "message", "request_id"} <= set(mine[0])
    built = [line for line in mine if line["logger"] == "cdp.projection.tables"]
    assert built and built[0]["message"].startswith("projection built")  # emitted in a worker thread
    access = [line for line in mine if line["logger"] == "cdp.access"]
    assert len(access) == 1
    assert access[0] | {"duration_ms": 0} == {
        **access[0], "method": "POST", "path": "/graphql", "status": 200, "route": "/graphql",
        "operation": "Value", "error_codes": [], "duration_ms": 0, "message": "POST /graphql 200"}
    assert access[0]["duration_ms"] > 0
    assert any(line["logger"] == "cdp.access" and line["request_id"] == generated for line in lines)


def test_access_log_lists_error_codes(ops_client: TestClient, log_lines: io.StringIO) -> None:
    ops_client.post("/graphql", json={"query": "{ customers(first: 100000) { totalCount } }"})
    access = [json.loads(line) for line in log_lines.getvalue().splitlines() if '"cdp.access"' in line]
    assert access[-1]["error_codes"] and access[-1]["error_codes"][0] in ("BAD_USER_INPUT", "PAGE_TOO_LARGE")


def test_request_ids_and_plain_format() -> None:
    assert request_id_from("abc-1") == "abc-1"
    assert request_id_from(None) != request_id_from(None)
    assert request_id_from("a b") != "a b" and request_id_from("") != ""
    record = logging.LogRecord("cdp.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    record.request_id = "r1"
    record.customers = 3
    line = PlainFormatter().format(record)
    assert "INFO" in line and "cdp.x [r1] hello you customers=3" in line


def test_log_format_setting() -> None:
    assert Settings.from_env({}).log_format == "json"
    assert Settings.from_env({"CDP_LOG_FORMAT": "Plain"}).log_format == "plain"
    with pytest.raises(ConfigurationError, match="CDP_LOG_FORMAT"):
        Settings.from_env({"CDP_LOG_FORMAT": "xml"})


# ------------------------------------------------------------------ store unavailable and recovery


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_neo4j_down_answers_store_unavailable_and_readyz_503() -> None:
    """A real driver against a port nobody listens on: every call fails fast, none is cached."""
    from graph.neo4j_store import Neo4jStore

    uri = f"bolt://127.0.0.1:{_closed_port()}"
    with pytest.raises(StoreUnavailable):
        Neo4jStore(uri, "neo4j", "x", connect_timeout=1, max_retry_seconds=1)
    import jwt as pyjwt
    from starlette.testclient import TestClient


    secret = "a-shared-secret-of-at-least-32-bytes!!"
    settings = Settings(neo4j_uri=uri, neo4j_connect_timeout=1, neo4j_max_retry_seconds=1, jwt_issuer="idp",
                        jwt_key=secret, jwt_algorithm="HS256", audit_log=Path(os.devnull))
    token = pyjwt.encode({"iss": "idp", "aud": "cdp", "sub": "ops", "cdp_role": "admin", "exp": time.time() + 600},
                         secret, algorithm="HS256")
    # the API starts while Neo4j is down; a JWT needs no store to be verified (an API key does: 503)
    with TestClient(build_app(settings), headers={"Authorization": f"Bearer {token}"}) as client:
        by_key = client.post("/graphql", json={"query": "{ products { totalCount } }"},
                             headers={"Authorization": "Bearer cdp_0123456789ab_" + "a" * 43})
        assert by_key.status_code == 503 and by_key.json()["errors"][0]["extensions"]["code"] == "STORE_UNAVAILABLE"
        for _ in range(2):  # the second call tries the server again: nothing broken is kept
            body = client.post("/graphql", json={"query": VIEW, "variables": {"id": "C0000001"}}).json()
            assert body["data"] is None or body["data"]["customer"] is None
            assert [e["extensions"]["code"] for e in body["errors"]] == ["STORE_UNAVAILABLE"]
            assert "Traceback" not in json.dumps(body)
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["code"] == "STORE_UNAVAILABLE"
        rows = samples(client)
        assert value(rows, "cdp_graphql_errors_total", operation="CustomerView", code="STORE_UNAVAILABLE") == 2
        assert value(rows, "cdp_store_call_errors_total", code="STORE_UNAVAILABLE") >= 2


def test_api_recovers_by_itself_when_the_store_comes_back(demo_data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Fault injection at the embedded backend's connection (a mock outage): answers
    ``STORE_UNAVAILABLE`` during it, and every part of the API works again after it, no restart."""
    # Embedded only: the outage is injected at LadybugStore's own connection methods. On Neo4j
    # an outage is a server that does not answer: the test above starts the API with Neo4j
    # down; stopping the shared test server mid-run would break every other test on it.
    from graph.ladybug_store import LadybugStore

    store = LadybugStore(tmp_path / "outage.lbdb", buffer_pool_mb=256)
    store.bulk_load(demo_data.nodes, demo_data.relationships)
    real_connection, real_transaction = store._connection, store._transaction
    outage = {"on": False}

    def connection():  # type: ignore[no-untyped-def]
        if outage["on"]:
            raise StoreUnavailable("the embedded store is unavailable (injected)")
        return real_connection()

    def transaction():  # type: ignore[no-untyped-def]
        if outage["on"]:
            raise StoreUnavailable("the embedded store is unavailable (injected)")
        return real_transaction()

    store._connection = connection  # type: ignore[method-assign]
    store._transaction = transaction  # type: ignore[method-assign]
    queries = {
        "view": {"query": VIEW, "variables": {"id": "C0000003"}},
        "page": {"query": "{ customers(first: 3) { totalCount edges { node { id } } } }"},
        "value": {"query": "{ valueSegmentation { concentration { gini } } }"},
        "write": {"query": """mutation { upsertCustomers(source: "crm", items: [{id: "C0000003", city: "Gent"}])
                              { updated errors { code } } }"""},
    }
    try:
        with api_client(Settings(), store) as client:
            outage["on"] = True
            for name, body in queries.items():
                answer = client.post("/graphql", json=body).json()
                codes = [e["extensions"]["code"] for e in answer.get("errors", [])]
                codes += [e["code"] for e in ((answer.get("data") or {}).get("upsertCustomers") or {}).get(
                    "errors", [])]
                assert "STORE_UNAVAILABLE" in codes, (name, answer)
            assert client.get("/readyz").status_code == 503
            outage["on"] = False
            assert client.get("/readyz").status_code == 200
            for name, body in queries.items():
                answer = client.post("/graphql", json=body).json()
                assert "errors" not in answer, (name, answer)
            assert client.post("/graphql", json=queries["view"]).json()["data"]["customer"]["name"]
    finally:
        store.close()


# ------------------------------------------------------------------ graceful shutdown


def test_sigterm_lets_the_in_flight_request_finish_then_closes_the_store(cli_store: CliStore) -> None:
    """A client is half-way through sending a write when the server gets SIGTERM: the server
    stops accepting connections, answers that request, closes the store and exits 0; the write is
    in the store when it is opened again."""
    port = _closed_port()
    env = {**os.environ, **cli_store.env, "CDP_DEMO_CUSTOMERS": "40",
           "CDP_LOG_FORMAT": "json", "CDP_SHUTDOWN_GRACE_SECONDS": "60"}
    proc = subprocess.Popen([sys.executable, "-m", "cdp.cli", "serve", "--port", str(port), "--log-level", "info",
                             "--dev-key"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    base = f"http://127.0.0.1:{port}"

    def wait_for(what: str, check, seconds: float = 120) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + seconds
        while not check():
            if proc.poll() is not None and what != "exit":
                pytest.fail(f"cdp serve exited early: {''.join(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not happen within {seconds} s: {''.join(log)[-3000:]}")
            time.sleep(0.1)

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def dev_key() -> str:  # printed by --dev-key before the server starts
        return next(m.group(0) for line in log if (m := re.search(r"cdp_[0-9a-f]{12}_\S{43}", line)))

    def in_flight() -> float:
        return value([(s.name, s.labels, s.value) for f in text_string_to_metric_families(
            httpx.get(f"{base}/metrics", timeout=5, headers={"Authorization": f"Bearer {dev_key()}"}).text)
            for s in f.samples], "cdp_http_requests_in_flight")

    body = json.dumps({"query": 'mutation { upsertCustomers(source: "crm", items: [{id: "C0000007", '
                                'city: "Leuven"}]) { updated errors { code } } }'}).encode()
    slow: socket.socket | None = None
    try:
        wait_for("readiness", ready)
        slow = socket.create_connection(("127.0.0.1", port), timeout=60)
        slow.sendall(b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + dev_key().encode() + b"\r\n"
                     b"X-Request-ID: slow-upload\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                     + body[:20])
        wait_for("the half-sent request to be in flight", lambda: in_flight() >= 2)  # it and this scrape
        proc.terminate()  # SIGTERM
        wait_for("the shutdown to start", lambda: any('"Shutting down"' in line for line in log))
        with pytest.raises(httpx.ConnectError):  # no new connections
            httpx.get(f"{base}/healthz", timeout=2)
        slow.sendall(body[20:])
        answer = b""
        while not answer.endswith(b"}") or b"\r\n\r\n" not in answer:
            chunk = slow.recv(65536)
            if not chunk:
                break
            answer += chunk
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"x-request-id: slow-upload" in head.lower()
        assert json.loads(payload)["data"]["upsertCustomers"] == {"updated": 1, "errors": []}
        assert proc.wait(timeout=60) == 0
    finally:
        if slow is not None:
            slow.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=5)
    lines = [json.loads(line) for line in log if line.startswith("{")]
    messages = [line["message"] for line in lines]
    access = messages.index("POST /graphql 200")
    assert lines[access]["request_id"] == "slow-upload"
    assert messages.index("Shutting down") < access < messages.index("store closed")

    with cli_store.open() as store:  # reopens cleanly, with the write
        assert store.customers(["C0000007"])["C0000007"]["city"] == "Leuven"
