"""GraphQL types of campaigns: plans, audiences under the contact policy, waves,
responses and the performance report (docs/campaigns.md).

``CampaignQuery`` and ``CampaignMutation`` are mixed into the root ``Query`` and
``Mutation``.
"""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from graph.clock import naive_utc
from schema.node import Node

from cdp.campaigns import campaigns as C
from cdp.outreach import contact_policy as P
from resolvers import campaigns as resolve
from resolvers import catalog
from resolvers.context import Context
from resolvers.segments import shown_definition
from schema.errors import FieldsUnder
from schema.segments import SegmentDefinitionInput, definition_dict
from schema.connections import AfterArgument, BeforeArgument, FirstArgument, LastArgument
from schema.types import PageInfo, Product, page_info, utc
from schema.enums import described

Ctx = Info[Context, None]


@strawberry.enum(description="Where a campaign is in its life.")
class CampaignStatus(enum.Enum):
    DRAFT = described("DRAFT", description="Planned; can be changed or deleted; nobody contacted yet.")
    RUNNING = described(
        "RUNNING", description="At least one wave launched; later waves and responses may follow.")
    COMPLETED = described(
        "COMPLETED", description="Ended by `completeCampaign`: no more waves; responses still count in the report.")
    CANCELLED = described("CANCELLED", description="Stopped by `cancelCampaign` before it ran its course.")


@strawberry.enum(description="What a campaign is for: the consent purpose its contacts need.")
class CampaignPurpose(enum.Enum):
    MARKETING = described("MARKETING", description="Sell new products; contacts need MARKETING consent.")
    RETENTION = described(
        "RETENTION", description="Keep customers who may leave; contacts need RETENTION consent.")
    SERVICE = described("SERVICE", description="Inform about products held; contacts need SERVICE consent.")


@strawberry.enum(description="How each customer's offer is chosen among the campaign's offers.")
class OfferChoice(enum.Enum):
    RANK = described(
        "RANK", description="The first of the campaign's offers (in the given order) the catalog rules allow.")
    EXPECTED_VALUE = described(
        "EXPECTED_VALUE", description="The allowed offer with the highest expected value (probability x margin) from "
                                      "the recommendation engine.")


@strawberry.enum(description="A customer's answer to a campaign.")
class CampaignResponseKind(enum.Enum):
    OPENED = described("OPENED", description="The customer opened or read the offer.")
    RESPONDED = described("RESPONDED", description="The customer answered or asked for more.")
    CONVERTED = described("CONVERTED", description="The customer took the offer (give its `revenue`).")
    DECLINED = described("DECLINED", description="The customer said no.")


@strawberry.input(description="One wave of a campaign.")
class WaveInput:
    channel: strawberry.ID = strawberry.field(description="Channel id, e.g. SMS, OUTBOUND_CALL, EMAIL.")
    delay_days: int = strawberry.field(default=0, description="Days after the previous wave (0 for the first).")
    only_non_responders: bool = strawberry.field(
        default=True, description="Contact only those who have not responded to an earlier wave.")


@strawberry.input(description="A new campaign. Give exactly one of targetSegment and targetDefinition.")
class CampaignInput:
    name: str = strawberry.field(description="Campaign name, unique among campaigns (CONFLICT when taken).")
    offers: list[strawberry.ID] = strawberry.field(description="Product ids, best first: each customer gets the "
                                                               "first one the catalog rules allow.")
    waves: list[WaveInput] = strawberry.field(
        description="The waves in order, at least one; the first is launched by `launchCampaign`.")
    target_segment: strawberry.ID | None = strawberry.field(
        default=None, description="Id of a saved segment to target; give this or `targetDefinition`, not both.")
    target_definition: SegmentDefinitionInput | None = strawberry.field(
        default=None, description="A segment definition to target (evaluated at each wave's launch); give this or "
                                  "`targetSegment`, not both.")
    description: str | None = strawberry.field(
        default=None, description="Free-text description for people planning campaigns.")
    purpose: CampaignPurpose = strawberry.field(
        default=CampaignPurpose.MARKETING, description="What the campaign is for; decides the consent purpose every "
                                                       "contacted customer must have.")
    offer_choice: OfferChoice = strawberry.field(
        default_factory=lambda: OfferChoice.RANK,
        description="RANK: each customer gets the first offer the catalog rules allow; EXPECTED_VALUE: the "
                    "allowed offer with the highest expected value (probability x margin) from the recommendation "
                    "engine (slower on big audiences).")
    control_share: float = strawberry.field(default=0.1, description="Share held out as control group, 0..0.5.")
    budget: float | None = strawberry.field(default=None, description="Limit on contact costs (null: none).")
    starts_at: datetime | None = strawberry.field(
        default=None, description="No wave is launched before this time (ISO 8601; without offset: UTC); null: any "
                                  "time.")
    ends_at: datetime | None = strawberry.field(
        default=None, description="No wave is launched after this time (ISO 8601; without offset: UTC); null: no end.")
    response_window_days: int = strawberry.field(default=C.DEFAULT_RESPONSE_WINDOW_DAYS,
                                                 description="Days after a contact a response or sale counts.")


