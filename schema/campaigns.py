"""GraphQL types of campaigns: plans, audiences under the contact policy, waves,
responses and the performance report (docs/campaigns.md).

``CampaignQuery`` and ``CampaignMutation`` are mixed into the root ``Query`` and
``Mutation``.
"""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from cdp.campaigns import campaigns as C
from cdp.outreach import contact_policy as P
from resolvers import campaigns as resolve
from resolvers import catalog
from resolvers.context import Context
from resolvers.segments import shown_definition
from schema.segments import SegmentDefinitionInput, definition_dict
from schema.types import Product, naive_utc, utc

Ctx = Info[Context, None]


@strawberry.enum(description="Where a campaign is in its life.")
class CampaignStatus(enum.Enum):
    DRAFT = "DRAFT"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


@strawberry.enum(description="What a campaign is for: the consent purpose its contacts need.")
class CampaignPurpose(enum.Enum):
    MARKETING = "MARKETING"
    RETENTION = "RETENTION"
    SERVICE = "SERVICE"


@strawberry.enum(description="How each customer's offer is chosen among the campaign's offers.")
class OfferChoice(enum.Enum):
    RANK = "RANK"
    EXPECTED_VALUE = "EXPECTED_VALUE"


@strawberry.enum(description="A customer's answer to a campaign.")
class CampaignResponseKind(enum.Enum):
    OPENED = "OPENED"
    RESPONDED = "RESPONDED"
    CONVERTED = "CONVERTED"
    DECLINED = "DECLINED"


@strawberry.input(description="One wave of a campaign.")
class WaveInput:
    channel: strawberry.ID = strawberry.field(description="Channel id, e.g. SMS, OUTBOUND_CALL, EMAIL.")
    delay_days: int = strawberry.field(default=0, description="Days after the previous wave (0 for the first).")
    only_non_responders: bool = strawberry.field(
        default=True, description="Contact only those who have not responded to an earlier wave.")


@strawberry.input(description="A new campaign. Give exactly one of targetSegment and targetDefinition.")
class CampaignInput:
    name: str
    offers: list[strawberry.ID] = strawberry.field(description="Product ids, best first: each customer gets the "
                                                               "first one the catalog rules allow.")
    waves: list[WaveInput]
    target_segment: strawberry.ID | None = None
    target_definition: SegmentDefinitionInput | None = None
    description: str | None = None
    purpose: CampaignPurpose = CampaignPurpose.MARKETING
    offer_choice: OfferChoice = strawberry.field(
        default_factory=lambda: OfferChoice.RANK,
        description="RANK: each customer gets the first offer the catalog rules allow; EXPECTED_VALUE: the "
                    "allowed offer with the highest expected value (probability x margin) from the recommendation "
                    "engine (slower on big audiences).")
    control_share: float = strawberry.field(default=0.1, description="Share held out as control group, 0..0.5.")
    budget: float | None = strawberry.field(default=None, description="Limit on contact costs (null: none).")
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    response_window_days: int = strawberry.field(default=C.DEFAULT_RESPONSE_WINDOW_DAYS,
                                                 description="Days after a contact a response or sale counts.")


@strawberry.input(description="One response of an audience member.")
class CampaignResponseInput:
    customer_id: strawberry.ID
    response: CampaignResponseKind
    at: datetime | None = strawberry.field(default=None, description="When (default: now).")
    revenue: float | None = strawberry.field(default=None, description="Revenue of a CONVERTED response.")
    wave: int | None = strawberry.field(default=None, description="Wave it answers (default: the last wave "
                                                                  "that contacted the customer).")


@strawberry.type(description="Customers left out for one reason.")
class ExclusionCount:
    reason: str
    description: str
    count: int


def _exclusions(counts: dict[str, int] | None) -> list[ExclusionCount]:
    return [ExclusionCount(reason=r, description=C.REASON_TEXT.get(r, r), count=int(n))
            for r, n in (counts or {}).items()]


@strawberry.type(description="The contact lists of a launched wave, for the channel systems.")
class ContactListLinks:
    csv: str
    jsonl: str


