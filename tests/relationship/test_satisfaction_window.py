"""The period satisfaction figures cover (``cdp.relationship.satisfaction.window``)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cdp.errors import InvalidInput
from cdp.relationship.satisfaction import DEFAULT_DAYS, window

NOW = datetime(2026, 6, 30, 12, 0)


def test_the_default_is_the_last_year_up_to_now_and_given_ends_are_kept() -> None:
    assert window(None, None, NOW) == (NOW - timedelta(days=DEFAULT_DAYS), NOW)
    start, end = datetime(2026, 1, 1), datetime(2026, 3, 1)
    assert window(start, end, NOW) == (start, end)
    assert window(None, end, NOW) == (end - timedelta(days=DEFAULT_DAYS), end)


def test_a_start_not_before_the_end_is_refused_on_from() -> None:
    with pytest.raises(InvalidInput) as refused:
        window(datetime(2026, 3, 1), datetime(2026, 3, 1), NOW)
    assert refused.value.field == "from"
    assert "must be before" in refused.value.message
