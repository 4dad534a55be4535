"""Catalog rules: eligibility over the projection, validation, GraphQL management, import."""

from __future__ import annotations

import csv
import subprocess
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import BACKENDS, CliStore, api_client, make_store
from tests.cli.test_cli import cdp

from cdp.offers import catalog_rules as cr
from cdp.errors import InvalidInput, NotFound
from cdp.projection.tables import build
from graph.store import GraphStore, node_op, relationship_op

AT = datetime(2026, 3, 1)

PRODUCTS = [
    # id, category, lifecycle, extra properties
    ("BB1", "BROADBAND", "ACTIVE", {}),
    ("BB2", "BROADBAND", "ACTIVE", {}),
    ("TV", "TV", "ACTIVE", {}),
    ("DUO", "BUNDLE", "ACTIVE", {}),
    ("VOI-A", "VOICE", "ACTIVE", {}),
    ("VOI-B", "VOICE", "ACTIVE", {}),
    ("VOI-C", "VOICE", "ACTIVE", {}),
    ("PHONE", "DEVICE", "ACTIVE", {"eligible_account_types": "POSTPAID"}),
    ("BIZ", "VALUE_ADDED", "ACTIVE", {"eligible_tiers": "BUSINESS,KEY_ACCOUNT"}),
    ("RENEW", "MOBILE_DATA", "ACTIVE", {"eligible_contract": "OUT_OF_CONTRACT"}),
    ("INC", "MOBILE_DATA", "ACTIVE", {"eligible_contract": "IN_CONTRACT"}),
    ("LOYAL", "VALUE_ADDED", "ACTIVE", {"min_tenure_months": 24}),
    ("PROMO", "VALUE_ADDED", "ACTIVE", {"offer_until": date(2026, 1, 31)}),
    ("SOON", "VALUE_ADDED", "ACTIVE", {"offer_from": date(2026, 6, 1)}),
    ("OLD", "VOICE", "RETIRED", {"offerable": False}),
    ("PLAN", "BROADBAND", "PLANNED", {}),
]


def _catalogue(store: GraphStore) -> None:
    rows = [{"id": p, "name": p, "category": c, "lifecycle": lc, **extra} for p, c, lc, extra in PRODUCTS]
    store.write([
        node_op("Product", rows),
        relationship_op("INCLUDES", [{"from": "DUO", "to": "BB1", "quantity": 1}, {"from": "DUO", "to": "TV"}]),
        relationship_op("REQUIRES", [{"from": "TV", "to": "BB1"}, {"from": "TV", "to": "BB2"}]),
        relationship_op("EXCLUDES", [{"from": "VOI-A", "to": "VOI-B"}, {"from": "VOI-C", "to": "VOI-A"}]),
        relationship_op("UPGRADES_TO", [{"from": "BB1", "to": "BB2", "discount": 0.1},
                                        {"from": "VOI-A", "to": "VOI-C"}]),
    ])


def _customers(store: GraphStore) -> None:
    store.write([
        node_op("Customer", [
            {"id": "C1", "tier": "CONSUMER", "status": "ACTIVE", "joined_on": date(2020, 1, 1)},
            {"id": "C2", "tier": "BUSINESS", "status": "ACTIVE", "joined_on": date(2025, 10, 1)},
            {"id": "C3", "tier": "CONSUMER", "status": "ACTIVE", "joined_on": date(2025, 1, 1)},
        ]),
        node_op("Account", [
            {"id": "A1", "type": "POSTPAID", "status": "ACTIVE", "opened_on": date(2020, 1, 1),
             "contract_type": "MONTHS_24", "contract_end": date(2025, 6, 1)},
            {"id": "A2", "type": "PREPAID", "status": "ACTIVE", "opened_on": date(2025, 10, 1),
             "contract_type": "NO_CONTRACT"},
            {"id": "A3", "type": "POSTPAID", "status": "ACTIVE", "opened_on": date(2024, 1, 1),
             "contract_type": "MONTHS_24", "contract_end": date(2027, 1, 1)},
            {"id": "A1X", "type": "BUSINESS", "status": "CLOSED", "opened_on": date(2020, 1, 1),
             "closed_on": date(2021, 1, 1)},
        ]),
        node_op("Subscription", [
            {"id": "S1", "status": "ACTIVE", "since": date(2024, 1, 1)},
            {"id": "S2", "status": "ACTIVE", "since": date(2024, 1, 1)},
            {"id": "S3", "status": "CANCELLED", "since": date(2022, 1, 1), "until": date(2023, 1, 1)},
            {"id": "S4", "status": "ACTIVE", "since": date(2024, 1, 1)},
        ]),
        relationship_op("HOLDS", [{"from": "C1", "to": "A1"}, {"from": "C2", "to": "A2"},
                                  {"from": "C3", "to": "A3"}, {"from": "C1", "to": "A1X"}]),
        relationship_op("HAS_SUBSCRIPTION", [{"from": "A1", "to": "S1"}, {"from": "A1", "to": "S2"},
                                             {"from": "A2", "to": "S3"}, {"from": "A3", "to": "S4"}]),
        relationship_op("OF_PRODUCT", [{"from": "S1", "to": "DUO"}, {"from": "S2", "to": "VOI-A"},
                                       {"from": "S3", "to": "TV"}, {"from": "S4", "to": "BB1"}]),
    ])


