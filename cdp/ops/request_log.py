"""Log lines of cdp: JSON (one object per line) or plain text, each with its request id.

``configure_logging(fmt, level)`` sends every logger (cdp's, uvicorn's, the
libraries') to standard error in one format:

- ``json``: ``{"time": "2025-01-31T12:00:00.123Z", "level": "INFO", "logger": "cdp.access",
  "message": "POST /graphql 200", "request_id": "...", ...}``: the fields passed
  with ``extra=`` are added as keys; an exception adds ``exception`` (the traceback);
- ``plain``: ``12:00:00.123 INFO cdp.access [request-id] POST /graphql 200 key=value ...``.

``request_id`` is that of the request being served when the line was emitted
(``cdp.ops.request_context``), on the event loop or in a worker thread; lines
outside any request have none.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Literal, TextIO

from cdp.ops.request_context import current_request_id

LogFormat = Literal["json", "plain"]
LOG_FORMATS: tuple[str, ...] = ("json", "plain")

#: The attributes every ``LogRecord`` has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message", "asctime", "request_id", "color_message", "taskName"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record as ``record.request_id`` (None outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ms), level, logger, message, request_id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        out.update(_fields(record))
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """A readable line for development: time, level, logger, [request id], message, key=value fields."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created)) + f".{int(record.msecs):03d}"
        rid = getattr(record, "request_id", None)
        line = f"{stamp} {record.levelname:<7} {record.name}{f' [{rid}]' if rid else ''} {record.getMessage()}"
        extra = _fields(record)
        if extra:
            line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def make_handler(fmt: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (default: standard error) writing ``fmt`` lines with request ids.

    Raises ValueError for an unknown format.
    """
    if fmt not in LOG_FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; expected one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    return handler


def configure_logging(fmt: LogFormat, level: str = "info", stream: TextIO | None = None) -> None:
    """Route every log record of the process through one ``fmt`` handler at ``level``.

    Replaces the root logger's handlers, and makes uvicorn's loggers propagate to
    it (its access log is replaced by cdp's own ``cdp.access`` line). Idempotent.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(make_handler(fmt, stream))
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
