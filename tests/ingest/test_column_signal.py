"""The import report names signal a mapping lost (issue 20 item 3): a property given only a
default, a column with one value, payment methods collapsing onto the model's vocabulary,
columns of the file never read. Through the real `cdp import` command and ``import_file``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import cdp

MAPPING = """
[source]
name = "TELCO"
observed_at = "2026-01-01T00:00:00Z"

[[entity]]
label = "Customer"
key = "customer_id"
[entity.columns]
first_name = "customer_id"
country = "country"

[[entity]]
label = "Account"
key = "account_id"
[entity.columns]
type = { default = "POSTPAID" }
status = { default = "ACTIVE" }
contract_type = { default = "NO_CONTRACT" }
closed_on = { column = "closed", convert = "date" }
payment_method = { column = "payment", values = { "bank transfer (automatic)" = "DIRECT_DEBIT", "credit card (automatic)" = "DIRECT_DEBIT", "electronic check" = "INVOICE", "mailed check" = "INVOICE" } }

[[relationship]]
type = "HOLDS"
from = "Customer"
to = "Account"
"""

PAYMENTS = ("Bank transfer (automatic)", "Credit card (automatic)", "Electronic check", "Mailed check")


def _files(tmp_path: Path) -> tuple[Path, Path]:
    mapping = tmp_path / "telco.toml"
    mapping.write_text(MAPPING)
    rows = ["customer_id,account_id,country,payment,gender,tenure,closed"]
    rows += [f"T{i:03d},A{i:03d},NL,{PAYMENTS[i % 4]},{'F' if i % 2 else 'M'},{i},{'2025-01-01' if i % 5 else ''}"
             for i in range(40)]
    data = tmp_path / "telco.csv"
    data.write_text("\n".join(rows) + "\n")
    return mapping, data


def test_import_names_constant_collapsed_and_unused_columns(tmp_path: Path) -> None:
    mapping, data = _files(tmp_path)
    done = cdp("import", "--mapping", str(mapping), str(data), env={"CDP_DB_PATH": str(tmp_path / "s.lbdb")})
    assert done.returncode == 0, done.stderr
    signal = [line for line in done.stderr.splitlines() if line.startswith("cdp: signal: ")]
    text = "\n".join(signal)
    assert "Account.contract_type is constant: no column, the default 'NO_CONTRACT'" in text, done.stderr
    assert "Customer.country is constant: column 'country' gave one value 'NL' on all 40 rows" in text
    assert "Account.payment_method collapsed: column 'payment' had 4 values, the model keeps 2" in text
    assert "'BANK TRANSFER (AUTOMATIC)', 'CREDIT CARD (AUTOMATIC)' -> 'DIRECT_DEBIT'" in text
    assert "columns not mapped (their signal is not imported): gender, tenure" in text
    assert not any("first_name" in line for line in signal)  # 40 distinct values: nothing lost
    assert not any("closed_on" in line for line in signal)   # one date on some rows, none on others: signal


def test_import_report_carries_the_findings(tmp_path: Path) -> None:
    from cdp.ingest.run import import_file
    from cdp.ingest.mapping import load_mapping
    from graph.ladybug_store import LadybugStore

    mapping, data = _files(tmp_path)
    store = LadybugStore(tmp_path / "r.lbdb", buffer_pool_mb=64)
    try:
        report = import_file(store, load_mapping(mapping), data)
    finally:
        store.close()
    as_dict = json.loads(json.dumps(report.as_dict(), default=str))
    assert as_dict["signal"] == report.signal
    named = {line.split(" ", 1)[0] for line in report.signal}
    assert named == {"Customer.country", "Account.type", "Account.status", "Account.contract_type",
                     "Account.payment_method", "columns"}, report.signal
    assert report.imported == 40


def test_findings_are_kept_per_import_run_and_read_back_for_the_model_cards(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Each run keeps its findings on its ImportRun node; ``stored_findings`` gives those of the
    latest run of each source and mapping (what the model cards carry), on both backends."""
    from cdp.ingest.column_signal import stored_findings
    from cdp.ingest.run import import_file
    from cdp.ingest.mapping import load_mapping

    assert stored_findings(store) == []
    mapping, data = _files(tmp_path)
    first = import_file(store, load_mapping(mapping), data)
    found = stored_findings(store)
    assert len(found) == len(first.signal) and first.signal, found
    prefix = f"TELCO ({mapping}, imported "
    assert all(f.startswith(prefix) for f in found), found
    assert any(f.endswith("columns not mapped (their signal is not imported): gender, tenure") for f in found)
    # A later run of the same source and mapping that reads every column replaces the findings.
    rows = data.read_text().splitlines()
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("\n".join(",".join(r.split(",")[i] for i in (0, 1, 2, 3, 6)) for r in rows) + "\n")
    second = import_file(store, load_mapping(mapping), narrow)
    again = stored_findings(store)
    assert len(again) == len(second.signal) and not any("not mapped" in f for f in again), again
    assert any("Account.contract_type is constant" in f for f in again)
