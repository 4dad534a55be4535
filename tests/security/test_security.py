"""Authentication, authorisation and the audit log, through the real HTTP app (docs/security.md).

Role tests cover every mutation and every root query of the schema (generated from
the schema itself, so a new operation is covered the day it is added) and every
personal field for every role.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt
import pytest
from graphql import GraphQLNonNull, GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType, get_named_type
from starlette.testclient import TestClient

from cdp.security.api_keys import create_key, list_keys, revoke_key
from cdp.app import build_app
from cdp.security.audit import AuditLog
from cdp.cli import main as cdp_main
from cdp.security.permissions import OPERATION_ROLES, PARTNER_OPERATIONS, mask
from cdp.security.principal import Role
from cdp.settings import Settings
from schema import schema as cdp_schema
from tests.conftest import make_store

ROUTES = {"campaignContactList"}  # rows of OPERATION_ROLES that are HTTP routes, not root fields
VIEW = """query($id: ID!) { customer(id: $id) { id name firstName lastName birthDate nationalId email phone
  address { street postalCode city } profile { key value provenance { value } } } }"""


@pytest.fixture(scope="module")
def app_env(demo_store, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The real app over the demo store, with its own audit log; keys verified afresh each time."""
    folder = tmp_path_factory.mktemp("security")
    settings = Settings(db_path=folder / "unused.lbdb", audit_log=folder / "audit.jsonl", api_key_cache_seconds=0,
                        rate_limit=0)
    with TestClient(build_app(settings, demo_store)) as client:
        yield client, demo_store, settings


def _key(store, role: str, **options) -> dict:  # type: ignore[no-untyped-def]
    _, key = create_key(store, f"test {role}", role, **options)
    return {"Authorization": f"Bearer {key}"}


def _post(client, headers, query: str, variables: dict | None = None):  # type: ignore[no-untyped-def]
    return client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


def _codes(body: dict) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


def _a_customer(store) -> dict:  # type: ignore[no-untyped-def]
    """A demo customer with every personal field set."""
    table = store.export_nodes("Customer").to_pylist()
    for row in table:
        if all(row.get(k) for k in ("first_name", "last_name", "email", "phone", "national_id", "birth_date",
                                    "street", "postal_code")):
            return row
    raise AssertionError("no demo customer with every personal field")


# --------------------------------------------------------------------------- authentication


