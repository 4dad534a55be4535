"""The scalars of the API whose wire format cdp fixes itself (docs/errors.md, docs/api-changes.md).

``DateTime``: one format for every instant that leaves the API: ISO 8601 in UTC with the
explicit offset ``+00:00`` (``2026-12-07T15:54:00+00:00``; fractional seconds only when the
instant has them), the format the CLI prints too (``cdp.formats.display_format.iso``). cdp keeps
naive UTC internally; an aware time from elsewhere is converted, never printed in its zone.
Inputs take any ISO 8601 offset (``Z``, ``+02:00``; converted to UTC as they are parsed) or
none (read as UTC); a date alone is midnight UTC.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from strawberry.schema.types.base_scalars import DateDefinition, DateTimeDefinition
from strawberry.types.scalar import ScalarDefinition

from cdp.formats.display_format import iso

DATETIME_DESCRIPTION = (
    "An instant, ISO 8601. Every output is UTC with the explicit offset `+00:00` "
    "(`2026-12-07T15:54:00+00:00`; fractional seconds only when the instant has them). Inputs take "
    "any offset (`Z`, `+02:00`: converted to UTC) or none (read as UTC); a date alone is midnight UTC.")


def serialize_datetime(value: datetime) -> str:
    """``value`` (naive UTC, or aware in any zone) in the API's one DateTime format."""
    return iso(value, "auto")


def parse_datetime(value: object) -> datetime:
    """A client's DateTime (ISO 8601 text, strawberry's parser and its coercion errors): with an
    offset, converted to UTC, so no consumer can keep the local wall time by dropping the zone;
    without one, as given (UTC by the rule above)."""
    parsed = DateTimeDefinition.parse_value(value)  # type: ignore[misc]
    assert isinstance(parsed, datetime)
    return parsed.astimezone(timezone.utc) if parsed.tzinfo is not None else parsed


DateTimeUTC = ScalarDefinition(
    name="DateTime", description=DATETIME_DESCRIPTION, specified_by_url=None,
    serialize=serialize_datetime, parse_value=parse_datetime, parse_literal=None,
    origin=datetime,
)

CalendarDate = ScalarDefinition(
    name="Date", description="A calendar day, ISO 8601 `YYYY-MM-DD` (no time, no zone).", specified_by_url=None,
    serialize=DateDefinition.serialize, parse_value=DateDefinition.parse_value, parse_literal=None, origin=date,
)

#: ``strawberry.Schema(scalar_overrides=...)``: the types above in place of strawberry's defaults.
SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {datetime: DateTimeUTC, date: CalendarDate}
