"""One access rule for personal data wherever a value can shape an answer (docs/security.md,
"Personal data in conditions"), and who may record the consent that gates an actor
(docs/privacy.md, "Who records consent"), through the real HTTP app on a real store.

The table test crosses every personal field with every operation and argument that accepts
a condition, filter or sort, and every role: a principal that may read the field unmasked
for every customer gets its answer and a ``read_personal`` audit record naming the field;
any other gets ``FORBIDDEN`` with ``extensions.field`` the path of the argument that names
the field (or the operation, for a role that may not use the operation at all).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from starlette.testclient import TestClient

from cdp.privacy import consent
from cdp.security.api_keys import create_key
from cdp.app import build_app
from cdp.security.audit import AuditLog
from cdp.customers.rules import CustomerCriteria, personal_uses as search_uses
from cdp.errors import Forbidden
from cdp.security.permissions import (
    OPERATION_ROLES,
    PARTNER_OPERATIONS,
    PERSONAL_ATTRIBUTE_KEYS,
    PERSONAL_FIELDS,
    authorise_personal_use,
)
from cdp.security.principal import Principal, Role
from cdp.segments.definition import personal_uses as definition_uses
from cdp.settings import Settings
from tests.conftest import BACKENDS, make_store

#: Every personal attribute a segment condition can name (Customer properties and ``age``,
#: derived from the birth date), with an operand of its kind.
SEGMENT_KEYS: dict[str, tuple[str, str, str]] = {  # key -> (personal field, operator, value)
    "first_name": ("first_name", "CONTAINS", "a"),
    "last_name": ("last_name", "GTE", "M"),
    "birth_date": ("birth_date", "LT", "1980-06-01"),
    "national_id": ("national_id", "GTE", "5"),
    "email": ("email", "CONTAINS", "@"),
    "phone": ("phone", "EQ", "+441234567890"),
    "street": ("street", "CONTAINS", "Road"),
    "postal_code": ("postal_code", "GTE", "M"),
    "age": ("birth_date", "GTE", "40"),
}
#: Every personal argument of ``customers``: (argument, GraphQL value, personal field, path).
CUSTOMER_ARGUMENTS = [
    ("where", {"email": "jane@example.com"}, "email", "where.email"),
    ("where", {"phone": "+441234567890"}, "phone", "where.phone"),
    ("where", {"nameContains": "an"}, "name", "where.nameContains"),
    ("orderBy", {"field": "LAST_NAME"}, "last_name", "orderBy.field"),
]
#: Where a condition sits in the test definitions (nested, so paths are checked too).
INNER = "all[1].not.attribute.key"

ROLES: dict[str, dict[str, Any]] = {
    "admin": {"role": "admin"},
    "app": {"role": "app"},
    "analyst": {"role": "analyst"},
    "analyst+personal_data": {"role": "analyst", "scopes": ["personal_data"]},
    "analyst+personal:email": {"role": "analyst", "scopes": ["personal:email"]},
    "partner": {"role": "partner", "operations": sorted(PARTNER_OPERATIONS)},
    # its key has the scope and the customer below granted it DATA_SHARING
    "partner+personal_data+consent": {"role": "partner", "operations": sorted(PARTNER_OPERATIONS),
                                      "scopes": ["personal_data"]},
}


def readable(role: str, field: str) -> bool:
    """The rule, written out: who may read ``field`` unmasked for every customer."""
    if role in ("admin", "app", "analyst+personal_data"):
        return True
    return role == "analyst+personal:email" and field == "email"


def definition(key: str) -> dict:
    _, op, value = SEGMENT_KEYS[key]
    return {"all": [{"attribute": {"key": "tier", "op": "EXISTS"}},
                    {"not": {"attribute": {"key": key, "op": op, "value": value}}}]}


CAMPAIGN_BASE = {"purpose": "MARKETING", "offers": ["P-BB-500"], "controlShare": 0.0, "waves": [{"channel": "SMS"}]}


@pytest.fixture(scope="module", params=BACKENDS)
def env(request: pytest.FixtureRequest, demo_data,  # type: ignore[no-untyped-def]
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Its own store of the demo data (it saves segments and campaigns), the real app, one key per
    role, a customer who granted DATA_SHARING, and per personal key a saved segment and a
    campaign defined on it by an admin."""
    folder = tmp_path_factory.mktemp("personal-rule")
    store = make_store(request.param, folder)
    store.bulk_load(demo_data.nodes, demo_data.relationships)
    settings = Settings(db_path=folder / "store.lbdb", audit_log=folder / "audit.jsonl", model_dir=folder / "models",
                        api_key_cache_seconds=0, rate_limit=0, heavy_budget=0.0)  # no wall-clock budget: see conftest.api_client
    with TestClient(build_app(settings, store)) as http:
        keys = {}
        for name, options in ROLES.items():
            key, text = create_key(store, f"rule {name}", options["role"], scopes=options.get("scopes", ()),
                                   operations=options.get("operations", ()))
            keys[name] = ({"Authorization": f"Bearer {text}"}, f"key:{key.id}")
        admin = keys["admin"][0]
        customer = store.export_nodes("Customer").to_pylist()[0]["id"]
        granted = _post(http, admin, """mutation($c: ID!) { recordConsent(customerId: $c, purpose: DATA_SHARING,
            status: GRANTED, source: "WEB_FORM") { status } }""", {"c": customer})
        assert "errors" not in granted, granted
        segments, campaigns = {}, {}
        for key in SEGMENT_KEYS:
            body = _post(http, admin, CREATE_SEGMENT, {"n": f"saved {key}", "d": definition(key)})
            assert "errors" not in body, body
            segments[key] = body["data"]["createSegment"]["id"]
            body = _post(http, admin, CREATE_CAMPAIGN, {"i": {**CAMPAIGN_BASE, "name": f"saved {key}",
                                                              "targetDefinition": definition(key)}})
            assert "errors" not in body, body
            campaigns[key] = body["data"]["createCampaign"]["id"]
        harmless = _post(http, admin, CREATE_SEGMENT, {"n": "harmless", "d": {"all": []}})
        updated = _post(http, admin, CREATE_SEGMENT, {"n": "updated", "d": {"all": []}})
        yield {"http": http, "store": store, "keys": keys, "customer": customer, "segments": segments,
               "campaigns": campaigns, "harmless": harmless["data"]["createSegment"]["id"],
               "updated": updated["data"]["createSegment"]["id"],
               "audit": AuditLog(settings.audit_log_path)}
    store.close()


