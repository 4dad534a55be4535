"""The profile with provenance over the real HTTP API: identities, survivorship,
attribute history, self-service updates, verification and identity splits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cdp.demo import telecom as demo
from cdp.errors import InvalidInput
from cdp.customers.profile import ProfilePolicy
from cdp.settings import Settings
from graph.store import GraphStore, node_op, relationship_op
from tests.conftest import BACKENDS, api_client, gql, make_store

PROFILE = """query($id: ID!, $key: String!) { customer(id: $id) {
  id email phone
  identities { id source sourceKey matchedBy confidence linkedAt }
  profile { key value stale conflicting candidates
            provenance { id source accuracy customerMaintained verified observedAt } }
  attributeHistory(key: $key) { id value source customerMaintained verified accuracy }
} }"""

UPDATE = """mutation($id: ID!, $changes: [AttributeChange!]!) {
  updateProfile(customerId: $id, changes: $changes) {
    customer { email profile(keys: ["email"]) { value provenance { source customerMaintained } } }
    values { id key value source accuracy customerMaintained verified }
    errors { field code message }
  } }"""


@pytest.fixture(params=BACKENDS)
def writable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[GraphStore, object]]:
    """A store of 40 demo customers and a client on it (tests here write)."""


    store = make_store(request.param, tmp_path)
    data = demo.generate(40, seed=11)
    store.bulk_load(data.nodes, data.relationships)
    with api_client(Settings(), store) as client:
        yield store, client
    store.close()


def _with_email(store: GraphStore) -> dict:
    ids = [c["id"] for c in store.customers([f"C{i:07d}" for i in range(1, 41)]).values()]
    rows = store.customers(ids)
    return next(r for r in rows.values() if r.get("email"))


def test_demo_profile_has_crm_identity_and_provenance(writable) -> None:  # type: ignore[no-untyped-def]
    store, client = writable
    customer = _with_email(store)
    body = gql(client, PROFILE, {"id": customer["id"], "key": "email"})
    c = body["data"]["customer"]
    assert c["identities"] == [{"id": f"CRM:{customer['id']}", "source": "CRM", "sourceKey": customer["id"],
                                "matchedBy": "SEED", "confidence": 1.0, "linkedAt": c["identities"][0]["linkedAt"]}]
    email = next(a for a in c["profile"] if a["key"] == "email")
    assert email["value"] == customer["email"] == c["email"]
    assert email["provenance"]["source"] == "CRM" and email["provenance"]["accuracy"] == 0.8
    assert email["candidates"] == 1 and email["conflicting"] is False
    assert [h["value"] for h in c["attributeHistory"]] == [customer["email"]]


def test_self_service_update_policy_history_and_verification(writable) -> None:  # type: ignore[no-untyped-def]
    store, client = writable
    customer = _with_email(store)
    cid = customer["id"]
    changes = [{"key": "email", "value": "new.address@example.net"},
               {"key": "national_id", "value": "123456789"},          # not allowed by the policy
               {"key": "phone", "value": "call me"},                  # not a phone number
               {"key": "marketing_opt_in", "value": "yes"},           # a custom attribute, allowed
               {"key": "bad key!", "value": "x"}]
    body = gql(client, UPDATE, {"id": cid, "changes": changes})
    assert "errors" not in body, body
    payload = body["data"]["updateProfile"]
    assert {e["field"]: e["code"] for e in payload["errors"]} == {
        "national_id": "FORBIDDEN", "phone": "BAD_USER_INPUT", "bad key!": "BAD_USER_INPUT"}
    assert {v["key"] for v in payload["values"]} == {"email", "marketing_opt_in"}
    assert all(v["source"] == "CUSTOMER" and v["customerMaintained"] and not v["verified"]
               and v["accuracy"] == 0.6 for v in payload["values"])
    # The customer's value is the newest and fresh: it survives and becomes the shown e-mail.
    assert payload["customer"]["email"] == "new.address@example.net"
    assert payload["customer"]["profile"][0]["provenance"] == {"source": "CUSTOMER", "customerMaintained": True}
    assert store.customers([cid])[cid]["national_id"] == customer.get("national_id")  # untouched

    c = gql(client, PROFILE, {"id": cid, "key": "email"})["data"]["customer"]
    assert [h["value"] for h in c["attributeHistory"]] == ["new.address@example.net", customer["email"]]
    email = next(a for a in c["profile"] if a["key"] == "email")
    assert email["conflicting"] is True and email["candidates"] == 2
    custom = next(a for a in c["profile"] if a["key"] == "marketing_opt_in")
    assert custom["value"] == "yes"

    value_id = c["attributeHistory"][0]["id"]
    verified = gql(client, """mutation($c: ID!, $v: ID!) { verifyAttributeValue(customerId: $c, valueId: $v)
                              { id verified accuracy } }""", {"c": cid, "v": value_id})
    assert verified["data"]["verifyAttributeValue"] == {"id": value_id, "verified": True, "accuracy": 0.95}

    # Same change again: same observation id only if at the same instant; history only grows.
    missing = gql(client, """mutation { verifyAttributeValue(customerId: "C0000001", valueId: "nope") { id } }""")
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    unknown = gql(client, UPDATE, {"id": "NO-SUCH", "changes": [{"key": "email", "value": "a@b.c"}]})
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_split_moves_an_identity_and_its_values_without_losing_data(writable) -> None:  # type: ignore[no-untyped-def]
    store, client = writable
    customer = _with_email(store)
    cid = customer["id"]
    seen = datetime(2026, 10, 1, 8, 0)
    store.write([
        node_op("Identity", [{"id": "BILLING:B-77", "source": "BILLING", "source_key": "B-77",
                              "matched_by": "PHONE", "confidence": 0.92, "linked_at": seen}]),
        node_op("AttributeValue", [
            {"id": 77001, "key": "email", "value": "someone.else@example.com", "source": "BILLING",
             "identity_id": "BILLING:B-77", "observed_at": seen, "accuracy": 0.9,
             "customer_maintained": False, "verified": False},
            {"id": 77002, "key": "city", "value": "Zwolle", "source": "BILLING",
             "identity_id": "BILLING:B-77", "observed_at": seen, "accuracy": 0.9,
             "customer_maintained": False, "verified": False}]),
        relationship_op("HAS_IDENTITY", [{"from": cid, "to": "BILLING:B-77"}]),
        relationship_op("HAS_ATTRIBUTE", [{"from": cid, "to": 77001}, {"from": cid, "to": 77002}]),
    ])
    before = store.counts()
    body = gql(client, """mutation { splitIdentity(identityId: "BILLING:B-77") {
        identityId movedValues
        original { id identities { id } attributeHistory(key: "email") { id } }
        customer { id email address { city } tier identities { id matchedBy } profile { key value } } } }""")
    assert "errors" not in body, body
    split = body["data"]["splitIdentity"]
    assert split["movedValues"] == 2
    assert [i["id"] for i in split["original"]["identities"]] == [f"CRM:{cid}"]
    assert "77001" not in {h["id"] for h in split["original"]["attributeHistory"]}
    new = split["customer"]
    assert new["id"] != cid and new["identities"] == [{"id": "BILLING:B-77", "matchedBy": "SPLIT"}]
    assert new["email"] == "someone.else@example.com" and new["address"]["city"] == "Zwolle"
    assert new["tier"] == customer["tier"].upper()
    after = store.counts()
    # Nothing lost: the same identities and values, one more customer, links moved not dropped.
    assert after["AttributeValue"] == before["AttributeValue"] and after["Identity"] == before["Identity"]
    assert after["Customer"] == before["Customer"] + 1
    assert after["HAS_ATTRIBUTE"] == before["HAS_ATTRIBUTE"] and after["HAS_IDENTITY"] == before["HAS_IDENTITY"]
    again = gql(client, """mutation { splitIdentity(identityId: "BILLING:B-77") { movedValues } }""")
    assert again["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"  # now its customer's only identity


def test_policy_file_is_checked_and_drives_survivorship() -> None:
    now = datetime(2026, 11, 1)
    crm = {"id": "a", "key": "email", "value": "a@x", "source": "CRM", "accuracy": 0.8,
           "observed_at": now - timedelta(days=30)}
    mine = {"id": "b", "key": "email", "value": "b@x", "source": "CUSTOMER", "accuracy": 0.6,
            "customer_maintained": True, "observed_at": now - timedelta(days=1)}
    old = {"id": "c", "key": "email", "value": "c@x", "source": "BILLING", "accuracy": 1.0,
           "observed_at": now - timedelta(days=800)}
    default = ProfilePolicy.load()
    assert default.choose("email", [crm, mine, old], now)["id"] == "b"  # fresh, then most recent
    trusted = ProfilePolicy.from_dict({"survivorship": ["most_trusted"], "sources": {"CRM": 0.8, "CUSTOMER": 0.7,
                                                                                    "BILLING": 0.9}})
    assert trusted.choose("email", [crm, mine, old], now)["id"] == "c"
    fresh_trusted = ProfilePolicy.from_dict({"survivorship": ["not_stale", "most_trusted"],
                                             "sources": {"CRM": 0.8, "CUSTOMER": 0.7}})
    assert fresh_trusted.choose("email", [crm, mine, old], now)["id"] == "a"
    assert default.is_stale(old, now) and not default.is_stale(crm, now)
    with pytest.raises(InvalidInput, match="survivorship"):
        ProfilePolicy.from_dict({"survivorship": ["loudest"]})
    with pytest.raises(InvalidInput, match="sources.CRM"):
        ProfilePolicy.from_dict({"sources": {"CRM": 3}})


def test_a_bad_policy_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "policy.toml"
    bad.write_text("stale_after_days = [\n")
    with pytest.raises(InvalidInput, match=str(bad)):
        ProfilePolicy.load(bad)


def test_self_service_values_pass_the_write_rules_of_upserts_with_paths(writable) -> None:  # type: ignore[no-untyped-def]
    """updateProfile checks values with ``cdp.customers.write_rules`` (the upserts' and imports' rules),
    not a looser check of its own: refused values come back typed with their path, accepted
    ones are stored normalised (phone in E.164, country in capitals)."""
    store, client = writable
    cid = _with_email(store)["id"]
    changes = [{"key": "email", "value": "someone@localhost"},        # no top-level domain
               {"key": "phone", "value": "123456"},                   # six digits, but no number
               {"key": "country", "value": "Narnia"},                 # not ISO 3166
               {"key": "street", "value": "Main \u202eStreet"},       # right-to-left override
               {"key": "phone", "value": "06-12345678"},              # national: normalised
               {"key": "country", "value": "be"}]
    body = gql(client, """mutation($id: ID!, $changes: [AttributeChange!]!) {
        updateProfile(customerId: $id, changes: $changes) {
          customer { phone address { country } } values { key value } errors { field path code message } } }""",
               {"id": cid, "changes": changes})
    assert "errors" not in body, body
    payload = body["data"]["updateProfile"]
    assert [(e["field"], e["path"], e["code"]) for e in payload["errors"]] == [
        ("email", "changes[0].value", "BAD_USER_INPUT"), ("phone", "changes[1].value", "BAD_USER_INPUT"),
        ("country", "changes[2].value", "BAD_USER_INPUT"), ("street", "changes[3].value", "BAD_USER_INPUT")]
    messages = {e["path"]: e["message"] for e in payload["errors"]}
    assert "not an e-mail address" in messages["changes[0].value"]
    assert "not a phone number" in messages["changes[1].value"]
    assert "ISO 3166-1" in messages["changes[2].value"]
    assert "U+202E" in messages["changes[3].value"]
    assert sorted((v["key"], v["value"]) for v in payload["values"]) == [("country", "BE"), ("phone", "+31612345678")]
    assert payload["customer"]["phone"] == "+31612345678"
    assert store.customers([cid])[cid]["phone"] == "+31612345678"
    forbidden = gql(client, UPDATE, {"id": cid, "changes": [{"key": "national_id", "value": "1"}]})
    assert forbidden["data"]["updateProfile"]["errors"] == [
        {"field": "national_id", "code": "FORBIDDEN", "message": "customers may not change 'national_id'"}]
