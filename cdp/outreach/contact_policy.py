"""The contact policy: who may be contacted, through which channel, and when.

Campaign audiences are built through this policy (``cdp.campaigns.campaigns``). Every
customer it keeps out gets exactly one reason, the first that applies in
``REASONS`` order, so ``excluded { reason count }`` adds up to the target.

The rules, all evaluated vectorised on the analytic projection:

* ``INACTIVE``: the customer is not ACTIVE (churned, merged, prospect);
* ``DO_NOT_CONTACT``: a custom attribute ``do_not_contact`` that says yes;
* ``NO_CONSENT_PURPOSE``: ``consent_<purpose>`` (e.g. ``consent_marketing``) is
  denied or revoked, or no yes while the policy requires explicit consent for
  the purpose (``explicit_consent_purposes``);
* ``NO_CONSENT_CHANNEL``: ``consent_<channel>`` (e.g. ``consent_sms``) or
  ``consent_<channel>_<purpose>`` is denied or revoked, or no yes for a channel
  that needs explicit opt-in (``explicit_consent_channels``);
* ``NO_ADDRESS``: nothing to reach the customer with (no phone for SMS and
  calls, no e-mail for e-mail);
* ``RECENT_COMPLAINT``: a complaint in the last ``complaint_suppression_days``
  days, or one still open (OPEN / ESCALATED) when ``suppress_open_complaints``;
* ``RUNNING_CAMPAIGN``: in the treatment group of another RUNNING campaign;
* ``FREQUENCY_CAP``: counting outbound contacts of ``counted_kinds`` within
  ``days`` days either side of the send time (planned contacts count too),
  one more would exceed a cap (per channel, or across channels when the cap
  has no channel);
* ``QUIET_HOURS``: the customer's quiet hours (``quiet_hours`` attribute) and
  the operator's (``quiet_hours``) leave no hour of the channel's contact
  window; otherwise the send time moves to the first allowed hour.

Consent (statuses, expiry, which statement counts) is ``cdp.privacy.consent``'s one
definition; ``do_not_contact`` is read with the same yes words (yes, true,
...). The policy is one JSON document kept in a ``ContactPolicy`` node
(id ``default``); without one, ``DEFAULT_POLICY`` applies.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from collections.abc import Mapping

import numpy as np
import pandas as pd

from cdp.privacy import consent
from cdp.outreach.contact_windows import CONTACT_WINDOWS, quiet_hours
from cdp.errors import InvalidInput
from cdp.projection.features import DAY_US
from cdp.projection.tables import ProjectionData
from graph.model import CAMPAIGN_PURPOSE_VALUES, CONTACT_KIND_VALUES
from graph.store import GraphStore, node_op

#: Exclusion reasons, in the order they are checked (a customer gets the first).
REASONS: tuple[str, ...] = (
    "INACTIVE", "DO_NOT_CONTACT", "NO_CONSENT_PURPOSE", "NO_CONSENT_CHANNEL", "NO_ADDRESS",
    "RECENT_COMPLAINT", "RUNNING_CAMPAIGN", "FREQUENCY_CAP", "QUIET_HOURS",
)

#: What each reason means, for the API and docs.
REASON_TEXT: dict[str, str] = {
    "INACTIVE": "the customer is not active",
    "DO_NOT_CONTACT": "the customer asked not to be contacted",
    "NO_CONSENT_PURPOSE": "no consent for the campaign's purpose",
    "NO_CONSENT_CHANNEL": "no consent for the wave's channel",
    "NO_ADDRESS": "no phone number or e-mail address for the wave's channel",
    "RECENT_COMPLAINT": "a recent or still open complaint",
    "RUNNING_CAMPAIGN": "already in another running campaign",
    "FREQUENCY_CAP": "a frequency cap would be exceeded",
    "QUIET_HOURS": "quiet hours leave no time in the channel's contact window",
}

#: The customer property that reaches a customer through each channel (others need none).
ADDRESS_OF: dict[str, str] = {"SMS": "phone", "OUTBOUND_CALL": "phone", "EMAIL": "email"}

POLICY_ID = "default"


@dataclass(frozen=True)
class FrequencyCap:
    """At most ``max_contacts`` counted contacts in any ``days``-day window; per ``channel``, or
    across all channels when ``channel`` is None."""

    max_contacts: int
    days: int
    channel: str | None = None


@dataclass(frozen=True)
class ContactPolicy:
    """The rules audiences obey (see the module docstring); immutable, JSON round-trippable."""

    frequency_caps: tuple[FrequencyCap, ...] = (
        FrequencyCap(2, 7), FrequencyCap(4, 30), FrequencyCap(1, 7, "SMS"),
        FrequencyCap(1, 14, "OUTBOUND_CALL"), FrequencyCap(2, 7, "EMAIL"),
    )
    counted_kinds: tuple[str, ...] = ("CAMPAIGN_OFFER", "RETENTION")
    quiet_hours: str | None = "21-08"
    complaint_suppression_days: int = 30
    suppress_open_complaints: bool = True
    explicit_consent_purposes: tuple[str, ...] = ()
    explicit_consent_channels: tuple[str, ...] = ()
    exclude_running_campaigns: bool = True
    version: int = 0

    def to_json(self) -> str:
        """The policy as a JSON document (without ``version``)."""
        body = asdict(self)
        body.pop("version")
        return json.dumps(body, sort_keys=True)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], version: int = 0) -> ContactPolicy:
        """Parse and check a policy document; raises ``InvalidInput`` naming the bad field."""
        if not isinstance(raw, Mapping):
            raise InvalidInput("the contact policy must be an object", field="policy")
        known = {f for f in cls.__dataclass_fields__ if f != "version"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise InvalidInput(f"unknown contact policy field(s): {', '.join(unknown)}", field=unknown[0])
        base = cls()
        caps = base.frequency_caps
        if "frequency_caps" in raw:
            caps = tuple(_cap(item, f"frequency_caps[{i}]") for i, item in enumerate(_list(raw, "frequency_caps")))
        kinds = tuple(_list(raw, "counted_kinds")) if "counted_kinds" in raw else base.counted_kinds
        for i, kind in enumerate(kinds):
            if kind not in CONTACT_KIND_VALUES:
                raise InvalidInput(f"counted_kinds[{i}]: unknown contact kind {kind!r}", field="counted_kinds")
        quiet = raw.get("quiet_hours", base.quiet_hours)
        if quiet is not None and (not isinstance(quiet, str) or quiet_hours(quiet) is None):
            raise InvalidInput("quiet_hours must look like '21-08' (hours, may wrap midnight) or be null",
                               field="quiet_hours")
        days = raw.get("complaint_suppression_days", base.complaint_suppression_days)
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 3650:
            raise InvalidInput("complaint_suppression_days must be a whole number of days, 0..3650",
                               field="complaint_suppression_days")
        purposes = tuple(_list(raw, "explicit_consent_purposes")) if "explicit_consent_purposes" in raw \
            else base.explicit_consent_purposes
        for purpose in purposes:
            if purpose not in CAMPAIGN_PURPOSE_VALUES:
                raise InvalidInput(f"unknown purpose {purpose!r}", field="explicit_consent_purposes")
        channels = tuple(_list(raw, "explicit_consent_channels")) if "explicit_consent_channels" in raw \
            else base.explicit_consent_channels
        flags = {}
        for name in ("suppress_open_complaints", "exclude_running_campaigns"):
            value = raw.get(name, getattr(base, name))
            if not isinstance(value, bool):
                raise InvalidInput(f"{name} must be true or false", field=name)
            flags[name] = value
        return cls(frequency_caps=caps, counted_kinds=kinds, quiet_hours=quiet,
                   complaint_suppression_days=days, explicit_consent_purposes=purposes,
                   explicit_consent_channels=channels, version=version, **flags)


DEFAULT_POLICY = ContactPolicy()


def _list(raw: Mapping[str, Any], name: str) -> list[Any]:
    value = raw[name]
    if not isinstance(value, list):
        raise InvalidInput(f"{name} must be a list", field=name)
    return value


def _cap(item: Any, path: str) -> FrequencyCap:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{path} must be an object with max_contacts, days and optional channel", field=path)
    unknown = sorted(set(item) - {"max_contacts", "days", "channel"})
    if unknown:
        raise InvalidInput(f"{path}: unknown field(s) {', '.join(unknown)}", field=path)
    maximum, days, channel = item.get("max_contacts"), item.get("days"), item.get("channel")
    if not isinstance(maximum, int) or isinstance(maximum, bool) or maximum < 0:
        raise InvalidInput(f"{path}.max_contacts must be a whole number >= 0", field=path)
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 366:
        raise InvalidInput(f"{path}.days must be a whole number of days, 1..366", field=path)
    if channel is not None and not isinstance(channel, str):
        raise InvalidInput(f"{path}.channel must be a channel id or null", field=path)
    return FrequencyCap(maximum, days, channel)


def load(store: GraphStore, fresh: bool = False) -> ContactPolicy:
    """The stored policy, or ``DEFAULT_POLICY`` when none was saved. Raises StoreError.

    Next-best offers and channel choice read it on every call, so it is cached in the store
    (``GraphStore.cached_nodes``: dropped by this process's next write and by another
    process's policy write seen in the change feed); ``fresh`` reads the store itself."""
    found = store.nodes("ContactPolicy", [POLICY_ID]) if fresh else store.cached_nodes("ContactPolicy", [POLICY_ID])
    row = found.get(POLICY_ID)
    if not row or not row.get("definition"):
        return DEFAULT_POLICY
    return ContactPolicy.from_mapping(json.loads(row["definition"]), int(row.get("version") or 0))


def save(store: GraphStore, raw: Mapping[str, Any], now: datetime) -> ContactPolicy:
    """Check and store a new policy (fields left out keep their defaults); returns it with
    its new version. Raises ``InvalidInput`` (nothing written) for a bad document, and
    for caps naming unknown channels."""
    policy = ContactPolicy.from_mapping(raw)
    known = set(store.channels())
    for cap in policy.frequency_caps if "frequency_caps" in raw else ():  # the defaults name the standard channels
        if cap.channel is not None and cap.channel not in known:
            raise InvalidInput(f"frequency cap names unknown channel {cap.channel!r}", field="frequency_caps")
    for channel in policy.explicit_consent_channels:
        if channel not in known:
            raise InvalidInput(f"unknown channel {channel!r}", field="explicit_consent_channels")
    version = load(store, fresh=True).version + 1
    store.write([node_op("ContactPolicy", [{"id": POLICY_ID, "definition": policy.to_json(),
                                            "updated_at": now, "version": version}])])
    return replace(policy, version=version)


# --------------------------------------------------------------------------- evaluation


@dataclass
class PolicyResult:
    """The policy applied to candidate rows for one channel: ``reason`` per row (index into
    ``REASONS``, -1 when allowed) and the send time per allowed row (µs since the epoch)."""

    rows: np.ndarray
    reason: np.ndarray
    send_at_us: np.ndarray
    channel: str

    @property
    def allowed(self) -> np.ndarray:
        return self.reason < 0

    def counts(self) -> dict[str, int]:
        """Excluded rows per reason (reasons with none left out)."""
        counted = np.bincount(self.reason[self.reason >= 0], minlength=len(REASONS))
        return {REASONS[i]: int(c) for i, c in enumerate(counted) if c}


@dataclass
class _Attributes:
    """The latest value per (row, key) of ``do_not_contact`` and ``quiet_hours`` (consent is
    ``cdp.privacy.consent.ConsentTable``)."""

    data: ProjectionData
    latest: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        a = self.data.fact("attributes")
        if a.empty:
            self.latest = a
            return
        keys = a["key"].astype(str).str.lower()
        wanted = keys.isin(["do_not_contact", "quiet_hours"])
        a = a[wanted.to_numpy()]
        self.latest = a.assign(key=a["key"].astype(str).str.lower()).sort_values("observed_at") \
            .drop_duplicates(["row", "key"], keep="last")

    def answer(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows whose ``key`` says yes, and rows whose ``key`` says no."""
        if self.latest.empty:
            return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
        mine = self.latest[self.latest["key"] == key]
        values = mine["value"].astype(str).str.strip().str.lower()
        rows = mine["row"].to_numpy(dtype=np.int64)
        no = consent.DENIED_WORDS | consent.REVOKED_WORDS
        return rows[values.isin(consent.GRANTED_WORDS).to_numpy()], rows[values.isin(no).to_numpy()]

    def text(self, key: str) -> pd.DataFrame:
        return self.latest[self.latest["key"] == key] if not self.latest.empty else self.latest


def evaluate(policy: ContactPolicy, data: ProjectionData, rows: np.ndarray, channel: str, purpose: str,
             at: datetime, running: np.ndarray | None = None) -> PolicyResult:
    """Apply ``policy`` to customer ``rows`` of ``data`` for one wave through ``channel``
    sent at ``at`` (naive UTC) for ``purpose``.

    ``running``: customer rows in the treatment group of other running campaigns.
    Returns the reason per row and each allowed row's send time. Never raises for
    data problems (unreadable attributes count as missing).
    """
    rows = np.asarray(rows, dtype=np.int64)
    n = data.size
    reason = np.full(n, -1, dtype=np.int16)
    candidate = np.zeros(n, dtype=bool)
    candidate[rows] = True

    def exclude(name: str, mask: np.ndarray) -> None:
        hit = candidate & (reason < 0) & mask
        reason[hit] = REASONS.index(name)

    customers = data.customers
    status = customers["status"].astype(object).to_numpy() if "status" in customers else np.full(n, "ACTIVE")
    exclude("INACTIVE", (status != "ACTIVE") | ~data.present[:n])
    attrs = _Attributes(data)
    yes, no = attrs.answer("do_not_contact")
    exclude("DO_NOT_CONTACT", _mask(n, yes))
    consents = consent.ConsentTable(data, at)
    exclude("NO_CONSENT_PURPOSE", consents.purpose_refused(purpose, channel, policy.explicit_consent_purposes))
    exclude("NO_CONSENT_CHANNEL", consents.channel_refused(channel, purpose, policy.explicit_consent_channels))
    address = ADDRESS_OF.get(channel)
    if address and address in customers:
        values = customers[address].astype(object).to_numpy()
        exclude("NO_ADDRESS", pd.isna(values) | (pd.Series(values).astype(str).str.strip() == "").to_numpy())
    t = np.datetime64(at, "us").astype(np.int64)
    contacts = data.fact("contacts")
    c_rows = contacts["row"].to_numpy(dtype=np.int64)
    c_at = contacts["at"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    kind = contacts["kind"].astype(object).to_numpy()
    complaint = kind == "COMPLAINT"
    recent = complaint & (c_at <= t) & (c_at > t - policy.complaint_suppression_days * DAY_US)
    if policy.suppress_open_complaints:
        outcome = contacts["outcome"].astype(object).to_numpy()
        recent |= complaint & np.isin(outcome, ["OPEN", "ESCALATED"]) & (c_at <= t)
    exclude("RECENT_COMPLAINT", _mask(n, c_rows[recent]))
    if policy.exclude_running_campaigns and running is not None and len(running):
        exclude("RUNNING_CAMPAIGN", _mask(n, running))
    if policy.frequency_caps:
        counted = np.isin(kind, list(policy.counted_kinds)) \
            & (contacts["direction"].astype(object).to_numpy() == "OUTBOUND")
        via = contacts["channel"].astype(object).to_numpy()
        over = np.zeros(n, dtype=bool)
        for cap in policy.frequency_caps:
            if cap.channel is not None and cap.channel != channel:
                continue
            near = counted & (np.abs(c_at - t) < cap.days * DAY_US)
            if cap.channel is not None:
                near &= via == cap.channel
            over |= np.bincount(c_rows[near], minlength=n)[:n] + 1 > cap.max_contacts
        exclude("FREQUENCY_CAP", over)
    start, end = CONTACT_WINDOWS.get(channel, (0, 24))
    window = np.zeros(24, dtype=bool)
    window[start:end] = True
    if policy.quiet_hours and channel in ("SMS", "OUTBOUND_CALL", "AGENT", "EMAIL"):
        window[quiet_hours(policy.quiet_hours) or []] = False
    no_time = np.full(n, not window.any())
    send = np.full(n, _next_allowed(t, window), dtype=np.int64)
    per_customer = attrs.text("quiet_hours")
    if len(per_customer):
        # One computation per distinct quiet-hours text, not per customer.
        for text, group in per_customer.groupby(per_customer["value"].astype(str), sort=False):
            hours = quiet_hours(text)
            if hours is None:
                continue
            mine = window.copy()
            mine[hours] = False
            group_rows = group["row"].to_numpy(dtype=np.int64)
            if not mine.any():
                no_time[group_rows] = True
            else:
                send[group_rows] = _next_allowed(t, mine)
    exclude("QUIET_HOURS", no_time)
    return PolicyResult(rows=rows, reason=reason[rows], send_at_us=send[rows], channel=channel)


def _mask(n: int, rows: np.ndarray) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    rows = np.asarray(rows, dtype=np.int64)
    out[rows[(rows >= 0) & (rows < n)]] = True
    return out


def _next_allowed(t_us: int | np.int64, allowed_hours: np.ndarray) -> int:
    """The first time at or after ``t_us`` whose hour is allowed (``t_us`` itself if allowed)."""
    if not allowed_hours.any():
        return int(t_us)
    at = datetime(1970, 1, 1) + timedelta(microseconds=int(t_us))
    if allowed_hours[at.hour]:
        return int(t_us)
    start = at.replace(minute=0, second=0, microsecond=0)
    for step in range(1, 25):
        candidate = start + timedelta(hours=step)
        if allowed_hours[candidate.hour]:
            return int((candidate - datetime(1970, 1, 1)) / timedelta(microseconds=1))
    return int(t_us)
