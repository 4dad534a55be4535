"""The analytic projection: the customer graph as columnar tables in memory.

Segments, value analysis, predictive models and recommendations look at the
whole customer base at once. Running that as Cypher per request is too slow
(docs/architecture.md), so the store is projected into pandas frames, one per
fact, each row carrying the integer *row* of its customer:

* ``customers``: one row per customer (row ``i`` is customer ``ids[i]``), the
  Customer properties, enumerations as categoricals, dates as ``datetime64``;
* ``accounts``, ``subscriptions`` (with ``product``), ``contacts`` (with
  ``channel``), ``events`` (monetary events), ``preferences`` (channel
  preferences), ``attributes`` (profile values with provenance);
* ``products`` and ``channels``: the catalogue, indexed by id.

``Projection.build(store)`` reads everything (slice by slice) into a
``ProjectionData`` snapshot. The projection subscribes to the store's writes
(``GraphStore.subscribe``); ``Projection.data()`` first applies pending
changes: it finds the customers a write touched, re-reads just those customers'
rows and swaps in a new snapshot, so answers reflect the latest data without a
full rebuild. Snapshots are immutable: a reader keeps a consistent view while a
refresh builds the next one.

Writes made by another process (several servers on one Neo4j) are not seen by
the listener: they reach the projection through the store's change feed
(``graph.change_feed``). ``Projection(store, follow_every=s)`` reads the feed at
most every ``s`` seconds when ``data()`` is called and feeds the other processes'
entries to the same incremental refresh; it rebuilds only when the feed cannot be
followed (entries pruned while this process did not look, or a wipe or bulk load).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graph import queries as Q
from graph.clock import utc_now
from graph.model import (
    ACCOUNT_STATUS_VALUES,
    ACCOUNT_TYPE_VALUES,
    CONTACT_DIRECTION_VALUES,
    CONTACT_KIND_VALUES,
    CONTACT_OUTCOME_VALUES,
    CONTRACT_TYPE_VALUES,
    CUSTOMER_STATUS_VALUES,
    GENDER_VALUES,
    MODEL,
    MONETARY_KIND_VALUES,
    PAYMENT_METHOD_VALUES,
    SUBSCRIPTION_STATUS_VALUES,
    TIER_VALUES,
)
from graph.change_feed import FeedRead
from graph.errors import StoreUnavailable
from graph.store import Changes, GraphStore, projection_schema

log = logging.getLogger(__name__)

#: Deleting nodes of these labels removes projected rows we cannot trace to a
#: customer any more (their links went with them): the projection is rebuilt,
#: unless the same write unlinked them from their customers (``_untraced_deletes``).
#: Deleting other labels (Segment, ImportRun, Identity) changes nothing projected.
_REBUILD_ON_DELETE = ("Account", "Subscription", "Contact", "MonetaryEvent", "AttributeValue", "Product", "Channel")

#: Relationship types of the catalogue: writing them reloads it (a new data version).
_CATALOGUE_RELATIONSHIPS = ("INCLUDES", "REQUIRES", "EXCLUDES", "UPGRADES_TO")

#: A refresh touching more customers than this rebuilds instead.
REBUILD_ABOVE = 50_000

#: The fact tables, in build order.
FACTS = tuple(Q.PROJECTION_FACTS)

#: Columns stored as categoricals with a fixed set of categories (the model's
#: enumerations): unknown values become missing, and frames concatenate cheaply.
ENUMS: dict[str, dict[str, tuple[str, ...]]] = {
    "customers": {"tier": TIER_VALUES, "status": CUSTOMER_STATUS_VALUES, "gender": GENDER_VALUES},
    "accounts": {"type": ACCOUNT_TYPE_VALUES, "status": ACCOUNT_STATUS_VALUES,
                 "payment_method": PAYMENT_METHOD_VALUES, "contract_type": CONTRACT_TYPE_VALUES},
    "subscriptions": {"status": SUBSCRIPTION_STATUS_VALUES},
    "contacts": {"kind": CONTACT_KIND_VALUES, "direction": CONTACT_DIRECTION_VALUES,
                 "outcome": CONTACT_OUTCOME_VALUES},
    "offers": {"kind": CONTACT_KIND_VALUES, "outcome": CONTACT_OUTCOME_VALUES},
    "events": {"kind": MONETARY_KIND_VALUES},
}

#: Columns stored as open categoricals (their values are not a fixed enumeration).
OPEN_CATEGORIES: dict[str, tuple[str, ...]] = {
    "customers": ("city", "country", "language", "postal_code"),
    "accounts": ("account",),
    "subscriptions": ("product",),
    "contacts": ("channel", "campaign"),
    "offers": ("product",),
    "preferences": ("channel",),
    "attributes": ("key", "source"),
}

#: Columns dropped when projecting (not needed for analytics, costly to keep).
DROPPED: dict[str, tuple[str, ...]] = {}


def subscriptions_held(subscriptions: pd.DataFrame, t: np.ndarray | np.int64 | int) -> np.ndarray:
    """Per row of a ``subscriptions`` fact frame: held at ``t`` (int64 microseconds, one
    value or one per row): started by then (or no start) and not ended by then; a
    CANCELLED subscription without an end date is not held."""
    since = subscriptions["since"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    until = subscriptions["until"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    cancelled = (subscriptions["status"] == "CANCELLED").to_numpy()
    nat = np.iinfo(np.int64).min
    return ((since == nat) | (since <= t)) & (((until == nat) & ~cancelled) | ((until != nat) & (until > t)))


@dataclass(frozen=True)
class ProjectionData:
    """One immutable snapshot of the projection.

    ``ids`` maps customer rows to ids (``ids[row]``; ``ids.get_indexer`` goes
    back). ``present`` is False for rows of customers deleted since the build
    (rows are never renumbered). ``version`` grows with every applied change;
    caches key on it. ``built_at`` is when the snapshot's data was read.
    """

    version: int
    built_at: datetime
    ids: pd.Index
    present: np.ndarray
    customers: pd.DataFrame
    facts: dict[str, pd.DataFrame]
    products: pd.DataFrame
    channels: pd.DataFrame
    bundles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Per fact, rows sorted by customer and where each customer's rows start (built on first ``subset``).
    row_index: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def size(self) -> int:
        """Number of customer rows (including rows of deleted customers)."""
        return len(self.ids)

    def fact(self, name: str) -> pd.DataFrame:
        """One fact frame (``accounts``, ``subscriptions``, ``contacts``, ...); KeyError if unknown."""
        return self.facts[name]

    def rows_of(self, ids: Iterable[str]) -> np.ndarray:
        """Customer rows of ``ids`` (-1 for ids not in the projection)."""
        return self.ids.get_indexer(list(ids))

    def row_of(self, customer_id: str) -> int | None:
        """The row of one customer id, or None when it is not projected (or deleted)."""
        row = int(self.ids.get_indexer([customer_id])[0])
        return row if row >= 0 and self.present[row] else None

    def subset(self, rows: np.ndarray) -> ProjectionData:
        """A snapshot of just the customer ``rows`` (distinct), renumbered 0..k-1 in that order.

        For work on a few customers at a time (one customer's offers): whole-base
        code then runs on a handful of fact rows. The first call per snapshot
        sorts each fact by customer (about a second at 1M customers).
        """
        rows = np.asarray(rows, dtype=np.int64)
        facts = {}
        for name, frame in self.facts.items():
            if name not in self.row_index:
                order = np.argsort(frame["row"].to_numpy(), kind="stable")
                starts = np.searchsorted(frame["row"].to_numpy()[order], np.arange(self.size + 1))
                self.row_index[name] = (order, starts)
            order, starts = self.row_index[name]
            lengths = starts[rows + 1] - starts[rows]
            take = np.concatenate([order[starts[r]:starts[r + 1]] for r in rows]) if len(rows) else \
                np.zeros(0, dtype=np.int64)
            sub = frame.iloc[take].reset_index(drop=True)
            sub["row"] = np.repeat(np.arange(len(rows), dtype=np.int32), lengths)
            facts[name] = sub
        return replace(self, ids=self.ids[rows], present=self.present[rows],
                       customers=self.customers.iloc[rows].reset_index(drop=True), facts=facts, row_index={})

    def base(self) -> np.ndarray:
        """Boolean mask of the customer base: present and not merged into another customer."""
        status = self.customers["status"]
        return self.present & (status != "MERGED").to_numpy()


@dataclass
class RefreshStats:
    """What one ``Projection.refresh`` did."""

    customers: int = 0
    rebuilt: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class ProjectionTotals:
    """Counts since start: full ``builds``, incremental ``refreshes``, change-feed
    ``feed_entries`` applied from other processes, and the feed ``feed_position``
    (-1: not following a feed)."""

    builds: int = 0
    refreshes: int = 0
    feed_entries: int = 0
    feed_position: int = -1


class Projection:
    """The live analytic projection of one store.

    ``Projection(store)`` subscribes to the store's writes; the first
    ``data()`` builds the snapshot. Thread-safe: one refresh runs at a time,
    readers get the latest complete snapshot. ``listeners`` are called with
    ``(snapshot, changed_rows)`` after each refresh (``changed_rows`` is None
    after a full build), so caches and scores can follow.

    ``follow_every`` (seconds; None: do not follow): on a store with a change feed,
    ``data()`` reads the feed when it last did longer ago than that (0: on every call)
    and applies other processes' writes incrementally.

    ``first_build_scope``: a context manager the first build (and the wait for it) runs in;
    the app passes ``cdp.limits.fair_share.not_charged``, so whichever request triggers the build
    is not charged for work done for everyone.
    """

    def __init__(self, store: GraphStore, slice_customers: int | None = None,
                 follow_every: float | None = None,
                 first_build_scope: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
                 ) -> None:
        self.store = store
        self.first_build_scope = first_build_scope
        self.slice_customers = slice_customers
        self.follow_every = follow_every if store.change_feed else None
        self._feed_lock = threading.Lock()
        self._feed_position = -1  # the last feed entry the snapshot (or _pending) includes
        self._feed_polled = float("-inf")  # time.monotonic() of the last feed read
        self._builds = self._refreshes = self._feed_entries = 0
        self._snapshot: ProjectionData | None = None
        self._pending = Changes()
        self._pending_lock = threading.Lock()
        # Writes heard and writes whose changes a finished snapshot includes: a reader
        # may use the snapshot as is only when they are equal (a refresh in flight
        # has emptied _pending but not yet published its snapshot).
        self._heard = 0
        self._applied = 0
        self._refresh_lock = threading.RLock()
        self._version = 0
        self.listeners: list[Callable[[ProjectionData, np.ndarray | None], None]] = []
        self.last_refresh = RefreshStats()
        store.subscribe(self._on_change)

    # ------------------------------------------------------------ public

    def data(self) -> ProjectionData:
        """The current snapshot, with every committed write of this process applied
        (and, when following a change feed, the other processes' writes read from it).

        Builds the projection on first use.
        Raises ``StoreError``/``StoreUnavailable`` when the store cannot be read.
        """
        if self.follow_every is not None and self._snapshot is not None:
            try:
                self.follow()
            except StoreUnavailable as exc:  # a blip: serve the snapshot we have, read the feed next time
                log.warning("change feed not read: %s", exc)
        snapshot = self._snapshot
        if snapshot is not None and self._applied == self._heard:
            return snapshot
        with self.first_build_scope() if snapshot is None else contextlib.nullcontext(), self._refresh_lock:
            if self._snapshot is None:
                self.rebuild()
            elif self._pending or self._applied != self._heard:
                self.refresh()
            assert self._snapshot is not None
            return self._snapshot

    @property
    def built(self) -> bool:
        """True once a snapshot exists."""
        return self._snapshot is not None

    def totals(self) -> ProjectionTotals:
        """Builds, refreshes and change-feed entries applied since start (for metrics)."""
        return ProjectionTotals(self._builds, self._refreshes, self._feed_entries,
                                self._feed_position if self.follow_every is not None else -1)

    def follow(self, force: bool = False) -> int:
        """Read the store's change feed (unless read less than ``follow_every`` seconds ago,
        or another thread is reading it) and queue other processes' writes for the next
        refresh; a gap in the feed queues a rebuild. Returns the number of entries queued.

        Raises ``StoreError``/``StoreUnavailable`` when the feed cannot be read.
        """
        if self.follow_every is None or self._snapshot is None:
            return 0
        if not force and time.monotonic() - self._feed_polled < self.follow_every:
            return 0
        if not self._feed_lock.acquire(blocking=False):
            return 0  # another request is reading it: serve the current snapshot
        try:
            queued = 0
            while True:
                after = self._feed_position
                read: FeedRead = self.store.changes_since(after)
                self._feed_polled = time.monotonic()
                if read.missed:
                    log.warning("change feed: entries after %d are gone (head %d): rebuilding", after, read.head)
                    self._on_change(Changes(everything=True))
                    self._feed_position = read.head
                    return queued + 1
                for entry in read.entries:
                    if entry.origin != self.store.origin:  # our own writes were heard through subscribe
                        if _touches_catalogue(entry.changes) or _touches_cached(self.store, entry.changes):
                            self.store.forget_catalogue()
                        self._on_change(entry.changes)
                        queued += 1
                        self._feed_entries += 1
                    self._feed_position = entry.seq
                if not read.entries or self._feed_position >= read.head:
                    return queued
        finally:
            self._feed_lock.release()

    def rebuild(self) -> ProjectionData:
        """Read the whole store into a new snapshot (pending changes are included)."""
        with self._refresh_lock:
            started = time.perf_counter()
            with self._pending_lock:
                self._pending = Changes()
                heard = self._heard
            if self.follow_every is not None:
                # The feed's head before the read: entries after it are applied again later
                # (re-reading a customer is idempotent), none before it is missed.
                with self._feed_lock:
                    self._feed_position = self.store.change_feed_head()
                    self._feed_polled = time.monotonic()
            self._version += 1
            snapshot = build(self.store, self._version, self.slice_customers)
            self._builds += 1
            self._snapshot = snapshot
            self._applied = heard
            self.last_refresh = RefreshStats(customers=snapshot.size, rebuilt=True,
                                             seconds=time.perf_counter() - started)
            log.info("projection built: %d customers in %.1f s", snapshot.size, self.last_refresh.seconds)
            self._tell(snapshot, None)
            return snapshot

    def refresh(self) -> RefreshStats:
        """Apply the pending changes: re-read the customers they touched.

        Rebuilds instead when the changes cannot be traced to customers
        (a wipe, a bulk load, deleted accounts or contacts).
        """
        with self._refresh_lock:
            with self._pending_lock:
                changes, self._pending = self._pending, Changes()
                heard = self._heard
            if self._snapshot is None:
                self.rebuild()
                return self.last_refresh
            if not changes:
                self._applied = heard
                return RefreshStats()
            started = time.perf_counter()
            if changes.everything or _untraced_deletes(changes):
                self.rebuild()
                return self.last_refresh
            snapshot = self._snapshot
            catalogue = _touches_catalogue(changes)
            touched = touched_customers(self.store, changes)
            deleted = changes.deleted.get("Customer", set())
            if not catalogue and not deleted and not any(touched.values()):
                self._applied = heard
                return RefreshStats()  # e.g. a saved segment or an import run: nothing projected changed
            if len(set().union(*touched.values()) if touched else ()) > REBUILD_ABOVE:
                self.rebuild()  # re-reading most of the base key by key is slower than one pass
                return self.last_refresh
            self._version += 1
            snapshot, rows = apply(self.store, snapshot, touched, deleted, self._version, catalogue)
            self._snapshot = snapshot
            self._applied = heard
            self._refreshes += 1
            self.last_refresh = RefreshStats(customers=len(rows), seconds=time.perf_counter() - started)
            self._tell(snapshot, rows)
            return self.last_refresh

    def close(self) -> None:
        """Stop following the store's writes."""
        self.store.unsubscribe(self._on_change)

    # ------------------------------------------------------------ internals

    def _on_change(self, changes: Changes) -> None:
        if self._snapshot is None and not self._refresh_lock_held():
            return  # nothing built yet: the first build reads everything anyway
        with self._pending_lock:
            self._pending.merge(changes)
            self._heard += 1

    def _refresh_lock_held(self) -> bool:
        """True while a build or refresh runs (a write during a build must be kept)."""
        if self._refresh_lock.acquire(blocking=False):
            self._refresh_lock.release()
            return False
        return True

    def _tell(self, snapshot: ProjectionData, rows: np.ndarray | None) -> None:
        for listener in list(self.listeners):
            try:
                listener(snapshot, rows)
            except Exception:  # a follower's bug must not break the projection
                log.exception("projection listener failed")


# --------------------------------------------------------------------------- building


def build(store: GraphStore, version: int = 1, slice_customers: int | None = None) -> ProjectionData:
    """Read the whole store into a ``ProjectionData`` (customers sorted by id), in slices
    of ``slice_customers`` (default: the store's ``projection_slice_customers``) read by
    ``store.projection_readers`` threads."""
    built_at = utc_now()
    slice_customers = slice_customers or store.projection_slice_customers
    if store.projection_readers > 1:
        customers_table, tables = _read_parallel(store, slice_customers)
    else:
        customers_table = store.projection_table("customers").sort_by("id")
        bounds = _slices(pd.Index(customers_table.column("id").to_numpy(zero_copy_only=False)), slice_customers)
        tables = {fact: [store.projection_table(fact, between=b) for b in bounds] for fact in FACTS}
    ids_array = customers_table.column("id").combine_chunks()
    ids = pd.Index(ids_array.to_numpy(zero_copy_only=False), dtype=object)
    customers = _frame("customers", customers_table)
    facts: dict[str, pd.DataFrame] = {}
    for fact in FACTS:
        table = pa.concat_tables(tables[fact]) if tables[fact] else _empty(fact)
        facts[fact] = _fact_frame(fact, table, ids_array)
    products, channels, bundles = _catalogue(store)
    return ProjectionData(
        version=version, built_at=built_at, ids=ids, present=np.ones(len(ids), dtype=bool),
        customers=customers, facts=facts, products=products, channels=channels, bundles=bundles,
    )


def _read_parallel(store: GraphStore, slice_customers: int) -> tuple[pa.Table, dict[str, list[pa.Table]]]:
    """The customers table (sorted by id) and each fact's slices, read slice by slice on
    ``store.projection_readers`` threads: first the sorted ids, which give the slice bounds."""
    ids = store.customer_ids()
    bounds = _slices(pd.Index(ids.to_numpy(zero_copy_only=False)), slice_customers)
    with ThreadPoolExecutor(store.projection_readers, thread_name_prefix="projection") as pool:
        customers = [pool.submit(store.projection_table, "customers", None, b) for b in bounds]
        facts = {fact: [pool.submit(store.projection_table, fact, None, b) for b in bounds] for fact in FACTS}
        customers_table = pa.concat_tables([f.result() for f in customers]) if customers else _empty("customers")
        tables = {fact: [f.result() for f in futures] for fact, futures in facts.items()}
    return customers_table.sort_by("id"), tables


def _empty(fact: str) -> pa.Table:
    return projection_schema(fact).empty_table()


def _slices(ids: pd.Index, size: int) -> list[tuple[str, str]]:
    """Inclusive (first id, last id) bounds of consecutive slices of sorted ``ids``."""
    n = len(ids)
    return [(ids[start], ids[min(start + size, n) - 1]) for start in range(0, n, size)]


def _frame(name: str, table: pa.Table) -> pd.DataFrame:
    """An Arrow table of projection table ``name`` as a pandas frame with the
    projection's dtypes (categoricals, datetime64, float)."""
    columns: dict[str, Any] = {}
    enums = ENUMS.get(name, {})
    open_cats = OPEN_CATEGORIES.get(name, ())
    for column_name in table.column_names:
        if column_name in DROPPED.get(name, ()) or column_name == "customer":
            continue
        column = table.column(column_name)
        if column_name in enums:
            columns[column_name] = pd.Categorical(_strings(column), categories=list(enums[column_name]))
        elif column_name in open_cats:
            columns[column_name] = _categorical(column)
        elif pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
            columns[column_name] = column.cast(pa.timestamp("us")).to_numpy().astype("datetime64[us]")
        elif pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            columns[column_name] = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        elif pa.types.is_boolean(column.type):
            columns[column_name] = column.fill_null(False).to_numpy(zero_copy_only=False)
        else:
            columns[column_name] = column.to_numpy(zero_copy_only=False)
    return pd.DataFrame(columns, copy=False)


def _strings(column: pa.ChunkedArray) -> np.ndarray:
    return column.to_numpy(zero_copy_only=False)


def _categorical(column: pa.ChunkedArray) -> pd.Categorical:
    encoded = column.combine_chunks().dictionary_encode()
    categories = encoded.dictionary.to_pylist()
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    return pd.Categorical.from_codes(codes, categories=categories)


def _fact_frame(fact: str, table: pa.Table, ids_array: pa.Array) -> pd.DataFrame:
    """A fact frame: the typed columns plus ``row``, the customer row of each fact."""
    rows = pc.index_in(table.column("customer"), value_set=ids_array).fill_null(-1)
    frame = _frame(fact, table)
    frame.insert(0, "row", rows.to_numpy(zero_copy_only=False).astype(np.int32))
    return frame[frame["row"] >= 0].reset_index(drop=True) if (frame["row"] < 0).any() else frame


def _catalogue(store: GraphStore) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, tuple[str, ...]]]:
    # Every property of the model is a column, null where unset: Neo4j leaves unset properties
    # out of a row, so a catalogue imported without categories or prices would lack the column.
    products = pd.DataFrame(list(store.products().values()))
    products = products.reindex(columns=list(dict.fromkeys(
        [*products.columns, *(p.name for p in MODEL.node("Product").properties)])))
    products = products.set_index("id", drop=False).sort_index()
    channels = pd.DataFrame(list(store.channels().values()))
    channels = channels.reindex(columns=list(dict.fromkeys(
        [*channels.columns, *(p.name for p in MODEL.node("Channel").properties)])))
    channels = channels.set_index("id", drop=False).sort_index()
    bundle_ids = [p for p, c in zip(products.index, products["category"]) if c == "BUNDLE"]
    components = store.bundle_components(bundle_ids) if bundle_ids else {}
    bundles = {b: tuple(r["product_id"] for r in components.get(b, [])) for b in bundle_ids}
    return products, channels, bundles


