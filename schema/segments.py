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
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from graph.clock import naive_utc
from schema.node import Node

from cdp.segments import engine as rules
from cdp.segments.definition import canonical
from resolvers import segments as resolve
from resolvers.context import Context
from schema import enums as E
from schema.types import Customer, CustomerEdge, PageInfo, page_info, utc
from schema.connections import AfterArgument, BeforeArgument, FirstArgument, LastArgument
from schema.enums import described

Ctx = Info[Context, None]


@strawberry.enum(description="How an attribute condition compares (EXISTS and MISSING take no value; IN, "
                             "NOT_IN and BETWEEN take `values`, the others `value`).")
class AttributeOperator(enum.Enum):
    EQ = described(
        "EQ", description="Equal to `value` (text compared case-insensitively, numbers and dates by value).")
    NE = described("NE", description="Not equal to `value` (customers without the attribute do not match).")
    IN = described("IN", description="Equal to one of `values`.")
    NOT_IN = described(
        "NOT_IN", description="Equal to none of `values` (customers without the attribute do not match).")
    GT = described("GT", description="Greater than `value`.")
    GTE = described("GTE", description="Greater than or equal to `value`.")
    LT = described("LT", description="Less than `value`.")
    LTE = described("LTE", description="Less than or equal to `value`.")
    CONTAINS = described("CONTAINS", description="Text containing `value`, case-insensitively.")
    EXISTS = described("EXISTS", description="The customer has a value for the attribute.")
    MISSING = described("MISSING", description="The customer has no value for the attribute.")
    BETWEEN = described("BETWEEN", description="From `values[0]` to `values[1]`, inclusive.")


@strawberry.enum(description="How a figure compares with `value` (BETWEEN: from `value` to `to`, inclusive).")
class Comparison(enum.Enum):
    GT = described("GT", description="Greater than `value`.")
    GTE = described("GTE", description="Greater than or equal to `value`.")
    LT = described("LT", description="Less than `value`.")
    LTE = described("LTE", description="Less than or equal to `value`.")
    BETWEEN = described("BETWEEN", description="From `value` to `to`, inclusive.")


@strawberry.enum(description="Contract state of an account at the reference time.")
class ContractState(enum.Enum):
    IN_CONTRACT = described(
        "IN_CONTRACT", description="The account's contract end is after the reference time.")
    OUT_OF_CONTRACT = described("OUT_OF_CONTRACT", description="The account had a contract that has ended.")
    NO_CONTRACT = described(
        "NO_CONTRACT", description="The account has no contract (NO_CONTRACT type or no end date).")


@strawberry.enum(description="Kind of a segment profile item.")
class SegmentMeasureKind(enum.Enum):
    NUMERIC = described("NUMERIC", description="A number: `segment` and `base` are means.")
    CATEGORY = described(
        "CATEGORY", description="One category of a categorical measure: `segment` and `base` are shares, 0..1.")


@strawberry.input(description="A profile attribute: a Customer property (e.g. `city`, `tier`, `birth_date`), "
                              "`age`, `tenure_months`, or a custom attribute key (its latest value). Values are "
                              "text: numbers as `\"30\"`, dates as ISO 8601.")
class AttributeConditionInput:
    key: str = strawberry.field(
        description="The attribute: a Customer property or profile key, e.g. `city`, `tier`, `birth_date`; "
                    "BAD_USER_INPUT for an unknown key.")
    op: AttributeOperator = strawberry.field(description="How the attribute is compared.")
    value: str | None = strawberry.field(
        default=None, description="The operand of EQ, NE, GT, GTE, LT, LTE and CONTAINS, as text.")
    values: list[str] | None = strawberry.field(
        default=None, description="The operands of IN, NOT_IN (one or more) and BETWEEN (exactly two), as text.")


@strawberry.input(description="Holds, at the reference time, active subscriptions of one product, of a "
                              "category, or of any bundle (`bundle: true`); a bundle counts for its components.")