def _post(http: TestClient, headers: dict, query: str, variables: dict | None = None) -> dict:
    response = http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


CREATE_SEGMENT = """mutation($n: String!, $d: SegmentDefinitionInput!) { createSegment(name: $n, definition: $d)
  { id } }"""
CREATE_CAMPAIGN = """mutation($i: CampaignInput!) { createCampaign(input: $i) { id } }"""
PREVIEW = """query($d: SegmentDefinitionInput!) { previewSegment(definition: $d) { size members { totalCount } } }"""
UPDATE_SEGMENT = """mutation($id: ID!, $d: SegmentDefinitionInput!) { updateSegment(id: $id, definition: $d)
  { version } }"""
RECOMMEND = """query($d: JSON!) { segmentRecommendations(definition: $d, first: 1, members: 5) { size } }"""
#: Each field of a saved segment that evaluates its definition.
SAVED = {name: f"query($id: ID!{', $c: ID!' if '$c' in selection else ''}) {{ segment(id: $id) {{ {selection} }} }}"
         for name, selection in [("size", "size"), ("share", "share"), ("members", "members(first: 5) { totalCount }"),
                                 ("contains", "contains(customerId: $c)"), ("profile", "profile { measure }")]}
AUDIENCE = """query($id: ID!) { campaign(id: $id) { audience(wave: 1) { eligible } } }"""
REPORT = """query($id: ID!) { campaign(id: $id) { report { spent total { contacted } } } }"""


