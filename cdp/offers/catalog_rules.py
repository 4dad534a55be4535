"""Catalog rules for offers: which products a customer may be offered, and as what.

Rules live in the graph (``graph.model``):

* ``(p)-[:REQUIRES]->(q)``: ``p`` is only offered to customers holding one of
  its REQUIRES targets (any one: "TV requires broadband" links TV to every
  broadband plan);
* ``(p)-[:EXCLUDES]->(q)``: ``p`` and ``q`` cannot be held together (symmetric,
  stored once);
* ``(p)-[:UPGRADES_TO {discount}]->(q)``: ``q`` is an up-sell of ``p``. An
  upgrade replaces what it upgrades, so exclusions between the two are waived;
  upgrade paths are followed transitively;
* ``(b)-[:INCLUDES]->(c)``: bundles; holding a bundle holds its components;
* Product properties: ``eligible_account_types`` and ``eligible_tiers``
  (comma-separated, empty = any), ``eligible_contract`` (``ANY``,
  ``IN_CONTRACT``, ``OUT_OF_CONTRACT``, ``NO_CONTRACT``), ``min_tenure_months``,
  ``offer_from`` / ``offer_until`` (inclusive days), ``offerable`` (null = true);
  only ``ACTIVE`` products are offered; ``repeatable`` (null = false) keeps a held
  product on offer (top-ups, data packs: repeat purchases).

``read_rules`` reads the relationships, ``validate`` checks them (unknown
products, self references, a product requiring and excluding the same
product, REQUIRES and UPGRADES_TO cycles, eligibility values) and raises
``InvalidInput`` naming the product and field; ``set_product_rules`` replaces
one product's rules atomically. ``evaluate`` / ``eligible`` / ``offer_kinds`` /
``why_not`` apply the rules to customers of the analytic projection
(``cdp.projection.tables.ProjectionData``), vectorised with numpy: one boolean
matrix of customers x products per reason. The catalogue's rules are sparse
products x products matrices (cached per catalogue), so their cost follows the
number of rules, not the square of the catalogue.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cdp.errors import InvalidInput, NotFound
from cdp.projection.tables import ProjectionData, subscriptions_held
from graph.clock import utc_now
from graph.model import ACCOUNT_TYPE_VALUES, ELIGIBLE_CONTRACT_VALUES, TIER_VALUES
from graph.store import GraphStore, Row, WriteOp, node_op, relationship_op, unlink_op

#: The relationship types holding catalog rules.
RULE_TYPES = ("REQUIRES", "EXCLUDES", "UPGRADES_TO")

#: The Product properties holding eligibility and validity.
ELIGIBILITY_PROPERTIES = ("eligible_account_types", "eligible_tiers", "eligible_contract", "min_tenure_months",
                          "offer_from", "offer_until", "offerable")

#: Offer kinds of an eligible candidate.
CROSS_SELL, UP_SELL = "CROSS_SELL", "UP_SELL"

#: Reasons a candidate is not eligible, in the order ``why_not`` reports them.
REASONS = ("held", "lifecycle", "not_offerable", "not_yet", "expired", "requires", "excludes",
           "account_type", "tier", "contract", "tenure")

_DAY_US = 86_400_000_000
_NAT = np.iinfo(np.int64).min


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Upgrade:
    """An up-sell target with the discount offered on it (0..1, or None)."""

    target: str
    discount: float | None = None


@dataclass(frozen=True)
class Eligibility:
    """Who may be offered a product, and when. Empty tuples mean "any"."""

    account_types: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    contract: str = "ANY"
    min_tenure_months: int = 0
    offer_from: date | None = None
    offer_until: date | None = None
    offerable: bool = True

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Eligibility:
        """The eligibility of a product row (store row or projection row; missing values mean "any")."""
        tenure = _value(row.get("min_tenure_months"))
        offerable = _value(row.get("offerable"))
        return cls(
            account_types=_split(row.get("eligible_account_types")), tiers=_split(row.get("eligible_tiers")),
            contract=(_value(row.get("eligible_contract")) or "ANY").strip().upper(),
            min_tenure_months=int(tenure) if tenure is not None else 0,
            offer_from=_day(row.get("offer_from")), offer_until=_day(row.get("offer_until")),
            offerable=bool(offerable) if offerable is not None else True,
        )

    def properties(self) -> dict[str, Any]:
        """The Product properties storing this eligibility."""
        return {
            "eligible_account_types": ",".join(self.account_types) or None,
            "eligible_tiers": ",".join(self.tiers) or None,
            "eligible_contract": self.contract,
            "min_tenure_months": self.min_tenure_months,
            "offer_from": self.offer_from, "offer_until": self.offer_until, "offerable": self.offerable,
        }


@dataclass(frozen=True)
class CatalogRules:
    """Every REQUIRES, EXCLUDES and UPGRADES_TO rule, by source product id (as stored)."""

    requires: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    excludes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    upgrades: Mapping[str, tuple[Upgrade, ...]] = field(default_factory=dict)

    def excluded_with(self, product_id: str) -> tuple[str, ...]:
        """Products that cannot be held with ``product_id`` (either direction), sorted."""
        out = set(self.excludes.get(product_id, ()))
        out.update(p for p, targets in self.excludes.items() if product_id in targets)
        return tuple(sorted(out))

    def upgraded_from(self, product_id: str) -> tuple[str, ...]:
        """Products ``product_id`` is a direct upgrade of, sorted."""
        return tuple(sorted(p for p, ups in self.upgrades.items() if any(u.target == product_id for u in ups)))

    def with_product(self, product_id: str, requires: Sequence[str] | None = None,
                     excludes: Sequence[str] | None = None,
                     upgrades: Sequence[Upgrade] | None = None) -> CatalogRules:
        """These rules with one product's rules replaced (None: unchanged). Excludes are
        replaced in both directions: the product's exclusions become exactly ``excludes``."""
        req, exc, upg = dict(self.requires), dict(self.excludes), dict(self.upgrades)
        if requires is not None:
            req[product_id] = tuple(dict.fromkeys(requires))
        if excludes is not None:
            exc = {p: tuple(t for t in targets if t != product_id) for p, targets in exc.items()}
            exc[product_id] = tuple(dict.fromkeys(excludes))
        if upgrades is not None:
            upg[product_id] = tuple({u.target: u for u in upgrades}.values())
        return CatalogRules(_nonempty(req), _nonempty(exc), _nonempty(upg))


