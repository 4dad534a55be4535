"""The playground in a real headless Chromium (Debian's ``chromium``), against the real cdp app.

``cdp.app.build_app`` over an embedded store with demo data is served by uvicorn on
127.0.0.1; the browser (``tests.chromium``: the DevTools protocol) opens the playground as a
new user does: no error before a key, the key pasted into the labelled field loads the
schema, autocomplete offers a field, a query runs and its result is read, the key never
reaches localStorage (history, tabs), and is remembered for the tab only when asked.
Every request the page made went to 127.0.0.1.

Skipped when Chromium is not installed, unless ``CDP_REQUIRE_BROWSER`` is set (CI), where
that is a failure. Set ``CDP_PLAYGROUND_SCREENSHOT=/some/file.png`` to keep a screenshot.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from cdp.analytics.analytics import Analytics
from cdp.security.api_keys import create_key
from cdp.campaigns.campaign_simulation import SimulationDesign, simulate
from cdp.app import build_app
from cdp.app.playground import assets_present
from cdp.settings import Settings
from graph.store import GraphStore
from tests.chromium import PNG_SIGNATURE, Chromium, browser_missing, png_pixels, share_near
from tests.loopback import RequestLog, serve

MISSING = browser_missing() or (None if assets_present() else
                                "GraphiQL vendor assets are not installed (make install)")
if MISSING and os.environ.get("CDP_REQUIRE_BROWSER"):
    raise RuntimeError(f"CDP_REQUIRE_BROWSER is set but the browser tests cannot run: {MISSING}")

pytestmark = [pytest.mark.browser, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]

SIMULATED = "Simulated campaign with a control group"
QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
RESULT_EDITOR = ".result-window .CodeMirror"


@dataclass
class Served:
    """The app under test: its base URL, an admin key, the log of requests it served, its store."""

    base: str
    key: str
    log: RequestLog
    store: GraphStore


@pytest.fixture(scope="module")
def server(demo_data, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:  # type: ignore[no-untyped-def]
    """The real cdp app on an embedded demo store, served by uvicorn on loopback."""
    from graph.ladybug_store import LadybugStore

    folder = tmp_path_factory.mktemp("playground-browser")
    store = LadybugStore(folder / "demo.lbdb", buffer_pool_mb=256)
    store.bulk_load(demo_data.nodes, demo_data.relationships)
    # A campaign with a control group, so the insights page has a lift and interval to draw
    # (the demo's past campaigns held none out).
    analytics = Analytics(store, Settings())
    simulate(analytics.campaigns, seed=3, t0=datetime(2026, 9, 1, 11, 0), name=SIMULATED,
             design=SimulationDesign(control_share=0.3, u1=0.15, u2=0.2))
    analytics.close()
    # No heavy-lane time budget: it counts wall-clock seconds, so on a loaded machine the
    # test's own API reads would be refused at random (as in conftest.api_client).
    app = build_app(Settings(db_path=folder / "demo.lbdb", audit_log=folder / "audit.jsonl", heavy_budget=0.0), store)
    _, key = create_key(store, "playground browser test", "admin")
    log = RequestLog(app)
    try:
        with serve(log) as base:
            yield Served(base, key, log, store)
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with Chromium() as chromium:
        yield chromium


def open_playground(browser: Chromium, base: str) -> None:
    browser.navigate(f"{base}/graphql")
    browser.wait_until("!!document.querySelector('.graphiql-container') && !!document.getElementById('cdp-key')",
                       what="GraphiQL and the key field")


def status_text(browser: Chromium) -> str:
    return str(browser.evaluate("document.getElementById('cdp-key-status').textContent"))


def enter_key(browser: Chromium, key: str) -> None:
    browser.click("#cdp-key")
    browser.evaluate("document.getElementById('cdp-key').select()")
    browser.insert_text(key)


def editor_value(browser: Chromium, selector: str) -> str:
    return str(browser.evaluate(f"document.querySelector({json.dumps(selector)}).CodeMirror.getValue()"))


def stored(browser: Chromium, area: str) -> str:
    """Everything in the page's localStorage or sessionStorage, as one JSON text."""
    return str(browser.evaluate(f"JSON.stringify(Object.assign({{}}, window.{area}))"))


