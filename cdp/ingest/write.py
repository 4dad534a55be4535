"""Writing a converted batch for ``cdp import``: endpoints checked, only changes written, in one
``GraphStore.write``.

``write_batch(store, mapping, batch)`` rejects rows whose relationship endpoints exist neither
in the store nor in the batch, compares the rest with the store and writes what differs as one
transaction (all or nothing), observations with provenance included; ``BatchOutcome`` counts
what was created, updated and left unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp.ingest.mapping import ATTRIBUTES_ITEM, SourceMapping
from cdp.customers.provenance import attribute_ops, identities_in, observation_ops, write_observations
from cdp.customers.write_rules import CUSTOMER_DEFAULTS
from graph.store import GraphStore, Row, WriteOp, node_op, relationship_op
from graph.write_batch import last_per_key
from cdp.ingest.convert import ConvertedBatch
from graph.clock import naive_utc, utc_now
from cdp.ingest.read import Reject

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
class BatchOutcome:
    """What ``write_batch`` did: counts per item and the rows it rejected (endpoints)."""

    items: dict[str, Counts]
    rejects: list[Reject]
    rejected_rows: int



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
            table = last_per_key(table, ["id"])
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
        table = last_per_key(batch.relationships[rel.type].filter(pa.array(valid)), ["from", "to"])
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
        return naive_utc(datetime.fromtimestamp(Path(path).stat().st_mtime, timezone.utc))
    except OSError:
        return utc_now()


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