@pytest.fixture(params=BACKENDS)
def rules_store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    store = make_store(request.param, tmp_path)
    _catalogue(store)
    _customers(store)
    yield store
    store.close()


def _matrix(store: GraphStore) -> tuple[dict, object, cr.CatalogRules]:
    data = build(store)
    rules = cr.read_rules(store)
    ev = cr.evaluate(data, data.rows_of(["C1", "C2", "C3"]), AT, rules)
    kinds = ev.kinds()
    table = {c: {p: kinds[i, j] for j, p in enumerate(ev.products)} for i, c in enumerate(["C1", "C2", "C3"])}
    return table, data, rules


def test_rules_are_read_and_valid(rules_store: GraphStore) -> None:
    rules = cr.read_rules(rules_store)
    assert rules.requires == {"TV": ("BB1", "BB2")}
    assert rules.excluded_with("VOI-A") == ("VOI-B", "VOI-C")
    assert rules.upgrades["BB1"] == (cr.Upgrade("BB2", 0.1),)
    cr.validate(rules_store.products(), rules)


def test_eligibility_every_rule(rules_store: GraphStore) -> None:
    kinds, data, rules = _matrix(rules_store)
    c1, c2, c3 = kinds["C1"], kinds["C2"], kinds["C3"]
    # Held directly or through the bundle DUO (BB1 and TV).
    assert c1["DUO"] is None and c1["BB1"] is None and c1["TV"] is None and c1["VOI-A"] is None
    # Upgrades of held products are up-sells; an upgrade waives the exclusion with what it replaces.
    assert c1["BB2"] == cr.UP_SELL and c1["VOI-C"] == cr.UP_SELL
    assert c1["VOI-B"] is None  # excluded by the held VOI-A
    assert c1["PHONE"] == cr.CROSS_SELL  # open postpaid account
    assert c1["BIZ"] is None and c2["BIZ"] == cr.CROSS_SELL  # tier
    assert c1["RENEW"] == cr.CROSS_SELL and c3["RENEW"] is None and c2["RENEW"] is None  # contract ended
    assert c3["INC"] == cr.CROSS_SELL and c1["INC"] is None
    assert c1["LOYAL"] == cr.CROSS_SELL and c2["LOYAL"] is None and c3["LOYAL"] is None  # tenure 24 months
    for c in (c1, c2, c3):
        assert c["PROMO"] is None and c["SOON"] is None and c["OLD"] is None and c["PLAN"] is None
    # C2 holds nothing (a cancelled TV); TV needs broadband; no postpaid account for the phone.
    assert c2["BB1"] == cr.CROSS_SELL and c2["TV"] is None and c2["PHONE"] is None
    assert c3["TV"] == cr.CROSS_SELL and c3["BB2"] == cr.UP_SELL
    eligible = cr.eligible(data, data.rows_of(["C1", "C2", "C3"]), AT, rules)
    assert eligible.shape == (3, len(PRODUCTS)) and eligible.dtype == bool
    assert int(eligible.sum()) == sum(v is not None for c in kinds.values() for v in c.values())


def test_validity_dates_follow_at(rules_store: GraphStore) -> None:
    data, rules = build(rules_store), cr.read_rules(rules_store)
    column = list(data.products.index)
    row = data.rows_of(["C1"])
    early = cr.eligible(data, row, datetime(2026, 1, 15), rules)[0]
    late = cr.eligible(data, row, datetime(2026, 7, 1), rules)[0]
    assert early[column.index("PROMO")] and not early[column.index("SOON")]
    assert not late[column.index("PROMO")] and late[column.index("SOON")]


