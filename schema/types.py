"""GraphQL object types of the unified customer view.

Each type is built once from a store row by its ``from_row`` function: plain
values become plain attributes, which strawberry serves on its fast path
(no resolver call per field). Only fields that need more data (nested
objects, filters, figures over related rows) are resolvers; they call
``resolvers`` functions, which batch through DataLoaders.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from cdp.customers import rules
from cdp.customers import profile as rules_profile
from cdp.errors import InvalidInput
from cdp.transport.pagination import encode_cursor, page_window
from resolvers import catalog, customers
from resolvers.context import Context
from resolvers.loaders import MISSING
from schema import enums as E
from schema.authorization import PersonalData, PersonalValue
from schema.channel_choice import ChannelChoice, next_best_channels
from schema.value import CustomerValue, customer_value

if TYPE_CHECKING:
    from schema.privacy import Consent, ConsentPurpose
    from schema.catalog_rules import ProductEligibility, ProductUpgrade
    from schema.segments import Segment
    from schema.relationship import SatisfactionMonth
from schema import scoring as S

Row = dict[str, Any]
Ctx = Info[Context, None]
ID = strawberry.ID


def utc(value: datetime | None) -> datetime | None:
    """Stored times are naive UTC: mark them as UTC for clients."""
    return value.replace(tzinfo=timezone.utc) if value is not None else None


def naive_utc(value: datetime | None) -> datetime | None:
    """A client's time, converted to the store's naive UTC."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def _field(description: str) -> Any:
    return strawberry.field(description=description)


def _personal(field: str, description: str | None = None) -> Any:
    """A personal field: masked for principals without access (``schema.authorization``)."""
    return strawberry.field(description=description, extensions=[PersonalData(field)])


@strawberry.type(description="Paging state of a connection.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def page_info(skip: int, count: int, has_next: bool) -> PageInfo:
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=skip > 0,
        start_cursor=encode_cursor(skip) if count else None,
        end_cursor=encode_cursor(skip + count - 1) if count else None,
    )


# --------------------------------------------------------------------------- catalogue


@strawberry.type(description="A way to reach or be reached by a customer.")
class Channel:
    id: ID
    name: str
    kind: E.ChannelKind | None
    cost_per_contact: float | None = _field("Cost of one contact through this channel.")

    @strawberry.field(description="Number of contacts through this channel since `since` (all time if omitted).")
    async def contact_volume(self, info: Ctx, since: datetime | None = None) -> int:
        return await catalog.contact_volume(info.context, self.id, naive_utc(since))

    @classmethod
    def from_row(cls, r: Row) -> Channel:
        return cls(id=ID(r["id"]), name=r.get("name") or r["id"], kind=E.to_enum(E.ChannelKind, r.get("kind")),
                   cost_per_contact=r.get("cost_per_contact"))


async def _channel(info: Ctx, channel_id: str | None) -> Channel | None:
    found = await catalog.channel(info.context, channel_id) if channel_id else None
    return Channel.from_row(found) if found else None


async def _product(info: Ctx, product_id: str | None) -> Product | None:
    found = await catalog.product(info.context, product_id) if product_id else None
    return Product.from_row(found) if found else None


# The resolvers below answer at once when the request's loaders hold their rows already (a
# prefetched view, resolvers.view_prefetch), else they return the awaitable of the loader
# path: graphql-core completes a plain value much faster than an awaitable.

def _channel_now(info: Ctx, channel_id: str | None) -> Channel | None | Awaitable[Channel | None]:
    found = info.context.loaders.channel_now(channel_id) if channel_id else None
    if found is MISSING:
        return _channel(info, channel_id)
    return Channel.from_row(found) if found else None


def _product_now(info: Ctx, product_id: str | None) -> Product | None | Awaitable[Product | None]:
    found = info.context.loaders.product_now(product_id) if product_id else None
    if found is MISSING:
        return _product(info, product_id)
    return Product.from_row(found) if found else None


