"""The audit log: who wrote what, who read whose personal data, and when.

One JSON object per line, appended to ``settings.audit_log_path`` (``CDP_AUDIT_LOG``,
default next to the embedded store file) and flushed before the call that caused
it answers. A record holds ids, never personal values, so erasing a customer
(``eraseCustomer``) leaves the log as it is. Fields:

| field | meaning |
|---|---|
| ``at`` | UTC time, ISO 8601 |
| ``principal`` / ``role`` | who (``key:<id>``, ``jwt:<issuer>:<subject>``, ``cli:<user>``) |
| ``action`` | ``write``, ``read_personal``, ``export``, ``erase``, ``key_created``, ``key_revoked``, ``denied`` |
| ``operation`` | the GraphQL root field or CLI command |
| ``customers`` | ids of the customers concerned (may be empty for catalogue writes) |
| ``fields`` | personal fields read unmasked (``read_personal``) |
| ``outcome`` | ``ok`` or the error code |
| ``request_id`` | the HTTP request (joins the access log) |

Every server process and CLI command appends to the same file with ``O_APPEND``
(one ``write`` per record), so lines never interleave. The file stays open between
records and is reopened when it was moved or removed (log rotation by rename works, as
does ``copytruncate``). ``read`` filters the file
for ``auditLog`` and ``cdp audit``. Writing fails loudly: a write whose audit
record cannot be kept raises ``AuditUnavailable`` rather than go unrecorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cdp.errors import CdpError
from cdp.security.principal import Principal
from cdp.ops.request_context import current_request_id
from graph.clock import utc_now


class AuditUnavailable(CdpError):
    """The audit log cannot be written, so the audited call is refused."""

    code = "AUDIT_UNAVAILABLE"


@dataclass(frozen=True)
class AuditRecord:
    """One line of the audit log (see the module docstring)."""

    at: str
    principal: str
    role: str
    action: str
    operation: str
    customers: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    outcome: str = "ok"
    request_id: str | None = None

    @classmethod
    def from_json(cls, line: str) -> AuditRecord:
        raw = json.loads(line)
        return cls(**{k: raw.get(k) for k in cls.__dataclass_fields__ if k in raw})


class AuditLog:
    """Appends ``AuditRecord`` lines to one file; safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None  # kept open between records (see ``_descriptor``)
        self._inode = 0

    def record(self, principal: Principal, action: str, operation: str, *,
               customers: Iterable[str] = (), fields: Iterable[str] = (), outcome: str = "ok",
               at: datetime | None = None) -> AuditRecord:
        """Append one record and return it. Raises ``AuditUnavailable`` when the file cannot be written."""
        when = (at or utc_now().replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
        record = AuditRecord(at=when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                             principal=principal.id, role=principal.role.value, action=action,
                             operation=operation, customers=sorted(set(customers)), fields=sorted(set(fields)),
                             outcome=outcome, request_id=current_request_id())
        line = (json.dumps(asdict(record), separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                os.write(self._descriptor(), line)
            except OSError as exc:
                self._close()
                raise AuditUnavailable(f"the audit log {self.path} cannot be written: {exc.strerror}") from None
        return record

    def _descriptor(self) -> int:
        """The open append-only descriptor of ``path``, reopened when the file was moved or
        removed (rotation) since it was opened. Called under ``_lock``; raises ``OSError``."""
        if self._fd is not None:
            try:
                same = os.stat(self.path).st_ino == self._inode
            except FileNotFoundError:
                same = False
            if same:
                return self._fd
            self._close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._fd, self._inode = fd, os.fstat(fd).st_ino
        return fd

    def _close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None

    def __del__(self) -> None:
        self._close()

    def read(self, *, customer_id: str | None = None, principal: str | None = None, action: str | None = None,
             since: datetime | None = None, limit: int = 100) -> list[AuditRecord]:
        """The newest ``limit`` records matching every given filter, newest first."""
        found: list[AuditRecord] = []
        for _, record in self._matching(customer_id, principal, action, since):
            found.append(record)
            if len(found) >= limit:
                break
        return found

    def numbered(self, *, customer_id: str | None = None, principal: str | None = None,
                 action: str | None = None, since: datetime | None = None) -> tuple[str, list[tuple[int, AuditRecord]]]:
        """``(file identity, records)``: every record matching the filters with its line number
        (from 0, the file's first line), newest first. Line numbers only grow as records are
        appended, so they are the keys of ``auditLog``'s keyset cursors; the identity (the
        file's inode and first line) changes when the log is rotated, which makes the
        cursors of the old file invalid rather than misplaced."""
        identity, lines = self._lines()
        return identity, list(self._matching(customer_id, principal, action, since, lines))

    def _matching(self, customer_id: str | None, principal: str | None, action: str | None,
                  since: datetime | None, lines: list[bytes] | None = None) -> Iterator[tuple[int, AuditRecord]]:
        cutoff = None if since is None else since.astimezone(timezone.utc) if since.tzinfo else \
            since.replace(tzinfo=timezone.utc)
        for number, record in self._newest_first(lines):
            if customer_id is not None and customer_id not in record.customers:
                continue
            if principal is not None and record.principal != principal:
                continue
            if action is not None and record.action != action:
                continue
            if cutoff is not None and datetime.fromisoformat(record.at.replace("Z", "+00:00")) < cutoff:
                break  # records are appended in time order
            yield number, record

    def _lines(self) -> tuple[str, list[bytes]]:
        """The identity of the log file and its lines (none when there is no file yet)."""
        try:
            with self.path.open("rb") as handle:
                stat = os.fstat(handle.fileno())
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return "none", []
        first = hashlib.sha256(lines[0]).hexdigest()[:12] if lines else "empty"
        return f"{stat.st_dev}.{stat.st_ino}.{first}", lines

    def _newest_first(self, lines: list[bytes] | None = None) -> Iterator[tuple[int, AuditRecord]]:
        if lines is None:
            lines = self._lines()[1]
        for number in range(len(lines) - 1, -1, -1):
            if lines[number].strip():
                yield number, AuditRecord.from_json(lines[number].decode())
