"""A segment's definition: the condition tree (``AllOf``, ``AnyOf``, ``Not`` and the conditions)
and its parser.

``parse_definition(raw, data)`` checks a definition given as JSON-like data (from the API or a
saved segment) against the projection's catalogue and limits (``MAX_DEPTH``, ``MAX_NODES``,
``MAX_DAYS``) and returns its tree; a bad one raises ``InvalidInput`` naming the path of the
offending part (``definition.all[1].attribute``). ``personal_uses`` and ``masked_definition``
say which personal fields a definition reads and hide them from who may not see them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from cdp.errors import InvalidInput, NotFound
from cdp.security.permissions import personal_key
from cdp.projection.tables import ProjectionData
from graph.clock import naive_utc
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

#: Deepest nesting of all/any/not a definition may have.
MAX_DEPTH = 8
#: Most nodes (inner and leaves) a definition may have.
MAX_NODES = 64
#: Longest window, in days.
MAX_DAYS = 3660

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


Node = (AllOf | AnyOf | Not | AttributeCondition | HoldsCondition | AccountCondition | ContactsCondition
        | SpendChangeCondition | SpendCondition | ScoreCondition)

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


def definition_error(path: str, message: str) -> InvalidInput:
    return InvalidInput(f"{path}: {message}", field=path)


def _unknown(path: str, message: str) -> NotFound:
    """An id in a definition that names nothing: NOT_FOUND, as wherever an argument names an
    unknown product or channel (docs/errors.md)."""
    return NotFound(f"{path}: {message}", field=path)


_NODE_KINDS = ("all", "any", "not", "attribute", "holds", "account", "contacts", "noContactSince", "spendChange",
               "spend", "score")


class _Parser:
    def __init__(self, data: ProjectionData) -> None:
        self.data = data
        self.count = 0

    # ---- nodes

    def node(self, raw: Any, path: str, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise definition_error(path, f"nesting is limited to {MAX_DEPTH} levels")
        self.count += 1
        if self.count > MAX_NODES:
            raise definition_error(path, f"a definition is limited to {MAX_NODES} nodes")
        if not isinstance(raw, Mapping):
            raise definition_error(path, f"must be an object with exactly one of {', '.join(_NODE_KINDS)}")
        given = [k for k, v in raw.items() if v is not None]
        unknown = [k for k in given if k not in _NODE_KINDS]
        if unknown:
            raise definition_error(f"{path}.{unknown[0]}", f"unknown node kind (expected one of {', '.join(_NODE_KINDS)})")
        if len(given) != 1:
            found = f"found {', '.join(given)}" if given else "found none"
            raise definition_error(path, f"must set exactly one of {', '.join(_NODE_KINDS)} ({found})")
        kind = given[0]
        body, here = raw[kind], f"{path}.{kind}"
        if kind in ("all", "any"):
            if not isinstance(body, (list, tuple)):
                raise definition_error(here, "must be a list of conditions")
            if kind == "any" and not body:
                raise definition_error(here, "must hold at least one condition")
            children = tuple(self.node(c, f"{here}[{i}]", depth + 1) for i, c in enumerate(body))
            return AllOf(children, here) if kind == "all" else AnyOf(children, here)
        if kind == "not":
            return Not(self.node(body, here, depth + 1), here)
        if not isinstance(body, Mapping):
            raise definition_error(here, "must be an object")
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
            raise definition_error(f"{path}.key", f"unknown attribute {key!r} (a Customer property, "
                                      f"{', '.join(DERIVED_ATTRIBUTES)}, or a recorded custom attribute key)")
        if kind == "enum" and op in ("GT", "GTE", "LT", "LTE", "BETWEEN", "CONTAINS"):
            raise definition_error(f"{path}.op", f"{op} does not apply to {key} (use EQ, NE, IN, NOT_IN, EXISTS or MISSING)")
        if kind in ("date", "number") and op == "CONTAINS":
            raise definition_error(f"{path}.op", f"CONTAINS does not apply to {key}")
        value, values = body.get("value"), body.get("values")
        if op in ("EXISTS", "MISSING"):
            if value is not None or values is not None:
                raise definition_error(path, f"{op} takes no value")
            operands: list[Any] = []
        elif op in ("IN", "NOT_IN", "BETWEEN"):
            if value is not None:
                raise definition_error(f"{path}.value", f"{op} takes `values`, not `value`")
            if not isinstance(values, (list, tuple)) or not values:
                raise definition_error(f"{path}.values", f"{op} needs a non-empty list of values")
            if op == "BETWEEN" and len(values) != 2:
                raise definition_error(f"{path}.values", "BETWEEN needs exactly two values: [low, high]")
            operands = list(values)
        else:
            if values is not None:
                raise definition_error(f"{path}.values", f"{op} takes `value`, not `values`")
            if value is None:
                raise definition_error(f"{path}.value", f"{op} needs a value")
            operands = [value]
        where = f"{path}.values" if values is not None else f"{path}.value"
        typed = tuple(_operand(v, kind, key, f"{where}[{i}]" if values is not None else where)
                      for i, v in enumerate(operands))
        if op == "BETWEEN" and kind in ("date", "number") and typed[0] > typed[1]:
            raise definition_error(f"{path}.values", "BETWEEN low must not exceed high")
        return AttributeCondition(key, op, typed, kind, path)

    def _holds(self, body: Mapping[str, Any], path: str) -> HoldsCondition:
        _fields(body, path, ("product", "category", "bundle", "minCount"))
        product, category, bundle = body.get("product"), body.get("category"), body.get("bundle")
        given = [n for n, v in (("product", product), ("category", category), ("bundle", bundle))
                 if v is not None and v is not False]
        if len(given) != 1:
            raise definition_error(path, "set exactly one of product, category or bundle: true")
        products = self.data.products
        categories = products["category"] if "category" in products else pd.Series(dtype=object)
        bundles = set(self.data.bundles) | set(products.index[categories.to_numpy() == "BUNDLE"])
        if product is not None:
            product = _text(body, "product", path, required=True)
            if product not in products.index:
                raise _unknown(f"{path}.product", f"unknown product {product!r}")
            wanted = {product}
        elif category is not None:
            category = _choice(category, PRODUCT_CATEGORY_VALUES, f"{path}.category", required=True)
            wanted = set(products.index[categories.to_numpy() == category])
        else:
            if bundle is not True:
                raise definition_error(f"{path}.bundle", "must be true")
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
            raise definition_error(f"{path}.atMost", f"must not be below atLeast ({at_least})")
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
                raise _unknown(f"{path}.name", f"unknown product {product!r} in {name!r}")
        elif name not in SCORES:
            raise definition_error(f"{path}.name", f"unknown score {name!r} (expected {', '.join(SCORES)} or "
                                       f"{PROPENSITY}<product id>)")
        return ScoreCondition(name, *_comparison(body, path), path)

    def _channels(self, body: Mapping[str, Any], path: str) -> tuple[str, ...] | None:
        raw = body.get("channels")
        if body.get("channel") is not None:
            if raw is not None:
                raise definition_error(f"{path}.channel", "give channels or channel, not both")
            if body["channel"] not in self.data.channels.index:
                raise _unknown(f"{path}.channel", f"unknown channel {body['channel']!r}")
            return (body["channel"],)
        if raw is None:
            return None
        if not isinstance(raw, (list, tuple)) or not raw:
            raise definition_error(f"{path}.channels", "must be a non-empty list of channel ids")
        for i, channel in enumerate(raw):
            if channel not in self.data.channels.index:
                raise _unknown(f"{path}.channels[{i}]", f"unknown channel {channel!r}")
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
            raise definition_error(f"{path}.{name}", f"unknown field (expected {', '.join(allowed)})")


def _text(body: Mapping[str, Any], name: str, path: str, required: bool = False) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise definition_error(f"{path}.{name}", "must be a non-empty string")
    return value.strip()


@overload
def _int(body: Mapping[str, Any], name: str, path: str, default: int, minimum: int,
         maximum: int | None = None) -> int: ...
@overload
def _int(body: Mapping[str, Any], name: str, path: str, default: None, minimum: int,
         maximum: int | None = None) -> int | None: ...
def _int(body: Mapping[str, Any], name: str, path: str, default: int | None, minimum: int,
         maximum: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
            maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else (
            "a positive integer" if minimum == 1 else f"an integer of at least {minimum}")
        raise definition_error(f"{path}.{name}", f"must be {bound}" if maximum is not None else f"must be {bound}")
    return value


def _days(body: Mapping[str, Any], path: str) -> int:
    value = body.get("days")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise definition_error(f"{path}.days", "must be a positive integer")
    if value > MAX_DAYS:
        raise definition_error(f"{path}.days", f"must be at most {MAX_DAYS}")
    return value


@overload
def _choice(value: Any, allowed: Sequence[str], path: str, required: Literal[True]) -> str: ...
@overload
def _choice(value: Any, allowed: Sequence[str], path: str, required: bool = False) -> str | None: ...
def _choice(value: Any, allowed: Sequence[str], path: str, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise definition_error(path, f"is required (one of {', '.join(allowed)})")
        return None
    if hasattr(value, "value"):  # an Enum member
        value = value.value
    if not isinstance(value, str) or value.upper() not in allowed:
        raise definition_error(path, f"unknown value {value!r} (expected one of {', '.join(allowed)})")
    return value.upper()


def _choices(body: Mapping[str, Any], name: str, allowed: Sequence[str], path: str,
             single: str | None = None) -> tuple[str, ...] | None:
    """A list of enumeration values ``name``; ``single`` names a one-value alias
    (``type: POSTPAID`` for ``types: [POSTPAID]``) the JSON form accepts."""
    raw = body.get(name)
    if single is not None and body.get(single) is not None:
        if raw is not None:
            raise definition_error(f"{path}.{single}", f"give {name} or {single}, not both")
        return (_choice(body[single], allowed, f"{path}.{single}", required=True),)
    if raw is None:
        return None
    if not isinstance(raw, (list, tuple)) or not raw:
        raise definition_error(f"{path}.{name}", f"must be a non-empty list of {', '.join(allowed)}")
    return tuple(_choice(v, allowed, f"{path}.{name}[{i}]", required=True) for i, v in enumerate(raw))


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise definition_error(path, "must be a finite number")
    return float(value)


def _comparison(body: Mapping[str, Any], path: str) -> tuple[str, float, float | None]:
    op = _choice(body.get("op"), COMPARISONS, f"{path}.op", required=True)
    assert op is not None
    if body.get("value") is None:
        raise definition_error(f"{path}.value", "is required")
    value = _number(body.get("value"), f"{path}.value")
    to = body.get("to")
    if op == "BETWEEN":
        if to is None:
            raise definition_error(f"{path}.to", "BETWEEN needs an upper bound `to`")
        to = _number(to, f"{path}.to")
        if to < value:
            raise definition_error(f"{path}.to", "must not be below value")
    elif to is not None:
        raise definition_error(f"{path}.to", f"only BETWEEN takes `to` (op is {op})")
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
                raise definition_error(path, f"{key} compares with numbers, got {value!r}") from None
        return _number(value, path)
    if kind == "date":
        if isinstance(value, datetime):
            return naive_utc(value)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        if isinstance(value, str):
            try:
                return naive_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
            except ValueError:
                raise definition_error(path, f"{key} compares with ISO 8601 dates, got {value!r}") from None
        raise definition_error(path, f"{key} compares with ISO 8601 dates, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise definition_error(path, "must be a string")
    text = str(value)
    if kind == "enum":
        allowed = ENUM_ATTRIBUTES[key]
        if text.upper() not in allowed:
            raise definition_error(path, f"unknown {key} {text!r} (expected one of {', '.join(allowed)})")
        return text.upper()
    return text
