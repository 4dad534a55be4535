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

The steps are public so other entry points can reuse them: ``convert_batch``
(values and keys, no store), ``write_batch`` (endpoints, change detection, one
write) and ``import_rows`` (both, for rows given as dicts).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cdp.formats import csv_export
from cdp.errors import InvalidInput
from cdp.ingest.mapping import ATTRIBUTES_ITEM, Conversion, KeySpec, PropertyMapping, SourceMapping
from cdp.customers.provenance import attribute_ops, identities_in, observation_ops, write_observations
from cdp.customers.write_rules import CUSTOMER_DEFAULTS, WriteRules, customer_column, id_problem, id_problems, \
    reserved_statuses, text_problem, text_problems
from graph.model import ARROW_TYPES, MODEL
from graph.observation_ids import text_ids
from graph.store import GraphStore, Row, WriteOp, node_op, relationship_op

#: Rows per batch when reading a file without a store (``convert_batch``, the CLI's
#: check of a file before it opens the store). An import's batches (one transaction
#: each) default to the store's ``import_batch_rows``: 1,000,000 on the embedded store,
#: 10,000 on Neo4j. A kill loses at most the batch under way; re-running converges.
DEFAULT_BATCH_SIZE = 50_000

#: Columns of a rejects file, one line per problem.
REJECTS_HEADER = ("file", "row", "column", "value", "reason")

#: File extensions and the format they imply when the mapping names none.
EXTENSIONS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
              ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}

_CSV_BLOCK_BYTES = 4 << 20
_CACHE_LIMIT = 500_000  # distinct parsed values kept per conversion between batches


@dataclass(frozen=True)
class Reject:
    """One problem with one source row.

    ``row`` is 1-based as in the file: for CSV the header is row 1 (so a row's
    number is its line number), for JSON Lines the line number, for Parquet
    the record's position. ``item`` is the entity label or relationship type
    at fault ("" for the row as a whole).
    """

    file: str
    row: int
    column: str
    value: str
    reason: str
    item: str = ""