def assert_loopback_only(browser: Chromium) -> None:
    browser.pump(0.2)
    assert browser.requests, "the page made no request at all"
    for url in browser.requests:
        parts = urlsplit(url)
        assert parts.scheme in ("data", "about", "blob") or parts.hostname == "127.0.0.1", url


def test_first_hour_in_chromium(server: Served, browser: Chromium) -> None:
    base, key, log = server.base, server.key, server.log
    log.entries.clear()
    open_playground(browser, base)

    # Opens with no error: nothing asked of the API before there is a key, an empty
    # response pane, and a status saying where the key goes.
    time.sleep(1.0)
    assert not [e for e in log.entries if e[0] == "POST"], log.entries
    assert editor_value(browser, RESULT_EDITOR).strip() == ""
    assert "No key yet" in status_text(browser)
    assert browser.evaluate("document.querySelector('label[for=cdp-key]').textContent") == "API key"
    assert "API key" in editor_value(browser, QUERY_EDITOR)  # the welcome text says where the key goes

    # Pasting the key loads the schema at once.
    enter_key(browser, key)
    browser.wait_until("document.getElementById('cdp-key-status').textContent.startsWith('Schema loaded')",
                       what="the schema to load after the key")
    assert ("POST", "/graphql", 200) in log.entries, log.entries
    assert not [e for e in log.entries if e[2] >= 400], log.entries

    # Autocomplete offers a field of the schema while typing.
    browser.evaluate(f"(() => {{ const cm = document.querySelector({json.dumps(QUERY_EDITOR)}).CodeMirror;"
                     " cm.setValue('{\\n  \\n}'); cm.focus(); cm.setCursor({line: 1, ch: 2}); })()")
    browser.type_keys("custo")
    hints = browser.wait_until(
        "(() => { const h = document.querySelector('.CodeMirror-hints');"
        " return h && Array.from(h.querySelectorAll('.CodeMirror-hint')).map(e => e.textContent); })()",
        what="autocomplete hints")
    assert "customers" in hints, hints

    # Run a query with the play button and read the result pane.
    query = "{ customers(first: 2) { totalCount edges { node { id name } } } }"
    browser.evaluate(f"document.querySelector({json.dumps(QUERY_EDITOR)}).CodeMirror.setValue({json.dumps(query)})")
    browser.press("Escape", "Escape", 27)  # close the hint list
    browser.click(".graphiql-execute-button")
    text = browser.wait_until(
        f"(() => {{ const v = document.querySelector({json.dumps(RESULT_EDITOR)}).CodeMirror.getValue();"
        " return v.includes('totalCount') ? v : ''; })()", what="the query's result")
    shown = json.loads(text)
    expected = httpx.post(f"{base}/graphql", json={"query": query},
                          headers={"Authorization": f"Bearer {key}"}).json()
    assert "errors" not in shown, shown
    assert shown == expected
    assert shown["data"]["customers"]["totalCount"] > 0
    assert len(shown["data"]["customers"]["edges"]) == 2

    # The run went to history, without the key; the key is nowhere in the browser's storage.
    browser.pump(0.5)
    local = stored(browser, "localStorage")
    assert "graphiql:queries" in local and "customers(first: 2)" in local, local[:2000]
    assert key not in local
    assert key not in stored(browser, "sessionStorage")
    assert_loopback_only(browser)