def _operations(env: dict, key: str, role: str) -> list[tuple[str, str, dict, str, int]]:
    """Per operation that accepts a segment condition: (operation, query, variables, path of
    the personal field, number of fields it refuses)."""
    d = definition(key)
    segment, campaign = env["segments"][key], env["campaigns"][key]
    return [
        ("previewSegment", PREVIEW, {"d": d}, f"definition.{INNER}", 1),
        ("createSegment", CREATE_SEGMENT, {"n": f"{role} {key}", "d": d}, f"definition.{INNER}", 1),
        ("updateSegment", UPDATE_SEGMENT, {"id": env["updated"], "d": d}, f"definition.{INNER}", 1),
        ("segmentRecommendations", RECOMMEND, {"d": d}, f"definition.{INNER}", 1),
        # a saved definition: size, share, members, contains and profile each evaluate it
        *[("segment", query, {"id": segment, **({"c": env["customer"]} if "$c" in query else {})},
           f"definition.{INNER}", 1) for query in SAVED.values()],
        ("createCampaign", CREATE_CAMPAIGN, {"i": {**CAMPAIGN_BASE, "name": f"{role} {key}",
                                                  "targetDefinition": d}}, f"input.targetDefinition.{INNER}", 1),
        ("createCampaign", CREATE_CAMPAIGN, {"i": {**CAMPAIGN_BASE, "name": f"{role} {key} saved",
                                                  "targetSegment": segment}},
         f"input.targetSegment.definition.{INNER}", 1),
        ("campaign", AUDIENCE, {"id": campaign}, f"targetDefinition.{INNER}", 1),
        ("campaign", REPORT, {"id": campaign}, f"targetDefinition.{INNER}", 1),
    ]


def _may_use(role: str, operation: str) -> bool:
    return Role(ROLES[role]["role"]) in OPERATION_ROLES[operation]


def _check(env: dict, role: str, operation: str, query: str, variables: dict, field: str, path: str,
           refusals: int, wrong: list[str]) -> None:
    headers, principal = env["keys"][role]
    body = _post(env["http"], headers, query, variables)
    errors = body.get("errors") or []
    case = f"{role} {operation} {path}"
    if not _may_use(role, operation):
        if [(e["extensions"]["code"], e["extensions"].get("field")) for e in errors] != [("FORBIDDEN", operation)]:
            wrong.append(f"{case}: expected FORBIDDEN for the operation, got {errors}")
    elif readable(role, field):
        if errors:
            wrong.append(f"{case}: expected an answer, got {errors}")
        else:
            record = env["audit"].read(principal=principal, action="read_personal", limit=1)
            if not record or field not in record[0].fields or record[0].operation != operation:
                wrong.append(f"{case}: no read_personal audit record naming {field}")
    else:
        found = [(e["extensions"]["code"], e["extensions"].get("field")) for e in errors]
        if found != [("FORBIDDEN", path)] * refusals or not all(field in e["message"] for e in errors):
            wrong.append(f"{case}: expected {refusals} x FORBIDDEN on {path} naming {field}, got {errors}")
        elif any(v for v in (body.get("data") or {}).values()):
            wrong.append(f"{case}: refused but answered {body['data']}")


def test_every_personal_field_in_every_condition_for_every_role(env: dict) -> None:
    wrong: list[str] = []
    for role in ROLES:
        for key, (field, _, _) in SEGMENT_KEYS.items():
            for operation, query, variables, path, refusals in _operations(env, key, role):
                _check(env, role, operation, query, variables, field, path, refusals, wrong)
    assert not wrong, "\n".join(wrong)


def test_every_personal_filter_and_sort_of_customers_for_every_role(env: dict) -> None:
    wrong: list[str] = []
    query = """query($w: CustomerWhere, $o: CustomerOrder) { customers(where: $w, orderBy: $o, first: 5)
      { totalCount edges { node { id } } } }"""
    for role in ROLES:
        for argument, value, field, path in CUSTOMER_ARGUMENTS:
            variables = {"w": value} if argument == "where" else {"o": value}
            _check(env, role, "customers", query, variables, field, path, 1, wrong)
    assert not wrong, "\n".join(wrong)


