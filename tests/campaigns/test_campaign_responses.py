"""Reading campaign responses from a file (``cdp.campaigns.campaign_responses``): CSV and JSON Lines
become typed responses; a bad file, header or value is refused naming the file, row and column."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from cdp.campaigns.campaign_responses import read
from cdp.campaigns.campaigns import ResponseInput
from cdp.errors import InvalidInput

NOW = datetime(2024, 6, 1, 12, 0)


def test_a_csv_becomes_responses_with_times_in_naive_utc(tmp_path: Path) -> None:
    path = tmp_path / "responses.csv"
    path.write_text("customer_id,response,at,revenue,wave\n"
                    "C1,converted,2024-05-01T10:00:00+02:00,49.5,2\n"
                    " C2 ,OPENED,,,\n", encoding="utf-8")
    assert read(path, NOW) == [
        ResponseInput(customer_id="C1", kind="CONVERTED", at=datetime(2024, 5, 1, 8, 0), revenue=49.5, wave=2),
        ResponseInput(customer_id="C2", kind="OPENED", at=NOW, revenue=None, wave=None),
    ]


def test_json_lines_are_read_by_extension(tmp_path: Path) -> None:
    path = tmp_path / "responses.jsonl"
    path.write_text('{"customer_id": "C1", "response": "DECLINED", "at": "2024-05-01T10:00:00Z"}\n\n'
                    '{"customer_id": "C2", "response": "RESPONDED", "wave": 1}\n', encoding="utf-8")
    assert read(path, NOW) == [
        ResponseInput(customer_id="C1", kind="DECLINED", at=datetime(2024, 5, 1, 10, 0)),
        ResponseInput(customer_id="C2", kind="RESPONDED", at=NOW, wave=1),
    ]


@pytest.mark.parametrize(("row", "column", "says"), [
    (",OPENED,,,", "customer_id", "empty"),
    ("C1,CLICKED,,,", "response", "'CLICKED' is not one of"),
    ("C1,OPENED,yesterday,,", "at", "not an ISO 8601 time"),
    ("C1,CONVERTED,,lots,", "revenue", "not a number"),
    ("C1,CONVERTED,,-1,", "revenue", "must be >= 0"),
    ("C1,OPENED,,10,", "revenue", "belongs to a CONVERTED response"),
    ("C1,OPENED,,,first", "wave", "not a whole number"),
    ("C1,OPENED,,,0", "wave", "must be >= 1"),
])
def test_a_bad_value_names_file_row_and_column(tmp_path: Path, row: str, column: str, says: str) -> None:
    path = tmp_path / "responses.csv"
    path.write_text(f"customer_id,response,at,revenue,wave\nC0,OPENED,,,\n{row}\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        read(path, NOW)
    assert caught.value.field == column
    assert str(caught.value).startswith(f"{path}: row 2, column {column}: ")
    assert says in str(caught.value)


@pytest.mark.parametrize(("header", "field", "says"), [
    ("customer_id,at", "response", "missing column(s) response"),
    ("customer_id,response,channel", "channel", "unknown column(s) channel"),
])
def test_a_bad_header_is_row_0(tmp_path: Path, header: str, field: str, says: str) -> None:
    path = tmp_path / "responses.csv"
    path.write_text(header + "\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        read(path, NOW)
    assert caught.value.field == field
    assert f"row 0 (header): {says}" in str(caught.value)


def test_an_unreadable_file_is_refused_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(InvalidInput, match="cannot read the file") as caught:
        read(missing, NOW)
    assert caught.value.field == "file" and str(missing) in str(caught.value)
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="cannot read the file"):
        read(broken, NOW)