@strawberry.type(description="A component of a bundle.")
class BundleComponent:
    product_id: strawberry.Private[str]

    @strawberry.field
    async def product(self, info: Ctx) -> Product | None:
        return await _product(info, self.product_id)

    quantity: int
    discount: float = _field("Share taken off the component's price inside the bundle, 0..1.")

    @classmethod
    def from_row(cls, r: Row) -> BundleComponent:
        return cls(product_id=r["product_id"], quantity=r.get("quantity") or 1, discount=r.get("discount") or 0.0)


@strawberry.type(description="A catalogue item: plan, service, device or bundle.")
class Product:
    id: ID
    name: str
    category: E.ProductCategory | None
    monthly_price: float | None
    one_off_price: float | None
    monthly_cost: float | None = _field("Cost to serve per month.")
    monthly_margin: float | None = _field("Monthly price minus monthly cost.")
    lifecycle: E.ProductLifecycle | None
    launched_on: date | None
    description: str | None
    is_bundle: bool
    offer_from: date | None = _field("Catalog rule: first day the product may be offered.")
    offer_until: date | None = _field("Catalog rule: last day the product may be offered.")
    row: strawberry.Private[Row | None] = None

    @strawberry.field(description="Catalog rule: products one of which the customer must hold.")
    async def requires(self, info: Ctx) -> list[Product]:
        from schema import catalog_rules as R
        return await R.requires(info, self.id)

    @strawberry.field(description="Catalog rule: products that cannot be held together with this one.")
    async def excludes(self, info: Ctx) -> list[Product]:
        from schema import catalog_rules as R
        return await R.excludes(info, self.id)

    @strawberry.field(description="Catalog rule: the up-sells of this product.")
    async def upgrades_to(self, info: Ctx) -> list[Annotated[ProductUpgrade, strawberry.lazy("schema.catalog_rules")]]:
        from schema import catalog_rules as R
        return await R.upgrades_to(info, self.id)

    @strawberry.field(description="Catalog rule: who may be offered this product.")
    def eligibility(self) -> Annotated[ProductEligibility, strawberry.lazy("schema.catalog_rules")]:
        from schema import catalog_rules as R
        return R.eligibility(self.row or {})

    @strawberry.field(description="Products this bundle includes (empty for non-bundles).")
    async def components(self, info: Ctx) -> list[BundleComponent]:
        return [BundleComponent.from_row(r) for r in await catalog.components(info.context, self.id)]

    @strawberry.field(description="Number of active subscriptions to this product.")
    async def subscriber_count(self, info: Ctx) -> int:
        return await catalog.subscriber_count(info.context, self.id)

    @classmethod
    def from_row(cls, r: Row) -> Product:
        price, cost = r.get("monthly_price"), r.get("monthly_cost")
        return cls(
            id=ID(r["id"]), name=r.get("name") or r["id"], category=E.to_enum(E.ProductCategory, r.get("category")),
            monthly_price=price, one_off_price=r.get("one_off_price"), monthly_cost=cost,
            monthly_margin=round(price - cost, 2) if price is not None and cost is not None else None,
            lifecycle=E.to_enum(E.ProductLifecycle, r.get("lifecycle")), launched_on=r.get("launched_on"),
            description=r.get("description"), is_bundle=r.get("category") == "BUNDLE",
            offer_from=r.get("offer_from"), offer_until=r.get("offer_until"), row=r,
        )


# --------------------------------------------------------------------------- accounts


@strawberry.type(description="An account's subscription to a product.")
class Subscription:
    id: ID
    status: E.SubscriptionStatus | None
    since: date | None
    until: date | None
    monthly_fee: float | None
    discount: float = _field("Share taken off the fee, 0..1.")
    net_monthly_fee: float = _field("Fee after discount.")
    product_id: strawberry.Private[str | None]

    @strawberry.field
    def product(self, info: Ctx) -> Product | None:
        return _product_now(info, self.product_id)  # type: ignore[return-value]

    @classmethod
    def from_row(cls, r: Row) -> Subscription:
        return cls(
            id=ID(r["id"]), status=E.to_enum(E.SubscriptionStatus, r.get("status")), since=r.get("since"),
            until=r.get("until"), monthly_fee=r.get("monthly_fee"), discount=r.get("discount") or 0.0,
            net_monthly_fee=rules.net_monthly_fee(r), product_id=r.get("product_id"),
        )


