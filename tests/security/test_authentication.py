"""Authentication (``cdp.security.authentication``): which requests are open, where a credential is
read from, and the middleware in front of a real Starlette app over a real store: a valid key
passes with its principal, anything else is a 401 with ``WWW-Authenticate`` and a typed body."""

from __future__ import annotations

from pathlib import Path

import anyio
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from cdp.errors import Unauthenticated
from cdp.security.api_keys import create_key
from cdp.security.authentication import Authentication, Authenticator, credential_of, is_open
from cdp.security.principal import Role
from cdp.settings import Settings
from graph.store import GraphStore


def scope(path: str, method: str = "GET", query: bytes = b"", accept: bytes = b"") -> dict:
    return {"type": "http", "path": path, "method": method, "query_string": query,
            "headers": [(b"accept", accept)] if accept else []}


def test_probes_static_assets_and_the_playground_page_are_open() -> None:
    for path in ("/healthz", "/readyz", "/", "/insights", "/static/cdp/insights.js"):
        assert is_open(scope(path))
    assert is_open(scope("/graphql", accept=b"text/html,application/xhtml+xml"))
    assert not is_open(scope("/graphql"))                                        # an API call
    assert not is_open(scope("/graphql", query=b"query={x}", accept=b"text/html"))  # a query in the URL
    assert not is_open(scope("/graphql", method="POST", accept=b"text/html"))
    assert not is_open(scope("/metrics"))
    assert not is_open(scope("/contact-lists/X"))


def test_the_credential_is_a_bearer_token_or_an_api_key_header() -> None:
    assert credential_of([(b"authorization", b"Bearer  cdp_abc ")]) == "cdp_abc"
    assert credential_of([(b"authorization", b"bearer tok")]) == "tok"
    assert credential_of([(b"x-api-key", b" cdp_k ")]) == "cdp_k"
    assert credential_of([(b"authorization", b"Basic dXNlcjpwdw==")]) == ""  # present, but not bearer
    assert credential_of([(b"authorization", b"Bearer ")]) == ""
    assert credential_of([(b"accept", b"*/*")]) is None


def test_the_authenticator_verifies_keys_in_the_store_and_jwts_when_configured(store: GraphStore,
                                                                             tmp_path: Path) -> None:
    _, key = create_key(store, "analyst key", "analyst", scopes=["metrics"])
    secret = "a shared secret long enough for HS256 tokens"
    settings = Settings(db_path=tmp_path / "unused.lbdb", jwt_issuer="https://idp", jwt_key=secret,
                        jwt_algorithm="HS256")

    async def run() -> None:
        keys_only = Authenticator(store, Settings(db_path=tmp_path / "unused.lbdb"))
        principal = await keys_only.authenticate(key)
        assert principal.role is Role.ANALYST and principal.has_scope("metrics")
        for credential, says in ((None, "credentials required"), ("", "must read 'Bearer"),
                                 ("some.jwt.token", "bearer tokens are not accepted"),
                                 (key[:-1] + ("A" if key[-1] != "A" else "B"), "")):
            with pytest.raises(Unauthenticated, match=says):
                await keys_only.authenticate(credential)
        token = jwt.encode({"iss": "https://idp", "aud": "cdp", "sub": "u1", "exp": 4102444800,
                            "cdp_role": "app"}, secret, algorithm="HS256")
        assert (await Authenticator(store, settings).authenticate(token)).role is Role.APP

    anyio.run(run)


def test_the_middleware_passes_a_valid_key_and_refuses_the_rest(store: GraphStore, tmp_path: Path) -> None:
    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"principal": request.state.principal.id})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    inner = Starlette(routes=[Route("/whoami", whoami), Route("/healthz", healthz), Route("/metrics", healthz)])
    app = Authentication(inner, Authenticator(store, Settings(db_path=tmp_path / "unused.lbdb")))
    stored, key = create_key(store, "app key", "app")
    with TestClient(app) as client:
        assert client.get("/whoami", headers={"X-API-Key": key}).json() == {"principal": f"key:{stored.id}"}
        assert client.get("/whoami", headers={"Authorization": f"Bearer {key}"}).json() == {
            "principal": f"key:{stored.id}"}
        assert client.get("/healthz").json() == {"ok": True}
        for headers in ({}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer cdp_0_nonsense"}):
            refused = client.get("/whoami", headers=headers)
            assert refused.status_code == 401
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        forbidden = client.get("/metrics", headers={"Authorization": f"Bearer {key}"})  # an app key lacks the scope
        assert forbidden.status_code == 403
        assert forbidden.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