def test_bisecting_a_masked_value_is_refused_and_audited(env: dict) -> None:
    """The attack of issue 18: an analyst without the scope compares national id, e-mail and
    birth date with EQ, GTE, LT and CONTAINS through every segment route; a partner through
    segmentRecommendations. Every request is refused and the refusal audited."""
    http, store = env["http"], env["store"]
    analyst, principal = env["keys"]["analyst"]
    partner = env["keys"]["partner+personal_data+consent"][0]
    target = store.customers([env["customer"]])[env["customer"]]
    for key, op in [("national_id", "EQ"), ("national_id", "GTE"), ("email", "CONTAINS"), ("birth_date", "LT"),
                    ("phone", "GTE"), ("last_name", "EQ"), ("street", "CONTAINS"), ("age", "LT")]:
        value = str(target.get(key) or "40")[:4] if key != "birth_date" else "1990-01-01"
        condition = {"attribute": {"key": key, "op": op, "value": value}}
        for headers, query, variables in [
            (analyst, PREVIEW, {"d": condition}),
            (analyst, RECOMMEND, {"d": condition}),
            (analyst, CREATE_SEGMENT, {"n": f"probe {key} {op}", "d": condition}),
            (partner, RECOMMEND, {"d": condition}),
        ]:
            body = _post(http, headers, query, variables)
            assert body["data"] is None or not any(body["data"].values()), body
            error = body["errors"][0]
            assert error["extensions"]["code"] == "FORBIDDEN" and error["extensions"]["field"] == "definition.attribute.key"
            assert (key if key != "age" else "birth_date") in error["message"]
    denied = env["audit"].read(principal=principal, action="denied", limit=1)[0]
    assert denied.outcome == "FORBIDDEN" and denied.fields == ["definition.attribute.key"]
    assert env["audit"].read(principal=principal, action="read_personal") == []
    listed = _post(http, env["keys"]["admin"][0], "{ segments(first: 100) { edges { node { name } } } }")
    assert not any(e["node"]["name"].startswith("probe") for e in listed["data"]["segments"]["edges"])


def test_profiles_leave_out_age_for_whoever_may_not_read_birth_dates(env: dict) -> None:
    http = env["http"]
    query = """{ previewSegment(definition: {attribute: {key: "tier", op: EXISTS}}) { profile { measure } } }"""
    for role, shown in [("admin", True), ("analyst+personal_data", True), ("analyst", False),
                        ("analyst+personal:email", False)]:
        headers, principal = env["keys"][role]
        measures = {m["measure"] for m in _post(http, headers, query)["data"]["previewSegment"]["profile"]}
        assert ("age" in measures) is shown and "tenure_months" in measures, role
        if shown:
            assert "birth_date" in env["audit"].read(principal=principal, action="read_personal", limit=1)[0].fields


def test_a_customer_view_leaves_out_segments_defined_on_fields_the_reader_may_not_read(env: dict) -> None:
    http = env["http"]
    admin, analyst = env["keys"]["admin"][0], env["keys"]["analyst"][0]
    members = """query($id: ID!) { segment(id: $id) { members(first: 1) { edges { node { id } } } } }"""
    key, member = next((key, edges[0]["node"]["id"]) for key, segment in env["segments"].items()
                       if (edges := _post(http, admin, members, {"id": segment})["data"]["segment"]["members"][
                           "edges"]))
    query = """query($id: ID!) { customer(id: $id) { segments { id } } }"""
    seen_by = {role: {s["id"] for s in _post(http, headers, query, {"id": member})["data"]["customer"]["segments"]}
               for role, headers in [("admin", admin), ("analyst", analyst)]}
    assert env["segments"][key] in seen_by["admin"] and env["harmless"] in seen_by["admin"]
    assert env["segments"][key] not in seen_by["analyst"] and env["harmless"] in seen_by["analyst"]


# --------------------------------------------------------------------------- who records consent