@strawberry.type(description="Money moving on an account.")
class MonetaryEvent:
    id: ID
    kind: E.MonetaryKind | None
    amount: float | None
    currency: str | None
    at: datetime | None
    description: str | None
    account_id: ID | None

    @classmethod
    def from_row(cls, r: Row) -> MonetaryEvent:
        aid = r.get("account_id")
        return cls(id=ID(r["id"]), kind=E.to_enum(E.MonetaryKind, r.get("kind")), amount=r.get("amount"),
                   currency=r.get("currency"), at=utc(r.get("at")), description=r.get("description"),
                   account_id=ID(aid) if aid else None)


def _now_or_later(held: Any, load: Callable[[], Awaitable[Any]], answer: Callable[[Any], Any]) -> Any:
    """``answer(held)`` when ``held`` is a value the loaders hold, else an awaitable of
    ``answer(await load())`` (graphql-core completes a plain value without a task)."""
    if held is not MISSING:
        return answer(held)

    async def later() -> Any:
        return answer(await load())

    return later()


def _events(rows: list[Row], first: int, kind: Any, since: datetime | None) -> list[MonetaryEvent]:
    if first < 0 or first > 500:
        raise InvalidInput("first must be between 0 and 500", field="first")
    since = naive_utc(since)
    out = [r for r in rows
           if (kind is None or r.get("kind") == kind.value) and (since is None or (r.get("at") and r["at"] >= since))]
    return [MonetaryEvent.from_row(r) for r in out[:first]]


@strawberry.type(description="A billing account.")
class Account:
    id: ID
    type: E.AccountType | None
    status: E.AccountStatus | None
    opened_on: date | None
    closed_on: date | None
    payment_method: E.PaymentMethod | None
    contract_type: E.ContractType | None
    contract_end: date | None

    @strawberry.field
    def subscriptions(self, info: Ctx) -> list[Subscription]:
        rows = customers.subscriptions_now(info.context, self.id)
        if rows is MISSING:
            return self._subscriptions(info)  # type: ignore[return-value]
        return [Subscription.from_row(r) for r in rows]

    async def _subscriptions(self, info: Ctx) -> list[Subscription]:
        return [Subscription.from_row(r) for r in await customers.subscriptions(info.context, self.id)]

    @strawberry.field(description="Monetary events of this account, newest first.")
    async def monetary_events(
        self, info: Ctx, first: int = 50, kind: E.MonetaryKind | None = None, since: datetime | None = None,
    ) -> list[MonetaryEvent]:
        return _events(await customers.monetary_events(info.context, [self.id]), first, kind, since)

    @classmethod
    def from_row(cls, r: Row) -> Account:
        return cls(
            id=ID(r["id"]), type=E.to_enum(E.AccountType, r.get("type")),
            status=E.to_enum(E.AccountStatus, r.get("status")), opened_on=r.get("opened_on"),
            closed_on=r.get("closed_on"), payment_method=E.to_enum(E.PaymentMethod, r.get("payment_method")),
            contract_type=E.to_enum(E.ContractType, r.get("contract_type")), contract_end=r.get("contract_end"),
        )


# --------------------------------------------------------------------------- contacts


@strawberry.type(description="One interaction between the operator and a customer.")
class Contact:
    id: ID
    at: datetime | None
    direction: E.ContactDirection | None
    kind: E.ContactKind | None
    outcome: E.ContactOutcome | None
    satisfaction: int | None = _field("1 (very unhappy) .. 5 (very happy), when asked.")
    subject: str | None
    campaign: str | None = _field("Campaign code, for campaign contacts.")
    resolved_at: datetime | None
    channel_id: strawberry.Private[str | None]

    @strawberry.field
    def channel(self, info: Ctx) -> Channel | None:
        return _channel_now(info, self.channel_id)  # type: ignore[return-value]

    @classmethod
    def from_row(cls, r: Row) -> Contact:
        return cls(
            id=ID(r["id"]), at=utc(r.get("at")), direction=E.to_enum(E.ContactDirection, r.get("direction")),
            kind=E.to_enum(E.ContactKind, r.get("kind")), outcome=E.to_enum(E.ContactOutcome, r.get("outcome")),
            satisfaction=r.get("satisfaction"), subject=r.get("subject"), campaign=r.get("campaign"),
            resolved_at=utc(r.get("resolved_at")), channel_id=r.get("channel_id"),
        )