def read_rules(store: GraphStore) -> CatalogRules:
    """Every catalog rule of ``store`` (three reads). Raises StoreError/StoreUnavailable."""
    def pairs(rel_type: str) -> list[dict[str, Any]]:
        return store.export_relationships(rel_type).to_pylist()

    requires: dict[str, list[str]] = {}
    for r in pairs("REQUIRES"):
        requires.setdefault(r["from"], []).append(r["to"])
    excludes: dict[str, list[str]] = {}
    for r in pairs("EXCLUDES"):
        excludes.setdefault(r["from"], []).append(r["to"])
    upgrades: dict[str, list[Upgrade]] = {}
    for r in pairs("UPGRADES_TO"):
        upgrades.setdefault(r["from"], []).append(Upgrade(r["to"], r.get("discount")))
    return CatalogRules(
        {k: tuple(sorted(v)) for k, v in requires.items()}, {k: tuple(sorted(v)) for k, v in excludes.items()},
        {k: tuple(sorted(v, key=lambda u: u.target)) for k, v in upgrades.items()})


def validate(products: Mapping[str, Mapping[str, Any]], rules: CatalogRules, only: str | None = None) -> None:
    """Check ``rules`` and the eligibility of ``products`` (rows by id); raise
    ``InvalidInput`` naming the product and field of the first problem.

    ``only``: check just what involves that product (its rules, its eligibility,
    cycles through it), so one product can be fixed while another is broken.
    """
    def mine(product_id: str) -> bool:
        return only is None or product_id == only

    for rel_type, field_name, table in (("REQUIRES", "requires", rules.requires),
                                        ("EXCLUDES", "excludes", rules.excludes),
                                        ("UPGRADES_TO", "upgradesTo", {k: tuple(u.target for u in v)
                                                                      for k, v in rules.upgrades.items()})):
        for source, targets in sorted(table.items()):
            if not mine(source):
                continue
            if source not in products:
                raise NotFound(f"{rel_type} from unknown product {source!r}", field="productId")
            for target in targets:
                if target not in products:
                    raise NotFound(f"product {source}: {field_name} names unknown product {target!r}",
                                       field=field_name)
                if target == source:
                    raise InvalidInput(f"product {source}: {field_name} names the product itself", field=field_name)
    for source, ups in sorted(rules.upgrades.items()):
        for k, u in enumerate(ups):
            if mine(source) and u.discount is not None and not 0.0 <= u.discount <= 1.0:
                raise InvalidInput(f"product {source}: upgrade to {u.target}: discount must be within 0..1, "
                                   f"got {u.discount}", field=f"upgradesTo[{k}].discount")
    for source in sorted(set(rules.requires) | set(rules.excludes)):
        if not mine(source) and (only is None or only not in rules.requires.get(source, ())
                                 and only not in rules.excludes.get(source, ())):
            continue
        both = set(rules.requires.get(source, ())) & set(rules.excluded_with(source))
        if both:
            raise InvalidInput(f"product {source} both requires and excludes {', '.join(sorted(both))}",
                               field="excludes")
    for rel_type, graph in (("REQUIRES", rules.requires),
                            ("UPGRADES_TO", {k: tuple(u.target for u in v) for k, v in rules.upgrades.items()})):
        cycle = _cycle(graph)
        if cycle and (only is None or only in cycle):
            raise InvalidInput(f"product {cycle[0]}: {rel_type} cycle {' -> '.join(cycle)}",
                               field="requires" if rel_type == "REQUIRES" else "upgradesTo")
    for product_id, row in sorted(products.items()):
        if mine(product_id):
            check_eligibility(product_id, Eligibility.from_row(row))