RECORD = """mutation($c: ID!, $p: ConsentPurpose, $s: ConsentStatus!, $src: String) {
  recordConsent(customerId: $c, purpose: $p, status: $s, source: $src) { purpose status source } }"""
VIEW = """query($id: ID!) { customer(id: $id) { email lastName } }"""


def test_a_partner_cannot_grant_the_consent_that_gates_it(env: dict) -> None:
    http, store = env["http"], env["store"]
    admin = env["keys"]["admin"][0]
    partner, principal = env["keys"]["partner+personal_data+consent"]
    rows = store.export_nodes("Customer").to_pylist()
    # A customer who has not allowed DATA_SHARING (the demo records grants for some, cdp.demo.telecom).
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    said = store.attribute_values_of_customers([r["id"] for r in rows])
    other = next(r for r in rows if r["id"] != env["customer"] and r.get("email") and r.get("status") == "ACTIVE"
                 and consent.refusal(said.get(r["id"], []), "DATA_SHARING", None, now) is not None)
    assert _post(http, partner, VIEW, {"id": other["id"]})["data"]["customer"]["email"] != other["email"]

    body = _post(http, partner, RECORD, {"c": other["id"], "p": "DATA_SHARING", "s": "GRANTED", "src": "BILLING"})
    assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in body["errors"]] == [("FORBIDDEN", "purpose")]
    assert "DATA_SHARING" in body["errors"][0]["message"]
    upsert = """mutation($items: [CustomerInput!]!) { upsertCustomers(source: "BILLING", items: $items)
      { created updated errors { index field code } } }"""
    body = _post(http, partner, upsert, {"items": [{"id": other["id"], "attributes": [
        {"key": "consent_data_sharing", "value": "GRANTED"}]}]})
    assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in body["errors"]] == [
        ("FORBIDDEN", "items[0].attributes[0]")]
    # nothing was granted: still masked, no DATA_SHARING statement
    assert _post(http, partner, VIEW, {"id": other["id"]})["data"]["customer"]["email"] != other["email"]
    consents = _post(http, admin, """query($id: ID!) { customer(id: $id) { consents { purpose status } } }""",
                     {"id": other["id"]})["data"]["customer"]["consents"]
    assert {"purpose": "DATA_SHARING", "status": "GRANTED"} not in consents
    assert env["audit"].read(principal=principal, action="write", limit=1)[0].outcome == "FORBIDDEN"

    # refusals only restrict, and other purposes do not gate a partner: both may be recorded
    assert "errors" not in _post(http, partner, RECORD, {"c": other["id"], "p": "DATA_SHARING", "s": "DENIED",
                                                         "src": "BILLING"})
    assert "errors" not in _post(http, partner, RECORD, {"c": other["id"], "p": "MARKETING", "s": "GRANTED",
                                                         "src": "BILLING"})
    # nor may a partner search its way past the consent: filters and sorts on personal fields are refused
    for query in ["""{ customers(where: {nameContains: "a"}) { totalCount } }""",
                  """{ customers(orderBy: {field: LAST_NAME}) { edges { node { id } } } }"""]:
        assert _post(http, partner, query)["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_a_data_sharing_grant_for_the_customer_names_its_evidence(env: dict) -> None:
    http, store = env["http"], env["store"]
    app = env["keys"]["app"][0]
    partner = env["keys"]["partner+personal_data+consent"][0]
    rows = store.export_nodes("Customer").to_pylist()
    customer = next(r for r in rows[::-1] if r.get("email") and r.get("status") == "ACTIVE")
    body = _post(http, app, RECORD, {"c": customer["id"], "p": "DATA_SHARING", "s": "GRANTED"})
    assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in body["errors"]] == [
        ("BAD_USER_INPUT", "source")]
    assert _post(http, partner, VIEW, {"id": customer["id"]})["data"]["customer"]["email"] != customer["email"]
    body = _post(http, app, RECORD, {"c": customer["id"], "p": "DATA_SHARING", "s": "GRANTED", "src": "WEB_FORM"})
    assert {"purpose": "DATA_SHARING", "status": "GRANTED", "source": "WEB_FORM"} in body["data"]["recordConsent"]
    assert _post(http, partner, VIEW, {"id": customer["id"]})["data"]["customer"]["email"] == customer["email"]
    # the customer themselves needs no evidence: what they say is it
    _, text = create_key(store, "self", "customer", customer_id=customer["id"])
    body = _post(http, {"Authorization": f"Bearer {text}"}, RECORD,
                 {"c": customer["id"], "p": "DATA_SHARING", "s": "REVOKED"})
    assert "errors" not in body, body
    body = _post(http, {"Authorization": f"Bearer {text}"}, RECORD,
                 {"c": customer["id"], "p": "DATA_SHARING", "s": "GRANTED"})
    assert {"purpose": "DATA_SHARING", "status": "GRANTED", "source": "CUSTOMER"} in body["data"]["recordConsent"]


