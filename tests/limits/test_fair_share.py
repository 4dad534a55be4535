"""Fair share between credentials through the real HTTP endpoint (docs/limits.md, "Lanes" and
"Jobs"): which operations are heavy, the per-credential limit on heavy operations (BUSY with
Retry-After) while another credential and cheap requests pass, the time budget
(RATE_LIMITED), and training as a job (submit, poll, result; invisible to another key).
Functional only: no timing assertions (the timing is bench/fair_share.py's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from graphql import parse
from starlette.testclient import TestClient

from cdp.security.api_keys import create_key
from cdp.limits.fair_share import HeavyLane, not_charged
from cdp.limits.request_limits import Busy, RateLimited
from cdp.settings import Settings
from graph.store import GraphStore
from schema import schema
from schema.limits import WHOLE_BASE, operation_work
from tests.conftest import api_client, gql, train_model

HEAVY = "{ customers(first: 20) { edges { node { id recommendations(first: 3) { offer } } } } }"
VIEW = """query View($id: ID!) { customer(id: $id) { name tier churnRisk { probability }
  recommendations(first: 5) { offer } accounts { id subscriptions { status product { name } } } } }"""


def work(query: str, operation: str | None = None) -> int:
    return operation_work(parse(query), schema._schema, operation, 100)


def codes(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [e["extensions"]["code"] for e in response.json().get("errors") or []]


def key_of(client: TestClient, store: GraphStore, role: str) -> tuple[str, dict[str, str]]:
    """A new key of ``role``: its principal id and the headers that send it."""
    info, secret = create_key(store, f"fair share {role}", role)
    return f"key:{info.id}", {"Authorization": f"Bearer {secret}"}


def post(client: TestClient, query: str, headers: dict[str, str], variables: dict | None = None):  # type: ignore[no-untyped-def]
    return client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


def test_work_estimates_what_is_heavy() -> None:
    assert work("{ __typename }") == 0
    assert work(VIEW) == 2  # one customer's offers and churn risk: cheap
    assert work(HEAVY) == 20  # offers for every customer of a page
    assert work("{ customers(first: 100) { edges { node { recommendations(first: 5) { offer } } } } }") == 100
    assert work("query($n: Int!) { customers(first: $n) { edges { node { churnRisk { probability } } } } }") == 100
    assert work("{ valueSegmentation { tiers { name } } }") == WHOLE_BASE
    assert work("{ segments(first: 10) { edges { node { size } } } }") == 10 * WHOLE_BASE  # each segment of the page
    # fragments count where they are spread; only the operation that runs counts
    fragment = "{ customers(first: 50) { edges { node { ...Offers } } } } fragment Offers on Customer { value { tier } }"
    assert work(fragment) == 50
    two = "query A { __typename } query B { valueSegmentation { tiers { name } } }"
    assert work(two, "A") == 0 and work(two, "B") == WHOLE_BASE
    assert work('mutation { trainModel(name: "churn") { id } }') == 0  # a job, not a heavy request


@pytest.fixture(scope="module")
def lane_client(demo_store: GraphStore) -> Iterator[TestClient]:
    """An app where a credential may run one heavy operation at once, budget off."""
    with api_client(Settings(rate_limit=0, heavy_per_credential=1, heavy_budget=0), demo_store) as c:
        yield c


def test_a_credential_over_its_heavy_limit_is_busy_and_others_are_not(lane_client: TestClient,
                                                                      demo_store: GraphStore) -> None:
    busy_id, busy = key_of(lane_client, demo_store, "app")
    _, other = key_of(lane_client, demo_store, "app")
    assert "errors" not in post(lane_client, HEAVY, busy).json()  # alone, a heavy query runs
    lane: HeavyLane = lane_client.app.state.lane
    # one heavy operation of this credential is under way (its place taken as the lane does)
    ticket = lane_client.portal.call(lane.admit, busy_id)
    try:
        r = post(lane_client, HEAVY, busy)
        assert r.status_code == 429 and codes(r) == ["BUSY"], r.text
        error = r.json()["errors"][0]
        assert int(r.headers["retry-after"]) >= 1
        assert error["extensions"]["retryAfter"] == int(r.headers["retry-after"])
        assert error["extensions"]["limit"] == 1 and error["extensions"]["value"] == 20
        assert r.json()["data"] is None
        # another credential's heavy query is not refused meanwhile
        r = post(lane_client, HEAVY, other)
        assert r.status_code == 200 and "errors" not in r.json(), r.text
        assert len(r.json()["data"]["customers"]["edges"]) == 20
        # and the busy credential's cheap requests still pass
        assert post(lane_client, "{ __typename }", busy).json() == {"data": {"__typename": "Query"}}
        view = post(lane_client, VIEW, busy, {"id": "C0000001"})
        assert view.status_code == 200 and view.json()["data"]["customer"]["name"], view.text
    finally:
        lane_client.portal.call(ticket.release)
    # its place back, the credential's heavy query runs again
    r = post(lane_client, HEAVY, busy)
    assert r.status_code == 200 and "errors" not in r.json(), r.text


def test_heavy_queries_answer_what_cheap_ones_do(lane_client: TestClient, demo_store: GraphStore) -> None:
    """A page of offers (heavy, batched, on a lane thread) equals each customer's own offers
    (cheap, on the event loop)."""
    _, headers = key_of(lane_client, demo_store, "app")
    page = post(lane_client, HEAVY, headers).json()["data"]["customers"]["edges"]
    for edge in page[:5]:
        one = post(lane_client, '{ customer(id: "%s") { recommendations(first: 3) { offer } } }' % edge["node"]["id"],
                   headers).json()
        assert one["data"]["customer"]["recommendations"] == edge["node"]["recommendations"]
    assert any(edge["node"]["recommendations"] for edge in page)


def test_a_spent_time_budget_is_rate_limited(demo_store: GraphStore) -> None:
    settings = Settings(rate_limit=0, heavy_budget=0.001, heavy_burst=0.001)
    with api_client(settings, demo_store) as c:
        _, spender = key_of(c, demo_store, "app")
        _, other = key_of(c, demo_store, "app")
        assert "errors" not in post(c, HEAVY, spender).json()  # let in; its run time overdraws the budget
        r = post(c, HEAVY, spender)
        assert r.status_code == 429 and codes(r) == ["RATE_LIMITED"], r.text
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["errors"][0]["extensions"]["retryAfter"] == int(r.headers["retry-after"])
        assert "errors" not in post(c, HEAVY, other).json()  # budgets are per credential
        assert post(c, "{ __typename }", spender).status_code == 200  # cheap requests are not charged


def test_lane_admission_rules() -> None:
    now = [0.0]
    lane = HeavyLane(per_credential=2, budget=1.0, burst=2.0, threads=1, clock=lambda: now[0])
    a1, a2 = lane.admit("a"), lane.admit("a")
    with pytest.raises(Busy) as busy:
        lane.admit("a")
    assert busy.value.retry_after == 1
    lane.admit("b").release()  # others are unaffected
    now[0] = 3.0
    a1.release()  # ran 3 s: the 2 s burst is overdrawn
    a2.release()  # and 3 s more
    assert lane.running("a") == 0
    with pytest.raises(RateLimited) as limited:
        lane.admit("a")
    assert limited.value.retry_after == 4  # 4 s of debt at 1 s per second
    a2.release()  # releasing twice changes nothing
    now[0] = 7.5
    lane.admit("a").release()


@pytest.fixture(scope="module")
def jobs_client(demo_store: GraphStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(rate_limit=0, model_dir=tmp_path_factory.mktemp("fair-share-models"))
    with api_client(settings, demo_store) as c:
        yield c


def test_training_runs_as_a_job_only_its_submitter_sees(jobs_client: TestClient, demo_store: GraphStore) -> None:
    _, analyst = key_of(jobs_client, demo_store, "analyst")
    _, other_analyst = key_of(jobs_client, demo_store, "analyst")
    submitted = post(jobs_client, 'mutation { trainModel(name: "churn") { id kind status progress models { name } } }',
                     analyst)
    assert submitted.status_code == 200 and "errors" not in submitted.json(), submitted.text
    job = submitted.json()["data"]["trainModel"]
    assert job["kind"] == "trainModel" and job["status"] in ("QUEUED", "RUNNING", "SUCCEEDED")
    query = "query($id: ID!) { job(id: $id) { id status progress submittedAt finishedAt error { code } models { name } } }"
    # another credential (same role) cannot read it, nor tell it from an unknown id
    assert post(jobs_client, query, other_analyst, {"id": job["id"]}).json() == {"data": {"job": None}}
    assert post(jobs_client, query, analyst, {"id": "job_unknown"}).json() == {"data": {"job": None}}
    done = train_model(jobs_client, "churn", headers=analyst)  # submits again and polls to the end
    assert done["status"] == "SUCCEEDED" and done["progress"] == 1.0 and done["error"] is None, done
    assert [m["name"] for m in done["models"]] == ["churn"]
    first = post(jobs_client, query, analyst, {"id": job["id"]}).json()["data"]["job"]
    assert first["id"] == job["id"] and first["status"] == "SUCCEEDED" and first["finishedAt"]
    assert first["models"] == [{"name": "churn"}]
    assert post(jobs_client, query, other_analyst, {"id": job["id"]}).json() == {"data": {"job": None}}
    # the trained model serves scores
    scored = gql(jobs_client, '{ models { name } }')["data"]["models"]
    assert {"name": "churn"} in scored


def test_a_failed_job_reports_its_error_code(jobs_client: TestClient, demo_store: GraphStore) -> None:
    """Refused before a job exists: an unknown model name; a role that may not train."""
    _, analyst = key_of(jobs_client, demo_store, "analyst")
    r = post(jobs_client, 'mutation { trainModel(name: "nonsense") { id } }', analyst)
    assert codes(r) == ["BAD_USER_INPUT"] and r.json()["errors"][0]["extensions"]["field"] == "name"
    _, app = key_of(jobs_client, demo_store, "app")
    assert codes(post(jobs_client, 'mutation { trainModel(name: "churn") { id } }', app)) == ["FORBIDDEN"]
    assert codes(post(jobs_client, '{ job(id: "job_x") { id } }', app)) == ["FORBIDDEN"]


def test_lane_settings_are_read_from_the_environment() -> None:
    from cdp.errors import ConfigurationError

    s = Settings.from_env({"CDP_HEAVY_WORK": "50", "CDP_HEAVY_PER_CREDENTIAL": "3", "CDP_HEAVY_BUDGET": "0",
                           "CDP_HEAVY_BURST": "2.5", "CDP_HEAVY_THREADS": "4"})
    assert (s.heavy_work, s.heavy_per_credential, s.heavy_budget, s.heavy_burst, s.heavy_threads) == (50, 3, 0.0, 2.5, 4)
    with pytest.raises(ConfigurationError, match="CDP_HEAVY_PER_CREDENTIAL"):
        Settings.from_env({"CDP_HEAVY_PER_CREDENTIAL": "0"})
    with pytest.raises(ConfigurationError, match="CDP_HEAVY_BURST"):
        Settings.from_env({"CDP_HEAVY_BURST": "0"})


def test_time_in_a_not_charged_block_is_not_charged_to_the_credential() -> None:
    """Work done for everyone (the projection's first build) is not charged to the heavy
    operation that happens to trigger it; the rest of its run time is."""
    import asyncio
    import contextlib

    now = [0.0]
    lane = HeavyLane(per_credential=1, budget=1.0, burst=2.0, threads=1, clock=lambda: now[0])

    async def operation(excused: bool) -> None:
        with not_charged() if excused else contextlib.nullcontext():
            now[0] += 10.0  # a 10 s build
        now[0] += 0.5  # the operation's own work

    async def run(excused: bool) -> None:
        ticket = lane.admit("a")
        try:
            await lane.run(lambda: operation(excused), ticket)
        finally:
            ticket.release()

    asyncio.run(run(True))
    lane.admit("a").release()  # charged 0.5 s of its 2 s burst: let in again
    asyncio.run(run(False))
    with pytest.raises(RateLimited) as limited:  # charged all 10.5 s
        lane.admit("a")
    assert limited.value.retry_after >= 8
    with not_charged():  # outside a lane thread it does nothing
        pass


def test_the_projection_builds_first_in_its_scope(store: GraphStore) -> None:
    """The first ``data()`` (and only it) runs in ``first_build_scope``; the app passes
    ``not_charged`` (cdp.analytics.analytics)."""
    import contextlib

    from cdp.analytics.analytics import Analytics
    from cdp.projection.tables import Projection

    entered: list[bool] = []

    @contextlib.contextmanager
    def scope() -> Iterator[None]:
        entered.append(True)
        yield

    projection = Projection(store, first_build_scope=scope)
    projection.data()
    projection.data()
    assert entered == [True] and projection.built
    assert Analytics(store, Settings()).projection.first_build_scope is not_charged