def check_eligibility(product_id: str, e: Eligibility) -> None:
    """Raise ``InvalidInput`` naming the product and field when ``e`` holds an unknown value."""
    for name, values, allowed in (("eligibility.accountTypes", e.account_types, ACCOUNT_TYPE_VALUES),
                                  ("eligibility.tiers", e.tiers, TIER_VALUES)):
        bad = [v for v in values if v not in allowed]
        if bad:
            raise InvalidInput(f"product {product_id}: {name}: unknown value(s) {', '.join(bad)} "
                               f"(expected {', '.join(allowed)})", field=name)
    if e.contract not in ELIGIBLE_CONTRACT_VALUES:
        raise InvalidInput(f"product {product_id}: eligibility.contract: unknown value {e.contract!r} "
                           f"(expected {', '.join(ELIGIBLE_CONTRACT_VALUES)})", field="eligibility.contract")
    if e.min_tenure_months < 0:
        raise InvalidInput(f"product {product_id}: eligibility.minTenureMonths must not be negative",
                           field="eligibility.minTenureMonths")
    if e.offer_from and e.offer_until and e.offer_from > e.offer_until:
        raise InvalidInput(f"product {product_id}: offerFrom {e.offer_from} is after offerUntil {e.offer_until}",
                           field="eligibility.offerUntil")


