"""Reading a source file for ``cdp import``: CSV, Parquet or JSON Lines, in batches of rows.

``open_source(mapping, path)`` opens a file in the format its mapping (or extension) names
and yields ``SourceBatch``es of raw text columns with their file row numbers; a row that cannot
be read at all (a broken CSV line, bad JSON) becomes a ``Reject``. Raises ``InvalidInput``
naming the file when it cannot be opened or its columns do not match the mapping.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cdp.errors import InvalidInput
from cdp.ingest.mapping import SourceMapping

#: Rows per batch when reading a file without a store (``convert_batch``, the CLI's
#: check of a file before it opens the store). An import's batches (one transaction
#: each) default to the store's ``import_batch_rows``: 1,000,000 on the embedded store,
#: 10,000 on Neo4j. A kill loses at most the batch under way; re-running converges.
DEFAULT_BATCH_SIZE = 50_000

#: File extensions and the format they imply when the mapping names none.
EXTENSIONS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
              ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}

_CSV_BLOCK_BYTES = 4 << 20


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
class SourceBatch:
    """Rows read from a file: a table of source columns, each row's number in the
    file, and the rows that could not be read at all (malformed lines)."""

    table: pa.Table
    rows: np.ndarray
    rejects: list[Reject] = field(default_factory=list)


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
                        values[column].append(as_text(_lookup(record, column)))
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


def as_text(value: Any) -> str | None:
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