class HoldsConditionInput:
    product: strawberry.ID | None = strawberry.field(
        default=None, description="A product id; give exactly one of `product`, `category` and `bundle`.")
    category: E.ProductCategory | None = strawberry.field(
        default=None, description="A product category; give exactly one of `product`, `category` and `bundle`.")
    bundle: bool | None = strawberry.field(
        default=None, description="true: any bundle; give exactly one of `product`, `category` and `bundle`.")
    min_count: int | None = strawberry.field(default=None, description="Subscriptions needed (default 1).")


@strawberry.input(description="Has accounts open at the reference time matching every filter given.")
class AccountConditionInput:
    types: list[E.AccountType] | None = strawberry.field(
        default=None, description="Only accounts of one of these types; null: any type.")
    statuses: list[E.AccountStatus] | None = strawberry.field(
        default=None, description="Only accounts in one of these states; null: any state.")
    contract_types: list[E.ContractType] | None = strawberry.field(
        default=None, description="Only accounts with one of these contract types; null: any.")
    payment_methods: list[E.PaymentMethod] | None = strawberry.field(
        default=None, description="Only accounts paying in one of these ways; null: any.")
    contract: ContractState | None = strawberry.field(
        default=None, description="Only accounts in this contract state at the reference time; null: any.")
    contract_ends_within_days: int | None = strawberry.field(
        default=None, description="Only accounts whose contract ends within this many days after the reference time.")
    min_count: int | None = strawberry.field(default=None, description="Accounts needed (default 1).")


@strawberry.input(description="Between `atLeast` (default 1) and `atMost` contacts in the last `days` days.")
class ContactsConditionInput:
    days: int = strawberry.field(
        description="Length of the window, in days, ending at the reference time (at least 1).")
    at_least: int | None = strawberry.field(default=None, description="Fewest contacts, inclusive (default 1).")
    at_most: int | None = strawberry.field(default=None, description="Most contacts, inclusive; null: no upper limit.")
    kinds: list[E.ContactKind] | None = strawberry.field(
        default=None, description="Count only contacts of these kinds; null: every kind.")
    channels: list[str] | None = strawberry.field(default=None, description="Channel ids.")
    direction: E.ContactDirection | None = strawberry.field(
        default=None, description="Count only contacts in this direction; null: both.")
    outcomes: list[E.ContactOutcome] | None = strawberry.field(
        default=None, description="Count only contacts with these outcomes; null: every outcome.")


@strawberry.input(description="No contact (of the given kinds / channels) in the last `days` days.")
class NoContactSinceInput:
    days: int = strawberry.field(
        description="Length of the quiet window, in days, ending at the reference time (at least 1).")
    kinds: list[E.ContactKind] | None = strawberry.field(
        default=None, description="Consider only contacts of these kinds; null: every kind.")
    channels: list[str] | None = strawberry.field(
        default=None, description="Consider only contacts through these channel ids; null: every channel.")
    direction: E.ContactDirection | None = strawberry.field(
        default=None, description="Consider only contacts in this direction; null: both.")


@strawberry.input(description="Revenue (invoices, purchases, top-ups minus refunds) of the last `days` days "
                              "against the `days` before, change in percent. No previous revenue: +infinity "
                              "when revenue grew, -infinity when it fell, 0 when equal.")
class SpendChangeConditionInput:
    days: int = strawberry.field(description="Length of each of the two compared windows, in days.")
    op: Comparison = strawberry.field(description="How the change compares.")
    value: float = strawberry.field(description="The change in percent, e.g. `-30` for a drop of 30%.")
    to: float | None = strawberry.field(
        default=None, description="Upper bound in percent for BETWEEN; ignored otherwise.")


@strawberry.input(description="Monthly recurring spend (active subscriptions' fees net of discount).")
class SpendConditionInput:
    op: Comparison = strawberry.field(description="How the spend compares.")
    value: float = strawberry.field(description="Monthly spend in the account currency.")
    to: float | None = strawberry.field(default=None, description="Upper bound for BETWEEN; ignored otherwise.")


