"""Consent: the one definition of what a customer agreed to, per purpose and channel.

Consent statements are profile attribute values (``AttributeValue``), so each keeps
who recorded it, when, and from where:

| key | the statement covers |
|---|---|
| ``consent_<purpose>`` (``consent_marketing``) | the purpose, through every channel |
| ``consent_<channel>`` (``consent_sms``) | the channel, for every purpose |
| ``consent_<channel>_<purpose>`` (``consent_sms_marketing``) | that channel for that purpose |

Keys are read case-insensitively. Purposes (``PURPOSES``): MARKETING, RETENTION and
SERVICE (the campaign purposes), DATA_SHARING (personal data shown to partners,
``cdp.security.permissions``) and PROFILING (the customer's data used for scores and
recommendations). A key whose end is a purpose names that purpose; the rest is the
channel id (no channel id of the catalogue ends in ``_<purpose>``).

A value reads as a status: GRANTED (``granted``, legacy ``yes``, ``true``, ``opt-in``,
...), DENIED (``denied``, ``no``, ``false``, ``opt-out``, ``refused``) or REVOKED
(``revoked``, ``withdrawn``: a grant taken back). Other values are unreadable.

**Which statement counts.** Per key, the latest statement (``observed_at``; a value
without a time is the oldest; on a tie a refusal wins) is the effective one. When it
has expired (``expires_at`` at or before the time asked about) or is unreadable,
the customer has said nothing for that key: an older statement does not come back.

**Decisions** (``refusal`` for one customer, ``ConsentTable`` for a whole projection,
the same rules):

* the *purpose* is refused when ``consent_<purpose>`` is DENIED or REVOKED, or when
  the purpose needs an explicit yes (the contact policy's
  ``explicit_consent_purposes``; DATA_SHARING always) and neither
  ``consent_<purpose>`` nor, for a channel, ``consent_<channel>_<purpose>`` is GRANTED;
* the *channel* is refused when ``consent_<channel>`` or
  ``consent_<channel>_<purpose>`` is DENIED or REVOKED, or when the channel needs an
  explicit yes (``explicit_consent_channels``) and neither is GRANTED.

So a refusal anywhere wins over a grant elsewhere, and without any statement a
customer counts as soft opt-in (an existing customer may be contacted until they say
no), except where an explicit yes is required.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from cdp.customers.erased_customers import customer_to_record
from cdp.privacy.erasure import ERASED
from cdp.errors import Forbidden, InvalidInput, NotFound
from cdp.security.permissions import DATA_SHARING
from cdp.security.principal import Principal, Role
from cdp.projection.tables import ProjectionData
from cdp.customers.provenance import settle_rows, value_id
from graph.model import CAMPAIGN_PURPOSE_VALUES
from graph.store import GraphStore, Row, node_op, relationship_op

#: Using the customer's data for scores (churn, propensity) and recommendations.
PROFILING = "PROFILING"
#: Every consent purpose: the campaign purposes, data sharing and profiling.
PURPOSES: tuple[str, ...] = (*CAMPAIGN_PURPOSE_VALUES, DATA_SHARING, PROFILING)
#: Purposes that need an explicit GRANTED whatever the contact policy says.
ALWAYS_EXPLICIT: frozenset[str] = frozenset({DATA_SHARING})

GRANTED, DENIED, REVOKED = "GRANTED", "DENIED", "REVOKED"
STATUSES: tuple[str, ...] = (GRANTED, DENIED, REVOKED)

#: Attribute values read as each status (trimmed, lower case).
GRANTED_WORDS = frozenset({"granted", "yes", "true", "1", "opt-in", "optin", "y"})
DENIED_WORDS = frozenset({"denied", "no", "false", "0", "opt-out", "optout", "n", "refused"})
REVOKED_WORDS = frozenset({"revoked", "withdrawn"})

KEY_PREFIX = "consent_"


def status_of(value: object) -> str | None:
    """The status a stored value says (GRANTED, DENIED, REVOKED), or None when unreadable."""
    text = str(value).strip().lower() if value is not None else ""
    if text in GRANTED_WORDS:
        return GRANTED
    if text in DENIED_WORDS:
        return DENIED
    if text in REVOKED_WORDS:
        return REVOKED
    return None


def parse_key(key: str) -> tuple[str | None, str | None] | None:
    """``(purpose, channel)`` of a consent attribute key (either may be None: every purpose,
    every channel), or None when ``key`` is not a consent key."""
    text = key.strip().lower()
    if not text.startswith(KEY_PREFIX) or len(text) == len(KEY_PREFIX):
        return None
    rest = text[len(KEY_PREFIX):]
    if rest.upper() in PURPOSES:
        return rest.upper(), None
    for purpose in sorted(PURPOSES, key=len, reverse=True):
        suffix = "_" + purpose.lower()
        if rest.endswith(suffix) and len(rest) > len(suffix):
            return purpose, rest[: -len(suffix)].upper()
    return None, rest.upper()


def key_of(purpose: str | None, channel: str | None) -> str:
    """The attribute key of a statement about ``purpose`` and/or ``channel`` (not both None)."""
    if purpose is None and channel is None:
        raise InvalidInput("a consent names a purpose, a channel, or both", field="purpose")
    parts = [p.lower() for p in (channel, purpose) if p]
    return KEY_PREFIX + "_".join(parts)


# --------------------------------------------------------------------------- one customer


@dataclass(frozen=True)
class Consent:
    """One consent statement: purpose and channel (None: every one), status and provenance."""

    purpose: str | None
    channel: str | None
    status: str
    recorded_at: datetime | None
    expires_at: datetime | None
    source: str | None
    customer_maintained: bool
    value_id: str
    key: str

    def expired(self, at: datetime) -> bool:
        """True when the statement no longer holds at ``at`` (naive UTC)."""
        return self.expires_at is not None and self.expires_at <= at

    @property
    def refused(self) -> bool:
        return self.status in (DENIED, REVOKED)


def _order(value: Mapping[str, Any]) -> tuple[datetime, bool, str]:
    """Sort key: oldest first; on equal times a refusal sorts last (it wins as 'latest')."""
    status = status_of(value.get("value"))
    return value.get("observed_at") or datetime.min, status in (DENIED, REVOKED), str(value.get("id") or "")


def history(values: Iterable[Mapping[str, Any]]) -> list[Consent]:
    """Every readable consent statement among a customer's attribute ``values``, newest first."""
    out = []
    for v in sorted(values, key=_order, reverse=True):
        parsed = parse_key(str(v.get("key") or ""))
        status = status_of(v.get("value"))
        if parsed is None or status is None:
            continue
        out.append(Consent(purpose=parsed[0], channel=parsed[1], status=status, recorded_at=v.get("observed_at"),
                           expires_at=v.get("expires_at"), source=v.get("source"),
                           customer_maintained=bool(v.get("customer_maintained")), value_id=str(v.get("id") or ""),
                           key=str(v["key"]).strip().lower()))
    return out


