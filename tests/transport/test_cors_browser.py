"""A front end on another origin calls cdp from a real headless Chromium: CORS preflights,
automatic persisted queries (Apollo's protocol) and the browser's own cache of GET answers.

Two loopback origins: cdp (``build_app`` over the embedded demo store, ``CDP_CORS_ORIGINS``
naming the front end's origin) and a front end, a page served from another port; a third
origin is not listed. The page's ``fetch`` calls are the browser's own: the preflight, the
refusal of an unlisted origin and the revalidation of a cached GET (``If-None-Match`` -> 304)
are Chromium's doing, seen in cdp's request log.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from cdp.security.api_keys import create_key
from cdp.app import build_app
from cdp.settings import Settings
from tests.chromium import Chromium, browser_missing
from tests.loopback import RequestLog, free_port, serve

MISSING = browser_missing()
if MISSING and os.environ.get("CDP_REQUIRE_BROWSER"):
    raise RuntimeError(f"CDP_REQUIRE_BROWSER is set but the browser tests cannot run: {MISSING}")

pytestmark = [pytest.mark.browser, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]

QUERY = "query Channels { channels { id name } }"


@dataclass
class Origins:
    api: str
    front: str
    stranger: str
    key: str
    log: RequestLog


def front_end() -> Starlette:
    async def page(_):  # type: ignore[no-untyped-def]
        return HTMLResponse("<!doctype html><title>front end</title><p>a front end on another origin</p>")

    return Starlette(routes=[Route("/", page)])


@pytest.fixture(scope="module")
def origins(demo_data, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origins]:  # type: ignore[no-untyped-def]
    from graph.ladybug_store import LadybugStore

    folder = tmp_path_factory.mktemp("cors-browser")
    store = LadybugStore(folder / "demo.lbdb", buffer_pool_mb=256)
    store.bulk_load(demo_data.nodes, demo_data.relationships)
    front_port = free_port()
    settings = Settings(db_path=folder / "demo.lbdb", audit_log=folder / "audit.jsonl",
                        cors_origins=(f"http://127.0.0.1:{front_port}",))
    log = RequestLog(build_app(settings, store))
    _, key = create_key(store, "front end", "app")
    try:
        with serve(log) as api, serve(front_end(), front_port) as front, serve(front_end()) as stranger:
            yield Origins(api, front, stranger, key, log)
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with Chromium() as chromium:
        yield chromium


def call(browser: Chromium, url: str, init: dict) -> dict:
    """``fetch(url, init)`` in the page: status, the JSON body, or the browser's error."""
    return browser.evaluate(
        f"fetch({json.dumps(url)}, {json.dumps(init)}).then("
        " r => r.text().then(t => ({status: r.status, body: t ? JSON.parse(t) : null})),"
        " e => ({error: String(e)}))")


def post(key: str, body: dict) -> dict:
    return {"method": "POST", "headers": {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            "body": json.dumps(body)}


def test_front_end_on_a_listed_origin(origins: Origins, browser: Chromium) -> None:
    browser.navigate(origins.front + "/")
    origins.log.entries.clear()
    answer = call(browser, origins.api + "/graphql", post(origins.key, {"query": QUERY}))
    assert answer.get("status") == 200, answer
    assert answer["body"]["data"]["channels"], answer
    # The browser sent a preflight first (JSON and an Authorization header are not "simple"),
    # answered without a credential, then the request itself.
    assert origins.log.entries[:2] == [("OPTIONS", "/graphql", 204), ("POST", "/graphql", 200)], origins.log.entries


def test_front_end_on_an_unlisted_origin(origins: Origins, browser: Chromium) -> None:
    browser.navigate(origins.stranger + "/")
    origins.log.entries.clear()
    answer = call(browser, origins.api + "/graphql", post(origins.key, {"query": QUERY}))
    assert "error" in answer and "Failed to fetch" in answer["error"], answer
    # Refused at the preflight: the query itself was never sent.
    assert origins.log.entries == [("OPTIONS", "/graphql", 403)], origins.log.entries


def test_persisted_queries_and_get_cache_in_the_browser(origins: Origins, browser: Chromium) -> None:
    browser.navigate(origins.front + "/")
    digest = hashlib.sha256(QUERY.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    get_url = origins.api + "/graphql?extensions=" + json.dumps(extensions).replace(" ", "")
    auth = {"headers": {"Authorization": f"Bearer {origins.key}"}}

    # Apollo's protocol, as its link does it: the hash alone, then hash and text on "not found".
    first = call(browser, get_url, {**auth, "method": "GET"})
    assert first["status"] == 200 and first["body"]["errors"][0]["message"] == "PersistedQueryNotFound", first
    registered = call(browser, origins.api + "/graphql", post(origins.key, {"query": QUERY, "extensions": extensions}))
    assert registered["status"] == 200 and registered["body"]["data"]["channels"], registered

    # Now the short GET works, and a repeat is revalidated by the browser's cache: 304 on the wire,
    # the same answer in the page.
    origins.log.entries.clear()
    got = call(browser, get_url, {**auth, "method": "GET"})
    again = call(browser, get_url, {**auth, "method": "GET"})
    assert got == again == {"status": 200, "body": registered["body"]}, (got, again)
    gets = [e for e in origins.log.entries if e[0] == "GET"]
    assert gets == [("GET", "/graphql", 200), ("GET", "/graphql", 304)], origins.log.entries
