"""Campaigns through the real HTTP endpoint on a real embedded store: planning,
audiences under the contact policy (every exclusion with a reason), the stable
control group, wave launches, contact-list downloads and responses."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from cdp.outreach import contact_policy
from cdp.demo import telecom as demo
from cdp.analytics.analytics import Analytics
from cdp.campaigns.campaigns import Campaigns, CampaignSpec, WavePlan, stable_uniform
from cdp.settings import Settings
from graph.store import GraphStore, node_op, relationship_op
from tests.conftest import BACKENDS, api_client, gql, make_store

CUSTOMERS = 1500
MOBILE = {"holds": {"category": "MOBILE_DATA"}}

CREATE = """mutation($input: CampaignInput!) { createCampaign(input: $input) {
  id name status controlShare waves { number channel delayDays launchedAt contactList { csv } } offerIds } }"""
AUDIENCE = """query($id: ID!, $wave: Int!) { campaign(id: $id) { audience(wave: $wave) {
  wave channel target eligible treatment control cost excluded { reason description count } offers { reason count } } } }"""
LAUNCH = """mutation($id: ID!) { launchCampaign(id: $id) {
  status launchedAt spent waves { number launchedAt contacted cost excluded { reason count } contactList { csv jsonl } } } }"""
WAVE = """mutation($id: ID!, $wave: Int!, $force: Boolean!) { launchWave(id: $id, wave: $wave, force: $force) {
  status waves { number contacted dueAt } } }"""
RESPOND = """mutation($id: ID!, $r: [CampaignResponseInput!]!) { recordCampaignResponses(id: $id, responses: $r) {
  recorded campaign { id } } }"""


@pytest.fixture(scope="module", params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphStore]:
    data = demo.generate(CUSTOMERS, seed=11)
    s = make_store(request.param, tmp_path_factory.mktemp("campaigns"))
    s.bulk_load(data.nodes, data.relationships)
    yield s
    s.close()


@pytest.fixture(scope="module")
def http(store: GraphStore) -> Iterator[TestClient]:
    with api_client(Settings(), store) as client:
        yield client


def _spec(name: str, **extra: object) -> dict:
    body = {"name": name, "offers": ["P-BB-500", "P-BB-100"], "targetDefinition": MOBILE,
            "waves": [{"channel": "SMS"}, {"channel": "OUTBOUND_CALL", "delayDays": 7}], "controlShare": 0.2}
    body.update(extra)
    return body


def _create(http: TestClient, name: str, **extra: object) -> dict:
    body = gql(http, CREATE, {"input": _spec(name, **extra)})
    assert "errors" not in body, body
    return body["data"]["createCampaign"]


def test_demo_history_is_listed_as_completed_campaigns(http: TestClient) -> None:
    body = gql(http, "{ campaigns(status: COMPLETED, first: 100) { edges { node { id status offerIds controlShare "
                     "waves { channel contacted } } } } }")
    found = [e["node"] for e in body["data"]["campaigns"]["edges"]]
    assert len(found) == len(demo.CAMPAIGNS)
    for c in found:
        assert c["status"] == "COMPLETED" and c["controlShare"] == 0.0 and len(c["offerIds"]) == 1
        assert [w["channel"] for w in c["waves"]] == ["SMS", "OUTBOUND_CALL"]
        assert c["waves"][0]["contacted"] > 0


def test_create_rejects_bad_plans_with_the_field(http: TestClient) -> None:
    cases = [
        # the full path in the arguments (docs/errors.md), rooted at the `input` argument
        # an id that names nothing is NOT_FOUND, on every operation (docs/errors.md)
        ({"offers": []}, "input.offers", "BAD_USER_INPUT"),
        ({"offers": ["P-BB-500", "P-NOPE"]}, "input.offers[1]", "NOT_FOUND"),
        ({"waves": []}, "input.waves", "BAD_USER_INPUT"),
        ({"waves": [{"channel": "PIGEON"}]}, "input.waves[0].channel", "NOT_FOUND"),
        ({"controlShare": 0.9}, "input.controlShare", "BAD_USER_INPUT"),
        ({"budget": -1.0}, "input.budget", "BAD_USER_INPUT"),
        ({"targetSegment": "SEG-NONE", "targetDefinition": None}, "input.targetSegment", "NOT_FOUND"),
        ({"targetSegment": None, "targetDefinition": None}, "input.targetSegment", "BAD_USER_INPUT"),
        ({"targetDefinition": {"attribute": {"key": "no_such_key", "op": "EQ", "value": "x"}}},
         "input.targetDefinition.attribute.key", "BAD_USER_INPUT"),
        ({"targetDefinition": {"holds": {"category": "NOPE"}}}, None, "BAD_USER_INPUT"),
    ]
    for extra, field, code in cases:
        body = gql(http, CREATE, {"input": _spec("Bad plan", **extra)})
        assert body.get("errors"), extra
        error = body["errors"][0]
        assert error["extensions"]["code"] == code, (extra, error)
        if field:
            assert error["extensions"].get("field") == field, (extra, error)
    names = [e["node"]["name"] for e in gql(http, "{ campaigns(first: 100) { edges { node { name } } } }")["data"]
             ["campaigns"]["edges"]]
    assert "Bad plan" not in names  # nothing half-written
    _create(http, "Unique name")
    dup = gql(http, CREATE, {"input": _spec("unique NAME")})
    assert dup["errors"][0]["extensions"]["code"] == "CONFLICT"


def test_audience_accounts_for_every_candidate(http: TestClient, store: GraphStore) -> None:
    created = _create(http, "Fibre for mobile customers")
    body = gql(http, AUDIENCE, {"id": created["id"], "wave": 1})
    assert "errors" not in body, body
    a = body["data"]["campaign"]["audience"]
    excluded = {e["reason"]: e["count"] for e in a["excluded"]}
    assert a["target"] == a["eligible"] + sum(excluded.values())
    assert a["eligible"] == a["treatment"] + a["control"]
    assert sum(o["count"] for o in a["offers"]) == a["eligible"]
    # The target is the segment: customers holding mobile data now.
    analytics = Analytics(store, Settings())
    members = analytics.segments.evaluate(MOBILE, authorise=None)
    assert a["target"] == members.size
    # Customers who hold fibre already cannot get it; those holding both offers get nothing.
    assert excluded.get("NO_ELIGIBLE_OFFER", 0) > 0
    assert all(e["description"] for e in a["excluded"])
    # Control share close to what was asked: a stable hash draws each customer like a coin, so
    # the share is binomial; 4 standard errors (the demo's consents make the audience ~400).
    assert abs(a["control"] / a["eligible"] - 0.2) < 4 * (0.2 * 0.8 / a["eligible"]) ** 0.5
    assert a["cost"] == pytest.approx(a["treatment"] * 0.05, abs=0.01)
    analytics.close()


def test_contact_policy_reasons_are_each_reported(backend: str, tmp_path: Path) -> None:
    """Build a tiny store (each backend) where each customer trips exactly one rule of the policy."""
    store = make_store(backend, tmp_path)
    now = datetime(2026, 11, 2, 12, 0)
    people = {
        "C-OK": {}, "C-INACTIVE": {"status": "CHURNED"}, "C-DNC": {}, "C-NOMKT": {}, "C-NOSMS": {},
        "C-NOPHONE": {"phone": None}, "C-COMPLAINT": {}, "C-CAP": {}, "C-QUIET": {},
    }
    store.write([
        node_op("Channel", [{"id": "SMS", "name": "SMS", "kind": "MESSAGING", "cost_per_contact": 0.05}]),
        node_op("Product", [{"id": "P-X", "name": "X", "category": "VALUE_ADDED", "monthly_price": 5.0,
                             "lifecycle": "ACTIVE"}]),
        node_op("Customer", [{"id": cid, "status": "ACTIVE", "tier": "CONSUMER", "phone": "+31600000000",
                              "joined_on": datetime(2020, 1, 1).date(), **extra} for cid, extra in people.items()]),
    ])
    attrs = [("C-DNC", "do_not_contact", "yes"), ("C-NOMKT", "consent_marketing", "no"),
             ("C-NOSMS", "consent_sms", "opt-out"), ("C-QUIET", "quiet_hours", "00-24")]
    store.write([
        node_op("AttributeValue", [{"id": i, "key": k, "value": v, "source": "CRM", "observed_at": now}
                                   for i, (_, k, v) in enumerate(attrs)]),
        relationship_op("HAS_ATTRIBUTE", [{"from": c, "to": i} for i, (c, _, _) in enumerate(attrs)]),
        node_op("Contact", [
            {"id": "K-COMPLAINT", "at": now - timedelta(days=3), "kind": "COMPLAINT", "direction": "INBOUND",
             "outcome": "RESOLVED"},
            {"id": "K-CAP", "at": now - timedelta(days=2), "kind": "CAMPAIGN_OFFER", "direction": "OUTBOUND",
             "outcome": "NO_RESPONSE"}]),
        relationship_op("HAD_CONTACT", [{"from": "C-COMPLAINT", "to": "K-COMPLAINT"}, {"from": "C-CAP", "to": "K-CAP"}]),
        relationship_op("VIA", [{"from": "K-COMPLAINT", "to": "SMS"}, {"from": "K-CAP", "to": "SMS"}]),
    ])
    analytics = Analytics(store, Settings())
    try:
        campaigns = analytics.campaigns
        campaign = campaigns.create(CampaignSpec(name="Policy", offers=("P-X",), waves=(WavePlan("SMS"),),
                                                 target_definition={"attribute": {"key": "tier", "op": "EQ",
                                                                                  "value": "CONSUMER"}},
                                                 control_share=0.0), now=now)
        audience = campaigns.audience(campaign.id, 1, now)
        assert list(audience.ids()) == ["C-OK"]
        assert audience.excluded == {"INACTIVE": 1, "DO_NOT_CONTACT": 1, "NO_CONSENT_PURPOSE": 1, "NO_CONSENT_CHANNEL": 1,
                                     "NO_ADDRESS": 1, "RECENT_COMPLAINT": 1, "FREQUENCY_CAP": 1,
                                     "QUIET_HOURS": 1}
        # The policy alone, on one row.
        data = analytics.data()
        result = contact_policy.evaluate(contact_policy.DEFAULT_POLICY, data, data.rows_of(["C-INACTIVE"]),
                                         "SMS", "MARKETING", now)
        assert result.counts() == {"INACTIVE": 1}
        # A stricter policy: explicit opt-in for SMS keeps everyone out who did not say yes.
        contact_policy.save(store, {"explicit_consent_channels": ["SMS"]}, now)
        strict = campaigns.audience(campaign.id, 1, now)
        assert strict.eligible == 0 and strict.excluded["NO_CONSENT_CHANNEL"] == 6  # all but the 3 caught earlier
        with pytest.raises(Exception) as bad:
            contact_policy.save(store, {"frequency_caps": [{"max_contacts": 1, "days": 0}]}, now)
        assert "frequency_caps[0].days" in str(bad.value)
        assert contact_policy.load(store).version == 1  # the bad one was not stored
    finally:
        analytics.close()
        store.close()


def test_send_time_respects_quiet_hours_and_channel_window() -> None:
    evening = datetime(2026, 11, 2, 22, 30)
    allowed = np.zeros(24, dtype=bool)
    allowed[10:19] = True
    us = contact_policy._next_allowed(int(np.datetime64(evening, "us").astype(np.int64)), allowed)
    assert datetime(1970, 1, 1) + timedelta(microseconds=us) == datetime(2026, 11, 3, 10, 0)


def test_control_group_is_stable_and_independent_per_campaign() -> None:
    ids = np.array([f"C{i:07d}" for i in range(20_000)], dtype=object)
    a1, a2, b = stable_uniform("CMP-A", ids), stable_uniform("CMP-A", ids), stable_uniform("CMP-B", ids)
    assert np.array_equal(a1, a2)
    assert abs((a1 < 0.1).mean() - 0.1) < 0.01
    assert abs(np.corrcoef(a1, b)[0, 1]) < 0.03  # another campaign draws another holdout


def test_launch_waves_exports_and_responses(http: TestClient, store: GraphStore) -> None:
    # A budget that pays for wave 1 (SMS, 0.05 each) and for a quarter of its treated as calls
    # (3.50 each) in wave 2: fewer calls than wave 2 has customers for, whatever the demo's consents.
    probe = _create(http, "Budget probe")
    treated_first = gql(http, AUDIENCE, {"id": probe["id"], "wave": 1})["data"]["campaign"]["audience"]["treatment"]
    assert "errors" not in gql(http, 'mutation($id: ID!) { deleteCampaign(id: $id) }', {"id": probe["id"]})
    budget = round(treated_first * 0.05 + 3.5 * (treated_first // 4) + 1.0, 2)
    created = _create(http, "Launch me", budget=budget)
    campaign_id = created["id"]
    before = gql(http, AUDIENCE, {"id": campaign_id, "wave": 1})["data"]["campaign"]["audience"]
    body = gql(http, LAUNCH, {"id": campaign_id})
    assert "errors" not in body, body
    launched = body["data"]["launchCampaign"]
    wave1 = launched["waves"][0]
    assert launched["status"] == "RUNNING" and wave1["contacted"] == before["treatment"]
    assert wave1["cost"] == pytest.approx(before["treatment"] * 0.05, abs=0.01)
    # Contacts and the audience were written: one contact per treated customer, none for control.
    members = Campaigns(store, None).members(campaign_id)
    assert (members["cohort"] == "CONTROL").sum() == before["control"]
    contacts = store.campaign_contacts(campaign_id, 1)
    assert contacts.num_rows == before["treatment"]
    treated = set(members.loc[members["cohort"] == "TREATMENT", "customer"])
    assert set(contacts.column("customer").to_pylist()) == treated
    # Launching again is refused; so is wave 2 before it is due.
    again = gql(http, LAUNCH, {"id": campaign_id})
    assert again["errors"][0]["extensions"]["code"] == "CONFLICT"
    early = gql(http, WAVE, {"id": campaign_id, "wave": 2, "force": False})
    assert early["errors"][0]["extensions"]["code"] == "CONFLICT" and "due" in early["errors"][0]["message"]
    # Contact lists download as CSV and JSON Lines with the same rows.
    csv_resp = http.get(wave1["contactList"]["csv"])
    assert csv_resp.status_code == 200 and csv_resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_resp.text)))
    assert len(rows) == before["treatment"] == int(csv_resp.headers["x-contact-count"])
    assert {r["customer_id"] for r in rows} == treated
    assert all(r["phone"] and r["offer_id"] in ("P-BB-500", "P-BB-100") for r in rows)
    jsonl = [json.loads(line) for line in http.get(wave1["contactList"]["jsonl"]).text.splitlines()]
    assert [j["contact_id"] for j in jsonl] == [r["contact_id"] for r in rows]
    # Refused downloads answer GraphQL-shaped JSON with extensions.code, like every refusal (docs/errors.md).
    for path, status, code, field in [
            (f"/campaigns/{campaign_id}/waves/2/contacts.csv", 409, "CONFLICT", "wave"),
            ("/campaigns/NOPE/waves/1/contacts.csv", 404, "NOT_FOUND", None),
            (f"/campaigns/{campaign_id}/waves/9/contacts.csv", 404, "NOT_FOUND", "wave"),
            (f"/campaigns/{campaign_id}/waves/1/contacts.xml", 400, "BAD_USER_INPUT", "format")]:
        refused = http.get(path)
        assert (refused.status_code, refused.headers["content-type"]) == (status, "application/json"), path
        body = refused.json()
        assert body["data"] is None and len(body["errors"]) == 1 and body["errors"][0]["message"], body
        assert body["errors"][0]["extensions"]["code"] == code, (path, body)
        assert field is None or body["errors"][0]["extensions"]["field"] == field, (path, body)
    # Responses: all or nothing.
    some = sorted(treated)[:3]
    control = sorted(set(members["customer"]) - treated)[:1]
    bad = gql(http, RESPOND, {"id": campaign_id, "r": [
        {"customerId": some[0], "response": "CONVERTED", "revenue": 100.0},
        {"customerId": "C-NOT-IN", "response": "OPENED"}]})
    assert bad["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "responses[1].customerId"}
    assert bad["errors"][0]["message"].startswith("responses[1]: ")
    assert Campaigns(store, None).members(campaign_id)["converted_at"].notna().sum() == 0
    good = gql(http, RESPOND, {"id": campaign_id, "r": [
        {"customerId": some[0], "response": "CONVERTED", "revenue": 100.0},
        {"customerId": some[1], "response": "DECLINED"},
        {"customerId": some[2], "response": "OPENED"},
        {"customerId": control[0], "response": "CONVERTED", "revenue": 50.0}]})
    assert "errors" not in good, good
    assert good["data"]["recordCampaignResponses"]["recorded"] == 4
    members = Campaigns(store, None).members(campaign_id).set_index("customer")
    assert members.loc[some[0], "revenue"] == 100.0 and members.loc[some[0], "response_wave"] == 1
    assert not np.isnan(members.loc[some[1], "declined_at"].timestamp())
    outcomes = {r["customer"]: r["outcome"] for r in store.campaign_contacts(campaign_id, 1).to_pylist()}
    assert outcomes[some[0]] == "ACCEPTED" and outcomes[some[1]] == "DECLINED" and outcomes[some[2]] == "NO_RESPONSE"
    # Wave 2 (forced early): only the treated who have not responded, through the policy.
    body = gql(http, WAVE, {"id": campaign_id, "wave": 2, "force": True})
    assert "errors" not in body, body
    wave2 = body["data"]["launchWave"]["waves"][1]
    contacted2 = set(store.campaign_contacts(campaign_id, 2).column("customer").to_pylist())
    assert len(contacted2) == wave2["contacted"]
    assert contacted2 <= treated - {some[0], some[1]}
    # The budget pays for the calls it can (3.50 each) and no more; the rest are left out with a reason.
    state = Campaigns(store, None).get(campaign_id)
    assert state is not None and state.waves[1].excluded
    assert state.waves[1].excluded["ALREADY_RESPONDED"] == 2 and state.waves[1].excluded["BUDGET"] > 0
    assert state.spent <= budget and budget - state.spent < 3.5 + 0.05


def test_running_campaigns_do_not_share_customers(http: TestClient, store: GraphStore) -> None:
    first = _create(http, "First running", targetDefinition={"holds": {"category": "BROADBAND"}},
                    offers=["P-VAS-SEC"])
    assert "errors" not in gql(http, LAUNCH, {"id": first["id"]})
    second = _create(http, "Second", targetDefinition={"holds": {"category": "BROADBAND"}}, offers=["P-VAS-CLOUD"])
    a = gql(http, AUDIENCE, {"id": second["id"], "wave": 1})["data"]["campaign"]["audience"]
    excluded = {e["reason"]: e["count"] for e in a["excluded"]}
    service = Campaigns(store, None)
    running = set().union(*(set(service.members(c.id)["customer"]) for c in service.list("RUNNING")))
    assert excluded.get("RUNNING_CAMPAIGN", 0) > 0
    assert excluded["RUNNING_CAMPAIGN"] <= len(running)
    done = gql(http, 'mutation($id: ID!) { completeCampaign(id: $id) { status } }', {"id": first["id"]})
    assert done["data"]["completeCampaign"]["status"] == "COMPLETED"
    for other in service.list("RUNNING"):
        gql(http, 'mutation($id: ID!) { cancelCampaign(id: $id) { status } }', {"id": other.id})
    after = gql(http, AUDIENCE, {"id": second["id"], "wave": 1})["data"]["campaign"]["audience"]
    assert "RUNNING_CAMPAIGN" not in {e["reason"] for e in after["excluded"]}
    assert after["eligible"] > a["eligible"]


def test_contact_policy_over_graphql(http: TestClient) -> None:
    body = gql(http, "{ contactPolicy { version definition reasons { reason description } } }")
    policy = body["data"]["contactPolicy"]
    assert policy["reasons"][0]["reason"] == "ALREADY_RESPONDED"
    assert {"FREQUENCY_CAP", "QUIET_HOURS", "BUDGET"} <= {r["reason"] for r in policy["reasons"]}
    bad = gql(http, "mutation($p: JSON!) { setContactPolicy(policy: $p) { version } }",
              {"p": {"quiet_hours": "late"}})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    good = gql(http, "mutation($p: JSON!) { setContactPolicy(policy: $p) { version definition } }",
               {"p": {"complaint_suppression_days": 14}})
    assert good["data"]["setContactPolicy"]["definition"]["complaint_suppression_days"] == 14
    assert good["data"]["setContactPolicy"]["version"] == policy["version"] + 1


REPORT = """query($id: ID!) { campaign(id: $id) { report {
  total { contacted contacts cost converted revenue conversionRate costPerSale roi }
  waves { key wave channel contacted } channels { key channel contacted }
  lift { treatment control absolute interval { low high } significant } liftNote spent lateConversions } } }"""


def test_report_over_graphql(http: TestClient, store: GraphStore) -> None:
    found = [e["node"] for e in gql(http, "{ campaigns(status: COMPLETED, first: 100) { edges { node { id controlShare } } } }")
             ["data"]["campaigns"]["edges"]]
    history = next(c["id"] for c in found if c["controlShare"] == 0.0)  # the demo's past campaigns
    past = gql(http, REPORT, {"id": history})
    assert "errors" not in past, past
    report = past["data"]["campaign"]["report"]
    assert report["lift"] is None and "control" in report["liftNote"]
    assert [w["channel"] for w in report["waves"]] == ["SMS", "OUTBOUND_CALL"]
    contacts = store.campaign_contacts(history)
    assert report["total"]["contacts"] == contacts.num_rows
    assert report["total"]["cost"] == pytest.approx(sum(contacts.column("cost").to_pylist()), abs=0.01)

    created = _create(http, "Reported")
    assert "errors" not in gql(http, LAUNCH, {"id": created["id"]})
    members = Campaigns(store, None).members(created["id"])
    treated = sorted(members.loc[members["cohort"] == "TREATMENT", "customer"])
    control = sorted(members.loc[members["cohort"] == "CONTROL", "customer"])
    responses = [{"customerId": c, "response": "CONVERTED", "revenue": 120.0} for c in treated[:30]]
    responses += [{"customerId": c, "response": "CONVERTED", "revenue": 120.0} for c in control[:2]]
    assert "errors" not in gql(http, RESPOND, {"id": created["id"], "r": responses})
    body = gql(http, REPORT, {"id": created["id"]})
    assert "errors" not in body, body
    report = body["data"]["campaign"]["report"]
    total, lift = report["total"], report["lift"]
    assert total["contacted"] == len(treated) and total["converted"] == 30
    assert total["revenue"] == pytest.approx(3600.0)
    assert total["conversionRate"] == pytest.approx(30 / len(treated))
    assert total["costPerSale"] == pytest.approx(total["cost"] / 30)
    assert lift["treatment"] == len(treated) and lift["control"] == len(control)
    assert lift["absolute"] == pytest.approx(30 / len(treated) - 2 / len(control))
    assert lift["interval"]["low"] < lift["absolute"] < lift["interval"]["high"]


def test_expected_value_offer_choice_follows_the_recommendation_engine(store: GraphStore) -> None:
    analytics = Analytics(store, Settings())
    try:
        service = analytics.campaigns
        offers = ("P-VAS-CLOUD", "P-VAS-SEC", "P-VAS-MUSIC")
        campaign = service.create(CampaignSpec(name="Best add-on", offers=offers, waves=(WavePlan("EMAIL"),),
                                               target_definition=MOBILE, offer_choice="EXPECTED_VALUE",
                                               control_share=0.0))
        audience = service.audience(campaign.id)
        values = analytics.recommendations.expected_values(audience.rows, list(offers), audience.at, audience.data)
        expected = np.asarray(offers, dtype=object)[values.argmax(axis=1)]
        assert audience.eligible > 0 and np.array_equal(audience.offer, expected)
        assert len(set(audience.offer)) > 1  # not everyone gets the same add-on
        ranked = service.create(CampaignSpec(name="First add-on", offers=offers, waves=(WavePlan("EMAIL"),),
                                             target_definition=MOBILE, control_share=0.0))
        by_rank = service.audience(ranked.id)
        assert set(by_rank.offer) <= set(offers) and (by_rank.offer == offers[0]).mean() > 0.5
        with pytest.raises(Exception, match="offerChoice"):
            service.create(CampaignSpec(name="Bad", offers=offers, waves=(WavePlan("EMAIL"),),
                                        target_definition=MOBILE, offer_choice="RANDOM"))
    finally:
        analytics.close()
