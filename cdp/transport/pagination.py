"""Keyset cursors and page-size rules for Relay-style connections.

A cursor names the *sort key* of an item (its sort value(s) and id), not its
position: the next page is "the items after this key in this order", so a row
inserted or deleted before the cursor does not shift the page (docs/api.md).
Each cursor also names the ordering it belongs to; a cursor of another
connection or another order is refused. Clients must treat cursors as opaque.

Bad arguments are ``BAD_USER_INPUT`` errors naming the argument
(``extensions.field``): a malformed cursor, ``first`` with ``last``, ``after``
with ``last`` or ``before`` with ``first``, a negative size; a size above
``CDP_MAX_PAGE_SIZE`` is ``PAGE_TOO_LARGE`` (with ``extensions.limit``).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import numpy as np

from cdp.errors import InvalidInput
from cdp.limits.request_limits import PageTooLarge

_PREFIX = "cdp:k:"
#: Page size when neither ``first`` nor ``last`` is given.
DEFAULT_PAGE_SIZE = 20

T = TypeVar("T")
Key = tuple[Any, ...]


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        (tag, text), = value.items()
        if tag == "t" and isinstance(text, str):
            return datetime.fromisoformat(text)
        if tag == "d" and isinstance(text, str):
            return date.fromisoformat(text)
        raise ValueError(tag)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError(type(value).__name__)


def encode_cursor(order: str, key: Key) -> str:
    """The cursor of the item with sort ``key`` in the ordering named ``order``."""
    text = json.dumps({"o": order, "k": [_encode_value(v) for v in key]}, separators=(",", ":"))
    return base64.urlsafe_b64encode((_PREFIX + text).encode()).decode()


def decode_cursor(cursor: str, order: str, arity: int, field: str = "after") -> Key:
    """The sort key ``cursor`` names; ``InvalidInput`` (naming ``field``) unless it is a cursor of
    ordering ``order`` with ``arity`` key values."""
    bad = InvalidInput(f"{field} is not a valid cursor of this list and order", field=field)
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if not text.startswith(_PREFIX):
            raise bad
        body = json.loads(text[len(_PREFIX):])
        if not isinstance(body, dict) or body.get("o") != order:
            raise bad
        values = body.get("k")
        if not isinstance(values, list) or len(values) != arity:
            raise bad
        return tuple(_decode_value(v) for v in values)
    except (binascii.Error, UnicodeError, ValueError, TypeError):
        raise bad from None


@dataclass(frozen=True)
class PageRequest:
    """What a client asked for: ``size`` items forward after ``cursor`` (``first``/``after``) or
    backward before it (``last``/``before``); ``cursor`` None: from the start (or the end)."""

    order: str
    size: int
    backward: bool = False
    cursor: Key | None = None


def page_request(first: int | None, after: str | None, last: int | None, before: str | None,
                 max_page_size: int, order: str, arity: int, default_size: int = DEFAULT_PAGE_SIZE) -> PageRequest:
    """Check the Relay paging arguments of a connection ordered by ``order`` (sort keys of
    ``arity`` values) and return the request.

    Raises ``InvalidInput`` for ``first`` and ``last`` together, ``after`` with ``last``,
    ``before`` with ``first``, a negative size or a malformed / foreign cursor, and
    ``PageTooLarge`` for a size above ``max_page_size``; ``field`` names the argument.
    Without ``first`` and ``last`` a page holds ``default_size`` items.
    """
    if first is not None and last is not None:
        raise InvalidInput("first and last cannot be used together: page forward with first/after "
                           "or backward with last/before", field="last")
    if last is not None and after is not None:
        raise InvalidInput("after pages forward: use it with first, or use before with last", field="after")
    if first is not None and before is not None:
        raise InvalidInput("before pages backward: use it with last, or use after with first", field="before")
    backward = last is not None or (before is not None and first is None)
    name = "last" if backward else "first"
    size = (last if backward else first)
    size = default_size if size is None else size
    if size < 0:
        raise InvalidInput(f"{name} must be between 0 and {max_page_size}, got {size}", field=name)
    if size > max_page_size:
        raise PageTooLarge(f"{name} must be between 0 and {max_page_size}, got {size}", field=name,
                           limit=max_page_size)
    given, cursor_field = (before, "before") if backward else (after, "after")
    cursor = decode_cursor(given, order, arity, cursor_field) if given is not None else None
    return PageRequest(order, size, backward, cursor)


@dataclass
class Page(Generic[T]):
    """One page of a keyset connection: ``items`` in the list's order, the sort key of each, and
    whether items exist before / after it (``total``: the whole list's size, when known)."""

    items: list[T]
    keys: list[Key]
    has_previous: bool
    has_next: bool
    order: str
    total: int | None = None
    extra: dict = field(default_factory=dict)

    def cursors(self) -> list[str]:
        """The cursor of each item, in order."""
        return [encode_cursor(self.order, k) for k in self.keys]


def page_from_fetch(request: PageRequest, fetched: list[tuple[T, Key]], beyond_cursor: bool,
                    total: int | None = None) -> Page[T]:
    """The page from what a store read in the request's direction: ``fetched`` holds up to
    ``size + 1`` ``(item, key)`` pairs past the cursor (the extra one says a next page exists),
    nearest first; ``beyond_cursor`` says whether items exist on the cursor's other side."""
    more = len(fetched) > request.size
    fetched = fetched[:request.size]
    if request.backward:
        fetched.reverse()
    items = [item for item, _ in fetched]
    keys = [key for _, key in fetched]
    if request.backward:
        return Page(items, keys, has_previous=more, has_next=beyond_cursor, order=request.order, total=total)
    return Page(items, keys, has_previous=beyond_cursor, has_next=more, order=request.order, total=total)


def _sortable(key: Key) -> tuple:
    """``key`` made comparable with None (None sorts first, as the stores' ``coalesce`` does)."""
    return tuple((0, "") if v is None else (1, v) for v in key)


def keyset_page(items: Sequence[T], key: Callable[[T], Key], request: PageRequest,
                descending: bool = False) -> Page[T]:
    """One page of an in-memory list (one already read whole for another reason: an analytic
    snapshot, a customer's rows held by the request's loaders), ordered by ``key`` (ascending, or
    ``descending``), the same way a store-backed connection pages."""
    ordered = sorted(((_sortable(key(i)), key(i), i) for i in items), key=lambda t: t[0], reverse=descending)
    try:
        start, end = _bounds(ordered, request, descending)
    except TypeError:  # a forged cursor whose values do not compare with the list's keys
        field = "before" if request.backward else "after"
        raise InvalidInput(f"{field} is not a valid cursor of this list and order", field=field) from None
    lo, hi, has_previous, has_next = _window(len(ordered), start, end, request)
    chosen = ordered[lo:hi]
    return Page([i for _, _, i in chosen], [k for _, k, _ in chosen], has_previous, has_next, request.order,
                total=len(ordered))


def _bounds(ordered: list[tuple[tuple, Key, Any]], request: PageRequest, descending: bool) -> tuple[int, int]:
    """``(start, end)``: the items of ``ordered`` on the requested side of the cursor."""
    if request.cursor is None:
        start, end = 0, len(ordered)
    else:
        cursor = _sortable(request.cursor)

        def past(k: tuple) -> bool:  # k comes after the cursor in the list's order
            return k < cursor if descending else k > cursor

        if request.backward:
            end = next((n for n, (k, _, _) in enumerate(ordered) if past(k) or k == cursor), len(ordered))
            start = 0
        else:
            start = next((n for n, (k, _, _) in enumerate(ordered) if past(k)), len(ordered))
            end = len(ordered)
    return start, end


def _window(count: int, start: int, end: int, request: PageRequest) -> tuple[int, int, bool, bool]:
    """``(lo, hi, has_previous, has_next)`` of the page among ``count`` ordered items, where
    ``start .. end`` are the items on the requested side of the cursor."""
    if request.backward:
        lo, hi = max(start, end - request.size), end
        return lo, hi, lo > 0, hi < count
    lo, hi = start, min(end, start + request.size)
    return lo, hi, lo > 0, hi < count


def sorted_ids_page(ids: Sequence[str] | np.ndarray, request: PageRequest) -> Page[str]:
    """One page of ``ids`` (ascending, unique: a segment's members in an analytic snapshot), the
    cursor found by binary search, so a page costs O(log n) whatever the list's size."""
    count = len(ids)
    start, end = 0, count
    if request.cursor is not None:
        (cursor,) = request.cursor
        if request.backward:
            end = bisect.bisect_left(ids, cursor)
        else:
            start = bisect.bisect_right(ids, cursor)
    lo, hi, has_previous, has_next = _window(count, start, end, request)
    chosen = [str(i) for i in ids[lo:hi]]
    return Page(chosen, [(i,) for i in chosen], has_previous, has_next, request.order, total=count)
