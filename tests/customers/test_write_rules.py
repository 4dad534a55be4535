"""One set of value rules (``cdp.customers.write_rules``) for partner upserts and ``cdp import``:
the same values are refused on both paths, imports name file, row and column, and new
customers get the documented status and tier."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from cdp.settings import Settings
from cdp.customers.write_rules import CUSTOMER_DEFAULTS, WriteRules, check_customer_value, customer_column
from graph.store import node_op
from tests.conftest import CliStore
from tests.ingest.test_import import read_rejects, run_cdp, summary, write_mapping

RULES = WriteRules(phone_country_code="31", today=date(2026, 12, 7))

#: (property, value, normalised value or None when refused)
CASES = [
    ("email", "eva@example.nl", "eva@example.nl"), ("email", " Eva.de-Wit+news@mail.example.co.uk ",
                                                    "Eva.de-Wit+news@mail.example.co.uk"),
    ("email", "not-an-email", None), ("email", "a@b", None), ("email", "a..b@example.nl", None),
    ("email", "eva@example.nl\u202e", None), ("email", "eva @example.nl", None),
    ("phone", "06-12345678", "+31612345678"), ("phone", "+31 (0)6 1234 5678", "+31612345678"),
    ("phone", "0032 470 12 34 56", "+32470123456"), ("phone", "hello", None), ("phone", "12", None),
    ("phone", "+31 6 123", None),
    ("country", "nl", "NL"), ("country", "BE", "BE"), ("country", "Narnia", None), ("country", "XX", None),
    ("birth_date", date(1980, 2, 3), date(1980, 2, 3)), ("birth_date", date(2090, 1, 1), None),
    ("birth_date", date(1850, 1, 1), None), ("birth_date", date(2026, 12, 8), None),
]


@pytest.mark.parametrize(("name", "value", "expected"), CASES)
def test_one_value_and_a_column_get_the_same_verdict(name: str, value: object, expected: object) -> None:
    try:
        scalar = check_customer_value(name, value, RULES)
    except ValueError:
        scalar = None
    arrow_type = pa.date32() if name == "birth_date" else pa.string()
    column, bad, reasons = customer_column(name, pa.array([value, None], arrow_type), RULES)
    assert scalar == expected and column.to_pylist() == [expected, None]
    assert list(bad) == ([] if expected is not None else [0]) and len(reasons) == len(bad)


def test_status_and_tier_cannot_be_cleared() -> None:
    for name in CUSTOMER_DEFAULTS:
        with pytest.raises(ValueError, match="cannot be cleared"):
            check_customer_value(name, None, RULES)
    assert check_customer_value("email", None, RULES) is None  # other values may be cleared


def test_the_phone_country_code_is_a_setting() -> None:
    settings = Settings.from_env({"CDP_PHONE_COUNTRY_CODE": "+32"})
    assert check_customer_value("phone", "0470 12 34 56", WriteRules.of(settings)) == "+32470123456"
    from cdp.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="CDP_PHONE_COUNTRY_CODE"):
        Settings.from_env({"CDP_PHONE_COUNTRY_CODE": "NL"})


CUSTOMERS_MAPPING = '''[source]
name = "CRM"
[[entity]]
label = "Customer"
key = "id"
[entity.columns]
last_name = "name"
email = "email"
phone = "phone"
birth_date = "born"
country = "country"
tier = "tier"
'''


def test_imports_apply_the_same_rules_and_name_file_row_and_column(cli_store: CliStore, tmp_path: Path) -> None:
    db = cli_store
    with db.open() as store:
        store.write([node_op("Customer", [{"id": "OLD", "last_name": "Old", "tier": "BUSINESS", "status": "CHURNED"}])])
    mapping = write_mapping(tmp_path, CUSTOMERS_MAPPING)
    data = tmp_path / "customers.csv"
    data.write_text(
        "id,name,email,phone,born,country,tier\n"
        "N1,Good, eva@example.nl ,06-12345678,1980-02-03,nl,\n"    # row 2: fine, normalised, defaults
        "N2,Mail,not-an-email,,,,\n"                                # row 3
        "N3,Phone,,hello,,,\n"                                      # row 4
        "N4,Born,,,2090-01-01,,\n"                                  # row 5
        "N5,Land,,,,Narnia,\n"                                      # row 6
        '"N6\nX",Newline,,,,,\n'                                   # row 7 (a quoted newline in the id)
        "N7\u202eX,Override,,,,,\n"                                 # row 9
        "N8,Bi\u202edi,,,,,\n"                                      # row 10
        "OLD,Old again,,,,,\n", encoding="utf-8")                   # row 11: keeps its tier and status
    rejects = tmp_path / "rejects.csv"
    done = run_cdp("import", "--mapping", str(mapping), str(data), "--rejects", str(rejects), db=db)
    assert done.returncode == 3, done.stderr
    assert summary(done.stdout)["Customer"] == (1, 1, 0, 7)
    lines = [(r["file"], r["row"], r["column"], r["reason"]) for r in read_rejects(rejects)]
    assert [line[:3] for line in lines] == [
        (str(data), "3", "email"), (str(data), "4", "phone"), (str(data), "5", "born"), (str(data), "6", "country"),
        (str(data), "7", "id"), (str(data), "8", "id"), (str(data), "9", "name")]
    reasons = [line[3] for line in lines]
    assert reasons[0] == "Customer.email: 'not-an-email' is not an e-mail address (expected name@example.com)"
    assert reasons[1].startswith("Customer.phone: 'hello' is not a phone number")
    assert reasons[2] == "Customer.birth_date: birth date 2090-01-01 is in the future"
    assert reasons[3].startswith("Customer.country: 'Narnia' is not an ISO 3166-1 alpha-2 country code")
    assert "(found U+000A)" in reasons[4] and "(found U+202E)" in reasons[5] and "(found U+202E)" in reasons[6]
    with db.open() as store:
        assert sorted(store.existing_ids("Customer", ["N1", "N2", "N3", "N4", "N5", "N6\nX", "N7\u202eX", "N8",
                                                      "OLD"])) == ["N1", "OLD"]
        rows = store.customers(["N1", "OLD"])
        good, old = rows["N1"], rows["OLD"]
        assert (good["email"], good["phone"], good["country"], good["birth_date"]) == (
            "eva@example.nl", "+31612345678", "NL", date(1980, 2, 3))
        assert (good["status"], good["tier"]) == ("ACTIVE", "CONSUMER")
        assert (old["last_name"], old["status"], old["tier"]) == ("Old again", "CHURNED", "BUSINESS")


def test_an_import_writes_phones_with_the_configured_calling_code(cli_store: CliStore, tmp_path: Path) -> None:
    """``cdp import`` hands the settings' value rules to the conversion: a national number gets
    CDP_PHONE_COUNTRY_CODE, not the default +31 (it once got the default, the rules lost on the way)."""
    db = cli_store
    db.env["CDP_PHONE_COUNTRY_CODE"] = "32"
    mapping = write_mapping(tmp_path, CUSTOMERS_MAPPING)
    data = tmp_path / "customers.csv"
    data.write_text("id,name,email,phone,born,country,tier\nB1,Peeters,,0470 12 34 56,,,\n", encoding="utf-8")
    done = run_cdp("import", "--mapping", str(mapping), str(data), db=db)
    assert done.returncode == 0, done.stderr
    assert summary(done.stdout)["Customer"] == (1, 0, 0, 0)
    with db.open() as store:
        assert store.customers(["B1"])["B1"]["phone"] == "+32470123456"


def test_partner_and_import_refuse_the_same_values(cli_store: CliStore, tmp_path: Path) -> None:
    """The upsert and the import of one bad value each give one error, with the same reason."""
    from tests.conftest import api_client, gql

    values = {"email": "not-an-email", "phone": "hello", "country": "Narnia"}
    store = cli_store.open()
    try:
        with api_client(Settings(), store) as client:
            out = gql(client, """mutation($items: [CustomerInput!]!) { upsertCustomers(source: "CRM", items: $items) {
                errors { path message } } }""", {"items": [{"id": f"P{n}", name: value}
                                                         for n, (name, value) in enumerate(values.items())]})
        api = [e["message"] for e in out["data"]["upsertCustomers"]["errors"]]
    finally:
        store.close()
    mapping = write_mapping(tmp_path, CUSTOMERS_MAPPING)
    data = tmp_path / "same.csv"
    data.write_text("id,name,email,phone,born,country,tier\n"
                    "P0,x,not-an-email,,,,\nP1,x,,hello,,,\nP2,x,,,,Narnia,\n")
    rejects = tmp_path / "same.rejects.csv"
    run_cdp("import", "--mapping", str(mapping), str(data), "--rejects", str(rejects), db=cli_store)
    assert [r["reason"].split(": ", 1)[1] for r in read_rejects(rejects)] == api and len(api) == 3


@pytest.mark.parametrize(("name", "message"), [("CUSTOMER", "reserved"), ("my source!", "1-40 letters")])
def test_an_import_may_not_claim_a_reserved_or_malformed_source(cli_store: CliStore, tmp_path: Path, name: str,
                                                                 message: str) -> None:
    mapping = write_mapping(tmp_path, CUSTOMERS_MAPPING.replace('name = "CRM"', f'name = "{name}"'))
    data = tmp_path / "c.csv"
    data.write_text("id,name,email,phone,born,country,tier\nN1,x,,,,,\n")
    done = run_cdp("import", "--mapping", str(mapping), str(data), db=cli_store)
    assert done.returncode == 2 and f"{mapping}, line 2: source.name" in done.stderr and message in done.stderr


def test_an_import_cannot_set_a_status_only_cdp_sets(cli_store: CliStore, tmp_path: Path) -> None:
    """MERGED and ERASED come only from identity resolution and erasure, as for partner upserts:
    an import's row claiming one is rejected naming file, row and column; the others go in."""
    mapping = write_mapping(tmp_path, CUSTOMERS_MAPPING.replace('tier = "tier"', 'tier = "tier"\nstatus = "state"'))
    data = tmp_path / "statuses.csv"
    data.write_text("id,name,email,phone,born,country,tier,state\n"
                    "S1,Fine,,,,,,CHURNED\n"      # row 2
                    "S2,Merged,,,,,,MERGED\n"     # row 3
                    "S3,Erased,,,,,,ERASED\n")    # row 4
    rejects = tmp_path / "statuses.rejects.csv"
    done = run_cdp("import", "--mapping", str(mapping), str(data), "--rejects", str(rejects), db=cli_store)
    assert done.returncode == 3, done.stderr
    lines = [(r["row"], r["column"], r["reason"]) for r in read_rejects(rejects)]
    assert [line[:2] for line in lines] == [("3", "state"), ("4", "state")]
    assert lines[0][2].startswith("Customer.status: status MERGED is set only by identity resolution")
    assert lines[1][2].startswith("Customer.status: status ERASED is set only by eraseCustomer")
    with cli_store.open() as store:
        assert sorted(store.existing_ids("Customer", ["S1", "S2", "S3"])) == ["S1"]
        assert store.customers(["S1"])["S1"]["status"] == "CHURNED"
