"""Campaigns: offers to a target audience in ordered waves, under the contact policy.

A campaign (a ``Campaign`` node) has a target (a saved segment or an inline
segment definition, ``cdp.segments.engine``), one or more offers (``OFFERS`` to
products, ranked), ordered waves (channel, delay after the previous wave, only
those who have not responded yet), a control-group share, a budget and a
schedule. Its life: DRAFT -> RUNNING (first wave launched) -> COMPLETED, or
CANCELLED.

Building a wave's audience (``Campaigns.audience``, a dry run; launching does
the same and writes it):

1. candidates: wave 1 takes the target's members; a later wave takes the
   campaign's treatment group, without those who responded when the wave is
   ``only_non_responders`` (``ALREADY_RESPONDED``);
2. the contact policy (``cdp.outreach.contact_policy``) excludes with a reason each;
3. wave 1 gives each remaining customer the first offer (by rank) the catalog
   rules let them take (``cdp.offers.catalog_rules``), else ``NO_ELIGIBLE_OFFER``;
4. the budget: customers beyond what the remaining budget pays for at the
   channel's cost per contact are left out (``BUDGET``) in a stable random
   order, before the control split so both groups stay alike;
5. wave 1 splits the rest into a control group (``control_share``, never
   contacted) and the treatment group by a stable hash of campaign and
   customer id: the same campaign always holds out the same customers.

Launching a wave writes, in one transaction: a ``TARGETED`` relationship per
audience member (wave 1; cohort TREATMENT or CONTROL), and per treated customer
a ``Contact`` (kind CAMPAIGN_OFFER, direction OUTBOUND, outcome NO_RESPONSE,
``campaign``/``wave``/``cost``/``offer`` set, time = the send time the policy
allows) linked ``HAD_CONTACT``, ``VIA`` its channel, ``ABOUT`` the offer and
``SENT`` from the campaign; and the campaign's new state.

Responses (``record_responses``: OPENED, RESPONDED, CONVERTED with revenue,
DECLINED) are kept on the customer's ``TARGETED`` relationship, for treatment
and control alike (a sales feed reports the control group's purchases too);
a conversion or a decline also sets the outcome of the wave's contact
(ACCEPTED / DECLINED), which the recommendations and channel statistics read.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from collections.abc import Callable
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from cdp.offers import catalog_rules
from cdp.privacy import consent
from cdp.outreach import contact_policy
from cdp.outreach.contact_policy import ContactPolicy
from cdp.formats.display_format import iso
from cdp.errors import Conflict, InvalidInput, NotFound, require_analytics
from cdp.projection.tables import ProjectionData
from cdp.segments.engine import SegmentEngine
from cdp.segments.definition import parse_definition, personal_uses
from graph.clock import utc_now
from graph.model import CAMPAIGN_PURPOSE_VALUES
from graph.store import GraphStore, WriteOp, node_op, relationship_op, unlink_op

#: Reasons a campaign itself (not the contact policy) leaves a candidate out.
CAMPAIGN_REASONS: tuple[str, ...] = ("ALREADY_RESPONDED", "NO_ELIGIBLE_OFFER", "BUDGET")
REASONS: tuple[str, ...] = ("ALREADY_RESPONDED",) + contact_policy.REASONS + ("NO_ELIGIBLE_OFFER", "BUDGET")
REASON_TEXT: dict[str, str] = {
    **contact_policy.REASON_TEXT,
    "ALREADY_RESPONDED": "responded to an earlier wave",
    "NO_ELIGIBLE_OFFER": "none of the campaign's offers is open to the customer (catalog rules)",
    "BUDGET": "beyond what the remaining budget pays for",
}
#: How each customer's offer is chosen among the campaign's eligible offers.
OFFER_CHOICES = ("RANK", "EXPECTED_VALUE")
#: Response kinds, and the contact outcome each sets (None: outcome unchanged).
RESPONSE_KINDS: dict[str, str | None] = {"OPENED": None, "RESPONDED": None, "CONVERTED": "ACCEPTED",
                                         "DECLINED": "DECLINED"}
MAX_CONTROL_SHARE = 0.5
MAX_WAVES = 10
DEFAULT_RESPONSE_WINDOW_DAYS = 30


@dataclass(frozen=True)
class Wave:
    """One wave: its plan and, once launched, what it did."""

    number: int
    channel: str
    delay_days: int = 0
    only_non_responders: bool = True
    launched_at: datetime | None = None
    contacted: int | None = None
    cost: float | None = None
    excluded: dict[str, int] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "channel": self.channel, "delay_days": self.delay_days,
                "only_non_responders": self.only_non_responders,
                "launched_at": self.launched_at.isoformat() if self.launched_at else None,
                "contacted": self.contacted, "cost": self.cost, "excluded": self.excluded}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Wave:
        at = raw.get("launched_at")
        return cls(number=int(raw["number"]), channel=str(raw["channel"]), delay_days=int(raw.get("delay_days", 0)),
                   only_non_responders=bool(raw.get("only_non_responders", True)),
                   launched_at=datetime.fromisoformat(at) if at else None, contacted=raw.get("contacted"),
                   cost=raw.get("cost"), excluded=raw.get("excluded"))


@dataclass(frozen=True)
class WavePlan:
    """A wave as a caller asks for it."""

    channel: str
    delay_days: int = 0
    only_non_responders: bool = True


@dataclass(frozen=True)
class CampaignSpec:
    """What ``Campaigns.create`` needs; see the module docstring."""

    name: str
    offers: tuple[str, ...]
    waves: tuple[WavePlan, ...]
    target_segment: str | None = None
    target_definition: Any = None
    description: str | None = None
    purpose: str = "MARKETING"
    offer_choice: str = "RANK"
    control_share: float = 0.1
    budget: float | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    response_window_days: int = DEFAULT_RESPONSE_WINDOW_DAYS


@dataclass(frozen=True)
class Campaign:
    """A stored campaign."""

    id: str
    name: str
    description: str | None
    purpose: str
    status: str
    target_segment: str | None
    target_definition: Any
    offers: tuple[str, ...]
    waves: tuple[Wave, ...]
    control_share: float
    budget: float | None
    offer_choice: str
    starts_at: datetime | None
    ends_at: datetime | None
    response_window_days: int
    created_at: datetime | None
    updated_at: datetime | None
    launched_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any], offers: Sequence[str]) -> Campaign:
        definition = row.get("target_definition")
        return cls(
            id=row["id"], name=row.get("name") or row["id"], description=row.get("description"),
            purpose=row.get("purpose") or "MARKETING", status=row.get("status") or "DRAFT",
            target_segment=row.get("target_segment") or None,
            target_definition=json.loads(definition) if definition else None,
            offers=tuple(offers), waves=tuple(Wave.from_json(w) for w in json.loads(row.get("waves") or "[]")),
            control_share=float(row.get("control_share") or 0.0), budget=row.get("budget"),
            offer_choice=row.get("offer_choice") or "RANK",
            starts_at=row.get("starts_at"), ends_at=row.get("ends_at"),
            response_window_days=int(row.get("response_window_days") or DEFAULT_RESPONSE_WINDOW_DAYS),
            created_at=row.get("created_at"), updated_at=row.get("updated_at"), launched_at=row.get("launched_at"),
        )

    @property
    def spent(self) -> float:
        """What the launched waves cost."""
        return float(sum(w.cost or 0.0 for w in self.waves))

    def wave(self, number: int) -> Wave:
        """Wave ``number``; raises ``InvalidInput`` when the campaign has no such wave."""
        for w in self.waves:
            if w.number == number:
                return w
        raise InvalidInput(f"campaign {self.id} has waves 1..{len(self.waves)}, not {number}", field="wave")

    def due_at(self, number: int) -> datetime | None:
        """When wave ``number`` may be launched: the planned start for wave 1, the previous
        wave's launch plus the delay for later ones (None while that one is not launched)."""
        if number == 1:
            return self.starts_at
        previous = self.wave(number - 1)
        if previous.launched_at is None:
            return None
        return previous.launched_at + timedelta(days=self.wave(number).delay_days)

    def row(self, now: datetime) -> dict[str, Any]:
        """The ``Campaign`` node properties."""
        return {
            "id": self.id, "name": self.name, "description": self.description, "purpose": self.purpose,
            "status": self.status, "target_segment": self.target_segment,
            "target_definition": json.dumps(self.target_definition, sort_keys=True)
            if self.target_definition is not None else None,
            "waves": json.dumps([w.to_json() for w in self.waves]), "control_share": self.control_share,
            "offer_choice": self.offer_choice,
            "budget": self.budget, "starts_at": self.starts_at, "ends_at": self.ends_at,
            "response_window_days": self.response_window_days, "created_at": self.created_at,
            "updated_at": now, "launched_at": self.launched_at,
        }