def test_key_in_headers_tab_is_not_stored(server: Served, browser: Chromium) -> None:
    base = server.base
    open_playground(browser, base)
    # A user who puts a key into GraphiQL's Headers tab (as the old page told them). That key
    # wins over the key field's (here a wrong one): the schema loads and the query runs with it.
    tab_key = create_key(server.store, "headers tab key", "admin")[1]
    browser.click("[data-name=headers]")
    headers_editor = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
    browser.wait_until(f"!!document.querySelector({json.dumps(headers_editor)})")
    browser.evaluate(f"document.querySelector({json.dumps(headers_editor)}).CodeMirror.setValue("
                     f"{json.dumps(json.dumps({'Authorization': f'Bearer {tab_key}'}))})")
    enter_key(browser, "cdp_wrong_0000")
    browser.wait_until("document.getElementById('cdp-key-status').textContent.startsWith('Schema loaded')",
                       what="the schema to load with the Headers tab's key")
    browser.evaluate(f"document.querySelector({json.dumps(QUERY_EDITOR)}).CodeMirror.setValue("
                     "'{ segments { totalCount } }')")
    browser.click(".graphiql-execute-button")
    text = browser.wait_until(f"(() => {{ const v = document.querySelector({json.dumps(RESULT_EDITOR)})"
                              ".CodeMirror.getValue(); return v.includes('segments') ? v : ''; })()",
                              what="the segments result")
    assert "errors" not in json.loads(text), text
    browser.pump(0.5)
    local = stored(browser, "localStorage")
    assert "segments { totalCount }" in local  # history and tabs were written ...
    assert tab_key not in local  # ... without the headers
    # Clean up for the next tests: an empty Headers tab.
    browser.evaluate(f"document.querySelector({json.dumps(headers_editor)}).CodeMirror.setValue('')")
    assert_loopback_only(browser)


def test_wrong_key_is_reported_beside_the_field(server: Served, browser: Chromium) -> None:
    base = server.base
    open_playground(browser, base)
    enter_key(browser, "cdp_nosuchkey_0000")
    text = browser.wait_until("(() => { const t = document.getElementById('cdp-key-status').textContent;"
                              " return t.startsWith('The server refused') ? t : ''; })()",
                              what="the refusal of a wrong key")
    assert len(text) > len("The server refused this key: ")
    # Changing the key fetches the schema again, with the new key.
    server.log.entries.clear()
    enter_key(browser, server.key)
    browser.wait_until("document.getElementById('cdp-key-status').textContent.startsWith('Schema loaded')",
                       what="the schema to load after the key changed")
    assert ("POST", "/graphql", 200) in server.log.entries


def test_key_remembered_for_the_tab_only_when_asked(server: Served, browser: Chromium) -> None:
    base, key, log = server.base, server.key, server.log
    open_playground(browser, base)
    enter_key(browser, key)
    browser.wait_until("document.getElementById('cdp-key-status').textContent.startsWith('Schema loaded')")
    assert key not in stored(browser, "sessionStorage")

    # Not asked: a reload forgets the key.
    browser.navigate(f"{base}/graphql")
    browser.wait_until("!!document.getElementById('cdp-key')")
    assert browser.evaluate("document.getElementById('cdp-key').value") == ""

    # Asked: kept in sessionStorage (never localStorage), and a reload loads the schema with it.
    enter_key(browser, key)
    browser.click("#cdp-remember")
    browser.wait_until(f"JSON.stringify(Object.assign({{}}, sessionStorage)).includes({json.dumps(key)})")
    log.entries.clear()
    browser.navigate(f"{base}/graphql")
    browser.wait_until("document.getElementById('cdp-key-status').textContent.startsWith('Schema loaded')",
                       what="the schema to load with the remembered key")
    assert browser.evaluate("document.getElementById('cdp-key').value") == key
    assert browser.evaluate("document.getElementById('cdp-remember').checked") is True
    assert ("POST", "/graphql", 200) in log.entries
    assert key not in stored(browser, "localStorage")

    # Unticked: forgotten at once.
    browser.click("#cdp-remember")
    browser.wait_until(f"!JSON.stringify(Object.assign({{}}, sessionStorage)).includes({json.dumps(key)})")
    assert_loopback_only(browser)