@strawberry.input(description="One response of an audience member.")
class CampaignResponseInput:
    customer_id: strawberry.ID = strawberry.field(
        description="The audience member (treatment or control) who responded.")
    response: CampaignResponseKind = strawberry.field(description="What the customer did.")
    at: datetime | None = strawberry.field(default=None, description="When (default: now).")
    revenue: float | None = strawberry.field(default=None, description="Revenue of a CONVERTED response.")
    wave: int | None = strawberry.field(default=None, description="Wave it answers (default: the last wave "
                                                                  "that contacted the customer).")


@strawberry.type(description="Customers left out for one reason.")
class ExclusionCount:
    reason: str = strawberry.field(
        description="Machine-readable reason code, e.g. `NO_CONSENT_PURPOSE`, `FREQUENCY_CAP` (for `offers`: the "
                    "product id).")
    description: str = strawberry.field(description="The reason in words.")
    count: int = strawberry.field(description="Number of customers left out for this reason.")


def _exclusions(counts: dict[str, int] | None) -> list[ExclusionCount]:
    return [ExclusionCount(reason=r, description=C.REASON_TEXT.get(r, r), count=int(n))
            for r, n in (counts or {}).items()]


@strawberry.type(description="The contact lists of a launched wave, for the channel systems.")
class ContactListLinks:
    csv: str = strawberry.field(
        description="Path (on this server, same credentials) of the wave's contact list as CSV.")
    jsonl: str = strawberry.field(
        description="Path (on this server, same credentials) of the wave's contact list as JSON lines.")


@strawberry.type(description="One wave: its plan and, once launched, what it did.")
class CampaignWave:
    number: int = strawberry.field(description="Wave number, 1 for the first.")
    channel: str = strawberry.field(description="Channel id the wave contacts through.")
    delay_days: int = strawberry.field(
        description="Days after the previous wave's launch this wave becomes due (0 for the first).")
    only_non_responders: bool = strawberry.field(
        description="True when the wave contacts only those who did not respond to an earlier wave.")
    launched_at: datetime | None = strawberry.field(
        description="When the wave was launched (ISO 8601, UTC); null until then.")
    due_at: datetime | None = strawberry.field(description="When it may be launched (the previous wave's launch "
                                                           "plus the delay); null before that one is launched.")
    contacted: int | None = strawberry.field(description="Customers contacted by the wave; null until launched.")
    cost: float | None = strawberry.field(
        description="Contact cost of the wave (contacts x the channel's cost per contact); null until launched.")
    excluded: list[ExclusionCount] = strawberry.field(
        description="Customers left out at launch, per reason; empty until launched.")
    contact_list: ContactListLinks | None = strawberry.field(description="Download paths, once launched.")


@strawberry.type(description="A wave's audience: who would be contacted, who held out, and who was left out "
                             "and why (the target is eligible + every excluded count).")
