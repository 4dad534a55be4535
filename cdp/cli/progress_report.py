"""Progress of a long ``cdp`` command on standard error: a live bar in a terminal, plain
lines elsewhere (a log, a pipe, CI), so a command that runs for minutes is never silent.

Standard output stays for results; progress never goes there.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

#: Seconds between two plain progress lines of one stage (a new stage prints at once).
LINE_INTERVAL_SECONDS = 5.0


class Progress:
    """Progress of one task: ``update`` adds done units, ``stage`` names what runs now.

    ``total`` may be unknown (``None``) and set later. In a terminal this is a tqdm bar;
    otherwise one line ``cdp: <task>: <stage>: <done> of <total> <unit>`` per stage and at
    most every ``LINE_INTERVAL_SECONDS``, and a last line when closed. Use as a context manager.
    """

    def __init__(self, task: str, total: int | None = None, unit: str = "rows", stream: TextIO | None = None) -> None:
        self.task, self.total, self.unit = task, total, unit
        self.n = 0
        self._stream = stream or sys.stderr
        self._stage = ""
        self._printed_at = time.monotonic()  # the first line comes with a stage or after the interval
        self._printed_n, self._printed_stage = -1, ""
        self._bar: Any = None
        if self._stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=task, unit=unit, unit_scale=True, file=self._stream,
                             dynamic_ncols=True)

    def set_total(self, total: int) -> None:
        """Set the total once it is known."""
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def stage(self, text: str) -> None:
        """Name what runs now or has just finished (a table loaded, a model trained)."""
        if self._bar is not None:
            self._bar.set_postfix_str(text)
        elif text != self._stage:
            self._stage = text
            self._line()

    def update(self, units: int = 1) -> None:
        """Count ``units`` more done."""
        self.n += units
        if self._bar is not None:
            self._bar.update(units)
        elif time.monotonic() - self._printed_at >= LINE_INTERVAL_SECONDS:
            self._line()

    def close(self) -> None:
        """End the bar, or print the last line."""
        if self._bar is not None:
            self._bar.close()
        elif (self._printed_n, self._printed_stage) != (self.n, self._stage):
            self._stage = "done"
            self._line()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _line(self) -> None:
        done = f"{self.n:,}" + (f" of {self.total:,}" if self.total else "") + f" {self.unit}"
        print(f"cdp: {self.task}: {self._stage + ': ' if self._stage else ''}{done}", file=self._stream, flush=True)
        self._printed_at = time.monotonic()
        self._printed_n, self._printed_stage = self.n, self._stage