@strawberry.type
class ContactEdge:
    cursor: str
    node: Contact


@strawberry.type(description="A page of contacts, newest first.")
class ContactConnection:
    edges: list[ContactEdge]
    page_info: PageInfo
    total_count: int


def _contact_page(rows: list[Row], skip: int, limit: int) -> ContactConnection:
    """One page (``skip``, ``limit``) of a customer's contacts, newest first."""
    page = rows[skip:skip + limit]
    edges = [ContactEdge(cursor=encode_cursor(skip + i), node=Contact.from_row(r)) for i, r in enumerate(page)]
    return ContactConnection(
        edges=edges, page_info=page_info(skip, len(page), skip + limit < len(rows)), total_count=len(rows))


@strawberry.type(description="A channel a customer prefers; rank 1 is the favourite.")
class ChannelPreference:
    rank: int
    source: str | None = _field("CUSTOMER when the customer said so, INFERRED when derived from behaviour.")
    updated_at: datetime | None
    channel_id: strawberry.Private[str | None]

    @strawberry.field
    def channel(self, info: Ctx) -> Channel | None:
        return _channel_now(info, self.channel_id)  # type: ignore[return-value]

    @classmethod
    def from_row(cls, r: Row) -> ChannelPreference:
        return cls(rank=r.get("rank") or 0, source=r.get("source"), updated_at=utc(r.get("updated_at")),
                   channel_id=r.get("channel_id"))


@strawberry.type(description="A postal address.")
class Address:
    street: str | None = _personal("street")
    city: str | None
    postal_code: str | None = _personal("postalCode")
    country: str | None
    customer_id: strawberry.Private[str | None] = None


# --------------------------------------------------------------------------- identities and profile


@strawberry.type(description="A customer's record in one source system, merged into the customer.")
class SourceIdentity:
    id: ID
    source: str | None
    source_key: str | None
    matched_by: str | None = _field("Rule that linked this record (SEED: first record; SPLIT: split out).")
    confidence: float | None = _field("Confidence of the link, 0..1.")
    linked_at: datetime | None

    @classmethod
    def from_row(cls, r: Row) -> SourceIdentity:
        return cls(id=ID(r["id"]), source=r.get("source"), source_key=r.get("source_key"),
                   matched_by=r.get("matched_by"), confidence=r.get("confidence"), linked_at=utc(r.get("linked_at")))


@strawberry.type(description="One value of a profile attribute with its provenance.")
class AttributeValue:
    id: ID
    key: str
    value: str | None = strawberry.field(extensions=[PersonalValue()],
                                         description="The value; masked for personal keys without access.")
    source: str | None = _field("Source system, or CUSTOMER for self-service.")
    identity_id: ID | None = _field("The source record that said it.")
    observed_at: datetime | None
    accuracy: float | None = _field("Confidence in the value, 0..1.")
    customer_maintained: bool
    verified: bool
    stale: bool = _field("Observed longer ago than the profile policy's stale_after_days.")
    expires_at: datetime | None = _field("When the value stops holding (consents with an expiry); null: never.")
    customer_id: strawberry.Private[str | None] = None

    @classmethod
    def from_row(cls, r: Row, policy: Any, now: datetime, customer_id: str | None = None) -> AttributeValue:
        iid = r.get("identity_id")
        return cls(id=ID(r["id"]), key=r["key"], value=r.get("value"), source=r.get("source"),
                   identity_id=ID(iid) if iid else None, observed_at=utc(r.get("observed_at")),
                   accuracy=r.get("accuracy"), customer_maintained=bool(r.get("customer_maintained")),
                   verified=bool(r.get("verified")), stale=policy.is_stale(r, now),
                   expires_at=utc(r.get("expires_at")), customer_id=customer_id)


