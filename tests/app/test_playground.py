"""The offline GraphiQL playground: local assets only, all of them served."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

import cdp.app.playground as playground
from cdp.app.playground import asset_routes, assets_present, playground_html

EXTERNAL_URL = re.compile(r"https?://", re.IGNORECASE)
# Any scheme-relative or absolute reference that would leave the server.
PROTOCOL_RELATIVE = re.compile(r"""(?:src|href)\s*=\s*["']//""", re.IGNORECASE)

ASSETS_MISSING = (
    "GraphiQL vendor assets are not installed in cdp/static/graphiql/vendor/; "
    "run `npm ci --prefix tools/graphiql --no-audit --no-fund && python tools/graphiql/vendor.py` "
    "(or `make install`)"
)
needs_assets = pytest.mark.skipif(not assets_present(), reason=ASSETS_MISSING)


def make_app(graphql_path: str = "/graphql", asset_prefix: str = "/static/graphiql") -> Starlette:
    async def graphql_endpoint(request: Request) -> Response:
        if "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(playground_html(graphql_path, asset_prefix))
        return PlainTextResponse("POST GraphQL queries here", status_code=400)

    return Starlette(
        routes=[Route(graphql_path, graphql_endpoint, methods=["GET"]), *asset_routes(asset_prefix)]
    )


class AssetRefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.other_links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"] or "")
        elif tag == "link" and a.get("href"):
            if (a.get("rel") or "").lower() == "stylesheet":
                self.stylesheets.append(a["href"] or "")
            else:
                self.other_links.append(a["href"] or "")


def parse(page: str) -> AssetRefs:
    refs = AssetRefs()
    refs.feed(page)
    refs.close()
    return refs


def get_page(client: TestClient, path: str = "/graphql") -> str:
    response = client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def assert_offline(page: str) -> None:
    assert not EXTERNAL_URL.search(page), EXTERNAL_URL.search(page)
    assert not PROTOCOL_RELATIVE.search(page)
    for ref in parse(page).other_links:
        assert ref.startswith(("data:", "/")), ref


@needs_assets
def test_page_has_no_external_url() -> None:
    with TestClient(make_app()) as client:
        assert_offline(get_page(client))


def page_config(page: str) -> dict:
    """The JSON settings block the page hands its script."""
    match = re.search(r'<script type="application/json" id="cdp-playground-config">(.*?)</script>', page, re.S)
    assert match, page
    return json.loads(match.group(1))


@needs_assets
def test_page_mounts_graphiql_against_graphql_path() -> None:
    page = playground_html()
    config = page_config(page)
    assert config["graphqlPath"] == "/graphql"
    assert "customers(first: 5)" in config["defaultQuery"] and "totalCount" in config["defaultQuery"]
    # The welcome text tells where the key goes, and no placeholder key is sent as a header.
    assert '"API key" field' in config["defaultQuery"]
    assert "<your key>" not in page and "not stored by the browser" not in page
    refs = parse(page)
    assert len(refs.scripts) == 4
    assert len(refs.stylesheets) == 2
    # React must load before ReactDOM, both before the GraphiQL bundle, and cdp's script last.
    names = [Path(urlsplit(src).path).name for src in refs.scripts]
    assert names == ["react.production.min.js", "react-dom.production.min.js", "graphiql.min.js", "playground.js"]


def test_playground_script_keeps_keys_out_of_local_storage() -> None:
    script = (playground.OWN_DIR / "playground.js").read_text()
    # GraphiQL gets cdp's header-free storage; the key goes to sessionStorage only on request.
    assert "storage: headerFreeStorage" in script
    assert "shouldPersistHeaders: false" in script
    assert "sessionStorage" in script and "localStorage.setItem" not in script


