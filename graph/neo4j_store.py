"""The production backend: Neo4j through the official Python driver.

One driver per process (it pools connections and routes reads and writes in a
cluster). Reads run as managed read transactions; each write batch is one
managed write transaction, retried by the driver on transient errors, so a
batch is applied whole or not at all. Times are stored as Neo4j
``LocalDateTime`` values holding UTC, dates as ``Date``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import pyarrow as pa

from graph import queries as Q
from graph.cypher import Query
from graph.errors import KeyTaken, StoreError, StoreUnavailable
from graph.model import MODEL
from graph.observation_ids import distinct_ids, value_ids
from graph.store import GraphStore, Row

#: Rows per statement for bulk loads (Neo4j's advice: 10k-50k per transaction).
BULK_BATCH = 10_000


class Neo4jStore(GraphStore):
    """A ``GraphStore`` on a Neo4j 5 server or cluster.

    ``connect_timeout`` bounds opening one connection and ``max_retry_seconds``
    the driver's retries of a call that failed for a transient reason (the
    server down, a leader election): past them a call raises ``StoreUnavailable``.
    Nothing here holds a session or a connection between calls: every call
    borrows one from the driver's pool, which drops broken connections and
    opens new ones, so the store works again as soon as the server is back.

    Raises ``StoreUnavailable`` if the server cannot be reached or refuses the
    credentials at start-up, unless ``lazy``: then the first call that reaches
    the server creates the constraints and indexes (a server may be down while
    the API starts; it answers ``STORE_UNAVAILABLE`` until the server is up).
    """

    backend = "neo4j"

    def __init__(self, uri: str, user: str, password: str, database: str = "neo4j", *,
                 connect_timeout: float = 5.0, max_retry_seconds: float = 5.0, lazy: bool = False) -> None:
        super().__init__()
        import neo4j

        self._neo4j = neo4j
        self.uri = uri
        self.database = database
        self._schema_ready = False
        try:
            self._driver = neo4j.GraphDatabase.driver(
                uri, auth=(user, password), connection_timeout=connect_timeout,
                connection_acquisition_timeout=connect_timeout + max_retry_seconds,
                max_transaction_retry_time=max_retry_seconds)
            if not lazy:
                self._driver.verify_connectivity()
        except (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.AuthError, ValueError, OSError) as exc:
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

    def _fetch(self, query: Query, params: Mapping[str, Any] | None = None) -> list[Row]:
        self._ready()
        self._counted()
        try:
            records, _, _ = self._driver.execute_query(
                query.text("neo4j"), dict(params or {}), database_=self.database,
                routing_=self._neo4j.RoutingControl.READ,
            )
        except self._errors() as exc:
            self._raise(exc)
        return [{k: _plain(v) for k, v in rec.items()} for rec in records]

    def _write_statement(self, query: Query, params: Mapping[str, Any]) -> None:
        self._counted()
        try:
            self._driver.execute_query(query.text("neo4j"), dict(params), database_=self.database)
        except self._errors() as exc:
            self._raise(exc)

    def ensure_schema(self) -> None:
        for stmt in Q.neo4j_schema_statements():
            self._write_statement(stmt, {})
        self._schema_ready = True
        self._retype_value_ids()
        self.seed_channels()

    def _retype_value_ids(self) -> None:
        """Values an older cdp stored with text ids get ``graph.observation_ids`` ids (in one
        transaction; relationships are on the nodes, so they stay)."""
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

    @contextmanager
    def _transaction(self) -> Iterator[_Neo4jTransaction]:
        self._ready()
        try:
            with self._driver.session(database=self.database) as session:
                with session.begin_transaction() as tx:
                    yield _Neo4jTransaction(self, tx)
                    tx.commit()
        except self._errors() as exc:
            self._raise(exc)

    def _rows_param(self, table: pa.Table) -> list[dict]:
        return table.to_pylist()

    def _bulk_create(self, name: str, is_node: bool, table: pa.Table) -> None:
        self._ready()
        query = Q.bulk_create_nodes(MODEL.node(name)) if is_node else Q.bulk_create_relationships(
            MODEL.relationship(name))
        for batch in table.to_batches(BULK_BATCH):
            self._write_statement(query, {"rows": batch.to_pylist()})

    def close(self) -> None:
        self._driver.close()


class _Neo4jTransaction:
    """Statements inside one explicit Neo4j transaction."""

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


def _plain(value: Any) -> Any:
    """Turn driver values (nodes, neo4j.time types) into plain Python values."""
    if value is None or isinstance(value, (str, int, float, bool, date, datetime)):
        return value
    if hasattr(value, "to_native"):
        return value.to_native()
    if hasattr(value, "items") and hasattr(value, "element_id"):  # a Node or Relationship
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
