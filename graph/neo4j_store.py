"""The production backend: Neo4j 5 (a server, a cluster or Aura) through the official Python driver.

One driver per process: it pools connections and, with a ``neo4j://`` (routing) URI,
sends writes to the leader and reads to the other members of a cluster. What this
backend guarantees, and why (docs/neo4j.md):

- Every write batch is one *managed* write transaction (``session.execute_write``): the
  driver retries it whole on a transient failure (a deadlock between two writers, a leader
  switch) for up to ``max_retry_seconds``; ``GraphStore.write`` rebuilds its state on every
  attempt. A batch is applied whole or not at all.
- One ``BookmarkManager`` is shared by every session and ``execute_query`` call of the
  store, so a read issued after a write sees that write even when a cluster serves it
  from another member (causal consistency within the process).
- Every node key has a uniqueness constraint; a ``fresh`` create runs ``CREATE`` and the
  constraint turns a stored key into ``KeyTaken``. Relationship ``MERGE`` between two
  matched nodes is Neo4j 5's ``LockingMerge`` (both nodes locked), so concurrent writes
  of one pair leave one relationship.
- Rows of ``RETURN n`` carry every property of the model (``None`` when unset), as on
  the embedded store: Neo4j itself omits unset properties.

Times are stored as Neo4j ``LocalDateTime`` values holding UTC, dates as ``Date``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from graph import change_feed as feed
from graph import queries as Q
from graph.clock import utc_now
from graph.cypher import Query
from graph.errors import KeyTaken, StoreError, StoreUnavailable
from graph.model import MODEL
from graph.observation_ids import distinct_ids, value_ids
from graph.store import Changes, GraphStore, Progress, Row, Transaction
from graph.write_batch import conform

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Rows per transaction of a bulk load (Neo4j's advice: 10k-50k per transaction; 25,000
#: keeps a batch's transaction state in tens of MiB of the server's heap).
BULK_BATCH = 25_000
#: Seconds the driver may retry one bulk-load batch that failed for a transient reason
#: (two batches in flight deadlocking on a shared end node: the server picks one to retry).
BULK_RETRY_SECONDS = 120.0

#: Every property name of each label and relationship type, to fill what Neo4j omits.
_NODE_PROPERTIES = {node.label: node.property_names for node in MODEL.nodes}
_REL_PROPERTIES = {rel.type: rel.property_names for rel in MODEL.relationships}


class Neo4jStore(GraphStore):
    """A ``GraphStore`` on a Neo4j 5 server or cluster (``bolt://``, ``neo4j://`` routing,
    ``+s`` / ``+ssc`` for TLS, as Aura's ``neo4j+s://``).

    ``connect_timeout`` bounds opening one connection and ``max_retry_seconds``
    the driver's retries of a call that failed for a transient reason (the
    server down, a leader election, a deadlock): past them a call raises
    ``StoreUnavailable`` (``StoreError`` for a deadlock that persists).
    Nothing here holds a session or a connection between calls: every call
    borrows one from the driver's pool, which drops broken connections and
    opens new ones, so the store works again as soon as the server is back.

    Raises ``StoreUnavailable`` if the server cannot be reached or refuses the
    credentials at start-up, unless ``lazy``: then the first call that reaches
    the server creates the constraints and indexes (a server may be down while
    the API starts; it answers ``STORE_UNAVAILABLE`` until the server is up).
    """

    backend = "neo4j"
    one_statement_views = True  # a round trip costs more than the statement: one per view
    change_feed = True
    # Columnar slices decode in Python while the server and the socket work for the
    # others; four readers of 50,000 customers each measured best (docs/neo4j.md).
    projection_readers = 4
    projection_slice_customers = 50_000
    #: An import batch is one transaction, held in the server's transaction memory until it
    #: commits: with provenance a CSV row is ~13 graph elements, and 50,000 rows overran a
    #: 2 GiB heap's transaction pool (70% of the heap); 10,000 rows use a few hundred MiB.
    import_batch_rows = 10_000
    #: Batches of one table a bulk load keeps in flight, each in its own session and
    #: transaction: the server works on one while the client packs the next.
    bulk_writers = 2

    def __init__(self, uri: str, user: str, password: str, database: str = "neo4j", *,
                 connect_timeout: float = 5.0, max_retry_seconds: float = 5.0, lazy: bool = False,
                 change_retention_seconds: float = 86_400.0) -> None:
        super().__init__()
        import neo4j

        self.origin = uuid.uuid4().hex
        self.change_retention_seconds = change_retention_seconds

        self._neo4j = neo4j
        self.uri = uri
        self.database = database
        self._schema_ready = False
        #: Shared by every session and query of this store: reads wait for this process's writes.
        self._bookmarks = neo4j.GraphDatabase.bookmark_manager()
        try:
            self._driver = neo4j.GraphDatabase.driver(
                uri, auth=(user, password), connection_timeout=connect_timeout,
                connection_acquisition_timeout=connect_timeout + max_retry_seconds,
                max_transaction_retry_time=max_retry_seconds,
                # The server's notes ("property key does not exist" on an empty store, ...) would
                # be logged for every statement; cdp's statements are linted instead.
                notifications_min_severity="OFF")
            if not lazy:
                self._driver.verify_connectivity()
        except (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.AuthError,
                neo4j.exceptions.ConfigurationError, ValueError, OSError) as exc:
            raise StoreUnavailable(f"cannot reach Neo4j at {uri}: {exc}") from exc
        if not lazy:
            self.ensure_schema()

    def _ready(self) -> None:
        """Create the schema on the first call of a lazily started store (StoreUnavailable while down)."""
        if not self._schema_ready:
            self.ensure_schema()

    def _errors(self) -> tuple[type[Exception], ...]:
        return (self._neo4j.exceptions.Neo4jError, self._neo4j.exceptions.DriverError)

    def _raise(self, exc: Exception) -> None:
        if isinstance(exc, (self._neo4j.exceptions.ServiceUnavailable, self._neo4j.exceptions.SessionExpired)):
            raise StoreUnavailable(f"Neo4j is unavailable: {exc}") from exc
        if isinstance(exc, self._neo4j.exceptions.ConstraintError):
            raise KeyTaken(f"a create found its key stored already: {exc}") from exc
        raise StoreError(f"Neo4j rejected a statement: {exc}") from exc

    def _session(self) -> Any:
        return self._driver.session(database=self.database, bookmark_manager=self._bookmarks)

    def _fetch(self, query: Query, params: Mapping[str, Any] | None = None) -> list[Row]:
        self._ready()
        self._counted()
        try:
            records, _, _ = self._driver.execute_query(
                query.text("neo4j"), dict(params or {}), database_=self.database,
                routing_=self._neo4j.RoutingControl.READ, bookmark_manager_=self._bookmarks,
            )
        except self._errors() as exc:
            self._raise(exc)
        # neo4j's Record.items() has no annotations
        return [{k: _plain(v) for k, v in rec.items()} for rec in records]  # type: ignore[no-untyped-call]

    def _fetch_table(self, query: Query, params: Mapping[str, Any], schema: pa.Schema) -> pa.Table:
        if not query.neo4j_columns:
            return super()._fetch_table(query, params, schema)
        self._ready()
        self._counted()
        try:
            records, _, _ = self._driver.execute_query(
                query.text("neo4j"), dict(params), database_=self.database,
                routing_=self._neo4j.RoutingControl.READ,
            )
        except self._errors() as exc:
            self._raise(exc)
        record = records[0]
        return pa.table([_column(record[f.name], f.type) for f in schema], schema=schema)

    def _fetch_table_keyed(self, query: Query, ids: Any, schema: pa.Schema) -> pa.Table:
        if not query.neo4j_columns:
            return super()._fetch_table_keyed(query, ids, schema)
        return self._fetch_table(query, {"ids": list(ids) if not isinstance(ids, list) else ids}, schema)

    def _write_statement(self, query: Query, params: Mapping[str, Any]) -> None:
        """One statement in its own managed write transaction (retried on transient errors)."""
        self._counted()
        try:
            self._driver.execute_query(query.text("neo4j"), dict(params), database_=self.database,
                                       routing_=self._neo4j.RoutingControl.WRITE,
                                       bookmark_manager_=self._bookmarks)
        except self._errors() as exc:
            self._raise(exc)

    def _autocommit(self, query: Query, params: Mapping[str, Any] | None = None) -> None:
        """One statement in an auto-commit transaction: what ``CALL { ... } IN TRANSACTIONS``
        needs (it commits as it goes, so it is not retried: callers make it idempotent)."""
        self._counted()
        try:
            with self._session() as session:
                session.run(query.text("neo4j"), dict(params or {})).consume()
        except self._errors() as exc:
            self._raise(exc)

    def ensure_schema(self) -> None:
        """Create the key constraints and indexes (idempotent), wait until they are online,
        and retype text ``AttributeValue`` ids an older cdp stored."""
        for stmt in Q.neo4j_schema_statements():
            self._write_statement(stmt, {})
        for stmt in (*Q.CHANGE_FEED_SCHEMA, Q.NEO4J_BULK_SCHEMA):
            self._write_statement(stmt, {})
        self._write_statement(Q.NEO4J_AWAIT_INDEXES, {})
        self._schema_ready = True
        self._retype_value_ids()
        self.seed_channels()

    def _retype_value_ids(self) -> None:
        """Values an older cdp stored with text ids get ``graph.observation_ids`` ids (in one
        transaction; relationships are on the nodes, so they stay). Finding none is an
        index seek, not a scan of the values."""
        rows = self._fetch(Q.NEO4J_TEXT_VALUE_IDS, {})
        if not rows:
            return
        content = [(r["identity_id"], r["key"], r["observed_at"]) for r in rows]
        ids = distinct_ids(value_ids(pa.array([r["identity_id"] for r in rows], pa.string()),
                                     pa.array([r["key"] for r in rows], pa.string()),
                                     pa.array([r["observed_at"] for r in rows], pa.timestamp("us"))).to_numpy(),
                           content)
        self._write_statement(Q.NEO4J_RETYPE_VALUE_IDS,
                              {"rows": [{"old": r["old_id"], "new": int(i)} for r, i in zip(rows, ids)]})

    def _run_write(self, work: Callable[[Transaction], _T]) -> _T:
        """``work`` in a managed write transaction: retried whole by the driver on transient
        errors (``work`` builds its state afresh per call), committed with a bookmark."""
        self._ready()
        try:
            with self._session() as session:
                done: _T = session.execute_write(lambda tx: work(_Neo4jTransaction(self, tx)))
                return done
        except self._errors() as exc:
            self._raise(exc)
        raise AssertionError("unreachable")  # _raise always raises

    def _rows_param(self, table: pa.Table) -> list[dict[str, Any]]:
        """Rows as maps, dates and times as ISO text (the statements parse them:
        ``graph.queries._neo4j_value``): the driver packs a ``datetime`` in about 40 us."""
        rows: list[dict[str, Any]] = _as_text_times(table).to_pylist()
        return rows

    def _create(self, tx: Transaction, name: str, is_node: bool, props: tuple[str, ...], rows: pa.Table,
                touched: bool, *, fresh: bool = False) -> None:
        if is_node and not fresh:
            # Found new by this transaction's read, but another client may create the node
            # before this one commits: MERGE (locked by the key's constraint), not CREATE.
            tx.run(Q.upsert_nodes(MODEL.node(name), props), {"rows": self._rows_param(rows)})
            return
        super()._create(tx, name, is_node, props, rows, touched, fresh=fresh)

    def _unlink(self, tx: Transaction, rel_type: str, rows: pa.Table) -> None:
        tx.run(Q.UNLINK_ROWS[rel_type], {"rows": rows.select(["from", "to"]).to_pylist()})

    def _bulk_create(self, name: str, is_node: bool, table: pa.Table) -> None:
        """Create ``table``'s rows in transactions of ``BULK_BATCH`` rows, ``bulk_writers`` at
        once. Each batch commits with its marker (``NEO4J_BULK_BATCH_DONE``), so it is
        stored whole or not at all, and a batch committed by an earlier run of the same
        load is skipped. Raises ``KeyTaken`` when a batch meets a stored key."""
        self._ready()
        query = Q.bulk_create_nodes(MODEL.node(name)) if is_node else Q.bulk_create_relationships(
            MODEL.relationship(name))
        load, done = self._bulk_state
        todo = [(f"{load}:{name}:{first}", first) for first in range(0, table.num_rows, BULK_BATCH)]
        todo = [(batch, first) for batch, first in todo if batch not in done]

        def one(batch: str, first: int) -> None:
            rows = _bulk_columns(table.slice(first, BULK_BATCH))

            def work(tx: Any) -> None:
                tx.run(query.text("neo4j"), {"rows": rows}).consume()
                tx.run(Q.NEO4J_BULK_BATCH_DONE.text("neo4j"), {"id": batch}).consume()

            self._counted()
            self._counted()
            try:
                with self._driver.session(database=self.database, bookmark_manager=self._bookmarks,
                                          max_transaction_retry_time=BULK_RETRY_SECONDS) as session:
                    session.execute_write(work)
            except self._errors() as exc:
                self._raise(exc)

        if len(todo) <= 1 or self.bulk_writers <= 1:
            for batch, first in todo:
                one(batch, first)
            return
        pool = ThreadPoolExecutor(self.bulk_writers, thread_name_prefix="cdp-bulk")
        try:
            for future in [pool.submit(one, batch, first) for batch, first in todo]:
                future.result()
        finally:  # a failed batch: the queued ones are not started, those in flight finish
            pool.shutdown(wait=True, cancel_futures=True)

    def bulk_load(self, nodes: Mapping[str, pa.Table], relationships: Mapping[str, pa.Table],
                  progress: Progress | None = None) -> int:
        """``GraphStore.bulk_load`` in transactions of ``BULK_BATCH`` rows (``bulk_writers`` of
        a table at once), resumable: a marker says a load is under way until its last batch
        commits (``bulk_load_unfinished``), and each batch commits together with a marker of
        its own, so running the same load again skips the batches already stored and
        completes it. Raises ``StoreError`` when an unfinished load of other tables (other
        row counts) is in the store: wipe it, or finish that load."""
        for label, table in nodes.items():  # bad tables fail before anything is written
            conform(table, MODEL.node(label).arrow_schema(), label)
        for rel_type, table in relationships.items():
            conform(table, MODEL.relationship(rel_type).arrow_schema(), rel_type)
        self._ready()
        plan = json.dumps([[name, table.num_rows] for name, table in (*nodes.items(), *relationships.items())])
        begun = self._run_write(lambda tx: tx.read(Q.NEO4J_BULK_LOAD_BEGIN, {
            "at": utc_now(), "plan": plan, "load": uuid.uuid4().hex}))[0]
        if begun["plan"] != plan:
            raise StoreError("the store holds an unfinished bulk load of other data (other tables or row "
                             "counts): run that load again to finish it, or wipe the store")
        load = begun["load"]
        done = set(self._read(Q.NEO4J_BULK_BATCHES_DONE, {"prefix": f"{load}:"})[0]["ids"])
        self._bulk_state = (load, done)
        try:
            total = super().bulk_load(nodes, relationships, progress)
        finally:
            del self._bulk_state
        self._write_statement(Q.NEO4J_BULK_LOAD_END, {})
        self._autocommit(Q.NEO4J_BULK_BATCHES_FORGET)  # the load is done: its batch markers go
        return total

    def bulk_load_unfinished(self) -> bool:
        """True when a bulk load started and did not finish (run it again to complete it)."""
        pending: bool = self._read(Q.NEO4J_BULK_LOAD_PENDING)[0]["n"] > 0
        return pending

    def wipe(self) -> None:
        """Delete every node and relationship, ``NEO4J_WIPE_BATCH`` nodes per transaction
        (one transaction per label would hold a whole label in the server's heap), then seed
        the channel catalogue as in a new store (``seed_channels``). Not atomic: a wipe that
        fails half-way is finished by running it again."""
        self._called()
        self._ready()
        try:
            for query in Q.WIPE.values():
                self._autocommit(query)
            self._write_statement(Q.NEO4J_BULK_LOAD_END, {})
            self._autocommit(Q.NEO4J_BULK_BATCHES_FORGET)
        finally:
            self._wrote()
            self._record_change_alone(Changes(everything=True))
        self.seed_channels()  # as new: the channel catalogue every store starts with
        self._publish(Changes(everything=True))

    # ------------------------------------------------------------ change feed (graph.change_feed)

    def _record_changes(self, tx: Transaction, changes: Changes) -> None:
        # The last statement of the write: it queues on the feed's counter node, so the
        # lock is held only from here to the commit.
        seq = tx.read(Q.CHANGE_FEED_APPEND, {"origin": self.origin, "changes": feed.encode(changes)})[0]["seq"]
        if seq % feed.PRUNE_EVERY == 0:
            tx.run(Q.CHANGE_FEED_PRUNE, {"keep_ms": int(self.change_retention_seconds * 1000),
                                         "limit": feed.PRUNE_LIMIT})

    def _record_change_alone(self, changes: Changes) -> None:
        try:
            self._run_write(lambda tx: self._record_changes(tx, changes))
        except (StoreError, StoreUnavailable):
            # The write itself is done (or failed on its own): say so, and let a follower
            # notice through its own rebuild or the next entry.
            log.exception("could not record a change entry for a %s", "wipe or bulk load" if changes.everything
                          else "delete")

    def changes_since(self, after: int) -> feed.FeedRead:
        rows = self._fetch(Q.CHANGE_FEED_READ, {"after": int(after), "limit": feed.READ_LIMIT})
        return feed.feed_read(int(after), int(rows[0]["head"]), rows[0]["entries"])

    def change_feed_head(self) -> int:
        return int(self._fetch(Q.CHANGE_FEED_HEAD, {})[0]["head"])

    def close(self) -> None:
        self._driver.close()


class _Neo4jTransaction:
    """Statements inside one managed Neo4j transaction (one attempt of ``execute_write``)."""

    def __init__(self, store: Neo4jStore, tx: Any) -> None:
        self._store = store
        self._tx = tx

    def read(self, query: Query, params: Mapping[str, Any]) -> list[Row]:
        self._store._counted()
        result = self._tx.run(query.text("neo4j"), dict(params))
        return [{k: _plain(v) for k, v in rec.items()} for rec in result]

    def run(self, query: Query, params: Mapping[str, Any]) -> None:
        self._store._counted()
        self._tx.run(query.text("neo4j"), dict(params)).consume()


def _as_text_times(table: pa.Table) -> pa.Table:
    """``table`` with its date and time columns as ISO text (made by Arrow in C++; the
    driver packs a ``datetime`` in about 40 us, a string in well under 1 us)."""
    for index, column in enumerate(table.columns):
        if pa.types.is_timestamp(column.type):
            text = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")  # %S carries the fraction
        elif pa.types.is_date(column.type):
            text = column.cast(pa.string())
        else:
            continue
        table = table.set_column(index, table.field(index).name, text)
    return table


def _bulk_columns(batch: pa.Table) -> dict[str, list[Any]]:
    """One bulk-load batch as ``graph.queries.bulk_create_nodes`` takes it: a list per column,
    dates and times as ISO text."""
    batch = _as_text_times(batch)
    return {name: column.to_pylist() for name, column in zip(batch.column_names, batch.columns)}


def _column(values: list[Any], type_: pa.DataType) -> pa.Array:
    """One column of a columnar read (``Query.neo4j_columns``) as an Arrow array of
    ``type_``, the encoded absent values (``graph.queries.neo4j_column``) made nulls.
    The work per value is in Arrow's C++ (building the array, parsing ISO times)."""
    if pa.types.is_string(type_):
        array = pa.array(values, pa.string())
        absent = pc.equal(array, Q.ABSENT_TEXT)
    elif pa.types.is_integer(type_):
        array = pa.array(values, pa.int64())
        absent = pc.equal(array, Q.ABSENT_INT)
    elif pa.types.is_floating(type_):
        return pa.array(values, pa.float64(), from_pandas=True)  # NaN (absent) becomes null
    elif pa.types.is_boolean(type_):
        array = pa.array(values, pa.int8())
        return pc.if_else(pc.equal(array, Q.ABSENT_BOOL), pa.scalar(None, pa.bool_()), pc.equal(array, 1))
    else:  # dates and times as ISO text, absent as ""
        text = pa.array(values, pa.string())
        absent = pc.equal(text, "")
        text = pc.if_else(absent, pa.scalar(None, pa.string()), text) if pc.any(absent).as_py() else text
        return pc.cast(text, type_)
    if pc.any(absent).as_py():
        array = pc.if_else(absent, pa.scalar(None, array.type), array)
    return array


def _plain(value: Any) -> Any:
    """Turn driver values (nodes, neo4j.time types) into plain Python values. A node or
    relationship becomes a dict of every property its model declares (``None`` when
    unset: Neo4j omits unset properties, and readers index rows by the model's names)."""
    if value is None or isinstance(value, (str, int, float, bool, date, datetime)):
        return value
    if hasattr(value, "to_native"):
        return value.to_native()
    if hasattr(value, "items") and hasattr(value, "element_id"):  # a Node or Relationship
        names: tuple[str, ...] = ()
        if hasattr(value, "labels"):
            for label in value.labels:
                names = _NODE_PROPERTIES.get(label, names)
        else:
            names = _REL_PROPERTIES.get(getattr(value, "type", ""), ())
        out = dict.fromkeys(names)
        out.update((k, _plain(v)) for k, v in value.items())
        return out
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
