"""Opaque cursors and page-size rules for Relay-style connections.

A cursor encodes an offset into a stable ordering (every ordering ends with
the id, so ties cannot reorder between pages). Clients must treat cursors as
opaque; a malformed one is a ``BAD_USER_INPUT`` error, not an empty page.
"""

from __future__ import annotations

import base64
import binascii

from cdp.errors import InvalidInput
from cdp.limits.request_limits import PageTooLarge

_PREFIX = "cdp:o:"


def encode_cursor(offset: int) -> str:
    """The cursor of the item at ``offset`` (0-based)."""
    return base64.urlsafe_b64encode(f"{_PREFIX}{offset}".encode()).decode()


def decode_cursor(cursor: str, field: str = "after") -> int:
    """The offset a cursor points at; raise ``InvalidInput`` if it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput(f"{field} is not a valid cursor", field=field) from None
    if not text.startswith(_PREFIX) or not text[len(_PREFIX):].isdigit():
        raise InvalidInput(f"{field} is not a valid cursor", field=field)
    return int(text[len(_PREFIX):])


def page_window(first: int, after: str | None, max_page_size: int) -> tuple[int, int]:
    """``(skip, limit)`` for a page of ``first`` items after cursor ``after``.

    Raises ``InvalidInput`` when ``first`` is below 0, ``PageTooLarge`` (a kind of
    ``InvalidInput``, code ``PAGE_TOO_LARGE``) when it is above ``max_page_size``.
    """
    if first < 0:
        raise InvalidInput(f"first must be between 0 and {max_page_size}, got {first}", field="first")
    if first > max_page_size:
        raise PageTooLarge(f"first must be between 0 and {max_page_size}, got {first}", field="first",
                           limit=max_page_size)
    skip = decode_cursor(after) + 1 if after else 0
    return skip, first