class CampaignAudience:
    wave: int = strawberry.field(description="The wave number this audience is for.")
    channel: str = strawberry.field(description="Channel id of the wave.")
    at: datetime = strawberry.field(description="The time the audience was computed for (ISO 8601, UTC).")
    target: int = strawberry.field(description="Candidates before exclusions.")
    eligible: int = strawberry.field(description="Kept: treatment plus control.")
    treatment: int = strawberry.field(description="Customers who would be contacted.")
    control: int = strawberry.field(description="Customers held out as the control group (not contacted).")
    cost: float = strawberry.field(description="Treatment contacts x the channel's cost per contact.")
    excluded: list[ExclusionCount] = strawberry.field(
        description="Customers left out, per reason of the contact policy.")
    offers: list[ExclusionCount] = strawberry.field(description="Kept customers per offer (reason = product id).")


@strawberry.type(description="A 95% confidence interval.")
class Interval:
    low: float = strawberry.field(description="Lower bound.")
    high: float = strawberry.field(description="Upper bound.")


@strawberry.type(description="Campaign performance for all contacts, one wave or one channel.")
class CampaignPerformance:
    key: str = strawberry.field(description="Which slice this is: `all`, `wave <number>` or the channel id.")
    wave: int | None = strawberry.field(description="The wave number for a wave slice; null otherwise.")
    channel: str | None = strawberry.field(description="The channel id for a channel slice; null otherwise.")
    contacted: int = strawberry.field(description="Distinct customers contacted.")
    contacts: int = strawberry.field(description="Contacts made (a customer reached by two waves counts twice).")
    cost: float = strawberry.field(description="Contact cost, in the account currency.")
    opened: int = strawberry.field(description="Contacted customers who opened the offer (or did more).")
    responded: int = strawberry.field(description="Contacted customers who responded (or converted).")
    converted: int = strawberry.field(description="Contacted customers who converted within the response window.")
    revenue: float = strawberry.field(description="Revenue of the conversions, in the account currency.")
    response_rate: float | None = strawberry.field(description="responded / contacted; null when nobody was contacted.")
    conversion_rate: float | None = strawberry.field(
        description="converted / contacted; null when nobody was contacted.")
    cost_per_lead: float | None = strawberry.field(description="cost / responded; null without responses.")
    cost_per_sale: float | None = strawberry.field(description="cost / converted; null without conversions.")
    roi: float | None = strawberry.field(description="(revenue - cost) / cost.")


@strawberry.type(description="Treatment against control: what the campaign caused.")
class CampaignLift:
    treatment: int = strawberry.field(description="Customers in the treatment group (contacted).")
    control: int = strawberry.field(description="Customers in the control group (held out).")
    treatment_rate: float = strawberry.field(description="Conversion rate of the treatment group, 0..1.")
    control_rate: float = strawberry.field(description="Conversion rate of the control group, 0..1.")
    absolute: float = strawberry.field(description="Conversion rate difference (treatment - control).")
    interval: Interval = strawberry.field(description="95% confidence interval of `absolute`.")
    relative: float | None = strawberry.field(
        description="absolute / controlRate; null when the control group did not convert.")
    incremental_conversions: float = strawberry.field(
        description="Conversions the campaign caused: absolute x treatment.")
    incremental_revenue: float = strawberry.field(
        description="Revenue the campaign caused, against the control group's revenue per customer.")
    revenue_interval: Interval = strawberry.field(description="95% confidence interval of `incrementalRevenue`.")
    incremental_roi: float | None = strawberry.field(
        description="(incrementalRevenue - cost) / cost; null without cost.")
    significant: bool = strawberry.field(
        description="True when `interval` excludes 0 (the lift is unlikely to be chance).")