@strawberry.input(description="A model score: `churn_risk` (0..1), `lifetime_value` or `propensity:<product id>`. "
                              "Unscored customers never match.")
class ScoreConditionInput:
    name: str = strawberry.field(
        description="The score: `churn_risk`, `lifetime_value` or `propensity:<product id>`; MODEL_NOT_TRAINED when "
                    "its model has not been trained.")
    op: Comparison = strawberry.field(description="How the score compares.")
    value: float = strawberry.field(description="The threshold (0..1 for probabilities, currency for lifetime value).")
    to: float | None = strawberry.field(default=None, description="Upper bound for BETWEEN; ignored otherwise.")


@strawberry.input(description="One node of a segment definition: a combination (`all`, `any`, `not`) or one "
                              "condition. Exactly one field must be set; an error names the path of a node that "
                              "breaks this (e.g. `definition.all[2]`), which a @oneOf input could not.")
class SegmentDefinitionInput:
    all: list[SegmentDefinitionInput] | None = strawberry.field(
        default=None, description="Every sub-definition holds (AND).")
    any: list[SegmentDefinitionInput] | None = strawberry.field(
        default=None, description="At least one sub-definition holds (OR).")
    not_: SegmentDefinitionInput | None = strawberry.field(
        description="The sub-definition does not hold.", name="not", default=None)
    attribute: AttributeConditionInput | None = strawberry.field(
        default=None, description="A condition on a profile attribute; on a personal one only for credentials that "
                                  "may read it in full.")
    holds: HoldsConditionInput | None = strawberry.field(default=None, description="A condition on products held.")
    account: AccountConditionInput | None = strawberry.field(default=None, description="A condition on accounts.")
    contacts: ContactsConditionInput | None = strawberry.field(
        default=None, description="A condition on the number of recent contacts.")
    no_contact_since: NoContactSinceInput | None = strawberry.field(default=None, description="No recent contact.")
    spend_change: SpendChangeConditionInput | None = strawberry.field(
        default=None, description="A condition on the change of revenue between two windows.")
    spend: SpendConditionInput | None = strawberry.field(
        default=None, description="A condition on monthly recurring spend.")
    score: ScoreConditionInput | None = strawberry.field(default=None, description="A condition on a model score.")


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
    kind: SegmentMeasureKind = strawberry.field(
        description="Whether the measure is a number or one category of a categorical measure.")
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
    edges: list[CustomerEdge] = strawberry.field(description="The members of this page, in customer-id order.")
    page_info: PageInfo = strawberry.field(description="Where this page sits: cursors and whether more pages follow.")
    total_count: int = strawberry.field(description="Number of members (all pages).")


def _members(found: resolve.MemberPage) -> SegmentMembers:
    page = found.page
    edges = [CustomerEdge(cursor=c, node=Customer.from_row(r)) for c, r in zip(page.cursors(), page.items)]
    return SegmentMembers(edges=edges, page_info=page_info(page), total_count=found.size)


@strawberry.type(description="What a definition selects, without saving it.")
class SegmentPreview:
    size: int = strawberry.field(description="Number of members.")
    base_size: int = strawberry.field(description="Customers in the base (not merged; joined by `asOf`).")
    share: float = strawberry.field(description="size / baseSize.")
    as_of: datetime = strawberry.field(description="The reference time the definition was evaluated at.")
    definition: JSON = strawberry.field(description="The definition as stored (no null fields).")
    members: SegmentMembers = strawberry.field(description="The first page of members, in customer-id order.")
    evaluation: strawberry.Private[rules.Evaluation]

    @strawberry.field(description="Members against the base, most distinctive first (computed when asked for).")
    async def profile(self, info: Ctx) -> list[SegmentProfileItem]:
        items = await resolve.profile_of(info.context, self.evaluation)
        return [SegmentProfileItem.from_item(i) for i in items]