def test_requests_without_valid_credentials_get_401(app_env) -> None:  # type: ignore[no-untyped-def]
    client, store, _ = app_env
    query = {"query": "{ products { totalCount } }"}
    for headers, says in [({}, "credentials required"),
                          ({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer"),
                          ({"Authorization": "Bearer cdp_nothex"}, "malformed API key"),
                          ({"X-API-Key": "cdp_000000000000_" + "a" * 43}, "unknown API key"),
                          ({"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"}, "not accepted")]:
        response = client.post("/graphql", json=query, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "UNAUTHENTICATED" and says in error["message"]
    # a right key id with a wrong secret is refused too
    good = _key(store, "admin")["Authorization"].split()[1]
    wrong = good[:-1] + ("A" if good[-1] != "A" else "B")
    assert client.post("/graphql", json=query, headers={"X-API-Key": wrong}).status_code == 401
    assert client.post("/graphql", json=query, headers={"X-API-Key": good}).status_code == 200


def test_open_paths_need_no_credentials(app_env) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = app_env
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    asset = next(p for p in ("/static/graphiql/graphiql.min.css", "/static/graphiql/vendor/graphiql.min.css")
                 if client.get(p).status_code == 200)
    assert asset
    # ... but a query by GET is not the playground page
    assert client.get("/graphql", params={"query": "{ products { totalCount } }"}).status_code == 401


def test_metrics_need_admin_or_the_metrics_scope(app_env) -> None:  # type: ignore[no-untyped-def]
    client, store, _ = app_env
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=_key(store, "analyst")).status_code == 403
    assert client.get("/metrics", headers=_key(store, "analyst", scopes=["metrics"])).status_code == 200
    assert "cdp_http_requests_total" in client.get("/metrics", headers=_key(store, "admin")).text


def test_revoked_and_expired_keys_are_refused(app_env) -> None:  # type: ignore[no-untyped-def]
    client, store, _ = app_env
    key, text = create_key(store, "to revoke", "app")
    headers = {"Authorization": f"Bearer {text}"}
    assert _post(client, headers, "{ products { totalCount } }").status_code == 200
    revoke_key(store, key.id)
    response = _post(client, headers, "{ products { totalCount } }")
    assert response.status_code == 401 and "revoked" in response.json()["errors"][0]["message"]
    soon = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(seconds=1)
    _, text = create_key(store, "short-lived", "app", expires_at=soon)
    time.sleep(1.2)
    response = _post(client, {"X-API-Key": text}, "{ products { totalCount } }")
    assert response.status_code == 401 and "expired" in response.json()["errors"][0]["message"]


def test_keys_are_stored_hashed(demo_store) -> None:  # type: ignore[no-untyped-def]
    key, text = create_key(demo_store, "hash check", "analyst")
    row = demo_store.nodes("ApiKey", [key.id])[key.id]
    secret = text.split("_", 2)[2]
    assert secret not in json.dumps(row, default=str)
    assert len(row["secret_hash"]) == 64 and row["role"] == "analyst"


@pytest.mark.parametrize("algorithm", ["HS256", "RS256"])
def test_jwt_bearer_tokens(demo_store, tmp_path, algorithm: str) -> None:  # type: ignore[no-untyped-def]
    if algorithm == "HS256":
        signing = verifying = "a-shared-secret-of-at-least-32-bytes!!"
    else:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        signing = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
        verifying = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    settings = Settings(db_path=tmp_path / "unused.lbdb", audit_log=tmp_path / "audit.jsonl", jwt_issuer="https://idp",
                        jwt_key=verifying, jwt_algorithm=algorithm, rate_limit=0)
    now = datetime.now(timezone.utc)

    def token(**claims) -> dict:  # type: ignore[no-untyped-def]
        body = {"iss": "https://idp", "aud": "cdp", "sub": "svc-1", "exp": now + timedelta(minutes=5),
                "cdp_role": "analyst", **claims}
        return {"Authorization": "Bearer " + jwt.encode(body, signing, algorithm=algorithm)}

    customer = _a_customer(demo_store)
    with TestClient(build_app(settings, demo_store)) as client:
        ok = _post(client, token(), VIEW, {"id": customer["id"]})
        assert ok.status_code == 200 and ok.json()["data"]["customer"]["email"] == mask("email", customer["email"])
        scoped = _post(client, token(scope="personal_data"), VIEW, {"id": customer["id"]}).json()
        assert scoped["data"]["customer"]["email"] == customer["email"]
        for bad, says in [(token(iss="https://other"), "issuer"), (token(aud="someone-else"), "Audience"),
                          (token(exp=now - timedelta(minutes=5)), "expired"), (token(cdp_role="root"), "cdp_role")]:
            response = _post(client, bad, "{ products { totalCount } }")
            assert response.status_code == 401 and says in response.json()["errors"][0]["message"], says
        unsigned = jwt.encode({"iss": "https://idp", "aud": "cdp", "sub": "x", "exp": now + timedelta(minutes=5),
                               "cdp_role": "admin"}, None, algorithm="none")
        assert _post(client, {"Authorization": f"Bearer {unsigned}"}, "{ products { totalCount } }").status_code == 401
        # a customer token reaches its own profile only
        own = _post(client, token(cdp_role="customer", sub=customer["id"]), VIEW, {"id": customer["id"]}).json()
        assert own["data"]["customer"]["email"] == customer["email"]


# --------------------------------------------------------------------------- operations per role


def _root_fields(kind: str) -> dict:
    gql = cdp_schema._schema
    root = gql.query_type if kind == "query" else gql.mutation_type
    return root.fields


def test_every_operation_has_a_permission_row() -> None:
    names = set(_root_fields("query")) | set(_root_fields("mutation"))
    assert names - set(OPERATION_ROLES) == set(), "root fields without a row in cdp.security.permissions.OPERATION_ROLES"
    assert set(OPERATION_ROLES) - names - ROUTES == set(), "rows for operations the schema does not have"


def _document(kind: str, name: str, field) -> str:  # type: ignore[no-untyped-def]
    """A valid document calling ``name`` with every required argument as a variable (sent empty,
    so an allowed call fails variable coercion and nothing runs)."""
    required = [(arg, a.type) for arg, a in field.args.items() if isinstance(a.type, GraphQLNonNull)]
    definitions = ", ".join(f"${arg}: {type_}" for arg, type_ in required)
    call = ", ".join(f"{arg}: ${arg}" for arg, _ in required)
    named = get_named_type(field.type)
    selection = " { __typename }" if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType,
                                                        GraphQLUnionType)) else ""
    head = f"{kind} Op({definitions})" if definitions else kind
    return f"{head} {{ {name}{f'({call})' if call else ''}{selection} }}"