@strawberry.type(description="The shown value of a profile attribute, chosen by the survivorship rules.")
class ProfileAttribute:
    key: str
    value: str | None = strawberry.field(extensions=[PersonalValue()],
                                         description="The shown value; masked for personal keys without access.")
    provenance: AttributeValue
    stale: bool
    conflicting: bool = _field("The latest values of two sources disagree.")
    candidates: int = _field("How many values were considered.")
    customer_id: strawberry.Private[str | None] = None


def _profile(values: list[Row], ctx: Context, keys: list[str] | None, customer_id: str) -> list[ProfileAttribute]:
    now = ctx.now
    out = []
    for a in rules_profile.profile(values, ctx.policy, now):
        if keys is None or a.key in keys:
            out.append(ProfileAttribute(key=a.key, value=a.value.get("value"),
                                        provenance=AttributeValue.from_row(a.value, ctx.policy, now, customer_id),
                                        stale=a.stale, conflicting=a.conflicting, candidates=a.candidates,
                                        customer_id=customer_id))
    return out


# --------------------------------------------------------------------------- customer


@strawberry.type(description="The unified view of one customer, merged from every source system.")
class Customer:
    id: ID
    name: str = _personal("name", "Company name for organisations, else first and last name.")
    first_name: str | None = _personal("firstName")
    last_name: str | None = _personal("lastName")
    company_name: str | None
    birth_date: date | None = _personal("birthDate")
    gender: E.Gender | None
    national_id: str | None = _personal("nationalId")
    email: str | None = _personal("email")
    phone: str | None = _personal("phone")
    address: Address
    language: str | None
    tier: E.Tier | None
    status: E.CustomerStatus | None
    joined_on: date | None
    account_manager: str | None = _field("Account manager, for key accounts.")
    updated_at: datetime | None
    merged_into: ID | None = _field("The customer this one was merged into (status MERGED), if any.")

    @strawberry.field
    def accounts(self, info: Ctx) -> list[Account]:
        rows = customers.accounts_now(info.context, self.id)
        if rows is MISSING:
            return self._accounts(info)  # type: ignore[return-value]
        return [Account.from_row(r) for r in rows]

    async def _accounts(self, info: Ctx) -> list[Account]:
        return [Account.from_row(r) for r in await customers.accounts(info.context, self.id)]

    @strawberry.field(description="Channels to reach the customer through, best first, with the best time. "
                                  "With `value` (what a response is worth) ranked by expected net value.")
    async def next_best_channels(self, info: Ctx, first: int = 3, value: float | None = None) -> list[ChannelChoice]:
        return await next_best_channels(info, self.id, first, value)

    @strawberry.field(description="Next-best offers: eligible products ranked by expected value (probability x "
                                  "margin), each with reasons, the channel and the time to make it.")
    async def recommendations(
        self, info: Ctx, first: int = 5,
    ) -> list[Annotated[Recommendation, strawberry.lazy("schema.recommendations")]]:
        from schema.recommendations import customer_recommendations

        return await customer_recommendations(info, self.id, first)

    @strawberry.field(description="Whether the catalog rules let a product be offered to the customer at `at` "
                                  "(default now), and why not. NOT_FOUND for an unknown product.")
    async def offer_eligibility(
        self, info: Ctx, product_id: ID, at: datetime | None = None,
    ) -> Annotated[OfferEligibility, strawberry.lazy("schema.recommendations")]:
        from schema.recommendations import customer_offer_eligibility

        return await customer_offer_eligibility(info, self.id, str(product_id), at)

    @strawberry.field(description="Saved segments the customer belongs to now, by name.")
    async def segments(self, info: Ctx) -> list[Annotated[Segment, strawberry.lazy("schema.segments")]]:
        from resolvers import segments as segment_resolvers
        from schema.segments import Segment

        return [Segment.from_saved(s) for s in await segment_resolvers.segments_of(info.context, self.id)]

    @strawberry.field(description="Monthly satisfaction scores over [from, to) (default: the last year), oldest "
                                  "month first (docs/relationship.md).")
    async def satisfaction(
        self, info: Ctx, from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> list[Annotated[SatisfactionMonth, strawberry.lazy("schema.relationship")]]:
        from schema.relationship import customer_satisfaction

        return await customer_satisfaction(info, self.id, from_, to)

    @strawberry.field(description="Value tier, RFM scores and behavioural cluster; null outside the base.")
    async def value(self, info: Ctx) -> CustomerValue | None:
        return await customer_value(info, self.id)

    @strawberry.field(description="Churn probability with reasons; null when not scored (no open account). "
                                  "With `asOf`: the customer as they were then (facts before it only).")
    async def churn_risk(self, info: Ctx, as_of: datetime | None = None) -> S.ChurnRisk | None:
        return await S.churn_risk(info, self.id, as_of)

    @strawberry.field(description="Expected discounted margin over the horizon; null when not scored. "
                                  "With `asOf`: as of that time.")
    async def lifetime_value(self, info: Ctx, as_of: datetime | None = None) -> S.LifetimeValue | None:
        return await S.lifetime_value(info, self.id, as_of)

    @strawberry.field(description="Products the customer does not hold, likeliest to be taken first.")
    async def propensities(self, info: Ctx, first: int = 5) -> list[S.Propensity]:
        return await S.propensities(info, self.id, first)

    @strawberry.field(description="Contacts with the customer, newest first.")
    def contacts(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        kind: E.ContactKind | None = None,
        channel: strawberry.ID | None = None,
        since: datetime | None = None,
    ) -> ContactConnection:
        ctx = info.context
        skip, limit = page_window(first, after, ctx.settings.max_page_size)  # bad arguments fail here, at once
        filters = (naive_utc(since), kind.value if kind else None, channel)
        rows = customers.contacts_now(ctx, self.id, *filters)
        if rows is MISSING:
            return self._contacts(info, skip, limit, filters)  # type: ignore[return-value]
        return _contact_page(rows, skip, limit)

    async def _contacts(self, info: Ctx, skip: int, limit: int, filters: tuple) -> ContactConnection:
        return _contact_page(await customers.contacts(info.context, self.id, *filters), skip, limit)

    @strawberry.field(description="Preferred channels, favourite first.")
    def preferred_channels(self, info: Ctx) -> list[ChannelPreference]:
        rows = customers.preferred_channels_now(info.context, self.id)
        if rows is MISSING:
            return self._preferred_channels(info)  # type: ignore[return-value]
        return [ChannelPreference.from_row(r) for r in rows]

    async def _preferred_channels(self, info: Ctx) -> list[ChannelPreference]:
        return [ChannelPreference.from_row(r) for r in await customers.preferred_channels(info.context, self.id)]

    @strawberry.field(description="Monetary events over all the customer's accounts, newest first.")
    def monetary_history(
        self, info: Ctx, first: int = 50, kind: E.MonetaryKind | None = None, since: datetime | None = None,
    ) -> list[MonetaryEvent]:
        rows = customers.monetary_events_now(info.context, self.id)
        if rows is MISSING:
            return self._monetary_history(info, first, kind, since)  # type: ignore[return-value]
        return _events(rows, first, kind, since)

    async def _monetary_history(self, info: Ctx, first: int, kind: E.MonetaryKind | None,
                                since: datetime | None) -> list[MonetaryEvent]:
        accs = await customers.accounts(info.context, self.id)
        rows = await customers.monetary_events(info.context, [a["id"] for a in accs])
        return _events(rows, first, kind, since)

    @strawberry.field(description="Source records merged into this customer, oldest link first.")
    async def identities(self, info: Ctx) -> list[SourceIdentity]:
        return [SourceIdentity.from_row(r) for r in await customers.identities(info.context, self.id)]

    @strawberry.field(description="Profile attributes with the value the survivorship rules chose (all keys, "
                                   "or only `keys`).")
    async def profile(self, info: Ctx, keys: list[str] | None = None) -> list[ProfileAttribute]:
        return _profile(await customers.attribute_values(info.context, self.id), info.context, keys, self.id)

    @strawberry.field(description="Every value ever recorded for one attribute, newest first, with provenance.")
    async def attribute_history(self, info: Ctx, key: str) -> list[AttributeValue]:
        ctx = info.context
        values = await customers.attribute_values(ctx, self.id)
        now = ctx.now
        return [AttributeValue.from_row(r, ctx.policy, now, self.id) for r in rules_profile.history(values, key)]

    @strawberry.field(description="The effective consents: per purpose and channel, the latest statement "
                                  "unless it has expired (docs/privacy.md).")
    async def consents(self, info: Ctx) -> list[Annotated[Consent, strawberry.lazy("schema.privacy")]]:
        from schema.privacy import customer_consents

        return await customer_consents(info, self.id)

    @strawberry.field(description="Every consent statement, newest first (expired and superseded ones too), "
                                  "optionally of one purpose and/or channel.")
    async def consent_history(
        self, info: Ctx, purpose: Annotated[ConsentPurpose, strawberry.lazy("schema.privacy")] | None = None,
        channel: ID | None = None,
    ) -> list[Annotated[Consent, strawberry.lazy("schema.privacy")]]:
        from schema.privacy import customer_consent_history

        return await customer_consent_history(info, self.id, purpose, channel)

    @strawberry.field(description="Whole months since the customer joined.")
    def tenure_months(self, info: Ctx) -> int | None:
        return rules.tenure_months(self.joined_on, info.context.today)

    # The four figures below answer at once from what the request's loaders hold (the view's
    # prefetch), and await the loaders otherwise.

    @strawberry.field(description="Monthly recurring revenue of active subscriptions, after discounts.")
    def monthly_revenue(self, info: Ctx) -> float:
        return _now_or_later(customers.all_subscriptions_now(info.context, self.id),
                             lambda: customers.all_subscriptions(info.context, self.id), rules.monthly_revenue)

    @strawberry.field(description="Number of distinct products held through active subscriptions.")
    def product_count(self, info: Ctx) -> int:
        return _now_or_later(customers.all_subscriptions_now(info.context, self.id),
                             lambda: customers.all_subscriptions(info.context, self.id), rules.active_product_count)

    @strawberry.field(description="Time of the latest contact.")
    def last_contact_at(self, info: Ctx) -> datetime | None:
        return _now_or_later(customers.contact_summary_now(info.context, self.id),
                             lambda: customers.contact_summary(info.context, self.id),
                             lambda summary: utc(summary["last_contact_at"]))

    @strawberry.field(description="Complaints not yet resolved (open or escalated).")
    def open_complaints(self, info: Ctx) -> int:
        return _now_or_later(customers.contact_summary_now(info.context, self.id),
                             lambda: customers.contact_summary(info.context, self.id),
                             lambda summary: summary["open_complaints"] or 0)

    @classmethod
    def from_row(cls, r: Row) -> Customer:
        return cls(
            id=ID(r["id"]), name=rules.display_name(r), first_name=r.get("first_name"),
            last_name=r.get("last_name"), company_name=r.get("company_name"), birth_date=r.get("birth_date"),
            gender=E.to_enum(E.Gender, r.get("gender")), national_id=r.get("national_id"), email=r.get("email"),
            phone=r.get("phone"),
            address=Address(street=r.get("street"), city=r.get("city"), postal_code=r.get("postal_code"),
                            country=r.get("country"), customer_id=r["id"]),
            language=r.get("language"), tier=E.to_enum(E.Tier, r.get("tier")),
            status=E.to_enum(E.CustomerStatus, r.get("status")), joined_on=r.get("joined_on"),
            account_manager=r.get("account_manager"), updated_at=utc(r.get("updated_at")),
            merged_into=ID(r["merged_into"]) if r.get("merged_into") else None,
        )


@strawberry.type
class CustomerEdge:
    cursor: str
    node: Customer


@strawberry.type(description="A page of customers.")
class CustomerConnection:
    edges: list[CustomerEdge]
    page_info: PageInfo
    page: strawberry.Private[Any]

    @strawberry.field(description="Number of customers matching the conditions (all pages).")
    async def total_count(self, info: Ctx) -> int:
        return await customers.customer_count(info.context, self.page.filter)


def customer_connection(page: customers.CustomerPage) -> CustomerConnection:
    edges = [CustomerEdge(cursor=encode_cursor(page.skip + i), node=Customer.from_row(r))
             for i, r in enumerate(page.rows)]
    return CustomerConnection(edges=edges, page_info=page_info(page.skip, len(edges), page.has_next), page=page)
