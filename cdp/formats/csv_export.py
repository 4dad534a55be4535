"""CSV files cdp writes (campaign contact lists, import rejects files), safe to open in a spreadsheet.

A partner or source file can put any text in a name, an id or a value, and
that text ends up in CSV files people open in Excel, LibreOffice or Google
Sheets, which run a cell starting with ``=``, ``+``, ``-`` or ``@`` as a
formula (``=cmd|' /C calc'!A0``, ``=HYPERLINK(...)``). Following OWASP's CSV
injection rule (and ASVS 1.2.10), every cell goes through ``neutralise``:

- a cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage
  return or a NUL gets a single quote in front (``'=cmd|...``), which
  spreadsheets read as "this is text" and hide;
- a plain number (``-12.5``, ``+31612345678``, ``1e3``: an optional sign,
  digits, an optional fraction and exponent) is kept as it is: a spreadsheet
  reads it as a number, never as a formula, and the systems reading the file
  (an SMS gateway reading E.164 phone numbers) get the value unchanged;
- every field is quoted (``csv.QUOTE_ALL``, RFC 4180 escaping of quotes), so a
  separator inside a value (``a;=1+1`` read with ``;`` as the separator) cannot
  start a new cell.

``writer(stream)`` is the one CSV writer of cdp's output; ``neutralise`` is the
rule, usable on its own.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, TextIO

#: First characters that make a spreadsheet read a cell as a formula (OWASP; NUL from ASVS 1.2.10).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")

_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralise(value: Any) -> str:
    """The text of one CSV cell for ``value``: ``""`` for None, else ``str(value)`` with a
    single quote in front when it starts like a formula and is not a plain number."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class SafeWriter:
    """A ``csv.writer`` whose rows are neutralised cell by cell (see the module docstring)."""

    def __init__(self, stream: TextIO, lineterminator: str = "\r\n") -> None:
        self._writer = csv.writer(stream, lineterminator=lineterminator, quoting=csv.QUOTE_ALL)

    def writerow(self, row: Iterable[Any]) -> None:
        """Write one row; raises what the stream raises (``OSError``)."""
        self._writer.writerow([neutralise(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        """Write several rows; raises what the stream raises (``OSError``)."""
        self._writer.writerows([neutralise(v) for v in row] for row in rows)


def writer(stream: TextIO, lineterminator: str = "\r\n") -> SafeWriter:
    """The CSV writer for any file cdp writes: every field quoted and neutralised."""
    return SafeWriter(stream, lineterminator)