# --------------------------------------------------------------------------- incremental refresh

#: Relationship types whose ``from`` end is a customer.
_FROM_CUSTOMER = ("HOLDS", "HAD_CONTACT", "PREFERS", "HAS_IDENTITY", "HAS_ATTRIBUTE")
#: Relationship types whose ``from`` end hangs off a customer through this label.
_FROM_OWNED = {"HAS_SUBSCRIPTION": "Account", "HAS_EVENT": "Account", "OF_PRODUCT": "Subscription",
               "VIA": "Contact", "ABOUT": "Contact"}
#: The projection tables a write of each label or relationship type can change,
#: so a refresh re-reads only those (a new contact re-reads contacts, not events).
TABLES_OF: dict[str, tuple[str, ...]] = {
    "Customer": ("customers",),
    "Account": ("accounts",), "HOLDS": ("accounts", "subscriptions", "events"),
    "Subscription": ("subscriptions",), "HAS_SUBSCRIPTION": ("subscriptions",), "OF_PRODUCT": ("subscriptions",),
    "Contact": ("contacts", "offers"), "HAD_CONTACT": ("contacts", "offers"), "VIA": ("contacts",),
    "ABOUT": ("offers",),
    "MonetaryEvent": ("events",), "HAS_EVENT": ("events",),
    "PREFERS": ("preferences",),
    "AttributeValue": ("attributes",), "HAS_ATTRIBUTE": ("attributes",),
}


