"""The customer profile: attribute values with provenance and survivorship.

Every profile value is an ``AttributeValue`` row (key, value, source,
identity_id, observed_at, accuracy, customer_maintained, verified). Several
sources may say different things about the same key; the ``ProfilePolicy``
decides which value is shown (survivorship), when a value is stale, and which
keys a customer may maintain. The policy is a TOML file
(``cdp/customers/profile_policy.toml`` by default, ``CDP_PROFILE_POLICY`` to change it).
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from cdp.customers.erased_customers import customer_to_record
from cdp.errors import InvalidInput, NotFound
from cdp.customers.provenance import settle_rows, value_id
from cdp.customers.write_rules import CUSTOMER_CHECKS, WriteRules, check_customer_value, text_problem
from graph.model import MODEL
from graph.store import GraphStore, node_op, relationship_op

Row = dict[str, Any]

DEFAULT_POLICY_PATH = Path(__file__).with_name("profile_policy.toml")

#: The survivorship criteria a policy may name, best value first under each.
CRITERIA = ("customer_verified", "verified", "customer_maintained", "most_recent", "most_trusted", "not_stale")

#: Source name of values a customer entered through self-service.
SELF_SERVICE_SOURCE = "CUSTOMER"


@dataclass(frozen=True)
class ProfilePolicy:
    """Survivorship order, staleness and self-service rules (see ``profile_policy.toml``)."""

    stale_after_days: int = 365
    survivorship: tuple[str, ...] = ("customer_verified", "not_stale", "most_recent", "most_trusted")
    survivorship_by_key: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source_trust: Mapping[str, float] = field(default_factory=dict)
    default_trust: float = 0.5
    self_service_allowed: frozenset[str] = frozenset()
    self_service_accuracy: float = 0.6
    verified_accuracy: float = 0.95

    @classmethod
    def load(cls, path: str | Path | None = None) -> ProfilePolicy:
        """Read a policy file (default: the packaged one).

        Raises ``InvalidInput`` naming the file for TOML errors, unknown
        criteria, or numbers out of range.
        """
        path = Path(path) if path else DEFAULT_POLICY_PATH
        try:
            raw = tomllib.loads(path.read_text())
        except OSError as exc:
            raise InvalidInput(f"profile policy {path} cannot be read: {exc}", field=str(path)) from exc
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"profile policy {path}: {exc}", field=str(path)) from exc
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: str = "profile policy") -> ProfilePolicy:
        """Build and check a policy from parsed TOML; ``InvalidInput`` on a bad value."""
        def criteria(value: Any, name: str) -> tuple[str, ...]:
            if not isinstance(value, list) or not value or any(c not in CRITERIA for c in value):
                raise InvalidInput(f"{where}: {name} must be a non-empty list of {', '.join(CRITERIA)}",
                                   field=name)
            return tuple(value)

        def unit(value: Any, name: str) -> float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise InvalidInput(f"{where}: {name} must be a number from 0 to 1, got {value!r}", field=name)
            return float(value)

        days = raw.get("stale_after_days", 365)
        if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
            raise InvalidInput(f"{where}: stale_after_days must be a positive integer", field="stale_after_days")
        sources = dict(raw.get("sources", {}))
        default_trust = unit(sources.pop("default_trust", 0.5), "sources.default_trust")
        self_service = raw.get("self_service", {})
        allowed = self_service.get("allowed", [])
        if not isinstance(allowed, list) or not all(isinstance(k, str) for k in allowed):
            raise InvalidInput(f"{where}: self_service.allowed must be a list of attribute keys",
                               field="self_service.allowed")
        return cls(
            stale_after_days=days,
            survivorship=criteria(raw.get("survivorship", list(cls.survivorship)), "survivorship"),
            survivorship_by_key={k: criteria(v, f"survivorship_by_key.{k}")
                                 for k, v in raw.get("survivorship_by_key", {}).items()},
            source_trust={k: unit(v, f"sources.{k}") for k, v in sources.items()},
            default_trust=default_trust,
            self_service_allowed=frozenset(allowed),
            self_service_accuracy=unit(self_service.get("accuracy", 0.6), "self_service.accuracy"),
            verified_accuracy=unit(self_service.get("verified_accuracy", 0.95), "self_service.verified_accuracy"),
        )

    def trust(self, source: str | None) -> float:
        """Trust in ``source`` (0..1)."""
        return self.source_trust.get(source or "", self.default_trust)

    def is_stale(self, value: Mapping[str, Any], now: datetime) -> bool:
        """True when the value was observed more than ``stale_after_days`` before ``now`` (or never)."""
        observed = value.get("observed_at")
        return observed is None or now - observed > timedelta(days=self.stale_after_days)

    def _score(self, value: Mapping[str, Any], criteria: Sequence[str], now: datetime) -> tuple:
        out: list[Any] = []
        for criterion in criteria:
            if criterion == "customer_verified":
                out.append(bool(value.get("customer_maintained") and value.get("verified")))
            elif criterion == "verified":
                out.append(bool(value.get("verified")))
            elif criterion == "customer_maintained":
                out.append(bool(value.get("customer_maintained")))
            elif criterion == "most_recent":
                out.append(value.get("observed_at") or datetime.min)
            elif criterion == "most_trusted":
                out.append((value.get("accuracy") or 0.0) * self.trust(value.get("source")))
            elif criterion == "not_stale":
                out.append(not self.is_stale(value, now))
        out.append(value.get("id") or "")  # a stable last resort
        return tuple(out)

    def choose(self, key: str, values: Sequence[Mapping[str, Any]], now: datetime) -> Mapping[str, Any] | None:
        """The surviving value among ``values`` of one attribute ``key`` (None when empty)."""
        if not values:
            return None
        criteria = self.survivorship_by_key.get(key, self.survivorship)
        return max(values, key=lambda v: self._score(v, criteria, now))


@dataclass(frozen=True)
class ProfileAttribute:
    """The shown value of one attribute with its provenance and quality flags."""

    key: str
    value: Row
    stale: bool
    conflicting: bool  # other current sources hold a different value
    candidates: int


@lru_cache(maxsize=8)
def load_policy(path: Path | None = None) -> ProfilePolicy:
    """The policy at ``path`` (default: the packaged one), read once per process."""
    return ProfilePolicy.load(path)


def by_key(values: Iterable[Row]) -> dict[str, list[Row]]:
    """Attribute values grouped by key."""
    out: dict[str, list[Row]] = defaultdict(list)
    for value in values:
        out[value["key"]].append(value)
    return dict(out)


def profile(values: Iterable[Row], policy: ProfilePolicy, now: datetime) -> list[ProfileAttribute]:
    """The shown profile: one ``ProfileAttribute`` per key, keys sorted.

    ``conflicting`` is true when the latest values of two sources disagree.
    """
    out = []
    for key, group in sorted(by_key(values).items()):
        chosen = policy.choose(key, group, now)
        assert chosen is not None
        latest: dict[str, Row] = {}
        for v in group:
            s = v.get("source") or ""
            if s not in latest or (v.get("observed_at") or datetime.min) > (latest[s].get("observed_at") or datetime.min):
                latest[s] = v
        distinct = {_normal(v.get("value")) for v in latest.values()}
        out.append(ProfileAttribute(key=key, value=dict(chosen), stale=policy.is_stale(chosen, now),
                                    conflicting=len(distinct) > 1, candidates=len(group)))
    return out


def history(values: Iterable[Row], key: str) -> list[Row]:
    """Every value of ``key``, newest observation first."""
    return sorted((v for v in values if v["key"] == key),
                  key=lambda v: (v.get("observed_at") or datetime.min, v.get("id") or ""), reverse=True)


def _normal(value: Any) -> str:
    return str(value or "").strip().lower()


def check_key(key: str) -> str:
    """An attribute key: 1-64 characters of letters, digits and ``_``; ``InvalidInput`` otherwise."""
    if not key or len(key) > 64 or not all(ch.isalnum() or ch == "_" for ch in key):
        raise InvalidInput(f"attribute key {key!r} must be 1-64 letters, digits or _", field="key")
    return key


# --------------------------------------------------------------------------- keeping the profile


def customer_fields(values: Iterable[Row], policy: ProfilePolicy, now: datetime) -> dict[str, Any]:
    """The ``Customer`` node properties the surviving values decide, typed for the store.

    Only keys that are ``Customer`` properties (email, phone, city, ...) appear;
    a value that cannot be converted to the property's type is skipped.
    """
    node = MODEL.node("Customer")
    out: dict[str, Any] = {}
    for attribute in profile(values, policy, now):
        if attribute.key == node.key or attribute.key not in node.property_names:
            continue
        text = attribute.value.get("value")
        kind = node.prop(attribute.key).type
        try:
            if kind == "DATE":
                out[attribute.key] = date.fromisoformat(text) if text else None
            elif kind == "TIMESTAMP":
                out[attribute.key] = datetime.fromisoformat(text) if text else None
            elif kind == "STRING":
                out[attribute.key] = text
        except ValueError:
            continue
    return out


@dataclass(frozen=True)
class ItemError:
    """Why one item of a batch was not applied: the attribute ``field`` (key) at fault and its
    ``path`` in the mutation's arguments (``changes[2].value``)."""

    field: str
    message: str
    code: str = "BAD_USER_INPUT"
    path: str = ""