def test_saved_definitions_show_personal_operands_only_to_who_may_read_them(env: dict) -> None:
    http = env["http"]
    segment = """query($id: ID!) { segment(id: $id) { definition } }"""
    campaign = """query($id: ID!) { campaign(id: $id) { targetDefinition } }"""
    for key, (field, _, value) in SEGMENT_KEYS.items():
        for role in ("admin", "analyst", "analyst+personal:email", "partner+personal_data+consent"):
            headers = env["keys"][role][0]
            shown = value if readable(role, field) else "***"
            saved = _post(http, headers, segment, {"id": env["segments"][key]})["data"]["segment"]["definition"]
            target = _post(http, headers, campaign, {"id": env["campaigns"][key]})["data"]["campaign"][
                "targetDefinition"]
            for found in (saved, target):
                condition = found["all"][1]["not"]["attribute"]
                assert condition["key"] == key and condition["value"] == shown, (role, key, found)
                assert found["all"][0] == {"attribute": {"key": "tier", "op": "EXISTS"}}


def test_launches_and_contact_lists_obey_the_target_rule(env: dict) -> None:
    http, audit = env["http"], env["audit"]
    campaign = env["campaigns"]["national_id"]
    launch = """mutation($id: ID!) { launchCampaign(id: $id) { status } }"""
    refused = _post(http, env["keys"]["analyst"][0], launch, {"id": campaign})
    assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in refused["errors"]] == [
        ("FORBIDDEN", f"targetDefinition.{INNER}")]
    launched = _post(http, env["keys"]["analyst+personal_data"][0], launch, {"id": campaign})
    assert launched["data"]["launchCampaign"]["status"] == "RUNNING", launched
    path = f"/campaigns/{campaign}/waves/1/contacts.csv"
    denied = http.get(path, headers=env["keys"]["analyst"][0])
    error = denied.json()["errors"][0]
    assert denied.status_code == 403 and error["extensions"]["code"] == "FORBIDDEN"
    assert "national_id" in error["message"]
    headers, principal = env["keys"]["analyst+personal_data"]
    allowed = http.get(path, headers=headers)
    assert allowed.status_code == 200 and int(allowed.headers["X-Contact-Count"]) > 0
    record = audit.read(principal=principal, action="read_personal", limit=1)[0]
    assert record.operation == "campaignContactList" and "national_id" in record.fields


def test_duplicate_groups_are_shown_only_for_keys_the_reader_may_read(env: dict) -> None:
    http = env["http"]
    twins = [{"id": f"TWIN-{n}", "lastName": "Twin", "email": "twin@example.com", "phone": "+447700900123",
              "nationalId": "TW123456A", "tier": "CONSUMER", "status": "ACTIVE"} for n in (1, 2)]
    upsert = """mutation($items: [CustomerInput!]!) { upsertCustomers(source: "CRM", items: $items) { errors { field } } }"""
    assert _post(http, env["keys"]["admin"][0], upsert, {"items": twins})["data"]["upsertCustomers"]["errors"] == []
    query = "{ dataQuality { duplicateGroups duplicateSample { rule customerIds } } }"
    rules = {role: {g["rule"] for g in _post(http, env["keys"][role][0], query)["data"]["dataQuality"][
        "duplicateSample"]} for role in ("admin", "analyst", "analyst+personal:email")}
    assert rules["admin"] == {"email", "phone", "national_id"} and rules["analyst"] == set()
    assert rules["analyst+personal:email"] == rules["admin"] & {"email"}
    headers, principal = env["keys"]["admin"]
    _post(http, headers, query)
    assert set(env["audit"].read(principal=principal, action="read_personal", limit=1)[0].fields) == rules["admin"]