def current(values: Iterable[Mapping[str, Any]], at: datetime) -> list[Consent]:
    """The effective statement per key at ``at`` (latest, readable, not expired), sorted by
    purpose then channel (every-purpose and every-channel statements first)."""
    latest: dict[str, Mapping[str, Any]] = {}
    for v in sorted(values, key=_order):
        key = str(v.get("key") or "").strip().lower()
        if parse_key(key) is not None:
            latest[key] = v
    effective = [c for c in history(latest.values()) if not c.expired(at)]
    return sorted(effective, key=lambda c: (c.purpose or "", c.channel or ""))


def _effective(values: Iterable[Mapping[str, Any]], at: datetime) -> dict[str, str]:
    return {c.key: c.status for c in current(values, at)}


def refusal(values: Iterable[Mapping[str, Any]], purpose: str, channel: str | None, at: datetime,
            explicit_purposes: Sequence[str] = (), explicit_channels: Sequence[str] = ()) -> str | None:
    """Why one customer (their attribute ``values``) may not be contacted or used for
    ``purpose`` (through ``channel``, None: no channel) at ``at``: ``NO_CONSENT_PURPOSE``,
    ``NO_CONSENT_CHANNEL``, or None when allowed. See the module docstring."""
    said = _effective(values, at)
    p, both = key_of(purpose, None), key_of(purpose, channel) if channel else None
    granted = said.get(p) == GRANTED or (both is not None and said.get(both) == GRANTED)
    if said.get(p) in (DENIED, REVOKED) or (_explicit(purpose, explicit_purposes) and not granted):
        return "NO_CONSENT_PURPOSE"
    if channel is None:
        return None
    keys = [k for k in (key_of(None, channel), both) if k is not None]
    if any(said.get(k) in (DENIED, REVOKED) for k in keys):
        return "NO_CONSENT_CHANNEL"
    if channel in explicit_channels and not any(said.get(k) == GRANTED for k in keys):
        return "NO_CONSENT_CHANNEL"
    return None


