"""The embedded backend: LadybugDB, one file on disk, no server.

LadybugDB runs in this process. Readers use one connection per thread and run
in parallel; LadybugDB refuses a second concurrent write transaction instead
of waiting, so every write goes through one connection behind a lock.
Bulk loads use ``COPY ... FROM`` an Arrow table; upserts use
``LOAD FROM <arrow table> MERGE`` inside an explicit transaction, measured at
~30 us per row (``UNWIND $rows MERGE`` is ~100x slower on this backend).
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from graph import queries as Q
from graph.cypher import Query
from graph.errors import KeyTaken, StoreError, StoreLocked, StoreUnavailable
from graph.model import MODEL
from graph.observation_ids import distinct_ids, value_ids
from graph.store import GraphStore, Row


#: WAL size (MiB) at which LadybugDB checkpoints (its own default, 16, checkpoints
#: after almost every import batch: 1M-row import 42,845 rows/s at 16, 51,268 at
#: 256, 70,959 at 1024; docs/import.md). Closing the store checkpoints anyway.
DEFAULT_CHECKPOINT_MB = 1024

#: New rows a write creates with ``COPY`` rather than ``LOAD FROM ... CREATE`` from
#: this many on (an import batch: 250,000 observations in ~0.4 s against ~1.3 s).
#: A transaction that COPYs checkpoints on commit (~1 s at 1M customers), so small
#: interactive batches stay on CREATE: 1,000 new contacts with their links took
#: 1.2 s through COPY and 0.26 s through CREATE at 1M customers (docs/benchmarks.md).
COPY_MIN_ROWS = 5_000

#: Buffer pool (MiB) charged per column of a node table for each ``COPY`` into it in a
#: transaction. LadybugDB 0.22 keeps a node group in the pool for every such COPY until
#: the database is closed (measured ~0.6 MiB per column, whatever the row count: a
#: 256 MiB pool was full after ~20 COPYs of ``Customer``); relationship COPYs keep
#: nothing. Node COPYs stop, and nodes are created with ``LOAD FROM ... CREATE``, once
#: ``COPY_POOL_SHARE`` of the pool has been charged.
COPY_MIB_PER_COLUMN = 1.0
COPY_POOL_SHARE = 0.5

#: Keyed reads of at most this many keys run one primary-key lookup per key
#: (``Query.ladybug_per_key``): ~0.3 ms per key against ~25-30 ms for one
#: ``IN $ids`` scan at 1M customers, so the lookups win below ~100 keys.
PER_KEY_LIMIT = 64


class LadybugStore(GraphStore):
    """A ``GraphStore`` in a LadybugDB database file.

    ``path`` is the database file (its folder is created); ``buffer_pool_mb``
    caps LadybugDB's page cache (its default would take 80% of RAM).
    Raises ``StoreUnavailable`` when the file cannot be opened, for example
    because another process holds it read-write.
    """

    backend = "ladybug"
    #: Statements reading an Arrow table parameter (``LOAD FROM $rows``, ``COPY``) after
    #: which a connection is replaced. LadybugDB 0.22 keeps ~0.4 MiB of buffer pool per
    #: such statement until its connection closes (not freed by COMMIT or CHECKPOINT): a
    #: 256 MiB pool was full after ~650 one-row updates, then every statement failed
    #: with "buffer pool is full". A fresh connection costs well under a millisecond.
    arrow_statements_per_connection = 100
    inline_read_limit = PER_KEY_LIMIT
    arrow_keys = True
    #: LadybugDB 0.22 ends every transaction that COPYs with a checkpoint whose cost grows
    #: with the size of the tables, not of the batch (0.2 s after 1M rows of a two-column
    #: table, 1.0 s after 6M; bench/copy_floor_model.py): the fewer batches, the faster.
    #: A 1M-row import with provenance: 24.0 s in batches of 250,000, 20.8 s of 500,000,
    #: 18.7 s in one (peak RSS 3.8, 4.5 and 3.8 GiB; docs/import.md).
    import_batch_rows = 1_000_000
    #: Reads running at once (the rest wait their turn). Every running query holds pages of
    #: the one shared buffer pool: 40 concurrent customer searches with a spend range (the
    #: server's worker-thread pool) filled a 256 MiB pool and failed with "buffer pool is
    #: full" (bench/loadtest.py); on 2 cores more than a few concurrent reads gain nothing.
    max_concurrent_reads = 4

    def __init__(self, path: str | Path, buffer_pool_mb: int = 1024, read_only: bool = False,
                 checkpoint_mb: int = DEFAULT_CHECKPOINT_MB) -> None:
        super().__init__()
        import ladybug  # imported here so the Neo4j backend works without it

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = ladybug.Database(
                str(self.path), buffer_pool_size=buffer_pool_mb * 1024 * 1024, read_only=read_only
            )
        except RuntimeError as exc:
            held = re.search(r"Could not set lock on file.*?held by PID (\d+)", str(exc))
            if held or "Could not set lock on file" in str(exc):
                pid = int(held.group(1)) if held else None
                raise StoreLocked(f"the embedded store at {self.path} is in use by another process"
                                  + (f" (PID {pid})" if pid else ""), pid) from exc
            raise StoreUnavailable(f"cannot open the embedded store at {self.path}: {exc}") from exc
        self._ladybug = ladybug
        self._read_gate = ReadGate(self.max_concurrent_reads)
        self._write_lock = threading.RLock()
        # Guards the read-connection pool only: never held during a statement, so reads do
        # not wait for a write transaction (which holds ``_write_lock`` throughout).
        self._pool_lock = threading.Lock()
        self._writer = ladybug.Connection(self._db)
        self._readers: list[Any] = []  # every read connection, closed with the store
        self._idle: list[Any] = []  # read connections not in use
        self._arrow_counts: dict[int, int] = {}  # Arrow-parameter statements per read connection
        self._writer_arrow = 0  # Arrow-parameter statements run on the writer connection
        self._closed = False
        self._copy_budget_mib = buffer_pool_mb * COPY_POOL_SHARE  # see COPY_MIB_PER_COLUMN
        # A read-write open locks the file, so no other process can change it under our caches.
        self.exclusive_writer = not read_only
        if not read_only:
            # LadybugDB checkpoints when the WAL passes this size; its 16 MiB default
            # checkpoints after nearly every import batch (~0.5 s each).
            self._execute(self._writer, f"CALL checkpoint_threshold={int(checkpoint_mb) * 1024 * 1024}", None)
            self.ensure_schema()

    # ------------------------------------------------------------ connections

    def _connection(self) -> Any:
        """A read connection for the caller's exclusive use (an idle one, or a new one);
        give it back with ``_release``. Callers hold ``_read_gate``, so at most
        ``max_concurrent_reads`` read connections ever exist."""
        if self._closed:
            raise StoreUnavailable("the embedded store is closed")
        with self._pool_lock:
            if self._idle:
                return self._idle.pop()
            conn = self._ladybug.Connection(self._db)
            self._readers.append(conn)
            self._arrow_counts[id(conn)] = 0
            return conn

    def _release(self, conn: Any, pool_full: bool = False) -> None:
        """Give back a read connection. It is closed instead after ``arrow_statements_per_connection``
        Arrow statements, and, after the buffer pool ran full, so are the idle ones: LadybugDB
        0.22 frees what a connection holds only when it closes (idle connections kept a 64 MiB
        pool full for good after a burst of concurrent searches; tests/graph/test_ladybug_memory.py)."""
        with self._pool_lock:
            if self._closed:
                return
            retire = [conn] if pool_full or self._arrow_counts.get(id(conn), 0) >= \
                self.arrow_statements_per_connection else []
            if pool_full:
                retire += self._idle
                self._idle = []
            if not retire:
                self._idle.append(conn)
            for old in retire:
                self._readers.remove(old)
                self._arrow_counts.pop(id(old), None)
                old.close()

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        """A read connection while a read slot is held (see ``max_concurrent_reads``)."""
        with self._read_gate:
            conn = self._connection()
            pool_full = False
            try:
                yield conn
            except StoreError as exc:
                pool_full = "buffer pool is full" in str(exc)
                raise
            finally:
                self._release(conn, pool_full)

    def _recycle_writer(self) -> None:
        """Replace the writer connection once it ran enough Arrow statements (outside a
        transaction, under the write lock)."""
        if self._writer_arrow >= self.arrow_statements_per_connection and not self._closed:
            self._writer.close()
            self._writer = self._ladybug.Connection(self._db)
            self._writer_arrow = 0

    def _execute(self, conn: Any, text: str, params: Mapping[str, Any] | None) -> Any:
        self._counted()
        if params and any(isinstance(v, pa.Table) for v in params.values()):
            if conn is self._writer:
                self._writer_arrow += 1
            else:
                self._arrow_counts[id(conn)] = self._arrow_counts.get(id(conn), 0) + 1
        try:
            return conn.execute(text, dict(params) if params else {})
        except RuntimeError as exc:
            if "duplicated primary key" in str(exc):
                raise KeyTaken(f"a create found its key stored already: {exc}") from exc
            raise StoreError(f"embedded store rejected a statement: {exc}") from exc

    # ------------------------------------------------------------ primitives

    def _fetch(self, query: Query, params: Mapping[str, Any] | None = None) -> list[Row]:
        with self._reading() as conn:
            return _rows(self._execute(conn, query.text("ladybug"), _tables(query, params)))

    def _fetch_keyed(self, query: Query, ids: list[str], params: Mapping[str, Any]) -> list[Row]:
        # One primary-key lookup per key beats one IN-list scan up to ~100 keys (docs/benchmarks.md).
        if query.ladybug_per_key is None or len(ids) > PER_KEY_LIMIT:
            return self._fetch(query, {**params, "ids": ids})
        with self._reading() as conn:
            rows: list[Row] = []
            for key in ids:
                rows += _rows(self._execute(conn, query.ladybug_per_key, {**params, "id": key}))
            return rows

    def _read_arrow(self, query: Query, params: Mapping[str, Any] | None = None) -> pa.Table:
        with self._reading() as conn:
            return _arrow(self._execute(conn, query.text("ladybug"), params))

    def _fetch_table(self, query: Query, params: Mapping[str, Any], schema: pa.Schema) -> pa.Table:
        with self._reading() as conn:
            table = _arrow(self._execute(conn, query.text("ladybug"), params))
        if table.num_rows == 0:
            return schema.empty_table()
        return table.select(schema.names).cast(schema)

    def _fetch_table_keyed(self, query: Query, ids: Any, schema: pa.Schema) -> pa.Table:
        if isinstance(ids, pa.Array):
            # Many keys as Arrow: one LOAD FROM of a key table, rows straight to Arrow (an
            # import batch's million customers read in ~1 s instead of ~10 s as dicts).
            return self._fetch_table(query, {"ids": pa.table({"key": ids})}, schema)
        # Projection refreshes read the rows of the customers a write touched. An
        # ``IN $ids`` list is compared against every row (2 s for 1,000 ids at 1M
        # customers), a primary-key lookup per key costs ~0.3 ms: always look up.
        if query.ladybug_per_key is None:
            return self._fetch_table(query, {"ids": ids}, schema)
        with self._reading() as conn:
            rows: list[Row] = []
            for key in ids:
                rows += _rows(self._execute(conn, query.ladybug_per_key, {"id": key}))
        return pa.Table.from_pylist(rows, schema=schema)

    def _write_statement(self, query: Query, params: Mapping[str, Any]) -> None:
        with self._write_lock:
            self._execute(self._writer, query.text("ladybug"), params)
            self._recycle_writer()

    def ensure_schema(self) -> None:
        """Create missing tables, and add properties the model declares but a
        store made by an older cdp lacks (``ALTER TABLE ... ADD``; existing rows get null)."""
        with self._write_lock:
            for stmt in Q.ladybug_schema_statements():
                self._execute(self._writer, stmt.text("ladybug"), None)
            tables = [(n.label, n.properties) for n in MODEL.nodes]
            tables += [(r.type, r.properties) for r in MODEL.relationships]
            for table, properties in tables:
                info = self._execute(self._writer, Q.ladybug_table_info(table).text("ladybug"), None)
                have = {row[0] for row in info.get_all()}
                for prop in properties:
                    if prop.name not in have:
                        self._execute(self._writer,
                                      Q.ladybug_add_property(table, prop.name, prop.type).text("ladybug"), None)
            self._retype_value_ids()
        self.seed_channels()

    def _retype_value_ids(self) -> None:
        """Give a store made before ``AttributeValue.id`` was INT64 the new keys, in one transaction.

        Reads every value and its owner, computes each id from its identity, key and time
        (``graph.observation_ids``), writes them to new tables, drops the old ones and renames
        the new ones in their place. A crash rolls it back; the next open starts again.
        Called with the write lock held.
        """
        node, rel = MODEL.node("AttributeValue"), MODEL.relationship("HAS_ATTRIBUTE")
        info = self._execute(self._writer, Q.ladybug_table_info(node.label).text("ladybug"), None)
        if {row[0]: row[1] for row in info.get_all()}.get("id") == "INT64":
            return
        old = _arrow(self._execute(self._writer, Q.LEGACY_ATTRIBUTE_VALUES.text("ladybug"), None))
        props = [p.name for p in node.properties if p.name != "id"]
        content = list(zip(*(old.column(c).to_pylist() for c in ("identity_id", "key", "observed_at"))))
        ids = distinct_ids(value_ids(old.column("identity_id"), old.column("key"),
                                     old.column("observed_at")).to_numpy(), content)
        values = pa.table({"id": pa.array(ids, pa.int64()), **{c: old.column(c) for c in props}})
        values = values.cast(node.arrow_schema())
        owned = pc.is_valid(old.column("owner"))
        links = pa.table({"from": old.column("owner").filter(owned), "to": values.column("id").filter(owned)})
        create, swap = Q.ladybug_retype_statements(node, rel, "_v2")
        self._execute(self._writer, "BEGIN TRANSACTION", None)
        try:
            for stmt in create:
                self._execute(self._writer, stmt.text("ladybug"), None)
            if values.num_rows:
                self._execute(self._writer, Q.ladybug_copy(f"{node.label}_v2").text("ladybug"), {"rows": values})
            if links.num_rows:
                self._execute(self._writer, Q.ladybug_copy(f"{rel.type}_v2").text("ladybug"), {"rows": links})
            for stmt in swap:
                self._execute(self._writer, stmt.text("ladybug"), None)
        except BaseException:
            try:
                self._writer.execute("ROLLBACK")
            except RuntimeError:
                pass
            raise
        self._execute(self._writer, "COMMIT", None)

    @contextmanager
    def _transaction(self) -> Iterator[_LadybugTransaction]:
        with self._write_lock:
            if self._closed:
                raise StoreUnavailable("the embedded store is closed")
            self._execute(self._writer, "BEGIN TRANSACTION", None)
            try:
                yield _LadybugTransaction(self)
            except BaseException:
                try:
                    self._writer.execute("ROLLBACK")
                except RuntimeError:
                    pass  # the failed statement already ended the transaction
                self._recycle_writer()
                raise
            self._execute(self._writer, "COMMIT", None)
            self._recycle_writer()

    def _rows_param(self, table: pa.Table) -> pa.Table:
        # LOAD FROM binds columns as variables: give them neutral names.
        return table.rename_columns(Q.ladybug_load_columns(table.column_names))

    def _keys_param(self, keys: pa.Array) -> pa.Table:
        return pa.table({"key": keys})  # read with LOAD FROM (``Query.ladybug_tables``)

    def _create(self, tx: Any, name: str, is_node: bool, props: tuple[str, ...], rows: pa.Table,
                touched: bool, *, fresh: bool = False) -> None:
        # COPY inside a transaction is only safe on a table the transaction has not
        # written yet: after a CREATE or MERGE into the same table, LadybugDB 0.22 mixes
        # up row offsets (a later MERGE updated the wrong node) or crashes.
        cost = len(MODEL.node(name).properties) * COPY_MIB_PER_COLUMN if is_node else 0.0
        if touched or rows.num_rows < COPY_MIN_ROWS or cost > self._copy_budget_mib:
            super()._create(tx, name, is_node, props, rows, touched, fresh=fresh)
            return
        query = Q.copy_nodes(MODEL.node(name), props) if is_node else \
            Q.copy_relationships(MODEL.relationship(name), props)
        self._copy_budget_mib -= cost  # charged even if the write rolls back: the pool may keep it
        tx.run(query, {"rows": self._rows_param(rows)})

    def _bulk_create(self, name: str, is_node: bool, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        query = Q.bulk_create_nodes(MODEL.node(name)) if is_node else Q.bulk_create_relationships(
            MODEL.relationship(name))
        with self._write_lock:
            self._execute(self._writer, query.text("ladybug"), {"rows": table})

    def export_nodes(self, label: str) -> pa.Table:
        node = MODEL.node(label)
        return self._read_arrow(Q.export_nodes(node)).cast(node.arrow_schema())

    def export_relationships(self, rel_type: str) -> pa.Table:
        rel = MODEL.relationship(rel_type)
        return self._read_arrow(Q.export_relationships(rel)).cast(rel.arrow_schema())

    def close(self) -> None:
        with self._write_lock, self._pool_lock:
            if self._closed:
                return
            self._closed = True
            for conn in self._readers:
                conn.close()
            self._readers.clear()
            self._idle.clear()
            self._writer.close()
            self._db.close()


class ReadGate:
    """At most ``slots`` holders at once, admitted first come, first served.

    ``threading.Semaphore`` lets a thread that just released take a slot again ahead of
    the threads already waiting, so under steady load some waiters starve: with 16
    threads reading through 4 slots one view waited 20 s (``bench/store_floor.py``).
    Here a released slot goes to the longest waiter. Use as a context manager.
    """

    def __init__(self, slots: int) -> None:
        self._lock = threading.Lock()
        self._free = slots
        self._waiters: deque[threading.Event] = deque()

    def __enter__(self) -> ReadGate:
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return self
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()  # the releasing thread handed its slot over
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._free += 1


class _LadybugTransaction:
    """Statements on the writer connection inside BEGIN ... COMMIT."""

    def __init__(self, store: LadybugStore) -> None:
        self._store = store

    def read(self, query: Query, params: Mapping[str, Any]) -> list[Row]:
        result = self._store._execute(self._store._writer, query.text("ladybug"), _tables(query, params))
        return _rows(result)

    def run(self, query: Query, params: Mapping[str, Any]) -> None:
        self._store._execute(self._store._writer, query.text("ladybug"), params)


def _tables(query: Query, params: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """``params`` with the lists ``query.ladybug_tables`` names turned into one-column Arrow tables."""
    if not query.ladybug_tables or not params:
        return params
    out = dict(params)
    for name in query.ladybug_tables:
        if isinstance(out.get(name), pa.Array):
            out[name] = pa.table({"key": out[name]})
        elif name in out and not isinstance(out[name], pa.Table):
            keys = list(out[name])
            typed = pa.int64() if keys and isinstance(keys[0], int) else pa.string()  # AttributeValue keys are INT64
            out[name] = pa.table({"key": pa.array(keys, typed)})
    return out


#: Keys LadybugDB adds to node and relationship values.
_INTERNAL_KEYS = ("_ID", "_LABEL", "_SRC", "_DST")


def _rows(result: Any) -> list[Row]:
    """The rows of ``result`` as dicts; the result is closed (see ``_arrow``)."""
    try:
        names = result.get_column_names()
        return [{n: _plain(v) for n, v in zip(names, values)} for values in result.get_all()]
    finally:
        result.close()


def _arrow(result: Any) -> pa.Table:
    """``result`` as an Arrow table, closed at once: an open LadybugDB result keeps its
    buffer-pool pages until it is closed or collected, and results kept by idle threads'
    connections filled the pool under concurrent searches (bench/loadtest.py)."""
    try:
        return result.get_as_arrow()
    finally:
        result.close()


def _plain(value: Any) -> Any:
    """Strip LadybugDB's internal keys (``_ID``, ``_LABEL``, ...) from node values."""
    if isinstance(value, dict):
        for key in _INTERNAL_KEYS:
            value.pop(key, None)
    return value
