"""Real-browser check of the offline GraphiQL playground (headless Chromium).

Serves a tiny app (a strawberry schema at /graphql whose IDE page is
cdp.playground.playground_html(), plus the vendored assets) with uvicorn on
127.0.0.1, loads it in headless Chromium and checks that GraphiQL rendered and
introspected the schema through the local fetcher.  Only loopback traffic.

Set CDP_PLAYGROUND_SCREENSHOT=/some/file.png to also keep a screenshot.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
]

strawberry = pytest.importorskip("strawberry")
uvicorn = pytest.importorskip("uvicorn")

from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import HTMLResponse, Response  # noqa: E402
from starlette.routing import Route  # noqa: E402
from starlette.types import ASGIApp, Receive, Scope, Send  # noqa: E402
from strawberry.asgi import GraphQL  # noqa: E402

from cdp.playground import asset_routes, assets_present, playground_html  # noqa: E402

CHROMIUM_TIMEOUT = 90  # seconds, per browser run
VIRTUAL_TIME_BUDGET_MS = 15_000


@strawberry.type
class Customer:
    id: strawberry.ID
    name: str
    tier: str


@strawberry.type
class CustomerEdge:
    node: Customer


@strawberry.type
class CustomerConnection:
    total_count: int
    edges: list[CustomerEdge]


@strawberry.type
class Query:
    @strawberry.field
    def customers(self, first: int = 10) -> CustomerConnection:
        rows = [Customer(id=strawberry.ID(str(i)), name=f"Customer {i}", tier="gold") for i in range(3)]
        return CustomerConnection(total_count=len(rows), edges=[CustomerEdge(node=c) for c in rows[:first]])


class PlaygroundGraphQL(GraphQL):
    """The wiring cdp uses: strawberry's IDE page replaced by the offline one."""

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(playground_html(graphql_path=request.url.path))


class AutoRunPlaygroundGraphQL(PlaygroundGraphQL):
    """Test-only: the same page, plus a script pressing GraphiQL's run button."""

    async def render_graphql_ide(self, request: Request) -> Response:
        page = playground_html(graphql_path=request.url.path)
        autorun = (
            "<script>setTimeout(function () {"
            " document.querySelector('.graphiql-execute-button').click(); }, 3000);</script>"
        )
        return HTMLResponse(page.replace("</body>", autorun + "</body>"))


class RequestLog:
    """ASGI middleware remembering (method, path, status) of every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.entries: list[tuple[str, str, int]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.entries.append((scope["method"], scope["path"], status[0] if status else 0))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, RequestLog]]:
    if not assets_present():
        pytest.skip(
            "GraphiQL vendor assets are not installed; run "
            "`npm ci --prefix tools/graphiql --no-audit --no-fund && python tools/graphiql/vendor.py`"
        )
    schema = strawberry.Schema(query=Query)
    app = Starlette(
        routes=[
            Route("/graphql", PlaygroundGraphQL(schema)),
            Route("/graphql-autorun", AutoRunPlaygroundGraphQL(schema)),
            *asset_routes(),
        ]
    )
    log = RequestLog(app)
    port = free_port()
    config = uvicorn.Config(log, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def run_chromium(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = tempfile.mkdtemp(prefix="cdp-chromium-")
    try:
        return subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--no-default-browser-check",
                "--metrics-recording-only",
                "--dns-prefetch-disable",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                f"--user-data-dir={profile}",
                "--window-size=1400,900",
                f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
                *extra,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=CHROMIUM_TIMEOUT,
            check=False,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_graphiql_renders_in_chromium(server: tuple[str, RequestLog]) -> None:
    base, log = server
    log.entries.clear()
    result = run_chromium(f"{base}/graphql", "--dump-dom")
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    # GraphiQL's React tree rendered (not the "Loading" placeholder nor the
    # missing-assets message), with the query editor, the headers tab and the
    # default customer query.
    assert "graphiql-container" in dom, dom[-3000:]
    assert "graphiql-editor" in dom
    assert 'class="cdp-playground-error"' not in dom
    assert "Headers" in dom
    assert "customers" in dom and "totalCount" in dom
    # Every asset came from this server, and the fetcher introspected the
    # schema with a POST to /graphql.
    gets = {(path, status) for method, path, status in log.entries if method == "GET"}
    for name in ("react.production.min.js", "react-dom.production.min.js", "graphiql.min.js", "graphiql.min.css"):
        assert (f"/static/graphiql/{name}", 200) in gets, log.entries
    assert ("POST", "/graphql", 200) in log.entries, log.entries
    assert not [e for e in log.entries if e[2] >= 400], log.entries


def test_default_query_runs_in_chromium(server: tuple[str, RequestLog]) -> None:
    base, log = server
    log.entries.clear()
    result = run_chromium(f"{base}/graphql-autorun", "--dump-dom")
    assert result.returncode == 0, result.stderr[-3000:]
    # The result pane shows the data the schema returned for the default query.
    assert "Customer 0" in result.stdout and "Customer 2" in result.stdout, result.stdout[-3000:]
    posts = [e for e in log.entries if e[0] == "POST"]
    assert posts and all(e == ("POST", "/graphql-autorun", 200) for e in posts), log.entries


def test_graphiql_screenshot(server: tuple[str, RequestLog], tmp_path: Path) -> None:
    base, _ = server
    target = Path(os.environ.get("CDP_PLAYGROUND_SCREENSHOT") or tmp_path / "graphiql.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    result = run_chromium(f"{base}/graphql", f"--screenshot={target}")
    assert result.returncode == 0, result.stderr[-3000:]
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    # A blank/white page compresses to a few KB; a rendered GraphiQL is larger.
    assert len(data) > 20_000, len(data)