#: The "label" whose tables a newly created node re-reads (its own label's tables
#: when absent): a new contact is in ``contacts`` (an ``offers`` row needs ``ABOUT``).
_CREATED_TABLES = {"Contact": "VIA"}
#: The target label of each customer relationship.
MODEL_TARGETS = {"HOLDS": "Account", "HAD_CONTACT": "Contact", "PREFERS": "Channel", "HAS_IDENTITY": "Identity",
                 "HAS_ATTRIBUTE": "AttributeValue"}


def _touches_catalogue(changes: Changes) -> bool:
    """True when ``changes`` wrote products, channels or the catalogue's relationships."""
    return any(changes.nodes.get(label) or changes.deleted.get(label) for label in ("Product", "Channel")) or any(
        changes.relationships.get(t) for t in _CATALOGUE_RELATIONSHIPS)


def _touches_cached(store: GraphStore, changes: Changes) -> bool:
    """True when ``changes`` wrote a label the store caches (``GraphStore.CACHED_LABELS``:
    the contact policy), so the cached copy is stale."""
    return any(changes.nodes.get(label) or changes.deleted.get(label) for label in store.CACHED_LABELS)


def _untraced_deletes(changes: Changes) -> bool:
    """True when ``changes`` deleted projected nodes whose customers it cannot name.

    A deleted node's own relationships are gone, so its customer cannot be looked
    up; a write that also unlinks it from its customer (``cdp.privacy.erasure`` unlinks each
    ``HAS_ATTRIBUTE`` before deleting the value) names the customer in
    ``changes.relationships``, and only that customer's rows are re-read.
    """
    for label, ids in changes.deleted.items():
        if label not in _REBUILD_ON_DELETE or not ids:
            continue
        traced = {t for rel_type, target in MODEL_TARGETS.items() if target == label
                  for _, t in changes.relationships.get(rel_type, ())}
        if ids - traced:
            return True
    return False