@dataclass
class Counts:
    """What an import did to one entity label or relationship type.

    ``created``/``updated``/``unchanged`` count distinct keys per batch;
    ``rejected`` counts rows rejected because of a problem in this item.
    """

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    def add(self, other: Counts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected += other.rejected


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
    started_at: datetime = field(default_factory=lambda: _utcnow())
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


@dataclass
class SourceBatch:
    """Rows read from a file: a table of source columns, each row's number in the
    file, and the rows that could not be read at all (malformed lines)."""

    table: pa.Table
    rows: np.ndarray
    rejects: list[Reject] = field(default_factory=list)


@dataclass
class ConvertedBatch:
    """A batch after conversion: one model-typed table per entity label (``id`` then
    properties) and relationship type (``from``, ``to``, properties), one row per
    source row; ``rejected`` marks the rows with a problem, listed in ``rejects``.
    ``observed_at`` is each row's observation time (None: the time of import)."""

    file: str
    rows: np.ndarray
    nodes: dict[str, pa.Table]
    relationships: dict[str, pa.Table]
    rejected: np.ndarray
    rejects: list[Reject]
    observed_at: pa.Array | None = None
    key_columns: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Customer attributes (key -> one text value per row) when the mapping has ``[entity.attributes]``.
    attributes: dict[str, pa.Array] = field(default_factory=dict)


@dataclass
class BatchOutcome:
    """What ``write_batch`` did: counts per item and the rows it rejected (endpoints)."""

    items: dict[str, Counts]
    rejects: list[Reject]
    rejected_rows: int


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
    from cdp.ingest import catalog_import
    from cdp.ingest.column_signal import ColumnSignal

    started = time.perf_counter()
    batch_size = batch_size or store.import_batch_rows
    rules = catalog_import.writes_rules(mapping)
    if rules:  # catalog rules depend on each other: the whole file is checked, then written in one batch
        batch_size = catalog_import.MAX_ROWS + 1
    chunk = _chunk_rows(batch_size) if data_format(mapping, Path(path)) == "csv" and not rules else batch_size
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
    ahead = _Prefetch(((batch, convert_batch(mapping, batch, str(path), converters)) for batch in reading))
    try:
        for batch, converted in _grouped(ahead, batch_size // chunk):
            if rules:
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
        except BaseException as exc:  # handed to the consumer, raised there
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
    finished = _utcnow()
    run_id = f"{report.source}:{report.started_at:%Y%m%dT%H%M%S%f}"
    store.write([node_op("ImportRun", [{
        "id": run_id, "source": report.source, "file": report.file, "mapping": mapping.path,
        "started_at": report.started_at, "finished_at": finished, "read": report.read,
        "created": report.created, "updated": report.updated, "unchanged": report.unchanged,
        "rejected": report.rejected, "rejects_file": report.rejects_path,
    }])])
    report.run_id = run_id
    return run_id


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


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
    table = pa.table({c: pa.array([_text(r.get(c)) for r in rows], pa.string()) for c in mapping.columns()})
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


# --------------------------------------------------------------------------- reading

class SourceFile:
    """An opened data file: its ``columns``, row count (``total``, if known) and batches.

    Iterating yields ``SourceBatch``es of up to ``batch_size`` rows holding the
    columns the mapping reads (as text for CSV and JSON Lines, typed for Parquet).
    """

    def __init__(self, batches: Iterator[SourceBatch], columns: list[str], total: int | None = None,
                 warnings: list[str] | None = None, close: Callable[[], None] | None = None) -> None:
        self._batches = batches
        self._close = close
        self.columns = columns
        self.total = total
        self.warnings = warnings or []

    def __iter__(self) -> Iterator[SourceBatch]:
        return self._batches

    def close(self) -> None:
        """Release the file (also when it was not read to the end)."""
        if self._close:
            self._close()


def data_format(mapping: SourceMapping, path: str | Path) -> str:
    """The format of ``path``: the mapping's ``source.format``, else from the extension.

    Raises ``InvalidInput`` when neither says.
    """
    if mapping.source.format:
        return mapping.source.format
    fmt = EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InvalidInput(f"{path}: cannot tell the format from the extension; set source.format "
                           f"(csv, parquet or jsonl) in {mapping.path}")
    return fmt


def open_source(mapping: SourceMapping, path: str | Path, batch_size: int = DEFAULT_BATCH_SIZE) -> SourceFile:
    """Open ``path`` and check it has every column ``mapping`` reads.

    Raises ``InvalidInput`` naming the file (and the mapping line of a missing
    column) when it cannot be opened or lacks a column. JSON Lines has no
    header: a column absent from every record of the first batch is a warning.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    if batch_size <= 0:
        raise InvalidInput(f"batch size must be positive, got {batch_size}")
    fmt = data_format(mapping, path)
    try:
        if fmt == "csv":
            return _open_csv(mapping, path, batch_size)
        if fmt == "parquet":
            return _open_parquet(mapping, path, batch_size)
        return _open_jsonl(mapping, path, batch_size)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read it as {fmt}: {_arrow_message(exc)}") from None


def _arrow_message(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _open_csv(mapping: SourceMapping, path: Path, batch_size: int) -> SourceFile:
    opts = mapping.source.csv
    read_options = pacsv.ReadOptions(use_threads=False, block_size=_CSV_BLOCK_BYTES, encoding=opts.encoding)
    invalid: list[tuple[int, str]] = []

    def on_invalid(row: Any) -> str:
        invalid.append((row.number if row.number is not None else 0, row.text))
        return "skip"

    parse = pacsv.ParseOptions(delimiter=opts.delimiter, quote_char=opts.quote, ignore_empty_lines=False,
                               invalid_row_handler=on_invalid)
    header = pacsv.open_csv(path, read_options=read_options, parse_options=parse,
                            convert_options=pacsv.ConvertOptions(column_types={}))
    available = header.schema.names
    header.close()
    invalid.clear()
    mapping.check_columns(available, str(path))
    columns = mapping.columns()
    reader = pacsv.open_csv(path, read_options=read_options, parse_options=parse,
                            convert_options=pacsv.ConvertOptions(
                                include_columns=columns, column_types={c: pa.string() for c in columns},
                                strings_can_be_null=False, quoted_strings_can_be_null=False))
    return SourceFile(_csv_batches(reader, invalid, str(path), batch_size), available, close=reader.close)


def _csv_batches(reader: Any, invalid: list[tuple[int, str]], file: str, batch_size: int) -> Iterator[SourceBatch]:
    next_row = 2  # the header is row 1

    def numbered() -> Iterator[SourceBatch]:
        nonlocal next_row
        while True:
            try:
                record_batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowException as exc:
                raise InvalidInput(f"{file}: cannot read past row {next_row}: {_arrow_message(exc)}") from None
            n = record_batch.num_rows
            # Malformed lines were skipped by the reader: number the rows around them.
            skipped = np.array(sorted(number for number, _ in invalid), dtype=np.int64)
            candidates = np.arange(next_row, next_row + n + len(skipped), dtype=np.int64)
            rows = candidates[~np.isin(candidates, skipped)][:n]
            if n:
                next_row = int(rows[-1]) + 1
            done = [(number, text) for number, text in invalid if number < next_row or not n]
            invalid[:] = [item for item in invalid if item not in done]
            rejects = [Reject(file, number, "", text[:200], "malformed line: wrong number of fields")
                       for number, text in done]
            table = pa.Table.from_batches([record_batch])
            blank = _blank_rows(table)
            if blank is not None:
                table, rows = table.filter(pc.invert(blank)), rows[~blank.to_numpy(zero_copy_only=False)]
            yield SourceBatch(table, rows, rejects)
        if invalid:
            yield SourceBatch(pa.table({}), np.empty(0, np.int64),
                              [Reject(file, n, "", t[:200], "malformed line: wrong number of fields")
                               for n, t in invalid])

    return _rebatch(numbered(), batch_size)


def _blank_rows(table: pa.Table) -> pa.Array | None:
    """Mask of rows whose columns are all empty (blank lines), or None when there are none."""
    if table.num_columns == 0 or table.num_rows == 0:
        return None
    blank = None
    for column in table.columns:
        empty = pc.equal(column, "")
        blank = empty if blank is None else pc.and_(blank, empty)
    blank = pc.fill_null(blank, False).combine_chunks() if isinstance(blank, pa.ChunkedArray) else blank
    return blank if pc.any(blank).as_py() else None


def _rebatch(batches: Iterator[SourceBatch], size: int) -> Iterator[SourceBatch]:
    """Regroup ``batches`` into batches of exactly ``size`` rows (the last may be smaller)."""
    tables: list[pa.Table] = []
    rows: list[np.ndarray] = []
    rejects: list[Reject] = []
    pending = 0
    for batch in batches:
        if batch.table.num_columns:
            tables.append(batch.table)
        rows.append(batch.rows)
        rejects += batch.rejects
        pending += len(batch.rows)
        while pending >= size:
            table = pa.concat_tables(tables)
            all_rows = np.concatenate(rows)
            yield SourceBatch(table.slice(0, size).combine_chunks(), all_rows[:size], rejects)
            tables, rows, rejects = [table.slice(size)], [all_rows[size:]], []
            pending -= size
    if pending or rejects:
        table = pa.concat_tables(tables).combine_chunks() if tables else pa.table({})
        yield SourceBatch(table, np.concatenate(rows) if rows else np.empty(0, np.int64), rejects)


def _open_parquet(mapping: SourceMapping, path: Path, batch_size: int) -> SourceFile:
    parquet = pq.ParquetFile(path)
    available = parquet.schema_arrow.names
    mapping.check_columns(available, str(path))
    columns = mapping.columns()

    def batches() -> Iterator[SourceBatch]:
        next_row = 1
        try:
            for record_batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
                n = record_batch.num_rows
                yield SourceBatch(pa.Table.from_batches([record_batch]),
                                  np.arange(next_row, next_row + n, dtype=np.int64))
                next_row += n
        except (pa.ArrowException, OSError) as exc:
            raise InvalidInput(f"{path}: cannot read past row {next_row}: {_arrow_message(exc)}") from None

    return SourceFile(batches(), available, parquet.metadata.num_rows, close=parquet.close)


def _open_jsonl(mapping: SourceMapping, path: Path, batch_size: int) -> SourceFile:
    columns = mapping.columns()
    handle = path.open("r", encoding="utf-8")
    lines = enumerate(handle, 1)
    try:
        first = _jsonl_batch(lines, columns, str(path), batch_size)
    except BaseException:
        handle.close()
        raise
    warnings = []
    if first is not None and len(first.rows):
        for ref in mapping.missing_columns([c for c in columns if first.table.column(c).null_count < len(first.rows)]):
            warnings.append(f"{mapping.path}, line {ref.line}: {ref.what} reads {ref.column!r}, which none of "
                            f"the first {len(first.rows):,} records of {path} has")

    def batches() -> Iterator[SourceBatch]:
        if first is not None:
            yield first
        while (batch := _jsonl_batch(lines, columns, str(path), batch_size)) is not None:
            yield batch

    return SourceFile(batches(), columns, warnings=warnings, close=handle.close)


def _jsonl_batch(lines: Iterator[tuple[int, str]], columns: list[str], file: str,
                 size: int) -> SourceBatch | None:
    values: dict[str, list[str | None]] = {c: [] for c in columns}
    rows: list[int] = []
    rejects: list[Reject] = []
    try:
        for number, line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                rejects.append(Reject(file, number, "", line.strip()[:200], f"not valid JSON: {exc.msg}"))
            else:
                if not isinstance(record, dict):
                    rejects.append(Reject(file, number, "", line.strip()[:200], "not a JSON object"))
                else:
                    rows.append(number)
                    for column in columns:
                        values[column].append(_text(_lookup(record, column)))
            if len(rows) + len(rejects) >= size:
                break
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{file}: not UTF-8 text past row {rows[-1] if rows else 1}: {exc.reason}") from None
    if not rows and not rejects:
        return None
    table = pa.table({c: pa.array(v, pa.string()) for c, v in values.items()})
    return SourceBatch(table, np.array(rows, dtype=np.int64), rejects)


def _lookup(record: dict[str, Any], column: str) -> Any:
    """``record[column]``, or a nested value for a dotted path such as ``address.city``."""
    if column in record:
        return record[column]
    value: Any = record
    for part in column.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _text(value: Any) -> str | None:
    """A JSON-like value as the text a conversion parses (None stays None)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# --------------------------------------------------------------------------- converting

class Converters:
    """Column-wise conversion, with the parsed distinct values of each conversion cached between batches,
    and the value ``rules`` (``cdp.customers.write_rules``; None: the defaults) converted values must pass."""

    def __init__(self, rules: WriteRules | None = None) -> None:
        self._cache: dict[tuple, dict[str, tuple[Any, str | None]]] = {}
        self.rules = rules or WriteRules()

    def convert(self, conversion: Conversion, arrow_type: pa.DataType,
                values: pa.Array) -> tuple[pa.Array, np.ndarray, list[str]]:
        """Apply ``conversion`` to ``values``; return the converted array (type ``arrow_type``),
        the positions of the values that failed (null in the result) and the reasons."""
        none = np.empty(0, np.int64)
        if pa.types.is_null(values.type):
            return pa.nulls(len(values), arrow_type), none, []
        if not pa.types.is_string(values.type):
            typed = _typed(conversion, arrow_type, values)
            if typed is not None:
                return typed, none, []
            values = values.cast(pa.string())
        text = _empty_to_null(pc.utf8_trim_whitespace(values))
        kind = conversion.kind
        if kind in ("string", "upper", "lower") and conversion.vocabulary is None:
            if kind == "upper":
                text = pc.utf8_upper(text)
            elif kind == "lower":
                text = pc.utf8_lower(text)
            return text, none, []
        fast = _vectorized(conversion, arrow_type, text)
        if fast is not None:
            return fast, none, []
        # Everything else is parsed in Python, once per distinct value.
        cache = self._cache.setdefault(conversion.key, {})
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        distinct = pc.unique(text)
        parsed: list[Any] = []
        failed: dict[int, str] = {}
        for j, raw in enumerate(distinct.to_pylist()):
            if raw is None:
                parsed.append(None)
                continue
            hit = cache.get(raw)
            if hit is None:
                try:
                    hit = (conversion.parse(raw), None)
                except ValueError as exc:
                    hit = (None, str(exc))
                cache[raw] = hit
            parsed.append(hit[0])
            if hit[1] is not None:
                failed[j] = hit[1]
        index = pc.index_in(text, value_set=distinct)
        result = pa.array(parsed, type=arrow_type).take(index)
        if not failed:
            return result, none, []
        bad = pc.is_in(index, value_set=pa.array(list(failed), pa.int32()))
        positions = np.flatnonzero(pc.fill_null(bad, False).to_numpy(zero_copy_only=False))
        codes = index.to_numpy(zero_copy_only=False)
        return result, positions, [failed[int(codes[i])] for i in positions]


def _vectorized(conversion: Conversion, arrow_type: pa.DataType, text: pa.Array) -> pa.Array | None:
    """The whole column converted by Arrow when every value is plain (ISO dates and times,
    plain numbers); None when any value needs the per-value path (or is bad).

    Arrow's parsers are strict (no 31 February, no hour 25), so a value they
    accept is one ``Conversion.parse`` accepts with the same result.
    """
    kind = conversion.kind
    try:
        if kind == "int" and not conversion.thousands:
            return text.cast(pa.int64())
        if kind == "float" and not conversion.thousands:
            values = text.cast(pa.float64())
            return values if pc.all(pc.is_finite(values)).as_py() is not False else None
        if kind == "date" and conversion.format is None:
            return text.cast(pa.date32())
        if kind == "timestamp" and conversion.format is None:
            try:  # every value has an offset (or Z)
                return text.cast(pa.timestamp("us", tz="UTC")).cast(arrow_type)
            except pa.ArrowInvalid:
                values = text.cast(pa.timestamp("us"))  # no value has one
                if conversion.timezone:
                    values = pc.assume_timezone(values, conversion.timezone).cast(arrow_type)
                return values
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return None


def _empty_to_null(text: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _typed(conversion: Conversion, arrow_type: pa.DataType, values: pa.Array) -> pa.Array | None:
    """``values`` cast directly when their Arrow type already fits the conversion (Parquet); else None."""
    t = values.type
    kind = conversion.kind
    try:
        if kind == "int" and pa.types.is_integer(t):
            return values.cast(arrow_type)
        if kind == "float" and (pa.types.is_integer(t) or pa.types.is_floating(t)):
            return values.cast(arrow_type)
        if kind == "bool" and pa.types.is_boolean(t):
            return values
        if kind == "date" and (pa.types.is_date(t) or pa.types.is_timestamp(t)):
            return values.cast(arrow_type)
        if kind == "timestamp" and pa.types.is_date(t):
            return values.cast(arrow_type)
        if kind == "timestamp" and pa.types.is_timestamp(t):
            if t.tz is None and conversion.timezone:
                values = pc.assume_timezone(values, conversion.timezone)
            return values.cast(arrow_type)  # aware times keep their UTC instant
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # e.g. out of range: convert value by value to say which
    return None


class _Problems:
    """The problems found in one batch, and which rows they reject."""

    def __init__(self, file: str, rows: np.ndarray, table: pa.Table) -> None:
        self.file = file
        self.rows = rows
        self.table = table
        self.rejected = np.zeros(len(rows), dtype=bool)
        self.list: list[Reject] = []
        self._seen: set[tuple[int, str, str]] = set()

    def add(self, positions: Sequence[int] | np.ndarray, column: str, reasons: Sequence[str] | str,
            item: str) -> None:
        """Reject the rows at ``positions`` (indexes in the batch) for ``reasons`` (one, or one per row);
        the rejects quote the source ``column``'s value. A repeated (row, column, reason) is kept once."""
        source = self.table.column(column) if column in self.table.column_names else None
        for k, i in enumerate(positions):
            reason = reasons if isinstance(reasons, str) else reasons[k]
            if (int(i), column, reason) in self._seen:
                continue
            self._seen.add((int(i), column, reason))
            raw = source[int(i)].as_py() if source is not None else None
            value = "" if raw is None else str(raw)
            self.rejected[i] = True
            self.list.append(Reject(self.file, int(self.rows[i]), column, value, reason, item))


def convert_batch(mapping: SourceMapping, batch: SourceBatch, file: str,
                  converters: Converters | None = None) -> ConvertedBatch:
    """Convert every row of ``batch`` to model values (no store access).

    Returns one table per entity and relationship with a row per source row;
    rows with a bad value, an empty key or an empty required value are marked
    rejected and described in ``rejects`` (one ``Reject`` per problem).
    """
    converters = converters or Converters()
    table = batch.table
    n = len(batch.rows)
    problems = _Problems(file, batch.rows, table)

    def column(name: str) -> pa.Array:
        if name not in table.column_names:
            return pa.nulls(n, pa.string())
        values = table.column(name)
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values

    keys: dict[KeySpec, pa.Array] = {}
    converted: dict[tuple, tuple[pa.Array, np.ndarray, list[str]]] = {}

    def convert(name: str, conversion: Conversion, arrow_type: pa.DataType) -> tuple[pa.Array, np.ndarray, list[str]]:
        memo = (name, conversion.key, arrow_type)  # a column read twice the same way is converted once
        if memo not in converted:
            converted[memo] = converters.convert(conversion, arrow_type, column(name))
        return converted[memo]

    def key(spec: KeySpec, item: str) -> pa.Array:
        if spec not in keys:
            parts = []
            for name in spec.columns:
                values = column(name)
                if not pa.types.is_string(values.type):
                    values = values.cast(pa.string())
                values = _empty_to_null(pc.utf8_trim_whitespace(values))
                empty = np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))
                problems.add(empty, name, "key is empty", item)
                bad = id_problems(values)
                problems.add(bad, name, [str(id_problem(values[int(i)].as_py(), "key")) for i in bad], item)
                parts.append(values)
            value = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, spec.separator)
            if spec.prefix:
                value = pc.binary_join_element_wise(pa.scalar(spec.prefix), value, "")
            keys[spec] = value
        return keys[spec]

    def properties(item: str, props: Sequence[PropertyMapping], types: Mapping[str, str],
                   customer: bool = False) -> dict[str, pa.Array]:
        out = {}
        for p in props:
            arrow_type = ARROW_TYPES[types[p.name]]
            if p.column is None:
                values = pa.nulls(n, arrow_type)
            else:
                values, bad, reasons = convert(p.column, p.conversion, arrow_type)
                problems.add(bad, p.column, [f"{item}.{p.name}: {r}" for r in reasons], item)
            if p.default is not None:
                values = pc.fill_null(values, pa.scalar(p.default, arrow_type))
            if pa.types.is_string(arrow_type) and values.null_count < len(values):
                bad = text_problems(values)
                problems.add(bad, p.column or "", [f"{item}.{p.name}: {text_problem(values[int(i)].as_py(), 'text')}"
                                                   for i in bad], item)
            if customer:  # the rules partner upserts follow too (cdp.customers.write_rules)
                values, bad, reasons = customer_column(p.name, values, converters.rules)
                problems.add(bad, p.column or "", [f"{item}.{p.name}: {r}" for r in reasons], item)
                if p.name == "status":  # MERGED / ERASED: only identity resolution and erasure set them
                    bad, reasons = reserved_statuses(values)
                    problems.add(bad, p.column or "", [f"{item}.status: {r}" for r in reasons], item)
            if p.required:
                empty = np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))
                problems.add(empty, p.column or "", f"{item}.{p.name}: required value is empty", item)
            out[p.name] = values
        return out

    observed = mapping.source.observed_at
    observed_at = None
    if observed is not None and observed.column:
        observed_at, bad, reasons = convert(observed.column, observed.conversion, pa.timestamp("us"))
        problems.add(bad, observed.column, [f"observed_at: {r}" for r in reasons], "")
    elif observed is not None:
        observed_at = pa.array([observed.fixed] * n, pa.timestamp("us"))

    nodes: dict[str, pa.Table] = {}
    key_columns: dict[str, dict[str, str]] = {}
    attributes: dict[str, pa.Array] = {}
    for entity in mapping.entities:
        node = MODEL.node(entity.label)
        types = {p.name: p.type for p in node.properties}
        ids = _typed_keys(key(entity.key, entity.label), node.key_type)
        nodes[entity.label] = pa.table({node.key: ids, **properties(entity.label, entity.properties, types,
                                                                    customer=entity.label == "Customer")})
        if entity.attributes:
            attributes = properties(entity.label, entity.attributes, {a.name: "STRING" for a in entity.attributes})
    rels: dict[str, pa.Table] = {}
    for rel in mapping.relationships:
        declared = MODEL.relationship(rel.type)
        types = {p.name: p.type for p in declared.properties}
        ends = declared.endpoint_schema()
        sources = _typed_keys(key(rel.source.key, rel.type), ends.field("from").type)
        targets = _typed_keys(key(rel.target.key, rel.type), ends.field("to").type)
        rels[rel.type] = pa.table({"from": sources, "to": targets, **properties(rel.type, rel.properties, types)})
        key_columns[rel.type] = {"from": "+".join(rel.source.key.columns), "to": "+".join(rel.target.key.columns)}
    return ConvertedBatch(file, batch.rows, nodes, rels, problems.rejected, problems.list, observed_at, key_columns,
                          attributes)


