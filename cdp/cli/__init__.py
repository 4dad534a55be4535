"""The ``cdp`` command line (``python -m cdp.cli``, console script ``cdp``).

``commands`` parses and runs every command; ``command_store`` opens the store the way a
command needs it; ``exit_status`` is the table of exit statuses (docs/cli.md);
``progress_report`` draws progress on standard error; ``server_keys`` and ``serve_workers``
are ``cdp keys create`` through a running server and ``cdp serve --workers``.

Modules:

- ``command_store``: How a ``cdp`` command opens the store: to read, to change, or to create it.
- ``commands``: The ``cdp`` command line.
- ``exit_status``: The exit statuses of the ``cdp`` command: one table, documented in docs/cli.md.
- ``progress_report``: Progress of a long ``cdp`` command on standard error: a live bar in a terminal, plain lines elsewhere (a log, a pipe, CI), so a command that runs for minutes is never silent.
- ``serve_workers``: ``cdp serve --workers N``: N server processes on one port, for a Neo4j store.
- ``server_keys``: ``cdp keys create`` through a running ``cdp serve`` that holds the embedded store.
"""

from __future__ import annotations

from cdp.cli.commands import main

__all__ = [
    "main",
    "command_store",
    "commands",
    "exit_status",
    "progress_report",
    "serve_workers",
    "server_keys",
]