@dataclass
class Audience:
    """A wave's audience (dry run or launched).

    ``target``: candidates before any exclusion; ``excluded``: count per reason;
    ``rows``: customer rows kept (treatment and, for wave 1, control);
    ``control``: per kept row, held out; ``offer``/``send_at_us``: per kept row.
    """

    campaign: Campaign
    wave: Wave
    at: datetime
    data: ProjectionData
    target: int
    excluded: dict[str, int]
    rows: np.ndarray
    control: np.ndarray
    offer: np.ndarray
    send_at_us: np.ndarray
    cost_per_contact: float

    @property
    def eligible(self) -> int:
        return int(len(self.rows))

    @property
    def treatment(self) -> int:
        return int((~self.control).sum())

    @property
    def control_size(self) -> int:
        return int(self.control.sum())

    @property
    def cost(self) -> float:
        return self.treatment * self.cost_per_contact

    def ids(self) -> np.ndarray:
        return self.data.ids.to_numpy()[self.rows]


@dataclass(frozen=True)
class ResponseInput:
    """One response to record: ``kind`` of ``RESPONSE_KINDS``; ``wave`` defaults to the last
    wave that contacted the customer; ``revenue`` only for CONVERTED."""

    customer_id: str
    kind: str
    at: datetime
    revenue: float | None = None
    wave: int | None = None


