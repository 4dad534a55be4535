"""Rule segments: condition trees over the analytic projection, and saved segments.

A segment definition is a JSON-like tree (docs/segments.md). Inner nodes are
``{"all": [...]}``, ``{"any": [...]}`` and ``{"not": node}``; leaves test one
thing about a customer:

* ``attribute``: a Customer property, a derived one (``age``,
  ``tenure_months``) or a custom profile attribute (its latest observed value);
* ``holds``: active subscriptions of a product, a category or any bundle;
* ``account``: accounts of a type / status / contract state;
* ``contacts`` and ``noContactSince``: contacts in a window of days;
* ``spendChange`` and ``spend``: revenue trend and monthly recurring spend;
* ``score``: a model score (``churn_risk``, ``lifetime_value``, ``propensity:<product>``).

``parse_definition(raw, data)`` checks a definition against the catalogue of a
projection snapshot and returns the typed tree; every error is an
``InvalidInput`` whose message and ``field`` name the path of the bad node
(``definition.all[2].contacts.days``). ``SegmentEngine`` evaluates a tree to a
boolean mask over customer rows with numpy (no Cypher, no per-customer Python),
caches masks per (definition, time, data version), pages members in id order,
profiles members against the base, and keeps saved segments as ``Segment``
nodes of the graph store.

Time: a definition is evaluated at a reference time ``t``, now or ``as_of``.
Windows (last D days) end at ``t``; with ``as_of`` only facts before ``t``
count, subscriptions and accounts are taken as they were at ``t`` (by their
dates), and customers who joined after ``t`` are not members. Customer
properties and scores are current values: they are not time-travelled.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Union

import numpy as np
import pandas as pd

from cdp.errors import Conflict, Forbidden, InvalidInput, NotFound
from cdp.models.model_card import ModelNotTrained
from cdp.security.permissions import personal_key
from cdp.projection.tables import ProjectionData, utc_now
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
    PAYMENT_METHOD_VALUES,
    PRODUCT_CATEGORY_VALUES,
    TIER_VALUES,
)
from graph.store import GraphStore, node_op

#: ``authorise(uses)``: raises ``Forbidden`` unless the caller may let the personal fields of
#: ``uses`` (name -> path in the definition, ``personal_uses``) shape the answer; a request
#: passes ``Context.authorise_personal_use`` (``cdp.security.permissions.authorise_personal_use``).
#: None only where the caller authorised the definition itself.
Authorise = Callable[[Mapping[str, str]], object]

#: ``scores(name, data)``: per-row floats of score ``name`` (NaN = unscored);
#: raises ``InvalidInput`` when the score is unknown, ``ModelNotTrained`` when its model is untrained.
ScoreLookup = Callable[[str, ProjectionData], np.ndarray]

#: Deepest nesting of all/any/not a definition may have.
MAX_DEPTH = 8
#: Most nodes (inner and leaves) a definition may have.
MAX_NODES = 64
#: Longest window, in days.
MAX_DAYS = 3660
#: Evaluations kept (masks of one bit... one byte per customer each).
CACHE_SIZE = 32
#: Profile measures derived from a personal field (``cdp.security.permissions.DERIVED_PERSONAL``).
PERSONAL_MEASURES = ("age",)
#: Whole-base figures (profile measures, monthly spend) kept per data version and time.
MEASURE_CACHE_SIZE = 24

# --------------------------------------------------------------------------- the definition model

ATTRIBUTE_OPERATORS = ("EQ", "NE", "IN", "NOT_IN", "GT", "GTE", "LT", "LTE", "CONTAINS", "EXISTS", "MISSING",
                       "BETWEEN")
COMPARISONS = ("GT", "GTE", "LT", "LTE", "BETWEEN")
CONTRACT_STATES = ("IN_CONTRACT", "OUT_OF_CONTRACT", "NO_CONTRACT")
SCORES = ("churn_risk", "lifetime_value")
PROPENSITY = "propensity:"

#: Customer properties with a closed vocabulary.
ENUM_ATTRIBUTES = {"tier": TIER_VALUES, "status": CUSTOMER_STATUS_VALUES, "gender": GENDER_VALUES}
#: Customer properties that are dates or times (values given as ISO 8601).
DATE_ATTRIBUTES = {p.name for p in MODEL.node("Customer").properties if p.type in ("DATE", "TIMESTAMP")}
#: Attributes derived from properties at the reference time (whole numbers).
DERIVED_ATTRIBUTES = ("age", "tenure_months")
CUSTOMER_PROPERTIES = MODEL.node("Customer").property_names


@dataclass(frozen=True)
class AllOf:
    """True when every child is (an empty ``all`` is true for everyone)."""

    children: tuple[Node, ...]
    path: str


@dataclass(frozen=True)
class AnyOf:
    """True when at least one child is."""

    children: tuple[Node, ...]
    path: str


@dataclass(frozen=True)
class Not:
    child: Node
    path: str


@dataclass(frozen=True)
class AttributeCondition:
    """``key op values``; ``kind`` is enum, text, date, number or custom."""

    key: str
    op: str
    values: tuple[Any, ...]
    kind: str
    path: str


@dataclass(frozen=True)
class HoldsCondition:
    """At least ``min_count`` subscriptions active at the reference time of one of ``products``
    (a product, the products of a category or the bundles, with the bundles that include them)."""

    products: frozenset[str]
    min_count: int
    path: str


@dataclass(frozen=True)
class AccountCondition:
    """At least ``min_count`` accounts open at the reference time matching every filter given."""

    types: tuple[str, ...] | None
    statuses: tuple[str, ...] | None
    contract_types: tuple[str, ...] | None
    payment_methods: tuple[str, ...] | None
    contract: str | None
    contract_ends_within_days: int | None
    min_count: int
    path: str


@dataclass(frozen=True)
class ContactsCondition:
    """Between ``at_least`` and ``at_most`` contacts in the ``days`` before the reference time."""

    days: int
    at_least: int
    at_most: int | None
    kinds: tuple[str, ...] | None
    channels: tuple[str, ...] | None
    direction: str | None
    outcomes: tuple[str, ...] | None
    path: str


@dataclass(frozen=True)
class SpendChangeCondition:
    """Revenue of the last ``days`` against the ``days`` before, in percent, compared with ``value``."""

    days: int
    op: str
    value: float
    to: float | None
    path: str


@dataclass(frozen=True)
class SpendCondition:
    """Monthly recurring spend compared with ``value``."""

    op: str
    value: float
    to: float | None
    path: str


@dataclass(frozen=True)
class ScoreCondition:
    """Model score ``name`` compared with ``value`` (unscored customers never match)."""

    name: str
    op: str
    value: float
    to: float | None
    path: str


Node = Union[AllOf, AnyOf, Not, AttributeCondition, HoldsCondition, AccountCondition, ContactsCondition,
             SpendChangeCondition, SpendCondition, ScoreCondition]

# --------------------------------------------------------------------------- parsing


def parse_definition(raw: Any, data: ProjectionData, path: str = "definition") -> Node:
    """The typed condition tree of ``raw`` (a JSON-like dict), checked against ``data``'s catalogue.

    Raises ``InvalidInput`` whose message starts with, and whose ``field`` is,
    the path of the bad node: an unknown or missing node kind, a value of the
    wrong type, an unknown product, channel, category or attribute key, an
    inverted range, a tree deeper than ``MAX_DEPTH`` or larger than ``MAX_NODES``.
    """
    return _Parser(data).node(raw, path, 1)


def personal_uses(raw: Any, path: str = "definition") -> dict[str, str]:
    """The personal fields a definition's ``attribute`` conditions compare, each with the path
    of the condition's key (``{"email": "definition.all[0].attribute.key"}``); ``age`` counts
    as the birth date. Walks the raw tree without parsing it, every ``attribute`` object at any
    depth, so a definition the parser would read differently cannot hide one (it fails closed).
    """
    found: dict[str, str] = {}

    def walk(node: Any, here: str) -> None:
        if isinstance(node, Mapping):
            for name, child in node.items():
                at = f"{here}.{name}"
                if name == "attribute" and isinstance(child, Mapping) and isinstance(child.get("key"), str):
                    key = personal_key(child["key"])
                    if key is not None:
                        found.setdefault(key, f"{at}.key")
                walk(child, at)
        elif isinstance(node, (list, tuple)):
            for i, child in enumerate(node):
                walk(child, f"{here}[{i}]")

    walk(raw, path)
    return found


def masked_definition(raw: Any, readable: Callable[[str], bool]) -> Any:
    """``raw`` with the operands of every ``attribute`` condition on a personal field that
    ``readable(key)`` refuses replaced by ``***``: a saved "e-mail equals ..." keeps the address
    in its definition, which whoever may list segments would otherwise read."""
    if isinstance(raw, Mapping):
        out = {k: masked_definition(v, readable) for k, v in raw.items()}
        body = raw.get("attribute")
        if isinstance(body, Mapping) and isinstance(body.get("key"), str):
            key = personal_key(body["key"])
            if key is not None and not readable(key):
                hidden = dict(body)
                if hidden.get("value") is not None:
                    hidden["value"] = "***"
                if isinstance(hidden.get("values"), (list, tuple)):
                    hidden["values"] = ["***"] * len(hidden["values"])
                out["attribute"] = hidden
        return out
    if isinstance(raw, (list, tuple)):
        return [masked_definition(v, readable) for v in raw]
    return raw


def canonical(raw: Any) -> Any:
    """``raw`` without null members (what is stored and what caches key on)."""
    if isinstance(raw, Mapping):
        return {str(k): canonical(v) for k, v in raw.items() if v is not None}
    if isinstance(raw, (list, tuple)):
        return [canonical(v) for v in raw]
    return raw


def definition_json(raw: Any) -> str:
    """The canonical JSON text of a definition (sorted keys, no nulls)."""
    return json.dumps(canonical(raw), sort_keys=True, separators=(",", ":"), default=str)


def _bad(path: str, message: str) -> InvalidInput:
    return InvalidInput(f"{path}: {message}", field=path)


_NODE_KINDS = ("all", "any", "not", "attribute", "holds", "account", "contacts", "noContactSince", "spendChange",
               "spend", "score")


class _Parser:
    def __init__(self, data: ProjectionData) -> None:
        self.data = data
        self.count = 0

    # ---- nodes

    def node(self, raw: Any, path: str, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise _bad(path, f"nesting is limited to {MAX_DEPTH} levels")
        self.count += 1
        if self.count > MAX_NODES:
            raise _bad(path, f"a definition is limited to {MAX_NODES} nodes")
        if not isinstance(raw, Mapping):
            raise _bad(path, f"must be an object with exactly one of {', '.join(_NODE_KINDS)}")
        given = [k for k, v in raw.items() if v is not None]
        unknown = [k for k in given if k not in _NODE_KINDS]
        if unknown:
            raise _bad(f"{path}.{unknown[0]}", f"unknown node kind (expected one of {', '.join(_NODE_KINDS)})")
        if len(given) != 1:
            found = f"found {', '.join(given)}" if given else "found none"
            raise _bad(path, f"must set exactly one of {', '.join(_NODE_KINDS)} ({found})")
        kind = given[0]
        body, here = raw[kind], f"{path}.{kind}"
        if kind in ("all", "any"):
            if not isinstance(body, (list, tuple)):
                raise _bad(here, "must be a list of conditions")
            if kind == "any" and not body:
                raise _bad(here, "must hold at least one condition")
            children = tuple(self.node(c, f"{here}[{i}]", depth + 1) for i, c in enumerate(body))
            return AllOf(children, here) if kind == "all" else AnyOf(children, here)
        if kind == "not":
            return Not(self.node(body, here, depth + 1), here)
        if not isinstance(body, Mapping):
            raise _bad(here, "must be an object")
        return getattr(self, f"_{kind}")(body, here)

    def _attribute(self, body: Mapping[str, Any], path: str) -> AttributeCondition:
        _fields(body, path, ("key", "op", "value", "values"))
        key = _text(body, "key", path, required=True)
        op = _choice(body.get("op"), ATTRIBUTE_OPERATORS, f"{path}.op", required=True)
        if key in ENUM_ATTRIBUTES:
            kind = "enum"
        elif key in DATE_ATTRIBUTES:
            kind = "date"
        elif key in DERIVED_ATTRIBUTES:
            kind = "number"
        elif key in CUSTOMER_PROPERTIES:
            kind = "text"
        elif key in _custom_keys(self.data):
            kind = "custom"
        else:
            raise _bad(f"{path}.key", f"unknown attribute {key!r} (a Customer property, "
                                      f"{', '.join(DERIVED_ATTRIBUTES)}, or a recorded custom attribute key)")
        if kind == "enum" and op in ("GT", "GTE", "LT", "LTE", "BETWEEN", "CONTAINS"):
            raise _bad(f"{path}.op", f"{op} does not apply to {key} (use EQ, NE, IN, NOT_IN, EXISTS or MISSING)")
        if kind in ("date", "number") and op == "CONTAINS":
            raise _bad(f"{path}.op", f"CONTAINS does not apply to {key}")
        value, values = body.get("value"), body.get("values")
        if op in ("EXISTS", "MISSING"):
            if value is not None or values is not None:
                raise _bad(path, f"{op} takes no value")
            operands: list[Any] = []
        elif op in ("IN", "NOT_IN", "BETWEEN"):
            if value is not None:
                raise _bad(f"{path}.value", f"{op} takes `values`, not `value`")
            if not isinstance(values, (list, tuple)) or not values:
                raise _bad(f"{path}.values", f"{op} needs a non-empty list of values")
            if op == "BETWEEN" and len(values) != 2:
                raise _bad(f"{path}.values", "BETWEEN needs exactly two values: [low, high]")
            operands = list(values)
        else:
            if values is not None:
                raise _bad(f"{path}.values", f"{op} takes `value`, not `values`")
            if value is None:
                raise _bad(f"{path}.value", f"{op} needs a value")
            operands = [value]
        where = f"{path}.values" if values is not None else f"{path}.value"
        typed = tuple(_operand(v, kind, key, f"{where}[{i}]" if values is not None else where)
                      for i, v in enumerate(operands))
        if op == "BETWEEN" and kind in ("date", "number") and typed[0] > typed[1]:
            raise _bad(f"{path}.values", "BETWEEN low must not exceed high")
        return AttributeCondition(key, op, typed, kind, path)

    def _holds(self, body: Mapping[str, Any], path: str) -> HoldsCondition:
        _fields(body, path, ("product", "category", "bundle", "minCount"))
        product, category, bundle = body.get("product"), body.get("category"), body.get("bundle")
        given = [n for n, v in (("product", product), ("category", category), ("bundle", bundle))
                 if v is not None and v is not False]
        if len(given) != 1:
            raise _bad(path, "set exactly one of product, category or bundle: true")
        products = self.data.products
        categories = products["category"] if "category" in products else pd.Series(dtype=object)
        bundles = set(self.data.bundles) | set(products.index[categories.to_numpy() == "BUNDLE"])
        if product is not None:
            product = _text(body, "product", path, required=True)
            if product not in products.index:
                raise _bad(f"{path}.product", f"unknown product {product!r}")
            wanted = {product}
        elif category is not None:
            category = _choice(category, PRODUCT_CATEGORY_VALUES, f"{path}.category", required=True)
            wanted = set(products.index[categories.to_numpy() == category])
        else:
            if bundle is not True:
                raise _bad(f"{path}.bundle", "must be true")
            wanted = set(bundles)
        # Holding a bundle holds its components (and so their categories).
        covered = set(wanted)
        for b, components in self.data.bundles.items():
            if wanted & set(components):
                covered.add(b)
        min_count = _int(body, "minCount", path, default=1, minimum=1)
        return HoldsCondition(frozenset(covered), min_count, path)

    def _account(self, body: Mapping[str, Any], path: str) -> AccountCondition:
        _fields(body, path, ("types", "statuses", "contractTypes", "paymentMethods", "contract",
                             "contractEndsWithinDays", "minCount", "type", "status", "contractType",
                             "paymentMethod"))
        within = _int(body, "contractEndsWithinDays", path, default=None, minimum=0, maximum=MAX_DAYS)
        return AccountCondition(
            types=_choices(body, "types", ACCOUNT_TYPE_VALUES, path, "type"),
            statuses=_choices(body, "statuses", ACCOUNT_STATUS_VALUES, path, "status"),
            contract_types=_choices(body, "contractTypes", CONTRACT_TYPE_VALUES, path, "contractType"),
            payment_methods=_choices(body, "paymentMethods", PAYMENT_METHOD_VALUES, path, "paymentMethod"),
            contract=_choice(body.get("contract"), CONTRACT_STATES, f"{path}.contract"),
            contract_ends_within_days=within,
            min_count=_int(body, "minCount", path, default=1, minimum=1),
            path=path,
        )

    def _contacts(self, body: Mapping[str, Any], path: str) -> ContactsCondition:
        _fields(body, path, ("days", "atLeast", "atMost", "kinds", "channels", "direction", "outcomes", "kind",
                             "channel", "outcome"))
        days = _days(body, path)
        at_least = _int(body, "atLeast", path, default=1, minimum=0)
        at_most = _int(body, "atMost", path, default=None, minimum=0)
        if at_most is not None and at_most < at_least:
            raise _bad(f"{path}.atMost", f"must not be below atLeast ({at_least})")
        return ContactsCondition(days, at_least, at_most,
                                 _choices(body, "kinds", CONTACT_KIND_VALUES, path, "kind"),
                                 self._channels(body, path),
                                 _choice(body.get("direction"), CONTACT_DIRECTION_VALUES, f"{path}.direction"),
                                 _choices(body, "outcomes", CONTACT_OUTCOME_VALUES, path, "outcome"), path)

    def _noContactSince(self, body: Mapping[str, Any], path: str) -> ContactsCondition:  # noqa: N802
        _fields(body, path, ("days", "kinds", "channels", "direction", "kind", "channel"))
        return ContactsCondition(_days(body, path), 0, 0, _choices(body, "kinds", CONTACT_KIND_VALUES, path, "kind"),
                                 self._channels(body, path),
                                 _choice(body.get("direction"), CONTACT_DIRECTION_VALUES, f"{path}.direction"),
                                 None, path)

    def _spendChange(self, body: Mapping[str, Any], path: str) -> SpendChangeCondition:  # noqa: N802
        _fields(body, path, ("days", "op", "value", "to"))
        op, value, to = _comparison(body, path)
        return SpendChangeCondition(_days(body, path), op, value, to, path)

    def _spend(self, body: Mapping[str, Any], path: str) -> SpendCondition:
        _fields(body, path, ("op", "value", "to"))
        return SpendCondition(*_comparison(body, path), path)

    def _score(self, body: Mapping[str, Any], path: str) -> ScoreCondition:
        _fields(body, path, ("name", "op", "value", "to"))
        name = _text(body, "name", path, required=True)
        if name.startswith(PROPENSITY):
            product = name[len(PROPENSITY):]
            if product not in self.data.products.index:
                raise _bad(f"{path}.name", f"unknown product {product!r} in {name!r}")
        elif name not in SCORES:
            raise _bad(f"{path}.name", f"unknown score {name!r} (expected {', '.join(SCORES)} or "
                                       f"{PROPENSITY}<product id>)")
        return ScoreCondition(name, *_comparison(body, path), path)

    def _channels(self, body: Mapping[str, Any], path: str) -> tuple[str, ...] | None:
        raw = body.get("channels")
        if body.get("channel") is not None:
            if raw is not None:
                raise _bad(f"{path}.channel", "give channels or channel, not both")
            if body["channel"] not in self.data.channels.index:
                raise _bad(f"{path}.channel", f"unknown channel {body['channel']!r}")
            return (body["channel"],)
        if raw is None:
            return None
        if not isinstance(raw, (list, tuple)) or not raw:
            raise _bad(f"{path}.channels", "must be a non-empty list of channel ids")
        for i, channel in enumerate(raw):
            if channel not in self.data.channels.index:
                raise _bad(f"{path}.channels[{i}]", f"unknown channel {channel!r}")
        return tuple(raw)


def _custom_keys(data: ProjectionData) -> set[str]:
    frame = data.facts.get("attributes")
    if frame is None or not len(frame):
        return set()
    key = frame["key"]
    if isinstance(key.dtype, pd.CategoricalDtype):  # the categories: no pass over the rows
        return {str(k) for k in key.cat.categories}
    return set(pd.unique(key.astype(object).dropna()))


def _fields(body: Mapping[str, Any], path: str, allowed: Sequence[str]) -> None:
    for name, value in body.items():
        if name not in allowed and value is not None:
            raise _bad(f"{path}.{name}", f"unknown field (expected {', '.join(allowed)})")


def _text(body: Mapping[str, Any], name: str, path: str, required: bool = False) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{path}.{name}", "must be a non-empty string")
    return value.strip()


def _int(body: Mapping[str, Any], name: str, path: str, default: int | None, minimum: int,
         maximum: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
            maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else (
            "a positive integer" if minimum == 1 else f"an integer of at least {minimum}")
        raise _bad(f"{path}.{name}", f"must be {bound}" if maximum is not None else f"must be {bound}")
    return value


def _days(body: Mapping[str, Any], path: str) -> int:
    value = body.get("days")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _bad(f"{path}.days", "must be a positive integer")
    if value > MAX_DAYS:
        raise _bad(f"{path}.days", f"must be at most {MAX_DAYS}")
    return value


def _choice(value: Any, allowed: Sequence[str], path: str, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise _bad(path, f"is required (one of {', '.join(allowed)})")
        return None
    if hasattr(value, "value"):  # an Enum member
        value = value.value
    if not isinstance(value, str) or value.upper() not in allowed:
        raise _bad(path, f"unknown value {value!r} (expected one of {', '.join(allowed)})")
    return value.upper()


def _choices(body: Mapping[str, Any], name: str, allowed: Sequence[str], path: str,
             single: str | None = None) -> tuple[str, ...] | None:
    """A list of enumeration values ``name``; ``single`` names a one-value alias
    (``type: POSTPAID`` for ``types: [POSTPAID]``) the JSON form accepts."""
    raw = body.get(name)
    if single is not None and body.get(single) is not None:
        if raw is not None:
            raise _bad(f"{path}.{single}", f"give {name} or {single}, not both")
        return (_choice(body[single], allowed, f"{path}.{single}", required=True),)  # type: ignore[return-value]
    if raw is None:
        return None
    if not isinstance(raw, (list, tuple)) or not raw:
        raise _bad(f"{path}.{name}", f"must be a non-empty list of {', '.join(allowed)}")
    return tuple(_choice(v, allowed, f"{path}.{name}[{i}]", required=True) for i, v in enumerate(raw))  # type: ignore[misc]


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise _bad(path, "must be a finite number")
    return float(value)


def _comparison(body: Mapping[str, Any], path: str) -> tuple[str, float, float | None]:
    op = _choice(body.get("op"), COMPARISONS, f"{path}.op", required=True)
    assert op is not None
    if body.get("value") is None:
        raise _bad(f"{path}.value", "is required")
    value = _number(body.get("value"), f"{path}.value")
    to = body.get("to")
    if op == "BETWEEN":
        if to is None:
            raise _bad(f"{path}.to", "BETWEEN needs an upper bound `to`")
        to = _number(to, f"{path}.to")
        if to < value:
            raise _bad(f"{path}.to", "must not be below value")
    elif to is not None:
        raise _bad(f"{path}.to", f"only BETWEEN takes `to` (op is {op})")
    return op, value, to


def _operand(value: Any, kind: str, key: str, path: str) -> Any:
    """One attribute operand, typed for the attribute's kind."""
    if hasattr(value, "value"):
        value = value.value
    if kind == "number":
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise _bad(path, f"{key} compares with numbers, got {value!r}") from None
        return _number(value, path)
    if kind == "date":
        if isinstance(value, datetime):
            return _naive(value)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        if isinstance(value, str):
            try:
                return _naive(datetime.fromisoformat(value.replace("Z", "+00:00")))
            except ValueError:
                raise _bad(path, f"{key} compares with ISO 8601 dates, got {value!r}") from None
        raise _bad(path, f"{key} compares with ISO 8601 dates, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _bad(path, "must be a string")
    text = str(value)
    if kind == "enum":
        allowed = ENUM_ATTRIBUTES[key]
        if text.upper() not in allowed:
            raise _bad(path, f"unknown {key} {text!r} (expected one of {', '.join(allowed)})")
        return text.upper()
    return text


def _naive(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo is not None else value


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Evaluation:
    """The members of one definition at one time: ``mask`` over ``data``'s customer rows.

    ``at`` is the reference time (naive UTC); ``as_of`` is set when a past time was asked for.
    """

    data: ProjectionData
    mask: np.ndarray
    base: np.ndarray
    at: datetime
    as_of: datetime | None
    definition: str
    order: np.ndarray = field(repr=False)

    @property
    def size(self) -> int:
        return int(self.mask.sum())

    @property
    def base_size(self) -> int:
        return int(self.base.sum())

    @property
    def share(self) -> float:
        """Members as a share of the base (0 when the base is empty)."""
        base = self.base_size
        return self.size / base if base else 0.0

    def member_rows(self) -> np.ndarray:
        """Rows of the members, in customer-id order."""
        return self.order[self.mask[self.order]]

    def page(self, skip: int, limit: int) -> tuple[list[str], bool]:
        """Ids of members ``skip .. skip+limit-1`` in id order, and whether more follow."""
        rows = self.member_rows()
        chosen = rows[skip: skip + limit]
        return [str(i) for i in self.data.ids.to_numpy()[chosen]], len(rows) > skip + limit

    def contains(self, customer_id: str) -> bool:
        """True when ``customer_id`` is a member."""
        row = self.data.row_of(customer_id)
        return row is not None and bool(self.mask[row])


@dataclass(frozen=True)
class ProfileItem:
    """One measure of the members against the base.

    ``kind`` is ``NUMERIC`` (``segment``/``base`` are means) or ``CATEGORY``
    (shares of customers with ``value``). ``difference`` is standardised (the
    mean difference in base standard deviations; for shares the difference in
    binomial standard deviations) and is what items are sorted by (largest
    absolute first); ``lift`` is segment / base.
    """

    measure: str
    kind: str
    value: str | None
    segment: float | None
    base: float | None
    lift: float | None
    difference: float


@dataclass
class Preview:
    """What ``previewSegment`` answers: the evaluation, one page of member ids and,
    computed on first access, the profile."""

    evaluation: Evaluation
    ids: list[str]
    skip: int
    has_next: bool
    engine: SegmentEngine = field(repr=False)
    #: What decides the personal measures of the profile (``SegmentEngine.profile``).
    authorise: Authorise | None = field(default=None, repr=False)
    _profile: list[ProfileItem] | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return self.evaluation.size

    @property
    def base_size(self) -> int:
        return self.evaluation.base_size

    @property
    def share(self) -> float:
        return self.evaluation.share

    @property
    def profile(self) -> list[ProfileItem]:
        """The members against the base (computed once, on first access)."""
        if self._profile is None:
            self._profile = self.engine.profile(self.evaluation, authorise=self.authorise)
        return self._profile


class SegmentEngine:
    """Evaluates definitions on the live projection and keeps saved segments in the store.

    ``data()`` returns the current ``ProjectionData`` snapshot; ``scores`` is the
    score lookup for ``score`` conditions. Thread-safe.
    """

    def __init__(self, store: GraphStore, data: Callable[[], ProjectionData],
                 scores: ScoreLookup | None = None) -> None:
        self.store = store
        self._data = data
        self._scores = scores
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._cache: OrderedDict[tuple, tuple[float, Evaluation]] = OrderedDict()
        self._measures: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._order: tuple[pd.Index, np.ndarray] | None = None
        self._memo_version: tuple = ()

    # ------------------------------------------------------------ evaluation

    def evaluate(self, definition: Any, as_of: datetime | None = None, now: datetime | None = None, *,
                 authorise: Authorise | None, path: str = "definition") -> Evaluation:
        """The members of ``definition`` (a JSON-like dict) now or as of a past time.

        ``authorise`` sees the personal fields the definition compares first (``Authorise``;
        ``path`` prefixes their paths) and raises ``Forbidden`` to refuse them.
        Reuses a cached evaluation of the same definition, time and data
        version (without ``as_of`` a cached one is reused for up to a minute).
        Raises ``InvalidInput`` naming the bad node (see ``parse_definition``),
        or when ``as_of`` lies in the future or a score is unavailable.
        """
        if authorise is not None:
            authorise(personal_uses(definition, path))
        data = self._data()
        as_of = _naive(as_of) if as_of is not None else None
        at = as_of or (now or utc_now())
        if as_of is not None and as_of > (now or utc_now()):
            raise InvalidInput("asOf must not lie in the future", field="asOf")
        text = definition_json(definition)
        key = (text, as_of, data.version, id(data))
        with self._lock:
            hit = self._cache.get(key)
            if hit and (as_of is not None or time.monotonic() - hit[0] < 60.0) and hit[1].data is data:
                self._cache.move_to_end(key)
                return hit[1]
        tree = parse_definition(definition, data)
        ctx = _Context(data, at, as_of is not None, self._scores, self)
        base = ctx.base()
        mask = ctx.eval(tree) & base
        evaluation = Evaluation(data, mask, base, at, as_of, text, self.order(data))
        with self._lock:
            self._cache[key] = (time.monotonic(), evaluation)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return evaluation

    def preview(self, definition: Any, skip: int = 0, limit: int = 50, as_of: datetime | None = None,
                now: datetime | None = None, *, authorise: Authorise | None) -> Preview:
        """Size and the page of ``limit`` members after the ``skip`` first (id order) of
        ``definition``; the profile is computed when ``Preview.profile`` is first read.
        ``authorise``: as for ``evaluate``."""
        evaluation = self.evaluate(definition, as_of, now, authorise=authorise)
        ids, has_next = evaluation.page(skip, limit)
        return Preview(evaluation, ids, skip, has_next, self, authorise)

    def order(self, data: ProjectionData) -> np.ndarray:
        """Customer rows sorted by id. Rows are never renumbered and new customers are
        appended, so the order of a previous snapshot is extended, not recomputed."""
        with self._lock:
            cached = self._order
        if cached is not None and cached[0] is data.ids:
            return cached[1]
        ids = data.ids
        if ids.is_monotonic_increasing:
            order = np.arange(len(ids), dtype=np.int64)
        elif cached is not None and 0 < len(cached[0]) < len(ids):
            previous, prev_order = cached
            values = ids.to_numpy()
            tail = np.arange(len(previous), len(ids), dtype=np.int64)
            tail = tail[np.argsort(values[tail].astype(str), kind="stable")]
            sorted_prev = values[prev_order].astype(str)
            where = np.searchsorted(sorted_prev, values[tail].astype(str))
            order = np.insert(prev_order, where, tail)
        else:
            order = np.argsort(ids.to_numpy().astype(str), kind="stable").astype(np.int64)
        with self._lock:
            self._order = (ids, order)
        return order

    def memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """``compute()`` cached under ``key`` = (name, data version, id(data), ...): whole-base
        arrays reused across evaluations. Entries of other data versions are dropped when a
        new version is seen, so memory holds one version's arrays."""
        with self._lock:
            if key in self._measures:
                self._measures.move_to_end(key)
                return self._measures[key]
        value = compute()
        with self._lock:
            if self._memo_version != key[1:3]:
                self._memo_version = key[1:3]
                self._measures.clear()
            self._measures[key] = value
            while len(self._measures) > MEASURE_CACHE_SIZE:
                self._measures.popitem(last=False)
        return value

    # ------------------------------------------------------------ profile

    def profile(self, evaluation: Evaluation, *, authorise: Authorise | None) -> list[ProfileItem]:
        """The members against the base on a handful of measures, most distinctive first.

        A measure derived from a personal field (``age``: the birth date) is left out when
        ``authorise`` refuses that field: the mean age of a one-customer segment is their age.
        Whole-base figures (per-row measures, base means, deviations and shares)
        are computed once per data version and minute; per segment only the
        members' rows are gathered.
        """
        hidden = set()
        for name in PERSONAL_MEASURES:
            try:
                if authorise is not None:
                    authorise({name: f"profile.{name}"})
            except Forbidden:
                hidden.add(name)
        measures = self.measures(evaluation.data, evaluation.at, evaluation.as_of is not None)
        members = evaluation.mask
        n_members = int(members.sum())
        items: list[ProfileItem] = []
        for name, (values, base_mean, std) in measures["numeric"].items():
            if name in hidden:
                continue
            in_segment = values[members]
            in_segment = in_segment[~np.isnan(in_segment)]
            segment_mean = float(in_segment.mean()) if len(in_segment) else None
            difference = (segment_mean - base_mean) / std if (
                segment_mean is not None and base_mean is not None and std > 0) else 0.0
            lift = segment_mean / base_mean if segment_mean is not None and base_mean else None
            items.append(ProfileItem(name, "NUMERIC", None, _round(segment_mean), _round(base_mean), _round(lift),
                                     round(difference, 4)))
        for name, (labels, codes, flags, base_shares) in measures["categorical"].items():
            if codes is not None:
                counts = np.bincount(codes[members] + 1, minlength=len(labels) + 1)[1:]
            else:
                counts = np.array([int(f[members].sum()) for f in flags])
            for label, count, base_share in zip(labels, counts, base_shares):
                segment_share = float(count) / n_members if n_members else None
                if not base_share and not segment_share:
                    continue
                difference = 0.0
                if segment_share is not None and 0 < base_share < 1:
                    difference = (segment_share - base_share) / float(np.sqrt(base_share * (1 - base_share)))
                lift = segment_share / base_share if segment_share is not None and base_share else None
                items.append(ProfileItem(name, "CATEGORY", label, _round(segment_share), _round(base_share),
                                         _round(lift), round(difference, 4)))
        items.sort(key=lambda item: (-abs(item.difference), item.measure, item.value or ""))
        return items

    def measures(self, data: ProjectionData, at: datetime, past: bool) -> dict[str, Any]:
        """Per-row profile measures at ``at`` with their base statistics (cached per data version
        and minute): ``numeric`` name -> (values, base mean, base deviation); ``categorical``
        name -> (labels, codes or None, flags or None, base shares)."""
        ctx = _Context(data, at, past, self._scores, self)
        return ctx.memo("profile", lambda: _measures(ctx))

    # ------------------------------------------------------------ saved segments

    def list(self) -> list[SavedSegment]:
        """Every saved segment, by name."""
        rows = self.store.export_nodes("Segment").to_pylist()
        return sorted((SavedSegment.from_row(r) for r in rows), key=lambda s: (s.name.casefold(), s.id))

    def get(self, segment_id: str) -> SavedSegment | None:
        """The saved segment ``segment_id``, or None."""
        row = self.store.nodes("Segment", [segment_id]).get(segment_id)
        return SavedSegment.from_row(row) if row else None

    def create(self, name: str, description: str | None, definition: Any, *,
               authorise: Authorise | None) -> SavedSegment:
        """Save a new segment. Raises ``Forbidden`` when ``authorise`` refuses a personal field
        of the definition, ``InvalidInput`` for a bad name or definition (nothing is written
        either way), ``Conflict`` when another segment has the name."""
        if authorise is not None:
            authorise(personal_uses(definition))
        name = _check_name(name)
        parse_definition(definition, self._data())
        with self._write_lock:
            existing = self.list()
            _check_unique(name, existing, None)
            ids = {s.id for s in existing}
            base = "SEG-" + (_slug(name) or "segment")
            segment_id, n = base, 1
            while segment_id in ids or self.get(segment_id) is not None:
                n += 1
                segment_id = f"{base}-{n}"
            now = utc_now()
            row = {"id": segment_id, "name": name, "description": description, "definition": definition_json(
                definition), "created_at": now, "updated_at": now, "version": 1}
            self.store.write([node_op("Segment", [row])])
        return SavedSegment.from_row(row)

    def update(self, segment_id: str, name: str | None = None, description: str | None = None,
               definition: Any = None, *, authorise: Authorise | None) -> SavedSegment:
        """Change a saved segment's name, description and/or definition (version + 1).

        Raises ``Forbidden`` when ``authorise`` refuses a personal field of the new
        definition, ``NotFound`` for an unknown id, ``InvalidInput`` for a bad name
        or definition, ``Conflict`` when another segment has the new name.
        """
        if definition is not None and authorise is not None:
            authorise(personal_uses(definition))
        if name is not None:
            name = _check_name(name)
        if definition is not None:
            parse_definition(definition, self._data())
        with self._write_lock:
            current = self.get(segment_id)
            if current is None:
                raise NotFound(f"no segment {segment_id!r}", field="id")
            if name is not None:
                _check_unique(name, self.list(), segment_id)
            row = {"id": segment_id, "updated_at": utc_now(), "version": current.version + 1}
            if name is not None:
                row["name"] = name
            if description is not None:
                row["description"] = description
            if definition is not None:
                row["definition"] = definition_json(definition)
            self.store.write([node_op("Segment", [row])])
        updated = self.get(segment_id)
        assert updated is not None
        return updated

    def delete(self, segment_id: str) -> bool:
        """Delete a saved segment; False when there was none."""
        with self._write_lock:
            if self.get(segment_id) is None:
                return False
            self.store.delete_nodes("Segment", [segment_id])
        return True


@dataclass(frozen=True)
class SavedSegment:
    """A segment as stored (``definition`` parsed from its JSON)."""

    id: str
    name: str
    description: str | None
    definition: Any
    created_at: datetime | None
    updated_at: datetime | None
    version: int

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SavedSegment:
        return cls(id=row["id"], name=row.get("name") or row["id"], description=row.get("description"),
                   definition=json.loads(row.get("definition") or "{}"), created_at=row.get("created_at"),
                   updated_at=row.get("updated_at"), version=int(row.get("version") or 1))


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("name must not be empty", field="name")
    name = name.strip()
    if len(name) > 200:
        raise InvalidInput("name is limited to 200 characters", field="name")
    return name


def _check_unique(name: str, existing: Sequence[SavedSegment], own_id: str | None) -> None:
    for segment in existing:
        if segment.id != own_id and segment.name.casefold() == name.casefold():
            raise Conflict(f"a segment named {segment.name!r} exists already ({segment.id})", field="name")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48].strip("-")


def _round(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def _measures(ctx: _Context) -> dict[str, Any]:
    """The profile measures of ``SegmentEngine.measures``, computed for one context."""
    data, n, base = ctx.data, ctx.n, ctx.base()
    n_base = int(base.sum())
    held = ctx.held_subscriptions()
    subs = data.fact("subscriptions")
    # Distinct (row, product) pairs as one integer key each: row * products + product code.
    width = len(subs["product"].cat.categories) + 1
    keys = np.unique(subs["row"].to_numpy()[held].astype(np.int64) * width
                     + subs["product"].cat.codes.to_numpy()[held].astype(np.int64) + 1)
    per_row = {
        "tenure_months": ctx.months_since("joined_on"),
        "age": np.floor(ctx.months_since("birth_date") / 12.0),
        "monthly_spend": ctx.monthly_spend(),
        "contacts_365d": ctx.contact_counts(365, None, None, None, None).astype(float),
        "complaints_365d": ctx.contact_counts(365, ("COMPLAINT",), None, None, None).astype(float),
        "revenue_90d": ctx.revenue(ctx.at - timedelta(days=90), ctx.at if ctx.past else None),
        "products_held": np.bincount(keys // width, minlength=n).astype(float),
    }
    numeric = {}
    for name, values in per_row.items():
        in_base = values[base]
        in_base = in_base[~np.isnan(in_base)]
        numeric[name] = (values, float(in_base.mean()) if len(in_base) else None,
                         float(in_base.std()) if len(in_base) else 0.0)

    def shares(codes: np.ndarray, count: int) -> np.ndarray:
        tally = np.bincount(codes[base] + 1, minlength=count + 1)[1:]
        return tally / n_base if n_base else np.zeros(count)

    categorical: dict[str, Any] = {}
    tier = data.customers["tier"]
    codes = tier.cat.codes.to_numpy().astype(np.int64)
    labels = [str(c) for c in tier.cat.categories]
    categorical["tier"] = (labels, codes, None, shares(codes, len(labels)))
    city = data.customers["city"]
    if isinstance(city.dtype, pd.CategoricalDtype) and len(city.cat.categories):
        all_codes = city.cat.codes.to_numpy().astype(np.int64)
        counts = np.bincount(all_codes[base] + 1, minlength=len(city.cat.categories) + 1)[1:]
        top = [int(i) for i in np.argsort(-counts, kind="stable")[:8] if counts[i] > 0]
        remap = np.full(len(city.cat.categories) + 1, -1, dtype=np.int64)
        remap[np.array(top, dtype=np.int64) + 1] = np.arange(len(top))
        codes = remap[all_codes + 1]
        labels = [str(city.cat.categories[i]) for i in top]
        categorical["city"] = (labels, codes, None, shares(codes, len(labels)))
    accounts = data.fact("accounts")
    open_accounts = ctx.open_accounts()
    rows = accounts["row"].to_numpy()
    types = [str(t) for t in accounts["type"].cat.categories]
    type_codes = accounts["type"].cat.codes.to_numpy()
    flags = [np.bincount(rows[open_accounts & (type_codes == i)], minlength=n) > 0 for i in range(len(types))]
    categorical["account_type"] = (types, None, flags,
                                   np.array([f[base].sum() / n_base if n_base else 0.0 for f in flags]))
    prefs = data.fact("preferences")
    if len(prefs):
        first = prefs[prefs["rank"].to_numpy() == 1]
        channel = np.full(n, -1, dtype=np.int64)
        channel[first["row"].to_numpy()] = first["channel"].cat.codes.to_numpy()
        names = [str(c) for c in prefs["channel"].cat.categories]
        categorical["preferred_channel"] = (names, channel, None, shares(channel, len(names)))
    return {"numeric": numeric, "categorical": categorical}


# --------------------------------------------------------------------------- vectorised evaluation


def _us(value: datetime) -> np.datetime64:
    return np.datetime64(value, "us")


class _Context:
    """Evaluates nodes for one snapshot at one reference time (arrays over customer rows)."""

    def __init__(self, data: ProjectionData, at: datetime, past: bool, scores: ScoreLookup | None,
                 engine: SegmentEngine | None = None) -> None:
        self.data = data
        self.at = at
        self.t = _us(at)
        self.day = _us(datetime(at.year, at.month, at.day))
        self.past = past
        self.scores = scores
        self.engine = engine
        self.n = data.size
        self._held: np.ndarray | None = None
        self._open: np.ndarray | None = None

    def memo(self, name: str, compute: Callable[[], Any], *key: Any) -> Any:
        """``compute()`` cached by the engine per data version, reference minute and ``key``."""
        if self.engine is None:
            return compute()
        return self.engine.memo((name, self.data.version, id(self.data), self.at.replace(second=0, microsecond=0),
                                 self.past, *key), compute)

    def base(self) -> np.ndarray:
        """The base at the reference time: present, not merged, joined by then (when asked as of a time)."""
        return self.memo("base", self._base)

    def _base(self) -> np.ndarray:
        base = self.data.base()
        if self.past:
            joined = self.data.customers["joined_on"].to_numpy()
            base = base & ~(joined > self.t)  # NaT compares False: unknown join dates stay
        return base

    def eval(self, node: Node) -> np.ndarray:
        if isinstance(node, AllOf):
            out = np.ones(self.n, dtype=bool)
            for child in node.children:
                out &= self.eval(child)
            return out
        if isinstance(node, AnyOf):
            out = np.zeros(self.n, dtype=bool)
            for child in node.children:
                out |= self.eval(child)
            return out
        if isinstance(node, Not):
            return ~self.eval(node.child)
        if isinstance(node, AttributeCondition):
            return self.attribute(node)
        if isinstance(node, HoldsCondition):
            return self.holds(node)
        if isinstance(node, AccountCondition):
            return self.account(node)
        if isinstance(node, ContactsCondition):
            counts = self.contact_counts(node.days, node.kinds, node.channels, node.direction, node.outcomes)
            out = counts >= node.at_least
            if node.at_most is not None:
                out &= counts <= node.at_most
            return out
        if isinstance(node, SpendChangeCondition):
            return _compare(self.spend_change(node.days), node.op, node.value, node.to)
        if isinstance(node, SpendCondition):
            return _compare(self.monthly_spend(), node.op, node.value, node.to)
        if isinstance(node, ScoreCondition):
            return _compare(self.score(node), node.op, node.value, node.to)
        raise AssertionError(f"unknown node {node!r}")

    # ---- attributes

    def attribute(self, node: AttributeCondition) -> np.ndarray:
        customers = self.data.customers
        if node.kind == "number":
            source = "joined_on" if node.key == "tenure_months" else "birth_date"
            months = self.months_since(source)
            values = months if node.key == "tenure_months" else np.floor(months / 12.0)
            return _number_op(values, node.op, node.values)
        if node.kind == "date":
            column = customers[node.key].to_numpy().astype("datetime64[us]")
            values = np.where(np.isnat(column), np.nan, column.astype(np.int64).astype(float))
            operands = tuple(float(_us(v).astype(np.int64)) for v in node.values)
            return _number_op(values, node.op, operands)
        if node.kind == "custom":
            values = self.custom_values(node.key)
            if node.op in ("GT", "GTE", "LT", "LTE", "BETWEEN"):
                try:
                    operands = tuple(float(v) for v in node.values)
                except ValueError:
                    return _text_op(values, node.op, node.values)
                numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
                return _number_op(numbers, node.op, operands)
            return _text_op(values, node.op, node.values)
        column = customers[node.key]
        if isinstance(column.dtype, pd.CategoricalDtype):
            categories = column.cat.categories.to_numpy(dtype=object)
            per_category = _text_op(categories, node.op, node.values) if len(categories) else np.zeros(0, bool)
            codes = column.cat.codes.to_numpy()
            missing = node.op == "MISSING"
            if not len(categories):
                return np.full(self.n, missing)
            return np.where(codes >= 0, per_category[np.maximum(codes, 0)], missing)
        return _text_op(column.to_numpy(dtype=object), node.op, node.values)

    def months_since(self, column: str) -> np.ndarray:
        """Whole months from a date column to the reference day (NaN when unknown; at least 0)."""
        return self.memo("months", lambda: self._months_since(column), column)

    def _months_since(self, column: str) -> np.ndarray:
        values = self.data.customers[column].to_numpy().astype("datetime64[D]")
        known = ~np.isnat(values)
        safe = np.where(known, values, np.datetime64("1970-01-01", "D"))
        month_start = safe.astype("datetime64[M]")
        day_of_month = (safe - month_start.astype("datetime64[D]")).astype(np.int64)
        today = self.day.astype("datetime64[D]")
        today_month = today.astype("datetime64[M]")
        today_day = int((today - today_month.astype("datetime64[D]")).astype(np.int64))
        months = (today_month - month_start).astype(np.int64) - (today_day < day_of_month)
        return np.where(known, np.maximum(months, 0), np.nan).astype(float)

    def custom_values(self, key: str) -> np.ndarray:
        """Latest observed value of custom attribute ``key`` per row (observed before the
        reference time when asked as of a time), None where there is none."""
        frame = self.data.facts.get("attributes")
        out = np.full(self.n, None, dtype=object)
        if frame is None or not len(frame):
            return out
        categories = frame["key"].cat.categories
        code = categories.get_indexer([key])[0]
        if code < 0:
            return out
        keep = frame["key"].cat.codes.to_numpy() == code
        observed = frame["observed_at"].to_numpy()
        if self.past:
            keep &= ~(observed >= self.t)
        rows = frame["row"].to_numpy()[keep]
        when = observed[keep].astype("datetime64[us]").astype(np.int64)  # NaT sorts first
        values = frame["value"].to_numpy(dtype=object)[keep]
        order = np.lexsort((when, rows))
        rows, values = rows[order], values[order]
        last = np.ones(len(rows), dtype=bool)
        last[:-1] = rows[1:] != rows[:-1]
        out[rows[last]] = values[last]
        return out

    # ---- relationships

    def held_subscriptions(self) -> np.ndarray:
        """Per subscription row: held at the reference time (ACTIVE or SUSPENDED, or CANCELLED
        with an end after it; started by then; not ended by then)."""
        if self._held is None:
            self._held = self.memo("held", self._held_subscriptions)
        return self._held

    def _held_subscriptions(self) -> np.ndarray:
        subs = self.data.fact("subscriptions")
        since = subs["since"].to_numpy()
        until = subs["until"].to_numpy()
        running = _in_categorical(subs["status"], ("ACTIVE", "SUSPENDED")) | (
            _in_categorical(subs["status"], ("CANCELLED",)) & (until > self.t))
        return running & ~(since > self.t) & ~(until <= self.t)

    def holds(self, node: HoldsCondition) -> np.ndarray:
        subs = self.data.fact("subscriptions")
        match = _in_categorical(subs["product"], list(node.products)) & self.held_subscriptions()
        return np.bincount(subs["row"].to_numpy()[match], minlength=self.n) >= node.min_count

    def monthly_spend(self) -> np.ndarray:
        """Monthly recurring spend per row: net fees of the subscriptions held at the reference
        time that are not suspended (``monthlyRevenue`` of the customer view, for now).
        Cached per data version and minute."""
        return self.memo("spend", self._monthly_spend)

    def _monthly_spend(self) -> np.ndarray:
        subs = self.data.fact("subscriptions")
        billed = self.held_subscriptions() & ~_in_categorical(subs["status"], ("SUSPENDED",))
        fee = np.nan_to_num(subs["monthly_fee"].to_numpy(dtype=float))
        discount = np.nan_to_num(subs["discount"].to_numpy(dtype=float))
        net = np.round(fee * (1.0 - discount), 2)
        return np.round(np.bincount(subs["row"].to_numpy()[billed], weights=net[billed], minlength=self.n), 2)

    def open_accounts(self) -> np.ndarray:
        """Per account row: opened by the reference time and not closed by then."""
        if self._open is None:
            self._open = self.memo("open_accounts", lambda: self._opened() & ~self._closed())
        return self._open

    def _opened(self) -> np.ndarray:
        return self.memo("opened", lambda: ~(self.data.fact("accounts")["opened_on"].to_numpy() > self.t))

    def _closed(self) -> np.ndarray:
        """Per account row: closed by the reference time (closed_on by then, or status
        CLOSED without a closing date)."""
        return self.memo("closed", self._closed_now)

    def _closed_now(self) -> np.ndarray:
        accounts = self.data.fact("accounts")
        closed_on = accounts["closed_on"].to_numpy()
        return (closed_on <= self.t) | (_in_categorical(accounts["status"], ("CLOSED",)) & np.isnat(closed_on))

    def account(self, node: AccountCondition) -> np.ndarray:
        """Accounts' status at the reference time: CLOSED when closed by then; an account
        closed later was ACTIVE before; otherwise its current status."""
        accounts = self.data.fact("accounts")
        closed = self._closed()
        match = self._opened().copy()
        if node.statuses:
            status = accounts["status"]
            later_closed = _in_categorical(status, ("CLOSED",))
            state = np.where(later_closed, "ACTIVE" in node.statuses, _in_categorical(status, node.statuses))
            match &= np.where(closed, "CLOSED" in node.statuses, state)
        else:
            match &= ~closed
        for column, wanted in (("type", node.types), ("contract_type", node.contract_types),
                               ("payment_method", node.payment_methods)):
            if wanted:
                match &= _in_categorical(accounts[column], wanted)
        end = accounts["contract_end"].to_numpy()
        if node.contract == "IN_CONTRACT":
            match &= end >= self.day
        elif node.contract == "OUT_OF_CONTRACT":
            match &= end < self.day
        elif node.contract == "NO_CONTRACT":
            match &= np.isnat(end)
        if node.contract_ends_within_days is not None:
            match &= (end >= self.day) & (end <= self.day + np.timedelta64(node.contract_ends_within_days, "D"))
        return np.bincount(accounts["row"].to_numpy()[match], minlength=self.n) >= node.min_count

    # ---- behaviour

    def contact_counts(self, days: int, kinds: Sequence[str] | None, channels: Sequence[str] | None,
                       direction: str | None, outcomes: Sequence[str] | None) -> np.ndarray:
        """Contacts per row in the ``days`` before the reference time, filtered."""
        contacts = self.data.fact("contacts")
        at = contacts["at"].to_numpy()
        in_window = at >= self.t - np.timedelta64(days, "D")
        if self.past:
            in_window &= at < self.t
        # The window is usually a small part of the history: filter the rest on its rows only.
        picked = np.flatnonzero(in_window)
        for column, wanted in (("kind", kinds), ("channel", channels), ("outcome", outcomes),
                               ("direction", (direction,) if direction else None)):
            if wanted:
                codes = contacts[column].cat.codes.to_numpy()[picked]
                lut = np.append(np.asarray(contacts[column].cat.categories.isin(list(wanted)), dtype=bool), False)
                picked = picked[lut[codes]]
        return np.bincount(contacts["row"].to_numpy()[picked], minlength=self.n)

    def _signed_events(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per event row: time (int64 microseconds), customer row and revenue amount
        (invoices, purchases, top-ups positive; refunds negative; payments 0). Per data version."""
        def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            events = self.data.fact("events")
            amount = np.abs(np.nan_to_num(events["amount"].to_numpy(dtype=float)))
            sign = np.where(_in_categorical(events["kind"], ("INVOICE", "PURCHASE", "TOP_UP")), 1.0,
                            np.where(_in_categorical(events["kind"], ("REFUND",)), -1.0, 0.0))
            at = events["at"].to_numpy().astype("datetime64[us]", copy=False).view(np.int64)  # NaT: smallest
            return at, events["row"].to_numpy(), amount * sign
        return self.engine.memo(("events", self.data.version, id(self.data)), compute) if self.engine \
            else compute()

    def revenue(self, start: datetime, end: datetime | None) -> np.ndarray:
        """Revenue per row in [start, end): invoices, purchases and top-ups minus refunds."""
        at, rows, signed = self._signed_events()
        keep = at >= int(_us(start).astype(np.int64))
        if end is not None:
            keep &= at < int(_us(end).astype(np.int64))
        return np.bincount(rows[keep], weights=signed[keep], minlength=self.n)

    def spend_change(self, days: int) -> np.ndarray:
        """Change in percent of revenue in the last ``days`` against the ``days`` before.

        With no previous revenue (zero or less) the change is +inf when revenue
        grew, -inf when it fell and 0 when both are equal (e.g. both zero).
        """
        at, rows, signed = self._signed_events()
        window = timedelta(days=days)
        start = int(_us(self.at - 2 * window).astype(np.int64))
        middle = int(_us(self.at - window).astype(np.int64))
        keep = at >= start
        if self.past:
            keep &= at < int(self.t.astype(np.int64))
        picked = np.flatnonzero(keep)
        current_window = at[picked] >= middle
        sums = np.bincount(rows[picked] * 2 + current_window, weights=signed[picked], minlength=2 * self.n)
        previous, current = sums[0::2], sums[1::2]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (current - previous) / previous * 100.0
        fallback = np.where(current > previous, np.inf, np.where(current < previous, -np.inf, 0.0))
        return np.where(previous > 0, ratio, fallback)

    def score(self, node: ScoreCondition) -> np.ndarray:
        # An untrained model is MODEL_NOT_TRAINED here as on a customer's score fields (one
        # cause, one code: docs/errors.md), with the node's path as for any bad node.
        path = f"{node.path}.name"
        if self.scores is None:
            raise ModelNotTrained(f"{path}: score {node.name!r} is not available: no model is trained", field=path)
        try:
            values = np.asarray(self.scores(node.name, self.data), dtype=float)
        except ModelNotTrained as exc:
            raise ModelNotTrained(f"{path}: {exc.message}", field=path) from exc
        except InvalidInput as exc:
            raise _bad(path, exc.message) from exc
        if values.shape != (self.n,):
            raise AssertionError(f"score {node.name} has {values.shape} values for {self.n} customers")
        return values


def _in_categorical(column: pd.Series, wanted: Sequence[str]) -> np.ndarray:
    """Rows of a categorical column whose value is one of ``wanted`` (missing: False).

    A lookup table over the categories with one extra False slot, indexed by
    the codes (code -1, missing, reads the extra slot): one gather per row.
    """
    lut = np.append(np.asarray(column.cat.categories.isin(list(wanted)), dtype=bool), False)
    return lut[column.cat.codes.to_numpy()]


def _compare(values: np.ndarray, op: str, value: float, to: float | None) -> np.ndarray:
    """``values op value`` (NaN never matches)."""
    if op == "GT":
        return values > value
    if op == "GTE":
        return values >= value
    if op == "LT":
        return values < value
    if op == "LTE":
        return values <= value
    return (values >= value) & (values <= (to if to is not None else value))


def _number_op(values: np.ndarray, op: str, operands: Sequence[float]) -> np.ndarray:
    """An attribute operator on floats (NaN is a missing value and matches only MISSING)."""
    present = ~np.isnan(values)
    if op == "EXISTS":
        return present
    if op == "MISSING":
        return ~present
    if op == "EQ":
        return values == operands[0]
    if op == "NE":
        return present & (values != operands[0])
    if op == "IN":
        return np.isin(values, operands)
    if op == "NOT_IN":
        return present & ~np.isin(values, operands)
    if op == "BETWEEN":
        return (values >= operands[0]) & (values <= operands[1])
    return _compare(values, op, operands[0], None)


def _text_op(values: np.ndarray, op: str, operands: Sequence[Any]) -> np.ndarray:
    """An attribute operator on text (case-insensitive; None and "" are missing values,
    which match only MISSING)."""
    series = pd.Series(values, dtype=object)
    present = (series.notna() & (series.astype(str) != "")).to_numpy() if len(series) else np.zeros(0, bool)
    if op == "EXISTS":
        return present
    if op == "MISSING":
        return ~present
    folded = series.where(pd.Series(present), "").astype(str).str.casefold()
    wanted = [str(v).casefold() for v in operands]
    if op == "EQ":
        out = (folded == wanted[0]).to_numpy()
    elif op == "NE":
        out = (folded != wanted[0]).to_numpy()
    elif op == "IN":
        out = folded.isin(wanted).to_numpy()
    elif op == "NOT_IN":
        out = ~folded.isin(wanted).to_numpy()
    elif op == "CONTAINS":
        out = folded.str.contains(wanted[0], regex=False).to_numpy()
    elif op == "BETWEEN":
        out = ((folded >= wanted[0]) & (folded <= wanted[1])).to_numpy()
    else:
        out = {"GT": folded > wanted[0], "GTE": folded >= wanted[0], "LT": folded < wanted[0],
               "LTE": folded <= wanted[0]}[op].to_numpy()
    return present & np.asarray(out, dtype=bool)