def _typed_keys(keys: pa.Array, key_type: pa.DataType) -> pa.Array:
    """Mapped keys (text) as the label's key type: ``AttributeValue`` keys are integers, so
    their key text is hashed (``graph.observation_ids.text_ids``)."""
    return text_ids(keys) if pa.types.is_integer(key_type) else keys


# --------------------------------------------------------------------------- writing

def write_batch(store: GraphStore, mapping: SourceMapping, batch: ConvertedBatch) -> BatchOutcome:
    """Write the valid rows of ``batch`` that differ from the store, in one ``store.write``.

    First rejects the rows naming an erased customer (docs/privacy.md) and the rows
    whose relationship endpoint exists neither in the store nor among the batch's
    valid rows (repeatedly, as rejecting a row removes the nodes it would have
    created); then compares each node and
    relationship with the stored one and writes only the new and changed ones.
    """
    valid = ~batch.rejected
    batch_time = _file_time(batch.file)
    keys = {label: _distinct(table.column("id"), valid) for label, table in batch.nodes.items()}
    valid_before = int(valid.sum())  # the checks below may reject more rows
    stored = {label: store.nodes_table(label, ids) for label, ids in keys.items()}
    erased, erased_rows = _erased(store, mapping, batch, valid, stored.get("Customer"))
    rejects, rejected_rows = _check_endpoints(store, mapping, batch, valid, stored)
    rejects, rejected_rows = erased + rejects, erased_rows + rejected_rows
    items: dict[str, Counts] = {}
    ops: list[WriteOp] = []
    for entity in mapping.entities:
        table = batch.nodes[entity.label].filter(pa.array(valid))
        if not len(keys[entity.label]) == valid_before == table.num_rows:  # an id may repeat: the last row wins
            table = _last_per_key(table, ["id"])
        if entity.label == "Customer":
            table = _keep_status_and_tier(table, stored["Customer"])
        new, changed = _node_changes(table, stored[entity.label], [p.name for p in entity.properties])
        items[entity.label] = Counts(created=new.num_rows, updated=changed.num_rows,
                                     unchanged=table.num_rows - new.num_rows - changed.num_rows)
        # New rows as a fresh op (no second existence read), first so that LadybugDB can COPY them.
        ops += [node_op(entity.label, _with_defaults(rows) if fresh and entity.label == "Customer" else rows, fresh)
                for rows, fresh in ((new, True), (changed, False)) if rows.num_rows]
        if (new.num_rows or changed.num_rows) and entity.label == "Customer" and mapping.source.provenance:
            written = pa.concat_tables([new, changed])
            ops += observation_ops(
                store, mapping.source.name, mapping.source.trust, written, _rows_of(stored["Customer"], changed),
                _observed_times(batch, valid, written.column("id").combine_chunks(), batch_time),
                mapping.source.provenance)
        if entity.label == "Customer" and entity.attributes:
            items[ATTRIBUTES_ITEM] = _attribute_ops(store, mapping, batch, valid, batch_time, ops)
    for rel in mapping.relationships:
        table = _last_per_key(batch.relationships[rel.type].filter(pa.array(valid)), ["from", "to"])
        existing = store.relationships(rel.type, _distinct(table.column("from")))
        changed, counts = _changes(table, ["from", "to"], existing, [p.name for p in rel.properties])
        items[rel.type] = counts
        if changed.num_rows:
            ops.append(relationship_op(rel.type, changed))
    if ops:
        result = write_observations(store, ops)
        for name, counts in items.items():  # the store's counts are authoritative
            if name == ATTRIBUTES_ITEM:
                continue  # counted by _attribute_ops (values recorded, values unchanged)
            counts.created = result.created.get(name, 0)
            counts.updated = result.updated.get(name, 0)
    per_item: dict[str, set[int]] = {}
    for r in rejects:
        per_item.setdefault(r.item, set()).add(r.row)
    for name, rows in per_item.items():
        items[name].rejected += len(rows)
    return BatchOutcome(items, rejects, rejected_rows)