@needs_assets
@pytest.mark.parametrize(
    ("graphql_path", "asset_prefix"),
    [("/graphql", "/static/graphiql"), ("/api/v1/graphql", "/assets/gql/")],
)
def test_every_asset_is_served(graphql_path: str, asset_prefix: str) -> None:
    with TestClient(make_app(graphql_path, asset_prefix)) as client:
        page = get_page(client, graphql_path)
        assert_offline(page)
        refs = parse(page)
        expected_prefix = "/" + asset_prefix.strip("/") + "/"
        checks = [(src, "javascript") for src in refs.scripts] + [
            (href, "text/css") for href in refs.stylesheets
        ]
        assert len(checks) == 6
        for url, content_type in checks:
            own = url.startswith("/static/cdp/")
            assert own or url.startswith(expected_prefix), url
            response = client.get(url)
            assert response.status_code == 200, url
            assert content_type in response.headers["content-type"], (url, response.headers)
            assert len(response.content) > (500 if own else 5_000), (url, len(response.content))
        # Anything outside the vendored set is not served.
        assert client.get(expected_prefix + "../../playground.py").status_code == 404
        assert client.get(expected_prefix + "nope.js").status_code == 404


@needs_assets
def test_bundles_expose_expected_globals() -> None:
    vendor = playground.VENDOR_DIR
    assert b"createFetcher" in (vendor / "graphiql.min.js").read_bytes()
    assert b".graphiql-container" in (vendor / "graphiql.min.css").read_bytes()
    assert b"createRoot" in (vendor / "react-dom.production.min.js").read_bytes()


def test_default_query_is_valid_graphql() -> None:
    from graphql import parse as parse_graphql

    document = parse_graphql(playground.DEFAULT_QUERY)
    assert len(document.definitions) == 1


def test_graphql_path_is_escaped_for_script() -> None:
    literal = playground.script_json('</script><script>alert("x")</script>')
    assert "</" not in literal and "<" not in literal


def test_missing_assets_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(playground, "VENDOR_DIR", tmp_path / "does-not-exist")
    assert not assets_present()
    with TestClient(make_app()) as client:
        page = get_page(client)
        assert_offline(page)
        assert "make install" in page
        assert "tools/graphiql/vendor.py" in page
        assert parse(page).scripts == []
        # The asset mount answers 404 (not 500) while the folder is missing.
        response = client.get("/static/graphiql/graphiql.min.js")
        assert response.status_code == 404
        assert "make install" in response.text


def test_incomplete_assets_count_as_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(playground, "VENDOR_DIR", tmp_path)
    for name in playground.VENDOR_FILES[:-1]:
        (tmp_path / name).write_text("x")
    assert not assets_present()
    (tmp_path / playground.VENDOR_FILES[-1]).write_text("")
    assert not assets_present()
    (tmp_path / playground.VENDOR_FILES[-1]).write_text("x")
    assert assets_present()
    assert "cdp-playground-config" in playground_html()


def test_insights_page_is_open_and_offline(client) -> None:  # type: ignore[no-untyped-def]
    """The insights page and its assets need no credential (its charts ask the API with the
    user's key) and load nothing from another origin."""
    page = client.get("/insights", headers={"Authorization": ""})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert_offline(page.text)
    refs = parse(page.text)
    assert [Path(urlsplit(s).path).name for s in refs.scripts] == ["insights.js"]
    for url in refs.scripts + refs.stylesheets:
        asset = client.get(url, headers={"Authorization": ""})
        assert asset.status_code == 200 and len(asset.content) > 1_000, url
    match = re.search(r'<script type="application/json" id="cdp-insights-config">(.*?)</script>', page.text, re.S)
    assert match and json.loads(match.group(1))["graphqlPath"] == "/graphql"
    # The page holds no data: no customer name or id from the store is in it.
    assert "C0000" not in page.text
    # Other methods are refused in JSON.
    assert client.post("/insights", headers={"Authorization": ""}).status_code in (401, 405)


def test_insights_presets_are_valid_definitions(demo_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from cdp.app.insights import PRESETS
    from cdp.settings import Settings
    from tests.conftest import api_client

    # Previews are heavy operations; without a heavy-lane time budget, so that three in a row
    # on a cold Neo4j projection are not refused RATE_LIMITED (docs/limits.md "Lanes").
    with api_client(Settings(heavy_budget=0, audit_log=tmp_path / "audit.jsonl"), demo_store) as client:
        for preset in PRESETS:
            body = client.post("/graphql", json={
                "query": "query($d: SegmentDefinitionInput!) { previewSegment(definition: $d, first: 1) { size baseSize } }",
                "variables": {"d": preset["definition"]}}).json()
            assert "errors" not in body, (preset["name"], body)
            preview = body["data"]["previewSegment"]
            assert 0 < preview["size"] < preview["baseSize"], (preset["name"], preview)