def set_product_rules(store: GraphStore, product_id: str, requires: Sequence[str] | None = None,
                      excludes: Sequence[str] | None = None, upgrades: Sequence[Upgrade] | None = None,
                      eligibility: Eligibility | None = None) -> Row:
    """Replace one product's rules (None: leave that part as it is) in one write.

    Returns the product's stored row afterwards. Raises ``NotFound`` for an
    unknown product, ``InvalidInput`` (naming product and field) for rules that
    do not validate; nothing is written then.
    """
    products = store.products()
    if product_id not in products:
        raise NotFound(f"no product {product_id!r}", field="productId")
    current = read_rules(store)
    rules = current.with_product(product_id, requires, excludes, upgrades)
    row = dict(products[product_id])
    if eligibility is not None:
        row.update(eligibility.properties())
    validate({**products, product_id: row}, rules, only=product_id)
    ops: list[WriteOp] = []
    if requires is not None:
        ops += _replace("REQUIRES", [(product_id, t) for t in current.requires.get(product_id, ())],
                        [{"from": product_id, "to": t} for t in rules.requires.get(product_id, ())])
    if excludes is not None:
        old = [(product_id, t) for t in current.excludes.get(product_id, ())]
        old += [(p, product_id) for p, targets in current.excludes.items() if product_id in targets]
        ops += _replace("EXCLUDES", old, [{"from": product_id, "to": t} for t in rules.excludes.get(product_id, ())])
    if upgrades is not None:
        ops += _replace("UPGRADES_TO", [(product_id, u.target) for u in current.upgrades.get(product_id, ())],
                        [{"from": product_id, "to": u.target, "discount": u.discount}
                         for u in rules.upgrades.get(product_id, ())])
    if eligibility is not None:
        ops.append(node_op("Product", [{"id": product_id, **eligibility.properties()}]))
    if ops:
        store.write(ops)
    return store.products([product_id])[product_id]


def _replace(rel_type: str, old: list[tuple[str, str]], new: list[dict[str, Any]]) -> list[WriteOp]:
    ops = []
    if old:
        ops.append(unlink_op(rel_type, [{"from": f, "to": t} for f, t in old]))
    if new:
        ops.append(relationship_op(rel_type, new))
    return ops


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Evaluation:
    """The rules applied to some customers at one time.

    ``products``: product ids (columns); ``rows``: customer rows (lines);
    ``failing``: per reason of ``REASONS``, a (rows x products) mask of
    candidates that reason rules out; ``upsell``: candidates that upgrade
    (transitively) something the customer holds.
    """

    products: pd.Index
    rows: np.ndarray
    failing: dict[str, np.ndarray]
    upsell: np.ndarray

    @property
    def eligible(self) -> np.ndarray:
        """(rows x products) boolean: no reason rules the candidate out."""
        out = np.ones((len(self.rows), len(self.products)), dtype=bool)
        for mask in self.failing.values():
            out &= ~mask
        return out

    def kinds(self) -> np.ndarray:
        """(rows x products) object array: ``UP_SELL`` / ``CROSS_SELL`` for eligible candidates, else None."""
        out = np.full((len(self.rows), len(self.products)), None, dtype=object)
        ok = self.eligible
        out[ok & self.upsell] = UP_SELL
        out[ok & ~self.upsell] = CROSS_SELL
        return out


