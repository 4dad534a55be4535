"""Write batches: what a write to the store is made of, and the Arrow work of applying one.

A write is a list of ``WriteOp`` (built by ``node_op``, ``relationship_op``, ``unlink_op``,
``delete_op``, which check rows against the model and raise ``InvalidInput``); it
returns a ``WriteResult``. ``GraphStore.write`` (``graph.store``) applies the ops in one
transaction with the vectorised helpers here: the last row per key (``last_per_key``,
also used by ``cdp`` imports), distinct keys, membership masks and the new/old split,
fast paths for the integer keys of big imports included. Nothing here talks to a
backend: every function takes and returns Arrow arrays and tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.clock import naive_utc
from graph.errors import InvalidInput
from graph.model import MODEL
from graph.observation_ids import repeats

__all__ = ["Rows", "WriteOp", "WriteResult", "all_distinct", "conform", "delete_op", "distinct_keys", "is_in",
           "last_per_key", "new_and_old", "node_op", "not_in", "on_nodes_made", "relationship_op", "to_table",
           "unlink_op"]

#: Rows of a write: an Arrow table or a sequence of dicts (column -> value).
Rows: TypeAlias = pa.Table | Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class WriteOp:
    """One batch of upserts of a node label or relationship type.

    ``kind`` is ``"node"``, ``"relationship"``, ``"unlink"`` (delete the
    relationships ``from``/``to``; missing ones are ignored) or ``"delete"``
    (delete the ``name`` nodes whose ids are in column ``id``, with their
    relationships; missing ones are ignored); ``name`` the label
    or type; ``rows`` a table (or list of dicts) whose columns are the key
    (``id``, or ``from``/``to``) plus the properties to set. Columns absent from
    ``rows`` are left untouched on existing items; a null value clears a property.

    ``fresh`` (node ops only): the rows are believed new, so they are created without
    reading which keys are stored; if one is stored the write raises ``KeyTaken`` and
    writes nothing, and the caller writes again without ``fresh``. For bulk imports,
    where reading a million keys that are not there is a large part of the work.
    """

    kind: str
    name: str
    rows: pa.Table
    fresh: bool = False


@dataclass
class WriteResult:
    """What a write batch did, per label or relationship type."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)  # unlink and delete requests, per type or label

    @property
    def total_created(self) -> int:
        return sum(self.created.values())

    @property
    def total_updated(self) -> int:
        return sum(self.updated.values())


def to_table(schema: pa.Schema, rows: Rows, what: str) -> pa.Table:
    """Return ``rows`` as an Arrow table with the columns of ``schema`` it has.

    ``rows`` may carry a subset of the schema's columns (partial upsert) but no
    column the schema lacks. Raises ``InvalidInput`` naming the column when a
    column is unknown or a value cannot be converted to the declared type.
    """
    if isinstance(rows, pa.Table):
        names = rows.column_names
    else:
        rows = list(rows)
        names = list(dict.fromkeys(k for r in rows for k in r))
    unknown = [n for n in names if n not in schema.names]
    if unknown:
        raise InvalidInput(f"{what}: unknown column(s) {', '.join(sorted(unknown))}", field=unknown[0])
    sub = pa.schema([schema.field(n) for n in names])
    columns = []
    for n in names:  # column by column, so an error names its column
        type_ = sub.field(n).type
        try:
            if isinstance(rows, pa.Table):
                columns.append(rows.column(n).cast(type_))
            else:
                columns.append(pa.array(_parse_times([r.get(n) for r in rows], type_, what, n), type=type_))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise InvalidInput(f"{what}: column {n}: {exc}", field=n) from exc
    return pa.Table.from_arrays(columns, schema=sub)


def _parse_times(values: list[Any], type_: pa.DataType, what: str, column: str) -> list[Any]:
    """Accept ISO-8601 strings for DATE and TIMESTAMP columns (offsets converted to UTC)."""
    if not (pa.types.is_date(type_) or pa.types.is_timestamp(type_)):
        return values
    out = []
    for i, value in enumerate(values):
        if isinstance(value, str):
            try:
                if pa.types.is_date(type_):
                    value = date.fromisoformat(value)
                else:
                    value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                kind = "date (YYYY-MM-DD)" if pa.types.is_date(type_) else "date-time (ISO 8601)"
                raise InvalidInput(f"{what}: row {i + 1}, column {column}: expected a {kind}, got {value!r}",
                                   field=column) from None
        if isinstance(value, datetime):
            value = naive_utc(value)
        out.append(value)
    return out


def node_op(label: str, rows: Rows, fresh: bool = False) -> WriteOp:
    """Build an upsert of ``label`` nodes (``fresh``: believed new, see ``WriteOp``); raise
    ``InvalidInput`` for bad rows or a missing key."""
    node = MODEL.node(label)
    table = to_table(node.arrow_schema(), rows, label)
    _check_key(table, node.key, label)
    return WriteOp("node", label, table, fresh)


def relationship_op(rel_type: str, rows: Rows) -> WriteOp:
    """Build an upsert of ``rel_type`` relationships; rows need ``from`` and ``to``."""
    rel = MODEL.relationship(rel_type)
    table = to_table(rel.arrow_schema(), rows, rel_type)
    _check_key(table, "from", rel_type)
    _check_key(table, "to", rel_type)
    return WriteOp("relationship", rel_type, table)


def unlink_op(rel_type: str, rows: Rows) -> WriteOp:
    """Build a deletion of ``rel_type`` relationships given by ``from``/``to`` (nodes stay)."""
    rel = MODEL.relationship(rel_type)
    table = to_table(rel.endpoint_schema(), rows, rel_type)
    _check_key(table, "from", rel_type)
    _check_key(table, "to", rel_type)
    return WriteOp("unlink", rel.type, table)