def _keep_status_and_tier(table: pa.Table, stored: pa.Table) -> pa.Table:
    """Customer rows with an empty mapped ``status`` or ``tier`` given the stored value
    (neither can be cleared; ``cdp.customers.write_rules.CUSTOMER_DEFAULTS``), else the default."""
    at = pc.index_in(table.column("id"), value_set=stored.column("id"))
    for name, default in CUSTOMER_DEFAULTS.items():
        if name in table.column_names and table.column(name).null_count:
            kept = pc.coalesce(table.column(name), stored.column(name).take(at), pa.scalar(default))
            table = table.set_column(table.column_names.index(name), name, kept)
    return table


def _with_defaults(new: pa.Table) -> pa.Table:
    """New Customer rows with ``CUSTOMER_DEFAULTS`` for the status and tier the mapping does not fill."""
    for name, default in CUSTOMER_DEFAULTS.items():
        if name not in new.column_names:
            new = new.append_column(name, pa.array([default] * new.num_rows, pa.string()))
    return new


def _node_changes(table: pa.Table, stored: pa.Table, props: list[str]) -> tuple[pa.Table, pa.Table]:
    """The rows of ``table`` (one per ``id``) not in ``stored`` (the stored nodes among
    them, ``GraphStore.nodes_table``), and those whose ``props`` differ from the stored
    ones (a null differs from a value: it clears the property), column by column."""
    if stored.num_rows == 0:  # a first import: everything is new
        return table, table.slice(0, 0)
    at = pc.index_in(table.column("id"), value_set=stored.column("id"))
    exists = pc.is_valid(at)
    old = table.filter(exists)
    before = stored.take(at.filter(exists))
    differs = np.zeros(old.num_rows, bool)
    for p in props:
        now, then = old.column(p), before.column(p)
        if now.type != then.type:
            now = now.cast(then.type)
        equal = pc.fill_null(pc.equal(now, then), False)
        both_null = pc.and_(pc.is_null(now), pc.is_null(then))
        differs |= ~np.asarray(pc.or_(equal, both_null).to_numpy(zero_copy_only=False), bool)
    return table.filter(pc.invert(exists)), old.filter(pa.array(differs))