def granted(values: Iterable[Mapping[str, Any]], purpose: str, at: datetime) -> bool:
    """True when the customer's effective ``consent_<purpose>`` is GRANTED at ``at`` (an
    explicit yes, e.g. DATA_SHARING for partners)."""
    return _effective(values, at).get(key_of(purpose, None)) == GRANTED


def _explicit(purpose: str, explicit_purposes: Sequence[str]) -> bool:
    return purpose in ALWAYS_EXPLICIT or purpose in explicit_purposes


# --------------------------------------------------------------------------- a whole projection

_STATUS_CODE: dict[str | None, int] = {GRANTED: 1, DENIED: 2, REVOKED: 3}  # unreadable (None): 0
_CACHE_SIZE = 4
_cache: list[tuple[pd.DataFrame, pd.DataFrame]] = []
_cache_lock = threading.Lock()


def _latest(data: ProjectionData) -> pd.DataFrame:
    """The latest consent statement per (row, key) of ``data``'s attribute table: columns
    ``row``, ``key`` (lower case), ``status`` (0 unreadable, 1 granted, 2 denied, 3 revoked),
    ``expires_us`` (int64 µs, NaT's minimum when none). Cached per attribute frame."""
    attributes = data.fact("attributes")
    with _cache_lock:
        for frame, latest in _cache:
            if frame is attributes:
                return latest
    latest = _latest_of(attributes)
    with _cache_lock:
        _cache.insert(0, (attributes, latest))
        del _cache[_CACHE_SIZE:]
    return latest


def _latest_of(a: pd.DataFrame) -> pd.DataFrame:
    empty = pd.DataFrame({"row": np.zeros(0, np.int64), "key": np.zeros(0, object),
                          "status": np.zeros(0, np.int8), "expires_us": np.zeros(0, np.int64)})
    if a.empty:
        return empty
    keys = a["key"].astype(str).str.strip().str.lower()
    mine = keys.str.startswith(KEY_PREFIX).to_numpy()
    if not mine.any():
        return empty
    a, keys = a[mine], keys[mine]
    values = a["value"].astype(str).str.strip().str.lower()
    distinct = values.unique()
    codes = dict(zip(distinct, (_STATUS_CODE.get(status_of(v), 0) for v in distinct)))
    status = values.map(codes).to_numpy(dtype=np.int8)
    expires = a["expires_at"].to_numpy(dtype="datetime64[us]").astype(np.int64) if "expires_at" in a \
        else np.full(len(a), np.iinfo(np.int64).min)
    frame = pd.DataFrame({"row": a["row"].to_numpy(dtype=np.int64), "key": keys.to_numpy(dtype=object),
                          "status": status, "expires_us": expires,
                          "observed_at": a["observed_at"].to_numpy(dtype="datetime64[us]"),
                          "refusal": status >= 2})
    frame = frame.sort_values(["observed_at", "refusal"], na_position="first", kind="stable")
    frame = frame.drop_duplicates(["row", "key"], keep="last")
    return frame[["row", "key", "status", "expires_us"]].reset_index(drop=True)