def evaluate(data: ProjectionData, rows: Sequence[int] | np.ndarray, at: datetime | None,
             rules: CatalogRules) -> Evaluation:
    """Apply ``rules`` to the customers at ``rows`` of ``data`` as of ``at`` (naive UTC; None: now).

    Holdings, accounts and contracts are those active at ``at``; tenure is
    measured at ``at``; validity dates are compared with ``at``'s day.
    """
    rows = np.asarray(rows, dtype=np.int64)
    at = at or utc_now()
    t = np.datetime64(at, "us").astype(np.int64)
    day = at.date()
    products = data.products
    ids = pd.Index(products.index.astype(object)) if len(products) else pd.Index([], dtype=object)
    n, p = len(rows), len(ids)
    position = np.full(max(data.size, 1), -1, dtype=np.int64)
    position[rows] = np.arange(n)

    held = _held(data, position, t, ids, n)
    c = _catalogue(products, data.bundles, rules, ids)
    # The catalogue's rules are sparse products x products matrices: a customer row times one
    # of them costs O(rows x rule edges), so a 20,000-product catalogue with few rules is cheap.
    held = held | _reaches(held, c.bundles)
    repeatable = c.repeatable[None, :] & held
    failing: dict[str, np.ndarray] = {"held": held & ~repeatable}
    failing["lifecycle"] = np.broadcast_to(~c.active, (n, p))
    failing["not_offerable"] = np.broadcast_to(~c.offerable, (n, p))
    failing["not_yet"] = np.broadcast_to(c.offer_from > day.toordinal(), (n, p))
    failing["expired"] = np.broadcast_to(c.offer_until < day.toordinal(), (n, p))
    failing["requires"] = c.requiring[None, :] & ~_reaches(held, c.requires.T.tocsr())
    failing["excludes"] = _reaches(held, c.excludes_not_upgrades)

    types, tiers, contract, tenure = _customer_state(data, rows, position, t, n)
    # numpy's stubs type any(axis=0) as maybe a scalar; of a 2-D array it is a 1-D array
    failing["account_type"] = c.wanted_types.any(axis=0)[None, :] & ~(types.astype(np.float32)  # type: ignore[index]
                                                                       @ c.wanted_types.astype(np.float32) > 0)
    failing["tier"] = c.wanted_tiers.any(axis=0)[None, :] & ~(tiers.astype(np.float32)  # type: ignore[index]
                                                               @ c.wanted_tiers.astype(np.float32) > 0)
    need = c.contract
    in_c, out_c, none_c = contract
    failing["contract"] = ((need == "IN_CONTRACT")[None, :] & ~in_c[:, None]) \
        | ((need == "OUT_OF_CONTRACT")[None, :] & ~out_c[:, None]) \
        | ((need == "NO_CONTRACT")[None, :] & ~none_c[:, None])
    minimum = c.min_tenure
    failing["tenure"] = (minimum > 0)[None, :] & ~(np.nan_to_num(tenure, nan=-1.0)[:, None] >= minimum[None, :])
    upsell = _reaches(held, c.upgrades)
    return Evaluation(ids, rows, {k: np.asarray(failing[k]) for k in REASONS}, upsell)


def eligible(data: ProjectionData, rows: Sequence[int] | np.ndarray, at: datetime | None,
             rules: CatalogRules) -> np.ndarray:
    """(len(rows) x products) boolean matrix: may each customer be offered each product
    (columns in ``data.products`` order) at ``at``."""
    return evaluate(data, rows, at, rules).eligible


def offer_kinds(data: ProjectionData, rows: Sequence[int] | np.ndarray, at: datetime | None,
                rules: CatalogRules) -> np.ndarray:
    """(len(rows) x products) ``UP_SELL`` / ``CROSS_SELL`` / None (not eligible)."""
    return evaluate(data, rows, at, rules).kinds()


@dataclass(frozen=True)
class OfferCheck:
    """Whether one customer may be offered one product, and why not.

    ``failing``: the failing rules (``REASONS`` codes, in that order); ``reasons``:
    one sentence per failing rule; ``kind``: ``UP_SELL`` / ``CROSS_SELL`` when
    eligible, else None.
    """

    product: str
    eligible: bool
    kind: str | None
    failing: tuple[str, ...]
    reasons: tuple[str, ...]


def explain(data: ProjectionData, row: int, product_id: str, at: datetime | None,
            rules: CatalogRules) -> OfferCheck:
    """Every rule applied to customer ``row`` of ``data`` and ``product_id`` at ``at``
    (None: now). Raises NotFound for a product not in the catalogue."""
    if product_id not in data.products.index:
        raise NotFound(f"no product {product_id!r}", field="productId")
    ev = evaluate(data, [row], at, rules)
    column = int(ev.products.get_indexer([product_id])[0])
    failing = tuple(reason for reason in REASONS if ev.failing[reason][0, column])
    texts = _sentences(ev, product_id, rules, data)
    eligible = not failing
    kind = (UP_SELL if ev.upsell[0, column] else CROSS_SELL) if eligible else None
    return OfferCheck(product_id, eligible, kind, failing, tuple(texts[r] for r in failing))