@strawberry.type(description="One wave: its plan and, once launched, what it did.")
class CampaignWave:
    number: int
    channel: str
    delay_days: int
    only_non_responders: bool
    launched_at: datetime | None
    due_at: datetime | None = strawberry.field(description="When it may be launched (the previous wave's launch "
                                                           "plus the delay); null before that one is launched.")
    contacted: int | None
    cost: float | None
    excluded: list[ExclusionCount]
    contact_list: ContactListLinks | None = strawberry.field(description="Download paths, once launched.")


@strawberry.type(description="A wave's audience: who would be contacted, who held out, and who was left out "
                             "and why (the target is eligible + every excluded count).")
class CampaignAudience:
    wave: int
    channel: str
    at: datetime
    target: int = strawberry.field(description="Candidates before exclusions.")
    eligible: int = strawberry.field(description="Kept: treatment plus control.")
    treatment: int
    control: int
    cost: float = strawberry.field(description="Treatment contacts x the channel's cost per contact.")
    excluded: list[ExclusionCount]
    offers: list[ExclusionCount] = strawberry.field(description="Kept customers per offer (reason = product id).")


@strawberry.type(description="A 95% confidence interval.")
class Interval:
    low: float
    high: float


@strawberry.type(description="Campaign performance for all contacts, one wave or one channel.")
class CampaignPerformance:
    key: str
    wave: int | None
    channel: str | None
    contacted: int
    contacts: int
    cost: float
    opened: int
    responded: int
    converted: int
    revenue: float
    response_rate: float | None
    conversion_rate: float | None
    cost_per_lead: float | None
    cost_per_sale: float | None
    roi: float | None = strawberry.field(description="(revenue - cost) / cost.")


@strawberry.type(description="Treatment against control: what the campaign caused.")
class CampaignLift:
    treatment: int
    control: int
    treatment_rate: float
    control_rate: float
    absolute: float = strawberry.field(description="Conversion rate difference (treatment - control).")
    interval: Interval
    relative: float | None
    incremental_conversions: float
    incremental_revenue: float
    revenue_interval: Interval
    incremental_roi: float | None
    significant: bool


@strawberry.type(description="A campaign's performance report.")
class CampaignReport:
    at: datetime
    total: CampaignPerformance
    waves: list[CampaignPerformance]
    channels: list[CampaignPerformance]
    lift: CampaignLift | None
    lift_note: str | None
    budget: float | None
    spent: float
    late_conversions: int = strawberry.field(description="Conversions recorded after the response window "
                                                         "(not counted above).")


def _performance(p: Any) -> CampaignPerformance:
    return CampaignPerformance(**{f: getattr(p, f) for f in CampaignPerformance.__annotations__})


def _report(r: Any) -> CampaignReport:
    lift = None
    if r.lift is not None:
        values = {f: getattr(r.lift, f) for f in CampaignLift.__annotations__}
        values["interval"] = Interval(low=r.lift.interval.low, high=r.lift.interval.high)
        values["revenue_interval"] = Interval(low=r.lift.revenue_interval.low, high=r.lift.revenue_interval.high)
        lift = CampaignLift(**values)
    return CampaignReport(at=utc(r.at), total=_performance(r.total), waves=[_performance(w) for w in r.waves],
                          channels=[_performance(c) for c in r.channels], lift=lift, lift_note=r.lift_note,
                          budget=r.budget, spent=r.spent, late_conversions=r.late_conversions)


@strawberry.type(description="A campaign: offers to a target audience in ordered waves, measured against a "
                             "control group.")