@strawberry.type(description="A campaign's performance report.")
class CampaignReport:
    at: datetime = strawberry.field(description="The time the report is computed for (ISO 8601, UTC).")
    total: CampaignPerformance = strawberry.field(description="Performance over every contact of the campaign.")
    waves: list[CampaignPerformance] = strawberry.field(description="Performance per wave, first wave first.")
    channels: list[CampaignPerformance] = strawberry.field(description="Performance per channel.")
    lift: CampaignLift | None = strawberry.field(
        description="Treatment against control; null without a control group or contacts (see `liftNote`).")
    lift_note: str | None = strawberry.field(
        description="Why `lift` is null or weak (e.g. a small control group); null when nothing to say.")
    budget: float | None = strawberry.field(description="The campaign's budget, in the account currency; null: none.")
    spent: float = strawberry.field(description="Contact cost spent so far, in the account currency.")
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
class Campaign(Node):
    id: strawberry.ID = strawberry.field(description="Campaign id, e.g. `CMP-2026-SUMMER-SECURITY`.")
    name: str = strawberry.field(description="Campaign name, unique among campaigns.")
    description: str | None = strawberry.field(description="Free-text description; null when none was given.")
    purpose: CampaignPurpose = strawberry.field(
        description="What the campaign is for; decides the consent purpose contacted customers need.")
    status: CampaignStatus = strawberry.field(description="Where the campaign is in its life.")
    target_segment: strawberry.ID | None = strawberry.field(
        description="Id of the saved segment targeted; null when the campaign has its own `targetDefinition`.")
    saved_target: strawberry.Private[Any]
    offer_ids: list[strawberry.ID] = strawberry.field(description="Ids of the offered products, best first.")
    waves: list[CampaignWave] = strawberry.field(
        description="The planned waves, first first, with what each did once launched.")
    offer_choice: OfferChoice = strawberry.field(description="How each customer's offer is chosen.")
    control_share: float = strawberry.field(
        description="Share of the eligible audience held out as control group, 0..0.5.")
    budget: float | None = strawberry.field(description="Limit on contact costs, in the account currency; null: none.")
    spent: float = strawberry.field(description="Contact cost spent so far, in the account currency.")
    starts_at: datetime | None = strawberry.field(
        description="No wave is launched before this time (ISO 8601, UTC); null: any time.")
    ends_at: datetime | None = strawberry.field(
        description="No wave is launched after this time (ISO 8601, UTC); null: no end.")
    response_window_days: int = strawberry.field(
        description="Days after a contact during which a response or sale counts for the campaign.")
    created_at: datetime | None = strawberry.field(description="When the campaign was created (ISO 8601, UTC).")
    updated_at: datetime | None = strawberry.field(description="When the campaign last changed (ISO 8601, UTC).")
    launched_at: datetime | None = strawberry.field(
        description="When the first wave was launched (ISO 8601, UTC); null for a draft.")

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
    async def audience(
        self,
        info: Ctx,
        wave: Annotated[int, strawberry.argument(description="The wave number, 1 for the first.")] = 1,
        at: Annotated[datetime | None, strawberry.argument(
            description="Compute the audience as if launched at this time (ISO 8601; without offset: UTC); "
                        "null: now.")] = None,
    ) -> CampaignAudience:
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
    async def report(
        self,
        info: Ctx,
        at: Annotated[datetime | None, strawberry.argument(
            description="Report as of this time (ISO 8601; without offset: UTC); null: now.")] = None,
    ) -> CampaignReport:
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
    recorded: int = strawberry.field(description="Number of responses recorded.")
    campaign: Campaign = strawberry.field(description="The campaign after recording.")


@strawberry.type(description="An edge of the campaign list: one campaign and its cursor.")
class CampaignEdge:
    cursor: str = strawberry.field(description="Opaque keyset cursor of this campaign (`after` / `before`).")
    node: Campaign = strawberry.field(description="The campaign.")


@strawberry.type(description="A page of campaigns, newest first by creation time then id.")
class CampaignConnection:
    edges: list[CampaignEdge] = strawberry.field(description="The campaigns of this page, newest first.")
    page_info: PageInfo = strawberry.field(description="Cursors of the page's ends and whether campaigns lie "
                                                       "beyond them.")
    total_count: int = strawberry.field(description="Campaigns matching the status filter (all pages).")


@strawberry.type
class CampaignQuery:
    @strawberry.field(description="Campaigns, newest first by creation time then id (optionally of one status), a "
                                  "page at a time (keyset cursors: campaigns created while paging do not shift the "
                                  "pages).")
    async def campaigns(
        self,
        info: Ctx,
        status: Annotated[CampaignStatus | None, strawberry.argument(
            description="Only campaigns in this status; null: every campaign.")] = None,
        first: FirstArgument = None,
        after: AfterArgument = None,
        last: LastArgument = None,
        before: BeforeArgument = None,
    ) -> CampaignConnection:
        page = await resolve.campaign_page(info.context, status.value if status else None, first, after, last, before)
        edges = [CampaignEdge(cursor=cur, node=Campaign.from_domain(c)) for cur, c in zip(page.cursors(), page.items)]
        return CampaignConnection(edges=edges, page_info=page_info(page), total_count=page.total or 0)

    @strawberry.field(description="One campaign; null when the id is unknown.")
    async def campaign(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="The campaign id.")],
    ) -> Campaign | None:
        found = await resolve.campaign(info.context, str(id))
        return Campaign.from_domain(found) if found else None

    @strawberry.field(description="The contact policy in force.")
    async def contact_policy(self, info: Ctx) -> ContactPolicy:
        return ContactPolicy.from_domain(await resolve.policy(info.context))