@dataclass(frozen=True)
class ResponseResult:
    recorded: int
    campaign: Campaign


def stable_uniform(campaign_id: str, ids: np.ndarray, salt: str = "control") -> np.ndarray:
    """A number in [0, 1) per customer id, fixed for ``campaign_id`` (and ``salt``): the same
    campaign always draws the same numbers, another campaign independent ones."""
    key = hashlib.blake2b(f"{salt}|{campaign_id}".encode(), digest_size=8).hexdigest()[:16]
    hashed = pd.util.hash_array(np.asarray(ids, dtype=object), hash_key=key)
    return (hashed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class OfferValues(Protocol):
    """What campaigns need of the recommendation engine (``cdp.offers.recommendations``): the
    value of each of a campaign's offers to each customer, to pick the best."""

    def expected_values(self, rows: np.ndarray, products: list[str], at: datetime | None = None,
                        data: ProjectionData | None = None) -> np.ndarray: ...


class Campaigns:
    """Campaigns of one store.

    ``data``: the live projection snapshot (``cdp.analytics.analytics.Analytics.data``); ``segments``:
    the segment engine (saved targets, evaluation); ``offers``: the recommendation engine's
    offer values. The app wires them (``cdp.analytics.analytics``); without them (None) campaigns and
    their members can be read, and anything needing an audience raises ``ConfigurationError``.
    """

    def __init__(self, store: GraphStore, data: Callable[[], ProjectionData] | None = None,
                 segments: SegmentEngine | None = None, offers: OfferValues | None = None) -> None:
        self.store = store
        self._data = data
        self._segments = segments
        self._offer_values = offers
        self._lock = threading.Lock()  # one launch or response batch at a time

    def data(self) -> ProjectionData:
        """The live projection snapshot; ``ConfigurationError`` when these campaigns have none."""
        return require_analytics(self._data)()

    @property
    def segments(self) -> SegmentEngine:
        """The segment engine; ``ConfigurationError`` when these campaigns have none."""
        return require_analytics(self._segments)

    # ------------------------------------------------------------ reading

    def list(self, status: str | None = None) -> list[Campaign]:
        """Every campaign (of ``status``), newest first."""
        rows = self.store.export_nodes("Campaign").to_pylist()
        if status is not None:
            rows = [r for r in rows if r.get("status") == status]
        offers = self._offers([r["id"] for r in rows])
        out = [Campaign.from_row(r, offers.get(r["id"], ())) for r in rows]
        return sorted(out, key=lambda c: (c.created_at or datetime.min, c.id), reverse=True)

    def get(self, campaign_id: str) -> Campaign | None:
        """The campaign ``campaign_id``, or None."""
        row = self.store.nodes("Campaign", [campaign_id]).get(campaign_id)
        if not row:
            return None
        return Campaign.from_row(row, self._offers([campaign_id]).get(campaign_id, ()))

    def require(self, campaign_id: str) -> Campaign:
        """The campaign ``campaign_id``; raises ``NotFound``."""
        campaign = self.get(campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign {campaign_id!r}", field="id")
        return campaign

    def target_uses(self, target_segment: str | None, target_definition: Any) -> dict[str, str]:
        """The personal fields a campaign target compares (``cdp.segments.definition.personal_uses``), with
        their paths under ``targetDefinition`` or the saved segment's ``definition``: whoever
        creates, previews, launches or downloads a campaign uses its target's conditions."""
        if target_definition is not None:
            return personal_uses(target_definition, "targetDefinition")
        segment = self.segments.get(target_segment) if target_segment is not None else None
        return personal_uses(segment.definition, "targetSegment.definition") if segment is not None else {}

    # builtins.list: in this class `list` is the method Campaigns.list
    def _offers(self, ids: builtins.list[str]) -> dict[str, tuple[str, ...]]:
        by: dict[str, list[tuple[int, str]]] = {}
        for (src, dst), row in self.store.relationships("OFFERS", ids).items():
            by.setdefault(src, []).append((int(row.get("rank") or 0), dst))
        return {k: tuple(p for _, p in sorted(v)) for k, v in by.items()}

    def policy(self) -> ContactPolicy:
        return contact_policy.load(self.store)

    # ------------------------------------------------------------ writing the plan

    def create(self, spec: CampaignSpec, now: datetime | None = None) -> Campaign:
        """Check ``spec`` and store a DRAFT campaign. Raises ``InvalidInput`` naming the bad
        field (nothing written), ``Conflict`` when the name is taken."""
        now = now or utc_now()
        self._check(spec)
        name = spec.name.strip()
        if any(c.name.casefold() == name.casefold() for c in self.list()):
            raise Conflict(f"a campaign named {name!r} exists", field="name")
        campaign = Campaign(
            id=f"CMP-{uuid.uuid4().hex[:12].upper()}", name=name, description=spec.description,
            purpose=spec.purpose, status="DRAFT", target_segment=spec.target_segment,
            target_definition=spec.target_definition, offers=tuple(spec.offers),
            waves=tuple(Wave(i + 1, w.channel, w.delay_days, w.only_non_responders)
                        for i, w in enumerate(spec.waves)),
            control_share=float(spec.control_share), budget=spec.budget, offer_choice=spec.offer_choice,
            starts_at=spec.starts_at,
            ends_at=spec.ends_at, response_window_days=spec.response_window_days, created_at=now,
            updated_at=now, launched_at=None)
        self.store.write([
            node_op("Campaign", [campaign.row(now)]),
            relationship_op("OFFERS", [{"from": campaign.id, "to": p, "rank": i + 1}
                                       for i, p in enumerate(campaign.offers)]),
        ])
        return campaign

    def _check(self, spec: CampaignSpec) -> None:
        if not spec.name or not spec.name.strip():
            raise InvalidInput("name must not be empty", field="name")
        if len(spec.name) > 200:
            raise InvalidInput("name must be at most 200 characters", field="name")
        if spec.purpose not in CAMPAIGN_PURPOSE_VALUES:
            raise InvalidInput(f"purpose must be one of {', '.join(CAMPAIGN_PURPOSE_VALUES)}", field="purpose")
        if (spec.target_segment is None) == (spec.target_definition is None):
            raise InvalidInput("give exactly one of targetSegment and targetDefinition", field="targetSegment")
        if spec.target_segment is not None:
            if not self.store.nodes("Segment", [spec.target_segment]):
                raise NotFound(f"no saved segment {spec.target_segment!r}", field="targetSegment")
        else:
            parse_definition(spec.target_definition, self.data(), "targetDefinition")
        if spec.offer_choice not in OFFER_CHOICES:
            raise InvalidInput(f"offerChoice must be one of {', '.join(OFFER_CHOICES)}", field="offerChoice")
        if not spec.offers:
            raise InvalidInput("a campaign needs at least one offer", field="offers")
        if len(set(spec.offers)) != len(spec.offers):
            raise InvalidInput("an offer is listed twice", field="offers")
        products = self.store.products(list(spec.offers))
        for i, product in enumerate(spec.offers):
            row = products.get(product)
            if row is None:
                raise NotFound(f"offers[{i}]: no product {product!r}", field=f"offers[{i}]")
            if (row.get("lifecycle") or "ACTIVE") != "ACTIVE" or row.get("offerable") is False:
                raise InvalidInput(f"offers[{i}]: product {product!r} is not offerable "
                                   f"(lifecycle {row.get('lifecycle')}, offerable {row.get('offerable')})",
                                   field=f"offers[{i}]")
        if not spec.waves:
            raise InvalidInput("a campaign needs at least one wave", field="waves")
        if len(spec.waves) > MAX_WAVES:
            raise InvalidInput(f"at most {MAX_WAVES} waves", field="waves")
        channels = self.store.channels()
        for i, wave in enumerate(spec.waves):
            if wave.channel not in channels:
                raise NotFound(f"waves[{i}].channel: unknown channel {wave.channel!r}",
                               field=f"waves[{i}].channel")
            if not 0 <= wave.delay_days <= 365:
                raise InvalidInput(f"waves[{i}].delayDays: must be 0..365", field=f"waves[{i}].delayDays")
        if not 0.0 <= spec.control_share <= MAX_CONTROL_SHARE:
            raise InvalidInput(f"controlShare must be between 0 and {MAX_CONTROL_SHARE}", field="controlShare")
        if spec.budget is not None and not spec.budget >= 0:
            raise InvalidInput("budget must be >= 0", field="budget")
        if spec.starts_at and spec.ends_at and spec.ends_at <= spec.starts_at:
            raise InvalidInput("endsAt must lie after startsAt", field="endsAt")
        if not 1 <= spec.response_window_days <= 365:
            raise InvalidInput("responseWindowDays must be 1..365", field="responseWindowDays")

    def set_status(self, campaign_id: str, status: str, now: datetime | None = None) -> Campaign:
        """Complete (RUNNING -> COMPLETED) or cancel (DRAFT/RUNNING -> CANCELLED) a campaign.
        Raises ``NotFound``, ``InvalidInput`` for another status, ``Conflict`` for a move its
        state does not allow."""
        now = now or utc_now()
        if status not in ("COMPLETED", "CANCELLED"):
            raise InvalidInput("status must be COMPLETED or CANCELLED", field="status")
        with self._lock:
            campaign = self.require(campaign_id)
            allowed = {"COMPLETED": ("RUNNING",), "CANCELLED": ("DRAFT", "RUNNING")}[status]
            if campaign.status not in allowed:
                raise Conflict(f"campaign {campaign_id} is {campaign.status}; it cannot become {status}",
                               field="status")
            campaign = replace(campaign, status=status, updated_at=now)
            self.store.write([node_op("Campaign", [{"id": campaign.id, "status": status, "updated_at": now}])])
            return campaign

    def delete(self, campaign_id: str) -> None:
        """Delete a DRAFT campaign. Raises ``NotFound``, ``Conflict`` once launched."""
        with self._lock:
            campaign = self.require(campaign_id)
            if campaign.status != "DRAFT":
                raise Conflict(f"campaign {campaign_id} was launched; complete or cancel it instead",
                               field="id")
            self.store.write([unlink_op("OFFERS", [{"from": campaign_id, "to": p} for p in campaign.offers])])
            self.store.delete_nodes("Campaign", [campaign_id])

    # ------------------------------------------------------------ audiences

    def members(self, campaign_id: str) -> pd.DataFrame:
        """The campaign's audience members (``TARGETED``): customer, cohort, offer, last_wave,
        response times, revenue, response_wave."""
        rows = list(self.store.relationships("TARGETED", [campaign_id]).values())
        columns = ["to", "cohort", "assigned_at", "offer", "last_wave", "opened_at", "responded_at",
                   "converted_at", "declined_at", "revenue", "response_wave"]
        frame = pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
        return frame.rename(columns={"to": "customer"})

    def _running_rows(self, data: ProjectionData, campaign_id: str) -> np.ndarray:
        """Rows of customers in the audience (either cohort) of another RUNNING campaign:
        contacting another campaign's control group would spoil its measurement."""
        others = [c.id for c in self.list("RUNNING") if c.id != campaign_id]
        if not others:
            return np.array([], dtype=np.int64)
        ids = [dst for (_, dst) in self.store.relationships("TARGETED", others)]
        rows = data.rows_of(ids)
        return rows[rows >= 0]

    def audience(self, campaign_id: str, wave: int = 1, at: datetime | None = None) -> Audience:
        """The audience wave ``wave`` would have if launched at ``at`` (default now), with the
        count of customers excluded per reason. Writes nothing. Raises ``NotFound``,
        ``InvalidInput`` for an unknown wave or a target that no longer parses."""
        campaign = self.require(campaign_id)
        return self._audience(campaign, campaign.wave(wave), at or utc_now())

    def _audience(self, campaign: Campaign, wave: Wave, at: datetime) -> Audience:
        data = self.data()
        excluded: dict[str, int] = {}
        if wave.number == 1:
            definition = campaign.target_definition
            if campaign.target_segment is not None:
                segment = self.segments.get(campaign.target_segment)
                if segment is None:
                    raise InvalidInput(f"the target segment {campaign.target_segment!r} was deleted",
                                       field="targetSegment")
                definition = segment.definition
            # the principal asking was authorised for the target (``target_uses``) by the caller
            evaluation = self.segments.evaluate(definition, now=at, authorise=None)
            data = evaluation.data
            candidates = evaluation.member_rows()
            offers_of: np.ndarray | None = None
        else:
            members = self.members(campaign.id)
            treated = members[members["cohort"] == "TREATMENT"]
            if wave.only_non_responders:
                answered = treated[["responded_at", "converted_at", "declined_at"]].notna().any(axis=1)
                if answered.any():
                    excluded["ALREADY_RESPONDED"] = int(answered.sum())
                treated = treated[~answered.to_numpy()]
            rows = data.rows_of(treated["customer"].tolist())
            keep = rows >= 0
            candidates, offers_of = rows[keep], treated["offer"].to_numpy(dtype=object)[keep]
        target = int(len(candidates)) + excluded.get("ALREADY_RESPONDED", 0)
        policy = self.policy()
        result = contact_policy.evaluate(policy, data, candidates, wave.channel, campaign.purpose, at,
                                         self._running_rows(data, campaign.id))
        for reason, count in result.counts().items():
            excluded[reason] = excluded.get(reason, 0) + count
        ok = result.allowed
        rows, send = candidates[ok], result.send_at_us[ok]
        if offers_of is None:
            offer = self._choose_offers(data, rows, campaign, at)
            has = offer != None  # noqa: E711 - elementwise on an object array
            if (~has).any():
                excluded["NO_ELIGIBLE_OFFER"] = int((~has).sum())
            rows, send, offer = rows[has], send[has], offer[has]
        else:
            offer = offers_of[ok]
        ids = data.ids.to_numpy()[rows]
        cost = self._cost(wave.channel)
        share = campaign.control_share if wave.number == 1 else 0.0
        if campaign.budget is not None and cost > 0:
            affordable = int(max(campaign.budget - campaign.spent, 0.0) // cost)
            keep_n = len(rows) if affordable >= len(rows) * (1 - share) else int(affordable / (1 - share))
            if keep_n < len(rows):
                order = np.argsort(stable_uniform(campaign.id, ids, salt=f"budget{wave.number}"), kind="stable")
                kept = np.sort(order[:keep_n])
                excluded["BUDGET"] = int(len(rows) - keep_n)
                rows, send, offer, ids = rows[kept], send[kept], offer[kept], ids[kept]
        control = stable_uniform(campaign.id, ids) < share if share > 0 else np.zeros(len(rows), dtype=bool)
        return Audience(campaign=campaign, wave=wave, at=at, data=data, target=target,
                        excluded={r: excluded[r] for r in REASONS if excluded.get(r)}, rows=rows,
                        control=control, offer=np.asarray(offer, dtype=object), send_at_us=send,
                        cost_per_contact=cost)

    def _choose_offers(self, data: ProjectionData, rows: np.ndarray, campaign: Campaign,
                       at: datetime) -> np.ndarray:
        """Per row, the campaign offer the catalog rules allow that ranks first (RANK) or that the
        recommendation engine values most (EXPECTED_VALUE; rank breaks ties), or None. A customer
        who refused PROFILING (``cdp.privacy.consent``) gets the first by rank either way."""
        out = np.full(len(rows), None, dtype=object)
        if not len(rows):
            return out
        by_rank = np.ones(len(rows), dtype=bool)
        if campaign.offer_choice == "EXPECTED_VALUE" and len(campaign.offers) > 1:
            values = require_analytics(self._offer_values).expected_values(rows, list(campaign.offers), at, data)
            # argmax takes the first of equal values: the better-ranked offer wins ties.
            best = np.argmax(values, axis=1)
            ok = np.isfinite(values[np.arange(len(rows)), best])
            out[ok] = np.asarray(campaign.offers, dtype=object)[best[ok]]
            by_rank = consent.unprofiled(data, at)[rows]
            if not by_rank.any():
                return out
        rules = catalog_rules.read_rules(self.store)
        evaluation = catalog_rules.evaluate(data, rows[by_rank], at, rules)
        eligible = evaluation.eligible
        chosen = out[by_rank]
        for product in reversed(campaign.offers):  # the best-ranked eligible offer wins
            j = evaluation.products.get_indexer([product])[0]
            if j >= 0:
                chosen[eligible[:, j]] = product
        out[by_rank] = chosen
        return out

    def _cost(self, channel: str) -> float:
        row = self.store.channels().get(channel) or {}
        return float(row.get("cost_per_contact") or 0.0)

    # ------------------------------------------------------------ launching

    def launch(self, campaign_id: str, at: datetime | None = None, wave: int = 1,
               force: bool = False) -> tuple[Campaign, Audience]:
        """Launch wave ``wave`` (1 starts a DRAFT campaign) at ``at`` (default now) and write
        its audience and contacts in one transaction; returns the updated campaign and the
        audience. Raises ``NotFound``; ``Conflict`` when the campaign is not DRAFT (wave 1) or
        RUNNING (later waves), the wave was launched, the previous one was not, or its delay
        has not passed (unless ``force``); ``InvalidInput`` for an unknown wave."""
        at = at or utc_now()
        with self._lock:
            campaign = self.require(campaign_id)
            plan = campaign.wave(wave)
            if plan.launched_at is not None:
                raise Conflict(f"wave {wave} of {campaign_id} was launched at {iso(plan.launched_at, 'auto')}",
                               field="wave")
            if wave == 1:
                if campaign.status != "DRAFT":
                    raise Conflict(f"campaign {campaign_id} is {campaign.status}; only a DRAFT can start",
                                   field="id")
            else:
                if campaign.status != "RUNNING":
                    raise Conflict(f"campaign {campaign_id} is {campaign.status}; waves run while RUNNING",
                                   field="id")
                previous = campaign.wave(wave - 1)
                if previous.launched_at is None:
                    raise Conflict(f"wave {wave - 1} has not been launched yet", field="wave")
                due = campaign.due_at(wave)
                if due is not None and at < due and not force:
                    raise Conflict(f"wave {wave} is due on {iso(due, 'auto')} ({plan.delay_days} days after "
                                   f"wave {wave - 1}); pass force to launch it early", field="wave")
            audience = self._audience(campaign, plan, at)
            launched = replace(plan, launched_at=at, contacted=audience.treatment, cost=round(audience.cost, 2),
                               excluded=dict(audience.excluded))
            waves = tuple(launched if w.number == wave else w for w in campaign.waves)
            campaign = replace(campaign, waves=waves, status="RUNNING", updated_at=at,
                               launched_at=campaign.launched_at or at)
            self.store.write(self._launch_ops(campaign, audience, at))
            return campaign, audience

    def _launch_ops(self, campaign: Campaign, audience: Audience, at: datetime) -> builtins.list[WriteOp]:
        ids = audience.ids()
        treated = ~audience.control
        t_ids = ids[treated]
        number = audience.wave.number
        contact_ids = np.array([f"{campaign.id}-W{number}-{c}" for c in t_ids], dtype=object)
        names = {p: (r.get("name") or p) for p, r in self.store.products(list(campaign.offers)).items()}
        offer = audience.offer[treated]
        contacts = pa.table({
            "id": pa.array(contact_ids, pa.string()),
            "at": pa.array(audience.send_at_us[treated], pa.timestamp("us")),
            "direction": pa.array(["OUTBOUND"] * len(t_ids), pa.string()),
            "kind": pa.array(["CAMPAIGN_OFFER"] * len(t_ids), pa.string()),
            "outcome": pa.array(["NO_RESPONSE"] * len(t_ids), pa.string()),
            "subject": pa.array([f"{campaign.name}: {names.get(p, p)}" for p in offer], pa.string()),
            "campaign": pa.array([campaign.id] * len(t_ids), pa.string()),
            "wave": pa.array(np.full(len(t_ids), number), pa.int64()),
            "cost": pa.array(np.full(len(t_ids), audience.cost_per_contact), pa.float64()),
            "offer": pa.array(offer, pa.string()),
        })
        ops = [node_op("Campaign", [campaign.row(at)])]
        if number == 1:
            ops.append(relationship_op("TARGETED", pa.table({
                "from": pa.array([campaign.id] * len(ids), pa.string()),
                "to": pa.array(ids, pa.string()),
                "cohort": pa.array(np.where(audience.control, "CONTROL", "TREATMENT"), pa.string()),
                "assigned_at": pa.array([at] * len(ids), pa.timestamp("us")),
                "offer": pa.array(audience.offer, pa.string()),
                "last_wave": pa.array(np.where(treated, 1, 0), pa.int64(), mask=~treated),
            })))
        elif len(t_ids):
            ops.append(relationship_op("TARGETED", pa.table({
                "from": pa.array([campaign.id] * len(t_ids), pa.string()),
                "to": pa.array(t_ids, pa.string()),
                "last_wave": pa.array(np.full(len(t_ids), number), pa.int64()),
            })))
        if len(t_ids):
            channel = audience.wave.channel
            ops += [
                node_op("Contact", contacts),
                relationship_op("HAD_CONTACT", pa.table({"from": pa.array(t_ids, pa.string()),
                                                         "to": contacts.column("id")})),
                relationship_op("VIA", pa.table({"from": contacts.column("id"),
                                                 "to": pa.array([channel] * len(t_ids), pa.string())})),
                relationship_op("ABOUT", pa.table({"from": contacts.column("id"), "to": contacts.column("offer")})),
                relationship_op("SENT", pa.table({"from": pa.array([campaign.id] * len(t_ids), pa.string()),
                                                  "to": contacts.column("id")})),
            ]
        return ops

    # ------------------------------------------------------------ responses

    def record_responses(self, campaign_id: str, responses: Sequence[ResponseInput],
                         file: str | None = None) -> ResponseResult:
        """Record responses of audience members, atomically: every item is checked first and
        one bad item (unknown kind, customer not in the audience, a wave that did not contact
        the customer, revenue on a non-conversion, negative revenue, a time before the
        campaign started) rejects the batch with ``InvalidInput`` naming the item
        (``responses[i]``, or ``<file>: row <i+1>`` when the items came from ``file``). Raises ``NotFound`` for an unknown campaign, ``Conflict`` for a DRAFT one."""
        with self._lock:
            campaign = self.require(campaign_id)
            if campaign.status == "DRAFT":
                raise Conflict(f"campaign {campaign_id} has not been launched", field="id")
            members = self.members(campaign_id).set_index("customer")
            updates: dict[str, dict[str, Any]] = {}
            outcomes: dict[str, str] = {}
            for i, item in enumerate(responses):
                where = f"{file}: row {i + 1}" if file else f"responses[{i}]"

                def at(name: str, i: int = i) -> str:
                    """``extensions.field``: the full argument path (``responses[3].wave``); from a file, the column."""
                    return name if file else f"responses[{i}].{name}"
                if item.kind not in RESPONSE_KINDS:
                    raise InvalidInput(f"{where}: response must be one of {', '.join(RESPONSE_KINDS)}",
                                       field=at("response"))
                if item.customer_id not in members.index:
                    raise InvalidInput(f"{where}: customer {item.customer_id!r} is not in the campaign's audience",
                                       field=at("customerId"))
                member = members.loc[item.customer_id]
                current = updates.setdefault(item.customer_id, {
                    k: (None if pd.isna(member[k]) else member[k])
                    for k in ("opened_at", "responded_at", "converted_at", "declined_at", "revenue", "response_wave")})
                treated = member["cohort"] == "TREATMENT"
                last = None if pd.isna(member["last_wave"]) else int(member["last_wave"])
                wave = item.wave if item.wave is not None else last
                if item.wave is not None and (not treated or last is None or not 1 <= item.wave <= last):
                    raise InvalidInput(f"{where}: wave {item.wave} did not contact customer {item.customer_id!r}",
                                       field=at("wave"))
                if item.revenue is not None and item.kind != "CONVERTED":
                    raise InvalidInput(f"{where}: revenue belongs to a CONVERTED response", field=at("revenue"))
                if item.revenue is not None and not item.revenue >= 0:
                    raise InvalidInput(f"{where}: revenue must be >= 0", field=at("revenue"))
                if campaign.launched_at is not None and item.at < campaign.launched_at:
                    raise InvalidInput(f"{where}: {iso(item.at, 'auto')} lies before the launch "
                                       f"({iso(campaign.launched_at, 'auto')})", field=at("at"))

                def earliest(key: str) -> None:
                    # called within this iteration, so `current` and `item` are this one's
                    current[key] = item.at if current[key] is None else min(current[key], item.at)  # noqa: B023

                earliest("opened_at")
                if item.kind in ("RESPONDED", "CONVERTED", "DECLINED"):
                    earliest("responded_at")
                    if treated and wave is not None:
                        current["response_wave"] = wave
                if item.kind == "CONVERTED":
                    earliest("converted_at")
                    current["revenue"] = (current["revenue"] or 0.0) + (item.revenue or 0.0)
                if item.kind == "DECLINED":
                    earliest("declined_at")
                outcome = RESPONSE_KINDS[item.kind]
                if outcome and treated and wave is not None:
                    contact = f"{campaign_id}-W{wave}-{item.customer_id}"
                    if outcomes.get(contact) != "ACCEPTED":
                        outcomes[contact] = outcome
            rows = [{"from": campaign_id, "to": c, **values} for c, values in updates.items()]
            ops = [relationship_op("TARGETED", rows)] if rows else []
            if outcomes:
                # Contacts the demo history made have other ids; only ours are updated.
                known = self.store.existing_ids("Contact", list(outcomes))
                ops.append(node_op("Contact", [{"id": k, "outcome": v} for k, v in outcomes.items() if k in known]))
            if ops:
                self.store.write(ops)
            return ResponseResult(recorded=len(responses), campaign=campaign)

    # ------------------------------------------------------------ contact lists

    def wave_contacts(self, campaign_id: str, wave: int) -> pa.Table:
        """The contact list of a launched wave for the channel systems, one row per contact:
        contact_id, customer_id, channel, send_after (ISO time), offer_id, offer_name,
        first_name, last_name, company_name, phone, email, language. Raises ``NotFound``,
        ``InvalidInput`` for an unknown wave, ``Conflict`` when it was not launched."""
        campaign = self.require(campaign_id)
        if campaign.wave(wave).launched_at is None:
            raise Conflict(f"wave {wave} of {campaign_id} has not been launched", field="wave")
        contacts = self.store.campaign_contacts(campaign_id, wave).sort_by("customer")
        data = self.data()
        rows = data.rows_of(contacts.column("customer").to_pylist())
        frame = data.customers

        def get(key: str) -> list[Any]:
            if key not in frame:
                return [None] * len(rows)
            values = frame[key].astype(object).to_numpy()[np.maximum(rows, 0)]
            return [None if r < 0 or pd.isna(v) else str(v) for r, v in zip(rows, values)]

        products = self.store.products(list(campaign.offers))
        offer = contacts.column("offer").to_pylist()
        return pa.table({
            "contact_id": contacts.column("contact"),
            "customer_id": contacts.column("customer"),
            "channel": contacts.column("channel"),
            "send_after": pa.array([iso(t, "auto") if t else None for t in contacts.column("at").to_pylist()],
                                   pa.string()),
            "offer_id": contacts.column("offer"),
            "offer_name": pa.array([(products.get(p) or {}).get("name") for p in offer], pa.string()),
            **{k: pa.array(get(k), pa.string()) for k in ("first_name", "last_name", "company_name", "phone",
                                                          "email", "language")},
        })

