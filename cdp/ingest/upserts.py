"""Batched upserts for partner systems (billing platforms, CRM, marketing tools).

A partner sends a batch of customers, accounts, subscriptions, contacts or
monetary events. Each item is checked on its own against ``cdp.customers.write_rules`` (ids,
text, e-mail, phone, birth date, country; the same rules as ``cdp import``): a bad
item is reported (index, field, path such as ``items[3].email``, message, code; one
error per bad field) and nothing of it is written, the good ones are written together
in one transaction. Phone numbers are stored in E.164 and country codes in capitals;
new customers get ``write_rules.CUSTOMER_DEFAULTS`` for status and tier. Links to
other entities (an account's customer, a subscription's product, ...) must name
existing nodes; an item writing or linking to an erased customer is refused
(``CONFLICT``, docs/privacy.md). Customer upserts also record provenance: an
``Identity`` ``<source>:<id>`` and one ``AttributeValue`` per profile field sent
that is new or changed, with the source's trust as accuracy (see ``cdp.customers.provenance``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from cdp.privacy.consent import STATUSES, parse_key
from cdp.formats.display_format import number
from cdp.privacy.erasure import ERASED
from cdp.errors import InvalidInput
from cdp.customers.profile import ProfilePolicy, check_key
from cdp.customers.provenance import attribute_ops, identities_in, observation_ops, write_observations
from cdp.customers.write_rules import CUSTOMER_DEFAULTS, RESERVED_STATUSES, WriteRules, check_customer_value, check_source, \
    id_problem, text_problem
from graph.model import MODEL
from graph.store import GraphStore, WriteOp, node_op, relationship_op


@dataclass(frozen=True)
class Link:
    """An item field naming another node, written as a relationship."""

    field: str
    label: str
    rel_type: str
    incoming: bool  # True: (other)-[rel]->(item); False: (item)-[rel]->(other)
    required: bool = True


#: What each upsertable label links to.
LINKS: dict[str, tuple[Link, ...]] = {
    "Customer": (),
    "Account": (Link("customer_id", "Customer", "HOLDS", True),),
    "Subscription": (Link("account_id", "Account", "HAS_SUBSCRIPTION", True),
                     Link("product_id", "Product", "OF_PRODUCT", False)),
    "Contact": (Link("customer_id", "Customer", "HAD_CONTACT", True), Link("channel_id", "Channel", "VIA", False),
                Link("product_id", "Product", "ABOUT", False, required=False)),
    "MonetaryEvent": (Link("account_id", "Account", "HAS_EVENT", True),),
}

#: (label, property) -> (low, high): inclusive ranges numbers must respect.
RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("Contact", "satisfaction"): (1, 5),
    ("Subscription", "discount"): (0, 1),
    ("Subscription", "monthly_fee"): (0, 1e7),
    ("MonetaryEvent", "amount"): (-1e9, 1e9),
}

MAX_BATCH = 1000

#: Custom attributes and consent statements one customer item may carry.
MAX_ATTRIBUTES = 50


@dataclass(frozen=True)
class ItemError:
    """Why item ``index`` of a batch was not written: the ``field`` (camelCase) at fault, and
    its ``path`` in the mutation's arguments (``items[3].email``, ``items[0].attributes[2]``)."""

    index: int
    field: str
    message: str
    code: str = "BAD_USER_INPUT"
    path: str = ""

    def __post_init__(self) -> None:
        if not self.path:
            object.__setattr__(self, "path", f"items[{self.index}].{self.field}")


@dataclass
class UpsertOutcome:
    """What an upsert batch did."""

    created: int = 0
    updated: int = 0
    errors: list[ItemError] = field(default_factory=list)
    written_ids: list[str] = field(default_factory=list)