# --------------------------------------------------------------------------- the choke point itself


def test_the_rule_covers_every_personal_field_by_every_name() -> None:
    """Every name a condition can give a personal field (GraphQL name, attribute key in any case,
    a derived attribute) is authorised as that field, for every role."""
    principals = {name: Principal(id=name, role=Role(o["role"]), scopes=frozenset(o.get("scopes", ())),
                                  operations=frozenset(o.get("operations", ()))) for name, o in ROLES.items()}
    principals["customer"] = Principal(id="customer", role=Role.CUSTOMER, customer_id="C1")
    names = {**PERSONAL_FIELDS, **{k: k for k in PERSONAL_ATTRIBUTE_KEYS},
             **{k.upper(): k for k in PERSONAL_ATTRIBUTE_KEYS}, "age": "birth_date", "Age": "birth_date"}
    for role, principal in principals.items():
        for name, key in names.items():
            uses = {name: "where.x", "tier": "where.tier"}
            if readable(role, key if key != "name" else "name"):
                assert authorise_personal_use(principal, uses) == {key}, (role, name)
            else:
                with pytest.raises(Forbidden) as refused:
                    authorise_personal_use(principal, uses)
                assert refused.value.field == "where.x" and key in refused.value.message, (role, name)
        assert authorise_personal_use(principal, {"tier": "a", "city": "b", "joined_on": "c"}) == frozenset()


def test_the_reporters_name_every_personal_field_a_request_uses() -> None:
    criteria = CustomerCriteria(email="a@b.c", phone="1", name_contains="x", cities=("Leeds",))
    assert search_uses(criteria, "LAST_NAME") == {"email": "where.email", "phone": "where.phone",
                                                  "name": "where.nameContains", "lastName": "orderBy.field"}
    assert search_uses(CustomerCriteria(cities=("Leeds",)), "CITY") == {}
    # every attribute object at any depth counts, even under a node kind the parser would refuse
    raw = {"any": [{"attribute": {"key": "EMAIL", "op": "EQ", "value": "x"}},
                   {"not": {"all": [{"attribute": {"key": "age", "op": "GTE", "value": "3"}}]}},
                   {"unknown": {"attribute": {"key": "national_id", "op": "EXISTS"}}},
                   {"attribute": {"key": "city", "op": "EQ", "value": "Leeds"}}]}
    assert definition_uses(raw) == {"email": "definition.any[0].attribute.key",
                                    "birth_date": "definition.any[1].not.all[0].attribute.key",
                                    "national_id": "definition.any[2].unknown.attribute.key"}
    assert definition_uses({"attribute": {"key": "tier", "op": "EXISTS"}}) == {}


def test_a_refusal_is_audited_once(env: dict) -> None:
    """Refused before it ran (an operation the role may not use) or where it was evaluated (a
    personal field in a condition): one ``denied`` record each."""
    key, text = create_key(env["store"], "counted", "analyst")
    headers = {"Authorization": f"Bearer {text}"}
    _post(env["http"], headers, "mutation { eraseCustomer(customerId: \"C1\") { customerId } }")
    _post(env["http"], headers, PREVIEW, {"d": definition("email")})
    denied = env["audit"].read(principal=f"key:{key.id}", action="denied")
    assert sorted((r.operation, tuple(r.fields)) for r in denied) == [
        ("eraseCustomer", ()), ("previewSegment", (f"definition.{INNER}",))]