def delete_op(label: str, ids: Sequence[str] | Sequence[int]) -> WriteOp:
    """Build a deletion of the ``label`` nodes ``ids`` and their relationships (unknown ids are ignored).

    Listeners hear of them in ``Changes.deleted``; unlinking a deleted node's customer
    relationship in the same write tells them whose it was (``cdp.projection.tables``)."""
    node = MODEL.node(label)  # KeyError for an undeclared label
    table = pa.table({"id": pa.array(list(ids), node.key_type)})
    _check_key(table, "id", label)
    return WriteOp("delete", label, table)


def _check_key(table: pa.Table, key: str, what: str) -> None:
    if key not in table.column_names:
        raise InvalidInput(f"{what}: column {key} is required", field=key)
    if table.column(key).null_count:
        raise InvalidInput(f"{what}: column {key} must not be empty", field=key)


def all_distinct(values: pa.Array | pa.ChunkedArray) -> bool:
    """Whether no value repeats (a sort for integers, a hash for the rest: the fast path of each)."""
    if pa.types.is_integer(values.type) and values.null_count == 0:
        return not repeats(values.to_numpy())
    return len(pc.unique(values)) == len(values)


def distinct_keys(values: pa.Array) -> pa.Array:
    """The distinct values (sorted for integers, where a sort beats Arrow's hash)."""
    if pa.types.is_integer(values.type) and values.null_count == 0 and len(values):
        ordered = np.sort(values.to_numpy())
        return pa.array(ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))])
    return pc.unique(values)


def _ascending(values: np.ndarray) -> bool:
    return bool(len(values) < 2 or (values[1:] >= values[:-1]).all())


def is_in(values: pa.Array, value_set: pa.Array) -> pa.Array:
    """A boolean mask: which of ``values`` are in ``value_set`` (for integers a sorted
    search: Arrow's and numpy 2's hash sets are several times slower
    on a million random 63-bit ids). Sorted inputs (``distinct_keys``') are not sorted again."""
    if pa.types.is_integer(values.type) and values.null_count == 0 and value_set.null_count == 0:
        if len(value_set) == 0:
            return pa.array(np.zeros(len(values), bool))
        ordered = value_set.to_numpy()
        if not _ascending(ordered):
            ordered = np.sort(ordered)
        wanted = values.to_numpy()
        if _ascending(wanted):
            at = np.minimum(np.searchsorted(ordered, wanted), len(ordered) - 1)
            return pa.array(ordered[at] == wanted)
        order = np.argsort(wanted)  # searching in sorted order keeps the lookups cache-friendly
        at = np.minimum(np.searchsorted(ordered, wanted[order]), len(ordered) - 1)
        found = np.empty(len(wanted), bool)
        found[order] = ordered[at] == wanted[order]
        return pa.array(found)
    return pc.is_in(values, value_set=value_set)


def last_per_key(table: pa.Table, keys: list[str], distinct: Mapping[str, pa.Array] | None = None) -> pa.Table:
    """Keep the last row for each key (a later row in a batch wins). ``distinct``: the
    distinct values of some key columns, when the caller has them."""
    distinct = distinct or {}
    # The usual case, cheaply: one key column alone is distinct (an id, or the new end of a link).
    if any(len(distinct[k]) == table.num_rows for k in keys if k in distinct):
        return table
    if any(all_distinct(table.column(k)) for k in keys if k not in distinct):
        return table
    rows = table.append_column("_row", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    last = rows.group_by(keys, use_threads=False).aggregate([("_row", "max")]).column("_row_max")
    if len(last) == table.num_rows:
        return table
    return table.take(pc.take(last, pc.sort_indices(last)))


def not_in(values: pa.Array, exclude: list[pa.Array]) -> pa.Array:
    """``values`` without those in any of the ``exclude`` arrays. An array equal to one
    of them (a link's ends listed as the write created the nodes, the usual case of an
    import) is found so by one comparison, not a lookup per value."""
    for other in exclude:
        if len(values) == len(other) and values.type == other.type and values.equals(other):
            return values.slice(0, 0)
        if len(values):
            values = values.filter(pc.invert(is_in(values, other)))
    return values


def on_nodes_made(rows: pa.Table, sources: list[pa.Array], targets: list[pa.Array]) -> pa.Array:
    """A boolean mask: which relationship ``rows`` have an end among the node ids in
    ``sources`` (for ``from``) or ``targets`` (for ``to``)."""
    mask = pa.array(np.zeros(rows.num_rows, dtype=bool))
    for column, made in (("from", sources), ("to", targets)):
        ends = rows.column(column).combine_chunks()
        for ids in made:
            if len(ids) == len(ends) and ids.type == ends.type and ids.equals(ends):
                return pa.array(np.ones(rows.num_rows, dtype=bool))
            mask = pc.or_(mask, is_in(ends, ids))
    return mask


def new_and_old(table: pa.Table, is_old: pa.Array) -> tuple[pa.Table, pa.Table]:
    """The rows of ``table`` that are new and those that exist (``is_old``), copying only when
    both kinds occur (a first import's tables are all new)."""
    if not pc.any(is_old).as_py():
        return table, table.slice(0, 0)
    if pc.all(is_old).as_py():
        return table.slice(0, 0), table
    return table.filter(pc.invert(is_old)), table.filter(is_old)


def conform(table: pa.Table, schema: pa.Schema, what: str) -> pa.Table:
    """Reorder and cast ``table`` to ``schema``; raise InvalidInput if it cannot fit."""
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise InvalidInput(f"{what}: missing column(s) {', '.join(missing)}", field=missing[0])
    return to_table(schema, table.select(schema.names), what)
