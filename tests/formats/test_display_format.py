"""Times and numbers as the CLI (and messages) write them: ISO 8601 with the offset, numbers
without exponents (docs/cli.md)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cdp.formats.display_format import iso, number
from tests.conftest import gql


def test_times_are_iso_8601_with_the_utc_offset() -> None:
    assert iso(datetime(2026, 12, 7, 15, 54, 3, 123456)) == "2026-12-07T15:54:03+00:00"  # naive is UTC
    amsterdam = timezone(timedelta(hours=1))
    assert iso(datetime(2026, 12, 7, 16, 54, tzinfo=amsterdam)) == "2026-12-07T15:54:00+00:00"


def test_numbers_are_written_out() -> None:
    assert [number(v) for v in (20000.0, 2e4, 1e7, -1e9, 12345, 0.5, 0.12345678, 1234.5678, 0.00001234)] == [
        "20,000", "20,000", "10,000,000", "-1,000,000,000", "12,345", "0.5", "0.1235", "1,234.57", "0.00001234"]
    assert [number(v) for v in (None, True, "text", datetime(2026, 1, 2))] == [
        "None", "True", "text", "2026-01-02T00:00:00+00:00"]


def test_a_range_error_writes_its_bounds_out(client) -> None:  # type: ignore[no-untyped-def]
    body = gql(client, """mutation { upsertMonetaryEvents(source: "BILLING", items: [
        {id: "ME-RANGE-1", accountId: "A0000001", kind: INVOICE, amount: 2e10, currency: "EUR"}]) {
        errors { message } } }""")
    payload = body["data"] and body["data"]["upsertMonetaryEvents"]
    message = payload["errors"][0]["message"] if payload else body["errors"][0]["message"]
    assert "between -1,000,000,000 and 1,000,000,000" in message and "e+" not in message
