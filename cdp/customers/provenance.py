"""Observations with provenance, from a batch of customer rows of one source.

When a source system (an import, a partner upsert) says something about a
customer, every profile value it sends that is new or different becomes an
``AttributeValue`` with the source's name, its trust as accuracy and the time
the source observed it, owned by the identity ``<SOURCE>:<customer id>``
(created, with its ``HAS_IDENTITY`` link, the first time that source names the
customer). Unchanged values add nothing, so re-importing a file is a no-op.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.model import MODEL
from graph.errors import IdTaken, KeyTaken
from graph.observation_ids import CONTENT, identity_hashes, next_ids, repeats
from graph.observation_ids import value_id as value_id, value_ids as value_ids  # re-exported to cdp
from graph.store import GraphStore, Row, WriteOp, WriteResult, node_op, relationship_op

#: Customer properties that can be recorded as observations.
PROFILE_KEYS = ("first_name", "last_name", "company_name", "birth_date", "gender", "national_id", "email",
                "phone", "street", "city", "postal_code", "country", "language")

#: What an import records by default: contact data, the part of a profile that goes
#: stale (about a fifth a year) and that customers maintain. Each observation is two
#: more rows to write, so recording all of ``PROFILE_KEYS`` costs import speed
#: (docs/import.md); a mapping can ask for it with ``provenance = true``.
CONTACT_KEYS = ("email", "phone", "street", "postal_code", "city", "country", "language")


def settle_ids(store: GraphStore | None, observations: pa.Table) -> pa.Table:
    """``observations`` (``AttributeValue`` rows with ``graph.observation_ids.value_ids``
    ids) with every id naming this observation alone.

    An id already stored for the same identity, key and time names the same observation
    (it is updated). An id stored for, or shared in the batch by, a different observation is
    a hash collision: that row moves to the next id of a fixed sequence, so re-recording it
    finds the same id again. Within the batch a later row for the same observation wins.
    ``store`` None settles within the batch only: the write then checks the store itself
    and raises ``IdTaken`` on a collision (``write_observations`` settles and retries),
    which saves an existence check of every new id.
    """
    if observations.num_rows == 0:
        return observations
    if repeats(observations.column("id").to_numpy()):
        observations = _last_per_observation(observations)
    elif store is None:
        return observations  # the usual case: every id names one observation
    ids = observations.column("id").to_numpy().copy()
    pending = np.arange(len(ids))
    while len(pending):
        taken = _taken_by_others(store, observations, ids, pending)
        if not len(taken):
            break
        ids[taken] = next_ids(ids[taken])
        pending = taken
    return observations.set_column(observations.column_names.index("id"), "id", pa.array(ids, pa.int64()))


def settle_rows(store: GraphStore, rows: Sequence[Row]) -> list[Row]:
    """``settle_ids`` for a few ``AttributeValue`` rows given as dicts (self-service, consents)."""
    if not rows:
        return []
    schema = MODEL.node("AttributeValue").arrow_schema()
    table = pa.Table.from_pylist([{name: row.get(name) for name in schema.names} for row in rows], schema=schema)
    settled = settle_ids(store, table).column("id").to_pylist()
    by_content = dict(zip((tuple(r[c] for c in CONTENT) for r in table.to_pylist()), settled))
    return [{**row, "id": by_content[tuple(row.get(c) for c in CONTENT)]} for row in rows]


def _last_per_observation(observations: pa.Table) -> pa.Table:
    """The last row of each (identity, key, time) with the same id (a file naming a customer
    twice at one time keeps its last value)."""
    # Equal ids: the same observation repeated, or a collision; keep every distinct content.
    rows = observations.select(["id", *CONTENT]).to_pylist()
    last = {(r["id"], *(r[c] for c in CONTENT)): i for i, r in enumerate(rows)}
    return observations.take(pa.array(sorted(last.values()), pa.int64()))


def _taken_by_others(store: GraphStore | None, observations: pa.Table, ids: np.ndarray, pending: np.ndarray) -> np.ndarray:
    """Positions among ``pending`` whose id another observation holds: in the store, or an
    earlier row of the batch with a different content."""
    clash: set[int] = set()
    waiting = set(pending.tolist())
    ordered = np.sort(ids)
    for value in np.unique(ordered[1:][ordered[1:] == ordered[:-1]]):
        # rows sharing an id hold different observations (_last_per_observation)
        clash.update(int(i) for i in np.flatnonzero(ids == value)[1:] if i in waiting)
    stored = store.existing_ids("AttributeValue", ids[pending].tolist()) if store is not None else set()
    if stored and store is not None:
        found = store.nodes("AttributeValue", sorted(stored))
        for i in pending.tolist():
            row = found.get(int(ids[i]))
            if row is not None and any(row.get(c) != observations.column(c)[i].as_py() for c in CONTENT):
                clash.add(i)
    return np.array(sorted(clash), dtype=np.int64)


def _observations(source: str, trust: float, key: str, owners: pa.Array, values: pa.Array,
                  observed_at: pa.Array, identities: pa.Array | None = None,
                  hashed: np.ndarray | None = None) -> pa.Table:
    """``AttributeValue`` rows (plus ``owner``, the customer id) saying ``key`` = ``values`` of
    ``owners`` for ``source``, observed at ``observed_at``; ids from ``value_ids``.
    ``identities`` (``<source>:<owner>``) and their ``hashed`` ids: when the caller has them."""
    m = len(owners)
    if identities is None:
        identities = pc.binary_join_element_wise(pa.scalar(source), owners, ":")
    return pa.table({
        "id": value_ids(identities, key, observed_at, hashed),
        "key": pa.repeat(pa.scalar(key), m), "value": values, "source": pa.repeat(pa.scalar(source), m),
        "identity_id": identities, "observed_at": observed_at, "accuracy": pa.array(np.full(m, trust)),
        "customer_maintained": pa.array(np.zeros(m, bool)), "verified": pa.array(np.zeros(m, bool)),
        "owner": owners})


def write_observations(store: GraphStore, ops: Sequence[WriteOp]) -> WriteResult:
    """``store.write(ops)``, where the ``AttributeValue`` ops were settled within their batch
    only (``settle_ids(None, ...)``) and ops may be ``fresh`` (believed new, created without
    an existence read). On an id collision with a stored observation (``IdTaken``) or a
    fresh row that is stored after all (``KeyTaken``), nothing is written: the ids are
    settled against the store (``resettle``) and the write runs again with every existence
    check. Raises what ``store.write`` raises."""
    try:
        return store.write(ops)
    except (IdTaken, KeyTaken):
        checked = _without_stored_identities(store, ops)
        return store.write(resettle(store, [replace(op, fresh=False) for op in checked]))


def _without_stored_identities(store: GraphStore, ops: Sequence[WriteOp]) -> list[WriteOp]:
    """``ops`` less the rows of ``fresh`` ``Identity`` ops that are stored after all, and
    less the ``HAS_IDENTITY`` links to them: a stored identity keeps its customer (written
    again without ``fresh``, it would gain a second link to the new customer)."""
    fresh_ids = [op.rows.column("id") for op in ops if op.kind == "node" and op.name == "Identity" and op.fresh]
    if not fresh_ids:
        return list(ops)
    stored = store.existing_ids("Identity", pa.chunked_array(fresh_ids).combine_chunks())
    if not stored:
        return list(ops)
    known = pa.array(sorted(stored), pa.string())
    out = []
    for op in ops:
        if (op.kind == "node" and op.name == "Identity" and op.fresh) or \
                (op.kind == "relationship" and op.name == "HAS_IDENTITY"):
            column = op.rows.column("id" if op.kind == "node" else "to")
            op = WriteOp(op.kind, op.name, op.rows.filter(pc.invert(pc.is_in(column, value_set=known))), op.fresh)
        out.append(op)
    return out


def resettle(store: GraphStore, ops: Sequence[WriteOp]) -> list[WriteOp]:
    """``ops`` with the ids of their ``AttributeValue`` observations (rows with identity, key
    and time) settled against the store (``settle_ids``, one op at a time, so no op gains
    columns it did not set), and the ``HAS_ATTRIBUTE`` links of moved values following them."""
    out: list[WriteOp] = []
    moved: dict[int, int] = {}
    for op in ops:
        if op.kind == "node" and op.name == "AttributeValue" and set(CONTENT) <= set(op.rows.column_names):
            settled = settle_ids(store, op.rows.append_column("_was", op.rows.column("id")))
            moved.update((was, now) for was, now in zip(settled.column("_was").to_pylist(),
                                                         settled.column("id").to_pylist()) if was != now)
            op = WriteOp(op.kind, op.name, settled.drop_columns(["_was"]))
        out.append(op)
    if moved:
        for i, op in enumerate(out):
            if op.kind == "relationship" and op.name == "HAS_ATTRIBUTE":
                targets = [moved.get(t, t) for t in op.rows.column("to").to_pylist()]
                out[i] = WriteOp(op.kind, op.name, op.rows.set_column(
                    op.rows.column_names.index("to"), "to", pa.array(targets, pa.int64())))
    return out


def value_ops(observations: pa.Table, fresh: bool = False, order: np.ndarray | None = None) -> list[WriteOp]:
    """The ops writing ``observations`` (``AttributeValue`` rows with settled ids, plus
    ``owner``, the customer id) and their ``HAS_ATTRIBUTE`` links. ``fresh``: the values are
    believed new (``WriteOp``). ``order``: the positions of the rows by customer, to write
    the links in (LadybugDB COPYs links grouped by customer about 20 % faster)."""
    links = pa.table({"from": observations.column("owner"), "to": observations.column("id")})
    if order is not None:
        links = links.take(pa.array(order))
    return [node_op("AttributeValue", observations.drop_columns(["owner"]), fresh),
            relationship_op("HAS_ATTRIBUTE", links)]


def identity_ops(store: GraphStore, source: str, ids: pa.Array, seen: pa.Array,
                 pending: Collection[str] = (), new: np.ndarray | None = None) -> list[WriteOp]:
    """The ``Identity`` ``<source>:<id>`` (linked at ``seen``) and its ``HAS_IDENTITY`` link for each
    customer of ``ids`` this source has not named before; ``pending``: identity ids the same
    write creates already; ``new``: which of ``ids`` are customers this write creates, whose
    identities are taken to be new without a read (the op is ``fresh``: should one be stored
    after all, ``write_observations`` writes again with the read). Returns no op when there
    is none to create."""
    identities = pc.binary_join_element_wise(pa.scalar(source), ids, ":")
    if new is not None and new.all() and not pending:
        fresh = pa.array(np.ones(len(ids), bool))
    else:
        ask = identities if new is None else identities.filter(pa.array(~new))
        known = store.existing_ids("Identity", ask) | set(pending)
        fresh = pc.invert(pc.is_in(identities, value_set=pa.array(sorted(known), pa.string())))
    if not pc.any(fresh).as_py():
        return []
    new_ids = identities.filter(fresh)
    n = len(new_ids)
    return [node_op("Identity", pa.table({
                "id": new_ids, "source": pa.array([source] * n), "source_key": ids.filter(fresh),
                "matched_by": pa.array(["SEED"] * n), "confidence": pa.array(np.ones(n)),
                "linked_at": seen.filter(fresh)}), fresh=True),
            relationship_op("HAS_IDENTITY", pa.table({"from": ids.filter(fresh), "to": new_ids}))]


def identities_in(ops: Sequence[WriteOp]) -> set[str]:
    """Ids of the ``Identity`` nodes ``ops`` create (for ``pending_identities``)."""
    out: set[str] = set()
    for op in ops:
        if op.kind == "node" and op.name == "Identity":
            rows = op.rows
            out.update(rows.column("id").to_pylist() if isinstance(rows, pa.Table) else (r["id"] for r in rows))
    return out


def attribute_ops(
    store: GraphStore, source: str, trust: float, ids: pa.Array, values: Mapping[str, pa.Array],
    observed_at: pa.Array, pending_identities: Collection[str] = (),
) -> tuple[list[WriteOp], int, int]:
    """Write ops recording custom attributes and consent statements a source sent about customers.

    ``ids`` are customer ids (existing, or created by the same write), ``values`` maps an
    attribute key to one text value per id (null: nothing said), ``observed_at`` the
    observation time per id (naive UTC). A value equal to the latest one this source
    recorded for the customer and key is not recorded again, so re-importing a file, or a
    later export that says the same, adds nothing. Creates the source's identity of a
    customer when needed (``identity_ops``; ``pending_identities`` are being created already).
    Returns the ops, the number of values recorded and the number left out as unchanged.
    Write them with ``write_observations`` (ids are settled within the batch only).
    """
    if len(ids) == 0 or not values:
        return [], 0, 0
    stored = store.attribute_values_of_customers(pc.unique(ids).to_pylist())
    latest: dict[tuple[str, str], tuple[datetime, str | None]] = {}
    for owner, rows in stored.items():
        for row in rows:
            if row.get("source") != source:
                continue
            at = row.get("observed_at") or datetime.min
            mark = (owner, row["key"])
            if mark not in latest or at >= latest[mark][0]:
                latest[mark] = (at, row.get("value"))
    owners = ids.to_pylist()
    seen = observed_at.to_pylist()
    parts = []
    unchanged = 0
    for key, column in values.items():
        keep = []
        for i, value in enumerate(column.to_pylist()):
            if value is None:
                continue
            before = latest.get((owners[i], key))
            if before is not None and before[1] == value:
                unchanged += 1
                continue
            latest[(owners[i], key)] = (seen[i], value)
            keep.append(i)
        if not keep:
            continue
        take = pa.array(keep, pa.int64())
        parts.append(_observations(source, trust, key, ids.take(take), column.take(take), observed_at.take(take)))
    if not parts:
        return [], 0, unchanged
    table = settle_ids(None, pa.concat_tables(parts))  # a customer named twice at one time: the last value
    owners_written = pc.unique(table.column("owner"))
    first_seen: dict[str, datetime] = {}
    for owner, at in zip(table.column("owner").to_pylist(), table.column("observed_at").to_pylist()):
        first_seen.setdefault(owner, at)
    ops = identity_ops(store, source, owners_written,
                       pa.array([first_seen[o] for o in owners_written.to_pylist()], pa.timestamp("us")),
                       pending_identities)
    return ops + value_ops(table), table.num_rows, unchanged


def observation_ops(
    store: GraphStore, source: str, trust: float, customers: pa.Table, stored: Mapping[str, Row],
    observed_at: Sequence[datetime] | pa.Array, keys: Sequence[str] = PROFILE_KEYS,
) -> list[WriteOp]:
    """Write ops recording ``customers`` (``id`` + properties, new or changed rows) as observations.

    ``stored`` holds the customers' stored properties (absent: new customer);
    ``observed_at`` gives each row's observation time (naive UTC). Only
    non-null values that are new or differ from ``stored`` are recorded. Write them with
    ``write_observations`` (ids are settled within the batch only).
    """
    if customers.num_rows == 0:
        return []
    ids = customers.column("id").combine_chunks()
    seen = observed_at if isinstance(observed_at, pa.Array) else pa.array(list(observed_at), pa.timestamp("us"))
    is_new = np.fromiter((i not in stored for i in ids.to_pylist()), bool, len(ids)) if stored else \
        np.ones(len(ids), bool)
    ops: list[WriteOp] = identity_ops(store, source, ids, seen, new=is_new)
    identities = pc.binary_join_element_wise(pa.scalar(source), ids, ":")
    # Values of an identity this write creates cannot be stored yet (but for a hash
    # collision, which fails the fresh create and is settled by write_observations).
    if not ops:
        made = np.zeros(len(ids), bool)
    elif ops[0].rows.num_rows == len(ids):
        made = np.ones(len(ids), bool)
    else:
        made = np.asarray(pc.is_in(identities, value_set=ops[0].rows.column("id")).to_numpy(zero_copy_only=False),
                          bool)
    hashed = identity_hashes(identities)  # once for every key
    parts, rows = [], []
    for key in keys:
        if key not in customers.column_names:
            continue
        column = customers.column(key).combine_chunks()
        text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
        keep = np.asarray(pc.is_valid(text).to_numpy(zero_copy_only=False), bool)
        if not is_new.all():
            values = column.to_pylist()
            keep &= np.fromiter((new or stored[i].get(key) != v for i, v, new in
                                 zip(ids.to_pylist(), values, is_new)), bool, len(ids))
        if not keep.any():
            continue
        if keep.all():
            parts.append(_observations(source, trust, key, ids, text, seen, identities, hashed))
            rows.append(np.arange(len(ids)))
            continue
        mask = pa.array(keep)
        parts.append(_observations(source, trust, key, ids.filter(mask), text.filter(mask), seen.filter(mask),
                                   identities.filter(mask), hashed[keep]))
        rows.append(np.flatnonzero(keep))
    if not parts:
        return ops
    observations, row = pa.concat_tables(parts), np.concatenate(rows)
    if made.all() or not made.any():
        settled = settle_ids(None, observations)
        if settled.num_rows == len(row):  # no observation repeated: link them customer by customer
            return ops + value_ops(settled, fresh=bool(made.all()), order=np.argsort(row, kind="stable"))
        return ops + value_ops(settled, fresh=bool(made.all()))
    settled = settle_ids(None, observations.append_column("_fresh", pa.array(made[row])))
    fresh = settled.column("_fresh")
    settled = settled.drop_columns(["_fresh"])
    return (ops + value_ops(settled.filter(fresh), fresh=True)
            + value_ops(settled.filter(pc.invert(fresh))))
