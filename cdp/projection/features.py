"""The per-customer feature frame: what the models, segments and value analysis see.

``compute(data, at, rows)`` derives one row of features per customer from a
projection snapshot, *as of* a point in time: only contacts and monetary
events before ``at`` count, windows (30/90/365 days) end at ``at``, holdings
and accounts are those active at ``at``, tenure and age are measured at ``at``.
``at`` may differ per customer, which is how training avoids leaking the future
(a churner is described as they were just before leaving, see ``cdp.models.scoring``).

Besides ``FEATURES``, a frame has ``holds_<product id>`` for the most subscribed products
(``product_features``) and ``attr_<key>`` per usable custom attribute.

Profile columns and custom attributes are current values: the projection keeps
only the surviving value of each, not its history.

``FeatureFrame`` keeps the features of every customer as of now, recomputing
only the rows a write changed (``Projection.listeners``) and everything when
the frame is older than ``FRESH_SECONDS``.

Every feature is listed in ``FEATURES`` with a sentence a person understands;
model reasons and segment profiles use those texts.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from cdp.projection.tables import Projection, ProjectionData, _upsert_rows, subscriptions_held
from graph.clock import utc_now
from graph.model import CONTRACT_TYPE_VALUES, PAYMENT_METHOD_VALUES, PRODUCT_CATEGORY_VALUES

DAY_US = 86_400_000_000
#: Seconds after which ``FeatureFrame.current`` recomputes everything (windows move with time).
FRESH_SECONDS = 3600.0
#: Revenue counts these monetary event kinds; REFUND is subtracted.
REVENUE_KINDS = ("INVOICE", "PURCHASE", "TOP_UP")
#: Custom attributes with at most this many distinct values become categorical features.
MAX_ATTRIBUTE_CATEGORIES = 50
#: Products that get their own ``holds_<product id>`` feature (the most subscribed; ``product_features``).
MAX_PRODUCT_FEATURES = 40
#: Subscriptions a product needs for its own feature.
MIN_PRODUCT_HOLDERS = 10
#: Share of a custom attribute's values that must parse as numbers to make it numeric.
NUMERIC_SHARE = 0.9


@dataclass(frozen=True)
class Feature:
    """One feature: column name, a readable description, and whether it is categorical."""

    name: str
    description: str
    categorical: bool = False


_CATEGORY_FLAGS = tuple(
    Feature(f"has_{c.lower()}", f"holds a {c.lower().replace('_', ' ')} product") for c in PRODUCT_CATEGORY_VALUES
)

FEATURES: tuple[Feature, ...] = (
    Feature("tier", "customer tier", True),
    Feature("gender", "gender", True),
    Feature("city", "city", True),
    Feature("language", "language", True),
    Feature("age_years", "age in years"),
    Feature("tenure_months", "months since joining"),
    Feature("has_account_manager", "has an account manager"),
    Feature("is_company", "is a company"),
    Feature("accounts_open", "open accounts"),
    Feature("accounts_closed", "accounts closed earlier"),
    Feature("has_postpaid", "has a postpaid account"),
    Feature("has_prepaid", "has a prepaid account"),
    Feature("has_business_account", "has a business account"),
    Feature("on_contract", "has an account under contract"),
    Feature("out_of_contract", "has an account whose contract ran out"),
    Feature("contract_months_left", "months left on the longest running contract"),
    Feature("pays_direct_debit", "pays by direct debit"),
    Feature("contract_type", "contract type of an open account (also without a contract end date)", True),
    Feature("payment_method", "payment method of an open account", True),
    Feature("products_held", "products held"),
    Feature("categories_held", "product categories held"),
    *_CATEGORY_FLAGS,
    Feature("monthly_spend", "monthly recurring spend"),
    Feature("average_discount", "average discount on subscriptions"),
    Feature("monthly_cost_to_serve", "monthly cost to serve the products held"),
    Feature("monthly_margin", "monthly spend minus cost to serve"),
    Feature("contacts_30d", "contacts in the last 30 days"),
    Feature("contacts_90d", "contacts in the last 90 days"),
    Feature("contacts_365d", "contacts in the last year"),
    Feature("complaints_90d", "complaints in the last 90 days"),
    Feature("complaints_365d", "complaints in the last year"),
    Feature("open_complaints", "complaints not yet resolved"),
    Feature("inquiries_365d", "inquiries in the last year"),
    Feature("service_requests_365d", "service requests in the last year"),
    Feature("retention_contacts_365d", "retention contacts in the last year"),
    Feature("purchases_365d", "purchase contacts in the last year"),
    Feature("offers_365d", "campaign offers received in the last year"),
    Feature("offers_accepted_365d", "campaign offers accepted in the last year"),
    Feature("satisfaction_365d", "average satisfaction score in the last year (1-5)"),
    Feature("unhappy_contacts_365d", "contacts rated 1 or 2 in the last year"),
    Feature("days_since_contact", "days since the last contact"),
    Feature("digital_share_365d", "share of last year's contacts through digital channels"),
    Feature("inbound_365d", "contacts the customer started in the last year"),
    Feature("revenue_90d", "revenue in the last 90 days"),
    Feature("revenue_prev_90d", "revenue in the 90 days before that"),
    Feature("revenue_change", "change of revenue against the previous 90 days (share)"),
    Feature("revenue_365d", "revenue in the last year"),
    Feature("refunds_365d", "refunds in the last year"),
    Feature("days_since_payment", "days since the last payment or top-up"),
    Feature("preferred_channel", "preferred channel", True),
)

FEATURE_INDEX = {f.name: f for f in FEATURES}

#: Value given to "days since" features when nothing happened before ``at``.
NEVER_DAYS = 3650.0


def describe(name: str) -> str:
    """A readable description of feature ``name`` (custom attributes: ``attribute <key>``;
    products: ``holds product <id>``)."""
    if name in FEATURE_INDEX:
        return FEATURE_INDEX[name].description
    if name.startswith("attr_"):
        return f"attribute {name[5:]}"
    if name.startswith("holds_"):
        return f"holds product {name[6:]}"
    return name.replace("_", " ")


def _times(at: datetime | np.ndarray | pd.Series | Sequence, count: int) -> np.ndarray:
    """``at`` as an int64 array of microseconds, one per row."""
    if isinstance(at, datetime):
        value = np.datetime64(at.replace(tzinfo=None), "us").astype(np.int64)
        return np.full(count, value, dtype=np.int64)
    values = np.asarray(at, dtype="datetime64[us]").astype(np.int64)
    if values.shape != (count,):
        raise ValueError(f"need one time per row: got {values.shape}, expected ({count},)")
    return values


def _us(values: pd.Series | np.ndarray) -> np.ndarray:
    """datetime64 values as int64 microseconds (NaT -> int64 min)."""
    return np.asarray(values, dtype="datetime64[us]").astype(np.int64)


_NAT = np.iinfo(np.int64).min


def compute(data: ProjectionData, at: datetime | np.ndarray, rows: np.ndarray | None = None) -> pd.DataFrame:
    """Features of customer ``rows`` (default: every row) as of ``at``.

    ``at`` is one time or one time per row (naive UTC). Returns a frame indexed
    by customer row, one column per ``FEATURES`` entry plus ``attr_<key>`` per
    usable custom attribute. ``rows`` must not repeat. Raises ValueError when
    ``at`` does not fit ``rows``.
    """
    rows = np.arange(data.size, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    n = len(rows)
    t = _times(at, n)
    pos = np.full(data.size, -1, dtype=np.int64)
    pos[rows] = np.arange(n)
    if n and len(np.unique(rows)) != n:
        raise ValueError("rows must not repeat")
    out: dict[str, np.ndarray | pd.Categorical] = {}
    _profile(data, rows, t, out)
    _accounts(data, pos, t, n, out)
    _holdings(data, pos, t, n, out)
    _contacts(data, pos, t, n, out)
    _events(data, pos, t, n, out)
    _preferences(data, pos, n, out)
    frame = pd.DataFrame(out, index=pd.Index(rows, name="row"))
    attributes = _attributes(data, rows)
    if attributes is not None:
        frame = frame.join(attributes)
    return frame


def _select(frame: pd.DataFrame, pos: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """The fact rows of the selected customers, and their output positions."""
    where = pos[frame["row"].to_numpy()]
    keep = where >= 0
    if keep.all():
        return frame, where
    return frame[keep], where[keep]


def _count(where: np.ndarray, mask: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(where[mask], weights=None if weights is None else weights[mask], minlength=n).astype(float)


def _profile(data: ProjectionData, rows: np.ndarray, t: np.ndarray, out: dict) -> None:
    c = data.customers
    for name in ("tier", "gender", "city", "language"):
        column = c[name]
        if not isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype("category")
        out[name] = pd.Categorical.from_codes(column.cat.codes.to_numpy()[rows],
                                              categories=column.cat.categories)
    birth = _us(c["birth_date"])[rows]
    joined = _us(c["joined_on"])[rows]
    out["age_years"] = np.where(birth == _NAT, np.nan, (t - birth) / DAY_US / 365.25)
    out["tenure_months"] = np.where(joined == _NAT, np.nan, np.maximum((t - joined) / DAY_US / 30.44, 0))
    out["has_account_manager"] = c["account_manager"].notna().to_numpy()[rows].astype(float)
    out["is_company"] = c["company_name"].notna().to_numpy()[rows].astype(float)


def _accounts(data: ProjectionData, pos: np.ndarray, t: np.ndarray, n: int, out: dict) -> None:
    a, where = _select(data.fact("accounts"), pos)
    tt = t[where]
    opened, closed, end = _us(a["opened_on"]), _us(a["closed_on"]), _us(a["contract_end"])
    started = (opened == _NAT) | (opened <= tt)
    is_closed = (closed != _NAT) & (closed <= tt)
    if "CLOSED" in a["status"].cat.categories:
        # A closed account without a closing date counts as closed at any time.
        is_closed |= ((a["status"] == "CLOSED").to_numpy() & (closed == _NAT))
    open_ = started & ~is_closed
    out["accounts_open"] = _count(where, open_, n)
    out["accounts_closed"] = _count(where, started & is_closed, n)
    kind = a["type"].astype(object).to_numpy()
    out["has_postpaid"] = (_count(where, open_ & (kind == "POSTPAID"), n) > 0).astype(float)
    out["has_prepaid"] = (_count(where, open_ & (kind == "PREPAID"), n) > 0).astype(float)
    out["has_business_account"] = (_count(where, open_ & (kind == "BUSINESS"), n) > 0).astype(float)
    contract = a["contract_type"].astype(object).to_numpy()
    has_contract = open_ & (contract != "NO_CONTRACT") & (contract != None) & (end != _NAT)  # noqa: E711
    running = has_contract & (end > tt)
    out["on_contract"] = (_count(where, running, n) > 0).astype(float)
    out["out_of_contract"] = (_count(where, has_contract & ~running, n) > 0).astype(float)
    left = np.zeros(n)
    if running.any():
        months = (end[running] - tt[running]) / DAY_US / 30.44
        np.maximum.at(left, where[running], months)
    out["contract_months_left"] = left
    method = a["payment_method"].astype(object).to_numpy()
    out["pays_direct_debit"] = (_count(where, open_ & (method == "DIRECT_DEBIT"), n) > 0).astype(float)
    # The categories themselves, so a contract type without an end date, or a payment method
    # other than direct debit, still reaches the models (issue 20: they were lost before).
    for name, values in (("contract_type", CONTRACT_TYPE_VALUES), ("payment_method", PAYMENT_METHOD_VALUES)):
        column = a[name].astype(object).to_numpy()
        codes = np.full(n, -1, dtype=np.int32)
        known = open_ & pd.notna(column)
        codes[where[known]] = pd.Index(values).get_indexer(column[known])
        out[name] = pd.Categorical.from_codes(codes, categories=list(values))


def _holdings(data: ProjectionData, pos: np.ndarray, t: np.ndarray, n: int, out: dict) -> None:
    s, where = _select(data.fact("subscriptions"), pos)
    active = subscriptions_held(s, t[where])
    products = data.products
    product = s["product"].astype(object).to_numpy()
    category = products["category"].reindex(product).to_numpy() if len(products) else np.array([None] * len(s))
    cost = products["monthly_cost"].reindex(product).fillna(0).to_numpy(dtype=float) if len(products) \
        else np.zeros(len(s))
    fee = s["monthly_fee"].fillna(0).to_numpy()
    discount = s["discount"].fillna(0).to_numpy()
    out["products_held"] = _count(where, active, n)
    held_categories = np.zeros(n)
    for c in PRODUCT_CATEGORY_VALUES:
        flag = (_count(where, active & (category == c), n) > 0).astype(float)
        out[f"has_{c.lower()}"] = flag
        held_categories += flag
    out["categories_held"] = held_categories
    # The products themselves, not only their categories: DSL and fibre are both BROADBAND,
    # and the category flags made them look alike (issue 20).
    for p in product_features(data):
        out[f"holds_{p}"] = (_count(where, active & (product == p), n) > 0).astype(float)
    spend = _count(where, active, n, fee * (1 - discount))
    out["monthly_spend"] = spend
    with np.errstate(invalid="ignore", divide="ignore"):
        out["average_discount"] = np.where(out["products_held"] > 0,
                                           _count(where, active, n, discount) / out["products_held"], 0.0)
    cost_to_serve = _count(where, active, n, cost)
    out["monthly_cost_to_serve"] = cost_to_serve
    out["monthly_margin"] = spend - cost_to_serve


def product_features(data: ProjectionData) -> list[str]:
    """The product ids that get a ``holds_<id>`` flag: the ``MAX_PRODUCT_FEATURES`` products
    with the most subscriptions in the store (at any time; ties by id), each with at least
    ``MIN_PRODUCT_HOLDERS``. Counted over the whole store, so every row of a frame and every
    time gets the same columns, and a 20,000-product catalogue still adds only a few."""
    s = data.fact("subscriptions")
    if s.empty:
        return []
    counts = s["product"].astype(object).value_counts()
    counts = counts[counts >= MIN_PRODUCT_HOLDERS]
    ranked = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    return [str(p) for p, _ in ranked[:MAX_PRODUCT_FEATURES]]


def _contacts(data: ProjectionData, pos: np.ndarray, t: np.ndarray, n: int, out: dict) -> None:
    k, where = _select(data.fact("contacts"), pos)
    at = _us(k["at"])
    age = (t[where] - at) / DAY_US
    before = (at != _NAT) & (age > 0)
    kind = k["kind"].astype(object).to_numpy()
    within = {d: before & (age <= d) for d in (30, 90, 365)}
    year = within[365]
    for d in (30, 90, 365):
        out[f"contacts_{d}d"] = _count(where, within[d], n)
    complaint = kind == "COMPLAINT"
    out["complaints_90d"] = _count(where, within[90] & complaint, n)
    out["complaints_365d"] = _count(where, year & complaint, n)
    outcome = k["outcome"].astype(object).to_numpy()
    # Open at t: resolved later than t, or not resolved at all and still OPEN / ESCALATED
    # (the final outcome alone would leak a later resolution into a past t).
    resolved = _us(k["resolved_at"]) if "resolved_at" in k else np.full(len(k), _NAT)
    unresolved = (resolved == _NAT) & ((outcome == "OPEN") | (outcome == "ESCALATED"))
    out["open_complaints"] = _count(where, before & complaint & ((resolved > t[where]) | unresolved), n)
    for name, value in (("inquiries_365d", "INQUIRY"), ("service_requests_365d", "SERVICE_REQUEST"),
                        ("retention_contacts_365d", "RETENTION"), ("purchases_365d", "PURCHASE"),
                        ("offers_365d", "CAMPAIGN_OFFER")):
        out[name] = _count(where, year & (kind == value), n)
    out["offers_accepted_365d"] = _count(where, year & (kind == "CAMPAIGN_OFFER") & (outcome == "ACCEPTED"), n)
    sat = k["satisfaction"].to_numpy(dtype=float)
    rated = year & ~np.isnan(sat)
    rated_count = _count(where, rated, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["satisfaction_365d"] = np.where(rated_count > 0, _count(where, rated, n, np.nan_to_num(sat))
                                            / rated_count, np.nan)
    out["unhappy_contacts_365d"] = _count(where, rated & (np.nan_to_num(sat, nan=5) <= 2), n)
    last = np.full(n, _NAT, dtype=np.int64)
    if before.any():
        np.maximum.at(last, where[before], at[before])
    out["days_since_contact"] = np.where(last == _NAT, NEVER_DAYS, (t - last) / DAY_US)
    kinds = data.channels["kind"] if len(data.channels) else pd.Series(dtype=object)
    channel_kind = kinds.reindex(k["channel"].astype(object).to_numpy()).to_numpy()
    digital = (channel_kind == "DIGITAL") | (channel_kind == "MESSAGING")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["digital_share_365d"] = np.where(out["contacts_365d"] > 0,
                                             _count(where, year & digital, n) / out["contacts_365d"], 0.0)
    out["inbound_365d"] = _count(where, year & (k["direction"] == "INBOUND").to_numpy(), n)


def _events(data: ProjectionData, pos: np.ndarray, t: np.ndarray, n: int, out: dict) -> None:
    e, where = _select(data.fact("events"), pos)
    at = _us(e["at"])
    age = (t[where] - at) / DAY_US
    before = (at != _NAT) & (age > 0)
    kind = e["kind"].astype(object).to_numpy()
    amount = e["amount"].fillna(0).to_numpy()
    signed = signed_revenue(kind, amount)
    r90 = _count(where, before & (age <= 90), n, signed)
    prev = _count(where, before & (age > 90) & (age <= 180), n, signed)
    out["revenue_90d"] = r90
    out["revenue_prev_90d"] = prev
    with np.errstate(invalid="ignore", divide="ignore"):
        out["revenue_change"] = np.where(prev > 0, (r90 - prev) / prev, 0.0)
    out["revenue_365d"] = _count(where, before & (age <= 365), n, signed)
    out["refunds_365d"] = _count(where, before & (age <= 365) & (kind == "REFUND"), n, amount)
    paid = before & ((kind == "PAYMENT") | (kind == "TOP_UP"))
    last = np.full(n, _NAT, dtype=np.int64)
    if paid.any():
        np.maximum.at(last, where[paid], at[paid])
    out["days_since_payment"] = np.where(last == _NAT, NEVER_DAYS, (t - last) / DAY_US)


def signed_revenue(kind: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Each monetary event's contribution to revenue: ``amount`` for REVENUE_KINDS,
    minus ``amount`` for a REFUND, 0 for payments and anything else."""
    return np.where(np.isin(kind, REVENUE_KINDS), amount, np.where(kind == "REFUND", -amount, 0.0))


