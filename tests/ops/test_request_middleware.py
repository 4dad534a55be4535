"""The request observer (``cdp.ops.request_middleware``) in front of a real Starlette app: the
request id taken or made and echoed, the metrics per route template and status, the access line
(without the query string), and a request that fails before answering counted as a 500."""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from cdp.ops.metrics import NO_OPERATION, Metrics
from cdp.ops.request_context import current_request_id
from cdp.ops.request_middleware import RequestObserver, route_of


async def item(request: Request) -> JSONResponse:
    return JSONResponse({"seen": current_request_id()}, status_code=201)


async def broken(request: Request) -> JSONResponse:
    raise RuntimeError("boom")


def observed() -> tuple[TestClient, Metrics]:
    metrics = Metrics()
    inner = Starlette(routes=[Route("/items/{item_id}", item), Route("/healthz", item), Route("/broken", broken)])
    return TestClient(RequestObserver(inner, metrics), raise_server_exceptions=False), metrics


def count(metrics: Metrics, route: str, status: str) -> float:
    value = metrics.registry.get_sample_value(
        "cdp_http_requests_total", {"route": route, "operation": NO_OPERATION, "status": status})
    return value or 0.0


def test_a_safe_request_id_is_kept_and_echoed_an_unsafe_one_replaced() -> None:
    client, _ = observed()
    kept = client.get("/items/1", headers={"X-Request-ID": "trace-42.a:b"})
    assert kept.headers["X-Request-ID"] == "trace-42.a:b" and kept.json() == {"seen": "trace-42.a:b"}
    replaced = client.get("/items/1", headers={"X-Request-ID": "bad id\twith spaces"})
    new_id = replaced.headers["X-Request-ID"]
    assert new_id != "bad id\twith spaces" and len(new_id) == 32 and replaced.json() == {"seen": new_id}


def test_requests_are_counted_per_route_template_and_status(caplog: pytest.LogCaptureFixture) -> None:
    client, metrics = observed()
    with caplog.at_level(logging.DEBUG, logger="cdp.access"):
        client.get("/items/1?email=secret@example.com")
        client.get("/items/2")
        client.get("/nowhere")
        client.get("/healthz")
        assert client.get("/broken").status_code == 500
    assert count(metrics, "/items/{item_id}", "201") == 2
    assert count(metrics, "unmatched", "404") == 1
    assert count(metrics, "/broken", "500") == 1
    assert metrics.registry.get_sample_value("cdp_http_requests_in_flight") == 0
    lines = [r for r in caplog.records if r.name == "cdp.access"]
    assert [(r.getMessage(), r.levelno) for r in lines] == [
        ("GET /items/1 201", logging.INFO), ("GET /items/2 201", logging.INFO), ("GET /nowhere 404", logging.INFO),
        ("GET /healthz 201", logging.DEBUG), ("GET /broken 500", logging.INFO)]
    assert all("secret" not in str(r.__dict__) for r in lines)  # never the query string
    assert lines[0].route == "/items/{item_id}"  # type: ignore[attr-defined]


def test_route_of_reads_the_matched_template() -> None:
    assert route_of({}) == "unmatched"
    assert route_of({"route": Route("/a/{x}", item)}) == "/a/{x}"