class ConsentTable:
    """The effective consent statements of every customer of a projection snapshot at ``at``,
    as boolean row masks; the rules are those of ``refusal`` (module docstring)."""

    def __init__(self, data: ProjectionData, at: datetime) -> None:
        self.size = data.size
        self.at = at
        latest = _latest(data)
        t = np.datetime64(at, "us").astype(np.int64)
        nat = np.iinfo(np.int64).min
        expires = latest["expires_us"].to_numpy()
        live = (expires == nat) | (expires > t)
        later = expires[(expires != nat) & (expires > t)]
        #: The first time after ``at`` a statement expires (decisions hold until then), or None.
        self.valid_until: datetime | None = (datetime(1970, 1, 1) + timedelta(microseconds=int(later.min()))
                                             if len(later) else None)
        self._frame = latest[live & (latest["status"].to_numpy() > 0)]
        # not dict(groupby): a GroupBy has a `keys` attribute, so dict() would take it for a mapping
        self._by_key = {key: group for key, group in self._frame.groupby("key", sort=False)}  # noqa: C416

    def _mask(self, rows: np.ndarray) -> np.ndarray:
        out = np.zeros(self.size, dtype=bool)
        rows = rows[(rows >= 0) & (rows < self.size)]
        out[rows] = True
        return out

    def answers(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """Row masks of customers whose effective ``key`` statement is GRANTED, and is DENIED or REVOKED."""
        group = self._by_key.get(key.lower())
        if group is None:
            none = np.zeros(self.size, dtype=bool)
            return none, none.copy()
        rows, status = group["row"].to_numpy(), group["status"].to_numpy()
        return self._mask(rows[status == 1]), self._mask(rows[status >= 2])

    def purpose_refused(self, purpose: str, channel: str | None = None,
                        explicit_purposes: Sequence[str] = ()) -> np.ndarray:
        """Rows whose consent for ``purpose`` is refused (``NO_CONSENT_PURPOSE``)."""
        yes, no = self.answers(key_of(purpose, None))
        if _explicit(purpose, explicit_purposes):
            if channel is not None:
                yes = yes | self.answers(key_of(purpose, channel))[0]
            return no | ~yes
        return no

    def channel_refused(self, channel: str, purpose: str, explicit_channels: Sequence[str] = ()) -> np.ndarray:
        """Rows whose consent for ``channel`` (for ``purpose``) is refused (``NO_CONSENT_CHANNEL``)."""
        yes_c, no_c = self.answers(key_of(None, channel))
        yes_b, no_b = self.answers(key_of(purpose, channel))
        refused = no_c | no_b
        if channel in explicit_channels:
            refused |= ~(yes_c | yes_b)
        return refused

    def refused(self, purpose: str, channel: str | None = None, explicit_purposes: Sequence[str] = (),
                explicit_channels: Sequence[str] = ()) -> np.ndarray:
        """Rows that may not be contacted or used for ``purpose`` (through ``channel``)."""
        out = self.purpose_refused(purpose, channel, explicit_purposes)
        if channel is not None:
            out = out | self.channel_refused(channel, purpose, explicit_channels)
        return out

    def allowed_channels(self, channels: Sequence[str], purpose: str, explicit_purposes: Sequence[str] = (),
                         explicit_channels: Sequence[str] = ()) -> np.ndarray:
        """Rows x ``channels``: True where the customer may be contacted through the channel for ``purpose``."""
        out = np.ones((self.size, len(channels)), dtype=bool)
        for i, channel in enumerate(channels):
            out[:, i] = ~self.refused(purpose, channel, explicit_purposes, explicit_channels)
        return out


def unprofiled(data: ProjectionData, at: datetime, consents: ConsentTable | None = None) -> np.ndarray:
    """Per customer row of ``data``: True when the customer's data may not be used for scores,
    rankings or recommendations: PROFILING refused at ``at``, or the customer was erased."""
    status = data.customers["status"].astype(object).to_numpy() if "status" in data.customers \
        else np.full(data.size, None, dtype=object)
    return (consents or ConsentTable(data, at)).purpose_refused(PROFILING) | (status == ERASED)



def trainable(data: ProjectionData, at: datetime) -> np.ndarray:
    """Per customer row of ``data``: True when the customer's data may train a model (churn,
    propensity, the collaborative recommender): in the base (``ProjectionData.base``) and not
    ``unprofiled`` at ``at``. Objecting to profiling keeps a customer out of the training data
    as well as out of scoring (docs/privacy.md)."""
    return data.base() & ~unprofiled(data, at)


# --------------------------------------------------------------------------- who records

#: Purposes whose consent gates a role's own access to customers' data: that role may not
#: grant them (a partner reads personal data only with the customer's DATA_SHARING yes).
GATES: dict[Role, frozenset[str]] = {Role.PARTNER: frozenset({DATA_SHARING})}
#: Purposes a grant of which, recorded for the customer by someone else, must name where the
#: customer gave it (``source``: the form, call or system that holds the evidence).
EVIDENCED: frozenset[str] = frozenset({DATA_SHARING})


def check_recorder(principal: Principal, purpose: str | None, status: str, source: str | None,
                   field: str = "purpose") -> None:
    """Raise unless ``principal`` may record a ``status`` statement about ``purpose``
    (docs/privacy.md, "Who records consent"):

    * a customer records anything about itself (``permissions.check_customer`` keeps it to itself);
    * nobody grants a purpose that gates their own access (``GATES``): a partner may record
      refusals of any purpose and grants of the others, never a DATA_SHARING grant
      (``Forbidden``, ``field``);
    * an app or admin acting for the customer records a grant of an ``EVIDENCED`` purpose only
      with the ``source`` named (where the customer said yes: ``InvalidInput`` on ``source``).

    Refusals (DENIED, REVOKED) only restrict, so every caller allowed to record may record them.
    """
    if status != GRANTED or purpose is None or principal.role is Role.CUSTOMER:
        return
    if purpose in GATES.get(principal.role, ()):
        raise Forbidden(f"a {principal.role.value} credential may not grant {purpose}: that consent gates its own "
                        f"access, so only the customer (or an app acting for them) may give it", field=field)
    if purpose in EVIDENCED and not source:
        raise InvalidInput(f"a {purpose} grant recorded for the customer must name where they gave it "
                           f"(source, e.g. WEB_FORM or CALL_CENTRE)", field="source")


def check_statements(principal: Principal, statements: Iterable[tuple[str, str, object]]) -> None:
    """``check_recorder`` for consent statements sent as attributes (``upsertCustomers``):
    ``statements`` holds (path, key, value); keys that are not consents are ignored. An import
    from a source of record (``cdp import``, the CLI's admin) passes; a partner's batch carrying
    a grant of a purpose that gates it is refused whole (``Forbidden`` naming the item)."""
    for path, key, value in statements:
        parsed = parse_key(str(key or ""))
        if parsed is not None and parsed[0] is not None:
            check_recorder(principal, parsed[0], status_of(value) or "", "batch", field=path)


# --------------------------------------------------------------------------- recording


def record(store: GraphStore, customer_id: str, purpose: str | None, channel: str | None, status: str,
           expires_at: datetime | None, source: str, customer_maintained: bool, now: datetime) -> Row:
    """Record one consent statement as an ``AttributeValue`` of the customer (observed ``now``,
    accuracy 1: it is what the customer said) and return the stored row.

    Raises ``InvalidInput`` (with the argument's name as field) for an unknown purpose or
    status, neither purpose nor channel, an expiry not after ``now`` or a bad source;
    ``NotFound`` for an unknown customer or channel; ``Conflict`` for an erased one.
    """
    if purpose is not None and purpose not in PURPOSES:
        raise InvalidInput(f"unknown purpose {purpose!r}: one of {', '.join(PURPOSES)}", field="purpose")
    if status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r}: one of {', '.join(STATUSES)}", field="status")
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expiresAt must be in the future", field="expiresAt")
    if not source or len(source) > 40 or not all(ch.isalnum() or ch == "_" for ch in source):
        raise InvalidInput(f"source must be 1-40 letters, digits or _, got {source!r}", field="source")
    if channel is not None and channel not in store.channels():
        raise NotFound(f"unknown channel {channel!r}", field="channel")
    key = key_of(purpose, channel)
    customer_to_record(store, customer_id)
    source = source.upper()
    identity = f"{source}:{customer_id}"
    row = {"id": value_id(identity, key, now), "key": key, "value": status.lower(), "source": source,
           "identity_id": identity, "observed_at": now, "accuracy": 1.0,
           "customer_maintained": customer_maintained, "verified": False, "expires_at": expires_at}
    row = settle_rows(store, [row])[0]
    store.write([node_op("AttributeValue", [row]),
                 relationship_op("HAS_ATTRIBUTE", [{"from": customer_id, "to": row["id"]}])])
    return row