def test_why_not_explains(rules_store: GraphStore) -> None:
    data, rules = build(rules_store), cr.read_rules(rules_store)
    c1, c2 = data.row_of("C1"), data.row_of("C2")
    assert cr.why_not(data, c1, "BB2", AT, rules) == []
    assert cr.why_not(data, c1, "BB1", AT, rules) == ["already held (directly or through a bundle)"]
    assert cr.why_not(data, c1, "VOI-B", AT, rules) == ["cannot be held with VOI-A"]
    assert cr.why_not(data, c2, "TV", AT, rules) == ["requires one of BB1, BB2"]
    assert cr.why_not(data, c2, "PHONE", AT, rules) == ["needs an open POSTPAID account"]
    assert cr.why_not(data, c2, "LOYAL", AT, rules) == ["needs 24 months of tenure"]
    assert cr.why_not(data, c2, "RENEW", AT, rules) == ["only for customers out of contract"]
    assert cr.why_not(data, c1, "OLD", AT, rules) == ["lifecycle is RETIRED, not ACTIVE", "not offerable"]
    assert cr.why_not(data, c1, "PROMO", AT, rules) == ["offered until 2026-01-31"]


@pytest.mark.parametrize(("change", "message"), [
    ({"requires": ["NOPE"]}, "product BB2: requires names unknown product 'NOPE'"),
    ({"requires": ["BB2"]}, "product BB2: requires names the product itself"),
    ({"requires": ["TV"]}, "REQUIRES cycle"),
    ({"upgrades": [cr.Upgrade("BB1")]}, "UPGRADES_TO cycle"),
    ({"requires": ["VOI-A"], "excludes": ["VOI-A"]}, "product BB2 both requires and excludes VOI-A"),
    ({"eligibility": cr.Eligibility(tiers=("GOLD",))}, "product BB2: eligibility.tiers: unknown value(s) GOLD"),
    ({"eligibility": cr.Eligibility(offer_from=date(2026, 2, 1), offer_until=date(2026, 1, 1))},
     "product BB2: offerFrom 2026-02-01 is after offerUntil"),
    ({"upgrades": [cr.Upgrade("VOI-C", 1.5)]}, "discount must be within 0..1"),
])
def test_invalid_rules_are_refused(rules_store: GraphStore, change: dict, message: str) -> None:
    before = cr.read_rules(rules_store)
    # an unknown product is NOT_FOUND, like every unknown id an argument names (docs/errors.md)
    expected = NotFound if "unknown product" in message else InvalidInput
    with pytest.raises(expected, match=message.replace("(", r"\(").replace(")", r"\)")):
        cr.set_product_rules(rules_store, "BB2", **change)
    assert cr.read_rules(rules_store) == before  # nothing written


def test_set_product_rules_replaces_atomically(rules_store: GraphStore) -> None:
    row = cr.set_product_rules(rules_store, "VOI-A", requires=["BB1"], excludes=["OLD"],
                               upgrades=[cr.Upgrade("VOI-B", 0.2)],
                               eligibility=cr.Eligibility(account_types=("POSTPAID",), min_tenure_months=3))
    rules = cr.read_rules(rules_store)
    assert rules.requires["VOI-A"] == ("BB1",)
    assert rules.excluded_with("VOI-A") == ("OLD",)  # both old directions went
    assert rules.upgrades["VOI-A"] == (cr.Upgrade("VOI-B", 0.2),)
    assert row["eligible_account_types"] == "POSTPAID" and row["min_tenure_months"] == 3


def test_demo_catalogue_rules_are_valid(demo_store: GraphStore) -> None:
    rules = cr.read_rules(demo_store)
    cr.validate(demo_store.products(), rules)
    assert "P-BB-100" in rules.requires["P-TV-START"]
    data = build(demo_store)
    ok = cr.eligible(data, np.arange(data.size), None, rules)
    columns = list(data.products.index)
    assert not ok[:, columns.index("P-VOI-CLASSIC")].any()  # retired, not offerable
    assert ok.any(axis=0).sum() > 10


# --------------------------------------------------------------------------- GraphQL


