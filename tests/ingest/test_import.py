"""``cdp import``: the mapping format, row validation, and the real command end to end.

End-to-end cases run the real ``cdp`` executable as a subprocess against a
fresh store of each backend (``cli_store``: an embedded file in ``tmp_path``, or the
wiped Neo4j test server) and then open that store to check what landed. The kill test SIGKILLs a running import after its first batches and
checks the store is consistent, then that re-running converges to the state
of one clean run.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cdp.errors import InvalidInput
from cdp.ingest.run import import_file, import_rows
from cdp.ingest.mapping import Conversion, load_mapping, parse_mapping
from graph.model import MODEL
from graph.store import GraphStore, node_op, relationship_op
from tests.conftest import CliStore, make_store

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CDP = [sys.executable, "-m", "cdp.cli"]


def run_cdp(*args: str, db: CliStore, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real ``cdp`` on the store ``db``; return the finished process."""
    env = {**os.environ, **db.env}
    return subprocess.run([*CDP, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def summary(stdout: str) -> dict[str, tuple[int, int, int, int]]:
    """The per-entity table of an import summary: name -> (created, updated, unchanged, rejected)."""
    out = {}
    for line in stdout.splitlines()[2:]:
        name, *numbers = line.split()
        out[name] = tuple(int(n.replace(",", "")) for n in numbers)
    return out


def read_rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def snapshot(store: GraphStore) -> dict[str, list[dict]]:
    """Every node and relationship of the store (import run records excluded), sorted."""
    out = {}
    for node in MODEL.nodes:
        if node.label != "ImportRun":
            out[node.label] = store.export_nodes(node.label).to_pylist()
    for rel in MODEL.relationships:
        rows = store.export_relationships(rel.type).to_pylist()
        out[rel.type] = sorted(rows, key=lambda r: (r["from"], r["to"]))
    return out


def write_mapping(tmp_path: Path, text: str, name: str = "mapping.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- the three worked examples

def test_the_three_examples_import_and_link_up(cli_store: CliStore) -> None:
    db = cli_store
    billing = run_cdp("import", "--mapping", "examples/mappings/billing.toml", "examples/data/billing_accounts.csv",
                      db=db)
    assert billing.returncode == 0, billing.stderr
    assert "8 rows read, 8 imported, 0 rejected" in billing.stdout
    assert summary(billing.stdout)["Subscription"] == (8, 0, 0, 0)
    crm = run_cdp("import", "--mapping", "examples/mappings/crm.toml", "examples/data/crm_customers.jsonl", db=db)
    assert crm.returncode == 0, crm.stderr
    assert summary(crm.stdout)["Customer"] == (1, 5, 0, 0)  # C1006 is a CRM-only prospect
    desk = run_cdp("import", "--mapping", "examples/mappings/service_desk.toml",
                   "examples/data/service_desk_tickets.parquet", db=db)
    assert desk.returncode == 0, desk.stderr
    assert summary(desk.stdout)["HAD_CONTACT"] == (6, 0, 0, 0)
    assert "Traceback" not in billing.stderr + crm.stderr + desk.stderr

    with db.open() as store:
        customers = store.nodes("Customer", ["C1001", "C1002", "C1003", "C1006"])
        # Billing: codes mapped to the vocabulary, dd-mm-yyyy dates.
        assert customers["C1003"]["company_name"] == "Bakkerij Jansen BV"
        assert customers["C1003"]["tier"] == "BUSINESS" and customers["C1003"]["joined_on"] == date(2017, 2, 1)
        # CRM: nested fields, lower/upper, defaults, offsets converted to naive UTC.
        assert (customers["C1001"]["first_name"], customers["C1001"]["last_name"]) == ("Anna", "de Vries")
        assert customers["C1001"]["email"] == "anna.devries@example.nl"
        assert customers["C1001"]["postal_code"] == "3511 AB" and customers["C1001"]["country"] == "NL"
        assert customers["C1001"]["updated_at"] == datetime(2026, 1, 15, 8, 30)
        assert customers["C1002"]["country"] == "NL" and customers["C1002"]["language"] == "nl"
        assert customers["C1003"]["gender"] == "UNKNOWN" and customers["C1003"]["birth_date"] is None
        # A new customer whose tier no source gave gets the documented default (cdp.customers.write_rules).
        assert customers["C1006"]["status"] == "PROSPECT" and customers["C1006"]["tier"] == "CONSUMER"
        accounts = store.nodes("Account", ["A2001", "A2005"])
        assert accounts["A2001"]["type"] == "POSTPAID" and accounts["A2001"]["contract_type"] == "MONTHS_24"
        assert accounts["A2001"]["contract_end"] == date(2027, 3, 12)
        assert accounts["A2005"]["status"] == "SUSPENDED" and accounts["A2005"]["contract_end"] is None
        subs = store.nodes("Subscription", ["BIL-30001", "BIL-30002"])
        assert subs["BIL-30001"]["monthly_fee"] == 25.0 and subs["BIL-30001"]["discount"] == 0.1  # "0,10"
        assert subs["BIL-30002"]["monthly_fee"] == 49.95 and subs["BIL-30002"]["discount"] == 0.0  # default
        view = store.subscriptions_of_accounts(["A2001"])["A2001"]
        assert [(s["id"], s["product_id"]) for s in view] == [("BIL-30001", "MOB-10GB"), ("BIL-30002", "INT-500")]
        assert [a["id"] for a in store.accounts_of_customers(["C1004"])["C1004"]] == ["A2004", "A2005"]
        # Service desk: typed Parquet columns, key prefix, a property with a default and no column.
        contacts = store.contacts_of_customers(["C1001"])["C1001"]
        assert [(c["id"], c["channel_id"]) for c in contacts] == [("SD-T-5002", "APP"), ("SD-T-5001", "CALL_CENTRE")]
        first = contacts[1]
        assert first["at"] == datetime(2026, 1, 5, 8, 12) and first["resolved_at"] == datetime(2026, 1, 5, 8, 40)
        assert (first["kind"], first["outcome"], first["direction"], first["satisfaction"]) == (
            "SERVICE_REQUEST", "RESOLVED", "INBOUND", 4)
        assert contacts[0]["satisfaction"] is None and contacts[0]["resolved_at"] is None
        runs = store.export_nodes("ImportRun").to_pylist()
        assert sorted((r["source"], r["read"], r["rejected"]) for r in runs) == [
            ("BILLING", 8, 0), ("CRM", 6, 0), ("SERVICE_DESK", 6, 0)]


def test_importing_the_same_file_twice_changes_nothing(cli_store: CliStore) -> None:
    db = cli_store
    args = ("import", "--mapping", "examples/mappings/billing.toml", "examples/data/billing_accounts.csv")
    first = run_cdp(*args, db=db)
    assert first.returncode == 0, first.stderr
    with db.open() as store:
        before = snapshot(store)
    again = run_cdp(*args, db=db)
    assert again.returncode == 0, again.stderr
    table = summary(again.stdout)
    assert all(created == 0 and updated == 0 for created, updated, _, _ in table.values())
    assert table == {"Customer": (0, 0, 5, 0), "Account": (0, 0, 6, 0), "Product": (0, 0, 4, 0),
                     "Subscription": (0, 0, 8, 0), "HOLDS": (0, 0, 6, 0), "HAS_SUBSCRIPTION": (0, 0, 8, 0),
                     "OF_PRODUCT": (0, 0, 8, 0)}
    with db.open() as store:
        assert snapshot(store) == before


def test_only_changed_rows_are_written(store: GraphStore, tmp_path: Path) -> None:
    mapping = load_mapping(EXAMPLES / "mappings" / "billing.toml")
    data = EXAMPLES / "data" / "billing_accounts.csv"
    import_file(store, mapping, data)
    changed = tmp_path / "billing_accounts.csv"
    changed.write_text(data.read_text().replace("30003;ACTIEF", "30003;OPGESCHORT"))
    report = import_file(store, mapping, changed)
    assert (report.items["Subscription"].created, report.items["Subscription"].updated,
            report.items["Subscription"].unchanged) == (0, 1, 7)
    assert report.created == 0 and report.updated == 1
    assert store.nodes("Subscription", ["BIL-30003"])["BIL-30003"]["status"] == "SUSPENDED"


# --------------------------------------------------------------------------- rejects

ACCOUNTS_MAPPING = """
[source]
name = "BILLING"

[[entity]]
label = "Account"
key = "account"
[entity.columns]
opened_on = { column = "opened", format = "%d-%m-%Y" }
type = { column = "kind", values = { POST = "POSTPAID", PRE = "PREPAID" } }

[[relationship]]
type = "HOLDS"
from = { label = "Customer", key = "customer" }
to = "Account"
"""


def test_bad_rows_go_to_the_rejects_file_and_the_rest_is_imported(cli_store: CliStore, tmp_path: Path) -> None:
    db = cli_store
    with db.open() as store:
        store.write([node_op("Customer", [{"id": "C1"}, {"id": "C2"}])])
    mapping = write_mapping(tmp_path, ACCOUNTS_MAPPING)
    data = tmp_path / "accounts.csv"
    data.write_text(
        "account,opened,kind,customer\n"
        "A1,01-02-2020,POST,C1\n"       # row 2: fine
        "A2,31-02-2020,POST,C1\n"       # row 3: no 31 February
        "A3,01-02-2020,GOLD,C2\n"       # row 4: not in the value map or vocabulary
        ",01-02-2020,PRE,C2\n"          # row 5: no key
        "A5,01-02-2020,PRE,C404\n"      # row 6: customer C404 does not exist
        "A6,01-02-2020,pre,C2\n")       # row 7: fine (values match ignoring case)
    rejects = tmp_path / "rejects.csv"
    done = run_cdp("import", "--mapping", str(mapping), str(data), "--rejects", str(rejects), db=db)
    assert done.returncode == 3, done.stderr
    assert "6 rows read, 2 imported, 4 rejected" in done.stdout
    assert f"4 rows rejected; see {rejects}" in done.stderr and "Traceback" not in done.stderr
    assert summary(done.stdout) == {"Account": (2, 0, 0, 3), "HOLDS": (2, 0, 0, 1)}
    lines = read_rejects(rejects)
    assert [(r["file"], r["row"], r["column"], r["value"]) for r in lines] == [
        (str(data), "3", "opened", "31-02-2020"),
        (str(data), "4", "kind", "GOLD"),
        (str(data), "5", "account", ""),
        (str(data), "6", "customer", "C404"),
    ]
    reasons = [r["reason"] for r in lines]
    assert reasons[0] == "Account.opened_on: not a date in format %d-%m-%Y"
    assert reasons[1].startswith("Account.type: unknown value (expected one of POST, PRE, POSTPAID")
    assert reasons[2] == "key is empty"
    assert reasons[3] == "HOLDS from: no Customer 'C404' in the store or in this batch"
    with db.open() as store:
        # A rejected row writes nothing, not even its valid parts (A5's account).
        assert sorted(store.nodes("Account", ["A1", "A2", "A3", "A5", "A6"])) == ["A1", "A6"]
        assert store.nodes("Account", ["A6"])["A6"]["type"] == "PREPAID"
        assert {k: [a["id"] for a in v] for k, v in store.accounts_of_customers(["C1", "C2"]).items()} == {
            "C1": ["A1"], "C2": ["A6"]}
        run = store.export_nodes("ImportRun").to_pylist()[0]
        assert (run["read"], run["rejected"], run["rejects_file"]) == (6, 4, str(rejects))


def test_an_endpoint_created_only_by_a_rejected_row_rejects_its_dependants(store: GraphStore,
                                                                           tmp_path: Path) -> None:
    mapping = parse_mapping("""
[source]
name = "CRM"
[[entity]]
label = "Customer"
key = "id"
[entity.columns]
joined_on = "joined"
[[relationship]]
type = "PREFERS"
from = { label = "Customer", key = "referrer" }
to = { label = "Channel", key = "channel" }
""")
    store.write([node_op("Channel", [{"id": "SMS"}])])
    rows = [
        {"id": "X", "joined": "yesterday", "referrer": "X", "channel": "SMS"},  # bad date: rejected
        {"id": "Y", "joined": "2020-01-01", "referrer": "X", "channel": "SMS"},  # X is not created
        {"id": "Z", "joined": "2020-01-01", "referrer": "Y", "channel": "SMS"},  # so Y is not either
        {"id": "W", "joined": "2020-01-01", "referrer": "W", "channel": "SMS"},  # its own row creates W
    ]
    report, rejects = import_rows(store, mapping, rows)
    assert [(r.row, r.column) for r in rejects] == [(1, "joined"), (2, "referrer"), (3, "referrer")]
    assert (report.read, report.rejected, report.imported) == (4, 3, 1)
    assert list(store.nodes("Customer", ["X", "Y", "Z", "W"])) == ["W"]
    assert store.preferred_channels(["W"])["W"][0]["channel_id"] == "SMS"


def test_malformed_lines_and_blank_lines_keep_row_numbers_exact(store: GraphStore, tmp_path: Path) -> None:
    mapping = parse_mapping('[source]\nname = "X"\n[[entity]]\nlabel = "Customer"\nkey = "id"\n'
                            '[entity.columns]\ncity = "city"\n')
    data = tmp_path / "c.csv"
    data.write_text("id,city\nC1,Delft\n\nC2,Gouda,extra\nC3,Ede\n,Breda\n")
    rejects = tmp_path / "r.csv"
    report = import_file(store, mapping, data, rejects_path=rejects)
    assert [(r["row"], r["column"], r["reason"]) for r in read_rejects(rejects)] == [
        ("4", "", "malformed line: wrong number of fields"), ("6", "id", "key is empty")]
    assert (report.read, report.rejected) == (4, 2)  # the blank line is not a row
    assert sorted(store.nodes("Customer", ["C1", "C2", "C3"])) == ["C1", "C3"]

    lines = tmp_path / "c.jsonl"
    lines.write_text('{"id": "J1", "city": "Delft"}\n\n{"id": "J2", city}\n["J3"]\n{"id": "J4", "city": 7}\n')
    report = import_file(store, mapping, lines, rejects_path=rejects)
    assert [(r["row"], r["reason"]) for r in read_rejects(rejects)] == [
        ("3", "not valid JSON: Expecting property name enclosed in double quotes"), ("4", "not a JSON object")]
    assert store.nodes("Customer", ["J4"])["J4"]["city"] == "7"


# --------------------------------------------------------------------------- bad mapping files and data files

BASE = '[source]\nname = "BILLING"\n\n[[entity]]\nlabel = "Customer"\nkey = "id"\n[entity.columns]\n'


@pytest.mark.parametrize(("text", "line", "message"), [
    (BASE + 'city = "plaats"\ncolour = "kleur"\n', 9, "unknown key 'colour' in Customer columns"),
    (BASE.replace("Customer", "Klant") + 'city = "plaats"\n', 5, "unknown entity 'Klant'"),
    (BASE + 'joined_on = { column = "sinds", convert = "datum" }\n', 8, "unknown conversion 'datum'"),
    (BASE + 'joined_on = { column = "sinds", convert = "int" }\n', 8, "joined_on is DATE; conversion 'int'"),
    (BASE + 'tier = { column = "seg", values = { GOLD = "PLATINUM" } }\n', 8,
     "GOLD = 'PLATINUM' is not in the vocabulary (KEY_ACCOUNT, BUSINESS, CONSUMER)"),
    (BASE + 'city = "plaats"\nid = "klantnr"\n', 9, "Customer.id is the node key"),
    (BASE + 'joined_on = { column = "sinds", format = "%d-%m-%Y", timezone = "Europe/Utrecht" }\n', 8,
     "'timezone' applies to timestamp conversions"),
    (BASE + 'city = "plaats"\n\n[[relationship]]\ntype = "HOLDS"\nfrom = "Account"\nto = "Customer"\n', 12,
     "HOLDS goes from Customer to Account; 'from' names 'Account'"),
    (BASE + 'city = "plaats"\n\n[[relationship]]\ntype = "OWNS"\nfrom = "Customer"\nto = "Account"\n', 11,
     "unknown relationship 'OWNS'"),
    (BASE.replace('name = "BILLING"', 'name = "BILLING"\ntrust = 1.5') + 'city = "c"\n', 3,
     "source.trust must be a number from 0 to 1"),
    (BASE + 'city = "plaats\n', 8, "not valid TOML: Illegal character"),
])
def test_mapping_errors_name_the_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write_mapping(tmp_path, text)
    with pytest.raises(InvalidInput) as err:
        load_mapping(path)
    assert str(err.value).startswith(f"{path}, line {line}: ") or f"{path}: not valid TOML" in str(err.value)
    assert message in str(err.value)
    if "TOML" in message:
        assert f"line {line}" in str(err.value)


def test_cli_refuses_a_bad_mapping_or_file_with_exit_2_and_no_traceback(cli_store: CliStore, tmp_path: Path) -> None:
    db = cli_store
    bad = write_mapping(tmp_path, BASE + 'city = "plaats"\nbirth_date = { column = "geboren", convert = "dat" }\n')
    done = run_cdp("import", "--mapping", str(bad), "examples/data/billing_accounts.csv", db=db)
    assert done.returncode == 2
    assert f"cdp: error: {bad}, line 9: Customer.birth_date: unknown conversion 'dat'" in done.stderr
    assert "Traceback" not in done.stderr

    # A column the data file lacks: named with the mapping line, before anything is written.
    missing = write_mapping(tmp_path, BASE + 'city = "plaats"\n', "missing.toml")
    done = run_cdp("import", "--mapping", str(missing), "examples/data/billing_accounts.csv", db=db)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (f"{missing}, line 6: Customer key reads column 'id', which examples/data/billing_accounts.csv "
            "does not have (also missing: plaats)") in done.stderr

    nowhere = run_cdp("import", "--mapping", "examples/mappings/billing.toml", str(tmp_path / "nope.csv"), db=db)
    assert nowhere.returncode == 2 and "nope.csv: no such file" in nowhere.stderr
    if db.backend == "ladybug":
        assert not db.path.exists()  # nothing was opened, let alone written
    else:
        with db.open() as store:
            assert store.is_empty() and store.export_nodes("ImportRun").num_rows == 0  # nothing written

    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    done = run_cdp("import", "--mapping", "examples/mappings/service_desk.toml", str(garbage), db=db)
    assert done.returncode == 2 and "cannot read it as parquet" in done.stderr and "Traceback" not in done.stderr


# --------------------------------------------------------------------------- conversions

@pytest.mark.parametrize(("conversion", "text", "expected"), [
    (Conversion("string"), "  Utrecht ", "Utrecht"),
    (Conversion("string"), "   ", None),
    (Conversion("upper"), "nl", "NL"),
    (Conversion("int"), "+42", 42),
    (Conversion("int", thousands="."), "1.000.000", 1_000_000),
    (Conversion("float"), "49,95", 49.95),
    (Conversion("float"), "1e3", 1000.0),
    (Conversion("float", thousands="."), "1.234,5", 1234.5),
    (Conversion("bool"), "Ja".replace("Ja", "Yes"), True),
    (Conversion("bool", true_values=("ja",), false_values=("nee",)), "NEE", False),
    (Conversion("date"), "2024-02-29", date(2024, 2, 29)),
    (Conversion("date", format="%d/%m/%Y"), "01/02/2024", date(2024, 2, 1)),
    (Conversion("timestamp"), "2026-01-15T09:30:00+01:00", datetime(2026, 1, 15, 8, 30)),
    (Conversion("timestamp"), "2026-01-15T09:30:00Z", datetime(2026, 1, 15, 9, 30)),
    (Conversion("timestamp", timezone="Europe/Amsterdam"), "2026-07-01T12:00", datetime(2026, 7, 1, 10, 0)),
    (Conversion("timestamp", format="%d-%m-%Y %H:%M", timezone="Europe/Amsterdam"), "20-01-2026 06:00",
     datetime(2026, 1, 20, 5, 0)),
    (Conversion("enum", values={"GOLD": "KEY_ACCOUNT"}, vocabulary=("KEY_ACCOUNT", "CONSUMER")), "gold",
     "KEY_ACCOUNT"),
    (Conversion("enum", values={"GOLD": "KEY_ACCOUNT"}, vocabulary=("KEY_ACCOUNT", "CONSUMER")), "consumer",
     "CONSUMER"),
])
def test_conversions(conversion: Conversion, text: str, expected: object) -> None:
    assert conversion.parse(text) == expected


@pytest.mark.parametrize(("conversion", "text", "reason"), [
    (Conversion("int"), "12.5", "not a whole number"),
    (Conversion("int"), "99999999999999999999", "whole number out of range"),
    (Conversion("float"), "1.234,5", "ambiguous number"),
    (Conversion("float"), "nan", "not a number"),
    (Conversion("bool"), "maybe", "not a yes/no value"),
    (Conversion("date"), "2023-02-29", "not a date in format YYYY-MM-DD"),
    (Conversion("timestamp", format="%d-%m-%Y %H:%M"), "20-01-2026", "not a date-time in format %d-%m-%Y %H:%M"),
    (Conversion("upper", vocabulary=("ACTIVE",)), "gone", "not one of ACTIVE"),
    (Conversion("enum", values={"A": "ACTIVE"}, vocabulary=("ACTIVE",)), "B", "unknown value"),
])
def test_conversion_errors_say_why(conversion: Conversion, text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        conversion.parse(text)


def test_typed_parquet_columns_and_vectorised_text_give_the_same_values(store: GraphStore, tmp_path: Path) -> None:
    mapping = parse_mapping('[source]\nname = "X"\n[[entity]]\nlabel = "Contact"\nkey = "id"\n[entity.columns]\n'
                            'at = "at"\nsatisfaction = "score"\n')
    typed = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": ["K1", "K2"], "at": pa.array([datetime(2026, 1, 1, 8), None], pa.timestamp("ms")),
                             "score": pa.array([3, None], pa.int32())}), typed)
    text = tmp_path / "t.csv"
    text.write_text("id,at,score\nK3,2026-01-01T08:00:00,3\nK4,,\n")
    import_file(store, mapping, typed)
    import_file(store, mapping, text)
    rows = store.nodes("Contact", ["K1", "K2", "K3", "K4"])
    assert [(rows[k]["at"], rows[k]["satisfaction"]) for k in ("K1", "K2", "K3", "K4")] == [
        (datetime(2026, 1, 1, 8), 3), (None, None), (datetime(2026, 1, 1, 8), 3), (None, None)]


# --------------------------------------------------------------------------- crash and re-run

KILL_MAPPING = """
[source]
name = "BILLING"

[[entity]]
label = "Customer"
key = "customer"
[entity.columns]
city = "city"
joined_on = "joined"

[[entity]]
label = "Account"
key = "account"
[entity.columns]
status = "status"

[[relationship]]
type = "HOLDS"
from = "Customer"
to = "Account"
"""


def test_a_killed_import_leaves_whole_batches_and_a_rerun_converges(cli_store: CliStore, tmp_path: Path) -> None:
    # Whole batches and convergence do not depend on the size; Neo4j imports (three runs
    # here) are several times slower than the embedded store's, so it gets a third.
    rows, batch = (30_000, 2_500) if cli_store.backend == "ladybug" else (10_000, 1_000)
    data = tmp_path / "big.csv"
    with data.open("w") as f:
        f.write("customer,account,city,joined,status\n")
        for i in range(rows):
            f.write(f"C{i:06d},A{i:06d},City {i % 97},20{i % 25:02d}-0{1 + i % 9}-1{i % 10},"
                    f"{('ACTIVE', 'SUSPENDED', 'CLOSED')[i % 3]}\n")
    mapping = write_mapping(tmp_path, KILL_MAPPING)
    args = ["import", "--mapping", str(mapping), str(data), "--batch-size", str(batch)]
    killed_db = cli_store
    env = {**os.environ, **killed_db.env}
    proc = subprocess.Popen([*CDP, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        written = 0
        for line in proc.stderr:  # one line per committed batch (stderr is not a terminal)
            if "written" in line:
                written += 1
                if written == 2:
                    proc.send_signal(signal.SIGKILL)
                    break
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    with killed_db.open() as store:
        counts = store.counts()
    # Whole batches only: every customer has its account and HOLDS, in multiples of the batch size.
    assert counts["Customer"] == counts["Account"] == counts["HOLDS"]
    assert counts["Customer"] % batch == 0 and 2 * batch <= counts["Customer"] < rows

    rerun = run_cdp(*args, db=killed_db)
    assert rerun.returncode == 0, rerun.stderr
    table = summary(rerun.stdout)
    assert table["Customer"][0] == rows - counts["Customer"] and table["Customer"][2] == counts["Customer"]
    with killed_db.open() as a:
        converged = snapshot(a)
    (tmp_path / "clean").mkdir()
    clean_db = CliStore(cli_store.backend, tmp_path / "clean")  # Neo4j: the test server, wiped again
    clean = run_cdp(*args, db=clean_db)
    assert clean.returncode == 0, clean.stderr
    with clean_db.open() as b:
        reference = snapshot(b)
    assert len(reference["Customer"]) == rows and len(reference["HOLDS"]) == rows
    assert converged == reference


def test_a_big_write_mixing_new_and_existing_rows_writes_each_row_to_its_own_node(store: GraphStore) -> None:
    """New rows of a big batch take the store's bulk path (COPY on LadybugDB), which must not
    mix with the CREATE/MERGE of the same table in the same transaction."""
    from graph.ladybug_store import COPY_MIN_ROWS

    n = 2 * COPY_MIN_ROWS + 1_000  # half new: above the COPY threshold
    store.write([node_op("Customer", [{"id": f"C{i:05d}", "city": "old"} for i in range(0, n, 2)])])
    customers = [{"id": f"C{i:05d}", "city": f"city {i}"} for i in range(n)]  # half new, half existing
    identities = [{"id": f"X:C{i:05d}", "source": "X"} for i in range(n)]
    result = store.write([
        node_op("Customer", customers),
        node_op("Identity", identities[: n // 2]),
        node_op("Identity", identities[n // 2:] + [{"id": "X:C00000", "source": "Y"}]),  # same table again
        relationship_op("HAS_IDENTITY", [{"from": f"C{i:05d}", "to": f"X:C{i:05d}"} for i in range(n)]),
    ])
    assert result.created == {"Customer": n // 2, "Identity": n, "HAS_IDENTITY": n}
    assert result.updated == {"Customer": n // 2, "Identity": 1, "HAS_IDENTITY": 0}
    stored = store.nodes("Customer", [c["id"] for c in customers])
    assert {i: r["city"] for i, r in stored.items()} == {c["id"]: c["city"] for c in customers}
    sources = store.nodes("Identity", [i["id"] for i in identities])
    assert len(sources) == n and sources["X:C00000"]["source"] == "Y"
    assert all(r["source"] == "X" for i, r in sources.items() if i != "X:C00000")
    links = store.relationships("HAS_IDENTITY", [c["id"] for c in customers])
    assert set(links) == {(f"C{i:05d}", f"X:C{i:05d}") for i in range(n)}


def test_a_batch_read_in_chunks_writes_what_one_read_writes(backend: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A CSV batch larger than ``CHUNK_ROWS`` is read and converted in chunks (the next
    chunk is read while this one is converted) and written as one transaction: the store,
    the counts and the rejects (a malformed line, a bad value, with their row numbers) are
    those of reading the batch at once."""
    import cdp.ingest.run as ingest

    mapping = load_mapping(EXAMPLES / "mappings" / "billing.toml")
    lines = (EXAMPLES / "data" / "billing_accounts.csv").read_text().splitlines()
    fields = lines[1].split(";")
    broken = ";".join(fields[:3])  # too few fields
    data = tmp_path / "billing.csv"
    data.write_text("\n".join([lines[0], *lines[1:4], broken, *lines[4:], lines[2].replace(fields[0], "C7777", 1)
                               .replace(fields[-1], "not a number", 1)]) + "\n")
    outcomes = []
    for name, chunk in (("whole", 10_000), ("chunked", 2)):
        monkeypatch.setattr(ingest, "CHUNK_ROWS", chunk)
        assert ingest._chunk_rows(6) == (6 if chunk > 6 else 2)
        (tmp_path / name).mkdir()
        with make_store(backend, tmp_path / name) as store:  # Neo4j: the test server, wiped again
            report = import_file(store, mapping, data, batch_size=6, rejects_path=tmp_path / f"{name}.csv")
            outcomes.append((report.batches, report.read, report.rejected,
                             {k: (c.created, c.updated, c.unchanged, c.rejected) for k, c in report.items.items()},
                             read_rejects(tmp_path / f"{name}.csv"), snapshot(store)))
    assert outcomes[0] == outcomes[1]
    batches, read, rejected, _, rejects, stored = outcomes[1]
    assert (batches, read) == (2, 10) and rejected >= 1 and any(r["row"] == "5" for r in rejects)
    assert len(stored["Customer"]) > 0


def test_progress_is_reported_before_and_after_each_batch_is_written(store: GraphStore, tmp_path: Path) -> None:
    """A big batch takes a while to write, so progress says when one starts (``writing``:
    its rows) and again when it is committed (``writing`` back to 0, counts updated)."""
    mapping = parse_mapping('[source]\nname = "X"\n[[entity]]\nlabel = "Customer"\nkey = "id"\n'
                            '[entity.columns]\ncity = "city"\n')
    data = tmp_path / "c.csv"
    data.write_text("id,city\n" + "".join(f"C{i},Delft\n" for i in range(5)))
    seen: list[tuple[int, int, int, int]] = []
    import_file(store, mapping, data, batch_size=2,
                progress=lambda r: seen.append((r.writing, r.batches, r.read, r.created)))
    assert seen == [(0, 0, 0, 0), (2, 0, 0, 0), (0, 1, 2, 2), (2, 1, 2, 2), (0, 2, 4, 4), (1, 2, 4, 4), (0, 3, 5, 5)]


def test_the_last_row_of_a_customer_in_a_batch_wins(store: GraphStore, tmp_path: Path) -> None:
    """A file naming a customer twice in one batch keeps its last row, also when another
    row of the batch is rejected after the batch was read (here: an erased customer's)."""
    from cdp.privacy.erasure import erase

    mapping = parse_mapping('[source]\nname = "X"\n[[entity]]\nlabel = "Customer"\nkey = "id"\n'
                            '[entity.columns]\ncity = "city"\n')
    store.upsert_nodes("Customer", [{"id": "C9", "city": "Breda"}])
    erase(store, "C9", datetime(2026, 1, 1))
    data = tmp_path / "c.csv"
    data.write_text("id,city\nC1,Delft\nC1,Gouda\nC9,Ede\nC2,Zwolle\nC2,Assen\n")
    report = import_file(store, mapping, data, rejects_path=tmp_path / "r.csv")
    assert (report.read, report.rejected, report.items["Customer"].created) == (5, 1, 2)
    stored = store.nodes("Customer", ["C1", "C2", "C9"])
    assert (stored["C1"]["city"], stored["C2"]["city"], stored["C9"]["city"]) == ("Gouda", "Assen", "Breda")
    values = store.attribute_values_of_customers(["C1"])["C1"]
    assert [(v["key"], v["value"]) for v in values if v["key"] == "city"] == [("city", "Gouda")]
