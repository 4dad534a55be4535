"""The keyset paging rules of ``cdp.transport.pagination`` on in-memory lists (the store-backed reads
are covered through the API in tests/schema/test_relay.py and the store contract)."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime

import pytest

from cdp.errors import InvalidInput
from cdp.limits.request_limits import PageTooLarge
from cdp.transport.pagination import encode_cursor, keyset_page, page_request, sorted_ids_page

ITEMS = [{"id": f"K{i:02d}", "at": None if i % 5 == 0 else datetime(2026, 1, 1 + i % 3)} for i in range(23)]


def key(item: dict) -> tuple:
    return (item["at"], item["id"])


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("size", [1, 4, 23, 30])
def test_pages_both_ways_cover_the_list_once(descending: bool, size: int) -> None:
    forward, after = [], None
    while True:
        page = keyset_page(ITEMS, key, page_request(size, after, None, None, 100, "t", 2), descending)
        forward += [i["id"] for i in page.items]
        if not page.has_next:
            break
        after = page.cursors()[-1]
    backward, before = [], None
    while True:
        page = keyset_page(ITEMS, key, page_request(None, None, size, before, 100, "t", 2), descending)
        backward = [i["id"] for i in page.items] + backward
        if not page.has_previous:
            break
        before = page.cursors()[0]
    assert forward == backward and sorted(forward) == sorted(i["id"] for i in ITEMS)
    assert forward[0] in {i["id"] for i in ITEMS if (i["at"] is None) != descending}  # None sorts first


def test_a_removed_cursor_row_still_places_the_next_page() -> None:
    request = page_request(5, None, None, None, 100, "t", 2)
    first = keyset_page(ITEMS, key, request)
    cursor = first.cursors()[-1]
    rest = [i for i in ITEMS if i["id"] != first.items[-1]["id"]]
    nxt = keyset_page(rest, key, page_request(5, cursor, None, None, 100, "t", 2))
    full = keyset_page(ITEMS, key, page_request(10, None, None, None, 100, "t", 2))
    assert [i["id"] for i in nxt.items] == [i["id"] for i in full.items[5:10]]
    assert nxt.has_previous and first.has_next and not first.has_previous


def test_sorted_ids_page_by_binary_search() -> None:
    ids = [f"C{i:03d}" for i in range(50)]
    page = sorted_ids_page(ids, page_request(10, encode_cursor("m", ("C014",)), None, None, 100, "m", 1))
    assert page.items == ids[15:25] and page.has_previous and page.has_next
    back = sorted_ids_page(ids, page_request(None, None, 3, encode_cursor("m", ("C002",)), 100, "m", 1))
    assert back.items == ids[:2] and not back.has_previous and back.has_next


def _forged(body: object) -> str:
    return base64.urlsafe_b64encode(("cdp:k:" + json.dumps(body)).encode()).decode()


@pytest.mark.parametrize("cursor", [
    "%%%", base64.urlsafe_b64encode(b"cdp:o:12").decode(), _forged({"o": "other", "k": ["a", "b"]}),
    _forged({"o": "t", "k": ["a"]}), _forged({"o": "t", "k": [["nested"], "b"]}), _forged({"o": "t", "k": [{"x": 1}, "b"]}),
    _forged(["t"]),
])
def test_foreign_or_forged_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        page_request(5, cursor, None, None, 100, "t", 2)
    assert refused.value.field == "after"


def test_dates_survive_a_cursor() -> None:
    cursor = encode_cursor("t", (date(2020, 2, 29), "C1"))
    assert page_request(None, None, 1, cursor, 100, "t", 2).cursor == (date(2020, 2, 29), "C1")


@pytest.mark.parametrize(("args", "error", "field"), [
    ((1, None, 1, None), InvalidInput, "last"), ((None, "x", 1, None), InvalidInput, "after"),
    ((1, None, None, "x"), InvalidInput, "before"), ((-1, None, None, None), InvalidInput, "first"),
    ((None, None, -1, None), InvalidInput, "last"), ((101, None, None, None), PageTooLarge, "first"),
    ((None, None, 101, None), PageTooLarge, "last"),
])
def test_bad_arguments_name_the_argument(args: tuple, error: type, field: str) -> None:
    with pytest.raises(error) as refused:
        page_request(*args, 100, "t", 2)
    assert refused.value.field == field and type(refused.value) is error


def test_a_cursor_whose_values_do_not_compare_is_refused() -> None:
    forged = encode_cursor("t", ("not a time", "K01"))  # the list's keys hold datetimes
    for request in (page_request(5, forged, None, None, 100, "t", 2), page_request(None, None, 5, forged, 100, "t", 2)):
        with pytest.raises(InvalidInput) as refused:
            keyset_page(ITEMS, key, request)
        assert refused.value.field == ("before" if request.backward else "after")
