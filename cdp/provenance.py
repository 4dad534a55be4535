"""Observations with provenance, from a batch of customer rows of one source.

When a source system (an import, a partner upsert) says something about a
customer, every profile value it sends that is new or different becomes an
``AttributeValue`` with the source's name, its trust as accuracy and the time
the source observed it, owned by the identity ``<SOURCE>:<customer id>``
(created, with its ``HAS_IDENTITY`` link, the first time that source names the
customer). Unchanged values add nothing, so re-importing a file is a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.store import GraphStore, Row, WriteOp, node_op, relationship_op

#: Customer properties that can be recorded as observations.
PROFILE_KEYS = ("first_name", "last_name", "company_name", "birth_date", "gender", "national_id", "email",
                "phone", "street", "city", "postal_code", "country", "language")

#: What an import records by default: contact data, the part of a profile that goes
#: stale (about a fifth a year) and that customers maintain. Each observation is two
#: more rows to write, so recording all of ``PROFILE_KEYS`` costs import speed
#: (docs/import.md); a mapping can ask for it with ``provenance = true``.
CONTACT_KEYS = ("email", "phone", "street", "postal_code", "city", "country", "language")


def value_id(identity_id: str, key: str, observed_at: datetime) -> str:
    """The id of one observation: one value per identity, key and observation time."""
    return f"{identity_id}|{key}|{observed_at.isoformat(timespec='microseconds')}"


def observation_ops(
    store: GraphStore, source: str, trust: float, customers: pa.Table, stored: Mapping[str, Row],
    observed_at: Sequence[datetime], keys: Sequence[str] = PROFILE_KEYS,
) -> list[WriteOp]:
    """Write ops recording ``customers`` (``id`` + properties, new or changed rows) as observations.

    ``stored`` holds the customers' stored properties (absent: new customer);
    ``observed_at`` gives each row's observation time (naive UTC). Only
    non-null values that are new or differ from ``stored`` are recorded.
    """
    if customers.num_rows == 0:
        return []
    ids = customers.column("id").combine_chunks()
    identities = pc.binary_join_element_wise(pa.scalar(source), ids, ":")
    seen = pa.array(list(observed_at), pa.timestamp("us"))
    seen_text = pc.strftime(seen, format="%Y-%m-%dT%H:%M:%S")  # %S has the microseconds, as value_id
    known = store.existing_ids("Identity", identities.to_pylist())
    fresh = pc.invert(pc.is_in(identities, value_set=pa.array(sorted(known), pa.string())))
    ops: list[WriteOp] = []
    if pc.any(fresh).as_py():
        new_ids = identities.filter(fresh)
        n = len(new_ids)
        ops.append(node_op("Identity", pa.table({
            "id": new_ids, "source": pa.array([source] * n), "source_key": ids.filter(fresh),
            "matched_by": pa.array(["SEED"] * n), "confidence": pa.array(np.ones(n)),
            "linked_at": seen.filter(fresh)})))
        ops.append(relationship_op("HAS_IDENTITY", pa.table({"from": ids.filter(fresh), "to": new_ids})))
    is_new = np.fromiter((i not in stored for i in ids.to_pylist()), bool, len(ids))
    parts = []
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
        mask = pa.array(keep)
        owners, idents = ids.filter(mask), identities.filter(mask)
        m = len(owners)
        parts.append(pa.table({
            "id": pc.binary_join_element_wise(idents, pa.array([key] * m), seen_text.filter(mask), "|"),
            "key": pa.array([key] * m), "value": text.filter(mask), "source": pa.array([source] * m),
            "identity_id": idents, "observed_at": seen.filter(mask), "accuracy": pa.array(np.full(m, trust)),
            "customer_maintained": pa.array(np.zeros(m, bool)), "verified": pa.array(np.zeros(m, bool)),
            "owner": owners}))
    if parts:
        values = pa.concat_tables(parts)
        ops.append(node_op("AttributeValue", values.drop_columns(["owner"])))
        ops.append(relationship_op("HAS_ATTRIBUTE", pa.table({"from": values.column("owner"),
                                                              "to": values.column("id")})))
    return ops