def _rows_of(stored: pa.Table, rows: pa.Table) -> dict[str, Row]:
    """The stored rows (``stored``: a ``nodes_table``) of the ids in ``rows``, by id."""
    if rows.num_rows == 0:
        return {}
    keep = stored.filter(pc.is_in(stored.column("id"), value_set=rows.column("id")))
    return {r["id"]: r for r in keep.to_pylist()}


def _attribute_ops(store: GraphStore, mapping: SourceMapping, batch: ConvertedBatch, valid: np.ndarray,
                   batch_time: datetime, ops: list[WriteOp]) -> Counts:
    """Append to ``ops`` the ops recording the valid rows' mapped Customer attributes
    (``cdp.customers.provenance.attribute_ops``); return their counts (created, unchanged)."""
    mask = pa.array(valid)
    ids = batch.nodes["Customer"].column("id").filter(mask)
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    if batch.observed_at is not None:
        seen = pc.fill_null(batch.observed_at.filter(mask), pa.scalar(batch_time, pa.timestamp("us")))
    else:
        seen = pa.array([batch_time] * len(ids), pa.timestamp("us"))
    values = {key: column.filter(mask) for key, column in batch.attributes.items()}
    more, created, unchanged = attribute_ops(store, mapping.source.name, mapping.source.trust, ids, values,
                                             seen, identities_in(ops))
    ops += more
    return Counts(created=created, unchanged=unchanged)


