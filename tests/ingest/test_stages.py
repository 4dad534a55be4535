"""The stages of ``cdp import`` used one by one, as other entry points reuse them: read
(``cdp.ingest.read``), convert (``cdp.ingest.convert``), write (``cdp.ingest.write``), on the
billing example of docs/import.md, through the real store (each backend)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp.errors import InvalidInput
from cdp.ingest.convert import convert_batch
from cdp.ingest.mapping import load_mapping
from cdp.ingest.read import open_source
from cdp.ingest.write import write_batch
from graph.store import GraphStore

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "examples" / "mappings" / "billing.toml"
DATA = ROOT / "examples" / "data" / "billing_accounts.csv"


def test_read_convert_write_one_batch(store: GraphStore) -> None:
    mapping = load_mapping(MAPPING)
    source = open_source(mapping, DATA, batch_size=100)
    try:
        (batch,) = list(source)
    finally:
        source.close()
    assert len(batch.rows) == 8  # the file's data rows, numbered as in the file

    converted = convert_batch(mapping, batch, str(DATA))
    assert converted.rejects == []
    assert not converted.rejected.any()
    assert converted.nodes["Subscription"].num_rows == 8

    first = write_batch(store, mapping, converted)
    assert first.rejects == [] and first.rejected_rows == 0
    assert first.items["Subscription"].created == 8
    assert len(store.nodes("Subscription", converted.nodes["Subscription"]["id"].to_pylist())) == 8

    again = write_batch(store, mapping, converted)  # the same batch again changes nothing
    assert again.items["Subscription"].created == 0
    assert again.items["Subscription"].unchanged == 8


def test_a_bad_value_is_a_reject_of_its_row_not_an_error(tmp_path: Path) -> None:
    mapping = load_mapping(MAPPING)
    lines = DATA.read_text().splitlines()
    header = lines[0].split(";")  # the billing export is Dutch: semicolons, day-month-year dates
    broken = lines[1].split(";")
    date_column = header.index("geopend")  # the account's opening date
    broken[date_column] = "not a date"
    path = tmp_path / "billing.csv"
    path.write_text("\n".join([lines[0], ";".join(broken), *lines[2:]]) + "\n")
    source = open_source(mapping, path, batch_size=100)
    try:
        (batch,) = list(source)
    finally:
        source.close()
    converted = convert_batch(mapping, batch, str(path))
    assert [r.row for r in converted.rejects] == [2]  # the file's second line, its first data row
    assert converted.rejects[0].column == header[date_column]
    assert int(converted.rejected.sum()) == 1


def test_a_file_of_another_format_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "billing.xlsx"
    path.write_bytes(b"PK\x03\x04 not a csv")
    with pytest.raises(InvalidInput, match="billing.xlsx"):
        open_source(load_mapping(MAPPING), path).close()
