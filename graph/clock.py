"""The one clock: what time it is, as the store keeps times (naive UTC).

Every stored time is a naive ``datetime`` meaning UTC (both backends store and return
them so). Everything in cdp that asks "what time is it" or turns a caller's time into a
stored one goes through this module, so there is one place that owns time (and one
place to freeze it in a test). It lives in ``graph/`` because the store is the lowest
layer that needs it (a bulk load's start stamp, ISO strings given to a write); the
layers above import it from here (``graph`` may not import ``cdp``).
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import overload
from zoneinfo import ZoneInfo

__all__ = ["naive_utc", "utc_now", "utc_today"]


def utc_now() -> datetime:
    """The current time as the store keeps it (naive UTC)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def utc_today() -> date:
    """Today's date in UTC (the day ``utc_now`` falls on)."""
    return utc_now().date()


@overload
def naive_utc(value: datetime, zone: str | None = None) -> datetime: ...
@overload
def naive_utc(value: None, zone: str | None = None) -> None: ...
def naive_utc(value: datetime | None, zone: str | None = None) -> datetime | None:
    """``value`` as the store keeps times (naive UTC): an aware time is converted; a naive
    one is taken to be in ``zone`` (an IANA name; None: it is UTC already); None stays None.
    Raises ``ZoneInfoNotFoundError`` for an unknown ``zone``."""
    if value is None:
        return None
    if value.tzinfo is None:
        if zone is None:
            return value
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value.astimezone(timezone.utc).replace(tzinfo=None)
