"""How the CLI writes times and numbers for people (docs/cli.md).

Times: ISO 8601 with the UTC offset, ``2026-12-07T15:54:00+00:00``, the one format (the
GraphQL API's ``DateTime`` scalar writes them the same way, ``schema.scalars``).
Numbers: thousands separated, never in exponent notation (``20,000``, not ``2e+04``).

cdp keeps times as naive UTC internally (``graph.clock``); a naive time
given here is read as UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone


def iso(moment: datetime, timespec: str = "seconds") -> str:
    """``moment`` (naive UTC, or aware in any zone) as ISO 8601 in UTC with ``+00:00``,
    to ``timespec`` (``seconds``, ``minutes`` or ``auto``: fractional seconds when there are
    any, as ``datetime.isoformat``)."""
    aware = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return aware.isoformat(timespec=timespec)


def number(value: object) -> str:
    """``value`` for reading: whole numbers with thousands separators (``20,000``), other
    floats to four significant digits without exponent (``0.1235``, ``1,234.57``,
    ``0.00001234``); anything else (``None``, text, a time) as ``str``, times by ``iso``."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value.is_integer():
            return f"{int(value):,}"
        if abs(value) >= 100:
            return f"{value:,.2f}"
        text = f"{float(f'{value:.4g}'):.12f}".rstrip("0")  # four significant digits, written out
        return text
    return str(value)