def upsert(
    store: GraphStore, policy: ProfilePolicy, label: str, items: Sequence[Mapping[str, Any]], source: str,
    now: datetime, rules: WriteRules | None = None,
) -> UpsertOutcome:
    """Upsert ``items`` of ``label`` (keys: ``id``, properties, link fields).

    Properties absent from an item are left as they are; ``None`` clears one (not
    a customer's status or tier). ``rules`` (default: national phone numbers of +31,
    today from ``now``) are the value rules of ``cdp.customers.write_rules``. Raises
    ``InvalidInput`` for a batch larger than ``MAX_BATCH`` or a ``source`` that is
    malformed, reserved or not one of the profile policy's sources; item problems
    are returned, not raised.
    """
    if label not in LINKS:
        raise InvalidInput(f"{label} cannot be upserted here", field="label")
    if len(items) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} items per batch, got {len(items)}", field="items")
    source = check_source(source, policy.source_trust)
    rules = rules or WriteRules(today=now.date())
    node = MODEL.node(label)
    links = LINKS[label]
    outcome = UpsertOutcome()
    good: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate(items):
        problems, clean = _check_item(label, node.property_names, links, item, rules)
        if problems:
            outcome.errors += [ItemError(index, name, message, path=f"items[{index}].{where}")
                               for name, message, where in problems]
        else:
            good.append((index, clean))
    # Links must name existing nodes.
    wanted: dict[str, set[str]] = defaultdict(set)
    for _, item in good:
        for link in links:
            if item.get(link.field):
                wanted[link.label].add(item[link.field])
    existing = {lbl: store.existing_ids(lbl, sorted(ids)) for lbl, ids in wanted.items()}
    erased = _erased(store, label, [item for _, item in good])
    merged = _merged(store, label, [item for _, item in good])
    kept = []
    for index, item in good:
        missing = next((link for link in links if item.get(link.field)
                        and item[link.field] not in existing[link.label]), None)
        gone = next((name for name in ("id", "customer_id") if item.get(name) in erased
                     and (name == "customer_id" or label == "Customer")), None)
        if missing:
            outcome.errors.append(ItemError(index, _camel(missing.field),
                                            f"no {missing.label} {item[missing.field]!r}", "NOT_FOUND"))
        elif gone:
            outcome.errors.append(ItemError(index, _camel(gone), f"customer {item[gone]!r} was erased; nothing "
                                                                 "more is recorded about them", "CONFLICT"))
        elif item.get("id") in merged and "status" in item:
            outcome.errors.append(ItemError(index, "status", f"customer {item['id']!r} was merged into "
                                                             f"{merged[item['id']]!r} by identity resolution; "
                                                             "its status stays MERGED", "CONFLICT"))
        else:
            kept.append(item)
    if not kept:
        return outcome
    if label == "Customer":  # new customers get the documented defaults (not null)
        stored = store.existing_ids("Customer", sorted({item["id"] for item in kept}))
        for item in kept:
            if item["id"] not in stored:
                for name, value in CUSTOMER_DEFAULTS.items():
                    item.setdefault(name, value)
    ops = _ops(store, label, node.property_names, links, kept, source, policy, now)
    result = write_observations(store, ops)
    outcome.created = result.created.get(label, 0)
    outcome.updated = result.updated.get(label, 0)
    outcome.written_ids = [item["id"] for item in kept]
    return outcome


def _erased(store: GraphStore, label: str, items: list[dict[str, Any]]) -> set[str]:
    """Ids of erased customers the items write (Customer items) or link to (``customer_id``)."""
    if label != "Customer" and not any(link.field == "customer_id" for link in LINKS[label]):
        return set()
    ids = sorted({i for i in (item.get("id" if label == "Customer" else "customer_id") for item in items)
                  if isinstance(i, str)})
    if not ids:
        return set()
    return store.customers_with_status(ids, ERASED)


def _merged(store: GraphStore, label: str, items: list[dict[str, Any]]) -> dict[str, str]:
    """Customer items (by id) that name a customer identity resolution merged: id -> the survivor."""
    if label != "Customer":
        return {}
    ids = sorted({item["id"] for item in items if "status" in item and isinstance(item.get("id"), str)})
    merged = store.customers_with_status(ids, "MERGED")
    return {cid: row.get("merged_into") or "another customer" for cid, row in store.customers(sorted(merged)).items()}