def _erased(store: GraphStore, mapping: SourceMapping, batch: ConvertedBatch,
            valid: np.ndarray, customers: pa.Table | None = None) -> tuple[list[Reject], int]:
    """Reject (in ``valid``, in place) rows naming a customer that was erased, as a Customer
    row or a relationship's end (a ticket of theirs): an erased person's records are not
    taken in again (docs/privacy.md). ``customers``: the stored rows of the batch's valid
    Customer ids (a ``nodes_table``), read already (their status is not read again). Returns the rejects and
    the rows rejected."""
    from cdp.privacy.erasure import ERASED

    named: list[tuple[str, pa.Array, str]] = []  # (item, customer id per row, source column)
    for entity in mapping.entities:
        if entity.label == "Customer":
            named.append(("Customer", batch.nodes["Customer"].column("id"), "+".join(entity.key.columns)))
    for rel in mapping.relationships:
        for side, end in (("from", rel.source), ("to", rel.target)):
            if end.label == "Customer":
                named.append((rel.type, batch.relationships[rel.type].column(side), batch.key_columns[rel.type][side]))
    if not named:
        return [], 0
    mask = pa.array(valid)
    gone: set[str] = set()
    if customers is not None and named[0][0] == "Customer":
        gone = set(customers.filter(pc.fill_null(pc.equal(customers.column("status"), ERASED), False))
                   .column("id").to_pylist())
        named_elsewhere = named[1:]
    else:
        named_elsewhere = named
    if named_elsewhere:
        ids = pa.chunked_array([values.filter(mask) for _, values, _ in named_elsewhere])
        gone |= store.customers_with_status(ids if len(named_elsewhere) == 1 else pc.unique(ids), ERASED)
    if not gone:
        return [], 0
    rejects = []
    for item, values, column in named:
        for i, (key, ok) in enumerate(zip(values.to_pylist(), valid)):
            if ok and key in gone:
                valid[i] = False
                rejects.append(Reject(batch.file, int(batch.rows[i]), column, key,
                                      f"customer {key!r} was erased; their records are not imported again", item))
    return rejects, len(rejects)


