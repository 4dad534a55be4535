"""The segment engine: rule segments evaluated over the analytic projection, and saved segments.

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

``parse_definition(raw, data)`` (``cdp.segments.definition``) checks a definition against the catalogue of a
projection snapshot and returns the typed tree; every error is an
``InvalidInput`` whose message and ``field`` name the path of the bad node
(``definition.all[2].contacts.days``). ``SegmentEngine`` evaluates a tree to a
boolean mask over customer rows with numpy (``cdp.segments.evaluation``: no Cypher, no
per-customer Python),
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
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from cdp.errors import Conflict, Forbidden, InvalidInput, NotFound
from cdp.projection.tables import ProjectionData
from graph.clock import naive_utc, utc_now
from graph.store import GraphStore, node_op
from cdp.segments.evaluation import ScoreLookup, Evaluator
from cdp.segments.definition import definition_json, parse_definition, personal_uses

#: ``authorise(uses)``: raises ``Forbidden`` unless the caller may let the personal fields of
#: ``uses`` (name -> path in the definition, ``personal_uses``) shape the answer; a request
#: passes ``Context.authorise_personal_use`` (``cdp.security.permissions.authorise_personal_use``).
#: None only where the caller authorised the definition itself.
Authorise = Callable[[Mapping[str, str]], object]
#: Evaluations kept (masks of one bit... one byte per customer each).
CACHE_SIZE = 32
#: Profile measures derived from a personal field (``cdp.security.permissions.DERIVED_PERSONAL``).
PERSONAL_MEASURES = ("age",)
#: Whole-base figures (profile measures, monthly spend) kept per data version and time.
MEASURE_CACHE_SIZE = 24


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

    def member_ids(self) -> np.ndarray:
        """Ids of the members, ascending (customer-id order)."""
        return self.data.ids.to_numpy()[self.member_rows()]

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
        as_of = naive_utc(as_of) if as_of is not None else None
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
        ctx = Evaluator(data, at, as_of is not None, self._scores, self)
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
        ctx = Evaluator(data, at, past, self._scores, self)
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


def _measures(ctx: Evaluator) -> dict[str, Any]:
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