@pytest.mark.parametrize("kind", ["query", "mutation"])
def test_every_operation_is_refused_to_roles_without_it(app_env, kind: str) -> None:  # type: ignore[no-untyped-def]
    client, store, _ = app_env
    customer_id = _a_customer(store)["id"]
    headers = {role: _key(store, role.value, **({"customer_id": customer_id} if role is Role.CUSTOMER else {}))
               for role in Role if role is not Role.PARTNER}
    checked = 0
    for name, field in _root_fields(kind).items():
        document = _document(kind, name, field)
        for role, role_headers in headers.items():
            body = _post(client, role_headers, document).json()
            forbidden = "FORBIDDEN" in _codes(body)
            allowed = role in OPERATION_ROLES[name]
            if role is Role.CUSTOMER and allowed and field.args.get("customerId") or \
                    (role is Role.CUSTOMER and name == "customer"):
                continue  # the customer id comes from a variable left empty: checked below
            assert forbidden != allowed, (name, role.value, body)
            checked += 1
        # partners: only the operations their key names
        if Role.PARTNER in OPERATION_ROLES[name]:
            granted = _post(client, _key(store, "partner", operations=[name]), document).json()
            assert "FORBIDDEN" not in _codes(granted), (name, granted)
            other = next(op for op in sorted(PARTNER_OPERATIONS) if op != name)
            refused = _post(client, _key(store, "partner", operations=[other]), document).json()
            assert _codes(refused) == ["FORBIDDEN"], (name, refused)
            checked += 2
        else:
            with pytest.raises(Exception, match="partners may not be granted"):
                create_key(store, "partner", "partner", operations=[name])
    assert checked > 3 * len(_root_fields(kind))


def test_customers_reach_only_their_own_data(app_env) -> None:  # type: ignore[no-untyped-def]
    client, store, _ = app_env
    customers = store.export_nodes("Customer").to_pylist()
    me, other = customers[0], customers[1]
    headers = _key(store, "customer", customer_id=me["id"])
    mine = _post(client, headers, VIEW, {"id": me["id"]}).json()
    assert mine["data"]["customer"]["id"] == me["id"] and not mine.get("errors")
    theirs = _post(client, headers, VIEW, {"id": other["id"]}).json()
    assert _codes(theirs) == ["FORBIDDEN"] and theirs["data"] is None
    update = """mutation($c: ID!) { updateProfile(customerId: $c, changes: [{key: "language", value: "en"}])
                { errors { code } } }"""
    assert _codes(_post(client, headers, update, {"c": other["id"]}).json()) == ["FORBIDDEN"]
    assert "FORBIDDEN" not in _codes(_post(client, headers, update, {"c": me["id"]}).json())
    # fragments and aliases do not get around it
    sneaky = """query($id: ID!) { ...F } fragment F on Query { mine: customer(id: $id) { id } }"""
    assert _codes(_post(client, headers, sneaky, {"id": other["id"]}).json()) == ["FORBIDDEN"]
    # other customers cannot be listed through segments
    listing = "{ segments { edges { node { members { edges { node { id } } } } } } }"
    assert _codes(_post(client, headers, listing).json()) == ["FORBIDDEN"]
    with pytest.raises(Exception, match="unknown customer"):
        create_key(store, "nobody", "customer", customer_id="no-such-customer")


