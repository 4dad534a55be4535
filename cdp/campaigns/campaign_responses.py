"""Reading campaign responses from a file (the channel systems' or sales feed's export).

``cdp campaigns responses <campaign> <file>`` imports a CSV (or JSON Lines,
by extension) with the columns:

* ``customer_id`` (required): an audience member (treatment or control);
* ``response`` (required): OPENED, RESPONDED, CONVERTED or DECLINED;
* ``at`` (optional, default now): ISO 8601 time (UTC when no offset is given);
* ``revenue`` (optional): a number >= 0, only on CONVERTED rows;
* ``wave`` (optional): the wave answered (default: the last that contacted the customer).

A bad value stops the import before anything is written, with a message naming
the file, the row (1 = the first data row; the header is row 0) and the
column. ``Campaigns.record_responses`` then checks the rows against the
audience, again naming the row, and writes all of them in one transaction.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from cdp.campaigns.campaigns import RESPONSE_KINDS, ResponseInput
from cdp.errors import InvalidInput
from graph.clock import naive_utc

COLUMNS = ("customer_id", "response", "at", "revenue", "wave")
REQUIRED = ("customer_id", "response")


def read(path: Path, now: datetime) -> list[ResponseInput]:
    """The responses in ``path`` (``.csv`` or ``.jsonl``); raises ``InvalidInput`` naming the
    file, row and column of the first problem (unreadable file, missing column, bad value)."""
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            records = [(i, json.loads(line)) for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                       if line.strip()]
            header: list[str] = sorted({k for _, r in records for k in r})
        else:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                header = list(reader.fieldnames or [])
                records = list(enumerate(reader, 1))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read the file: {exc}", field="file") from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidInput(f"{path}: row 0 (header): missing column(s) {', '.join(missing)}; "
                           f"expected {', '.join(COLUMNS)}", field=missing[0])
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise InvalidInput(f"{path}: row 0 (header): unknown column(s) {', '.join(unknown)}; "
                           f"expected {', '.join(COLUMNS)}", field=unknown[0])
    return [_item(path, row, record, now) for row, record in records]


def _item(path: Path, row: int, record: dict[str, Any], now: datetime) -> ResponseInput:
    def bad(column: str, message: str) -> InvalidInput:
        return InvalidInput(f"{path}: row {row}, column {column}: {message}", field=column)

    def text(column: str) -> str:
        value = record.get(column)
        return "" if value is None else str(value).strip()

    customer = text("customer_id")
    if not customer:
        raise bad("customer_id", "empty")
    kind = text("response").upper()
    if kind not in RESPONSE_KINDS:
        raise bad("response", f"{text('response')!r} is not one of {', '.join(RESPONSE_KINDS)}")
    at = now
    if text("at"):
        try:
            at = datetime.fromisoformat(text("at").replace("Z", "+00:00"))
        except ValueError:
            raise bad("at", f"{text('at')!r} is not an ISO 8601 time") from None
        at = naive_utc(at)
    revenue = None
    if text("revenue"):
        try:
            revenue = float(text("revenue"))
        except ValueError:
            raise bad("revenue", f"{text('revenue')!r} is not a number") from None
        if not revenue >= 0:
            raise bad("revenue", "must be >= 0")
        if kind != "CONVERTED":
            raise bad("revenue", "revenue belongs to a CONVERTED response")
    wave = None
    if text("wave"):
        try:
            wave = int(text("wave"))
        except ValueError:
            raise bad("wave", f"{text('wave')!r} is not a whole number") from None
        if wave < 1:
            raise bad("wave", "must be >= 1")
    return ResponseInput(customer_id=customer, kind=kind, at=at, revenue=revenue, wave=wave)
