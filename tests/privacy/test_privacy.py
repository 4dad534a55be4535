"""Privacy through the real HTTP app on a real embedded store (docs/privacy.md): consent
statuses, expiry and revocation as campaign audiences and recommendations see them, the
export of everything held about a person, erasure (store, projection, export, view;
aggregates unchanged; idempotent; audited) and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cdp.customers.provenance import value_id
from cdp.privacy import consent
from cdp.demo import telecom as demo
from cdp.security.api_keys import create_key
from cdp.security.audit import AuditLog
from cdp.settings import Settings
from graph.errors import InvalidInput
from graph.store import GraphStore, delete_op, node_op, relationship_op, unlink_op
from tests.conftest import BACKENDS, CliStore, api_client, gql, make_store, train_model

CUSTOMERS = 800
ROOT = Path(__file__).resolve().parents[2]
OFFERS = ["P-BB-500", "P-BB-100", "P-VAS-ROAM", "P-VAS-CLOUD", "P-VAS-SEC"]

RECORD = """mutation($c: ID!, $status: ConsentStatus!, $purpose: ConsentPurpose, $channel: ID, $expires: DateTime,
  $source: String) { recordConsent(customerId: $c, status: $status, purpose: $purpose, channel: $channel,
  expiresAt: $expires, source: $source) { purpose channel status recordedAt expiresAt source customerMaintained } }"""
AUDIENCE = """query($id: ID!) { campaign(id: $id) { audience(wave: 1) { eligible excluded { reason count } } } }"""
RECS = """query($id: ID!) { customer(id: $id) { recommendations(first: 5) { offer channel }
  nextBestChannels(first: 8) { channel } } }"""
ERASE = """mutation($c: ID!) { eraseCustomer(customerId: $c) { customerId customers attributeValuesRemoved
  contactSubjectsRemoved eventDescriptionsRemoved apiKeysRevoked alreadyErased
  customer { id status name firstName lastName email phone birthDate nationalId address { street postalCode city } } } }"""
EXPORT = "query($c: ID!) { exportCustomerData(customerId: $c) }"


@pytest.fixture(scope="module", params=BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The one place the app is built: a demo store, the real app with an admin key, its settings.

    Yields ``{"http", "store", "settings", "analytics", "campaign", "pool", "fresh"}``: ``pool``
    lists customers eligible for wave 1 of ``campaign`` (MARKETING, SMS, no control group)
    before any test changed anything; ``fresh`` those of them of whom the demo data records no
    consent statement (it records some for most customers, ``cdp.demo.telecom``), for the tests that
    read back exactly the statements they made. Each test takes its own slice of them.
    """
    folder = tmp_path_factory.mktemp("privacy")
    store = make_store(request.param, folder)
    data = demo.generate(CUSTOMERS, seed=21)
    store.bulk_load(data.nodes, data.relationships)
    settings = Settings(db_path=folder / "store.lbdb", audit_log=folder / "audit.jsonl", model_dir=folder / "models",
                        api_key_cache_seconds=0, rate_limit=0)
    with api_client(settings, store) as http:
        body = gql(http, """mutation($input: CampaignInput!) { createCampaign(input: $input) { id } }""", {"input": {
            "name": "Privacy", "purpose": "MARKETING", "offers": OFFERS, "controlShare": 0.0,
            "targetDefinition": {"attribute": {"key": "status", "op": "EQ", "value": "ACTIVE"}},
            "waves": [{"channel": "SMS"}]}})
        assert "errors" not in body, body
        campaign = body["data"]["createCampaign"]["id"]
        analytics = http.app.state.analytics
        pool = sorted(analytics.campaigns.audience(campaign, 1).ids())
        fresh = sorted(set(pool) - _consenting(data))
        assert len(pool) > 100 and len(fresh) >= 20
        yield {"http": http, "store": store, "settings": settings, "analytics": analytics, "campaign": campaign,
               "pool": pool, "fresh": fresh}
    store.close()


def _consenting(data: demo.DemoData) -> set[str]:
    """Customers of whom ``data`` records a consent statement."""
    values = data.nodes["AttributeValue"].to_pandas()
    ids = set(values["id"][values["key"].str.startswith(consent.KEY_PREFIX)])
    links = data.relationships["HAS_ATTRIBUTE"].to_pandas()
    return set(links["from"][links["to"].isin(ids)])


