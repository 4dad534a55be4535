"""Cross-origin requests (``cdp.transport.cors``) in front of a real Starlette app: an allowed
preflight is a 204 with the CORS headers, a refused one a 403 ``FORBIDDEN`` naming what was
refused, and ordinary answers carry ``Access-Control-Allow-Origin`` only for listed origins.
(Real browsers against the real app: test_cors_browser.py.)"""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from cdp.transport.cors import ALLOWED_HEADERS, EXPOSED_HEADERS, Cors

PAGE = "https://app.example.com"


async def answer(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True}, headers={"X-Request-ID": "r1"})


@pytest.fixture
def client() -> TestClient:
    inner = Starlette(routes=[Route("/graphql", answer, methods=["GET", "POST"])])
    return TestClient(Cors(inner, (PAGE,), max_age=600))


def preflight(client: TestClient, origin: str = PAGE, method: str = "POST",
              headers: str = "authorization, content-type"):  # type: ignore[no-untyped-def]
    return client.options("/graphql", headers={"Origin": origin, "Access-Control-Request-Method": method,
                                               "Access-Control-Request-Headers": headers})


def test_an_allowed_preflight_is_a_204_with_the_cors_headers(client: TestClient) -> None:
    response = preflight(client)
    assert response.status_code == 204 and response.content == b""
    assert response.headers["Access-Control-Allow-Origin"] == PAGE
    assert set(response.headers["Access-Control-Allow-Methods"].split(", ")) == {"GET", "POST"}
    assert {h.lower() for h in ALLOWED_HEADERS} <= {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in response.headers  # keys travel in headers, never cookies


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"origin": "https://evil.example"}, "the origin https://evil.example is not in CDP_CORS_ORIGINS"),
    ({"method": "DELETE"}, "the method DELETE is not served (only GET, POST)"),
    ({"headers": "x-secret"}, "a requested header is not accepted"),
])
def test_a_refused_preflight_is_a_403_naming_what_was_refused(client: TestClient, kwargs: dict, says: str) -> None:
    response = preflight(client, **kwargs)
    assert response.status_code == 403
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["message"].startswith("CORS preflight refused: ") and says in error["message"]


def test_answers_carry_the_origin_and_exposed_headers_only_for_listed_origins(client: TestClient) -> None:
    allowed = client.post("/graphql", headers={"Origin": PAGE})
    assert allowed.json() == {"ok": True}
    assert allowed.headers["Access-Control-Allow-Origin"] == PAGE
    assert {h.lower() for h in EXPOSED_HEADERS} == {
        h.strip().lower() for h in allowed.headers["Access-Control-Expose-Headers"].split(",")}
    other = client.post("/graphql", headers={"Origin": "https://evil.example"})
    assert other.json() == {"ok": True}  # served (the browser withholds it), but not allowed
    assert "Access-Control-Allow-Origin" not in other.headers
