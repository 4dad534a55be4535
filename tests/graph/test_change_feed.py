"""The Neo4j change feed (issue 19, item 4): every committed write records an entry in its
own transaction; each server's projection follows the feed incrementally.

The encoding and gap detection run everywhere; the rest needs a Neo4j (``make test`` starts
one; ``CDP_TEST_NEO4J_URI``), including two real ``cdp serve`` processes on one database.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cdp.projection.tables import Projection
from graph import change_feed as feed
from graph.store import Changes
from tests.conftest import NEO4J_TEST_URI

ROOT = Path(__file__).resolve().parents[2]
needs_neo4j = pytest.mark.skipif(not NEO4J_TEST_URI, reason="needs a Neo4j (CDP_TEST_NEO4J_URI; make test starts one)")


# --------------------------------------------------------------------------- entries


def test_an_entry_round_trips_every_kind_of_change() -> None:
    changes = Changes(nodes={"Customer": {"C1", "C2"}, "AttributeValue": {12345678901234, -5}},
                      relationships={"HOLDS": {("C1", "A1")}, "HAS_ATTRIBUTE": {("C2", -5)}},
                      deleted={"Segment": {"S1"}}, created={"Customer": {"C2"}})
    assert feed.decode(feed.encode(changes)) == changes


def test_a_huge_write_is_recorded_as_everything() -> None:
    changes = Changes(nodes={"Customer": {f"C{i}" for i in range(feed.MAX_KEYS + 1)}})
    text = feed.encode(changes)
    assert len(text) < 100 and feed.decode(text) == Changes(everything=True)


def _entry(seq: int) -> dict:
    return {"seq": seq, "origin": "o", "changes": feed.encode(Changes(nodes={"Customer": {f"C{seq}"}}))}


def test_a_read_in_sequence_is_not_missed() -> None:
    read = feed.feed_read(4, 6, [_entry(5), _entry(6)])
    assert not read.missed and [e.seq for e in read.entries] == [5, 6]
    assert read.entries[1].changes.nodes == {"Customer": {"C6"}}
    assert feed.feed_read(6, 6, []).missed is False


@pytest.mark.parametrize("after, head, seqs", [
    (4, 8, [7, 8]),   # 5 and 6 were pruned
    (4, 8, []),       # everything after 4 was pruned
    (4, 8, [5, 7]),   # a hole (pruned while reading)
    (9, 3, []),       # the feed was reset behind the follower
])
def test_a_gap_is_missed(after: int, head: int, seqs: list[int]) -> None:
    read = feed.feed_read(after, head, [_entry(s) for s in seqs])
    assert read.missed and read.entries == []


# --------------------------------------------------------------------------- on Neo4j


def _store(**options: object):  # type: ignore[no-untyped-def]
    from graph.neo4j_store import Neo4jStore

    return Neo4jStore(NEO4J_TEST_URI, "neo4j", "", "neo4j", **options)  # type: ignore[arg-type]


@pytest.fixture
def two_stores(demo_data) -> Iterator[tuple]:  # type: ignore[no-untyped-def]
    """Two store objects on the test Neo4j (as two servers have), holding the demo data."""
    writer, reader = _store(), _store()
    writer.wipe()
    writer.bulk_load(demo_data.nodes, demo_data.relationships)
    yield writer, reader
    writer.wipe()
    writer.close()
    reader.close()


@needs_neo4j
def test_concurrent_writers_get_dense_sequence_numbers() -> None:
    store = _store()
    try:
        start = store.change_feed_head()
        errors: list[BaseException] = []

        def write(worker: int) -> None:
            try:
                for i in range(15):
                    store.upsert_nodes("Customer", [{"id": f"FEED{worker}_{i}", "city": "Seq"}])
            except BaseException as exc:  # noqa: BLE001  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        read = store.changes_since(start)
        assert not read.missed and read.head == start + 90
        assert [e.seq for e in read.entries] == list(range(start + 1, start + 91))
        written = set().union(*(e.changes.nodes["Customer"] for e in read.entries))
        assert written == {f"FEED{w}_{i}" for w in range(6) for i in range(15)}
        assert {e.origin for e in read.entries} == {store.origin}
    finally:
        store.wipe()
        store.close()


@needs_neo4j
def test_a_failed_write_records_no_entry() -> None:
    from graph.errors import InvalidInput

    store = _store()
    try:
        start = store.change_feed_head()
        with pytest.raises(InvalidInput):
            store.upsert_relationships("HOLDS", [{"from": "NOBODY", "to": "NOTHING"}])
        assert store.change_feed_head() == start
    finally:
        store.close()


@needs_neo4j
def test_a_projection_follows_another_stores_writes_without_rebuilding(two_stores) -> None:  # type: ignore[no-untyped-def]
    writer, reader = two_stores
    projection = Projection(reader, follow_every=0)
    before = projection.data()
    assert projection.totals().builds == 1
    customer, other = before.ids[3], before.ids[4]
    contacts_before = int((before.fact("contacts")["row"] == 4).sum())
    writer.upsert_nodes("Customer", [{"id": customer, "city": "Feedville"},
                                     {"id": "FEEDNEW", "city": "Feedville", "tier": "GOLD"}])
    writer.upsert_nodes("Contact", [{"id": "FEEDK1", "at": "2026-01-02T03:04:05", "kind": "CALL",
                                     "direction": "INBOUND", "outcome": "RESOLVED"}])
    writer.upsert_relationships("HAD_CONTACT", [{"from": other, "to": "FEEDK1"}])
    writer.upsert_relationships("VIA", [{"from": "FEEDK1", "to": before.channels.index[0]}])
    after = projection.data()
    assert set(after.ids[after.customers["city"] == "Feedville"]) == {customer, "FEEDNEW"}
    assert int((after.fact("contacts")["row"] == 4).sum()) == contacts_before + 1
    totals = projection.totals()
    assert totals.builds == 1 and totals.refreshes >= 1 and totals.feed_entries == 4
    # The writer's own projection hears its writes through subscribe, not twice through the feed.
    own = Projection(writer, follow_every=0)
    own.data()
    writer.upsert_nodes("Customer", [{"id": customer, "city": "Elsewhere"}])
    assert own.data().customers["city"].iloc[own.data().row_of(customer)] == "Elsewhere"
    assert own.totals().feed_entries == 0 and own.totals().builds == 1
    projection.close()
    own.close()


@needs_neo4j
def test_a_follower_behind_the_pruned_entries_rebuilds(two_stores) -> None:  # type: ignore[no-untyped-def]
    writer, reader = two_stores
    projection = Projection(reader, follow_every=0)
    projection.data()
    impatient = _store(change_retention_seconds=0.001)  # prunes everything it can
    try:
        impatient.upsert_nodes("Customer", [{"id": "FEEDPRUNE", "city": "Gone"}])
        time.sleep(0.01)
        while impatient.change_feed_head() % feed.PRUNE_EVERY != feed.PRUNE_EVERY - 1:
            impatient.upsert_nodes("Customer", [{"id": "FEEDPRUNE", "city": "Gone"}])
            time.sleep(0.002)
        impatient.upsert_nodes("Customer", [{"id": "FEEDPRUNE", "city": "Pruned"}])  # prunes
        assert reader.changes_since(projection.totals().feed_position).missed
        data = projection.data()
        assert data.customers["city"].iloc[data.row_of("FEEDPRUNE")] == "Pruned"
        assert projection.totals().builds == 2
    finally:
        impatient.close()
        projection.close()


# --------------------------------------------------------------------------- two servers


class _Server:
    """One ``cdp serve`` process on the test Neo4j, with its own key, models and audit log."""

    def __init__(self, home: Path, port: int) -> None:
        env = {**os.environ, "NEO4J_URI": NEO4J_TEST_URI, "NEO4J_USER": "neo4j", "NEO4J_PASSWORD": "",
               "CDP_DB_PATH": str(home / "cdp.lbdb"), "CDP_DEMO_CUSTOMERS": "200", "CDP_LOG_FORMAT": "plain",
               "CDP_CHANGE_FEED_POLL": "0.2", "CDP_RATE_LIMIT": "0", "PYTHONPATH": str(ROOT)}
        self.base = f"http://127.0.0.1:{port}"
        self.log: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "cdp.cli", "serve", "--port", str(port), "--dev-key"],
                                     cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=lambda: self.log.extend(iter(self.proc.stderr.readline, "")),  # type: ignore[union-attr]
                         daemon=True).start()

    def wait_ready(self, seconds: float = 180) -> None:
        def ready() -> bool:
            try:
                return httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False
        _until(ready, seconds, "the server to be ready", self)

    @property
    def key(self) -> str:
        return next(m.group(0) for line in self.log if (m := re.search(r"cdp_[0-9a-f]{12}_\S{43}", line)))

    def gql(self, query: str, variables: dict | None = None) -> dict:
        response = httpx.post(f"{self.base}/graphql", json={"query": query, "variables": variables or {}},
                              headers={"Authorization": f"Bearer {self.key}"}, timeout=900)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def metric(self, name: str) -> float:
        text = httpx.get(f"{self.base}/metrics", headers={"Authorization": f"Bearer {self.key}"}, timeout=10).text
        return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _until(check: Callable[[], object], seconds: float, what: str, server: _Server | None = None) -> object:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if server is not None and server.proc.poll() is not None:
            pytest.fail(f"cdp serve exited: {''.join(server.log)[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {seconds} s")
        time.sleep(0.2)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PREVIEW = "query($d: SegmentDefinitionInput!) { previewSegment(definition: $d) { size } }"
CHURN = "query($id: ID!) { customer(id: $id) { churnRisk { probability } } }"
CONSENT = """mutation($c: ID!) { recordConsent(customerId: $c, status: DENIED, purpose: PROFILING) { status } }"""


@needs_neo4j
def test_two_servers_on_one_neo4j_see_each_others_writes_without_rebuilding(tmp_path: Path) -> None:
    """A write through server A shows in server B's segment preview and scores within
    seconds (polled with a deadline), and B never rebuilds its projection to get there."""
    wiper = _store()
    wiper.wipe()
    wiper.close()
    a = _Server(tmp_path / "a", _free_port())
    b: _Server | None = None
    try:
        a.wait_ready()  # A loads the demo data into the empty database
        b = _Server(tmp_path / "b", _free_port())
        b.wait_ready()
        feedville = {"d": {"attribute": {"key": "city", "op": "EQ", "value": "Feedville"}}}
        assert b.gql(PREVIEW, feedville)["previewSegment"]["size"] == 0
        job = b.gql('mutation { trainModel(name: "churn") { id } }')["trainModel"]["id"]
        deadline = time.monotonic() + 600  # training runs as a job (docs/limits.md, "Jobs")
        while (state := b.gql('query($id: ID!) { job(id: $id) { status error { message } } }',
                              {"id": job})["job"])["status"] not in ("SUCCEEDED", "FAILED"):
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
        assert state["status"] == "SUCCEEDED", state
        scored = b.gql(PREVIEW, {"d": {"score": {"name": "churn_risk", "op": "GTE", "value": 0}}})
        assert scored["previewSegment"]["size"] > 0
        members = b.gql("query($d: SegmentDefinitionInput!) { previewSegment(definition: $d, first: 1) "
                        "{ members { edges { node { id } } } } }",
                        {"d": {"score": {"name": "churn_risk", "op": "GTE", "value": 0}}})
        customer = members["previewSegment"]["members"]["edges"][0]["node"]["id"]
        assert b.gql(CHURN, {"id": customer})["customer"]["churnRisk"] is not None
        builds = b.metric("cdp_projection_builds_total")
        assert builds == 1

        a.gql('mutation { upsertCustomers(source: "crm", items: [{id: "%s", city: "Feedville"}, '
              '{id: "CFEED1", firstName: "Fee", lastName: "Dee", city: "Feedville"}]) { created updated } }'
              % customer)
        a.gql(CONSENT, {"c": customer})

        _until(lambda: b.gql(PREVIEW, feedville)["previewSegment"]["size"] == 2, 30, "B's segment to follow A", b)
        _until(lambda: b.gql(CHURN, {"id": customer})["customer"]["churnRisk"] is None, 30,
               "B's scores to follow A (PROFILING refused)", b)
        assert b.metric("cdp_projection_builds_total") == builds
        assert b.metric("cdp_change_feed_entries_total") >= 2
        assert b.metric("cdp_projection_refreshes_total") >= 1
    finally:
        a.stop()
        if b is not None:
            b.stop()
        wiper = _store()
        wiper.wipe()
        wiper.close()


@needs_neo4j
def test_an_unreachable_feed_serves_the_snapshot_it_has(two_stores) -> None:  # type: ignore[no-untyped-def]
    """Neo4j unreachable for a moment (a real driver to a port nobody listens on): the
    projection answers from its snapshot and reads the feed again once it is back."""
    import neo4j

    writer, reader = two_stores
    projection = Projection(reader, follow_every=0)
    built = projection.data()
    working = reader._driver
    reader._driver = neo4j.GraphDatabase.driver(f"bolt://127.0.0.1:{_free_port()}", auth=("neo4j", ""),
                                                connection_timeout=1, max_transaction_retry_time=0)
    try:
        assert projection.data() is built
    finally:
        reader._driver.close()
        reader._driver = working
    writer.upsert_nodes("Customer", [{"id": "FEEDBACK", "city": "Back"}])
    assert projection.data().row_of("FEEDBACK") is not None
    assert projection.totals().builds == 1
    projection.close()
