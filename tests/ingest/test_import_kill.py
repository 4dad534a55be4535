"""A ``cdp import`` killed mid-way (SIGKILL) and run again ends with the store a clean import gives.

The real command in a subprocess on a small billing-style file (customers, accounts,
subscriptions, products, provenance of contact data), in batches of 100 rows; the
comparison is ``bench.import_kill.canonical_dump`` (every node and relationship,
``ImportRun`` bookkeeping left out). ``make loadtest`` runs the same at a larger size.
"""

from __future__ import annotations

from pathlib import Path

from bench.import_kill import MAPPING, canonical_dump, differences, generate_customers, run_import, store_counts, \
    write_csv

CUSTOMERS = 1500


def test_import_killed_mid_way_then_run_again_equals_a_clean_import(tmp_path: Path) -> None:
    # Embedded only: this drives bench/import_kill.py (`make loadtest`), whose dumps open two
    # embedded files side by side. The same kill-and-rerun runs on both backends in
    # tests/ingest/test_import.py::test_a_killed_import_leaves_whole_batches_and_a_rerun_converges.
    csv_path, mapping = tmp_path / "billing.csv", tmp_path / "billing.toml"
    rows = write_csv(csv_path, generate_customers(CUSTOMERS, seed=3))
    mapping.write_text(MAPPING)
    a, b = tmp_path / "a.lbdb", tmp_path / "b.lbdb"

    killed = run_import(a, csv_path, mapping, batch_size=100, kill_after=3)
    assert killed["killed"], killed
    partial = store_counts(a)  # the store opens after the kill; committed batches are there, no more
    assert 3 * 100 // 4 <= partial["Customer"] < CUSTOMERS
    assert "ImportRun" not in partial  # an unfinished run is not recorded

    clean = run_import(b, csv_path, mapping, batch_size=100)
    assert clean["exit"] == 0, clean
    expected = canonical_dump(b)
    assert differences(canonical_dump(a), expected), "the killed import should have been cut short"

    again = run_import(a, csv_path, mapping, batch_size=100)
    assert again["exit"] == 0, again
    assert again["batches_committed"] == -(-rows // 100)
    assert differences(canonical_dump(a), expected) == []
    assert store_counts(a)["ImportRun"] == store_counts(b)["ImportRun"] == 1
    assert len(expected["Customer"]) == CUSTOMERS and expected["AttributeValue"] and expected["rel:HOLDS"]