def _preferences(data: ProjectionData, pos: np.ndarray, n: int, out: dict) -> None:
    p, where = _select(data.fact("preferences"), pos)
    categories = list(data.channels.index) if len(data.channels) else []
    codes = np.full(n, -1, dtype=np.int32)
    first = (p["rank"] == 1).to_numpy()
    if first.any() and categories:
        codes[where[first]] = pd.Index(categories).get_indexer(p["channel"].astype(object).to_numpy()[first])
    out["preferred_channel"] = pd.Categorical.from_codes(codes, categories=categories)


def _attributes(data: ProjectionData, rows: np.ndarray) -> pd.DataFrame | None:
    """Custom attributes as feature columns (latest observed value per customer and key)."""
    a = data.fact("attributes")
    if a.empty:
        return None
    a = a[np.isin(a["row"].to_numpy(), rows)]
    if a.empty:
        return None
    latest = a.sort_values("observed_at").drop_duplicates(["row", "key"], keep="last")
    columns = {}
    for key, group in latest.groupby("key", observed=True):
        values = pd.Series(group["value"].to_numpy(), index=group["row"].to_numpy())
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().mean() >= NUMERIC_SHARE:
            columns[f"attr_{key}"] = numbers.astype(float)
        elif values.nunique() <= MAX_ATTRIBUTE_CATEGORIES:
            columns[f"attr_{key}"] = values.astype("category")
    if not columns:
        return None
    frame = pd.DataFrame(columns).reindex(rows)
    frame.index.name = "row"
    return frame