# --------------------------------------------------------------------------- personal fields


def _view(client, headers, customer_id: str) -> dict:  # type: ignore[no-untyped-def]
    body = _post(client, headers, VIEW, {"id": customer_id}).json()
    assert not body.get("errors"), body
    return body["data"]["customer"]


PERSONAL = {  # GraphQL path -> row key
    "name": None, "firstName": "first_name", "lastName": "last_name", "birthDate": "birth_date",
    "nationalId": "national_id", "email": "email", "phone": "phone",
}


def _assert_view(view: dict, row: dict, *, full: bool, only: set[str] | None = None) -> None:
    for field, key in PERSONAL.items():
        if key is None:
            continue
        expected = row[key] if full or (only and field in only) else mask(key, row[key])
        got = view[field]
        assert (str(got) if got is not None else None) == (str(expected) if expected is not None else None), field
    street_full = full or (only and "street" in only)
    assert view["address"]["street"] == (row["street"] if street_full else mask("street", row["street"]))
    assert view["address"]["postalCode"] == (row["postal_code"] if full else mask("postal_code", row["postal_code"]))
    assert view["address"]["city"] == row["city"]  # not personal: used for segments
    profile = {p["key"]: p["value"] for p in view["profile"]}
    if "email" in profile and not full and not (only and "email" in only):
        assert profile["email"] == mask("email", profile["email"]) or "***" in profile["email"]


def test_personal_fields_per_role(app_env) -> None:  # type: ignore[no-untyped-def]
    client, store, _ = app_env
    row = _a_customer(store)
    for role in ("admin", "app"):
        _assert_view(_view(client, _key(store, role), row["id"]), row, full=True)
    _assert_view(_view(client, _key(store, "analyst"), row["id"]), row, full=False)
    _assert_view(_view(client, _key(store, "analyst", scopes=["personal_data"]), row["id"]), row, full=True)
    only_email = _view(client, _key(store, "analyst", scopes=["personal:email"]), row["id"])
    assert only_email["email"] == row["email"] and only_email["phone"] == mask("phone", row["phone"])
    partner = _key(store, "partner", operations=["customer"], scopes=["personal_data"])
    _assert_view(_view(client, partner, row["id"]), row, full=False)  # no DATA_SHARING consent yet
    partner_unscoped = _key(store, "partner", operations=["customer"])
    _assert_view(_view(client, partner_unscoped, row["id"]), row, full=False)
    _assert_view(_view(client, _key(store, "customer", customer_id=row["id"]), row["id"]), row, full=True)


def test_masks_hide_most_of_a_value() -> None:
    assert mask("email", "jane.doe@example.com") == "j***@example.com"
    assert mask("phone", "+44 7700 900123") == "**********23"
    assert mask("last_name", "van Dijk") == "v*** D***"
    assert mask("birth_date", "1980-02-01") is None
    assert mask("national_id", "AB123456C") == "***"
    assert mask("postal_code", "SW1A 1AA") == "SW***"


def test_searching_on_personal_fields_needs_access(app_env) -> None:  # type: ignore[no-untyped-def]
    client, store, _ = app_env
    row = _a_customer(store)
    search = """query($e: String) { customers(where: {email: $e}) { totalCount } }"""
    refused = _post(client, _key(store, "analyst"), search, {"e": row["email"]}).json()
    assert _codes(refused) == ["FORBIDDEN"] and refused["errors"][0]["extensions"]["field"] == "where.email"
    assert "email" in refused["errors"][0]["message"]
    allowed = _post(client, _key(store, "analyst", scopes=["personal_data"]), search, {"e": row["email"]}).json()
    assert allowed["data"]["customers"]["totalCount"] >= 1
    by_name = "{ customers(orderBy: {field: LAST_NAME}) { totalCount } }"
    assert _codes(_post(client, _key(store, "analyst"), by_name).json()) == ["FORBIDDEN"]
    assert _post(client, _key(store, "analyst"), "{ customers(where: {city: [\"x\"]}) { totalCount } }").json()[
        "data"]["customers"]["totalCount"] == 0


# --------------------------------------------------------------------------- audit


