"""Importing a source system's file into the graph (``cdp import``).

``import_file`` reads a CSV, Parquet or JSON Lines file in batches, turns each
row into nodes and relationships as a mapping (``cdp.ingest.mapping``) says, and
writes each batch with one ``GraphStore.write`` call: a batch lands whole or
not at all, so a killed import leaves the store consistent and re-running it
converges to the state of one clean run.

Rows are validated before anything is written:

- a row with a bad value (one that does not convert, or breaks a rule of
  ``cdp.customers.write_rules``: ids and text without control or bidi characters, e-mail,
  phone, birth date, country; the rules partner upserts follow), an empty key or
  required value, or a relationship
  endpoint that exists neither in the store nor in the same batch is rejected
  whole (none of its nodes or relationships are written); each problem is one
  ``Reject`` (file, row, column, value, reason) and the rest of the batch is written;
- only nodes and relationships that differ from the store are written, so
  importing a file twice changes nothing the second time (counted as unchanged).

The stages are modules of their own so other entry points can reuse them: reading
(``cdp.ingest.read.open_source``), converting (``cdp.ingest.convert.convert_batch``: values
and keys, no store), writing (``cdp.ingest.write.write_batch``: endpoints, change detection,
one write); this module runs them over a file (``import_file``) or over rows given as dicts
(``import_rows``), and records the run.
"""


from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from cdp.formats import csv_export
from cdp.ingest import catalog_import
from cdp.errors import InvalidInput
from cdp.ingest.mapping import SourceMapping
from cdp.customers.write_rules import WriteRules
from graph.store import GraphStore, node_op
from cdp.ingest.write import BatchOutcome, Counts, write_batch
from graph.clock import utc_now
from cdp.ingest.convert import ConvertedBatch, Converters, convert_batch
from cdp.ingest.read import Reject, SourceBatch, as_text, data_format, open_source

#: Columns of a rejects file, one line per problem.
REJECTS_HEADER = ("file", "row", "column", "value", "reason")