@strawberry.type(description="A saved rule segment; figures are evaluated on request on the current data.")
class Segment(Node):
    id: strawberry.ID = strawberry.field(description="Segment id.")
    name: str = strawberry.field(description="Segment name, unique among saved segments.")
    description: str | None = strawberry.field(description="Free-text description; null when none was given.")
    created_at: datetime | None = strawberry.field(description="When the segment was saved (ISO 8601, UTC).")
    updated_at: datetime | None = strawberry.field(description="When the segment was last changed (ISO 8601, UTC).")
    version: int = strawberry.field(description="1 when created, +1 per update.")
    saved_definition: strawberry.Private[Any]

    @strawberry.field(description="The definition as saved; operands of conditions on personal fields the "
                                  "caller may not read are shown as ***.")
    def definition(self, info: Ctx) -> JSON:
        return resolve.shown_definition(info.context, self.saved_definition)

    @strawberry.field(description="Number of members now, or as of a past time.")
    async def size(
        self,
        info: Ctx,
        as_of: Annotated[datetime | None, strawberry.argument(
            description="Evaluate at this past time (ISO 8601; without offset: UTC); null: now. "
                        "BAD_USER_INPUT when in the future.")] = None,
    ) -> int:
        evaluation = await resolve.evaluate(info.context, self.saved_definition, naive_utc(as_of))
        return evaluation.size

    @strawberry.field(description="Members as a share of the base.")
    async def share(
        self,
        info: Ctx,
        as_of: Annotated[datetime | None, strawberry.argument(
            description="Evaluate at this past time (ISO 8601; without offset: UTC); null: now.")] = None,
    ) -> float:
        evaluation = await resolve.evaluate(info.context, self.saved_definition, naive_utc(as_of))
        return evaluation.share

    @strawberry.field(description="Members in customer-id order, now or as of a past time.")
    async def members(
        self,
        info: Ctx,
        first: Annotated[int | None, strawberry.argument(
            description="Page forward: the first `first` members after `after` (or the first member), "
                        "0..`CDP_MAX_PAGE_SIZE` (PAGE_TOO_LARGE above); not with `last`. Null with `last` "
                        "null: 20.")] = None,
        after: Annotated[str | None, strawberry.argument(
            description="Cursor of the edge to start after (`pageInfo.endCursor`); null: from the first "
                        "member.")] = None,
        as_of: Annotated[datetime | None, strawberry.argument(
            description="Evaluate at this past time (ISO 8601; without offset: UTC); null: now.")] = None,
        last: LastArgument = None,
        before: BeforeArgument = None,
    ) -> SegmentMembers:
        return _members(await resolve.members(info.context, self.saved_definition, first, after, naive_utc(as_of),
                                              last, before))

    @strawberry.field(description="Members against the base, most distinctive first.")
    async def profile(
        self,
        info: Ctx,
        as_of: Annotated[datetime | None, strawberry.argument(
            description="Evaluate at this past time (ISO 8601; without offset: UTC); null: now.")] = None,
    ) -> list[SegmentProfileItem]:
        items = await resolve.profile(info.context, self.saved_definition, naive_utc(as_of))
        return [SegmentProfileItem.from_item(i) for i in items]

    @strawberry.field(description="Whether one customer is a member (now or as of a past time).")
    async def contains(
        self,
        info: Ctx,
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="The customer to check.")],
        as_of: Annotated[datetime | None, strawberry.argument(
            description="Evaluate at this past time (ISO 8601; without offset: UTC); null: now.")] = None,
    ) -> bool:
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
    async def preview_segment(
        self,
        info: Ctx,
        definition: Annotated[SegmentDefinitionInput, strawberry.argument(description="The definition to evaluate.")],
        first: Annotated[int, strawberry.argument(description="Page size of `members`, 0..`CDP_MAX_PAGE_SIZE`.")] = 50,
        after: Annotated[str | None, strawberry.argument(
            description="Cursor of the member to start after; null: from the first.")] = None,
        as_of: Annotated[datetime | None, strawberry.argument(
            description="Evaluate at this past time (ISO 8601; without offset: UTC); null: now.")] = None,
    ) -> SegmentPreview:
        raw = definition_dict(definition)
        page = await resolve.preview(info.context, raw, first, after, naive_utc(as_of))
        evaluation = page.evaluation
        return SegmentPreview(size=page.size, base_size=evaluation.base_size, share=evaluation.share,
                              as_of=utc(evaluation.at), definition=canonical(raw),
                              members=_members(page), evaluation=evaluation)

    @strawberry.field(description="The saved segments, by name then id, a page at a time (keyset cursors: segments "
                                  "saved while paging do not shift the pages).")
    async def segments(self, info: Ctx, first: FirstArgument = None, after: AfterArgument = None,
                       last: LastArgument = None, before: BeforeArgument = None) -> SegmentConnection:
        page = await resolve.saved_segment_page(info.context, first, after, last, before)
        edges = [SegmentEdge(cursor=c, node=Segment.from_saved(s)) for c, s in zip(page.cursors(), page.items)]
        return SegmentConnection(edges=edges, page_info=page_info(page), total_count=page.total or 0)

    @strawberry.field(description="One saved segment; null when the id is unknown.")
    async def segment(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="The segment id.")],
    ) -> Segment | None:
        saved = await resolve.saved_segment(info.context, str(id))
        return Segment.from_saved(saved) if saved else None