def touched_customers(store: GraphStore, changes: Changes) -> dict[str, set[str]]:
    """Per projection table, the ids of the customers whose rows ``changes`` may have altered."""
    touched: dict[str, set[str]] = {}

    def mark(name: str, customers: set[str] | list[str]) -> None:
        if not customers:
            return
        for table in TABLES_OF.get(name, ()):
            touched.setdefault(table, set()).update(customers)

    mark("Customer", changes.nodes.get("Customer", set()))
    # Nodes linked to a customer by this same write need no lookup of their owner.
    owner_of: dict[str, str] = {}
    for rel_type, pairs in changes.relationships.items():
        if rel_type in _FROM_CUSTOMER:
            target = MODEL_TARGETS[rel_type]  # every _FROM_CUSTOMER type has one
            new = changes.created.get(target, set()) if target in _CREATED_TABLES else set()
            mark(rel_type, {f for f, t in pairs if t not in new})
            mark(_CREATED_TABLES.get(target, rel_type), {f for f, t in pairs if t in new})
            owner_of.update((t, f) for f, t in pairs)
    pending: dict[tuple[str, str], set[str]] = {}  # (label, what changed) -> node ids
    for label, ids in changes.nodes.items():
        if label in Q.OWNERS:
            new = changes.created.get(label, set())
            # A node this write created reaches the projection only through the
            # relationships written with it: they say which tables to re-read.
            old = ids - new if new else ids
            if old:
                pending.setdefault((label, label), set()).update(old)
            if new:
                pending.setdefault((label, _CREATED_TABLES.get(label, label)), set()).update(new)
    for rel_type, pairs in changes.relationships.items():
        if rel_type in _FROM_OWNED:
            pending.setdefault((_FROM_OWNED[rel_type], rel_type), set()).update(f for f, _ in pairs)
    for (label, name), ids in pending.items():
        known = {owner_of[i] for i in ids if i in owner_of}
        unknown = sorted(i for i in ids if i not in owner_of)
        if unknown:
            known |= store.owners(label, unknown)
        mark(name, known)
    return touched


