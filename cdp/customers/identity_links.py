"""Links between source identities and customers: reversing a wrong merge.

Identity resolution (``cdp.identity.resolution``) decides which source records are one
customer and links each ``Identity`` to its ``Customer``. When a merge turns
out wrong, ``split_identity`` moves one identity, with every attribute value
its source record contributed, to a customer of its own, in one transaction,
and recomputes both profiles. Nothing is deleted: the identity and its values
keep their ids and provenance, and the split is recorded on the identity
(``matched_by = "SPLIT"``), so a later resolution run keeps it apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from cdp.errors import InvalidInput, NotFound
from cdp.customers.profile import ProfilePolicy, customer_fields
from graph.store import GraphStore, node_op, relationship_op, unlink_op

#: ``matched_by`` of an identity split out of a wrong merge.
SPLIT = "SPLIT"

#: Customer properties the new customer inherits from the one it is split from.
INHERITED = ("tier", "status", "joined_on", "country", "language")


@dataclass(frozen=True)
class Split:
    """The outcome of a split: where the identity was and where it is now."""

    identity_id: str
    original_customer_id: str
    new_customer_id: str
    moved_values: int


def split_customer_id(identity_id: str) -> str:
    """The id of the customer an identity is split into (deterministic)."""
    return "CS-" + hashlib.sha1(identity_id.encode()).hexdigest()[:12].upper()


def split_identity(store: GraphStore, policy: ProfilePolicy, identity_id: str, now: datetime) -> Split:
    """Move ``identity_id`` and its attribute values out of its customer into a new one.

    Raises ``NotFound`` when the identity is unknown or linked to no customer,
    and ``InvalidInput`` when it is the customer's only identity (nothing to
    split from).
    """
    original = store.customer_of_identity(identity_id)
    if original is None:
        raise NotFound(f"no identity {identity_id!r} linked to a customer", field="identityId")
    identities = store.identities_of_customers([original]).get(original, [])
    if len(identities) < 2:
        raise InvalidInput(f"identity {identity_id!r} is the only identity of customer {original!r}",
                           field="identityId")
    values = store.attribute_values_of_customers([original]).get(original, [])
    moving = [v for v in values if v.get("identity_id") == identity_id]
    staying = [v for v in values if v.get("identity_id") != identity_id]
    customer = store.customers([original])[original]
    new_id = split_customer_id(identity_id)
    new_fields = {k: customer.get(k) for k in INHERITED} | customer_fields(moving, policy, now)
    # The original keeps only what its remaining values decide for the moved keys.
    kept = customer_fields(staying, policy, now)
    moved_keys = {v["key"] for v in moving}
    original_fields = {k: kept.get(k) for k in moved_keys if k in kept or k in customer}
    store.write([
        unlink_op("HAS_IDENTITY", [{"from": original, "to": identity_id}]),
        unlink_op("HAS_ATTRIBUTE", [{"from": original, "to": v["id"]} for v in moving]),
        # Two ops: one table per row shape, as a missing column would clear a property.
        node_op("Customer", [{"id": new_id, **new_fields, "updated_at": now}]),
        node_op("Customer", [{"id": original, **original_fields, "updated_at": now}]),
        node_op("Identity", [{"id": identity_id, "matched_by": SPLIT, "confidence": 1.0, "linked_at": now}]),
        relationship_op("HAS_IDENTITY", [{"from": new_id, "to": identity_id}]),
        relationship_op("HAS_ATTRIBUTE", [{"from": new_id, "to": v["id"]} for v in moving]),
    ])
    return Split(identity_id, original, new_id, len(moving))