@strawberry.type(description="An edge of the saved-segment list: one segment and its cursor.")
class SegmentEdge:
    cursor: str = strawberry.field(description="Opaque keyset cursor of this segment (`after` / `before`).")
    node: Segment = strawberry.field(description="The saved segment.")


@strawberry.type(description="A page of the saved segments, by name then id.")
class SegmentConnection:
    edges: list[SegmentEdge] = strawberry.field(description="The segments of this page, by name then id.")
    page_info: PageInfo = strawberry.field(description="Cursors of the page's ends and whether segments lie "
                                                       "beyond them.")
    total_count: int = strawberry.field(description="Number of saved segments (all pages).")


@strawberry.type
class SegmentMutation:
    @strawberry.mutation(description="Save a segment. The definition is checked first (nothing is saved when it "
                                     "is invalid); names are unique (CONFLICT).")
    async def create_segment(
        self,
        info: Ctx,
        name: Annotated[str, strawberry.argument(
            description="Segment name, unique among saved segments (CONFLICT when taken).")],
        definition: Annotated[SegmentDefinitionInput, strawberry.argument(
            description="The definition; checked before saving (BAD_USER_INPUT names the bad node in "
                        "`extensions.field`).")],
        description: Annotated[str | None, strawberry.argument(description="Free-text description.")] = None,
    ) -> Segment:
        saved = await resolve.create(info.context, name, description, definition_dict(definition))
        return Segment.from_saved(saved)

    @strawberry.mutation(description="Change a saved segment's name, description and/or definition (fields left "
                                     "out are kept); NOT_FOUND for an unknown id.")
    async def update_segment(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="The segment id (NOT_FOUND when unknown).")],
        name: Annotated[str | None, strawberry.argument(description="New name; null: unchanged.")] = None,
        description: Annotated[str | None, strawberry.argument(description="New description; null: unchanged.")] = None,
        definition: Annotated[SegmentDefinitionInput | None, strawberry.argument(
            description="New definition; null: unchanged.")] = None,
    ) -> Segment:
        raw = definition_dict(definition) if definition is not None else None
        saved = await resolve.update(info.context, str(id), name, description, raw)
        return Segment.from_saved(saved)

    @strawberry.mutation(description="Delete a saved segment; false when there was none.")
    async def delete_segment(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(
            description="The segment id; deleting an unknown id returns false.")],
    ) -> bool:
        return await resolve.delete(info.context, str(id))