def _file_time(path: str) -> datetime:
    """When a file's records were observed, lacking an ``observed_at`` column: its
    modification time (naive UTC), so re-importing the file records the same times."""
    try:
        return datetime.fromtimestamp(Path(path).stat().st_mtime, timezone.utc).replace(tzinfo=None)
    except OSError:
        return _utcnow()


def _observed_times(batch: ConvertedBatch, valid: np.ndarray, ids: pa.Array, batch_time: datetime) -> pa.Array:
    """When each customer of ``ids`` was observed: the ``observed_at`` of its last valid
    Customer row with one, else ``batch_time`` (also when the mapping has no such column).
    Returns a ``timestamp[us]`` array aligned with ``ids``."""
    fallback = pa.scalar(batch_time, pa.timestamp("us"))
    if batch.observed_at is None:
        return pa.repeat(fallback, len(ids))
    keep = pc.and_(pa.array(valid), pc.is_valid(batch.observed_at))
    rows = batch.nodes["Customer"].column("id").combine_chunks().filter(keep)
    times = batch.observed_at.filter(keep)
    if len(rows) == len(ids) and rows.equals(ids):  # the usual first import: one row per id, in order
        return times.cast(pa.timestamp("us"))
    rows, times = rows[::-1], times[::-1]  # the last row first
    return pc.fill_null(pc.take(times, pc.index_in(ids, value_set=rows)), fallback).cast(pa.timestamp("us"))


