"""How a ``cdp`` command opens the store: to read, to change, or to create it.

The embedded store is one file that one process at a time opens read-write (a running
``cdp serve`` holds it). Commands that only read open it read-only when it is held:
LadybugDB 0.22 lets a read-only open beside a writer in another process and reads the
store as of the open (measured: a writer committing 1,000 rows every few ms and
checkpointing every 5,000 rows; the read-only opens that succeeded always saw whole
transactions, never fewer rows than the previous open; the others failed at once with
"checkpoint recovery is pending" or a WAL read error and are retried). Commands that
change the store cannot run beside the server: they fail with ``StoreLocked`` naming the
holder and what to do instead (the server's GraphQL mutation, or stop it); ``cdp keys
create`` asks the server itself when it can (``cdp.cli.server_keys``).

A missing embedded store is ``StoreMissing`` except for the commands that create one
(``create``). Neo4j is a server: the store is never missing or locked; only unreachable.
"""

from __future__ import annotations

import sys
import time
from typing import Literal

from cdp.errors import StoreLocked, StoreMissing, StoreUnavailable
from cdp.settings import Settings
from cdp.store import open_store
from graph.store import GraphStore

#: ``read``: the command only reads; ``write``: it changes an existing store;
#: ``create``: it changes the store and makes it when there is none.
Access = Literal["read", "write", "create"]

#: Read-only opens tried beside a busy writer before giving up, and the pause between them
#: (a checkpoint of the demo store takes well under a second).
READ_ONLY_ATTEMPTS = 20
READ_ONLY_PAUSE_SECONDS = 0.25


def open_for(settings: Settings, access: Access, *, command: str, instead: str | None = None) -> GraphStore:
    """Open the store ``settings`` select for a command that needs ``access``.

    ``command`` (e.g. ``"cdp keys create"``) and ``instead`` (what to do while a server
    holds the store, e.g. the GraphQL mutation) go into the messages.
    Raises ``StoreMissing`` (no embedded store and ``access`` is not ``create``),
    ``StoreLocked`` (another process holds the embedded store and ``access`` is not
    ``read``) or ``StoreUnavailable`` (Neo4j unreachable, a file that cannot be opened).
    """
    if settings.backend == "ladybug" and access != "create" and not settings.db_path.exists():
        raise StoreMissing(
            f"no store at {settings.db_path.resolve()} (CDP_DB_PATH); `{command}` does not create one. "
            "Run it where the store is, set CDP_DB_PATH to its file, or create one: `cdp init` (empty), "
            "`cdp demo load` (demo data), `cdp import` (a source file)")
    try:
        return open_store(settings)
    except StoreLocked as locked:
        if access != "read":
            holder = f"process {locked.pid}" if locked.pid else "another process"
            alternative = f"use {instead} through the running server's API, or " if instead else ""
            raise StoreLocked(
                f"the embedded store at {settings.db_path} is in use by {holder} (a running `cdp serve`?), "
                f"and `{command}` changes it: {alternative}stop that process and run `{command}` again",
                locked.pid) from None
        print(f"cdp: the store is in use by {'process ' + str(locked.pid) if locked.pid else 'another process'}; "
              "reading it read-only, as it is now", file=sys.stderr)
        return _read_only(settings)


def _read_only(settings: Settings) -> GraphStore:
    """The embedded store opened read-only beside its writer, retried while the writer
    checkpoints. Raises ``StoreUnavailable`` when no attempt succeeds."""
    for _ in range(READ_ONLY_ATTEMPTS):
        try:
            return open_store(settings, read_only=True)
        except StoreUnavailable as exc:
            last = exc
            time.sleep(READ_ONLY_PAUSE_SECONDS)
    raise StoreUnavailable(f"{last.message} (tried {READ_ONLY_ATTEMPTS} times beside the process that "
                           "holds it; try again, or stop that process)")