def self_service_update(
    store: GraphStore, policy: ProfilePolicy, customer_id: str, changes: Sequence[tuple[str, str | None]],
    now: datetime, rules: WriteRules | None = None,
) -> tuple[list[Row], list[ItemError]]:
    """Record attribute values a customer entered, as far as the policy allows.

    Each ``(key, value)`` the policy allows and ``cdp.customers.write_rules`` accepts (``rules``;
    default: national phone numbers of +31, today from ``now``: the same rules as partner
    upserts and imports) becomes an ``AttributeValue`` from source ``CUSTOMER``,
    customer-maintained, unverified, with the policy's self-service accuracy, its value
    normalised as the rules say (phone in E.164, country in capitals, e-mail trimmed); the
    customer's profile fields are recomputed. All accepted changes are written in one
    transaction. Returns the written values and one ``ItemError`` per refused change, with
    its path (``changes[2].value``). Raises ``NotFound`` for an unknown customer,
    ``Conflict`` for an erased one (docs/privacy.md).
    """
    customer_to_record(store, customer_id)
    rules = rules or WriteRules(today=now.date())
    errors: list[ItemError] = []
    written: list[Row] = []
    identity = f"{SELF_SERVICE_SOURCE}:{customer_id}"
    for index, (key, value) in enumerate(changes):
        try:
            check_key(key)
        except InvalidInput as exc:
            errors.append(ItemError(key, exc.message, path=f"changes[{index}].key"))
            continue
        if key not in policy.self_service_allowed:
            errors.append(ItemError(key, f"customers may not change {key!r}", "FORBIDDEN", f"changes[{index}].key"))
            continue
        try:
            value = _checked_value(key, value, rules)
        except ValueError as exc:
            errors.append(ItemError(key, str(exc), path=f"changes[{index}].value"))
            continue
        written.append({
            "id": value_id(identity, key, now), "key": key, "value": value,
            "source": SELF_SERVICE_SOURCE, "identity_id": identity, "observed_at": now,
            "accuracy": policy.self_service_accuracy, "customer_maintained": True, "verified": False,
        })
    if written:
        _write_values(store, policy, customer_id, written, now)
    return written, errors


