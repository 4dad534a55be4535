"""The assembled app (``cdp.app.application.build_app``) over a real store: the middleware order
it promises (every request gets an id and is counted, preflights are answered before
authentication, authentication before any route), Starlette's own refusals and failures answered
as GraphQL-shaped JSON, and the state it exposes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.requests import Request
from starlette.testclient import TestClient

from cdp.app import application
from cdp.settings import Settings
from graph.store import GraphStore
from tests.conftest import api_client, gql


def test_refusals_outside_graphql_are_json_with_their_codes(store: GraphStore, tmp_path: Path) -> None:
    with api_client(Settings(db_path=tmp_path / "unused.lbdb"), store) as client:
        missing = client.get("/no/such/thing")
        assert missing.status_code == 404
        assert missing.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert "/no/such/thing" in missing.json()["errors"][0]["message"]
        wrong = client.post("/insights")
        assert wrong.status_code == 405 and "GET" in wrong.headers["Allow"]
        assert wrong.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
        assert gql(client, "{ __typename }") == {"data": {"__typename": "Query"}}
        assert len(client.get("/healthz").headers["X-Request-ID"]) == 32  # observed, outermost


def test_authentication_comes_before_every_route_but_preflights_and_probes(store: GraphStore,
                                                                           tmp_path: Path) -> None:
    settings = Settings(db_path=tmp_path / "unused.lbdb", audit_log=tmp_path / "audit.jsonl",
                        cors_origins=("https://app.example.com",))
    app = application.build_app(settings, store)
    assert app.state.store is store and app.state.settings is settings
    with TestClient(app) as anonymous:
        refused = anonymous.get("/no/such/thing")  # unknown, but not to someone without a key
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert anonymous.get("/healthz").status_code == 200
        preflight = anonymous.options("/graphql", headers={
            "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.com"


def test_a_failure_outside_graphql_says_nothing_of_it() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/x", "headers": [], "query_string": b""})
    response = asyncio.run(application.internal_error(request, RuntimeError("secret detail")))
    body = bytes(response.body).decode()
    assert response.status_code == 500 and "INTERNAL_SERVER_ERROR" in body
    assert "secret detail" not in body and "RuntimeError" not in body