def why_not(data: ProjectionData, row: int, product_id: str, at: datetime | None,
            rules: CatalogRules) -> list[str]:
    """Why customer ``row`` may not be offered ``product_id`` at ``at``: one sentence per
    failing rule, in ``REASONS`` order; empty when eligible. Raises NotFound for an
    unknown product."""
    return list(explain(data, row, product_id, at, rules).reasons)


def _sentences(ev: Evaluation, product_id: str, rules: CatalogRules, data: ProjectionData) -> dict[str, str]:
    """One sentence per rule for ``product_id`` and the (one) customer of ``ev``."""
    e = Eligibility.from_row(data.products.loc[product_id])
    lifecycle = data.products.loc[product_id].get("lifecycle")
    held = set(ev.products[ev.failing["held"][0]])
    texts = {
        "held": "already held (directly or through a bundle)",
        "lifecycle": f"lifecycle is {lifecycle}, not ACTIVE",
        "not_offerable": "not offerable",
        "not_yet": f"offered from {e.offer_from}",
        "expired": f"offered until {e.offer_until}",
        "requires": f"requires one of {', '.join(rules.requires.get(product_id, ()))}",
        "excludes": f"cannot be held with {', '.join(p for p in rules.excluded_with(product_id) if p in held)}",
        "account_type": f"needs an open {' or '.join(e.account_types)} account",
        "tier": f"only for tiers {', '.join(e.tiers)}",
        "contract": {"IN_CONTRACT": "only for customers in contract",
                     "OUT_OF_CONTRACT": "only for customers out of contract",
                     "NO_CONTRACT": "only for customers without a contract"}.get(e.contract, ""),
        "tenure": f"needs {e.min_tenure_months} months of tenure",
    }
    return texts


# --------------------------------------------------------------------------- helpers


def _held(data: ProjectionData, position: np.ndarray, t: int | np.int64, ids: pd.Index, n: int) -> np.ndarray:
    """(n x products): active subscriptions at ``t`` of the evaluated customers."""
    out = np.zeros((n, len(ids)), dtype=bool)
    s = data.fact("subscriptions")
    if not len(s) or not len(ids):
        return out
    pos = position[s["row"].to_numpy()]
    active = (pos >= 0) & subscriptions_held(s, t)
    column = ids.get_indexer(s["product"].astype(object).to_numpy())
    keep = active & (column >= 0)
    out[pos[keep], column[keep]] = True
    return out