@dataclass
class ImportReport:
    """The running or final totals of one import.

    ``read`` counts data rows (blank lines excluded), ``rejected`` the rows
    not imported; ``items`` has the counts per entity label and relationship
    type, in mapping order; ``total`` is the file's row count when known in
    advance (Parquet); ``writing`` the rows of the batch being written now (0: none;
    a batch of a million rows takes tens of seconds, so progress shows it).
    """

    file: str
    source: str
    items: dict[str, Counts]
    read: int = 0
    rejected: int = 0
    batches: int = 0
    seconds: float = 0.0
    total: int | None = None
    rejects_path: str | None = None
    warnings: list[str] = field(default_factory=list)
    started_at: datetime = field(default_factory=utc_now)
    run_id: str | None = None
    writing: int = 0
    #: Mapped columns that ended up constant, collapsed or unused (``cdp.ingest.column_signal``).
    signal: list[str] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.read - self.rejected

    @property
    def created(self) -> int:
        return sum(c.created for c in self.items.values())

    @property
    def updated(self) -> int:
        return sum(c.updated for c in self.items.values())

    @property
    def unchanged(self) -> int:
        return sum(c.unchanged for c in self.items.values())

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form (for JSON output)."""
        return {
            "file": self.file, "source": self.source, "read": self.read, "imported": self.imported,
            "rejected": self.rejected, "created": self.created, "updated": self.updated,
            "unchanged": self.unchanged, "batches": self.batches, "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second), "rejects_path": self.rejects_path,
            "items": {name: vars(c).copy() for name, c in self.items.items()}, "warnings": list(self.warnings),
            "signal": list(self.signal), "run_id": self.run_id,
        }


Progress = Callable[[ImportReport], None]


# --------------------------------------------------------------------------- the whole import

def import_file(
    store: GraphStore,
    mapping: SourceMapping,
    path: str | Path,
    batch_size: int | None = None,
    rejects_path: str | Path | None = None,
    progress: Progress | None = None,
    rules: WriteRules | None = None,
) -> ImportReport:
    """Import ``path`` into ``store`` as ``mapping`` says; return the report.

    ``rules`` are the value rules of ``cdp.customers.write_rules`` (None: calling code +31, today).
    The report's ``signal`` names mapped columns that ended up constant, collapsed or
    unused (``cdp.ingest.column_signal``).

    Every batch of ``batch_size`` rows (None: ``store.import_batch_rows``) is one
    ``store.write`` (one transaction);
    a finished run is recorded as an ``ImportRun`` node (``record_run``).
    Problems are appended to ``rejects_path`` (a CSV file with ``REJECTS_HEADER``,
    created on the first reject, replacing an older file; None: rejected rows
    are only counted). ``progress`` is
    called with the running report once the file is open, before each batch is written
    (``writing`` set) and after it.

    Raises ``InvalidInput`` before any write when the file cannot be opened or
    lacks a column the mapping reads, and mid-way when it cannot be read past
    some row (earlier batches stay written); store errors propagate. A mapping
    that writes catalog rules (``cdp.ingest.catalog_import``) is read as one batch and
    checked whole: any problem raises ``InvalidInput`` (file, row, column of the
    first) and nothing is written.
    """
    from cdp.ingest.column_signal import ColumnSignal

    started = time.perf_counter()
    batch_size = batch_size or store.import_batch_rows
    # not `rules`: that name is the caller's value rules, handed to Converters below
    catalog = catalog_import.writes_rules(mapping)
    if catalog:  # catalog rules depend on each other: the whole file is checked, then written in one batch
        batch_size = catalog_import.MAX_ROWS + 1
    chunk = _chunk_rows(batch_size) if data_format(mapping, Path(path)) == "csv" and not catalog else batch_size
    source = open_source(mapping, path, chunk)
    report = ImportReport(str(path), mapping.source.name, {name: Counts() for name in mapping.names()},
                          total=source.total, warnings=list(source.warnings))
    sink = RejectsFile(Path(rejects_path)) if rejects_path else None
    converters = Converters(rules)
    signal = ColumnSignal(mapping, source.columns)
    if progress:
        progress(report)
    # Two threads ahead of the writes: one reads the next chunk while the other converts
    # this one (pyarrow releases the GIL), so a one-batch import waits for the slower of
    # the two, not their sum.
    reading = _Prefetch(iter(source))
    ahead = _Prefetch((batch, convert_batch(mapping, batch, str(path), converters)) for batch in reading)
    try:
        for batch, converted in _grouped(ahead, batch_size // chunk):
            if catalog:
                if len(batch.rows) > catalog_import.MAX_ROWS:
                    raise InvalidInput(f"{path}: a catalog rules file holds at most {catalog_import.MAX_ROWS:,} "
                                       "rows; nothing was imported")
                problems = sorted(batch.rejects + converted.rejects + catalog_import.check(store, mapping, converted),
                                  key=lambda r: r.row)
                if problems:
                    if sink:
                        sink.write(problems)
                        sink.close()
                    raise catalog_import.refusal(problems, str(sink.path) if sink else None)
            if progress:
                report.writing = len(batch.rows)
                report.seconds = time.perf_counter() - started
                progress(report)
            outcome = write_batch(store, mapping, converted)
            report.writing = 0
            _add(report, batch, converted, outcome)
            signal.observe(batch.table, converted.nodes, converted.relationships, converted.rejected)
            if sink:
                sink.write(sorted(batch.rejects + converted.rejects + outcome.rejects, key=lambda r: r.row))
            report.seconds = time.perf_counter() - started
            if progress:
                progress(report)
    finally:
        ahead.close()
        reading.close()
        source.close()
        if sink:
            sink.close()
            report.rejects_path = str(sink.path) if sink.count else None
        report.seconds = time.perf_counter() - started
    report.signal = signal.findings()
    record_run(store, mapping, report)
    return report


#: Rows read and converted at a time when a CSV batch is larger: the next chunk is read
#: while this one is converted.
CHUNK_ROWS = 200_000


def _chunk_rows(batch_size: int) -> int:
    """The chunk a CSV batch of ``batch_size`` rows is read in: the largest that divides it
    into equal parts of at most ``CHUNK_ROWS`` (at most 64 parts), else the whole batch."""
    for parts in range(-(-batch_size // CHUNK_ROWS), 65):
        if batch_size % parts == 0:
            return batch_size // parts
    return batch_size


def _grouped(chunks: Iterable[tuple[SourceBatch, ConvertedBatch]],
             per_batch: int) -> Iterator[tuple[SourceBatch, ConvertedBatch]]:
    """``chunks`` (read and converted) joined ``per_batch`` at a time into the batches that
    are written, one transaction each (the last may be smaller)."""
    pending: list[tuple[SourceBatch, ConvertedBatch]] = []
    for chunk in chunks:
        pending.append(chunk)
        if len(pending) == per_batch:
            yield _joined(pending)
            pending = []
    if pending:
        yield _joined(pending)


def _joined(chunks: list[tuple[SourceBatch, ConvertedBatch]]) -> tuple[SourceBatch, ConvertedBatch]:
    """One batch from consecutive chunks of a file (their rows in order)."""
    if len(chunks) == 1:
        return chunks[0]
    sources = [s for s, _ in chunks]
    parts = [c for _, c in chunks]
    first = parts[0]

    def arrays(values: list[pa.Array]) -> pa.Array:
        return pa.chunked_array(values).combine_chunks()

    tables = [s.table for s in sources if s.table.num_columns]
    source = SourceBatch(pa.concat_tables(tables, promote_options="default"),
                         np.concatenate([s.rows for s in sources]), [r for s in sources for r in s.rejects])
    converted = ConvertedBatch(
        first.file, np.concatenate([c.rows for c in parts]),
        {label: pa.concat_tables([c.nodes[label] for c in parts], promote_options="default").combine_chunks()
         for label in first.nodes},
        {name: pa.concat_tables([c.relationships[name] for c in parts], promote_options="default").combine_chunks()
         for name in first.relationships},
        np.concatenate([c.rejected for c in parts]), [r for c in parts for r in c.rejects],
        None if first.observed_at is None else arrays([c.observed_at for c in parts]),
        first.key_columns, {key: arrays([c.attributes[key] for c in parts]) for key in first.attributes})
    return source, converted


class _Prefetch:
    """Iterates ``items`` one item ahead in a thread: the next batch is read and converted
    while the store writes this one (LadybugDB releases the GIL while it writes; on 2
    cores this hides most of the conversion). Exceptions surface where the item would
    have; ``close`` stops the thread."""

    _END = object()

    def __init__(self, items: Iterator[Any]) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), name="import-prefetch", daemon=True)
        self._thread.start()

    def _run(self, items: Iterator[Any]) -> None:
        try:
            for item in items:
                if not self._put((item, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._put((None, exc))
            return
        self._put((self._END, None))

    def _put(self, entry: tuple[Any, BaseException | None]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Any]:
        while True:
            item, error = self._queue.get()
            if error is not None:
                raise error
            if item is self._END:
                return
            yield item

    def close(self) -> None:
        """Stop reading ahead and wait for the thread (it may be inside one conversion)."""
        self._stop.set()
        self._thread.join()


def record_run(store: GraphStore, mapping: SourceMapping, report: ImportReport) -> str:
    """Write ``report`` as an ``ImportRun`` node (read by the data-quality report); return its id."""
    finished = utc_now()
    run_id = f"{report.source}:{report.started_at:%Y%m%dT%H%M%S%f}"
    store.write([node_op("ImportRun", [{
        "id": run_id, "source": report.source, "file": report.file, "mapping": mapping.path,
        "started_at": report.started_at, "finished_at": finished, "read": report.read,
        "created": report.created, "updated": report.updated, "unchanged": report.unchanged,
        "rejected": report.rejected, "rejects_file": report.rejects_path,
        "signal": "\n".join(report.signal) or None,
    }])])
    report.run_id = run_id
    return run_id


def import_rows(
    store: GraphStore, mapping: SourceMapping, rows: Sequence[Mapping[str, Any]], file: str = "<input>",
    rules: WriteRules | None = None,
) -> tuple[ImportReport, list[Reject]]:
    """Validate ``rows`` (dicts of source column -> value, as in a file) and write them in one batch.

    Values may be text or JSON-like values (numbers, booleans); row numbers in
    the rejects are 1-based positions in ``rows``. Returns the report and the
    rejects; raises what ``GraphStore.write`` raises.
    """
    started = time.perf_counter()
    table = pa.table({c: pa.array([as_text(r.get(c)) for r in rows], pa.string()) for c in mapping.columns()})
    batch = SourceBatch(table, np.arange(1, len(rows) + 1, dtype=np.int64))
    converted = convert_batch(mapping, batch, file, Converters(rules))
    outcome = write_batch(store, mapping, converted)
    report = ImportReport(file, mapping.source.name, {name: Counts() for name in mapping.names()})
    _add(report, batch, converted, outcome)
    report.seconds = time.perf_counter() - started
    return report, sorted(converted.rejects + outcome.rejects, key=lambda r: r.row)


def _add(report: ImportReport, batch: SourceBatch, converted: ConvertedBatch, outcome: BatchOutcome) -> None:
    report.batches += 1
    report.read += len(batch.rows) + len(batch.rejects)
    report.rejected += int(converted.rejected.sum()) + outcome.rejected_rows + len(batch.rejects)
    per_item: dict[str, set[int]] = {}
    for r in converted.rejects:
        if r.item in report.items:
            per_item.setdefault(r.item, set()).add(r.row)
    for name, counts in outcome.items.items():
        report.items[name].add(counts)
    for name, rows in per_item.items():
        report.items[name].rejected += len(rows)


class RejectsFile:
    """A CSV file of rejects (``REJECTS_HEADER``), created on the first reject; written by
    ``cdp.formats.csv_export`` (fields quoted, values that would start a spreadsheet formula neutralised)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file: Any = None
        self._writer: Any = None

    def write(self, rejects: Sequence[Reject]) -> None:
        """Append ``rejects``; raises ``InvalidInput`` when the file cannot be written."""
        if not rejects:
            return
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("w", newline="", encoding="utf-8")
                self._writer = csv_export.writer(self._file)
                self._writer.writerow(REJECTS_HEADER)
            self._writer.writerows((r.file, r.row, r.column, r.value, r.reason) for r in rejects)
            self._file.flush()
        except OSError as exc:
            raise InvalidInput(f"cannot write the rejects file {self.path}: {exc}") from None
        self.count += len(rejects)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