def test_writes_personal_reads_and_refusals_are_audited(app_env) -> None:  # type: ignore[no-untyped-def]
    client, store, settings = app_env
    audit = AuditLog(settings.audit_log_path)
    row = _a_customer(store)
    key, text = create_key(store, "auditor test", "app")
    headers = {"Authorization": f"Bearer {text}"}
    _view(client, headers, row["id"])
    read = audit.read(principal=f"key:{key.id}", action="read_personal", limit=1)[0]
    assert read.customers == [row["id"]] and {"email", "phone", "nationalId"} <= set(read.fields)
    assert read.operation == "customer" and read.role == "app" and read.request_id

    update = """mutation($c: ID!) { updateProfile(customerId: $c, changes: [{key: "language", value: "fr"}])
                { errors { code } } }"""
    assert not _post(client, headers, update, {"c": row["id"]}).json().get("errors")
    write = audit.read(principal=f"key:{key.id}", action="write", limit=1)[0]
    assert write.operation == "updateProfile" and write.customers == [row["id"]] and write.outcome == "ok"

    analyst_key, analyst = create_key(store, "masked reader", "analyst")
    _view(client, {"X-API-Key": analyst}, row["id"])
    assert audit.read(principal=f"key:{analyst_key.id}", action="read_personal") == []  # saw masked values only
    _post(client, {"X-API-Key": analyst}, "mutation { splitIdentity(identityId: \"x\") { movedValues } }")
    denied = audit.read(principal=f"key:{analyst_key.id}", action="denied", limit=1)[0]
    assert denied.outcome == "FORBIDDEN" and denied.operation == "splitIdentity"
    # records hold ids, never personal values
    assert row["email"] not in Path(settings.audit_log_path).read_text()
    by_customer = audit.read(customer_id=row["id"])
    assert {r.action for r in by_customer} >= {"read_personal", "write"}


def test_audit_log_query_is_for_admins(app_env) -> None:  # type: ignore[no-untyped-def]
    client, store, _ = app_env
    row = _a_customer(store)
    _view(client, _key(store, "app"), row["id"])
    query = """query($c: ID) { auditLog(customerId: $c, first: 5) { totalCount edges { node { at principal role
               action operation customers fields outcome } } } }"""
    admin = _key(store, "admin")
    body = _post(client, admin, query, {"c": row["id"]}).json()
    assert body["data"]["auditLog"]["edges"][0]["node"]["customers"] == [row["id"]]
    assert _codes(_post(client, _key(store, "analyst"), query, {"c": row["id"]}).json()) == ["FORBIDDEN"]