def test_graphql_set_and_read_rules(rules_store: GraphStore) -> None:

    from cdp.settings import Settings

    mutation = """mutation($id: ID!, $input: ProductRulesInput!) { setProductRules(productId: $id, input: $input) {
        id offerFrom offerUntil requires { id } excludes { id } upgradesTo { discount product { id } }
        eligibility { accountTypes tiers contract minTenureMonths offerable } } }"""
    with api_client(Settings(), rules_store) as client:
        body = client.post("/graphql", json={"query": mutation, "variables": {"id": "PHONE", "input": {
            "requires": ["VOI-A", "VOI-C"], "excludes": ["OLD"], "upgradesTo": [{"productId": "BIZ", "discount": 0.25}],
            "eligibility": {"accountTypes": ["POSTPAID", "BUSINESS"], "contract": "IN_CONTRACT",
                            "minTenureMonths": 6, "offerFrom": "2026-01-01", "offerUntil": "2026-12-31"}}}}).json()
        assert "errors" not in body, body
        product = body["data"]["setProductRules"]
        assert product["requires"] == [{"id": "VOI-A"}, {"id": "VOI-C"}]
        assert product["excludes"] == [{"id": "OLD"}]
        assert product["upgradesTo"] == [{"discount": 0.25, "product": {"id": "BIZ"}}]
        assert product["eligibility"] == {"accountTypes": ["POSTPAID", "BUSINESS"], "tiers": [],
                                          "contract": "IN_CONTRACT", "minTenureMonths": 6, "offerable": True}
        assert (product["offerFrom"], product["offerUntil"]) == ("2026-01-01", "2026-12-31")
        read = client.post("/graphql", json={"query": '{ product(id: "OLD") { excludes { id } } }'}).json()
        assert read["data"]["product"]["excludes"] == [{"id": "PHONE"}]
        bad = client.post("/graphql", json={"query": mutation, "variables": {"id": "BB2", "input": {
            "requires": ["TV"]}}}).json()
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "REQUIRES cycle" in bad["errors"][0]["message"] and "BB2" in bad["errors"][0]["message"]
        missing = client.post("/graphql", json={"query": mutation, "variables": {"id": "NOPE", "input": {}}}).json()
        assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"


# --------------------------------------------------------------------------- import


def test_import_catalog_rules_through_cli(cli_store: CliStore) -> None:
    from cdp.demo import telecom as demo

    store = cli_store.open()
    products = demo.generate(20, seed=1).nodes["Product"].select(["id", "name", "category", "lifecycle"])
    store.write([node_op("Product", products)])
    store.close()  # the embedded file is locked by its one opener: the CLI opens it next
    for name in ("catalog_rules", "catalog_requires", "catalog_excludes", "catalog_upgrades"):
        done = cdp("import", "--mapping", f"examples/mappings/{name}.toml", f"examples/data/{name}.csv",
                   env=cli_store.env)
        assert done.returncode == 0, done.stdout + done.stderr
    store = cli_store.open()
    try:
        rules = cr.read_rules(store)
        products = store.products()
        cr.validate(products, rules)
        assert rules.requires["P-TV-SPORT"] == ("P-BB-100", "P-BB-1000", "P-BB-500")
        assert rules.excluded_with("P-VOI-UNL") == ("P-VOI-BASIC", "P-VOI-INTL")
        assert rules.upgrades["P-BB-500"] == (cr.Upgrade("P-BB-1000", 0.15),)
        assert rules.upgrades["P-VOI-BASIC"] == (cr.Upgrade("P-VOI-UNL", None),)
        top = cr.Eligibility.from_row(products["P-DEV-PHONE-TOP"])
        assert top.account_types == ("POSTPAID", "BUSINESS") and top.min_tenure_months == 12
        music = cr.Eligibility.from_row(products["P-VAS-MUSIC"])
        assert (music.offer_from, music.offer_until) == (date(2026, 1, 1), date(2026, 12, 31))
        assert not cr.Eligibility.from_row(products["P-VOI-CLASSIC"]).offerable
        assert cr.Eligibility.from_row(products["P-MOB-UNL"]).contract == "OUT_OF_CONTRACT"
    finally:
        store.close()


RULES_HEADER = "product,account_types,tiers,contract,min_tenure_months,offer_from,offer_until,offerable"