def test_playground_screenshot(server: Served, browser: Chromium, tmp_path: Path) -> None:
    base, key = server.base, server.key
    open_playground(browser, base)
    enter_key(browser, key)
    browser.wait_until("document.getElementById('cdp-key-status').textContent.startsWith('Schema loaded')")
    target = Path(os.environ.get("CDP_PLAYGROUND_SCREENSHOT") or tmp_path / "playground.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    data = browser.screenshot(target)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    # A blank page compresses to a few KB; the rendered playground is far larger.
    assert len(data) > 20_000, len(data)


# -- the insights page ------------------------------------------------------------------------

PANELS = ("panel-concentration", "panel-profile", "panel-campaign", "panel-satisfaction")


def api(server: Served, query: str, variables: dict | None = None) -> dict:
    """What the API answers ``query`` with the server's admin key (what the page should show)."""
    body = httpx.post(f"{server.base}/graphql", json={"query": query, "variables": variables or {}},
                      headers={"Authorization": f"Bearer {server.key}"}, timeout=120).json()
    assert "errors" not in body, body
    return body["data"]


def test_insights_in_chromium(server: Served, browser: Chromium, tmp_path: Path) -> None:
    base, key, log = server.base, server.key, server.log
    # The playground links to it.
    open_playground(browser, base)
    assert browser.evaluate("document.querySelector('.cdp-keybar a').getAttribute('href')") == "/insights"

    # A saved segment: the profile panel shows it first.
    saved = api(server, "mutation($d: SegmentDefinitionInput!) { createSegment(name: \"Business, browser test\","
                " definition: $d) { id profile { measure value } } }",
                {"d": {"attribute": {"key": "tier", "op": "EQ", "value": "BUSINESS"}}})["createSegment"]

    log.entries.clear()
    browser.requests.clear()
    browser.navigate(f"{base}/insights")
    assert "No key yet" in browser.evaluate("document.getElementById('cdp-key-status').textContent")
    time.sleep(0.5)
    assert not [e for e in log.entries if e[0] == "POST"], log.entries  # nothing asked without a key

    enter_key(browser, key)
    browser.wait_until("document.body.getAttribute('data-loaded') === 'true'", timeout=90,
                       what="every panel to load")
    states = browser.evaluate(f"{json.dumps(PANELS)}.map(id => [id, document.getElementById(id)"
                              ".getAttribute('data-state'), document.getElementById(id)"
                              ".querySelector('.cdp-note').textContent])")
    assert all(state == "ready" for _, state, _ in states), states
    # No churn model yet: the churn panel says how to train one, and is not an error.
    churn_state, churn_note = browser.evaluate("[document.getElementById('panel-churn').getAttribute('data-state'),"
                                               " document.querySelector('#panel-churn .cdp-note').textContent]")
    assert churn_state == "empty" and "not trained" in churn_note and "cdp train churn" in churn_note, churn_note
    assert browser.evaluate("document.querySelectorAll('.churn-bar').length") == 0
    assert browser.evaluate("document.getElementById('segment-select').value") == saved["id"]
    counts = api(server, f"{{ segment(id: \"{saved['id']}\") {{ size }} customers(first: 1) {{ totalCount }} }}")
    note = browser.evaluate("document.querySelector('#panel-profile .cdp-note').textContent")
    assert f"{counts['segment']['size']} members of {counts['customers']['totalCount']} customers" in note, note
    labels = browser.evaluate("Array.from(document.querySelectorAll('#profile-chart text.label')).map(t => t.textContent)")
    assert labels == [p["measure"] + (f" = {p['value']}" if p["value"] is not None else "") for p in saved["profile"][:8]]
    browser.evaluate("(() => { const s = document.getElementById('segment-select'); s.value = 'preset:0';"
                     " s.dispatchEvent(new Event('change')); })()")
    browser.wait_until("document.getElementById('panel-profile').getAttribute('data-state') === 'ready'"
                       " && document.querySelectorAll('.profile-bar').length > 0", what="the preset's profile")
    from cdp.app.insights import PRESETS

    profile = api(server, "query($d: SegmentDefinitionInput!) { previewSegment(definition: $d, first: 1) {"
                  " profile { measure value } } }", {"d": PRESETS[0]["definition"]})["previewSegment"]["profile"]
    labels = browser.evaluate("Array.from(document.querySelectorAll('#profile-chart text.label')).map(t => t.textContent)")
    assert labels == [p["measure"] + (f" = {p['value']}" if p["value"] is not None else "") for p in profile[:8]]

    # What is drawn is what the API answers.
    lorenz = api(server, "{ valueSegmentation { concentration { lorenz gini } } }")["valueSegmentation"]
    points = browser.evaluate("document.getElementById('lorenz-line').getAttribute('points').split(' ').length")
    assert points == len(lorenz["concentration"]["lorenz"]) + 1
    assert f"Gini {lorenz['concentration']['gini']:.2f}" in browser.evaluate(
        "document.getElementById('lorenz-figures').textContent")
    campaign = browser.evaluate("document.getElementById('campaign-select').value")
    total = api(server, "query($id: ID!) { campaign(id: $id) { report { total { contacted opened responded converted } } } }",
                {"id": campaign})["campaign"]["report"]["total"]
    drawn = browser.evaluate("Object.fromEntries(Array.from(document.querySelectorAll('.funnel-bar'))"
                             ".map(r => [r.getAttribute('data-step'), Number(r.getAttribute('data-count'))]))")
    assert drawn == total
    channels = api(server, "{ satisfactionByChannel { channelId } }")["satisfactionByChannel"]
    assert browser.evaluate("document.querySelectorAll('.satisfaction-bar').length") == len(channels) > 0

    # Choosing another campaign redraws the funnel from the API.
    options = browser.evaluate("Array.from(document.getElementById('campaign-select').options).map(o => o.value)")
    other = next(o for o in options if o != campaign)
    browser.evaluate(f"(() => {{ const s = document.getElementById('campaign-select'); s.value = {json.dumps(other)};"
                     " s.dispatchEvent(new Event('change')); })()")
    other_total = api(server, "query($id: ID!) { campaign(id: $id) { report { total { contacted } } } }",
                      {"id": other})["campaign"]["report"]["total"]
    browser.wait_until(f"document.querySelector('.funnel-bar[data-step=contacted]')"
                       f".getAttribute('data-count') === '{other_total['contacted']}'", what="the other funnel")

    # A campaign with a control group: its lift and 95% interval are drawn as the API reports them.
    simulated = next(e["node"]["id"] for e in api(server, "{ campaigns(first: 100) { edges { node { id name } } } }")
                     ["campaigns"]["edges"] if e["node"]["name"] == SIMULATED)
    lift = api(server, "query($id: ID!) { campaign(id: $id) { report { lift { absolute interval { low high } } } } }",
               {"id": simulated})["campaign"]["report"]["lift"]
    assert lift is not None
    browser.evaluate(f"(() => {{ const s = document.getElementById('campaign-select'); s.value = {json.dumps(simulated)};"
                     " s.dispatchEvent(new Event('change')); })()")
    caption = browser.wait_until("(() => { const i = document.getElementById('lift-interval');"
                                 " return i && i.parentNode.textContent; })()", what="the lift interval")
    low, high = lift["interval"]["low"], lift["interval"]["high"]
    assert f"conversion lift {100 * lift['absolute']:.1f}%" in caption, caption
    assert f"95% interval {100 * low:.1f}% to {100 * high:.1f}%" in caption, caption
    line = browser.evaluate("(() => { const i = document.getElementById('lift-interval');"
                            " return [Number(i.getAttribute('x1')), Number(i.getAttribute('x2'))]; })()")
    assert line[0] < line[1]  # drawn from the low end to the high end

    # The screenshot shows the charts: each panel holds pixels of its chart's colour.
    target = Path(os.environ.get("CDP_INSIGHTS_SCREENSHOT") or tmp_path / "insights.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    assert browser.screenshot(target).startswith(PNG_SIGNATURE)
    for selector, colour, least in (("#lorenz-chart", (0x1F, 0x5F, 0xBF), 0.004),
                                    ("#funnel-chart", (0x7B, 0x4F, 0xBF), 0.02),
                                    ("#satisfaction-chart", (0x2A, 0x9D, 0x8F), 0.02),
                                    ("#lift-chart", (0xA6, 0x1B, 0x1B), 0.005)):
        share = share_near(png_pixels(browser.screenshot(selector=selector)), colour)
        assert share >= least, (selector, share)
    assert_loopback_only(browser)
    assert not [e for e in log.entries if e[2] >= 400], log.entries


def test_insights_churn_drivers_in_chromium(server: Served, browser: Chromium, tmp_path: Path) -> None:
    """Once the churn model is trained, the churn panel draws what drives the risk of the
    at-risk customers exactly as ``churnDrivers`` answers it."""
    submitted = api(server, 'mutation { trainModel(name: "churn") { id } }')["trainModel"]["id"]
    deadline = time.monotonic() + 600
    while (job := api(server, "query($id: ID!) { job(id: $id) { status error { message } } }",
                      {"id": submitted})["job"])["status"] not in ("SUCCEEDED", "FAILED"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["status"] == "SUCCEEDED", job

    server.log.entries.clear()
    browser.requests.clear()
    browser.navigate(f"{server.base}/insights")
    enter_key(browser, server.key)
    browser.wait_until("document.body.getAttribute('data-loaded') === 'true'", timeout=240, what="every panel to load")
    query = ("query($t: Float!) { churnDrivers(threshold: $t) { scored atRisk explained"
             " drivers { feature description customers share } } }")

    def panel() -> tuple[str, str]:
        return tuple(browser.evaluate("[document.getElementById('panel-churn').getAttribute('data-state'),"
                                      " document.querySelector('#panel-churn .cdp-note').textContent]"))

    def choose(threshold: str) -> None:
        browser.evaluate(f"(() => {{ const s = document.getElementById('churn-threshold'); s.value = {json.dumps(threshold)};"
                         " s.dispatchEvent(new Event('change')); })()")
        browser.wait_until("document.getElementById('panel-churn').getAttribute('data-state') !== 'loading'",
                           what="the churn panel")

    # The first threshold offered: drawn, or said to be empty, as the API answers.
    first = browser.evaluate("document.getElementById('churn-threshold').value")
    answer = api(server, query, {"t": float(first)})["churnDrivers"]
    state, note = panel()
    if answer["atRisk"]:
        assert state == "ready" and f"{answer['atRisk']} of {answer['scored']} scored customers" in note, note
    else:
        assert state == "empty" and f"({answer['scored']} scored)" in note, note
        assert browser.evaluate("document.querySelectorAll('.churn-bar').length") == 0

    # The highest threshold some customers reach: its drivers are drawn as the API answers them.
    options = browser.evaluate("Array.from(document.getElementById('churn-threshold').options).map(o => o.value)")
    assert options == sorted(options, key=float, reverse=True) and first in options
    answers = {o: api(server, query, {"t": float(o)})["churnDrivers"] for o in options}
    reached = [o for o in options if answers[o]["atRisk"] and answers[o]["drivers"]]
    assert reached, answers  # the demo has customers at risk at the lowest threshold offered
    threshold = reached[0]
    expected = answers[threshold]
    choose(threshold)
    state, note = panel()
    assert state == "ready", note
    assert f"{expected['atRisk']} of {expected['scored']} scored customers" in note, note
    assert f"the {expected['explained']} riskiest" in note, note
    drawn = browser.evaluate("Array.from(document.querySelectorAll('.churn-bar'))"
                             ".map(r => [r.getAttribute('data-feature'), Number(r.getAttribute('data-customers'))])")
    assert drawn == [[d["feature"], d["customers"]] for d in expected["drivers"][:8]]
    labels = browser.evaluate("Array.from(document.querySelectorAll('#churn-chart text.label'))"
                              ".map(t => t.firstChild.textContent)")
    assert labels == [d["description"] if len(d["description"]) <= 32 else d["description"][:31] + "\u2026"
                      for d in expected["drivers"][:8]]
    widths = browser.evaluate("Array.from(document.querySelectorAll('.churn-bar')).map(r => Number(r.getAttribute('width')))")
    assert widths == sorted(widths, reverse=True)  # most frequent first, bar length = share

    target = Path(os.environ.get("CDP_INSIGHTS_SCREENSHOT") or tmp_path / "insights-churn.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    assert browser.screenshot(target).startswith(PNG_SIGNATURE)
    share = share_near(png_pixels(browser.screenshot(selector="#churn-chart")), (0xB8, 0x32, 0x80))
    assert share >= 0.02, share
    assert_loopback_only(browser)
    assert not [e for e in server.log.entries if e[2] >= 400], server.log.entries