def _customer_state(data: ProjectionData, rows: np.ndarray, position: np.ndarray, t: int | np.int64, n: int
                    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """Open account types (n x types), tier (n x tiers), contract state (in, out, none) and tenure months."""
    types = np.zeros((n, len(ACCOUNT_TYPE_VALUES)), dtype=bool)
    in_c, ended = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    a = data.fact("accounts")
    if len(a):
        pos = position[a["row"].to_numpy()]
        opened, closed, end = _us(a["opened_on"]), _us(a["closed_on"]), _us(a["contract_end"])
        is_closed = ((closed != _NAT) & (closed <= t)) | ((a["status"] == "CLOSED").to_numpy() & (closed == _NAT))
        open_ = (pos >= 0) & ((opened == _NAT) | (opened <= t)) & ~is_closed
        kind = a["type"].astype(object).to_numpy()
        for k, name in enumerate(ACCOUNT_TYPE_VALUES):
            types[pos[open_ & (kind == name)], k] = True
        contract_type = a["contract_type"].astype(object).to_numpy()
        has = open_ & (contract_type != "NO_CONTRACT") & pd.notna(contract_type) & (end != _NAT)
        in_c[pos[has & (end > t)]] = True
        ended[pos[has & (end <= t)]] = True
    tier = data.customers["tier"].astype(object).to_numpy()[rows]
    tiers = np.stack([tier == name for name in TIER_VALUES], axis=1) if n else \
        np.zeros((0, len(TIER_VALUES)), dtype=bool)
    joined = _us(data.customers["joined_on"])[rows]
    tenure = np.where(joined == _NAT, np.nan, np.maximum((t - joined) / _DAY_US / 30.44, 0))
    return types, tiers, (in_c, ended & ~in_c, ~in_c & ~ended), tenure


@dataclass(frozen=True)
class _Catalogue:
    """The catalogue-level arrays ``evaluate`` needs: rules as sparse (products x products)
    CSR matrices, and each product's eligibility as arrays over products."""

    bundles: sp.csr_matrix
    requires: sp.csr_matrix
    excludes: sp.csr_matrix  # symmetric
    upgrades: sp.csr_matrix  # transitive
    excludes_not_upgrades: sp.csr_matrix  # exclusions an upgrade does not waive
    requiring: np.ndarray  # products with at least one REQUIRES target
    repeatable: np.ndarray  # products offered again while held (``Product.repeatable``)
    active: np.ndarray
    offerable: np.ndarray
    offer_from: np.ndarray  # day ordinals; a minimum where none
    offer_until: np.ndarray  # day ordinals; a maximum where none
    wanted_types: np.ndarray  # account types x products
    wanted_tiers: np.ndarray  # tiers x products
    contract: np.ndarray
    min_tenure: np.ndarray
    rules_of: list[Eligibility]


#: The last catalogue's matrices, with the objects they were built from (kept alive, so
#: their ids stay theirs): one customer's offers do not rebuild them on every call.
_last_catalogue: tuple[tuple[Any, ...], _Catalogue] | None = None
_catalogue_lock = threading.Lock()


def _catalogue(products: pd.DataFrame, bundles: Mapping[str, Sequence[str]], rules: CatalogRules,
               ids: pd.Index) -> _Catalogue:
    """``_Catalogue`` of ``products`` / ``bundles`` / ``rules`` (cached while the same objects
    come back: a projection snapshot and its subsets share them)."""
    global _last_catalogue
    key = (products, bundles, rules)
    with _catalogue_lock:
        last = _last_catalogue
        if last is not None and all(a is b for a, b in zip(last[0], key)):
            return last[1]
        excludes = _matrix(ids, rules.excludes)
        excludes = (excludes + excludes.T).tocsr()
        upgrades = _closure(_matrix(ids, {k: tuple(u.target for u in v) for k, v in rules.upgrades.items()}))
        requires = _matrix(ids, rules.requires)
        rules_of = [Eligibility.from_row(r) for r in products.to_dict("records")] if len(ids) else []
        p = len(ids)
        lifecycle = products["lifecycle"].to_numpy(dtype=object) if p and "lifecycle" in products \
            else np.full(p, None, dtype=object)
        repeatable = products["repeatable"].to_numpy(dtype=object) if p and "repeatable" in products \
            else np.full(p, None, dtype=object)
        out = _Catalogue(
            bundles=_matrix(ids, dict(bundles)),
            requires=requires, excludes=excludes, upgrades=upgrades,
            excludes_not_upgrades=(excludes - excludes.multiply(upgrades)).tocsr(),
            requiring=np.asarray(requires.sum(axis=1)).ravel() > 0,
            repeatable=np.array([_value(v) is True or _value(v) == 1 for v in repeatable], dtype=bool),
            active=np.asarray(lifecycle == "ACTIVE", dtype=bool),
            offerable=np.array([e.offerable for e in rules_of], dtype=bool),
            offer_from=np.array([e.offer_from.toordinal() if e.offer_from else 0 for e in rules_of], dtype=np.int64),
            offer_until=np.array([e.offer_until.toordinal() if e.offer_until else 10 ** 9 for e in rules_of],
                                 dtype=np.int64),
            wanted_types=np.array([[k in e.account_types for e in rules_of] for k in ACCOUNT_TYPE_VALUES],
                                  dtype=bool).reshape(len(ACCOUNT_TYPE_VALUES), p),
            wanted_tiers=np.array([[k in e.tiers for e in rules_of] for k in TIER_VALUES],
                                  dtype=bool).reshape(len(TIER_VALUES), p),
            contract=np.array([e.contract for e in rules_of], dtype=object),
            min_tenure=np.array([e.min_tenure_months for e in rules_of], dtype=float),
            rules_of=rules_of,
        )
        _last_catalogue = (key, out)
        return out


def _reaches(held: np.ndarray, m: sp.csr_matrix) -> np.ndarray:
    """(rows x products) boolean: the row holds some ``i`` with ``m[i, j]`` set. O(held cells
    touching a rule), not O(rows x products x products)."""
    if not m.nnz:
        return np.zeros(held.shape, dtype=bool)
    sources = np.flatnonzero(np.diff(m.indptr) > 0)  # products with an edge out
    part = held[:, sources]
    if not part.any():
        return np.zeros(held.shape, dtype=bool)
    # float32: BLAS-free sparse product; sums of 0/1 terms stay exact far beyond any catalogue.
    return np.asarray(m[sources].T.dot(part.T.astype(np.float32)).T) > 0


def _matrix(ids: pd.Index, edges: Mapping[str, Sequence[str]]) -> sp.csr_matrix:
    """(products x products) sparse boolean adjacency of ``edges`` (unknown ids dropped)."""
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for source, targets in edges.items():
        i = ids.get_indexer([source])[0]
        if i < 0 or not targets:
            continue
        j = ids.get_indexer(list(targets))
        j = j[j >= 0]
        rows.append(np.full(len(j), i, dtype=np.int64))
        cols.append(j)
    r = np.concatenate(rows) if rows else np.empty(0, np.int64)
    c = np.concatenate(cols) if cols else np.empty(0, np.int64)
    out = sp.csr_matrix((np.ones(len(r), dtype=bool), (r, c)), shape=(len(ids), len(ids)), dtype=bool)
    out.sum_duplicates()
    return out


def _closure(m: sp.csr_matrix) -> sp.csr_matrix:
    """Transitive closure of a sparse boolean adjacency matrix: squared until it stops growing
    (log2 of the longest path rounds; no work at all without edges)."""
    out = sp.csr_matrix(m, dtype=bool)
    while out.nnz:
        grown = (out + out @ out).astype(bool).tocsr()
        if grown.nnz == out.nnz:
            return out
        out = grown
    return out


def _cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """One cycle of a directed graph as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    for start in sorted(graph):
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = [start]
        state[start] = 1
        while stack:
            node, i = stack[-1]
            targets = sorted(graph.get(node, ()))
            if i < len(targets):
                stack[-1] = (node, i + 1)
                nxt = targets[i]
                if state.get(nxt) == 1:
                    return path[path.index(nxt):] + [nxt]
                if not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, 0))
                    path.append(nxt)
            else:
                state[node] = 2
                stack.pop()
                path.pop()
    return None


def _us(values: pd.Series | np.ndarray) -> np.ndarray:
    """datetime64 values as int64 microseconds (NaT: ``_NAT``)."""
    return np.asarray(values).astype("datetime64[us]").astype(np.int64)


def _value(v: Any) -> Any:
    """None for missing values (None, NaN, NaT, pandas NA)."""
    if v is None:
        return None
    try:
        return None if pd.isna(v) else v
    except (TypeError, ValueError):
        return v


def _split(v: Any) -> tuple[str, ...]:
    v = _value(v)
    if not v:
        return ()
    return tuple(dict.fromkeys(part.strip().upper() for part in str(v).split(",") if part.strip()))


def _day(v: Any) -> date | None:
    v = _value(v)
    if v is None:
        return None
    if isinstance(v, pd.Timestamp):
        return v.date()
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    if isinstance(v, np.datetime64):
        return pd.Timestamp(v).date()
    return date.fromisoformat(str(v))


def _nonempty(d: dict[str, tuple]) -> dict[str, tuple]:
    return {k: v for k, v in d.items() if v}


__all__ = [
    "CROSS_SELL", "UP_SELL", "CatalogRules", "Eligibility", "Evaluation", "Upgrade", "check_eligibility",
    "eligible", "evaluate", "offer_kinds", "read_rules", "set_product_rules", "validate", "why_not",
]
