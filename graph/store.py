"""The one store interface, shared by the LadybugDB and Neo4j backends.

``GraphStore`` implements every operation once, in terms of the primitives a backend
provides: ``_fetch`` (run one read statement), ``_write_statement`` (one write statement
in its own transaction), ``_transaction`` or ``_run_write`` (a write transaction),
``_rows_param`` (how a table is bound as ``$rows``), ``_bulk_create`` (create rows in an
empty store), ``ensure_schema`` and ``close``; a backend may override the defaults of
``_fetch_keyed``, ``_keys_param``, ``_create`` and ``_unlink`` where it has a faster
path. What a write is made of (``WriteOp``, ``node_op``, ...) and the Arrow work of
applying one live in ``graph.write_batch``. All values crossing this interface are plain Python:
``str``, ``int``, ``float``, ``bool``, ``date``, naive-UTC ``datetime`` and
``None``; node rows are dicts of the model's properties; bulk data travels as
``pyarrow.Table`` with the model's Arrow schema.

Errors: ``StoreUnavailable`` when the store cannot be reached or opened,
``InvalidInput`` for rows that do not fit the model, ``StoreError`` for
anything the store itself rejects.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar, overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph import queries as Q
from graph.cypher import Backend, Query
from graph.errors import IdTaken, InvalidInput
from graph.model import ARROW_TYPES, CHANNELS, MODEL
from graph.observation_ids import CONTENT
# What callers build writes from, re-exported (``X as X``): ``graph.store`` stays the one
# import of the store interface; the machinery itself lives in ``graph.write_batch``.
from graph.write_batch import Rows as Rows
from graph.write_batch import WriteOp as WriteOp
from graph.write_batch import WriteResult as WriteResult
from graph.write_batch import conform, distinct_keys, is_in, last_per_key, new_and_old, not_in, on_nodes_made
from graph.write_batch import delete_op as delete_op
from graph.write_batch import node_op as node_op
from graph.write_batch import relationship_op as relationship_op
from graph.write_batch import unlink_op as unlink_op

if TYPE_CHECKING:
    from graph.change_feed import FeedRead

Row = dict[str, Any]
_T = TypeVar("_T")
#: ``GraphStore.call_observer``: ``(query name, seconds, error or None)``.
CallObserver = Callable[[str, float, "BaseException | None"], None]
Progress = Callable[[str, int], None]

#: The earliest time a "since" filter can mean; used when a caller gives none.
EPOCH = datetime(1900, 1, 1)

#: Seconds a cached catalogue (products, channels) is trusted on a store that
#: other processes may write (Neo4j). On a store only this process can write
#: (the embedded file is locked by its opener) the cache lives until our next write.
CATALOGUE_TTL_SECONDS = 30.0


@dataclass
class Changes:
    """What one committed write touched, for listeners that keep derived data fresh.

    ``nodes``: ids written (created or updated) per label; ``relationships``:
    ``(from, to)`` pairs written or unlinked per type; ``deleted``: ids of nodes
    deleted per label (their relationships went with them); ``everything``: the
    store was wiped or bulk-loaded, so anything derived must be rebuilt.
    """

    nodes: dict[str, set[str]] = field(default_factory=dict)
    relationships: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    deleted: dict[str, set[str]] = field(default_factory=dict)
    everything: bool = False
    #: The subset of ``nodes`` the write created (a new node has no relationships yet).
    created: dict[str, set[str]] = field(default_factory=dict)

    def merge(self, other: Changes) -> None:
        """Add ``other`` to these changes (in place)."""
        for mine, theirs in ((self.nodes, other.nodes), (self.deleted, other.deleted), (self.created, other.created)):
            for name, ids in theirs.items():
                mine.setdefault(name, set()).update(ids)
        for rel_type, pairs in other.relationships.items():
            self.relationships.setdefault(rel_type, set()).update(pairs)
        self.everything = self.everything or other.everything

    def __bool__(self) -> bool:
        return self.everything or any(self.nodes.values()) or any(self.relationships.values()) \
            or any(self.deleted.values())


#: A function told about every committed write (``GraphStore.subscribe``).
ChangeListener = Callable[[Changes], None]


#: Keys of a keyed read: a sequence, or an Arrow array (nulls ignored).
Keys: TypeAlias = Sequence[str] | Sequence[int] | pa.Array | pa.ChunkedArray


class Transaction(Protocol):
    """An open write transaction of a backend."""

    def read(self, query: Query, params: Mapping[str, Any]) -> list[Row]:
        """Run a statement inside the transaction and return its rows."""

    def run(self, query: Query, params: Mapping[str, Any]) -> None:
        """Run a statement inside the transaction, discarding rows."""


def _newest_first(rows: list[Row]) -> list[Row]:
    """Sort rows by ``at`` then ``id``, newest first; rows without a time last."""
    return sorted(rows, key=lambda r: (r["at"] is not None, r["at"] or EPOCH, r["id"]), reverse=True)


def _group(rows: Iterable[Row], key: str = "owner") -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        out[row.pop(key)].append(row)
    return dict(out)


@dataclass
class CustomerViews:
    """The parts of the customer view ``GraphStore.customer_views`` read for some customers, keyed
    as the single reads key them: ``customers`` by id (unknown ids absent); ``accounts``,
    ``contacts`` and ``preferences`` by customer id; ``subscriptions`` and ``events`` by account
    id. A part the shape did not ask for is empty. Rows and their order are those of
    ``customers``, ``accounts_of_customers``, ``subscriptions_of_accounts``,
    ``monetary_events_of_accounts``, ``contacts_of_customers`` (unfiltered) and
    ``preferred_channels``."""

    customers: dict[str, Row] = field(default_factory=dict)
    accounts: dict[str, list[Row]] = field(default_factory=dict)
    subscriptions: dict[str, list[Row]] = field(default_factory=dict)
    events: dict[str, list[Row]] = field(default_factory=dict)
    contacts: dict[str, list[Row]] = field(default_factory=dict)
    preferences: dict[str, list[Row]] = field(default_factory=dict)


def _temporal_parsers(label: str) -> tuple[tuple[str, Callable[[str], Any]], ...]:
    """``(property, parser)`` for the dates and times of ``label``: ISO text back to ``date`` /
    naive ``datetime`` (what ``Q.customer_views`` sends them as)."""
    return tuple((p.name, date.fromisoformat if p.type == "DATE" else datetime.fromisoformat)
                 for p in MODEL.node(label).properties if p.type in ("DATE", "TIMESTAMP"))


_VIEW_TEMPORALS = {label: _temporal_parsers(label)
                   for label in ("Customer", "Account", "Subscription", "MonetaryEvent", "Contact")}


def _parse_preference(row: Row) -> Row:
    """A ``PREFERS`` row of ``Q.customer_views`` with its ``updated_at`` parsed, in place."""
    if row["updated_at"] is not None:
        row["updated_at"] = datetime.fromisoformat(row["updated_at"])
    return row


def _iso_times(row: Row, label: str) -> Row:
    """``row`` with its ISO-text dates and times (of ``label``) parsed, in place."""
    for name, parse in _VIEW_TEMPORALS[label]:
        value = row.get(name)
        if value is not None:
            row[name] = parse(value)
    return row


class GraphStore(ABC):
    """A graph of customers, accounts, products, channels and contacts.

    Thread-safe: reads may run in parallel from many threads; writes are
    serialised by the store.

    Two counters show how the store is used: ``call_count`` counts store calls
    (one per read method call or write batch: what DataLoaders batch, and what
    a Neo4j client pays a network round trip for); ``query_count`` counts the
    Cypher statements those calls ran. They differ on the embedded store,
    where a keyed read of a few keys runs one primary-key lookup per key in
    process (see ``PER_KEY_LIMIT`` in ``graph.ladybug_store``).
    """

    backend: Backend
    #: Rows per transaction of an import unless the caller says otherwise
    #: (``cdp import --batch-size``): what one transaction of this backend holds well.
    import_batch_rows: int = 50_000
    #: True when no other process can write this store, so caches need no expiry.
    exclusive_writer: bool = False
    #: Keyed reads of at most this many keys are short and in process: callers
    #: may run them without a worker thread (0: always use a thread).
    inline_read_limit: int = 0
    #: Keyed reads may bind many keys as an Arrow array (LadybugDB joins a ``LOAD FROM``
    #: table); otherwise they are passed as a list.
    arrow_keys: bool = False
    #: Projection reads this backend serves well at once (``cdp.projection.tables.build`` runs the
    #: slices of a build on this many threads), and customers per slice (a slice bounds
    #: LadybugDB's memory per query).
    projection_readers: int = 1
    projection_slice_customers: int = 200_000
    #: True when every committed write also appends an entry to a change feed that other
    #: processes follow (Neo4j; ``graph.change_feed``, ``changes_since``).
    change_feed: bool = False
    #: Names this store object in the change feed: its own entries reach its listeners
    #: through ``subscribe`` already, so followers in this process skip them.
    origin: str = ""

    def __init__(self) -> None:
        self._count_lock = threading.Lock()
        self.query_count = 0
        self.call_count = 0
        self._generation = 0  # bumped by every write; invalidates the catalogue cache
        self._catalogue_cache: dict[str, tuple[int, float, dict[str, Row]]] = {}
        self._listeners: list[ChangeListener] = []
        #: Told of every store call: ``(query name, seconds, error or None)``; set by the
        #: app to record metrics (``cdp.ops.metrics``). Must be quick and must not raise.
        self.call_observer: CallObserver | None = None

    # ------------------------------------------------------------ primitives

    def _read(self, query: Query, params: Mapping[str, Any] | None = None) -> list[Row]:
        """One store call running one read statement; rows as dicts of plain Python values."""
        self._called()
        if self.call_observer is None:
            return self._fetch(query, params)
        return self._observed(query.name, self._fetch, query, params)

    def _read_keyed(self, query: Query, ids: Keys, params: Mapping[str, Any] | None = None) -> list[Row]:
        """One store call reading ``query`` for the keys ``ids`` (bound as ``$ids``, each once).

        ``ids`` may be an Arrow array: an import's hundreds of thousands of keys then reach
        a backend with ``arrow_keys`` without a round trip through Python objects. Such an
        array is not deduplicated there (a repeated key only repeats its rows, which the
        callers key by id): pass distinct keys."""
        self._called()
        keys = self._key_values(query, ids)
        if self.call_observer is None:
            return self._fetch_keyed(query, keys, params or {})
        return self._observed(query.name, self._fetch_keyed, query, keys, params or {})

    def _key_values(self, query: Query, ids: Keys) -> Any:
        """``ids`` as a keyed read binds them: an Arrow array (nulls dropped) when the
        backend takes ``arrow_keys`` for ``query`` and they are many, else a list of the
        distinct keys."""
        if isinstance(ids, (pa.Array, pa.ChunkedArray)):
            keys = ids.drop_null()
            keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
            if self.arrow_keys and "ids" in query.ladybug_tables and len(keys) > self.inline_read_limit:
                return keys
            return list(dict.fromkeys(keys.to_pylist()))
        return list(dict.fromkeys(ids))

    def _observed(self, name: str, run: Callable[..., _T], *args: Any) -> _T:
        """``run(*args)``, timed and reported to ``call_observer`` as the call ``name`` (failures too)."""
        observer = self.call_observer
        started = time.perf_counter()
        try:
            out = run(*args)
        except BaseException as exc:
            if observer is not None:
                observer(name, time.perf_counter() - started, exc)
            raise
        if observer is not None:
            observer(name, time.perf_counter() - started, None)
        return out

    @abstractmethod
    def _fetch(self, query: Query, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run one read statement; return rows as dicts of plain Python values."""

    def _fetch_keyed(self, query: Query, ids: list[str], params: Mapping[str, Any]) -> list[Row]:
        """Run ``query`` for ``ids``; backends may split it (default: one statement with ``$ids``)."""
        return self._fetch(query, {**params, "ids": ids})

    def _transaction(self) -> AbstractContextManager[Transaction]:
        """A write transaction: committed when the block ends, rolled back on error (the
        primitive of backends that do not override ``_run_write``)."""
        raise NotImplementedError

    def _run_write(self, work: Callable[[Transaction], _T]) -> _T:
        """Run ``work(tx)`` in one write transaction and commit; roll back if it raises.

        A backend may call ``work`` more than once (Neo4j retries a transaction that failed
        for a transient reason, e.g. a deadlock or a leader switch), each time in a new
        transaction: ``work`` must start from scratch on every call."""
        with self._transaction() as tx:
            return work(tx)

    @abstractmethod
    def _rows_param(self, table: pa.Table) -> Any:
        """The value to pass as ``$rows`` for an upsert of ``table``."""

    @abstractmethod
    def _bulk_create(self, name: str, is_node: bool, table: pa.Table) -> None:
        """Create every row of ``table`` (no MERGE): for loading an empty store."""

    @abstractmethod
    def ensure_schema(self) -> None:
        """Create the model's tables / constraints and indexes if missing. Idempotent."""

    @abstractmethod
    def close(self) -> None:
        """Release the store. Further calls raise ``StoreUnavailable``."""

    def _counted(self) -> None:
        with self._count_lock:
            self.query_count += 1

    def _called(self) -> None:
        with self._count_lock:
            self.call_count += 1

    def _wrote(self) -> None:
        with self._count_lock:
            self._generation += 1
            self._catalogue_cache.clear()

    def subscribe(self, listener: ChangeListener) -> None:
        """Call ``listener(changes)`` after every write this store object commits.

        Listeners run on the writing thread, after the commit: they must be quick
        (record the changes, do the work later) and must not raise. Writes by
        other processes (possible on Neo4j) are not seen.
        """
        with self._count_lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: ChangeListener) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        with self._count_lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _publish(self, changes: Changes) -> None:
        with self._count_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(changes)

    def catalogue_cached(self, name: str) -> bool:
        """True when the catalogue ``name`` (``"products"``, ``"channels"``) is cached and fresh:
        the next ``products()`` / ``channels()`` is answered from memory, without a store call
        (callers may then skip a worker thread)."""
        with self._count_lock:
            hit = self._catalogue_cache.get(name)
            return hit is not None and hit[0] == self._generation and (
                self.exclusive_writer or time.monotonic() - hit[1] < CATALOGUE_TTL_SECONDS)

    # ------------------------------------------------------------ change feed

    def _record_changes(self, tx: Transaction, changes: Changes) -> None:  # noqa: B027 - default: no feed
        """Append ``changes`` to the change feed inside the write transaction ``tx``
        (stores with ``change_feed``; the default records nothing)."""

    def _record_change_alone(self, changes: Changes) -> None:  # noqa: B027 - default: no feed
        """Append ``changes`` to the change feed in a transaction of its own: for writes
        that are not one transaction (a wipe, a bulk load, a delete statement)."""

    def changes_since(self, after: int) -> FeedRead:
        """The change feed after sequence number ``after`` (0: from the start): its head
        and the next entries, oldest first (``graph.change_feed.FeedRead``).

        Raises ``NotImplementedError`` on a store without ``change_feed``, and
        ``StoreUnavailable`` / ``StoreError`` when the feed cannot be read."""
        raise NotImplementedError(f"the {self.backend} store keeps no change feed")

    def change_feed_head(self) -> int:
        """The change feed's last sequence number (0 before the first write).

        Raises ``NotImplementedError`` on a store without ``change_feed``."""
        raise NotImplementedError(f"the {self.backend} store keeps no change feed")

    def forget_catalogue(self) -> None:
        """Drop the cached catalogue (products, channels) and ``cached_nodes``: another
        process changed them."""
        self._wrote()

    #: Labels read through ``cached_nodes``: a change-feed entry writing one of them makes a
    #: follower drop the cache (``cdp.projection.tables.Projection.follow``).
    CACHED_LABELS: tuple[str, ...] = ("ContactPolicy",)

    def cached_nodes(self, label: str, ids: Sequence[str]) -> dict[str, Row]:
        """``nodes(label, ids)`` for a small document read on every request (the contact
        policy, label in ``CACHED_LABELS``), cached like the catalogue: until this store
        object's next write, a change-feed entry of another process writing ``label``
        (``forget_catalogue``), and at most ``CATALOGUE_TTL_SECONDS`` on a store other
        processes may write. Out: fresh copies of the rows. Raises StoreError/StoreUnavailable."""
        if label not in self.CACHED_LABELS:
            raise ValueError(f"{label} is not in CACHED_LABELS: a follower would not forget it")
        cached = self._catalogue("nodes:" + label + ":" + "\x00".join(ids), lambda: self.nodes(label, list(ids)))
        return {k: dict(v) for k, v in cached.items()}

    def _catalogue(self, name: str, load: Callable[[], dict[str, Row]]) -> dict[str, Row]:
        """``load()`` cached until the next write (and at most ``CATALOGUE_TTL_SECONDS``
        unless this process is the store's only writer)."""
        now = time.monotonic()
        with self._count_lock:
            generation = self._generation
            hit = self._catalogue_cache.get(name)
        if hit and hit[0] == generation and (self.exclusive_writer or now - hit[1] < CATALOGUE_TTL_SECONDS):
            return hit[2]
        value = load()
        with self._count_lock:
            if self._generation == generation:
                self._catalogue_cache[name] = (generation, now, value)
        return value

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ health and size

    def seed_channels(self) -> None:
        """Write the model's channel catalogue (``graph.model.CHANNELS``) when the store has no
        Channel node at all, so offers, contacts and channel choice work on a store built only
        by imports. A store with channels of its own is left alone. Called by ``ensure_schema``
        and ``wipe``. Raises StoreError/StoreUnavailable."""
        if self._read(Q.COUNT_NODES["Channel"])[0]["n"]:
            return
        self.write([node_op("Channel", [{"id": c, "name": name, "kind": kind, "cost_per_contact": float(cost)}
                                        for c, name, kind, cost in CHANNELS])])

    def ping(self) -> bool:
        """Return True when the store answers a trivial query."""
        ok: bool = self._read(Q.PING)[0]["ok"] == 1
        return ok

    def counts(self) -> dict[str, int]:
        """Number of nodes per label and relationships per type."""
        out = {label: self._read(q)[0]["n"] for label, q in Q.COUNT_NODES.items()}
        out.update({t: self._read(q)[0]["n"] for t, q in Q.COUNT_RELATIONSHIPS.items()})
        return out

    def is_empty(self) -> bool:
        """True when the store holds no customers, accounts, products or contacts."""
        return all(self._read(Q.COUNT_NODES[label])[0]["n"] == 0
                   for label in ("Customer", "Account", "Product", "Contact"))

    # ------------------------------------------------------------ writes

    def write(self, ops: Sequence[WriteOp]) -> WriteResult:
        """Upsert several batches atomically, nodes before relationships.

        Within a batch a later row for the same key wins. Raises
        ``InvalidInput`` when a relationship names an endpoint that exists
        neither in the store nor earlier in the same write; nothing is written then.
        """
        # Unlinks first, so a write can move a relationship (unlink A->x, link B->x); deletes
        # before upserts, so a write may delete a node and create one with its id.
        rank = {"unlink": 0, "delete": 1, "node": 2, "relationship": 3}
        ordered = sorted(ops, key=lambda op: rank[op.kind])
        self._called()

        def attempt(tx: Transaction) -> tuple[WriteResult, dict[str, list[pa.Array]]]:
            # Fresh state per attempt: a retried transaction starts again from nothing.
            result = WriteResult()
            created: dict[str, list[pa.Array]] = defaultdict(list)  # node ids this write creates, by label
            # The subset of ``created`` made by ``fresh`` ops (a plain CREATE): nodes no other
            # transaction can have linked, so their new relationships need no MERGE.
            made: dict[str, list[pa.Array]] = defaultdict(list)
            touched: set[str] = set()  # labels and types this write has already written
            for op in ordered:
                if op.rows.num_rows:
                    self._apply(tx, op, result, created, touched, made)
                    touched.add(op.name)
            # --- change feed: the write's entry, in this same transaction (graph.change_feed)
            if self.change_feed:
                self._record_changes(tx, _changes_of(ordered, created))
            # --- end change feed
            return result, created

        try:
            if self.call_observer is None:
                result, created = self._run_write(attempt)
            else:
                result, created = self._observed("write", self._run_write, attempt)
        finally:
            self._wrote()
        if self._listeners:
            self._publish(_changes_of(ordered, created))
        return result

    def _apply(self, tx: Transaction, op: WriteOp, result: WriteResult, created: dict[str, list[pa.Array]],
               touched: set[str], made: dict[str, list[pa.Array]]) -> None:
        if op.kind == "unlink":
            self._unlink(tx, op.name, op.rows)
            result.deleted[op.name] = result.deleted.get(op.name, 0) + op.rows.num_rows
            return
        if op.kind == "delete":
            tx.run(Q.DELETE_NODES[op.name], {"ids": op.rows.column("id").to_pylist()})
            result.deleted[op.name] = result.deleted.get(op.name, 0) + op.rows.num_rows
            return
        if op.kind == "node":
            node = MODEL.node(op.name)
            unique = distinct_keys(op.rows.column(node.key).combine_chunks())
            table = last_per_key(op.rows, [node.key], {node.key: unique})
            props = tuple(n for n in table.column_names if n != node.key)
            if op.fresh:  # no existence read: a stored key fails the create (KeyTaken)
                self._create(tx, op.name, True, props, table.select([node.key, *props]), op.name in touched,
                             fresh=True)
                created[op.name].append(unique)
                made[op.name].append(unique)
                result.created[op.name] = result.created.get(op.name, 0) + table.num_rows
                return
            keys = table.column(node.key).combine_chunks()
            found = pa.array([r["id"] for r in tx.read(Q.EXISTING_IDS[op.name], {"ids": self._keys_param(unique)})],
                             node.key_type)
            table = table.select([node.key, *props])
            # Rows known to be new are created, not merged (about twice as fast on LadybugDB).
            is_old = is_in(keys, found)
            new_rows, old_rows = new_and_old(table, is_old)
            if op.name == "AttributeValue" and old_rows.num_rows:
                self._check_observations(tx, old_rows)
            if new_rows.num_rows:
                self._create(tx, op.name, True, props, new_rows, op.name in touched)
                created[op.name].append(unique if not old_rows.num_rows else
                                        distinct_keys(new_rows.column(node.key).combine_chunks()))
            if old_rows.num_rows:
                tx.run(Q.upsert_nodes(node, props), {"rows": self._rows_param(old_rows)})
            result.created[op.name] = result.created.get(op.name, 0) + new_rows.num_rows
            result.updated[op.name] = result.updated.get(op.name, 0) + old_rows.num_rows
            return
        rel = MODEL.relationship(op.name)
        # Each end's distinct ids, sorted once (keeping the last row per pair keeps every id).
        distinct = {end: distinct_keys(op.rows.column(end).combine_chunks()) for end in ("from", "to")}
        table = last_per_key(op.rows, ["from", "to"], distinct)
        sources = table.column("from").combine_chunks()
        targets = table.column("to").combine_chunks()
        older: dict[str, pa.Array] = {}  # each end's distinct ids, less the nodes this write created
        for label, column in ((rel.source, "from"), (rel.target, "to")):
            # Nodes this write just created exist; only the others are looked up.
            unique = older[column] = not_in(distinct[column], created[label])
            if len(unique):
                found = pa.array([r["id"] for r in tx.read(Q.EXISTING_IDS[label],
                                                             {"ids": self._keys_param(unique)})],
                                 MODEL.node(label).key_type)
                missing = unique.filter(pc.invert(is_in(unique, found)))
                if len(missing):
                    sample = ", ".join(str(k) for k in sorted(missing.to_pylist())[:5])
                    raise InvalidInput(
                        f"{op.name}: {column} refers to unknown {label} id(s): {sample}", field=column)
        # A node created by this write has no relationships yet.
        if len(older["from"]) and len(older["to"]):
            pairs = {(r["from"], r["to"]) for r in tx.read(Q.existing_relationships(rel),
                                                           {"sources": older["from"].to_pylist()})}
            is_old = pa.array([p in pairs for p in zip(sources.to_pylist(), targets.to_pylist())], pa.bool_())
        else:
            is_old = pa.array(np.zeros(table.num_rows, dtype=bool))
        props = tuple(n for n in table.column_names if n not in ("from", "to"))
        table = table.select(["from", "to", *props])
        new_rows, old_rows = new_and_old(table, is_old)
        if new_rows.num_rows:
            # Links to a node a fresh op of this write created are created without a MERGE
            # (``fresh``); the others are MERGEd on Neo4j, as another client may link them too.
            to_made = on_nodes_made(new_rows, made[rel.source], made[rel.target])
            unmade, on_made = new_and_old(new_rows, to_made)
            if on_made.num_rows:
                self._create(tx, op.name, False, props, on_made, op.name in touched, fresh=True)
            if unmade.num_rows:
                self._create(tx, op.name, False, props, unmade, op.name in touched or on_made.num_rows > 0)
        if old_rows.num_rows:
            tx.run(Q.upsert_relationships(rel, props), {"rows": self._rows_param(old_rows)})
        result.created[op.name] = result.created.get(op.name, 0) + new_rows.num_rows
        result.updated[op.name] = result.updated.get(op.name, 0) + old_rows.num_rows

    def _check_observations(self, tx: Transaction, rows: pa.Table) -> None:
        """Raise ``IdTaken`` when a stored ``AttributeValue`` among ``rows`` (all stored) is
        another observation: its id is a hash of ``CONTENT``, so a different identity, key
        or time under the same id is a collision, not an update. Columns absent from
        ``rows`` (a partial update, e.g. marking a value verified) are not compared."""
        compared = [c for c in CONTENT if c in rows.column_names]
        if not compared:
            return
        stored = {r["id"]: r for r in tx.read(Q.NODES_BY_IDS["AttributeValue"],
                                               {"ids": self._keys_param(rows.column("id").combine_chunks())})}
        taken = [r["id"] for r in rows.select(["id", *compared]).to_pylist()
                 if any(stored[r["id"]].get(c) != r[c] for c in compared)]
        if taken:
            raise IdTaken(f"AttributeValue: id(s) {', '.join(map(str, taken[:5]))} held by other observations",
                          taken)

    def _unlink(self, tx: Transaction, rel_type: str, rows: pa.Table) -> None:
        """Delete the ``rel_type`` relationships of ``rows`` (``from``, ``to``); missing ones are
        ignored. The default runs ``UNLINK`` per pair (primary-key lookups on the embedded store)."""
        query = Q.UNLINK[rel_type]
        for pair in rows.select(["from", "to"]).to_pylist():
            tx.run(query, {"from": pair["from"], "to": pair["to"]})

    def _create(self, tx: Transaction, name: str, is_node: bool, props: tuple[str, ...], rows: pa.Table,
                touched: bool, *, fresh: bool = False) -> None:
        """Create ``rows`` (key column(s) then ``props``), which the write checked are new
        (``fresh``: nodes the caller believes new, unchecked, a stored key must fail the
        write with ``KeyTaken``; relationships with an end a ``fresh`` node op of this
        transaction created, so none of them can exist yet).

        ``touched``: this transaction already wrote ``name``. Backends may use a
        faster bulk path (LadybugDB: ``COPY``); the default runs ``create_*``.
        """
        if is_node:
            query = Q.create_nodes(MODEL.node(name), props)
        elif fresh:
            query = Q.create_relationships_to_new_nodes(MODEL.relationship(name), props)
        else:
            query = Q.create_relationships(MODEL.relationship(name), props)
        tx.run(query, {"rows": self._rows_param(rows)})

    def _keys_param(self, keys: pa.Array) -> Any:
        """The value to pass as ``$ids`` for a keyed read inside a write (default: a list)."""
        return keys.to_pylist()

    def upsert_nodes(self, label: str, rows: Rows) -> WriteResult:
        """Create or update ``label`` nodes by ``id`` in one transaction."""
        return self.write([node_op(label, rows)])

    def upsert_relationships(self, rel_type: str, rows: Rows) -> WriteResult:
        """Create or update ``rel_type`` relationships between existing nodes."""
        return self.write([relationship_op(rel_type, rows)])

    def delete_nodes(self, label: str, ids: Sequence[str]) -> None:
        """Delete ``label`` nodes and their relationships (used for data removal)."""
        self._called()
        try:
            self._write_statement(Q.DELETE_NODES[label], {"ids": list(ids)})
        finally:
            self._wrote()
        self._record_change_alone(Changes(deleted={label: set(ids)}))
        self._publish(Changes(deleted={label: set(ids)}))

    @abstractmethod
    def _write_statement(self, query: Query, params: Mapping[str, Any]) -> None:
        """Run one write statement in its own transaction (counted by callers as a store call)."""

    def wipe(self) -> None:
        """Delete every node and relationship (tests, and reloading a store); the channel
        catalogue is then seeded again, as in a new store (``seed_channels``)."""
        self._called()
        try:
            for query in Q.WIPE.values():
                self._write_statement(query, {})
        finally:
            self._wrote()
            self._record_change_alone(Changes(everything=True))
        self.seed_channels()  # as new: the channel catalogue every store starts with
        self._publish(Changes(everything=True))

    # Node ids are text, but an AttributeValue's is an integer: what comes back is what went in.
    @overload
    def existing_ids(self, label: str, ids: Sequence[str]) -> set[str]: ...
    @overload
    def existing_ids(self, label: str, ids: Sequence[int]) -> set[int]: ...
    @overload
    def existing_ids(self, label: str, ids: Keys) -> set[Any]: ...
    def existing_ids(self, label: str, ids: Keys) -> set[Any]:
        """The subset of ``ids`` that exist as ``label`` nodes."""
        if not ids:
            return set()
        return {r["id"] for r in self._read_keyed(Q.EXISTING_IDS[label], ids)}

    @overload
    def nodes(self, label: str, ids: Sequence[str]) -> dict[str, Row]: ...
    @overload
    def nodes(self, label: str, ids: Sequence[int]) -> dict[int, Row]: ...
    @overload
    def nodes(self, label: str, ids: Keys) -> dict[Any, Row]: ...
    def nodes(self, label: str, ids: Keys) -> dict[Any, Row]:
        """The stored properties of the ``label`` nodes among ``ids``, by id.

        Every row has all of the label's properties (``None`` when unset);
        unknown ids are absent. Raises KeyError for an undeclared label.
        """
        if not ids:
            return {}
        return {r["id"]: r for r in self._read_keyed(Q.NODES_BY_IDS[label], ids)}

    def nodes_table(self, label: str, ids: Keys) -> pa.Table:
        """``nodes`` as an Arrow table of the label's schema (``id``, then every property),
        one row per stored id among ``ids``, in any order: for comparing an import batch
        with the store without a Python object per value. Pass distinct ids. Raises
        KeyError for an undeclared label."""
        schema = MODEL.node(label).arrow_schema()
        if not len(ids):
            return schema.empty_table()
        query = Q.NODES_BY_IDS[label]
        self._called()
        return self._observed(query.name, self._fetch_table_keyed, query, self._key_values(query, ids), schema)

    def relationships(self, rel_type: str, sources: Sequence[str]) -> dict[tuple[str, str], Row]:
        """The stored ``rel_type`` relationships leaving the nodes ``sources``.

        Keyed by ``(from, to)``; each row holds ``from``, ``to`` and all of the
        type's properties (``None`` when unset). Raises KeyError for an undeclared type.
        """
        if not sources:
            return {}
        rows = self._read_keyed(Q.relationships_from(MODEL.relationship(rel_type)), sources)
        return {(r["from"], r["to"]): r for r in rows}

    def bulk_load(
        self,
        nodes: Mapping[str, pa.Table],
        relationships: Mapping[str, pa.Table],
        progress: Progress | None = None,
    ) -> int:
        """Load whole tables into an empty store, nodes first; return rows loaded.

        Tables must have the model's Arrow schema (see ``NodeType.arrow_schema``).
        Raises ``InvalidInput`` for a table that does not fit.
        """
        total = 0
        items = [(label, True, table, MODEL.node(label).arrow_schema()) for label, table in nodes.items()]
        items += [(rel_type, False, table, MODEL.relationship(rel_type).arrow_schema())
                  for rel_type, table in relationships.items()]
        try:
            for name, is_node, table, schema in items:
                table = conform(table, schema, name)
                if name == "Channel":
                    # The store was seeded with the channel catalogue (``seed_channels``):
                    # upsert the few channel rows rather than create them twice.
                    self.write([node_op("Channel", table.to_pylist())])
                else:
                    self._bulk_create(name, is_node, table)
                total += table.num_rows
                if progress:
                    progress(name, table.num_rows)
        finally:
            self._wrote()
            self._record_change_alone(Changes(everything=True))
            self._publish(Changes(everything=True))
        return total

    def bulk_load_unfinished(self) -> bool:
        """True when a bulk load into this store started and did not finish, so running the
        same load again completes it (Neo4j; the embedded store's load is not resumable)."""
        return False

    def export_nodes(self, label: str) -> pa.Table:
        """Every ``label`` node as an Arrow table with the model's schema, sorted by id."""
        node = MODEL.node(label)
        return _rows_to_table(self._read(Q.export_nodes(node)), node.arrow_schema())

    def export_relationships(self, rel_type: str) -> pa.Table:
        """Every ``rel_type`` relationship as an Arrow table (``from``, ``to``, properties)."""
        rel = MODEL.relationship(rel_type)
        return _rows_to_table(self._read(Q.export_relationships(rel)), rel.arrow_schema())

    # ------------------------------------------------------------ analytic projection

    def projection_table(self, name: str, ids: Sequence[str] | None = None,
                         between: tuple[str, str] | None = None) -> pa.Table:
        """One table of the analytic projection as Arrow, typed by the model.

        ``name`` is ``"customers"`` or a key of ``graph.queries.PROJECTION_FACTS``.
        Customers: every one, or those in ``ids``. Facts (rows carry the owning
        customer's id in ``customer``): those of the customers in ``ids``, or of
        the customers whose ids lie in ``between`` (inclusive bounds; read a big
        store slice by slice; customers may be sliced too). Raises KeyError for
        an unknown name, ValueError for a fact without ``ids`` or ``between``.
        """
        schema = projection_schema(name)
        if ids is not None:
            if not ids:
                return schema.empty_table()
            query = Q.projection_customers(True) if name == "customers" else Q.projection_fact(name, True)
            self._called()
            return self._observed(query.name, self._fetch_table_keyed, query, list(dict.fromkeys(ids)), schema)
        self._called()
        if name == "customers" and between is not None:
            query, params = Q.projection_customers(False, True), {"lo": between[0], "hi": between[1]}
        elif name == "customers":
            query, params = Q.projection_customers(False), {}
        elif between is None:
            raise ValueError(f"projection_table({name!r}) needs ids or between")
        else:
            query, params = Q.projection_fact(name, False), {"lo": between[0], "hi": between[1]}
        return self._observed(query.name, self._fetch_table, query, params, schema)

    def customer_ids(self) -> pa.Array:
        """Every customer id, sorted, as an Arrow string array (slice bounds of a projection build)."""
        self._called()
        table = self._observed(Q.CUSTOMER_IDS.name, self._fetch_table, Q.CUSTOMER_IDS, {},
                               pa.schema([("id", pa.string())]))
        ids = table.column("id").combine_chunks()
        return ids.take(pc.sort_indices(ids))

    def owners(self, label: str, ids: Sequence[str]) -> set[str]:
        """Ids of the customers the ``label`` nodes ``ids`` belong to (through
        accounts for subscriptions and monetary events). Raises KeyError for a
        label that has no owner (Customer, Product, Channel, ImportRun)."""
        if not ids:
            return set()
        return {r["customer"] for r in self._read_keyed(Q.OWNERS[label], ids)}

    def _fetch_table(self, query: Query, params: Mapping[str, Any], schema: pa.Schema) -> pa.Table:
        """Run a read and return its rows as an Arrow table of ``schema`` (backends may stream)."""
        return _rows_to_table(self._fetch(query, params), schema)

    def _fetch_table_keyed(self, query: Query, ids: Any, schema: pa.Schema) -> pa.Table:
        """Rows of the keyed read ``query`` for ``ids`` (a list of distinct keys, or on a
        backend with ``arrow_keys`` an Arrow array of many) as a table of ``schema``."""
        return _rows_to_table(self._fetch_keyed(query, ids, {}), schema)

    def campaign_contacts(self, campaign_id: str, wave: int | None = None) -> pa.Table:
        """The contacts campaign ``campaign_id`` made (of wave ``wave``, or all), as Arrow:
        contact, customer, channel, at, wave, cost, offer, outcome. Empty for an unknown campaign."""
        self._called()
        schema = pa.schema([("contact", pa.string()), ("customer", pa.string()), ("channel", pa.string()),
                            ("at", pa.timestamp("us")), ("wave", pa.int64()), ("cost", pa.float64()),
                            ("offer", pa.string()), ("outcome", pa.string())])
        return self._fetch_table(Q.CAMPAIGN_CONTACTS, {"id": campaign_id, "wave": -1 if wave is None else int(wave)},
                                 schema)

    # ------------------------------------------------------------ reads for the API

    def customers(self, ids: Sequence[str]) -> dict[str, Row]:
        """Customer rows by id; unknown ids are absent from the result."""
        return {r["c"]["id"]: r["c"] for r in self._read_keyed(Q.CUSTOMERS_BY_IDS, ids)}

    def accounts_of_customers(self, ids: Sequence[str]) -> dict[str, list[Row]]:
        """Accounts held by each customer, oldest first."""
        rows = self._read_keyed(Q.ACCOUNTS_BY_CUSTOMERS, ids)
        return _group({"owner": r["owner"], **r["a"]} for r in rows)

    def subscriptions_of_accounts(self, ids: Sequence[str]) -> dict[str, list[Row]]:
        """Subscriptions of each account, each with its ``product_id``."""
        rows = self._read_keyed(Q.SUBSCRIPTIONS_BY_ACCOUNTS, ids)
        return _group({"owner": r["owner"], "product_id": r["product_id"], **r["s"]} for r in rows)

    #: True when ``customer_views`` is one statement (one round trip) on this backend; else it
    #: composes the single reads, each in process.
    one_statement_views: bool = False

    def customer_views(self, ids: Sequence[str], shape: Q.ViewShape) -> CustomerViews:
        """The customer view of ``ids`` for ``shape``: what ``customers`` and, as ``shape`` asks,
        ``accounts_of_customers``, ``subscriptions_of_accounts`` and ``monetary_events_of_accounts``
        (of those accounts), ``contacts_of_customers`` and ``preferred_channels`` return, read in
        one store call (one statement on Neo4j, batched across ``ids``). Unknown ids are absent."""
        if not self.one_statement_views:
            return self._composed_views(ids, shape)
        views = CustomerViews()
        for record in self._read_keyed(Q.customer_views(shape), ids):
            customer = _iso_times(record["c"], "Customer")
            cid = customer["id"]
            views.customers[cid] = customer
            if shape.accounts:
                accounts = views.accounts[cid] = []
                for account in record["accounts"]:
                    subscriptions = account.pop("subscriptions", None)
                    events = account.pop("events", None)
                    accounts.append(_iso_times(account, "Account"))
                    if shape.subscriptions:
                        views.subscriptions[account["id"]] = [_iso_times(r, "Subscription") for r in subscriptions]
                    if shape.events:
                        views.events[account["id"]] = _newest_first([_iso_times(r, "MonetaryEvent") for r in events])
            if shape.contacts:
                views.contacts[cid] = _newest_first([_iso_times(r, "Contact") for r in record["contacts"]])
            if shape.preferences:
                views.preferences[cid] = [_parse_preference(r) for r in record["preferences"]]
        return views

    def _composed_views(self, ids: Sequence[str], shape: Q.ViewShape) -> CustomerViews:
        """``customer_views`` as the single reads, one after the other (for in-process stores)."""
        views = CustomerViews(customers=self.customers(ids))
        known = [i for i in dict.fromkeys(ids) if i in views.customers]
        if not known:
            return views
        if shape.accounts:
            found = self.accounts_of_customers(known)
            views.accounts = {i: found.get(i, []) for i in known}
            account_ids = [a["id"] for i in known for a in views.accounts[i]]
            if shape.subscriptions:
                found = self.subscriptions_of_accounts(account_ids) if account_ids else {}
                views.subscriptions = {a: found.get(a, []) for a in account_ids}
            if shape.events:
                found = self.monetary_events_of_accounts(account_ids) if account_ids else {}
                views.events = {a: found.get(a, []) for a in account_ids}
        if shape.contacts:
            found = self.contacts_of_customers(known)
            views.contacts = {i: found.get(i, []) for i in known}
        if shape.preferences:
            found = self.preferred_channels(known)
            views.preferences = {i: found.get(i, []) for i in known}
        return views

    def products(self, ids: Sequence[str] | None = None) -> dict[str, Row]:
        """Products by id: the given ids, or the whole catalogue (sorted by id) when ``ids`` is None.

        Served from the cached catalogue; ids missing from it (a product another
        process added since it was cached) are read from the store.
        """
        catalogue = self._catalogue("products", lambda: {
            r["p"]["id"]: r["p"] for r in self._read(Q.ALL_PRODUCTS)})
        if ids is None:
            return {k: dict(v) for k, v in catalogue.items()}
        out = {i: dict(catalogue[i]) for i in ids if i in catalogue}
        missing = [i for i in ids if i not in catalogue]
        if missing:
            out.update({r["p"]["id"]: r["p"] for r in self._read_keyed(Q.PRODUCTS_BY_IDS, missing)})
        return out

    def bundle_components(self, ids: Sequence[str]) -> dict[str, list[Row]]:
        """Component products (``product_id``, ``quantity``, ``discount``) of each bundle."""
        return _group(self._read_keyed(Q.BUNDLE_COMPONENTS, ids))

    def subscriber_counts(self, ids: Sequence[str]) -> dict[str, int]:
        """Number of active subscriptions per product id (0 when none)."""
        rows = self._read_keyed(Q.SUBSCRIBER_COUNTS, ids)
        found = {r["product_id"]: r["subscribers"] for r in rows}
        return {i: found.get(i, 0) for i in ids}

    def channels(self) -> dict[str, Row]:
        """The channel catalogue by id, sorted by id (cached like ``products``)."""
        catalogue = self._catalogue("channels", lambda: {r["ch"]["id"]: r["ch"] for r in self._read(Q.ALL_CHANNELS)})
        return {k: dict(v) for k, v in catalogue.items()}

    def channel_contact_volumes(self, ids: Sequence[str], since: datetime | None = None) -> dict[str, int]:
        """Number of contacts per channel since ``since`` (all time when None)."""
        rows = self._read_keyed(Q.CHANNEL_CONTACT_VOLUMES, ids, {"since": since or EPOCH})
        found = {r["channel_id"]: r["contacts"] for r in rows}
        return {i: found.get(i, 0) for i in ids}

    def contacts_of_customers(
        self,
        ids: Sequence[str],
        since: datetime | None = None,
        kind: str | None = None,
        channel: str | None = None,
    ) -> dict[str, list[Row]]:
        """Contacts of each customer (every contact has a channel), newest first, with ``channel_id``."""
        rows = self._read_keyed(Q.CONTACTS_BY_CUSTOMERS, ids)
        keep = [
            {"owner": r["owner"], "channel_id": r["channel_id"], **r["k"]} for r in rows
            if (since is None or (r["k"]["at"] is not None and r["k"]["at"] >= since))
            and (kind is None or r["k"]["kind"] == kind) and (channel is None or r["channel_id"] == channel)
        ]
        return _group(_newest_first(keep))

    def identities_of_customers(self, ids: Sequence[str]) -> dict[str, list[Row]]:
        """Source identities merged into each customer, oldest link first."""
        return _group({"owner": r["owner"], **r["i"]} for r in self._read_keyed(Q.IDENTITIES_OF_CUSTOMERS, ids))

    def attribute_values_of_customers(self, ids: Sequence[str]) -> dict[str, list[Row]]:
        """Every profile attribute value (with provenance) of each customer, any order."""
        return _group({"owner": r["owner"], **r["v"]} for r in self._read_keyed(Q.ATTRIBUTES_OF_CUSTOMERS, ids))

    def customer_of_identity(self, identity_id: str) -> str | None:
        """Id of the customer an identity is merged into, or None (unknown or unlinked identity)."""
        rows = self._read_keyed(Q.CUSTOMER_OF_IDENTITY, [identity_id])
        return rows[0]["customer_id"] if rows else None

    def customers_merged_into(self, ids: Sequence[str]) -> dict[str, str]:
        """Customers merged into any of ``ids`` (directly), mapped to the one they were merged into."""
        if not ids:
            return {}
        return {r["id"]: r["merged_into"] for r in self._read(Q.CUSTOMERS_MERGED_INTO, {"ids": list(ids)})}

    def revoke_api_key(self, key_id: str, now: datetime, keep_one_of: str | None = None,
                       usable: Callable[[Row, datetime], bool] | None = None) -> tuple[Row | None, bool]:
        """Mark ``ApiKey`` ``key_id`` revoked at ``now`` (a revoked key keeps its first time),
        in one write transaction.

        ``keep_one_of`` (a role, e.g. ``admin``): refuse when the key has that role, is
        ``usable(row, now)`` and no other key of the role is; the keys of the role are
        write-locked first, so concurrent revocations (other threads, other servers on one
        Neo4j) are serialised and cannot together revoke the last ones. Out: the key's row
        after the call (None: no such key) and whether the revocation was refused.
        """
        usable = usable or (lambda row, at: row.get("revoked_at") is None)
        self._called()

        def attempt(tx: Transaction) -> tuple[Row | None, bool]:
            if keep_one_of is not None:
                tx.run(Q.LOCK_API_KEYS_OF_ROLE, {"role": keep_one_of})
            rows = tx.read(Q.NODES_BY_IDS["ApiKey"], {"ids": self._keys_param(pa.array([key_id], pa.string()))})
            if not rows:
                return None, False
            row = rows[0]
            if keep_one_of is not None and row.get("role") == keep_one_of and usable(row, now):
                others = [r for r in tx.read(Q.API_KEYS_OF_ROLE, {"role": keep_one_of})
                          if r["id"] != key_id and usable(r, now)]
                if not others:
                    return row, True
            if row.get("revoked_at") is None:
                tx.run(Q.REVOKE_API_KEY, {"id": key_id, "now": now})
                row = {**row, "revoked_at": now}
            return row, False

        try:
            return self._run_write(attempt)
        finally:
            self._wrote()

    def customers_with_status(self, ids: Keys, status: str) -> set[str]:
        """The subset of ``ids`` that are customers with ``status`` (e.g. ERASED)."""
        if not ids:
            return set()
        return {r["id"] for r in self._read_keyed(Q.CUSTOMERS_WITH_STATUS, ids, {"status": status})}

    def campaigns_of_customers(self, ids: Sequence[str]) -> dict[str, list[Row]]:
        """Each customer's campaign memberships (``TARGETED``): ``campaign_id``, ``campaign_name``,
        ``purpose``, ``campaign_status`` and the membership's properties (cohort, offer, responses)."""
        return _group(self._read_keyed(Q.CAMPAIGNS_OF_CUSTOMERS, ids))

    def preferred_channels(self, ids: Sequence[str]) -> dict[str, list[Row]]:
        """Channel preferences of each customer, favourite (rank 1) first."""
        return _group(self._read_keyed(Q.PREFERRED_CHANNELS, ids))

    def monetary_events_of_accounts(
        self, ids: Sequence[str], since: datetime | None = None
    ) -> dict[str, list[Row]]:
        """Monetary events of each account since ``since``, newest first."""
        rows = self._read_keyed(Q.MONETARY_EVENTS_BY_ACCOUNTS, ids)
        keep = [{"owner": r["owner"], **r["m"]} for r in rows
                if since is None or (r["m"]["at"] is not None and r["m"]["at"] >= since)]
        return _group(_newest_first(keep))

    def find_customers(
        self, flt: Q.CustomerFilter, sort: str = "ID", descending: bool = False,
        skip: int = 0, limit: int = 20,
    ) -> list[str]:
        """Ids of the customers matching ``flt``, sorted, one page."""
        query, params = Q.customer_page(flt, sort, descending)
        return [r["id"] for r in self._read(query, {**params, "skip": skip, "limit": limit})]

    def customer_keyset(
        self, flt: Q.CustomerFilter, sort: str, descending: bool, limit: int,
        cursor: tuple[Any, str] | None = None, backward: bool = False,
    ) -> list[tuple[str, Any]]:
        """``(id, sort value)`` of up to ``limit`` customers matching ``flt`` in the order of
        ``sort`` then id (``descending`` or not), starting past ``cursor`` (a ``(sort value, id)``
        pair) in the reading direction: forward, or ``backward`` (nearest to the cursor first).
        A keyset read: a row written before the cursor does not shift the page."""
        query, params = Q.customer_keyset_page(flt, sort, descending, cursor is not None, backward)
        params = {**params, "limit": limit}
        if cursor is not None:
            params["key_id"] = cursor[1]
            if sort != "ID":
                params["key_value"] = cursor[0]
        return [(r["id"], r["k"]) for r in self._read(query, params)]

    def count_customers(self, flt: Q.CustomerFilter) -> int:
        """Number of customers matching ``flt``."""
        query, params = Q.customer_count(flt)
        n: int = self._read(query, params)[0]["n"]
        return n


def _changes_of(ops: Sequence[WriteOp], created: Mapping[str, list[pa.Array]] | None = None) -> Changes:
    """The ``Changes`` a committed list of write ops made (``created``: node ids it created, by label)."""
    changes = Changes()
    for label, arrays in (created or {}).items():
        for array in arrays:
            changes.created.setdefault(label, set()).update(array.to_pylist())
    for op in ops:
        if not op.rows.num_rows:
            continue
        if op.kind == "node":
            key = MODEL.node(op.name).key
            changes.nodes.setdefault(op.name, set()).update(op.rows.column(key).to_pylist())
        elif op.kind == "delete":
            changes.deleted.setdefault(op.name, set()).update(op.rows.column("id").to_pylist())
        else:
            pairs = zip(op.rows.column("from").to_pylist(), op.rows.column("to").to_pylist())
            changes.relationships.setdefault(op.name, set()).update(pairs)
    return changes


def _rows_to_table(rows: list[Row], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def projection_schema(name: str) -> pa.Schema:
    """The Arrow schema of projection table ``name`` (``"customers"`` or a fact), from the model."""
    return pa.schema([(column, ARROW_TYPES[type_]) for column, _, type_ in Q.projection_columns(name)])