def apply(store: GraphStore, snapshot: ProjectionData, touched: dict[str, set[str]], deleted: set[str],
          version: int, catalogue: bool = False) -> tuple[ProjectionData, np.ndarray]:
    """A new snapshot with, per table, the rows of the ``touched`` customers
    re-read, and ``deleted`` customers marked absent; returns it and the
    changed customer rows."""
    ids, present, customers = snapshot.ids, snapshot.present.copy(), snapshot.customers
    everyone = set().union(*touched.values()) - deleted if touched else set()
    # Customers new to the projection are read whole.
    unseen = {i for i in everyone if ids.get_indexer([i])[0] < 0}
    reread = (touched.get("customers", set()) | unseen) - deleted
    ids_list = sorted(reread)
    table = store.projection_table("customers", ids_list)
    found = table.column("id").to_pylist()
    # Customers that vanished without a delete (e.g. removed elsewhere) count as deleted.
    gone = set(deleted) | (set(ids_list) - set(found))
    new_ids = [i for i in found if i in unseen]
    if new_ids:
        ids = ids.append(pd.Index(new_ids, dtype=object))
        present = np.concatenate([present, np.ones(len(new_ids), dtype=bool)])
    rows_found = ids.get_indexer(found).astype(np.int64)
    if len(rows_found) or len(ids) > len(customers):
        customers = _upsert_rows(customers, rows_found, _frame("customers", table), len(ids))
    gone_rows = ids.get_indexer(sorted(gone))
    gone_rows = gone_rows[gone_rows >= 0]
    present[gone_rows] = False
    ids_array = pa.array(ids.to_numpy(), pa.string())
    facts = dict(snapshot.facts)
    changed_rows = [rows_found, gone_rows]
    for fact, old in snapshot.facts.items():
        wanted = sorted((touched.get(fact, set()) | (set(new_ids) if new_ids else set())) - gone)
        if not wanted and not len(gone_rows):
            continue
        rows = ids.get_indexer(wanted).astype(np.int64)
        rows = rows[rows >= 0]
        changed_rows.append(rows)
        dirty = np.zeros(len(ids), dtype=bool)
        dirty[rows] = True
        dirty[gone_rows] = True
        keep = old[~dirty[old["row"].to_numpy()]]
        fresh = _fact_frame(fact, store.projection_table(fact, wanted), ids_array) if wanted else None
        facts[fact] = _concat([keep, fresh]) if fresh is not None and len(fresh) else keep.reset_index(drop=True)
    changed = np.unique(np.concatenate(changed_rows)).astype(np.int64)
    products, channels, bundles = (_catalogue(store) if catalogue
                                   else (snapshot.products, snapshot.channels, snapshot.bundles))
    return replace(snapshot, version=version, built_at=snapshot.built_at,
                   ids=ids, present=present, customers=customers, facts=facts, products=products,
                   channels=channels, bundles=bundles, row_index={}), changed


