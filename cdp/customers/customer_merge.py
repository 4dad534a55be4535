"""Applying identity resolution to the store: customers that are one person become one.

``source_records`` turns every ``Identity`` linked to a customer into one input
record of :func:`cdp.identity.resolution.resolve` (its latest attribute values, completed
from the customer's own properties). ``plan`` reads the resolution: in each
cluster spanning several customers, the customer holding the cluster's seed
record survives and the others are merged into it. ``apply`` moves the merged
customers' identities, attribute values, accounts, contacts and channel
preferences to the survivor, marks them ``MERGED`` (with ``merged_into``),
records how each identity was matched, and recomputes the survivor's profile,
one transaction per batch of merges. Nothing is deleted, and an identity split
out by hand (``matched_by = "SPLIT"``) is never merged again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from cdp.identity.resolution import INPUT_COLUMNS, Resolution
from cdp.customers.identity_links import SPLIT
from cdp.customers.profile import ProfilePolicy, customer_fields
from graph.store import GraphStore, WriteOp, node_op, relationship_op, unlink_op

#: Relationships of a merged customer that move to the survivor.
MOVED = ("HAS_IDENTITY", "HAS_ATTRIBUTE", "HOLDS", "HAD_CONTACT", "PREFERS")

#: Customer properties used to complete a record that lacks attribute values.
FROM_CUSTOMER = ("national_id", "first_name", "last_name", "company_name", "birth_date", "email", "phone",
                 "street", "postal_code", "city")


@dataclass(frozen=True)
class Merge:
    """Customers ``merged`` become part of ``survivor``; ``identities`` says how each record matched."""

    survivor: str
    merged: tuple[str, ...]
    identities: tuple[tuple[str, str, float], ...]  # (identity id, matched_by, confidence)


@dataclass
class MergeOutcome:
    merges: int = 0
    customers_merged: int = 0
    relationships_moved: int = 0
    batches: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)


def source_records(store: GraphStore) -> pd.DataFrame:
    """One resolver input record per identity of a customer not merged nor erased.

    Columns: :data:`cdp.identity.resolution.INPUT_COLUMNS` plus ``identity_id``,
    ``customer_id`` and ``matched_by``. Values come from the identity's latest
    attribute values; missing ones from the customer's properties.
    """
    customers = store.export_nodes("Customer").to_pandas()
    # Merged customers are part of their survivor; erased ones must not be re-identified (docs/privacy.md).
    customers = customers[~customers["status"].fillna("").isin(["MERGED", "ERASED"])]
    identities = store.export_nodes("Identity").to_pandas()
    links = store.export_relationships("HAS_IDENTITY").to_pandas().rename(
        columns={"from": "customer_id", "to": "identity_id"})
    records = links.merge(identities.rename(columns={"id": "identity_id"}), on="identity_id")
    records = records[records["customer_id"].isin(customers["id"])]
    values = store.export_nodes("AttributeValue").to_pandas()
    wanted = [c for c in INPUT_COLUMNS if c not in ("source", "source_key")]
    if len(values):
        latest = (values[values["key"].isin(wanted)].sort_values("observed_at")
                  .groupby(["identity_id", "key"]).tail(1))
        pivot = latest.pivot(index="identity_id", columns="key", values="value")
        records = records.merge(pivot, left_on="identity_id", right_index=True, how="left")
    own = customers.set_index("id")
    for name in wanted:
        if name not in records:
            records[name] = pd.NA
        if name in FROM_CUSTOMER:
            fallback = records["customer_id"].map(own[name]).astype("string")
            records[name] = records[name].astype("string").fillna(fallback)
    if "house_number" in records:
        found = records["street"].astype("string").str.extract(r"\s(\d+\s?[A-Za-z]?)\s*$")[0]
        records["house_number"] = records["house_number"].astype("string").fillna(found)
    columns = [*INPUT_COLUMNS, "identity_id", "customer_id", "matched_by"]
    return records[columns].reset_index(drop=True)


def plan(records: pd.DataFrame, resolution: Resolution) -> list[Merge]:
    """The merges a resolution asks for (see the module docstring)."""
    decided = records[["identity_id", "customer_id", "matched_by"]].rename(columns={"matched_by": "before"})
    decided = pd.concat([decided.reset_index(drop=True),
                         resolution.records[["cluster_id", "matched_by", "confidence"]].reset_index(drop=True)],
                        axis=1)
    decided = decided[decided["before"].fillna("") != SPLIT]  # split by hand: keep apart
    merges = []
    for cluster, group in decided.groupby("cluster_id", sort=True):
        owners = sorted(set(group["customer_id"]))
        if len(owners) < 2:
            continue
        seed = group[group["identity_id"] == cluster]
        survivor = seed["customer_id"].iloc[0] if len(seed) else owners[0]
        moved = group[group["customer_id"] != survivor]
        merges.append(Merge(
            survivor=survivor, merged=tuple(o for o in owners if o != survivor),
            identities=tuple((r.identity_id, str(r.matched_by).upper(), float(r.confidence))
                             for r in moved.itertuples()),
        ))
    return merges


def apply(
    store: GraphStore, policy: ProfilePolicy, merges: list[Merge], now: datetime, batch: int = 200,
    progress: Callable[[int], None] | None = None,
) -> MergeOutcome:
    """Carry out ``merges``, ``batch`` merges per transaction; return what was done."""
    outcome = MergeOutcome()
    if not merges:
        return outcome
    rels = {t: store.export_relationships(t).to_pandas() for t in MOVED}
    by_owner = {t: dict(tuple(df.groupby("from"))) for t, df in rels.items()}
    for start in range(0, len(merges), batch):
        chunk = merges[start:start + batch]
        ops: list[WriteOp] = []
        survivors = {m.survivor for m in chunk}
        moved_values: dict[str, list[str]] = defaultdict(list)
        for m in chunk:
            for customer in m.merged:
                for rel_type in MOVED:
                    owned = by_owner[rel_type].get(customer)
                    if owned is None or not len(owned):
                        continue
                    pairs = owned.to_dict("records")
                    ops.append(unlink_op(rel_type, [{"from": customer, "to": p["to"]} for p in pairs]))
                    ops.append(relationship_op(rel_type, [{**p, "from": m.survivor} for p in pairs]))
                    outcome.relationships_moved += len(pairs)
                    if rel_type == "HAS_ATTRIBUTE":
                        moved_values[m.survivor] += [p["to"] for p in pairs]
            ops.append(node_op("Customer", [{"id": c, "status": "MERGED", "merged_into": m.survivor,
                                             "updated_at": now} for c in m.merged]))
            ops.append(node_op("Identity", [{"id": i, "matched_by": rule, "confidence": conf, "linked_at": now}
                                            for i, rule, conf in m.identities]))
            for _, rule, _ in m.identities:
                outcome.by_rule[rule] = outcome.by_rule.get(rule, 0) + 1
        # The survivors' profiles, from all their values (own and moved in).
        values = store.attribute_values_of_customers(sorted(survivors))
        for survivor in survivors:
            fields = customer_fields(values.get(survivor, []) + _values(store, moved_values[survivor]), policy, now)
            if fields:
                ops.append(node_op("Customer", [{"id": survivor, **fields, "updated_at": now}]))
        store.write(ops)
        outcome.merges += len(chunk)
        outcome.customers_merged += sum(len(m.merged) for m in chunk)
        outcome.batches += 1
        if progress:
            progress(len(chunk))
    return outcome


def _values(store: GraphStore, ids: list[str]) -> list[dict]:
    return list(store.nodes("AttributeValue", ids).values()) if ids else []