def _record(http, customer: str, status: str, purpose: str | None = None, channel: str | None = None,  # type: ignore[no-untyped-def]
            expires: str | None = None, headers: dict | None = None, source: str | None = None) -> dict:
    variables = {"c": customer, "status": status, "purpose": purpose, "channel": channel, "expires": expires,
                 "source": source}
    response = http.post("/graphql", json={"query": RECORD, "variables": variables}, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


def _key(store: GraphStore, role: str, **options: object) -> dict:
    _, key = create_key(store, f"test {role}", role, **options)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {key}"}


def _codes(body: dict) -> list[tuple[str, str | None]]:
    return [(e["extensions"]["code"], e["extensions"].get("field")) for e in body.get("errors") or []]


def _excluded(body: dict) -> dict[str, int]:
    return {e["reason"]: e["count"] for e in body["data"]["campaign"]["audience"]["excluded"]}


def _expired_statement(store: GraphStore, customer: str, key: str, value: str) -> None:
    """A statement another source recorded yesterday that expired an hour ago (recordConsent refuses
    a past expiry, so it is written as an import would)."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    vid = value_id(f"CRM:{customer}", key, now - timedelta(days=1))
    store.write([node_op("AttributeValue", [{"id": vid, "key": key, "value": value, "source": "CRM",
                                             "identity_id": f"CRM:{customer}", "observed_at": now - timedelta(days=1),
                                             "accuracy": 0.8, "expires_at": now - timedelta(hours=1)}]),
                 relationship_op("HAS_ATTRIBUTE", [{"from": customer, "to": vid}])])


def _train_churn(http) -> None:  # type: ignore[no-untyped-def]
    """Train the churn model once per module (seconds), for the tests that need scores."""
    if not any(m["name"] == "churn" for m in gql(http, "{ models { name } }")["data"]["models"]):
        assert train_model(http, "churn")["status"] == "SUCCEEDED"


def _audit(settings: Settings, action: str, customer: str) -> list:
    return AuditLog(settings.audit_log_path).read(action=action, customer_id=customer)


# --------------------------------------------------------------------------- consent


def test_record_consent_validates_its_arguments(env: dict) -> None:
    http, customer = env["http"], env["fresh"][0]
    future = (datetime.now(timezone.utc) + timedelta(days=30)).isoformat()
    past = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat()
    assert _codes(_record(http, customer, "GRANTED")) == [("BAD_USER_INPUT", "purpose")]
    assert _codes(_record(http, customer, "GRANTED", "MARKETING", "PIGEON")) == [("NOT_FOUND", "channel")]
    assert _codes(_record(http, customer, "GRANTED", "MARKETING", expires=past)) == [("BAD_USER_INPUT", "expiresAt")]
    body = http.post("/graphql", json={"query": RECORD, "variables": {
        "c": customer, "status": "GRANTED", "purpose": "MARKETING", "source": "not a source!"}}).json()
    assert _codes(body) == [("BAD_USER_INPUT", "source")]
    assert _codes(_record(http, "C-NOBODY", "GRANTED", "MARKETING")) == [("NOT_FOUND", "customerId")]
    assert _codes(_record(http, customer, "MAYBE", "MARKETING"))[0][0] == "BAD_USER_INPUT"  # not an enum value
    # a DATA_SHARING grant recorded for the customer names where they gave it (docs/privacy.md)
    assert _codes(_record(http, customer, "GRANTED", "DATA_SHARING")) == [("BAD_USER_INPUT", "source")]
    # Nothing was recorded by the refused calls; a good one returns the effective consents.
    body = _record(http, customer, "GRANTED", "DATA_SHARING", expires=future, source="web_form")
    consents = body["data"]["recordConsent"]
    assert [(c["purpose"], c["channel"], c["status"], c["source"]) for c in consents] == [
        ("DATA_SHARING", None, "GRANTED", "WEB_FORM")]
    assert consents[0]["expiresAt"].startswith(future[:16]) and consents[0]["customerMaintained"] is False


def test_consents_history_revocation_and_expiry_through_the_api(env: dict) -> None:
    http, store = env["http"], env["store"]
    customer = env["fresh"][1]
    _record(http, customer, "GRANTED", "MARKETING")
    _record(http, customer, "DENIED", "MARKETING", "SMS")
    _record(http, customer, "REVOKED", "MARKETING")
    _expired_statement(store, customer, "consent_email", "no")
    body = gql(http, """query($id: ID!) { customer(id: $id) { consents { purpose channel status }
        consentHistory { purpose channel status expiresAt }
        marketing: consentHistory(purpose: MARKETING) { status }
        sms: consentHistory(channel: "SMS") { status }
        attributeHistory(key: "consent_email") { value expiresAt } } }""", {"id": customer})
    view = body["data"]["customer"]
    # The effective statements: the revocation supersedes the grant; the expired refusal is absent.
    assert view["consents"] == [{"purpose": "MARKETING", "channel": None, "status": "REVOKED"},
                                {"purpose": "MARKETING", "channel": "SMS", "status": "DENIED"}]
    assert [(c["purpose"], c["channel"], c["status"]) for c in view["consentHistory"]] == [
        ("MARKETING", None, "REVOKED"), ("MARKETING", "SMS", "DENIED"), ("MARKETING", None, "GRANTED"),
        (None, "EMAIL", "DENIED")]
    assert [c["status"] for c in view["marketing"]] == ["REVOKED", "DENIED", "GRANTED"]
    assert [c["status"] for c in view["sms"]] == ["DENIED"]
    assert view["attributeHistory"][0]["value"] == "no" and view["attributeHistory"][0]["expiresAt"] is not None


def test_a_customer_records_their_own_consent_as_customer_maintained(env: dict) -> None:
    http, store = env["http"], env["store"]
    me, other = env["fresh"][2], env["fresh"][3]
    mine = _key(store, "customer", customer_id=me)
    body = _record(http, me, "DENIED", "PROFILING", headers=mine)
    assert body["data"]["recordConsent"] == [{"purpose": "PROFILING", "channel": None, "status": "DENIED",
                                              "recordedAt": body["data"]["recordConsent"][0]["recordedAt"],
                                              "expiresAt": None, "source": "CUSTOMER", "customerMaintained": True}]
    assert _codes(_record(http, other, "DENIED", "PROFILING", headers=mine))[0][0] == "FORBIDDEN"
    _record(http, me, "GRANTED", "PROFILING")  # leave the pool as it was for the other tests


def test_consent_statuses_and_expiry_change_campaign_audiences(env: dict) -> None:
    http, store, analytics, campaign = env["http"], env["store"], env["analytics"], env["campaign"]
    a, b, c, d, e, f, g = env["fresh"][10:17]
    before = gql(http, AUDIENCE, {"id": campaign})["data"]["campaign"]["audience"]
    future = (datetime.now(timezone.utc) + timedelta(days=30)).isoformat()
    _record(http, a, "DENIED", "MARKETING")  # refused purpose
    _record(http, b, "GRANTED", "MARKETING")
    _record(http, b, "REVOKED", "MARKETING")  # a grant taken back
    _expired_statement(store, c, "consent_sms", "no")  # an expired refusal counts as nothing
    _record(http, d, "DENIED", channel="SMS")  # the channel, for every purpose
    _record(http, e, "DENIED", "MARKETING", "SMS", expires=future)  # not expired yet
    _record(http, f, "GRANTED", "MARKETING")
    _record(http, g, "GRANTED", "MARKETING", "SMS")
    after = gql(http, AUDIENCE, {"id": campaign})["data"]["campaign"]["audience"]
    assert after["eligible"] == before["eligible"] - 4
    grew = {r: n - _excluded({"data": {"campaign": {"audience": before}}}).get(r, 0) for r, n in
            _excluded({"data": {"campaign": {"audience": after}}}).items()}
    assert {r: n for r, n in grew.items() if n} == {"NO_CONSENT_PURPOSE": 2, "NO_CONSENT_CHANNEL": 2}
    eligible = set(analytics.campaigns.audience(campaign, 1).ids())
    assert {a, b, d, e}.isdisjoint(eligible) and {c, f, g} <= eligible
    # The per-customer definition and the vectorised one agree, customer by customer.
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    data = analytics.data()
    table = consent.ConsentTable(data, now)
    values = store.attribute_values_of_customers([a, b, c, d, e, f, g])
    for customer in (a, b, c, d, e, f, g):
        row = data.row_of(customer)
        for explicit in ((), ("MARKETING",)):
            one = consent.refusal(values.get(customer, []), "MARKETING", "SMS", now, explicit)
            whole = ("NO_CONSENT_PURPOSE" if table.purpose_refused("MARKETING", "SMS", explicit)[row] else
                     "NO_CONSENT_CHANNEL" if table.channel_refused("SMS", "MARKETING")[row] else None)
            assert one == whole, (customer, explicit)
    # Explicit consent for MARKETING: only a yes (for the purpose, or for it through SMS) lets one in.
    policy = "mutation($p: JSON!) { setContactPolicy(policy: $p) { version } }"
    assert "errors" not in gql(http, policy, {"p": {"explicit_consent_purposes": ["MARKETING"]}})
    try:
        strict = set(analytics.campaigns.audience(campaign, 1).ids())
        assert {f, g} <= strict and not {a, b, c, d, e} & strict
        # The others let in said yes themselves (the demo records grants): each one's own
        # statements, read one customer at a time, allow MARKETING through SMS under the policy.
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        others = sorted(strict - {f, g})
        values = store.attribute_values_of_customers(others)
        assert all(consent.refusal(values.get(o, []), "MARKETING", "SMS", now, ("MARKETING",)) is None
                   for o in others)
        rest = [o for o in env["pool"] if o not in {a, b, c, d, e, f, g}]
        said = store.attribute_values_of_customers(rest)
        assert strict - {f, g} == {o for o in rest
                                   if consent.refusal(said.get(o, []), "MARKETING", "SMS", now, ("MARKETING",)) is None}
    finally:
        gql(http, policy, {"p": {}})


def test_recommendations_respect_marketing_channel_and_profiling_consent(env: dict) -> None:
    http = env["http"]
    with_offers = []
    for customer in env["pool"][20:60]:
        recs = gql(http, RECS, {"id": customer})["data"]["customer"]
        if len(recs["recommendations"]) >= 2 and len(recs["nextBestChannels"]) >= 3:
            with_offers.append(customer)
    assert len(with_offers) >= 3
    channels, marketing, profiling = with_offers[:3]
    # Channels without consent for marketing are never proposed.
    _record(http, channels, "DENIED", "MARKETING", "SMS")
    _record(http, channels, "REVOKED", channel="EMAIL")
    view = gql(http, RECS, {"id": channels})["data"]["customer"]
    assert view["recommendations"] and view["nextBestChannels"]
    assert {"SMS", "EMAIL"}.isdisjoint({c["channel"] for c in view["nextBestChannels"]})
    assert {"SMS", "EMAIL"}.isdisjoint({r["channel"] for r in view["recommendations"]})
    # Marketing refused: no offers at all, and no channel for marketing; granted again: back.
    _record(http, marketing, "DENIED", "MARKETING")
    assert gql(http, RECS, {"id": marketing})["data"]["customer"] == {"recommendations": [], "nextBestChannels": []}
    _record(http, marketing, "GRANTED", "MARKETING")
    assert gql(http, RECS, {"id": marketing})["data"]["customer"]["recommendations"]
    # Profiling refused: no offers (they are ranked from the customer's data), here or per segment.
    email = env["store"].customers([profiling])[profiling]["email"]
    segment = """query($d: JSON!) { segmentRecommendations(definition: $d) { members { customerId
        recommendations { offer } } } }"""
    definition = {"attribute": {"key": "email", "op": "EQ", "value": email}}
    members = gql(http, segment, {"d": definition})["data"]["segmentRecommendations"]["members"]
    assert [m["customerId"] for m in members] == [profiling] and members[0]["recommendations"]
    _record(http, profiling, "DENIED", "PROFILING")
    assert gql(http, RECS, {"id": profiling})["data"]["customer"]["recommendations"] == []
    members = gql(http, segment, {"d": definition})["data"]["segmentRecommendations"]["members"]
    assert members == [{"customerId": profiling, "recommendations": []}]


def test_profiling_refused_means_no_scores(env: dict) -> None:
    http, store = env["http"], env["store"]
    _train_churn(http)
    scored = [c for c in env["pool"][60:80]
              if gql(http, "query($id: ID!) { customer(id: $id) { churnRisk { probability } } }",
                     {"id": c})["data"]["customer"]["churnRisk"]]
    customer = scored[0]
    _record(http, customer, "DENIED", "PROFILING")
    view = gql(http, "query($id: ID!) { customer(id: $id) { churnRisk { probability } } }", {"id": customer})
    assert view["data"]["customer"]["churnRisk"] is None
    # Nor do score conditions of segments (and so of campaign targets) see the customer.
    email = store.customers([customer])[customer]["email"]
    preview = """query($d: SegmentDefinitionInput!) { previewSegment(definition: $d) { size } }"""
    score = {"all": [{"attribute": {"key": "email", "op": "EQ", "value": email}},
                     {"score": {"name": "churn_risk", "op": "GTE", "value": 0}}]}
    assert gql(http, preview, {"d": score})["data"]["previewSegment"]["size"] == 0
    _record(http, customer, "GRANTED", "PROFILING")
    assert gql(http, preview, {"d": score})["data"]["previewSegment"]["size"] == 1


# --------------------------------------------------------------------------- export


def _a_customer_with_history(env: dict, skip: set[str]) -> str:
    """A pool customer who is in a demo campaign's audience, with a complaint and profile values."""
    store = env["store"]
    targeted = {r["to"] for r in store.export_relationships("TARGETED").to_pylist()}
    for customer in env["pool"][100:]:
        if customer in skip or customer not in targeted:
            continue
        contacts = store.contacts_of_customers([customer]).get(customer, [])
        if any(k["kind"] == "COMPLAINT" and k.get("subject") for k in contacts) and \
                store.attribute_values_of_customers([customer]).get(customer):
            return customer
    raise AssertionError("no demo customer with a campaign, a complaint and profile values")


def test_export_holds_everything_and_is_audited(env: dict) -> None:
    http, store, settings = env["http"], env["store"], env["settings"]
    customer = _a_customer_with_history(env, set())
    row = store.customers([customer])[customer]
    _record(http, customer, "GRANTED", "DATA_SHARING", source="CALL_CENTRE")
    created = gql(http, """mutation($d: SegmentDefinitionInput!) { createSegment(name: "Just one", definition: $d) {
        id } }""",
                  {"d": {"attribute": {"key": "email", "op": "EQ", "value": row["email"]}}})
    segment = created["data"]["createSegment"]["id"]
    _train_churn(http)
    body = gql(http, EXPORT, {"c": customer})
    assert "errors" not in body, body
    doc = body["data"]["exportCustomerData"]
    view = gql(http, """query($id: ID!) { customer(id: $id) { email nationalId accounts { id subscriptions { id } }
        contacts(first: 1) { totalCount } complaints: contacts(first: 1, kind: COMPLAINT) { totalCount }
        identities { id } monetaryHistory(first: 500) { totalCount edges { node { at } } } preferredChannels { rank } } }""",
               {"id": customer})["data"]["customer"]
    assert doc["customer_id"] == customer and doc["customer"]["email"] == view["email"] == row["email"]
    assert doc["customer"]["national_id"] == row["national_id"] and doc["customer"]["birth_date"] == (
        row["birth_date"].isoformat() if row["birth_date"] else None)
    values = store.attribute_values_of_customers([customer])[customer]
    assert sorted(v["id"] for v in doc["attribute_values"]) == sorted(v["id"] for v in values)
    assert all({"source", "observed_at", "accuracy", "customer_maintained", "verified", "expires_at"} <= set(v)
               for v in doc["attribute_values"])
    effective = gql(http, "query($id: ID!) { customer(id: $id) { consents { purpose channel status } } }",
                    {"id": customer})["data"]["customer"]["consents"]
    assert ("DATA_SHARING", None, "GRANTED") in [(c["purpose"], c["channel"], c["status"]) for c in effective]
    assert [(c["purpose"], c.get("channel"), c["status"]) for c in doc["consents"]] == [
        (c["purpose"], c["channel"], c["status"]) for c in effective]
    assert [i["id"] for i in doc["identities"]] == [i["id"] for i in view["identities"]]
    assert [a["id"] for a in doc["accounts"]] == [a["id"] for a in view["accounts"]]
    assert sorted(s["id"] for a in doc["accounts"] for s in a["subscriptions"]) == sorted(
        s["id"] for a in view["accounts"] for s in a["subscriptions"])
    assert sum(len(a["monetary_events"]) for a in doc["accounts"]) == view["monetaryHistory"]["totalCount"]
    assert len(doc["contacts"]) == view["contacts"]["totalCount"]
    assert len(doc["complaints"]) == view["complaints"]["totalCount"] > 0
    assert len(doc["channel_preferences"]) == len(view["preferredChannels"])
    campaigns = {r["from"] for r in store.export_relationships("TARGETED").to_pylist() if r["to"] == customer}
    assert {g["campaign_id"] for g in doc["campaigns"]} == campaigns and all("cohort" in g for g in doc["campaigns"])
    assert {"id": segment, "name": "Just one"} in doc["segments"]
    assert doc["scores"] is not None and "churn" in doc["scores"]["models"]
    json.dumps(doc)  # plain JSON all the way down
    # Audited: who exported whose data.
    records = _audit(settings, "export", customer)
    assert records and records[0].operation == "exportCustomerData" and records[0].role == "admin"
    # A customer exports their own data only; an analyst may not export at all.
    mine = _key(store, "customer", customer_id=customer)
    own = http.post("/graphql", json={"query": EXPORT, "variables": {"c": customer}}, headers=mine).json()
    assert own["data"]["exportCustomerData"]["customer"]["email"] == row["email"]
    other = http.post("/graphql", json={"query": EXPORT, "variables": {"c": env["pool"][0]}}, headers=mine).json()
    assert _codes(other)[0][0] == "FORBIDDEN"
    analyst = http.post("/graphql", json={"query": EXPORT, "variables": {"c": customer}},
                        headers=_key(store, "analyst")).json()
    assert _codes(analyst)[0][0] == "FORBIDDEN"
    assert _codes(gql(http, EXPORT, {"c": "C-NOBODY"})) == [("NOT_FOUND", "customerId")]


# --------------------------------------------------------------------------- erasure


def _aggregates(http, campaigns: list[str]) -> dict:  # type: ignore[no-untyped-def]
    value = gql(http, "{ valueSegmentation { customers concentration { totalRevenue } tiers { name customers revenue } } }")
    out = {"value": value["data"]["valueSegmentation"]}
    for campaign in campaigns:
        report = gql(http, """query($id: ID!) { campaign(id: $id) { report { total { contacted contacts cost opened
            responded converted revenue } channels { key contacted converted revenue } } } }""", {"id": campaign})
        out[campaign] = report["data"]["campaign"]["report"]
    return out


def test_erase_removes_personal_data_and_keeps_the_aggregates(env: dict) -> None:
    http, store, settings, analytics = env["http"], env["store"], env["settings"], env["analytics"]
    customer = _a_customer_with_history(env, {_a_customer_with_history(env, set())})
    row = store.customers([customer])[customer]
    personal = [str(row[k]) for k in ("email", "phone", "national_id", "last_name", "street") if row.get(k)]
    subjects = [k["subject"] for k in store.contacts_of_customers([customer])[customer] if k.get("subject")]
    campaigns = sorted({r["from"] for r in store.export_relationships("TARGETED").to_pylist() if r["to"] == customer})
    key = _key(store, "customer", customer_id=customer)
    assert http.post("/graphql", json={"query": "{ products { totalCount } }"}, headers=key).status_code == 200
    counts = {label: n for label, n in store.counts().items()
              if label in ("Account", "Subscription", "MonetaryEvent", "Contact", "TARGETED", "Identity", "Customer")}
    before = _aggregates(http, campaigns)
    data = analytics.data()  # built: the erasure must reach it by an incremental refresh
    projected_row = data.row_of(customer)

    body = gql(http, ERASE, {"c": customer})
    assert "errors" not in body, body
    erased = body["data"]["eraseCustomer"]
    assert erased["customerId"] == customer and erased["customers"] == [customer]
    assert erased["attributeValuesRemoved"] > 0 and erased["contactSubjectsRemoved"] == len(subjects) > 0
    assert erased["apiKeysRevoked"] == 1 and erased["alreadyErased"] is False
    view = erased["customer"]
    assert view["status"] == "ERASED" and view["name"] == customer
    assert all(view[k] is None for k in ("firstName", "lastName", "email", "phone", "birthDate", "nationalId"))
    assert view["address"]["street"] is None and view["address"]["postalCode"] is None

    # The store: nothing personal left, the anonymised facts all there.
    stored = store.customers([customer])[customer]
    assert stored["status"] == "ERASED" and all(stored[k] is None for k in (
        "first_name", "last_name", "company_name", "birth_date", "gender", "national_id", "email", "phone", "street",
        "postal_code"))
    assert store.attribute_values_of_customers([customer]) == {}
    assert all(k.get("subject") is None for k in store.contacts_of_customers([customer])[customer])
    assert {label: n for label, n in store.counts().items() if label in counts} == counts
    # The analytic projection: refreshed for this customer only, the values gone from its frames.
    data = analytics.data()
    assert analytics.projection.last_refresh.rebuilt is False
    assert data.row_of(customer) == projected_row
    projected = data.customers.iloc[projected_row]
    assert projected["status"] == "ERASED"
    assert all(projected[k] is None or projected[k] != projected[k] for k in ("email", "phone", "last_name",
                                                                             "national_id", "street"))
    attributes = data.fact("attributes")
    assert not (attributes["row"] == projected_row).any()
    # The export and the view hold nothing personal either.
    text = json.dumps(gql(http, EXPORT, {"c": customer})["data"]["exportCustomerData"])
    assert not [p for p in personal + subjects if p in text]
    # Aggregates: revenue and campaign reports add up as before.
    assert _aggregates(http, campaigns) == before
    assert gql(http, "{ customers(where: {status: [ERASED]}) { totalCount } }")["data"]["customers"]["totalCount"] == 1
    # Audited, with the outcome; the customer's own key no longer works.
    records = _audit(settings, "erase", customer)
    assert records and records[0].outcome == "ok" and records[0].operation == "eraseCustomer"
    assert http.post("/graphql", json={"query": "{ products { totalCount } }"}, headers=key).status_code == 401

    # Idempotent: a second erasure finds nothing to remove and changes nothing.
    again = gql(http, ERASE, {"c": customer})["data"]["eraseCustomer"]
    assert again["alreadyErased"] is True and again["attributeValuesRemoved"] == 0
    assert again["contactSubjectsRemoved"] == 0 and again["apiKeysRevoked"] == 0
    assert store.customers([customer])[customer]["updated_at"] == stored["updated_at"]
    # Nothing new is recorded about the person; no offers are made.
    assert _codes(_record(http, customer, "GRANTED", "MARKETING")) == [("CONFLICT", "customerId")]
    update = gql(http, """mutation($c: ID!) { updateProfile(customerId: $c, changes: [{key: "email",
        value: "back@example.com"}]) { errors { code } } }""", {"c": customer})
    assert _codes(update) == [("CONFLICT", "customerId")]
    upsert = gql(http, """mutation($items: [CustomerInput!]!) { upsertCustomers(source: "CRM", items: $items) {
        errors { index field code } } }""", {"items": [{"id": customer, "email": "back@example.com"}]})
    assert upsert["data"]["upsertCustomers"]["errors"] == [{"index": 0, "field": "id", "code": "CONFLICT"}]
    assert store.customers([customer])[customer]["email"] is None
    complaint = gql(http, """mutation($c: ID!) { openComplaint(input: {customerId: $c, subject: "x",
        channelId: "CALL_CENTRE"}) { id } }""", {"c": customer})
    assert _codes(complaint) == [("CONFLICT", "input.customerId")]  # the full path in the arguments
    response = gql(http, """mutation($c: ID!, $p: ID!) { recordOfferResponse(customerId: $c, offer: $p,
        response: ACCEPTED, channel: "SMS") { response } }""",
                   {"c": customer, "p": store.export_nodes("Product").column("id")[0].as_py()})
    assert _codes(response) == [("CONFLICT", "customerId")]
    assert gql(http, RECS, {"id": customer})["data"]["customer"]["recommendations"] == []
    assert _codes(gql(http, ERASE, {"c": "C-NOBODY"})) == [("NOT_FOUND", "customerId")]


def test_erasing_follows_merged_customers(env: dict) -> None:
    """Identity resolution leaves the merged records (status MERGED) behind: they are the same person."""
    http, store = env["http"], env["store"]
    survivor, merged = env["pool"][200], env["pool"][201]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    store.write([node_op("Customer", [{"id": merged, "status": "MERGED", "merged_into": survivor, "updated_at": now}])])
    erased = gql(http, ERASE, {"c": merged})["data"]["eraseCustomer"]  # the merged id leads to its survivor
    assert erased["customerId"] == survivor and erased["customers"] == [survivor, merged]
    rows = store.customers([survivor, merged])
    assert all(r["status"] == "ERASED" and r["email"] is None and r["last_name"] is None for r in rows.values())


def test_a_write_with_deletes_is_all_or_nothing(store: GraphStore) -> None:
    """Erasure's atomicity rests on this: deletes, unlinks and upserts of one write commit together."""
    store.write([node_op("Customer", [{"id": "C1", "email": "a@example.com", "status": "ACTIVE"}]),
                 node_op("AttributeValue", [{"id": 1, "key": "email", "value": "a@example.com"}]),
                 relationship_op("HAS_ATTRIBUTE", [{"from": "C1", "to": 1}])])
    doomed = [unlink_op("HAS_ATTRIBUTE", [{"from": "C1", "to": 1}]), delete_op("AttributeValue", [1]),
              node_op("Customer", [{"id": "C1", "email": None, "status": "ERASED"}]),
              relationship_op("HOLDS", [{"from": "C1", "to": "A-MISSING"}])]
    with pytest.raises(InvalidInput):
        store.write(doomed)
    assert store.customers(["C1"])["C1"]["email"] == "a@example.com"
    assert [v["id"] for v in store.attribute_values_of_customers(["C1"])["C1"]] == [1]
    result = store.write(doomed[:3])
    assert result.deleted == {"HAS_ATTRIBUTE": 1, "AttributeValue": 1}
    assert store.existing_ids("AttributeValue", [1]) == set()
    assert store.customers(["C1"])["C1"]["status"] == "ERASED"


# --------------------------------------------------------------------------- command line


def _cdp(*args: str, db: CliStore, audit: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **db.env, "CDP_AUDIT_LOG": str(audit)}
    return subprocess.run([sys.executable, "-m", "cdp.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_cli_export_erase_and_no_reimport(cli_store: CliStore, tmp_path: Path) -> None:
    db, audit = cli_store, tmp_path / "audit.jsonl"
    for mapping, data in (("billing.toml", "billing_accounts.csv"), ("crm.toml", "crm_customers.jsonl"),
                          ("service_desk.toml", "service_desk_tickets.parquet")):
        done = _cdp("import", "--mapping", f"examples/mappings/{mapping}", f"examples/data/{data}", db=db, audit=audit)
        assert done.returncode == 0, done.stderr
    out = tmp_path / "C1001.json"
    done = _cdp("privacy", "export", "C1001", "--out", str(out), db=db, audit=audit)
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    assert doc["customer"]["email"] == "anna.devries@example.nl" and doc["contacts"] and doc["accounts"]
    assert {v["source"] for v in doc["attribute_values"]} >= {"CRM"}
    done = _cdp("privacy", "erase", "C1001", "--yes", db=db, audit=audit)
    assert done.returncode == 0, done.stderr
    assert "erased C1001" in done.stderr
    doc = json.loads(_cdp("privacy", "export", "C1001", db=db, audit=audit).stdout)
    assert doc["customer"]["status"] == "ERASED" and doc["customer"]["email"] is None
    assert doc["attribute_values"] == [] and all(k["subject"] is None for k in doc["contacts"])
    assert doc["accounts"] and doc["contacts"]  # the anonymised facts stay
    # Importing the CRM file again does not bring the person back: their row is rejected.
    rejects = tmp_path / "rejects.csv"
    again = _cdp("import", "--mapping", "examples/mappings/crm.toml", "examples/data/crm_customers.jsonl",
                 "--rejects", str(rejects), db=db, audit=audit)
    assert again.returncode == 3, again.stderr
    assert "C1001" in rejects.read_text() and "was erased" in rejects.read_text()
    # Nor do their service-desk tickets bring the ticket subjects back.
    desk = _cdp("import", "--mapping", "examples/mappings/service_desk.toml",
                "examples/data/service_desk_tickets.parquet", "--rejects", str(rejects), db=db, audit=audit)
    assert desk.returncode == 3, desk.stderr
    assert rejects.read_text().count("'C1001' was erased") == 2
    doc = json.loads(_cdp("privacy", "export", "C1001", db=db, audit=audit).stdout)
    assert doc["customer"]["email"] is None and doc["attribute_values"] == []
    assert len(doc["contacts"]) == 2 and all(k["subject"] is None for k in doc["contacts"])
    failed = _cdp("privacy", "erase", "C-NOBODY", "--yes", db=db, audit=audit)
    assert failed.returncode == 2 and "cdp: error: no customer 'C-NOBODY'" in failed.stderr
    assert "Traceback" not in failed.stderr
    log = AuditLog(audit)
    assert [(r.action, r.outcome) for r in log.read(customer_id="C1001")
            if r.principal.startswith("cli:") and r.action in ("export", "erase")] == [
        ("export", "ok"), ("export", "ok"), ("erase", "ok"), ("export", "ok")]
    assert log.read(customer_id="C-NOBODY")[0].outcome == "NOT_FOUND"
