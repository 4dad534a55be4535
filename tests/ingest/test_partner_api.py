"""Partner upserts over the real HTTP API: batched, atomic for the good items,
typed errors per bad item, provenance recorded, idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cdp.settings import Settings
from graph.model import CHANNELS
from graph.store import GraphStore, node_op
from tests.conftest import BACKENDS, api_client, gql, make_store

CUSTOMERS = """mutation($items: [CustomerInput!]!) { upsertCustomers(source: "billing", items: $items) {
  created updated ids errors { index field message code } } }"""
ACCOUNTS = """mutation($items: [AccountInput!]!) { upsertAccounts(source: "BILLING", items: $items) {
  created updated ids errors { index field path message code } } }"""
CONTACTS = """mutation($items: [ContactInput!]!) { upsertContacts(source: "SERVICE_DESK", items: $items) {
  created updated ids errors { index field message code } } }"""


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[GraphStore, object]]:
    """An HTTP client on the real app over a fresh store of each available backend."""
    store = make_store(request.param, tmp_path)
    store.write([node_op("Channel", [{"id": c[0], "name": c[1], "kind": c[2]} for c in CHANNELS]),
                 node_op("Product", [{"id": "P-MOB", "name": "Mobile", "category": "MOBILE_DATA"}])])
    with api_client(Settings(), store) as client:
        yield store, client
    if request.param == "neo4j":
        store.wipe()
    store.close()


def test_customers_upsert_with_provenance_and_idempotence(api) -> None:  # type: ignore[no-untyped-def]
    store, client = api
    items = [{"id": "B1", "firstName": "Eva", "lastName": "de Wit", "email": "eva@example.nl",
              "tier": "CONSUMER", "birthDate": "1980-02-03"},
             {"id": "", "lastName": "nobody"},
             {"id": "B2", "companyName": "Acme", "tier": "BUSINESS"}]
    body = gql(client, CUSTOMERS, {"items": items})
    assert "errors" not in body, body
    out = body["data"]["upsertCustomers"]
    assert out["created"] == 2 and out["updated"] == 0 and out["ids"] == ["B1", "B2"]
    assert out["errors"] == [{"index": 1, "field": "id", "code": "BAD_USER_INPUT",
                              "message": "id must be a non-empty string of at most 200 characters"}]
    again = gql(client, CUSTOMERS, {"items": [items[0], items[2]]})["data"]["upsertCustomers"]
    assert again["created"] == 0 and again["updated"] == 2 and again["errors"] == []
    # Provenance: one BILLING identity and one value per profile field sent.
    view = gql(client, """{ customer(id: "B1") { name tier identities { id source }
        profile { key value provenance { source accuracy } } } }""")["data"]["customer"]
    assert view["name"] == "Eva de Wit" and view["tier"] == "CONSUMER"
    assert view["identities"] == [{"id": "BILLING:B1", "source": "BILLING"}]
    profile = {p["key"]: p for p in view["profile"]}
    assert profile["email"]["value"] == "eva@example.nl"
    assert profile["email"]["provenance"] == {"source": "BILLING", "accuracy": 0.9}
    assert profile["birth_date"]["value"] == "1980-02-03"
    assert store.counts()["Identity"] == 2
    # A field left out is untouched; an explicit null clears it.
    gql(client, CUSTOMERS, {"items": [{"id": "B1", "email": None}]})
    row = store.customers(["B1"])["B1"]
    assert row.get("email") is None and row["first_name"] == "Eva"  # Neo4j rows leave out null properties


def test_links_must_exist_and_bad_items_do_not_block_good_ones(api) -> None:  # type: ignore[no-untyped-def]
    store, client = api
    gql(client, CUSTOMERS, {"items": [{"id": "B1", "lastName": "Wit"}]})
    body = gql(client, ACCOUNTS, {"items": [
        {"id": "A1", "customerId": "B1", "type": "POSTPAID", "openedOn": "2024-01-01"},
        {"id": "A2", "customerId": "NOPE", "type": "PREPAID"}]})["data"]["upsertAccounts"]
    assert body["created"] == 1 and body["errors"] == [
        {"index": 1, "field": "customerId", "path": "items[1].customerId", "message": "no Customer 'NOPE'",
         "code": "NOT_FOUND"}]
    assert [a["id"] for a in store.accounts_of_customers(["B1"])["B1"]] == ["A1"]
    contacts = gql(client, CONTACTS, {"items": [
        {"id": "K1", "customerId": "B1", "channelId": "SMS", "at": "2026-05-01T10:00:00+02:00",
         "kind": "COMPLAINT", "outcome": "OPEN", "satisfaction": 2, "productId": "P-MOB"},
        {"id": "K2", "customerId": "B1", "channelId": "SMS", "at": "2026-05-01T10:00:00Z", "satisfaction": 9},
        {"id": "K3", "customerId": "B1", "channelId": "PIGEON", "at": "2026-05-01T10:00:00Z"}]})
    out = contacts["data"]["upsertContacts"]
    assert out["created"] == 1
    assert [(e["index"], e["field"], e["code"]) for e in out["errors"]] == [
        (1, "satisfaction", "BAD_USER_INPUT"), (2, "channelId", "NOT_FOUND")]
    k1 = store.contacts_of_customers(["B1"])["B1"][0]
    assert k1["id"] == "K1" and k1["at"].hour == 8 and k1["channel_id"] == "SMS"  # stored as naive UTC
    view = gql(client, '{ customer(id: "B1") { openComplaints contacts { edges { node { id } } } } }')
    assert view["data"]["customer"] == {"openComplaints": 1, "contacts": {"edges": [{"node": {"id": "K1"}}]}}


def test_bad_batches_are_refused_with_codes(api) -> None:  # type: ignore[no-untyped-def]
    _, client = api
    bad_source = gql(client, """mutation { upsertCustomers(source: "bad source!", items: [{id: "X"}]) { created } }""")
    assert bad_source["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "source"}
    too_many = gql(client, CUSTOMERS, {"items": [{"id": f"C{i}"} for i in range(1001)]})
    assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    bad_enum = gql(client, CUSTOMERS, {"items": [{"id": "C1", "tier": "PLATINUM"}]})
    assert bad_enum["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "PLATINUM" in bad_enum["errors"][0]["message"]


def test_customer_upsert_carries_consents_and_custom_attributes(api) -> None:  # type: ignore[no-untyped-def]
    store, client = api
    items = [{"id": "B7", "lastName": "Kok", "attributes": [
                 {"key": "consent_sms_marketing", "value": "denied"},
                 {"key": "consent_profiling", "value": "GRANTED"},
                 {"key": "contract_owner", "value": "finance dept"}]},
             {"id": "B8", "lastName": "Mol", "attributes": [{"key": "consent_marketing", "value": "maybe"}]},
             {"id": "B9", "lastName": "Ros", "attributes": [{"key": "email", "value": "x@example.nl"}]},
             {"id": "B10", "lastName": "Ham", "attributes": [{"key": "bad key", "value": "1"}]}]
    out = gql(client, CUSTOMERS, {"items": items})["data"]["upsertCustomers"]
    assert out["ids"] == ["B7"]
    assert [(e["index"], e["field"], e["code"]) for e in out["errors"]] == [
        (1, "attributes", "BAD_USER_INPUT"), (2, "attributes", "BAD_USER_INPUT"), (3, "attributes", "BAD_USER_INPUT")]
    assert "GRANTED, DENIED, REVOKED" in out["errors"][0]["message"]
    assert "send it as email" in out["errors"][1]["message"]
    assert store.existing_ids("Customer", ["B8", "B9", "B10"]) == set()  # a bad item writes nothing

    view = gql(client, """{ customer(id: "B7") { consents { purpose channel status source }
        attributeHistory(key: "contract_owner") { value source accuracy } } }""")
    customer = view["data"]["customer"]
    assert sorted((c["purpose"], c["channel"], c["status"], c["source"]) for c in customer["consents"]) == [
        ("MARKETING", "SMS", "DENIED", "BILLING"), ("PROFILING", None, "GRANTED", "BILLING")]
    assert customer["attributeHistory"] == [{"value": "finance dept", "source": "BILLING", "accuracy": 0.9}]
    before = store.counts()["AttributeValue"]
    again = gql(client, CUSTOMERS, {"items": [items[0]]})["data"]["upsertCustomers"]
    assert again["errors"] == [] and store.counts()["AttributeValue"] == before  # the same says nothing new
    changed = {"id": "B7", "attributes": [{"key": "consent_sms_marketing", "value": "GRANTED"}]}
    gql(client, CUSTOMERS, {"items": [changed]})
    assert store.counts()["AttributeValue"] == before + 1
    statuses = gql(client, '{ customer(id: "B7") { consents { channel status } } }')["data"]["customer"]["consents"]
    assert {"channel": "SMS", "status": "GRANTED"} in statuses


VALIDATED = """mutation($source: String!, $items: [CustomerInput!]!) { upsertCustomers(source: $source, items: $items) {
  created updated ids errors { index field path message code } } }"""


def test_customer_values_are_validated_item_by_item_with_paths(api) -> None:  # type: ignore[no-untyped-def]
    store, client = api
    items = [{"id": "V0", "email": "not-an-email"},
             {"id": "V1", "phone": "hello"},
             {"id": "V2", "birthDate": "2090-01-01"},
             {"id": "V3", "country": "Narnia"},
             {"id": "V4\u0000", "lastName": "Nul"},
             {"id": "V5\nx", "lastName": "Newline"},
             {"id": "V6\u202excod.exe", "lastName": "Override"},
             {"id": "V7", "email": " eva@example.nl ", "phone": "06-12345678", "country": "nl",
              "birthDate": "1980-02-03", "lastName": "Good"},
             {"id": "V8", "email": "a@b", "phone": "12", "lastName": "Two bad fields"},
             {"id": "V9", "birthDate": "1850-01-01"},
             {"id": "V10", "lastName": "Ev\u202ea"},
             {"id": "V11", "firstName": "Mol", "attributes": [{"key": "loyalty", "value": "gold\u0000"}]}]
    out = gql(client, VALIDATED, {"source": "CRM", "items": items})["data"]["upsertCustomers"]
    assert out["ids"] == ["V7"] and out["created"] == 1
    assert [(e["index"], e["field"], e["path"], e["code"]) for e in out["errors"]] == [
        (0, "email", "items[0].email", "BAD_USER_INPUT"),
        (1, "phone", "items[1].phone", "BAD_USER_INPUT"),
        (2, "birthDate", "items[2].birthDate", "BAD_USER_INPUT"),
        (3, "country", "items[3].country", "BAD_USER_INPUT"),
        (4, "id", "items[4].id", "BAD_USER_INPUT"),
        (5, "id", "items[5].id", "BAD_USER_INPUT"),
        (6, "id", "items[6].id", "BAD_USER_INPUT"),
        (8, "email", "items[8].email", "BAD_USER_INPUT"),
        (8, "phone", "items[8].phone", "BAD_USER_INPUT"),
        (9, "birthDate", "items[9].birthDate", "BAD_USER_INPUT"),
        (10, "lastName", "items[10].lastName", "BAD_USER_INPUT"),
        (11, "attributes", "items[11].attributes[0].value", "BAD_USER_INPUT")]
    messages = {e["path"]: e["message"] for e in out["errors"]}
    assert messages["items[0].email"] == "'not-an-email' is not an e-mail address (expected name@example.com)"
    assert "'hello' is not a phone number" in messages["items[1].phone"]
    assert messages["items[2].birthDate"] == "birth date 2090-01-01 is in the future"
    assert "'Narnia' is not an ISO 3166-1 alpha-2 country code" in messages["items[3].country"]
    assert "(found U+0000)" in messages["items[4].id"] and "(found U+000A)" in messages["items[5].id"]
    assert "(found U+202E)" in messages["items[6].id"] and "(found U+202E)" in messages["items[10].lastName"]
    assert "more than 130 years ago" in messages["items[9].birthDate"]
    # Nothing of a refused item is stored, the good one is, normalised and with the defaults.
    refused = [i["id"] for n, i in enumerate(items) if n != 7]
    assert store.existing_ids("Customer", refused) == set()
    assert store.counts().get("Identity") == 1
    good = store.customers(["V7"])["V7"]
    assert (good["email"], good["phone"], good["country"], str(good["birth_date"])) == (
        "eva@example.nl", "+31612345678", "NL", "1980-02-03")
    assert (good["status"], good["tier"]) == ("ACTIVE", "CONSUMER")


def test_new_customers_get_defaults_and_status_and_tier_cannot_be_cleared(api) -> None:  # type: ignore[no-untyped-def]
    store, client = api
    first = gql(client, VALIDATED, {"source": "BILLING", "items": [
        {"id": "D1", "lastName": "Plain"}, {"id": "D2", "tier": "BUSINESS", "status": "PROSPECT"}]})
    assert first["data"]["upsertCustomers"]["errors"] == []
    rows = store.customers(["D1", "D2"])
    assert [(rows[i]["status"], rows[i]["tier"]) for i in ("D1", "D2")] == [("ACTIVE", "CONSUMER"),
                                                                           ("PROSPECT", "BUSINESS")]
    # An update leaves them alone; an explicit null is refused, not stored.
    later = gql(client, VALIDATED, {"source": "BILLING", "items": [
        {"id": "D2", "city": "Gouda"}, {"id": "D1", "tier": None}]})["data"]["upsertCustomers"]
    assert later["ids"] == ["D2"]
    assert [(e["path"], e["code"]) for e in later["errors"]] == [("items[1].tier", "BAD_USER_INPUT")]
    assert "tier cannot be cleared" in later["errors"][0]["message"]
    rows = store.customers(["D1", "D2"])
    assert (rows["D2"]["status"], rows["D2"]["tier"], rows["D2"]["city"]) == ("PROSPECT", "BUSINESS", "Gouda")
    assert rows["D1"]["tier"] == "CONSUMER"


def test_statuses_only_identity_resolution_and_erasure_set_are_refused(api) -> None:  # type: ignore[no-untyped-def]
    """A partner cannot mark a customer MERGED (hiding it from every list and analysis) or
    ERASED, nor revive a customer identity resolution merged: typed per-item errors, nothing
    of the refused items written, the good item of the batch written."""
    store, client = api
    store.write([node_op("Customer", [
        {"id": "M1", "status": "ACTIVE", "tier": "CONSUMER"}, {"id": "M2", "status": "ACTIVE", "tier": "CONSUMER"},
        {"id": "M3", "status": "MERGED", "merged_into": "M1", "tier": "CONSUMER"}])])
    out = gql(client, VALIDATED, {"source": "BILLING", "items": [
        {"id": "M2", "status": "MERGED"}, {"id": "N1", "status": "MERGED"}, {"id": "M2", "status": "ERASED"},
        {"id": "M3", "status": "ACTIVE", "city": "Delft"}, {"id": "M2", "city": "Gouda", "status": "CHURNED"}]})
    assert "errors" not in out, out
    payload = out["data"]["upsertCustomers"]
    assert payload["ids"] == ["M2"]
    assert [(e["index"], e["path"], e["code"]) for e in payload["errors"]] == [
        (0, "items[0].status", "BAD_USER_INPUT"), (1, "items[1].status", "BAD_USER_INPUT"),
        (2, "items[2].status", "BAD_USER_INPUT"), (3, "items[3].status", "CONFLICT")]
    assert "identity resolution" in payload["errors"][0]["message"]
    assert "eraseCustomer" in payload["errors"][2]["message"]
    assert "merged into 'M1'" in payload["errors"][3]["message"]
    rows = store.customers(["M1", "M2", "M3", "N1"])
    assert "N1" not in rows
    assert (rows["M2"]["status"], rows["M2"]["city"]) == ("CHURNED", "Gouda")
    assert (rows["M3"]["status"], rows["M3"]["merged_into"], rows["M3"].get("city")) == ("MERGED", "M1", None)


@pytest.mark.parametrize(("source", "message"), [
    ("NARNIA_SYNC", "unknown source NARNIA_SYNC: expected one of BILLING, CRM, SERVICE_DESK"),
    ("customer", "source CUSTOMER is reserved"),
    ("bad source!", "source must be 1-40 letters, digits or _"),
])
def test_sources_must_be_known(api, source: str, message: str) -> None:  # type: ignore[no-untyped-def]
    store, client = api
    body = gql(client, VALIDATED, {"source": source, "items": [{"id": "S1", "lastName": "Src"}]})
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "source"}
    assert message in body["errors"][0]["message"]
    assert store.existing_ids("Customer", ["S1"]) == set()


def test_links_and_ids_of_other_items_are_checked_too(api) -> None:  # type: ignore[no-untyped-def]
    store, client = api
    gql(client, CUSTOMERS, {"items": [{"id": "B1", "lastName": "Wit"}]})
    out = gql(client, ACCOUNTS, {"items": [
        {"id": "A\u202e1", "customerId": "B1"}, {"id": "A2", "customerId": "B1\u0000"},
        {"id": "A3", "customerId": "B1"}]})["data"]["upsertAccounts"]
    assert out["ids"] == ["A3"]
    assert [(e["path"], e["code"]) for e in out["errors"]] == [("items[0].id", "BAD_USER_INPUT"),
                                                               ("items[1].customerId", "BAD_USER_INPUT")]
