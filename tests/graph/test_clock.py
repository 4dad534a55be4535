"""graph.clock, the one clock: now and every caller's time as the store keeps times (naive UTC)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from zoneinfo import ZoneInfoNotFoundError

from graph.clock import naive_utc, utc_now, utc_today


def test_now_is_naive_utc() -> None:
    before = datetime.now(timezone.utc).replace(tzinfo=None)
    now = utc_now()
    after = datetime.now(timezone.utc).replace(tzinfo=None)
    assert now.tzinfo is None and before <= now <= after
    assert utc_today() in {before.date(), after.date()}


def test_times_become_naive_utc() -> None:
    aware = datetime(2026, 3, 29, 3, 30, tzinfo=timezone(timedelta(hours=2)))
    assert naive_utc(aware) == datetime(2026, 3, 29, 1, 30)
    assert naive_utc(datetime(2026, 3, 29, 1, 30)) == datetime(2026, 3, 29, 1, 30)  # naive: UTC already
    assert naive_utc(datetime(2026, 7, 1, 12, 0), "Europe/Amsterdam") == datetime(2026, 7, 1, 10, 0)
    assert naive_utc(aware, "America/New_York") == datetime(2026, 3, 29, 1, 30)  # an offset beats the zone
    assert naive_utc(None) is None
    with pytest.raises(ZoneInfoNotFoundError):
        naive_utc(datetime(2026, 1, 1), "Mars/Olympus")