def test_audit_log_pages_are_stable_while_records_are_appended(app_env) -> None:  # type: ignore[no-untyped-def]
    """The audit log is a keyset connection, newest first: the records appended while a client
    pages (its own reads are audited too) do not shift the older pages; both directions cover
    the same records."""
    client, store, _ = app_env
    row = _a_customer(store)
    app = _key(store, "app")
    for _ in range(7):
        _view(client, app, row["id"])
    admin = _key(store, "admin")
    page = """query($c: ID, $first: Int, $after: String, $last: Int, $before: String) {
        auditLog(customerId: $c, first: $first, after: $after, last: $last, before: $before) {
        totalCount edges { cursor node { at request_id: requestId } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""
    first = _post(client, admin, page, {"c": row["id"], "first": 3}).json()["data"]["auditLog"]
    total = first["totalCount"]
    assert total >= 7 and not first["pageInfo"]["hasPreviousPage"]
    for _ in range(2):  # newer records, before the cursor in this newest-first list
        _view(client, app, row["id"])
    seen, after = [e["cursor"] for e in first["edges"]], first["pageInfo"]["endCursor"]
    while after:
        nxt = _post(client, admin, page, {"c": row["id"], "first": 3, "after": after}).json()["data"]["auditLog"]
        seen += [e["cursor"] for e in nxt["edges"]]
        after = nxt["pageInfo"]["endCursor"] if nxt["pageInfo"]["hasNextPage"] else None
    assert len(seen) == len(set(seen)) == total
    back = _post(client, admin, page, {"c": row["id"], "last": 1000}).json()["data"]["auditLog"]
    assert [e["cursor"] for e in back["edges"]][-total:] == seen and back["totalCount"] == total + 2
    bad = _post(client, admin, page, {"c": row["id"], "first": 2, "last": 2}).json()
    assert bad["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "last"}


# --------------------------------------------------------------------------- rate limit per credential


def test_rate_limit_is_per_credential(demo_store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(db_path=tmp_path / "unused.lbdb", audit_log=tmp_path / "audit.jsonl",
                        rate_limit=0.01, rate_burst=2)
    with TestClient(build_app(settings, demo_store)) as client:
        first, second = _key(demo_store, "app"), _key(demo_store, "app")
        statuses = [_post(client, first, "{ products { totalCount } }").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert _post(client, second, "{ products { totalCount } }").status_code == 200  # its own bucket
        # refused credentials spend the address's bucket: guessing keys is slowed down too
        refused = [client.post("/graphql", json={"query": "{ products { totalCount } }"}).status_code for _ in range(3)]
        assert refused == [401, 401, 429]


# --------------------------------------------------------------------------- CLI


def test_keys_cli(cli_store, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    cli_store.setenv(monkeypatch)
    assert cdp_main(["init"]) == 0  # keys are made in a store that exists (cdp init makes an empty one)
    assert cdp_main(["keys", "create", "--role", "partner", "--name", "billing",
                     "--operations", "upsertAccounts", "customer", "--scope", "personal:email"]) == 0
    text = capsys.readouterr().out.strip()
    assert text.startswith("cdp_")
    assert cdp_main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    key_id = text.split("_")[1]
    assert key_id in listed and "partner" in listed and "active" in listed and text not in listed
    assert cdp_main(["keys", "create", "--role", "partner", "--name", "x"]) == 2
    assert "must name the operations" in capsys.readouterr().err
    assert cdp_main(["keys", "create", "--role", "analyst", "--name", "x", "--scope", "everything"]) == 2
    assert "unknown scope" in capsys.readouterr().err
    assert cdp_main(["keys", "revoke", "--yes", key_id]) == 0
    capsys.readouterr()
    assert cdp_main(["keys", "list"]) == 0 and "revoked" in capsys.readouterr().out
    assert cdp_main(["keys", "revoke", "--yes", "ffffffffffff"]) == 2
    assert cdp_main(["audit", "--action", "key_revoked"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["principal"].startswith("cli:")


def test_contact_lists_mask_personal_columns(demo_store) -> None:  # type: ignore[no-untyped-def]
    from pyarrow import table

    from cdp.campaigns.contact_lists import masked_for
    from cdp.security.principal import Principal

    contacts = table({"customer_id": ["c1"], "email": ["jane@example.com"], "phone": ["+441234"],
                      "channel": ["SMS"]})
    analyst = Principal(id="k", role=Role.ANALYST)
    masked, readable = masked_for(contacts, analyst)
    assert masked.column("email").to_pylist() == ["j***@example.com"] and readable == []
    app = Principal(id="k", role=Role.APP)
    unmasked, readable = masked_for(contacts, app)
    assert unmasked.column("email").to_pylist() == ["jane@example.com"] and set(readable) == {"email", "phone"}
    assert list_keys(demo_store)  # keys made by the tests above are listed


def test_keys_are_managed_through_the_api_while_the_server_runs(demo_store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(db_path=tmp_path / "unused.lbdb", audit_log=tmp_path / "audit.jsonl", rate_limit=0)
    with TestClient(build_app(settings, demo_store)) as client:  # default key cache: 10 s
        admin = _key(demo_store, "admin")
        create = """mutation { createApiKey(name: "service desk", role: "app") { key apiKey { id role } } }"""
        made = _post(client, admin, create).json()["data"]["createApiKey"]
        headers = {"Authorization": f"Bearer {made['key']}"}
        assert made["apiKey"]["role"] == "app"
        assert _post(client, headers, "{ products { totalCount } }").status_code == 200
        revoke = """mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }"""
        assert _post(client, admin, revoke, {"id": made["apiKey"]["id"]}).json()["data"]["revokeApiKey"]["revokedAt"]
        assert _post(client, headers, "{ products { totalCount } }").status_code == 401  # at once, despite the cache
        assert _codes(_post(client, _key(demo_store, "app"), "{ apiKeys { id } }").json()) == ["FORBIDDEN"]
        bad = _post(client, admin, """mutation { createApiKey(name: "x", role: "partner") { key } }""").json()
        assert _codes(bad) == ["BAD_USER_INPUT"] and bad["errors"][0]["extensions"]["field"] == "operations"
    records = AuditLog(settings.audit_log_path).read(action="write")
    assert {r.operation for r in records} >= {"createApiKey", "revokeApiKey"}


def test_no_write_runs_when_the_audit_log_cannot_be_written(demo_store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings = Settings(db_path=tmp_path / "unused.lbdb", audit_log=blocker / "audit.jsonl", rate_limit=0)
    row = _a_customer(demo_store)
    before = demo_store.customers([row["id"]])[row["id"]]["language"]
    with TestClient(build_app(settings, demo_store)) as client:
        update = """mutation($c: ID!) { updateProfile(customerId: $c, changes: [{key: "language", value: "xx"}])
                    { errors { code } } }"""
        body = _post(client, _key(demo_store, "app"), update, {"c": row["id"]}).json()
        assert _codes(body) == ["AUDIT_UNAVAILABLE"] and body["data"] is None
    assert demo_store.customers([row["id"]])[row["id"]]["language"] == before


def test_partners_see_personal_data_only_with_scope_and_consent(demo_data, backend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cdp.privacy import consent

    demo_store = make_store(backend, tmp_path)  # consents written: not the shared store
    demo_store.bulk_load(demo_data.nodes, demo_data.relationships)

    settings = Settings(db_path=tmp_path / "unused.lbdb", audit_log=tmp_path / "audit.jsonl", rate_limit=0)
    customers = [r for r in demo_store.export_nodes("Customer").to_pylist()
                 if r.get("email") and r.get("phone") and r.get("status") != "ERASED"]
    shared, revoked = customers[-1], customers[-2]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    consent.record(demo_store, shared["id"], "DATA_SHARING", None, "GRANTED", None, "CRM", False, now)
    consent.record(demo_store, revoked["id"], "DATA_SHARING", None, "GRANTED", None, "CRM", False,
                   now - timedelta(days=2))
    consent.record(demo_store, revoked["id"], "DATA_SHARING", None, "REVOKED", None, "CUSTOMER", True,
                   now - timedelta(days=1))
    query = """query($id: ID!) { customer(id: $id) { email phone profile(keys: ["email"]) { value } } }"""
    with TestClient(build_app(settings, demo_store)) as client:
        scoped = _key(demo_store, "partner", operations=["customer"], scopes=["personal_data"])
        unscoped = _key(demo_store, "partner", operations=["customer"])
        view = _post(client, scoped, query, {"id": shared["id"]}).json()["data"]["customer"]
        assert view["email"] == shared["email"] and view["phone"] == shared["phone"]
        assert _post(client, unscoped, query, {"id": shared["id"]}).json()["data"]["customer"]["email"] == \
            mask("email", shared["email"])
        after_revoke = _post(client, scoped, query, {"id": revoked["id"]}).json()["data"]["customer"]
        assert after_revoke["email"] == mask("email", revoked["email"])
        assert all("***" in p["value"] for p in after_revoke["profile"])
    reads = AuditLog(settings.audit_log_path).read(action="read_personal")
    assert [r.customers for r in reads] == [[shared["id"]]]  # the masked answers were not personal reads
    demo_store.close()


def test_the_last_admin_key_cannot_be_revoked_through_the_api(cli_store, tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    db = cli_store.path
    store = cli_store.open()
    revoke = """mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }"""
    try:
        only, only_text = create_key(store, "the only admin", "admin")
        expired, _ = create_key(store, "expired admin", "admin", expires_at=datetime(2020, 1, 2),
                                now=datetime(2020, 1, 1))  # expired: it does not count
        create_key(store, "an app", "app")
        settings = Settings(db_path=db, audit_log=tmp_path / "audit.jsonl", rate_limit=0)
        with TestClient(build_app(settings, store)) as client:
            admin = {"Authorization": f"Bearer {only_text}"}
            refused = _post(client, admin, revoke, {"id": only.id}).json()
            assert refused["data"] is None and _codes(refused) == ["CONFLICT"]
            assert "last active admin key" in refused["errors"][0]["message"]
            assert refused["errors"][0]["extensions"]["field"] == "id"
            assert _post(client, admin, "{ apiKeys { id } }").status_code == 200  # still in
            # With a second admin key, either may go, but not both.
            made = _post(client, admin, """mutation { createApiKey(name: "second admin", role: "admin") {
                key apiKey { id } } }""").json()["data"]["createApiKey"]
            second = {"Authorization": f"Bearer {made['key']}"}
            assert _post(client, second, revoke, {"id": only.id}).json()["data"]["revokeApiKey"]["revokedAt"]
            assert _post(client, admin, "{ apiKeys { id } }").status_code == 401
            last = _post(client, second, revoke, {"id": made["apiKey"]["id"]}).json()
            assert _codes(last) == ["CONFLICT"]
            assert _post(client, second, "{ apiKeys { id } }").status_code == 200
        assert {k.id for k in list_keys(store) if k.role is Role.ADMIN and k.revoked_at is None} == {
            expired.id, made["apiKey"]["id"]}
    finally:
        store.close()
    # The CLI (someone holding the store's files) may, but only when told so explicitly.
    cli_store.setenv(monkeypatch)
    monkeypatch.setenv("CDP_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    assert cdp_main(["keys", "revoke", "--yes", made["apiKey"]["id"]]) == 2
    assert "last active admin key" in capsys.readouterr().err
    assert cdp_main(["keys", "revoke", "--yes", "--last-admin", made["apiKey"]["id"]]) == 0
    with cli_store.open() as reopened:
        assert not any(k.role is Role.ADMIN and k.revoked_at is None and k.id != expired.id
                       for k in list_keys(reopened))


def test_two_servers_cannot_together_revoke_the_last_two_admin_keys(store, request, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The last-admin rule holds in the store, not per process: two revocations started at
    once, each on its own server (on Neo4j its own store connection; the embedded store has
    one owner process) and each revoking one of the last two admin keys, revoke exactly one.
    The process-wide lock of ``cdp.security.api_keys`` is replaced by a no-op, as each server has its own."""
    import contextlib
    import threading

    from cdp.security import api_keys
    from cdp.errors import Conflict
    from tests.conftest import NEO4J_TEST_URI

    monkeypatch.setattr(api_keys, "_REVOKING", contextlib.nullcontext())
    if "neo4j" in request.node.callspec.id:
        from graph.neo4j_store import Neo4jStore

        other = Neo4jStore(NEO4J_TEST_URI, "neo4j", "", "neo4j")
    else:
        other = store
    try:
        for round_ in range(8):
            for key in list_keys(store):
                if key.role is Role.ADMIN and key.revoked_at is None:
                    revoke_key(store, key.id, allow_last_admin=True)
            first, _ = create_key(store, f"admin a{round_}", "admin")
            second, _ = create_key(store, f"admin b{round_}", "admin")
            start = threading.Barrier(2)
            outcomes: dict[str, str] = {}

            # run by the threads below and joined within this round
            def revoke(server, key_id: str) -> None:  # type: ignore[no-untyped-def]
                start.wait()  # noqa: B023
                try:
                    revoke_key(server, key_id)
                    outcomes[key_id] = "revoked"  # noqa: B023
                except Conflict:
                    outcomes[key_id] = "refused"  # noqa: B023

            threads = [threading.Thread(target=revoke, args=(store, first.id)),
                       threading.Thread(target=revoke, args=(other, second.id))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(outcomes.values()) == ["refused", "revoked"], (round_, outcomes)
            usable = [k.id for k in list_keys(store) if k.role is Role.ADMIN and k.revoked_at is None]
            assert len(usable) == 1 and outcomes[usable[0]] == "refused"
    finally:
        if other is not store:
            other.close()