def _distinct(values: pa.ChunkedArray | pa.Array, mask: np.ndarray | None = None) -> pa.Array:
    """The distinct non-null ``values`` (of the rows ``mask`` keeps), for a keyed store read."""
    if mask is not None:
        values = values.filter(pa.array(mask))
    unique = pc.unique(values.drop_null())
    return unique.combine_chunks() if isinstance(unique, pa.ChunkedArray) else unique


def _check_endpoints(store: GraphStore, mapping: SourceMapping, batch: ConvertedBatch, valid: np.ndarray,
                     stored: dict[str, pa.Table]) -> tuple[list[Reject], int]:
    """Reject (in ``valid``, in place) rows whose relationship endpoints are missing; return the rejects."""
    if not mapping.relationships:
        return [], 0
    present: dict[str, set[str]] = {label: set(rows.column("id").to_pylist()) for label, rows in stored.items()}
    absent: dict[str, set[str]] = {}
    rejects: list[Reject] = []
    rejected_rows = 0
    ids = {(rel.type, side): batch.relationships[rel.type].column(side).to_pylist()
           for rel in mapping.relationships for side in ("from", "to")}
    node_ids = {label: table.column("id").to_pylist() for label, table in batch.nodes.items()}
    while True:
        produced = {label: {i for i, ok in zip(values, valid) if ok} for label, values in node_ids.items()}
        newly: list[tuple[int, str, str, str, str]] = []
        for rel in mapping.relationships:
            for side, end in (("from", rel.source), ("to", rel.target)):
                label = end.label
                here = produced.get(label, set())
                known = present.setdefault(label, set())
                missing = absent.setdefault(label, set())
                values = ids[(rel.type, side)]
                unknown = {v for v, ok in zip(values, valid) if ok and v not in here and v not in known
                           and v not in missing}
                if unknown:
                    found = store.existing_ids(label, list(unknown))
                    known |= found
                    missing |= unknown - found
                for i, (v, ok) in enumerate(zip(values, valid)):
                    if ok and v in missing and v not in here:
                        newly.append((i, rel.type, side, label, v))
        if not newly:
            return rejects, rejected_rows
        for i, rel_type, side, label, value in newly:
            if valid[i]:
                valid[i] = False
                rejected_rows += 1
            rejects.append(Reject(batch.file, int(batch.rows[i]), batch.key_columns[rel_type][side], value,
                                  f"{rel_type} {side}: no {label} {value!r} in the store or in this batch",
                                  rel_type))


def _last_per_key(table: pa.Table, keys: list[str]) -> pa.Table:
    """Keep the last row for each key (a later row in a file wins), in row order."""
    if len(keys) == 1 and pc.count_distinct(table.column(keys[0])).as_py() == table.num_rows:
        return table
    columns = [table.column(k).to_pylist() for k in keys]
    last = {key: i for i, key in enumerate(zip(*columns))}
    if len(last) == table.num_rows:
        return table
    return table.take(sorted(last.values()))


def _changes(table: pa.Table, keys: list[str], stored: Mapping[Any, Row],
             props: list[str]) -> tuple[pa.Table, Counts]:
    """The rows of ``table`` that are new or differ from ``stored`` in ``props``, and the counts."""
    if not stored:  # a first import: everything is new
        return table, Counts(created=table.num_rows)
    key_values = [table.column(k).to_pylist() for k in keys]
    composite = list(zip(*key_values)) if len(keys) > 1 else key_values[0]
    exists = np.fromiter((k in stored for k in composite), dtype=bool, count=table.num_rows)
    new = table.filter(pa.array(~exists))
    old_positions = np.flatnonzero(exists)
    changed_positions = []
    if len(old_positions):
        old = table.take(pa.array(old_positions)).select(props).to_pylist() if props else []
        for k, position in enumerate(old_positions):
            before = stored[composite[position]]
            if props and any(before.get(p) != old[k][p] for p in props):
                changed_positions.append(position)
    changed = table.take(pa.array(changed_positions, pa.int64()))
    counts = Counts(created=new.num_rows, updated=len(changed_positions),
                    unchanged=len(old_positions) - len(changed_positions))
    return pa.concat_tables([new, changed]), counts