def categorical_columns(frame: pd.DataFrame) -> list[str]:
    """The categorical feature columns of ``frame``."""
    return [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]


class FeatureFrame:
    """The features of every customer as of now, kept current with the projection.

    ``current()`` returns a frame indexed by customer row. After a refresh only
    the changed rows are recomputed (at the frame's ``as_of``); the whole frame
    is recomputed when it is older than ``fresh_seconds`` or after a rebuild.
    """

    def __init__(self, projection: Projection, fresh_seconds: float = FRESH_SECONDS) -> None:
        self.projection = projection
        self.fresh_seconds = fresh_seconds
        self._lock = threading.Lock()
        self._frame: pd.DataFrame | None = None
        self._version = -1
        self._as_of: datetime | None = None
        self._dirty: set[int] = set()
        self._rebuilt = False
        projection.listeners.append(self._on_refresh)

    @property
    def as_of(self) -> datetime | None:
        """The time the current frame describes."""
        return self._as_of

    def current(self, data: ProjectionData | None = None) -> pd.DataFrame:
        """Features of every row of ``data`` (default: the projection's latest snapshot)."""
        data = data or self.projection.data()
        with self._lock:
            now = utc_now()
            stale = self._as_of is None or (now - self._as_of).total_seconds() > self.fresh_seconds
            if self._frame is None or stale or self._rebuilt or self._version > data.version:
                self._frame, self._as_of = compute(data, now), now
                self._dirty.clear()
                self._rebuilt = False
            elif self._version < data.version or len(self._frame) < data.size:
                grown = np.arange(len(self._frame), data.size)
                dirty = np.array(sorted(self._dirty | set(grown.tolist())), dtype=np.int64)
                dirty = dirty[dirty < data.size]
                if len(dirty):
                    assert self._as_of is not None  # set whenever the frame is (not stale)
                    fresh = compute(data, self._as_of, dirty)
                    self._frame = _replace_rows(self._frame, fresh, data.size)
                self._dirty.clear()
            self._version = data.version
            return self._frame

    def _on_refresh(self, snapshot: ProjectionData, rows: np.ndarray | None) -> None:
        with self._lock:
            if rows is None:
                self._rebuilt = True
            else:
                self._dirty.update(int(r) for r in rows)


def _replace_rows(frame: pd.DataFrame, fresh: pd.DataFrame, size: int) -> pd.DataFrame:
    """``frame`` grown to ``size`` rows with the rows of ``fresh`` replaced (by
    row index); columns only ``fresh`` has (a new custom attribute) are added."""
    for column in fresh.columns.difference(frame.columns):
        frame = frame.assign(**{column: pd.Series(np.nan, index=frame.index, dtype=fresh[column].dtype)
                                if not isinstance(fresh[column].dtype, pd.CategoricalDtype)
                                else pd.Categorical([None] * len(frame), categories=fresh[column].cat.categories)})
    out = _upsert_rows(frame.reset_index(drop=True), fresh.index.to_numpy(dtype=np.int64),
                       fresh.reindex(columns=frame.columns), size)
    out.index = pd.RangeIndex(size, name="row")
    return out
