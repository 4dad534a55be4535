"""A wave's contact list as a file (``cdp.campaigns.contact_lists``): CSV (quoted, formulas
neutralised) and JSON Lines written from a table, personal columns masked for whoever may not
read them, and refusals as GraphQL-shaped bodies with the right status.
(The HTTP download over a launched campaign is tested in test_campaigns.py.)"""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pytest

from cdp.campaigns import contact_lists
from cdp.errors import Conflict, Forbidden, InvalidInput, NotFound
from cdp.security.principal import Principal, Role

TABLE = pa.table({"customer_id": ["C1", "C2"], "email": ["ada@example.com", None],
                  "first_name": ["Ada", "Bo"], "note": ["=HYPERLINK(\"x\")", "ok, fine"], "score": [0.5, -1.0]})


def test_csv_has_a_header_every_field_quoted_and_formulas_neutralised() -> None:
    out = io.StringIO()
    assert contact_lists.write(TABLE, "csv", out) == 2
    text = out.getvalue()
    assert text.startswith('"customer_id","email","first_name","note","score"\r\n')
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][:3] == ["C1", "ada@example.com", "Ada"]
    assert not rows[1][3].startswith("=")  # a spreadsheet would run it
    assert "HYPERLINK" in rows[1][3]
    assert rows[2][3] == "ok, fine" and rows[2][4] == "-1.0"  # a plain negative number stays a number


def test_json_lines_hold_one_object_per_contact_values_as_stored() -> None:
    out = io.StringIO()
    assert contact_lists.write(TABLE, "jsonl", out) == 2
    objects = [json.loads(line) for line in out.getvalue().splitlines()]
    assert objects == [
        {"customer_id": "C1", "email": "ada@example.com", "first_name": "Ada", "note": "=HYPERLINK(\"x\")",
         "score": 0.5},
        {"customer_id": "C2", "email": None, "first_name": "Bo", "note": "ok, fine", "score": -1.0}]


def test_a_large_list_comes_in_several_chunks_holding_every_row() -> None:
    table = pa.table({"customer_id": [f"C{i}" for i in range(12_000)]})
    chunks = list(contact_lists.lines(table, "csv"))
    assert len(chunks) > 2
    assert "".join(chunks).count("\r\n") == 12_001


def test_another_format_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        list(contact_lists.lines(TABLE, "xlsx"))
    assert caught.value.field == "format"


def test_personal_columns_are_masked_for_whoever_may_not_read_them() -> None:
    analyst = Principal(id="key:a", role=Role.ANALYST)
    masked, readable = contact_lists.masked_for(TABLE, analyst)
    assert readable == []
    assert masked.column("email").to_pylist() == ["a***@example.com", None]
    assert masked.column("first_name").to_pylist() == ["A***", "B***"]
    assert masked.column("note").to_pylist() == TABLE.column("note").to_pylist()  # not personal
    scoped = Principal(id="key:b", role=Role.ANALYST, scopes=frozenset({"personal:email"}))
    partly, readable = contact_lists.masked_for(TABLE, scoped)
    assert readable == ["email"] and partly.column("email").to_pylist() == ["ada@example.com", None]
    assert partly.column("first_name").to_pylist() == ["A***", "B***"]
    full, readable = contact_lists.masked_for(TABLE, Principal(id="key:c", role=Role.ADMIN))
    assert readable == ["email", "first_name"] and full.equals(TABLE)


@pytest.mark.parametrize(("error", "status", "code"), [
    (NotFound("no campaign X", field="campaignId"), 404, "NOT_FOUND"),
    (InvalidInput("campaign X has no wave 3", field="wave"), 404, "NOT_FOUND"),  # a path names a resource
    (Conflict("wave 1 is not launched yet"), 409, "CONFLICT"),
    (Forbidden("analysts only"), 403, "FORBIDDEN"),
    (InvalidInput("format must be one of csv, jsonl", field="format"), 400, "BAD_USER_INPUT"),
])
def test_refusals_are_graphql_shaped_with_their_status(error: Exception, status: int, code: str) -> None:
    response = contact_lists.refusal(error)  # type: ignore[arg-type]
    body = json.loads(bytes(response.body))
    assert response.status_code == status and response.media_type == "application/json"
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == code
    assert body["errors"][0]["message"] == str(error)