def _upsert_rows(frame: pd.DataFrame, rows: np.ndarray, new: pd.DataFrame, size: int) -> pd.DataFrame:
    """A copy of ``frame`` grown to ``size`` rows (missing values) with the rows
    ``rows`` replaced by the rows of ``new`` (same columns, same order as ``rows``)."""
    new = new.reset_index(drop=True)
    columns: dict[str, Any] = {}
    for name in frame.columns:
        old = frame[name]
        if isinstance(old.dtype, pd.CategoricalDtype):
            incoming = new[name].astype(object) if name in new else pd.Series([None] * len(new), dtype=object)
            categories = old.cat.categories
            extra = pd.Index(incoming.dropna().unique()).difference(categories)
            if len(extra) and not _fixed(name, frame):
                categories = categories.append(extra)
            codes = np.full(size, -1, dtype=np.int32)
            codes[: len(old)] = old.cat.codes.to_numpy()
            if len(rows):
                codes[rows] = categories.get_indexer(incoming.to_numpy())
            columns[name] = pd.Categorical.from_codes(codes, categories=categories)
            continue
        values = old.to_numpy()
        if len(old) < size:
            filler = np.full(size - len(old), np.datetime64("NaT") if values.dtype.kind == "M"
                             else (np.nan if values.dtype.kind == "f" else None), dtype=values.dtype
                             if values.dtype.kind in "Mf" else object)
            values = np.concatenate([values, filler])
        else:
            values = values.copy()
        if len(rows) and name in new:
            values[rows] = new[name].to_numpy()
        columns[name] = values
    return pd.DataFrame(columns, copy=False)