def _check_item(label: str, properties: tuple[str, ...], links: tuple[Link, ...], item: Mapping[str, Any],
                rules: WriteRules) -> tuple[list[tuple[str, str, str]], dict[str, Any]]:
    """The problems of one item, as (field, message, path below the item), one per bad field,
    and the item with its values normalised (``cdp.customers.write_rules``; meaningful without problems)."""
    problems: list[tuple[str, str, str]] = []
    clean = dict(item)

    def refuse(name: str, message: str, where: str | None = None) -> None:
        problems.append((_camel(name), message, where or _camel(name)))

    problem = id_problem(item.get("id"))
    if problem:
        refuse("id", problem)
    for link in links:
        value = item.get(link.field)
        if link.required and not value:
            refuse(link.field, f"{_camel(link.field)} is required")
        elif value:
            problem = id_problem(value, _camel(link.field))
            if problem:
                refuse(link.field, problem)
    for name, value in item.items():
        if name == "id" or name == "attributes" or any(link.field == name for link in links):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            refuse(name, f"{_camel(name)} must be a finite number")
            continue
        bounds = RANGES.get((label, name))
        if bounds and value is not None and not bounds[0] <= value <= bounds[1]:
            refuse(name, f"{_camel(name)} must be between {number(bounds[0])} and {number(bounds[1])}")
            continue
        if isinstance(value, str) and len(value) > 2000:
            refuse(name, f"{_camel(name)} is longer than 2000 characters")
            continue
        problem = text_problem(value, _camel(name))
        if problem:
            refuse(name, problem)
            continue
        if label == "Customer" and name == "status" and value in RESERVED_STATUSES:
            refuse(name, f"status {value} is set only by {RESERVED_STATUSES[value]}; a partner cannot set it")
            continue
        if label == "Customer":
            try:
                clean[name] = check_customer_value(name, value, rules)
            except ValueError as exc:
                refuse(name, str(exc))
    if label == "Customer" and item.get("attributes"):
        bad = _check_attributes(item["attributes"], properties)
        if bad:
            refuse("attributes", bad[1], bad[0])
    return problems, clean


def _check_attributes(attributes: Sequence[Mapping[str, Any]], properties: tuple[str, ...]) -> tuple[str, str] | None:
    """(path below the item, message) of the first bad custom attribute or consent statement of a customer item."""
    if len(attributes) > MAX_ATTRIBUTES:
        return "attributes", f"at most {MAX_ATTRIBUTES} attributes per customer, got {len(attributes)}"
    seen: set[str] = set()
    for at, attribute in enumerate(attributes):
        where = f"attributes[{at}]"
        key, value = attribute.get("key"), attribute.get("value")
        try:
            key = check_key(key or "")
        except InvalidInput as exc:
            return f"{where}.key", exc.message
        if key in properties:
            return f"{where}.key", f"{key} is a customer field: send it as {_camel(key)}"
        if key in seen:
            return f"{where}.key", f"attribute {key} is given twice"
        seen.add(key)
        if value is None or not str(value).strip():
            return f"{where}.value", f"attribute {key} needs a value (clearing one is not supported here)"
        if len(str(value)) > 2000:
            return f"{where}.value", f"attribute {key} is longer than 2000 characters"
        problem = text_problem(str(value), f"attribute {key}")
        if problem:
            return f"{where}.value", problem
        if parse_key(key) is not None and str(value).strip().upper() not in STATUSES:
            return f"{where}.value", (f"{key} is a consent: its value must be one of {', '.join(STATUSES)}, "
                                      f"got {value!r}")
    return None


def _ops(store: GraphStore, label: str, properties: tuple[str, ...], links: tuple[Link, ...], items: list[dict[str, Any]],
         source: str, policy: ProfilePolicy, now: datetime) -> list[WriteOp]:
    ops: list[WriteOp] = []
    # One node op per set of columns: a column missing from a table would clear that property.
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        row = {k: v for k, v in item.items() if k in properties}
        shapes[tuple(sorted(row))].append(row)
    ops += [node_op(label, rows) for rows in shapes.values()]
    for link in links:
        pairs = [(item[link.field], item["id"]) if link.incoming else (item["id"], item[link.field])
                 for item in items if item.get(link.field)]
        if pairs:
            ops.append(relationship_op(link.rel_type, [{"from": a, "to": b} for a, b in pairs]))
    if label == "Customer":
        table = node_op("Customer", [{k: v for k, v in item.items() if k in properties} for item in items]).rows
        stored = store.nodes("Customer", [item["id"] for item in items])
        ops += observation_ops(store, source, policy.trust(source), table, stored, [now] * table.num_rows)
        said = [(item["id"], a["key"], str(a["value"]).strip()) for item in items for a in item.get("attributes") or ()]
        if said:
            keys = list(dict.fromkeys(k for _, k, _ in said))
            owners = list(dict.fromkeys(i for i, _, _ in said))
            at = {i: n for n, i in enumerate(owners)}
            columns: dict[str, list[str | None]] = {k: [None] * len(owners) for k in keys}
            for owner, key, value in said:
                columns[key][at[owner]] = value.upper() if parse_key(key) is not None else value
            more, _, _ = attribute_ops(store, source, policy.trust(source), pa.array(owners, pa.string()),
                                       {k: pa.array(v, pa.string()) for k, v in columns.items()},
                                       pa.array([now] * len(owners), pa.timestamp("us")), identities_in(ops))
            ops += more
    return ops


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