@pytest.mark.parametrize(("name", "before", "text", "row", "column", "reason"), [
    ("catalog_requires", None, "product,requires\nP-TV-SPORT,P-BB-100\nP-TV-SPORT,P-NOPE\n", 3, "requires",
     "REQUIRES to: unknown product 'P-NOPE'"),
    ("catalog_requires", None, "product,requires\nP-TV-SPORT,P-TV-SPORT\n", 2, "requires",
     "REQUIRES: product P-TV-SPORT names itself"),
    ("catalog_requires", None, "product,requires\nP-TV-SPORT,P-BB-100\nP-BB-100,P-TV-SPORT\n", 3, "requires",
     "REQUIRES cycle"),
    ("catalog_excludes", ("catalog_requires", "product,requires\nP-TV-SPORT,P-BB-100\n"),
     "product,excludes\nP-VOI-BASIC,P-VOI-UNL\nP-BB-100,P-TV-SPORT\n", 3, "excludes",
     "product P-TV-SPORT both requires and excludes P-BB-100"),
    ("catalog_upgrades", None, "product,upgrades_to,discount\nP-BB-100,P-BB-500,1.5\n", 2, "discount",
     "discount must be within 0..1"),
    ("catalog_rules", None, f"{RULES_HEADER}\nP-DEV-PHONE-TOP,POSTPAID,,,12,,,yes\nP-DEV-PHONE-MID,GOLD,,,,,,yes\n",
     3, "account_types", "eligibility.accountTypes: unknown value(s) GOLD"),
    ("catalog_rules", None, f"{RULES_HEADER}\nP-VAS-MUSIC,,,,,2026-12-31,2026-01-01,yes\n", 2, "offer_until",
     "offerFrom 2026-12-31 is after offerUntil 2026-01-01"),
])
def test_import_refuses_bad_rules_whole(cli_store: CliStore, tmp_path: Path, name: str, before: tuple[str, str] | None, text: str,
                                        row: int, column: str, reason: str) -> None:
    """A bad rule in an import file: exit 2, the message names file, row and column, the
    rejects file lists it, and nothing of the file is written (not even its good rows)."""
    from cdp.demo import telecom as demo

    store = cli_store.open()
    products = demo.generate(20, seed=1).nodes["Product"].select(["id", "name", "category", "lifecycle"])
    store.write([node_op("Product", products)])
    store.close()

    def run(mapping: str, body: str, file: Path) -> subprocess.CompletedProcess[str]:
        file.write_text(body)
        return cdp("import", "--mapping", f"examples/mappings/{mapping}.toml", str(file),
                   "--rejects", str(tmp_path / "rejects.csv"), env=cli_store.env)

    if before:
        done = run(before[0], before[1], tmp_path / "before.csv")
        assert done.returncode == 0, done.stdout + done.stderr
    store = cli_store.open()
    rules_before, products_before = cr.read_rules(store), store.products()
    store.close()
    bad = tmp_path / "bad.csv"
    done = run(name, text, bad)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert f"{bad}, row {row}, column {column}: " in output and reason in output, output
    assert "nothing was imported" in output
    with (tmp_path / "rejects.csv").open(newline="") as f:
        rejects = list(csv.reader(f))
    assert [str(bad), str(row), column] in [line[:3] for line in rejects]
    assert any(reason.split(":")[0] in line[4] for line in rejects)
    store = cli_store.open()
    try:
        assert cr.read_rules(store) == rules_before
        assert store.products() == products_before
    finally:
        store.close()


def test_upgrade_paths_are_transitive_and_repeatable_products_stay_on_offer(rules_store: GraphStore) -> None:
    """The sparse closure follows VOI-A -> VOI-C -> VOI-D; a repeatable product (TV, held
    by C1 through the bundle) is offered again, a plain held one (BB1) is not."""
    rules_store.write([
        node_op("Product", [{"id": "VOI-D", "name": "VOI-D", "category": "VOICE", "lifecycle": "ACTIVE"}]),
        node_op("Product", [{"id": "TV", "repeatable": True}]),  # its own batch: only this column changes
        relationship_op("UPGRADES_TO", [{"from": "VOI-C", "to": "VOI-D"}]),
    ])
    kinds, data, rules = _matrix(rules_store)
    assert kinds["C1"]["VOI-D"] == cr.UP_SELL  # two steps up from the held VOI-A
    assert kinds["C3"]["VOI-D"] == cr.CROSS_SELL  # C3 holds no voice plan
    check = cr.explain(data, data.rows_of(["C1"])[0], "TV", AT, rules)
    assert check.eligible and "held" not in check.failing, check
    assert kinds["C1"]["TV"] == cr.CROSS_SELL and kinds["C1"]["BB1"] is None
    assert cr.explain(data, data.rows_of(["C1"])[0], "BB1", AT, rules).failing == ("held",)