def _fixed(name: str, frame: pd.DataFrame) -> bool:
    """True when column ``name`` has the fixed categories of a model enumeration."""
    return any(name in enums and list(frame[name].cat.categories) == list(enums[name])
               for enums in ENUMS.values())


def _union(column: pd.Series, values: pd.Series) -> pd.Series:
    """``column`` with the categories of ``values`` added."""
    mine = column.cat.categories
    theirs = pd.Index(values.astype("category").cat.categories) if len(values) else pd.Index([])
    extra = theirs.difference(mine)
    return column.cat.add_categories(extra) if len(extra) else column


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate frames of the same columns, keeping categoricals categorical."""
    frames = [f for f in frames if f is not None]
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    first = frames[0]
    out = []
    for frame in frames:
        frame = frame.copy(deep=False)
        for column in first.columns:
            if isinstance(first[column].dtype, pd.CategoricalDtype):
                categories = pd.Index([])
                for f in frames:
                    if column in f and isinstance(f[column].dtype, pd.CategoricalDtype):
                        categories = categories.append(f[column].cat.categories)
                    elif column in f:
                        categories = categories.append(pd.Index(f[column].dropna().unique()))
                categories = categories.drop_duplicates()
                frame[column] = pd.Categorical(frame[column], categories=categories) \
                    if not isinstance(frame[column].dtype, pd.CategoricalDtype) \
                    else frame[column].cat.set_categories(categories)
        out.append(frame)
    return pd.concat(out, ignore_index=True)