@strawberry.type
class CampaignMutation:
    @strawberry.mutation(description="Plan a campaign (status DRAFT). BAD_USER_INPUT names the bad field in "
                                     "`extensions.field` (`input.offers[1]`); CONFLICT when the name is taken.",
                         extensions=[FieldsUnder("input")])
    async def create_campaign(
        self,
        info: Ctx,
        input: Annotated[CampaignInput, strawberry.argument(description="The campaign's plan.")],
    ) -> Campaign:
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
    async def launch_campaign(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="Id of a DRAFT campaign.")],
    ) -> Campaign:
        return Campaign.from_domain(await resolve.launch(info.context, str(id), 1, False))

    @strawberry.mutation(description="Launch a later wave now. CONFLICT before it is due unless `force`.")
    async def launch_wave(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="Id of a RUNNING campaign.")],
        wave: Annotated[int, strawberry.argument(description="The wave number to launch (2 or later).")],
        force: Annotated[bool, strawberry.argument(
            description="Launch even before the wave is due (its delay after the previous wave has not "
                        "passed).")] = False,
    ) -> Campaign:
        return Campaign.from_domain(await resolve.launch(info.context, str(id), wave, force))

    @strawberry.mutation(description="Record responses (all or none): OPENED, RESPONDED, CONVERTED (with "
                                     "revenue) or DECLINED, from treatment or control members.")
    async def record_campaign_responses(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="The campaign id.")],
        responses: Annotated[list[CampaignResponseInput], strawberry.argument(
            description="The responses; all are recorded or none (BAD_USER_INPUT names the bad item).")],
    ) -> CampaignResponsePayload:
        now = info.context.now
        items = [C.ResponseInput(customer_id=str(r.customer_id), kind=r.response.value,
                                 at=naive_utc(r.at) or now, revenue=r.revenue, wave=r.wave) for r in responses]
        result = await resolve.record(info.context, str(id), items)
        fresh = await resolve.campaign(info.context, str(id))
        return CampaignResponsePayload(recorded=result.recorded, campaign=Campaign.from_domain(fresh or result.campaign))

    @strawberry.mutation(description="End a running campaign: no more waves; it stops blocking other campaigns.")
    async def complete_campaign(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="Id of a RUNNING campaign.")],
    ) -> Campaign:
        return Campaign.from_domain(await resolve.set_status(info.context, str(id), "COMPLETED"))

    @strawberry.mutation(description="Cancel a draft or running campaign.")
    async def cancel_campaign(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="Id of a DRAFT or RUNNING campaign.")],
    ) -> Campaign:
        return Campaign.from_domain(await resolve.set_status(info.context, str(id), "CANCELLED"))

    @strawberry.mutation(description="Delete a DRAFT campaign (CONFLICT once launched).")
    async def delete_campaign(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="Id of a DRAFT campaign.")],
    ) -> bool:
        return await resolve.delete(info.context, str(id))

    @strawberry.mutation(description="Replace the contact policy (fields left out take their defaults); "
                                     "BAD_USER_INPUT names the bad field in `extensions.field` "
                                     "(`policy.quiet_hours`).",
                         extensions=[FieldsUnder("policy")])
    async def set_contact_policy(
        self,
        info: Ctx,
        policy: Annotated[JSON, strawberry.argument(
            description="The policy document as JSON (docs/campaigns.md lists its fields).")],
    ) -> ContactPolicy:
        return ContactPolicy.from_domain(await resolve.set_policy(info.context, policy))  # type: ignore[arg-type]
