"""GraphQL types of rule segments: the definition input, previews and saved segments.

A definition is a recursive input (exactly one field set per node, checked by
``cdp.segments.engine`` so the error names the node's path),
converted to the JSON-like dict ``cdp.segments.engine`` parses; field names stay as
in GraphQL so an error's path (``definition.all[2].contacts.days``) names what
the client sent. ``SegmentQuery`` and ``SegmentMutation`` are mixed into the
root ``Query`` and ``Mutation``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from cdp.segments import engine as rules
from cdp.segments.definition import canonical
from resolvers import segments as resolve
from resolvers.context import Context
from schema import enums as E
from schema.types import Customer, CustomerEdge, PageInfo, naive_utc, page_info, utc
from cdp.transport.pagination import encode_cursor

Ctx = Info[Context, None]


@strawberry.enum(description="How an attribute condition compares (EXISTS and MISSING take no value; IN, "
                             "NOT_IN and BETWEEN take `values`, the others `value`).")
class AttributeOperator(enum.Enum):
    EQ = "EQ"
    NE = "NE"
    IN = "IN"
    NOT_IN = "NOT_IN"
    GT = "GT"
    GTE = "GTE"
    LT = "LT"
    LTE = "LTE"
    CONTAINS = "CONTAINS"
    EXISTS = "EXISTS"
    MISSING = "MISSING"
    BETWEEN = "BETWEEN"


@strawberry.enum(description="How a figure compares with `value` (BETWEEN: from `value` to `to`, inclusive).")
class Comparison(enum.Enum):
    GT = "GT"
    GTE = "GTE"
    LT = "LT"
    LTE = "LTE"
    BETWEEN = "BETWEEN"


@strawberry.enum(description="Contract state of an account at the reference time.")
class ContractState(enum.Enum):
    IN_CONTRACT = "IN_CONTRACT"
    OUT_OF_CONTRACT = "OUT_OF_CONTRACT"
    NO_CONTRACT = "NO_CONTRACT"


@strawberry.enum(description="Kind of a segment profile item.")
class SegmentMeasureKind(enum.Enum):
    NUMERIC = "NUMERIC"
    CATEGORY = "CATEGORY"


@strawberry.input(description="A profile attribute: a Customer property (e.g. `city`, `tier`, `birth_date`), "
                              "`age`, `tenure_months`, or a custom attribute key (its latest value). Values are "
                              "text: numbers as `\"30\"`, dates as ISO 8601.")
class AttributeConditionInput:
    key: str
    op: AttributeOperator
    value: str | None = None
    values: list[str] | None = None


@strawberry.input(description="Holds, at the reference time, active subscriptions of one product, of a "
                              "category, or of any bundle (`bundle: true`); a bundle counts for its components.")
class HoldsConditionInput:
    product: strawberry.ID | None = None
    category: E.ProductCategory | None = None
    bundle: bool | None = None
    min_count: int | None = strawberry.field(default=None, description="Subscriptions needed (default 1).")


@strawberry.input(description="Has accounts open at the reference time matching every filter given.")
class AccountConditionInput:
    types: list[E.AccountType] | None = None
    statuses: list[E.AccountStatus] | None = None
    contract_types: list[E.ContractType] | None = None
    payment_methods: list[E.PaymentMethod] | None = None
    contract: ContractState | None = None
    contract_ends_within_days: int | None = None
    min_count: int | None = strawberry.field(default=None, description="Accounts needed (default 1).")


@strawberry.input(description="Between `atLeast` (default 1) and `atMost` contacts in the last `days` days.")
class ContactsConditionInput:
    days: int
    at_least: int | None = None
    at_most: int | None = None
    kinds: list[E.ContactKind] | None = None
    channels: list[str] | None = strawberry.field(default=None, description="Channel ids.")
    direction: E.ContactDirection | None = None
    outcomes: list[E.ContactOutcome] | None = None


@strawberry.input(description="No contact (of the given kinds / channels) in the last `days` days.")
class NoContactSinceInput:
    days: int
    kinds: list[E.ContactKind] | None = None
    channels: list[str] | None = None
    direction: E.ContactDirection | None = None


@strawberry.input(description="Revenue (invoices, purchases, top-ups minus refunds) of the last `days` days "
                              "against the `days` before, change in percent. No previous revenue: +infinity "
                              "when revenue grew, -infinity when it fell, 0 when equal.")
class SpendChangeConditionInput:
    days: int
    op: Comparison
    value: float
    to: float | None = None


@strawberry.input(description="Monthly recurring spend (active subscriptions' fees net of discount).")
class SpendConditionInput:
    op: Comparison
    value: float
    to: float | None = None


@strawberry.input(description="A model score: `churn_risk` (0..1), `lifetime_value` or `propensity:<product id>`. "
                              "Unscored customers never match.")
class ScoreConditionInput:
    name: str
    op: Comparison
    value: float
    to: float | None = None


@strawberry.input(description="One node of a segment definition: a combination (`all`, `any`, `not`) or one "
                              "condition. Exactly one field must be set; an error names the path of a node that "
                              "breaks this (e.g. `definition.all[2]`), which a @oneOf input could not.")
class SegmentDefinitionInput:
    all: list[SegmentDefinitionInput] | None = None
    any: list[SegmentDefinitionInput] | None = None
    not_: SegmentDefinitionInput | None = strawberry.field(name="not", default=None)
    attribute: AttributeConditionInput | None = None
    holds: HoldsConditionInput | None = None
    account: AccountConditionInput | None = None
    contacts: ContactsConditionInput | None = None
    no_contact_since: NoContactSinceInput | None = None
    spend_change: SpendChangeConditionInput | None = None
    spend: SpendConditionInput | None = None
    score: ScoreConditionInput | None = None


def definition_dict(value: Any) -> Any:
    """A definition input as the JSON-like dict ``cdp.segments.engine`` parses (GraphQL field names, no unset fields)."""
    if isinstance(value, list):
        return [definition_dict(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    definition = getattr(value, "__strawberry_definition__", None)
    if definition is None:
        return value
    out = {}
    for f in definition.fields:
        item = getattr(value, f.python_name)
        if item is None or item is strawberry.UNSET:
            continue
        out[f.graphql_name or _camel(f.python_name)] = definition_dict(item)
    return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


@strawberry.type(description="One measure of a segment's members against the whole base.")
class SegmentProfileItem:
    measure: str = strawberry.field(description="tenure_months, age, monthly_spend, contacts_365d, complaints_365d, "
                                                "revenue_90d, products_held, tier, city, account_type, "
                                                "preferred_channel.")
    kind: SegmentMeasureKind
    value: str | None = strawberry.field(description="The category (CATEGORY items).")
    segment: float | None = strawberry.field(description="Mean (NUMERIC) or share (CATEGORY) among members.")
    base: float | None = strawberry.field(description="The same over the whole base.")
    lift: float | None = strawberry.field(description="segment / base.")
    difference: float = strawberry.field(description="Standardised difference (base standard deviations); items "
                                                     "are sorted by its absolute value, most distinctive first.")

    @classmethod
    def from_item(cls, item: rules.ProfileItem) -> SegmentProfileItem:
        return cls(measure=item.measure, kind=SegmentMeasureKind(item.kind), value=item.value,
                   segment=item.segment, base=item.base, lift=item.lift, difference=item.difference)


@strawberry.type(description="A page of a segment's members, in customer-id order.")
class SegmentMembers:
    edges: list[CustomerEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Number of members (all pages).")


def _members(page: resolve.MemberPage) -> SegmentMembers:
    edges = [CustomerEdge(cursor=encode_cursor(page.skip + i), node=Customer.from_row(r))
             for i, r in enumerate(page.rows)]
    return SegmentMembers(edges=edges, page_info=page_info(page.skip, len(edges), page.has_next),
                          total_count=page.size)


@strawberry.type(description="What a definition selects, without saving it.")
class SegmentPreview:
    size: int = strawberry.field(description="Number of members.")
    base_size: int = strawberry.field(description="Customers in the base (not merged; joined by `asOf`).")
    share: float = strawberry.field(description="size / baseSize.")
    as_of: datetime = strawberry.field(description="The reference time the definition was evaluated at.")
    definition: JSON = strawberry.field(description="The definition as stored (no null fields).")
    members: SegmentMembers
    evaluation: strawberry.Private[rules.Evaluation]

    @strawberry.field(description="Members against the base, most distinctive first (computed when asked for).")
    async def profile(self, info: Ctx) -> list[SegmentProfileItem]:
        items = await resolve.profile_of(info.context, self.evaluation)
        return [SegmentProfileItem.from_item(i) for i in items]


@strawberry.type(description="A saved rule segment; figures are evaluated on request on the current data.")
class Segment:
    id: strawberry.ID
    name: str
    description: str | None
    created_at: datetime | None
    updated_at: datetime | None
    version: int = strawberry.field(description="1 when created, +1 per update.")
    saved_definition: strawberry.Private[Any]

    @strawberry.field(description="The definition as saved; operands of conditions on personal fields the "
                                  "caller may not read are shown as ***.")
    def definition(self, info: Ctx) -> JSON:
        return resolve.shown_definition(info.context, self.saved_definition)

    @strawberry.field(description="Number of members now, or as of a past time.")
    async def size(self, info: Ctx, as_of: datetime | None = None) -> int:
        evaluation = await resolve.evaluate(info.context, self.saved_definition, naive_utc(as_of))
        return evaluation.size

    @strawberry.field(description="Members as a share of the base.")
    async def share(self, info: Ctx, as_of: datetime | None = None) -> float:
        evaluation = await resolve.evaluate(info.context, self.saved_definition, naive_utc(as_of))
        return evaluation.share

    @strawberry.field(description="Members in customer-id order, now or as of a past time.")
    async def members(self, info: Ctx, first: int = 20, after: str | None = None,
                      as_of: datetime | None = None) -> SegmentMembers:
        return _members(await resolve.members(info.context, self.saved_definition, first, after, naive_utc(as_of)))

    @strawberry.field(description="Members against the base, most distinctive first.")
    async def profile(self, info: Ctx, as_of: datetime | None = None) -> list[SegmentProfileItem]:
        items = await resolve.profile(info.context, self.saved_definition, naive_utc(as_of))
        return [SegmentProfileItem.from_item(i) for i in items]

    @strawberry.field(description="Whether one customer is a member (now or as of a past time).")
    async def contains(self, info: Ctx, customer_id: strawberry.ID, as_of: datetime | None = None) -> bool:
        evaluation = await resolve.evaluate(info.context, self.saved_definition, naive_utc(as_of))
        return evaluation.contains(str(customer_id))

    @classmethod
    def from_saved(cls, segment: rules.SavedSegment) -> Segment:
        return cls(id=strawberry.ID(segment.id), name=segment.name, description=segment.description,
                   saved_definition=segment.definition, created_at=utc(segment.created_at),
                   updated_at=utc(segment.updated_at), version=segment.version)


@strawberry.type
class SegmentQuery:
    @strawberry.field(description="Evaluate a definition without saving it: size, the first page of members "
                                  "and a profile of the members against the base.")
    async def preview_segment(self, info: Ctx, definition: SegmentDefinitionInput, first: int = 50,
                              after: str | None = None, as_of: datetime | None = None) -> SegmentPreview:
        raw = definition_dict(definition)
        page = await resolve.preview(info.context, raw, first, after, naive_utc(as_of))
        evaluation = page.evaluation
        return SegmentPreview(size=page.size, base_size=evaluation.base_size, share=evaluation.share,
                              as_of=utc(evaluation.at), definition=canonical(raw),  # type: ignore[arg-type]
                              members=_members(page), evaluation=evaluation)

    @strawberry.field(description="Every saved segment, by name.")
    async def segments(self, info: Ctx) -> list[Segment]:
        return [Segment.from_saved(s) for s in await resolve.saved_segments(info.context)]

    @strawberry.field(description="One saved segment; null when the id is unknown.")
    async def segment(self, info: Ctx, id: strawberry.ID) -> Segment | None:
        saved = await resolve.saved_segment(info.context, str(id))
        return Segment.from_saved(saved) if saved else None


@strawberry.type
class SegmentMutation:
    @strawberry.mutation(description="Save a segment. The definition is checked first (nothing is saved when it "
                                     "is invalid); names are unique (CONFLICT).")
    async def create_segment(self, info: Ctx, name: str, definition: SegmentDefinitionInput,
                             description: str | None = None) -> Segment:
        saved = await resolve.create(info.context, name, description, definition_dict(definition))
        return Segment.from_saved(saved)

    @strawberry.mutation(description="Change a saved segment's name, description and/or definition (fields left "
                                     "out are kept); NOT_FOUND for an unknown id.")
    async def update_segment(self, info: Ctx, id: strawberry.ID, name: str | None = None,
                             description: str | None = None,
                             definition: SegmentDefinitionInput | None = None) -> Segment:
        raw = definition_dict(definition) if definition is not None else None
        saved = await resolve.update(info.context, str(id), name, description, raw)
        return Segment.from_saved(saved)

    @strawberry.mutation(description="Delete a saved segment; false when there was none.")
    async def delete_segment(self, info: Ctx, id: strawberry.ID) -> bool:
        return await resolve.delete(info.context, str(id))
