"""Next-best channel and time: through which channel, and when, to reach a customer.

For every customer and channel, from the projection's contacts (``ChannelStats``):

* **response rate**: campaign offers through the channel the customer accepted,
  smoothed toward the channel's rate over the whole base (``PRIOR_OFFERS``
  pseudo-offers), so one lucky SMS does not decide everything;
* **use**: the share of the customer's contacts in the last year through it;
* **preference**: the customer's ranked channel preferences (``PREFERS``);
* **consent** (``cdp.privacy.consent``, for a purpose, MARKETING by default): a channel
  the customer refused (``consent_<channel>`` or ``consent_<channel>_<purpose>``
  denied or revoked), or any channel when the purpose itself is refused, is
  removed; without a statement the customer counts as soft opt-in
  (``DEFAULT_CONSENT``), unless the contact policy asks for an explicit yes
  (``explicit_consent_purposes`` / ``explicit_consent_channels``);
* **quiet hours**: ``quiet_hours`` (e.g. ``21-08``) removes those hours.

The chance of a response is the smoothed response rate times an affinity
weight (``1 + USE_WEIGHT * use share + PREFERENCE_WEIGHT / preference rank``),
at most 1. Given what a response is worth (an offer's expected margin), channels
rank by expected net value: worth x chance - cost per contact. Channels
without consent are left out. The best time is the next
hour, from ``at``, inside the channel's contact window and outside quiet hours,
at the hour the customer most often contacts the operator (inbound contacts),
or else the hour at which the channel's offers are accepted most often.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from cdp.outreach import contact_policy
from cdp.outreach.contact_windows import CONTACT_WINDOWS, quiet_hours
from cdp.privacy.consent import ConsentTable
from cdp.projection.features import DAY_US
from cdp.projection.tables import Projection, ProjectionData
from graph.clock import utc_now

#: Pseudo-offers pulling a customer's response rate toward the channel's rate.
PRIOR_OFFERS = 4.0
USE_WEIGHT = 1.0
PREFERENCE_WEIGHT = 0.5
#: Share of the base's overall acceptance rate given to a channel no offer went through yet.
UNPROVEN_SHARE = 0.5
#: Consent assumed when a customer said nothing about a channel (False: every channel needs a yes).
DEFAULT_CONSENT = True
#: The consent purpose channels are chosen for unless another is asked for: offers are marketing.
DEFAULT_PURPOSE = "MARKETING"

@dataclass(frozen=True)
class ChannelChoice:
    """One channel for one customer, with what the score is made of."""

    channel: str
    name: str
    score: float
    response_rate: float
    offers: int
    accepted: int
    use_share: float
    preference_rank: int | None
    best_time: datetime | None
    reasons: tuple[str, ...]


class ChannelStats:
    """Per-customer, per-channel contact statistics of one projection snapshot.

    ``purpose``: what contacts are for (consent is checked for it); ``explicit_purposes``
    and ``explicit_channels``: what needs an explicit yes (the contact policy's lists).
    """

    def __init__(self, data: ProjectionData, at: datetime | None = None, purpose: str = DEFAULT_PURPOSE,
                 explicit_purposes: tuple[str, ...] = (), explicit_channels: tuple[str, ...] = ()) -> None:
        self.data = data
        self.at = at or utc_now()
        self.purpose = purpose
        self.channels = list(data.channels.index)
        self.names = dict(zip(data.channels.index, data.channels.get("name", data.channels.index)))
        n, c = data.size, len(self.channels)
        k = data.fact("contacts")
        code = pd.Index(self.channels).get_indexer(k["channel"].astype(object).to_numpy())
        rows = k["row"].to_numpy().astype(np.int64)
        at_us = k["at"].to_numpy(dtype="datetime64[us]")
        hour = pd.DatetimeIndex(at_us).hour.to_numpy()
        now = np.datetime64(self.at, "us")
        valid = (code >= 0) & ~np.isnat(at_us) & (at_us < now)
        kind = k["kind"].astype(object).to_numpy()
        outcome = k["outcome"].astype(object).to_numpy()
        offer = valid & (kind == "CAMPAIGN_OFFER")
        accepted = offer & (outcome == "ACCEPTED")
        year = valid & ((now - at_us).astype("timedelta64[us]").astype(np.int64) <= 365 * DAY_US)
        cell = rows * c + np.maximum(code, 0)
        self.offers = np.bincount(cell[offer], minlength=n * c).reshape(n, c).astype(np.float32)
        self.accepted = np.bincount(cell[accepted], minlength=n * c).reshape(n, c).astype(np.float32)
        self.used = np.bincount(cell[year], minlength=n * c).reshape(n, c).astype(np.float32)
        total_offers = self.offers.sum(axis=0)
        overall = float(self.accepted.sum() / total_offers.sum()) if total_offers.sum() else 0.0
        # A channel no offer went through yet gets half the base's overall rate: unproven, not useless.
        self.channel_rate = np.where(total_offers > 0, self.accepted.sum(axis=0) / np.maximum(total_offers, 1),
                                     UNPROVEN_SHARE * overall)
        self.cost = data.channels["cost_per_contact"].reindex(self.channels).fillna(0).to_numpy(dtype=float) \
            if "cost_per_contact" in data.channels else np.zeros(c)
        # The hour each customer most often starts a contact (-1: never), and each channel's best offer hour.
        inbound = valid & (k["direction"] == "INBOUND").to_numpy()
        hours = np.bincount(rows[inbound] * 24 + hour[inbound], minlength=n * 24).reshape(n, 24)
        self.habit_hour = np.where(hours.max(axis=1) > 0, hours.argmax(axis=1), -1).astype(np.int8)
        by_hour = np.bincount(code[accepted] * 24 + hour[accepted], minlength=c * 24).reshape(c, 24)
        self.channel_hour = np.where(by_hour.max(axis=1) > 0, by_hour.argmax(axis=1), -1)
        p = data.fact("preferences")
        self.rank = np.zeros((n, c), dtype=np.float32)
        pcode = pd.Index(self.channels).get_indexer(p["channel"].astype(object).to_numpy())
        ok = pcode >= 0
        self.rank[p["row"].to_numpy()[ok], pcode[ok]] = p["rank"].to_numpy()[ok]
        consents = ConsentTable(data, self.at)
        if not DEFAULT_CONSENT:
            explicit_channels = tuple(self.channels)
        #: Rows x channels: may the customer be contacted through the channel for ``purpose``.
        self.consent = consents.allowed_channels(self.channels, purpose, explicit_purposes, explicit_channels)
        #: Until when the consent decisions hold (the next expiry after ``at``), or None.
        self.valid_until = consents.valid_until
        self.quiet = _quiet(data)

    def scores(self, rows: np.ndarray, value: np.ndarray | float | None = None) -> np.ndarray:
        """Channel scores of ``rows`` (len(rows) x channels); channels without consent are -inf.

        Without ``value`` a score is the chance of a response (smoothed rate times
        affinity). With ``value`` (what a response is worth, per row or one
        number) it is the expected net value: value x chance - cost per contact.
        """
        offers, accepted = self.offers[rows], self.accepted[rows]
        rate = (accepted + PRIOR_OFFERS * self.channel_rate) / (offers + PRIOR_OFFERS)
        used = self.used[rows]
        share = used / np.maximum(used.sum(axis=1, keepdims=True), 1)
        rank = self.rank[rows]
        weight = 1 + USE_WEIGHT * share + np.where(rank > 0, PREFERENCE_WEIGHT / np.maximum(rank, 1), 0)
        score = np.minimum(rate * weight, 1.0)
        if value is not None:
            score = np.asarray(value, dtype=float).reshape(-1, 1) * score - self.cost
        return np.where(self.consent[rows], score, -np.inf)

    def best(self, rows: np.ndarray, value: np.ndarray | float | None = None) -> np.ndarray:
        """Index (into ``channels``) of each row's best channel, -1 when none is allowed."""
        scores = self.scores(rows, value)
        if not scores.shape[1]:  # no channel catalogue (every Channel node deleted): no channel to pick
            return np.full(len(rows), -1, dtype=np.int64)
        best = scores.argmax(axis=1)
        return np.where(np.isfinite(scores[np.arange(len(rows)), best]), best, -1)

    def choices(self, row: int, first: int = 3, value: float | None = None) -> list[ChannelChoice]:
        """The ``first`` best channels for one customer row, best first, with reasons and times
        (``value``: what a response is worth, to rank by expected net value; see ``scores``)."""
        scores = self.scores(np.array([row]), value)[0]
        order = [i for i in np.argsort(-scores, kind="stable") if np.isfinite(scores[i])][:first]
        out = []
        total_used = float(self.used[row].sum())
        for i in order:
            channel = self.channels[i]
            offers, accepted = int(self.offers[row, i]), int(self.accepted[row, i])
            rate = (accepted + PRIOR_OFFERS * self.channel_rate[i]) / (offers + PRIOR_OFFERS)
            share = float(self.used[row, i]) / total_used if total_used else 0.0
            rank = int(self.rank[row, i]) or None
            reasons = []
            if offers:
                reasons.append(f"accepted {accepted} of {offers} offers through {self.names.get(channel, channel)}")
            reasons.append(f"{self.channel_rate[i]:.0%} of offers through {self.names.get(channel, channel)} "
                           "are accepted across the base")
            if rank:
                reasons.append(f"preferred channel number {rank}")
            if share:
                reasons.append(f"{share:.0%} of the customer's contacts in the last year")
            if value is not None:
                reasons.append(f"costs {self.cost[i]:.2f} per contact")
            out.append(ChannelChoice(
                channel=channel, name=str(self.names.get(channel, channel)), score=float(scores[i]),
                response_rate=float(rate), offers=offers, accepted=accepted, use_share=share,
                preference_rank=rank, best_time=self.best_time(row, channel), reasons=tuple(reasons),
            ))
        return out

    def best_time(self, row: int, channel: str) -> datetime | None:
        """The next hour from ``at`` in the channel's window, outside quiet hours, at the
        customer's habitual hour if it fits (else the channel's best offer hour, else the earliest)."""
        start, end = CONTACT_WINDOWS.get(channel, (9, 18))
        allowed = [h for h in range(24) if start <= h < end and not self.quiet[row, h]]
        if not allowed:
            return None
        i = self.channels.index(channel)
        wanted = [int(self.habit_hour[row]), int(self.channel_hour[i])]
        hour = next((h for h in wanted if h in allowed), allowed[0])
        at = self.at.replace(minute=0, second=0, microsecond=0)
        candidate = at.replace(hour=hour)
        return candidate if candidate > self.at else candidate + timedelta(days=1)


def _quiet(data: ProjectionData) -> np.ndarray:
    """Quiet hours (rows x 24) from the latest ``quiet_hours`` attribute of each customer."""
    quiet = np.zeros((data.size, 24), dtype=bool)
    a = data.fact("attributes")
    if a.empty:
        return quiet
    a = a[(a["key"].astype(str).str.lower() == "quiet_hours").to_numpy()]
    latest = a.sort_values("observed_at").drop_duplicates(["row"], keep="last")
    for row, value in latest[["row", "value"]].itertuples(index=False):
        hours = quiet_hours(str(value))
        if hours is not None:
            quiet[row, hours] = True
    return quiet


class ChannelChoices:
    """``ChannelStats`` of the latest projection snapshot per purpose, rebuilt when the data
    or the contact policy's consent lists change, or a consent statement expires."""

    def __init__(self, projection: Projection) -> None:
        self.projection = projection
        self._lock = threading.Lock()
        self._stats: dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ChannelStats]] = {}

    def current(self, data: ProjectionData | None = None, purpose: str = DEFAULT_PURPOSE) -> ChannelStats:
        """The statistics of ``data`` (default: the latest snapshot) for contacts of ``purpose``.
        Reads the contact policy (one small store read). Raises StoreError."""
        data = data or self.projection.data()
        policy = contact_policy.load(self.projection.store)
        lists = (policy.explicit_consent_purposes, policy.explicit_consent_channels)
        with self._lock:
            hit = self._stats.get(purpose)
            if hit is None or hit[0] != lists or hit[1].data is not data or (
                    hit[1].valid_until is not None and utc_now() >= hit[1].valid_until):
                hit = (lists, ChannelStats(data, purpose=purpose, explicit_purposes=lists[0],
                                           explicit_channels=lists[1]))
                self._stats[purpose] = hit
            return hit[1]