class Campaign:
    id: strawberry.ID
    name: str
    description: str | None
    purpose: CampaignPurpose
    status: CampaignStatus
    target_segment: strawberry.ID | None
    saved_target: strawberry.Private[Any]
    offer_ids: list[strawberry.ID]
    waves: list[CampaignWave]
    offer_choice: OfferChoice
    control_share: float
    budget: float | None
    spent: float
    starts_at: datetime | None
    ends_at: datetime | None
    response_window_days: int
    created_at: datetime | None
    updated_at: datetime | None
    launched_at: datetime | None

    @strawberry.field(description="The target definition (when not a saved segment); operands of conditions on "
                                  "personal fields the caller may not read are shown as ***.")
    def target_definition(self, info: Ctx) -> JSON | None:
        return shown_definition(info.context, self.saved_target) if self.saved_target is not None else None

    @strawberry.field(description="The offered products, best first.")
    async def offers(self, info: Ctx) -> list[Product]:
        rows = [await catalog.product(info.context, str(p)) for p in self.offer_ids]
        return [Product.from_row(r) for r in rows if r]

    @strawberry.field(description="The audience wave `wave` would have if launched now (or at `at`): a dry run "
                                  "through the contact policy; nothing is written.")
    async def audience(self, info: Ctx, wave: int = 1, at: datetime | None = None) -> CampaignAudience:
        a = await resolve.audience(info.context, str(self.id), wave, naive_utc(at))
        offers: dict[str, int] = {}
        for product in a.offer:
            offers[str(product)] = offers.get(str(product), 0) + 1
        return CampaignAudience(
            wave=a.wave.number, channel=a.wave.channel, at=utc(a.at), target=a.target, eligible=a.eligible,
            treatment=a.treatment, control=a.control_size, cost=round(a.cost, 2), excluded=_exclusions(a.excluded),
            offers=[ExclusionCount(reason=p, description=p, count=n) for p, n in sorted(offers.items())])

    @strawberry.field(description="Performance per campaign, wave and channel, with lift against the control "
                                  "group (95% confidence intervals).")
    async def report(self, info: Ctx, at: datetime | None = None) -> CampaignReport:
        return _report(await resolve.report(info.context, str(self.id), naive_utc(at)))

    @classmethod
    def from_domain(cls, c: C.Campaign) -> Campaign:
        waves = []
        for w in c.waves:
            links = ContactListLinks(csv=f"/campaigns/{c.id}/waves/{w.number}/contacts.csv",
                                     jsonl=f"/campaigns/{c.id}/waves/{w.number}/contacts.jsonl") \
                if w.launched_at else None
            waves.append(CampaignWave(number=w.number, channel=w.channel, delay_days=w.delay_days,
                                      only_non_responders=w.only_non_responders, launched_at=utc(w.launched_at),
                                      due_at=utc(c.due_at(w.number)), contacted=w.contacted, cost=w.cost,
                                      excluded=_exclusions(w.excluded), contact_list=links))
        return cls(id=strawberry.ID(c.id), name=c.name, description=c.description,
                   purpose=CampaignPurpose(c.purpose), status=CampaignStatus(c.status),
                   target_segment=strawberry.ID(c.target_segment) if c.target_segment else None,
                   saved_target=c.target_definition, offer_ids=[strawberry.ID(p) for p in c.offers],
                   waves=waves, offer_choice=OfferChoice(c.offer_choice), control_share=c.control_share,
                   budget=c.budget, spent=round(c.spent, 2),
                   starts_at=utc(c.starts_at), ends_at=utc(c.ends_at), response_window_days=c.response_window_days,
                   created_at=utc(c.created_at), updated_at=utc(c.updated_at), launched_at=utc(c.launched_at))


@strawberry.type(description="The contact policy every campaign audience obeys.")
class ContactPolicy:
    version: int = strawberry.field(description="0 for the built-in default, +1 per change.")
    definition: JSON = strawberry.field(description="The policy document (docs/campaigns.md).")
    reasons: list[ExclusionCount] = strawberry.field(description="Every exclusion reason, in the order checked "
                                                                 "(count 0).")

    @classmethod
    def from_domain(cls, p: P.ContactPolicy) -> ContactPolicy:
        return cls(version=p.version, definition=json.loads(p.to_json()),
                   reasons=[ExclusionCount(reason=r, description=C.REASON_TEXT.get(r, r), count=0)
                            for r in C.REASONS])


@strawberry.type(description="What recording responses did.")
class CampaignResponsePayload:
    recorded: int
    campaign: Campaign


