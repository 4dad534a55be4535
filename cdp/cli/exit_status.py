"""The exit statuses of the ``cdp`` command: one table, documented in docs/cli.md.

Each status means one kind of outcome, so scripts can tell "fix your input" from
"the store is in use" from "pick another port" without reading the message.
``for_error`` maps an error of the one hierarchy (``cdp.errors``) to its status.
"""

from __future__ import annotations

from enum import IntEnum

from cdp.errors import CdpError, NotConfirmed, PortInUse, StoreUnavailable


class ExitStatus(IntEnum):
    """What ``cdp`` exits with; ``MEANING`` says what each status means."""

    OK = 0
    CHECK_FAILED = 1
    USAGE = 2
    REJECTED_ROWS = 3
    STORE_UNAVAILABLE = 4
    PORT_IN_USE = 5
    NOT_CONFIRMED = 6
    INTERRUPTED = 130


#: The meaning of each status, as docs/cli.md's table says it (a test compares them).
MEANING: dict[ExitStatus, str] = {
    ExitStatus.OK: "done (also when a reader closed the pipe early, as `head -1` after `cdp stats` does)",
    ExitStatus.CHECK_FAILED: "a check found a difference: `cdp schema export --check` on an out-of-date SDL",
    ExitStatus.USAGE: "refused, nothing done: a wrong option or argument, a bad setting, an unreadable or "
                      "invalid file, an unknown id, a conflict with the store's state",
    ExitStatus.REJECTED_ROWS: "`cdp import` rejected some rows (the rest were imported; see the rejects file)",
    ExitStatus.STORE_UNAVAILABLE: "the store cannot be used: no store at `CDP_DB_PATH`, the embedded store "
                                  "is in use by another process (a running `cdp serve`) for a command that "
                                  "changes it, or Neo4j cannot be reached",
    ExitStatus.PORT_IN_USE: "`cdp serve` cannot listen: the address and port are taken or not available",
    ExitStatus.NOT_CONFIRMED: "an irreversible command was not confirmed (answered no, or no terminal and "
                              "no `--yes`); nothing was changed",
    ExitStatus.INTERRUPTED: "interrupted (Ctrl-C)",
}


def for_error(error: CdpError) -> ExitStatus:
    """The status ``cdp`` exits with after ``error`` (printed as ``cdp: error: <message>``)."""
    if isinstance(error, StoreUnavailable):
        return ExitStatus.STORE_UNAVAILABLE
    if isinstance(error, PortInUse):
        return ExitStatus.PORT_IN_USE
    if isinstance(error, NotConfirmed):
        return ExitStatus.NOT_CONFIRMED
    return ExitStatus.USAGE