def verify_value(store: GraphStore, policy: ProfilePolicy, customer_id: str, value_id: str | int,
                 now: datetime) -> Row:
    """Mark one of the customer's values verified (accuracy raised to the policy's
    verified accuracy) and recompute the profile. ``NotFound`` when the customer
    has no such value."""
    values = store.attribute_values_of_customers([customer_id]).get(customer_id, [])
    found = next((v for v in values if str(v["id"]) == str(value_id)), None)  # GraphQL ids are text
    if found is None:
        raise NotFound(f"customer {customer_id!r} has no attribute value {value_id!r}", field="valueId")
    found = {**found, "verified": True, "accuracy": max(found.get("accuracy") or 0.0, policy.verified_accuracy)}
    _write_values(store, policy, customer_id, [found], now)
    return found


def _write_values(store: GraphStore, policy: ProfilePolicy, customer_id: str, new: list[Row], now: datetime) -> None:
    new[:] = settle_rows(store, new)  # the caller returns these rows, with their final ids
    existing = store.attribute_values_of_customers([customer_id]).get(customer_id, [])
    merged = {v["id"]: v for v in existing} | {v["id"]: v for v in new}
    fields = customer_fields(merged.values(), policy, now)
    store.write([
        node_op("AttributeValue", new),
        node_op("Customer", [{"id": customer_id, **fields, "updated_at": now}]),
        relationship_op("HAS_ATTRIBUTE", [{"from": customer_id, "to": v["id"]} for v in new]),
    ])


def _checked_value(key: str, value: str | None, rules: WriteRules) -> str | None:
    """``value`` as it is stored for attribute ``key``; ``ValueError`` (the reason) when
    ``cdp.customers.write_rules`` refuses it. Keys that are Customer properties with a rule of their
    own (e-mail, phone, country, birth date) get that rule; any text gets the text rule."""
    if value is None:
        return None
    if len(value) > 500:
        raise ValueError("value longer than 500 characters")
    problem = text_problem(value, key)
    if problem:
        raise ValueError(problem)
    if key not in CUSTOMER_CHECKS:
        return value
    if key == "birth_date":
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date (expected YYYY-MM-DD)") from None
        return check_customer_value(key, day, rules).isoformat()
    return check_customer_value(key, value, rules)