@strawberry.type
class CampaignQuery:
    @strawberry.field(description="Campaigns, newest first (optionally of one status).")
    async def campaigns(self, info: Ctx, status: CampaignStatus | None = None) -> list[Campaign]:
        found = await resolve.campaigns(info.context, status.value if status else None)
        return [Campaign.from_domain(c) for c in found]

    @strawberry.field(description="One campaign; null when the id is unknown.")
    async def campaign(self, info: Ctx, id: strawberry.ID) -> Campaign | None:
        found = await resolve.campaign(info.context, str(id))
        return Campaign.from_domain(found) if found else None

    @strawberry.field(description="The contact policy in force.")
    async def contact_policy(self, info: Ctx) -> ContactPolicy:
        return ContactPolicy.from_domain(await resolve.policy(info.context))


@strawberry.type
class CampaignMutation:
    @strawberry.mutation(description="Plan a campaign (status DRAFT). INVALID_INPUT names the bad field; "
                                     "CONFLICT when the name is taken.")
    async def create_campaign(self, info: Ctx, input: CampaignInput) -> Campaign:
        spec = C.CampaignSpec(
            name=input.name, offers=tuple(str(p) for p in input.offers),
            waves=tuple(C.WavePlan(str(w.channel), w.delay_days, w.only_non_responders) for w in input.waves),
            target_segment=str(input.target_segment) if input.target_segment is not None else None,
            target_definition=definition_dict(input.target_definition)
            if input.target_definition is not None else None,
            description=input.description, purpose=input.purpose.value, offer_choice=input.offer_choice.value,
            control_share=input.control_share,
            budget=input.budget, starts_at=naive_utc(input.starts_at), ends_at=naive_utc(input.ends_at),
            response_window_days=input.response_window_days)
        return Campaign.from_domain(await resolve.create(info.context, spec))

    @strawberry.mutation(description="Launch the first wave now: builds the audience through the contact policy, "
                                     "holds out the control group and records a contact per treated customer.")
    async def launch_campaign(self, info: Ctx, id: strawberry.ID) -> Campaign:
        return Campaign.from_domain(await resolve.launch(info.context, str(id), 1, False))

    @strawberry.mutation(description="Launch a later wave now. CONFLICT before it is due unless `force`.")
    async def launch_wave(self, info: Ctx, id: strawberry.ID, wave: int, force: bool = False) -> Campaign:
        return Campaign.from_domain(await resolve.launch(info.context, str(id), wave, force))

    @strawberry.mutation(description="Record responses (all or none): OPENED, RESPONDED, CONVERTED (with "
                                     "revenue) or DECLINED, from treatment or control members.")
    async def record_campaign_responses(self, info: Ctx, id: strawberry.ID,
                                        responses: list[CampaignResponseInput]) -> CampaignResponsePayload:
        now = info.context.now
        items = [C.ResponseInput(customer_id=str(r.customer_id), kind=r.response.value,
                                 at=naive_utc(r.at) or now, revenue=r.revenue, wave=r.wave) for r in responses]
        result = await resolve.record(info.context, str(id), items)
        fresh = await resolve.campaign(info.context, str(id))
        return CampaignResponsePayload(recorded=result.recorded, campaign=Campaign.from_domain(fresh or result.campaign))

    @strawberry.mutation(description="End a running campaign: no more waves; it stops blocking other campaigns.")
    async def complete_campaign(self, info: Ctx, id: strawberry.ID) -> Campaign:
        return Campaign.from_domain(await resolve.set_status(info.context, str(id), "COMPLETED"))

    @strawberry.mutation(description="Cancel a draft or running campaign.")
    async def cancel_campaign(self, info: Ctx, id: strawberry.ID) -> Campaign:
        return Campaign.from_domain(await resolve.set_status(info.context, str(id), "CANCELLED"))

    @strawberry.mutation(description="Delete a DRAFT campaign (CONFLICT once launched).")
    async def delete_campaign(self, info: Ctx, id: strawberry.ID) -> bool:
        return await resolve.delete(info.context, str(id))

    @strawberry.mutation(description="Replace the contact policy (fields left out take their defaults); "
                                     "INVALID_INPUT names the bad field.")
    async def set_contact_policy(self, info: Ctx, policy: JSON) -> ContactPolicy:
        return ContactPolicy.from_domain(await resolve.set_policy(info.context, policy))  # type: ignore[arg-type]
