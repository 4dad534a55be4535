"""Erasure: a person's personal data removed, the anonymised aggregates kept (``eraseCustomer``,
``cdp privacy erase``; docs/privacy.md).

``erase(store, customer_id, now)`` removes, in **one transaction** (all or nothing):

* the personal properties of the ``Customer`` node (``ERASED_PROPERTIES``: names,
  company name, birth date, gender, national id, e-mail, phone, street, postal code),
  set to null; the status becomes ``ERASED``;
* every ``AttributeValue`` of the customer: profile values with their provenance,
  consents and custom attributes (their values are free text, so none is kept);
* the free text of what stays: ``Contact.subject`` and ``MonetaryEvent.description``;
* the customer's own API keys (role ``customer``): revoked;
* the same for every customer merged into this one by identity resolution
  (``status MERGED``, ``merged_into``): their records describe the same person.

What stays, anonymised: the ``Customer`` node and its id with tier, city, country,
language, joined on and account manager; accounts, subscriptions, monetary events
(amounts and times), contacts (kind, channel, time, outcome, satisfaction, campaign),
channel preferences, campaign memberships with their responses and revenue, and the
``Identity`` nodes (source-system record keys): revenue, campaign reports, contact
statistics and model training still add up, and later imports of the same source
records are recognised and refused (``cdp.ingest.run``, ``cdp.ingest.upserts``).

Erasing again is harmless: it removes whatever personal data reappeared and writes
nothing when there is none. Erasing a customer that was merged into another erases
the one it was merged into (the same person).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from cdp.customers.erased_customers import ERASED as ERASED
from cdp.errors import NotFound
from cdp.security.permissions import PERSONAL_ATTRIBUTE_KEYS
from graph.store import GraphStore, WriteOp, delete_op, node_op, unlink_op


#: ``Customer`` properties holding personal data, set to null by an erasure: the personal
#: fields of ``cdp.security.permissions`` (``name`` is derived, not stored) plus the company name
#: (a sole trader's is their name) and gender.
ERASED_PROPERTIES: tuple[str, ...] = tuple(sorted(PERSONAL_ATTRIBUTE_KEYS - {"name"})) + ("company_name", "gender")


@dataclass(frozen=True)
class Erasure:
    """What one erasure removed."""

    customer_id: str
    customers: tuple[str, ...]  # the customer and every customer merged into it
    attribute_values: int  # deleted
    contact_subjects: int  # cleared
    event_descriptions: int  # cleared
    api_keys: int  # revoked
    already_erased: bool  # the customer was ERASED before this call
    written: bool  # False when nothing was left to remove
    seconds: float


def erase(store: GraphStore, customer_id: str, now: datetime) -> Erasure:
    """Erase the person behind ``customer_id`` (see the module docstring) at ``now`` (naive UTC).

    Raises ``NotFound`` for an unknown customer and what ``GraphStore.write`` raises
    (then nothing was changed).
    """
    started = time.perf_counter()
    root = _root(store, customer_id)
    cluster = _cluster(store, root)
    stored = store.customers(cluster)
    already = stored[root].get("status") == ERASED
    values = store.attribute_values_of_customers(cluster)
    pairs = [(owner, v["id"]) for owner, rows in values.items() for v in rows]
    contacts = [k["id"] for rows in store.contacts_of_customers(cluster).values() for k in rows
                if k.get("subject") is not None]
    accounts = [a["id"] for rows in store.accounts_of_customers(cluster).values() for a in rows]
    events = [e["id"] for rows in store.monetary_events_of_accounts(accounts).values() for e in rows
              if e.get("description") is not None] if accounts else []
    keys = _api_keys(store, set(cluster))
    personal = any(row.get(p) is not None for row in stored.values() for p in ERASED_PROPERTIES)
    unmarked = any(row.get("status") != ERASED for row in stored.values())
    ops: list[WriteOp] = []
    if pairs:
        # Unlinking before deleting names each value's customer in the write's changes, so
        # the analytic projection re-reads just these customers instead of rebuilding.
        ops.append(unlink_op("HAS_ATTRIBUTE", [{"from": c, "to": v} for c, v in pairs]))
        ops.append(delete_op("AttributeValue", [v for _, v in pairs]))
    if personal or unmarked or ops or contacts or events or keys:
        ops.append(node_op("Customer", [{"id": c, **dict.fromkeys(ERASED_PROPERTIES), "status": ERASED,
                                         "updated_at": now} for c in cluster]))
    if contacts:
        ops.append(node_op("Contact", [{"id": k, "subject": None} for k in contacts]))
    if events:
        ops.append(node_op("MonetaryEvent", [{"id": e, "description": None} for e in events]))
    if keys:
        ops.append(node_op("ApiKey", [{"id": k, "revoked_at": now} for k in keys]))
    if ops:
        store.write(ops)
    return Erasure(customer_id=root, customers=tuple(cluster), attribute_values=len(pairs),
                   contact_subjects=len(contacts), event_descriptions=len(events), api_keys=len(keys),
                   already_erased=already, written=bool(ops), seconds=time.perf_counter() - started)


def _root(store: GraphStore, customer_id: str) -> str:
    """The customer ``customer_id`` was (transitively) merged into, or itself. Raises NotFound."""
    row = store.customers([customer_id]).get(customer_id)
    if row is None:
        raise NotFound(f"no customer {customer_id!r}", field="customerId")
    current, seen = customer_id, {customer_id}
    while row.get("status") == "MERGED" and row.get("merged_into") and row["merged_into"] not in seen:
        target = row["merged_into"]
        found = store.customers([target]).get(target)
        if found is None:  # a dangling merged_into: erase what exists
            break
        current, row = target, found
        seen.add(current)
    return current


def _cluster(store: GraphStore, root: str) -> list[str]:
    """``root`` and every customer merged into it, directly or through others."""
    cluster, frontier = [root], [root]
    while frontier:
        merged = sorted(set(store.customers_merged_into(frontier)) - set(cluster))
        cluster += merged
        frontier = merged
    return cluster


def _api_keys(store: GraphStore, customers: set[str]) -> list[str]:
    """Ids of the unrevoked API keys bound to one of ``customers`` (role customer)."""
    keys = store.export_nodes("ApiKey")
    if keys.num_rows == 0:
        return []
    return [row["id"] for row in keys.select(["id", "customer_id", "revoked_at"]).to_pylist()
            if row["customer_id"] in customers and row["revoked_at"] is None]
