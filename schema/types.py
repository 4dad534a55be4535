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
from typing import TYPE_CHECKING, Annotated, Any, overload

import strawberry
from strawberry.types import Info

from graph.clock import naive_utc
from schema.node import Node

from cdp.customers import rules
from cdp.customers import profile as rules_profile
from cdp.transport.pagination import Page, PageRequest, keyset_page, page_request
from resolvers import catalog, customers
from resolvers.context import Context
from resolvers.loaders import MISSING
from schema import enums as E
from schema.authorization import PersonalData, PersonalValue
from schema.connections import AfterArgument, BeforeArgument, LastArgument
from schema.channel_choice import ChannelChoice, next_best_channels
from schema.value import CustomerValue, customer_value

if TYPE_CHECKING:
    from schema.privacy import Consent, ConsentPurpose
    from schema.catalog_rules import ProductEligibility, ProductUpgrade
    from schema.segments import Segment
    from schema.relationship import SatisfactionMonth
    from schema.recommendations import OfferEligibility, Recommendation
from schema import scoring as S

Row = dict[str, Any]
Ctx = Info[Context, None]
ID = strawberry.ID


@overload
def utc(value: datetime) -> datetime: ...
@overload
def utc(value: None) -> None: ...
def utc(value: datetime | None) -> datetime | None:
    """Stored times are naive UTC: mark them as UTC for clients (None stays None)."""
    return value.replace(tzinfo=timezone.utc) if value is not None else None


def _field(description: str) -> Any:
    return strawberry.field(description=description)


def _personal(field: str, description: str | None = None) -> Any:
    """A personal field: masked for principals without access (``schema.authorization``)."""
    return strawberry.field(description=description, extensions=[PersonalData(field)])


@strawberry.type(description="Paging state of a connection.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when a further page follows the last edge of this one.")
    has_previous_page: bool = strawberry.field(description="True when edges come before the first edge of this one.")
    start_cursor: str | None = strawberry.field(
        description="Cursor of the first edge of the page; null when the page is empty.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last edge of the page; pass it as `after` to read the next page. Null when the "
                    "page is empty.")


def page_info(page: Page) -> PageInfo:
    """The ``PageInfo`` of a keyset page (``cdp.transport.pagination``)."""
    cursors = page.cursors()
    return PageInfo(
        has_next_page=page.has_next,
        has_previous_page=page.has_previous,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


# --------------------------------------------------------------------------- catalogue


@strawberry.type(description="A way to reach or be reached by a customer.")
class Channel(Node):
    id: ID = strawberry.field(description="Channel id, e.g. `SMS`, `EMAIL`, `OUTBOUND_CALL`, `SHOP`.")
    name: str = strawberry.field(description="Display name of the channel (its id when the catalogue gives no name).")
    kind: E.ChannelKind | None = strawberry.field(
        description="Family of the channel (assisted, digital, messaging, outbound); null when not recorded.")
    cost_per_contact: float | None = _field("Cost of one contact through this channel.")

    @strawberry.field(description="Number of contacts through this channel since `since` (all time if omitted).")
    async def contact_volume(
        self,
        info: Ctx,
        since: Annotated[datetime | None, strawberry.argument(
            description="Count only contacts at or after this time (ISO 8601; a value without offset is "
                        "read as UTC). Omitted or null: all time.")] = None,
    ) -> int:
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

    @strawberry.field(description="The component product; null when it is no longer in the catalogue.")
    async def product(self, info: Ctx) -> Product | None:
        return await _product(info, self.product_id)

    quantity: int = strawberry.field(description="How many units of the component the bundle includes (at least 1).")
    discount: float = _field("Share taken off the component's price inside the bundle, 0..1.")

    @classmethod
    def from_row(cls, r: Row) -> BundleComponent:
        return cls(product_id=r["product_id"], quantity=r.get("quantity") or 1, discount=r.get("discount") or 0.0)


@strawberry.type(description="A catalogue item: plan, service, device or bundle.")
class Product(Node):
    id: ID = strawberry.field(description="Product id (catalogue code), e.g. `P-BB-500`.")
    name: str = strawberry.field(description="Display name of the product (its id when the catalogue gives no name).")
    category: E.ProductCategory | None = strawberry.field(description="Catalogue category; null when not recorded.")
    monthly_price: float | None = strawberry.field(
        description="List price per month, in the catalogue currency, before discounts; null for one-off items.")
    one_off_price: float | None = strawberry.field(
        description="One-off price (devices, activation), in the catalogue currency; null when there is none.")
    monthly_cost: float | None = _field("Cost to serve per month.")
    monthly_margin: float | None = _field("Monthly price minus monthly cost.")
    lifecycle: E.ProductLifecycle | None = strawberry.field(
        description="Whether the product is planned, sold or retired; null when not recorded.")
    launched_on: date | None = strawberry.field(description="Day the product was first sold; null when unknown.")
    description: str | None = strawberry.field(
        description="Free-text description from the catalogue; null when there is none.")
    is_bundle: bool = strawberry.field(
        description="True for products of category BUNDLE, which include other products (see `components`).")
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


@strawberry.type(description="An account's subscription to a catalogue product (a customer's product "
                             "holding; named so that no domain type takes the GraphQL `Subscription` root's name).")
class ProductSubscription:
    id: ID = strawberry.field(description="Subscription id from the source system.")
    status: E.SubscriptionStatus | None = strawberry.field(
        description="State of the subscription; null when not recorded. Only ACTIVE subscriptions count in revenue "
                    "and product counts.")
    since: date | None = strawberry.field(description="First day of the subscription; null when unknown.")
    until: date | None = strawberry.field(description="Last day of the subscription; null while it runs.")
    monthly_fee: float | None = strawberry.field(
        description="Fee per month before discount, in the account currency; null when not recorded.")
    discount: float = _field("Share taken off the fee, 0..1.")
    net_monthly_fee: float = _field("Fee after discount.")
    product_id: strawberry.Private[str | None]

    @strawberry.field(description="The catalogue product subscribed to; null when it is no longer in the catalogue.")
    def product(self, info: Ctx) -> Product | None:
        return _product_now(info, self.product_id)  # type: ignore[return-value]

    @classmethod
    def from_row(cls, r: Row) -> ProductSubscription:
        return cls(
            id=ID(r["id"]), status=E.to_enum(E.SubscriptionStatus, r.get("status")), since=r.get("since"),
            until=r.get("until"), monthly_fee=r.get("monthly_fee"), discount=r.get("discount") or 0.0,
            net_monthly_fee=rules.net_monthly_fee(r), product_id=r.get("product_id"),
        )


@strawberry.type(description="Money moving on an account.")
class MonetaryEvent:
    id: ID = strawberry.field(description="Event id from the billing source.")
    kind: E.MonetaryKind | None = strawberry.field(
        description="What moved the money (invoice, payment, purchase, top-up, refund); null when not recorded.")
    amount: float | None = strawberry.field(
        description="Amount in `currency`, as booked by the billing source; null when not recorded.")
    currency: str | None = strawberry.field(description="ISO 4217 currency code, e.g. `EUR`; null when not recorded.")
    at: datetime | None = strawberry.field(description="When the event happened (ISO 8601, UTC with offset `+00:00`).")
    description: str | None = strawberry.field(
        description="Free text from the billing source (an invoice line, a shop); removed when the customer is "
                    "erased.")
    account_id: ID | None = strawberry.field(description="Id of the account the event was booked on.")

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


@strawberry.type(description="One monetary event of a customer's history, with its cursor.")
class MonetaryEventEdge:
    cursor: str = strawberry.field(description="Opaque keyset cursor of this event (`after` / `before`).")
    node: MonetaryEvent = strawberry.field(description="The event.")


@strawberry.type(description="A page of a customer's monetary history, newest first (time, then id).")
class MonetaryEventConnection:
    edges: list[MonetaryEventEdge] = strawberry.field(description="The events of this page, newest first.")
    page_info: PageInfo = strawberry.field(description="Cursors of the page's ends and whether events lie "
                                                       "beyond them.")
    total_count: int = strawberry.field(description="Events matching `kind` and `since` (all pages).")


def _history(page: Page[Row]) -> MonetaryEventConnection:
    """The ``MonetaryEventConnection`` of a keyset page of event rows."""
    edges = [MonetaryEventEdge(cursor=c, node=MonetaryEvent.from_row(r)) for c, r in zip(page.cursors(), page.items)]
    return MonetaryEventConnection(edges=edges, page_info=page_info(page), total_count=page.total or 0)


@strawberry.type(description="A billing account.")
class Account(Node):
    id: ID = strawberry.field(description="Account id from the billing source.")
    type: E.AccountType | None = strawberry.field(
        description="Kind of billing account (postpaid, prepaid, business); null when not recorded.")
    status: E.AccountStatus | None = strawberry.field(description="State of the account; null when not recorded.")
    opened_on: date | None = strawberry.field(description="Day the account was opened; null when unknown.")
    closed_on: date | None = strawberry.field(description="Day the account was closed; null while it is open.")
    payment_method: E.PaymentMethod | None = strawberry.field(
        description="How the account pays; null when not recorded.")
    contract_type: E.ContractType | None = strawberry.field(
        description="Commitment period of the account's contract; null when not recorded.")
    contract_end: date | None = strawberry.field(
        description="Last day of the contract commitment; null without a contract.")

    @strawberry.field(description="The account's product subscriptions, in any state.")
    def subscriptions(self, info: Ctx) -> list[ProductSubscription]:
        rows = customers.subscriptions_now(info.context, self.id)
        if rows is MISSING:
            return self._subscriptions(info)  # type: ignore[return-value]
        return [ProductSubscription.from_row(r) for r in rows]

    async def _subscriptions(self, info: Ctx) -> list[ProductSubscription]:
        return [ProductSubscription.from_row(r) for r in await customers.subscriptions(info.context, self.id)]

    @strawberry.field(description="Monetary events of this account, newest first (time, then id), as a keyset "
                               "connection: events booked while paging do not shift the pages.")
    async def monetary_events(
        self,
        info: Ctx,
        first: Annotated[int | None, strawberry.argument(
            description="Page forward: the first `first` events after `after` (or the newest), 0..500 "
                        "(PAGE_TOO_LARGE above); not with `last`. Null with `last` null: 50.")] = None,
        kind: Annotated[E.MonetaryKind | None, strawberry.argument(
            description="Only events of this kind; null: every kind.")] = None,
        since: Annotated[datetime | None, strawberry.argument(
            description="Only events at or after this time (ISO 8601; a value without offset is read as "
                        "UTC); null: all time.")] = None,
        after: AfterArgument = None,
        last: Annotated[int | None, strawberry.argument(
            description="Page backward: the last `last` events before `before` (or the oldest), 0..500; not "
                        "with `first`.")] = None,
        before: BeforeArgument = None,
    ) -> MonetaryEventConnection:
        rows = await customers.monetary_events(info.context, [self.id])
        return _history(customers.monetary_page(rows, kind.value if kind else None, since, first, after, last,
                                                before))

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
class Contact(Node):
    id: ID = strawberry.field(description="Contact id from the source system (or the campaign wave that made it).")
    at: datetime | None = strawberry.field(
        description="When the contact happened (ISO 8601, UTC with offset `+00:00`).")
    direction: E.ContactDirection | None = strawberry.field(
        description="Who started the contact: the customer (INBOUND) or the operator (OUTBOUND).")
    kind: E.ContactKind | None = strawberry.field(description="What the contact was about; null when not recorded.")
    outcome: E.ContactOutcome | None = strawberry.field(description="How the contact ended; null when not recorded.")
    satisfaction: int | None = _field("1 (very unhappy) .. 5 (very happy), when asked.")
    subject: str | None = strawberry.field(description="Free-text subject line; removed when the customer is erased.")
    campaign: str | None = _field("Campaign code, for campaign contacts.")
    resolved_at: datetime | None = strawberry.field(
        description="When an issue raised by the contact was resolved (ISO 8601, UTC); null while open or when "
                    "nothing needed resolving.")
    channel_id: strawberry.Private[str | None]

    @strawberry.field(description="The channel the contact went through; null when unknown.")
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


@strawberry.type(description="One contact of a page, with its cursor.")
class ContactEdge:
    cursor: str = strawberry.field(
        description="Opaque cursor of this edge: pass it as `after` to read the contacts after it.")
    node: Contact = strawberry.field(description="The contact.")


@strawberry.type(description="A page of contacts, newest first.")
class ContactConnection:
    edges: list[ContactEdge] = strawberry.field(description="The contacts of this page, newest first.")
    page_info: PageInfo = strawberry.field(description="Where this page sits: cursors and whether more pages follow.")
    total_count: int = strawberry.field(description="Number of contacts matching the filters over all pages.")


#: The ordering of a customer's contacts (newest first, then id), named in their cursors.
CONTACT_ORDER = "contacts:at:desc"


def _contact_key(r: Row) -> tuple:
    return (r.get("at"), r["id"])


def _contact_page(rows: list[Row], request: PageRequest) -> ContactConnection:
    """One keyset page of a customer's contacts, newest first (``rows``: all of them, read once
    per customer through the request's loaders, which the view's summary fields share)."""
    page = keyset_page(rows, _contact_key, request, descending=True)
    edges = [ContactEdge(cursor=c, node=Contact.from_row(r)) for c, r in zip(page.cursors(), page.items)]
    return ContactConnection(edges=edges, page_info=page_info(page), total_count=len(rows))


@strawberry.type(description="A channel a customer prefers; rank 1 is the favourite.")
class ChannelPreference:
    rank: int = strawberry.field(description="Position among the customer's preferred channels; 1 is the favourite.")
    source: str | None = _field("CUSTOMER when the customer said so, INFERRED when derived from behaviour.")
    updated_at: datetime | None = strawberry.field(
        description="When the preference was last stated or inferred (ISO 8601, UTC).")
    channel_id: strawberry.Private[str | None]

    @strawberry.field(description="The preferred channel; null when it is no longer in the catalogue.")
    def channel(self, info: Ctx) -> Channel | None:
        return _channel_now(info, self.channel_id)  # type: ignore[return-value]

    @classmethod
    def from_row(cls, r: Row) -> ChannelPreference:
        return cls(rank=r.get("rank") or 0, source=r.get("source"), updated_at=utc(r.get("updated_at")),
                   channel_id=r.get("channel_id"))


@strawberry.type(description="A postal address.")
class Address:
    street: str | None = _personal(
        "street", "Street and house number. Personal data: masked (`***`) unless the credential may read "
                              "it in full (admin, app, the customer themself, an analyst with the `personal_data` or "
                              "`personal:street` scope; docs/security.md).")
    city: str | None = strawberry.field(description="City name as recorded.")
    postal_code: str | None = _personal(
        "postalCode", "Postal code. Personal data: masked (first two characters, `SW***`) unless the "
                                  "credential may read it in full (admin, app, the customer themself, an analyst with "
                                  "the `personal_data` or `personal:postal_code` scope; docs/security.md).")
    country: str | None = strawberry.field(description="Country as an ISO 3166-1 alpha-2 code, e.g. `GB`.")
    customer_id: strawberry.Private[str | None] = None


# --------------------------------------------------------------------------- identities and profile


@strawberry.type(description="A customer's record in one source system, merged into the customer.")
class SourceIdentity:
    id: ID = strawberry.field(description="Id of the identity (the source record) in cdp; `splitIdentity` takes it.")
    source: str | None = strawberry.field(
        description="Source system the record comes from, e.g. `crm`, `billing`, `webshop`.")
    source_key: str | None = strawberry.field(description="The record's key in its source system.")
    matched_by: str | None = _field("Rule that linked this record (SEED: first record; SPLIT: split out).")
    confidence: float | None = _field("Confidence of the link, 0..1.")
    linked_at: datetime | None = strawberry.field(
        description="When the record was linked to this customer (ISO 8601, UTC).")

    @classmethod
    def from_row(cls, r: Row) -> SourceIdentity:
        return cls(id=ID(r["id"]), source=r.get("source"), source_key=r.get("source_key"),
                   matched_by=r.get("matched_by"), confidence=r.get("confidence"), linked_at=utc(r.get("linked_at")))


@strawberry.type(description="One value of a profile attribute with its provenance.")
class AttributeValue:
    id: ID = strawberry.field(description="Id of this observation; `verifyAttributeValue` takes it.")
    key: str = strawberry.field(
        description="Attribute key, e.g. `email`, `phone`, `city` (docs/profile.md lists them).")
    value: str | None = strawberry.field(extensions=[PersonalValue()],
                                         description="The value; masked for personal keys without access.")
    source: str | None = _field("Source system, or CUSTOMER for self-service.")
    identity_id: ID | None = _field("The source record that said it.")
    observed_at: datetime | None = strawberry.field(description="When the source observed the value (ISO 8601, UTC).")
    accuracy: float | None = _field("Confidence in the value, 0..1.")
    customer_maintained: bool = strawberry.field(
        description="True when the customer entered the value themself (self-service).")
    verified: bool = strawberry.field(
        description="True once the value was verified (`verifyAttributeValue`); verified values win survivorship.")
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
    key: str = strawberry.field(description="Attribute key, e.g. `email`, `phone`, `city`.")
    value: str | None = strawberry.field(extensions=[PersonalValue()],
                                         description="The shown value; masked for personal keys without access.")
    provenance: AttributeValue = strawberry.field(
        description="The observation the shown value comes from: source, time, accuracy.")
    stale: bool = strawberry.field(
        description="True when the shown value was observed longer ago than the profile policy's `stale_after_days`.")
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
class Customer(Node):
    id: ID = strawberry.field(description="Customer id (golden record key), e.g. `C0000001`.")
    name: str = _personal("name", "Company name for organisations, else first and last name.")
    first_name: str | None = _personal(
        "firstName", "Given name; null for organisations. Personal data: masked (initial, `J***`) unless "
                                 "the credential may read it in full (admin, app, the customer themself, an analyst "
                                 "with the `personal_data` or `personal:first_name` scope; docs/security.md).")
    last_name: str | None = _personal(
        "lastName", "Family name; null for organisations. Personal data: masked (initial, `D***`) unless "
                                "the credential may read it in full (admin, app, the customer themself, an analyst "
                                "with the `personal_data` or `personal:last_name` scope; docs/security.md).")
    company_name: str | None = strawberry.field(description="Company name for business customers; null for persons.")
    birth_date: date | None = _personal(
        "birthDate", "Date of birth. Personal data: masked (null) unless the credential may read it in "
                                 "full (admin, app, the customer themself, an analyst with the `personal_data` or "
                                 "`personal:birth_date` scope; docs/security.md).")
    gender: E.Gender | None = strawberry.field(
        description="Gender as recorded by the source system; null when not recorded.")
    national_id: str | None = _personal(
        "nationalId", "National identity number. Personal data: masked (`***`) unless the credential may "
                                  "read it in full (admin, app, the customer themself, an analyst with the "
                                  "`personal_data` or `personal:national_id` scope; docs/security.md).")
    email: str | None = _personal(
        "email", "Current e-mail address, chosen by the survivorship rules. Personal data: masked "
                             "(`j***@example.com`) unless the credential may read it in full (admin, app, the "
                             "customer themself, an analyst with the `personal_data` or `personal:email` scope; "
                             "docs/security.md).")
    phone: str | None = _personal(
        "phone", "Current phone number, chosen by the survivorship rules. Personal data: masked (last two "
                             "digits, `**********23`) unless the credential may read it in full (admin, app, the "
                             "customer themself, an analyst with the `personal_data` or `personal:phone` scope; "
                             "docs/security.md).")
    address: Address = strawberry.field(
        description="Postal address; street and postal code are personal data and masked without access.")
    language: str | None = strawberry.field(
        description="Preferred language as an ISO 639-1 code, e.g. `en`; null when unknown.")
    tier: E.Tier | None = strawberry.field(
        description="Customer tier (key account, business, consumer); null when not recorded.")
    status: E.CustomerStatus | None = strawberry.field(
        description="Lifecycle state; MERGED customers point at the survivor in `mergedInto`.")
    joined_on: date | None = strawberry.field(
        description="Day the customer joined; tenure counts from it. Null when unknown.")
    account_manager: str | None = _field("Account manager, for key accounts.")
    updated_at: datetime | None = strawberry.field(
        description="When the customer's record last changed (ISO 8601, UTC).")
    merged_into: ID | None = _field("The customer this one was merged into (status MERGED), if any.")

    @strawberry.field(description="The customer's billing accounts, in any state.")
    def accounts(self, info: Ctx) -> list[Account]:
        rows = customers.accounts_now(info.context, self.id)
        if rows is MISSING:
            return self._accounts(info)  # type: ignore[return-value]
        return [Account.from_row(r) for r in rows]

    async def _accounts(self, info: Ctx) -> list[Account]:
        return [Account.from_row(r) for r in await customers.accounts(info.context, self.id)]

    @strawberry.field(description="Channels to reach the customer through, best first, with the best time. "
                                  "With `value` (what a response is worth) ranked by expected net value.")
    async def next_best_channels(
        self,
        info: Ctx,
        first: Annotated[int, strawberry.argument(description="How many channels to return, best first.")] = 3,
        value: Annotated[float | None, strawberry.argument(
            description="What a response is worth, in the account currency; when given, channels are ranked "
                        "by expected net value (value x response probability - contact cost).")] = None,
    ) -> list[ChannelChoice]:
        return await next_best_channels(info, self.id, first, value)

    @strawberry.field(description="Next-best offers: eligible products ranked by expected value (probability x "
                                  "margin), each with reasons, the channel and the time to make it.")
    async def recommendations(
        self,
        info: Ctx,
        first: Annotated[int, strawberry.argument(description="How many offers to return, best first.")] = 5,
    ) -> list[Annotated[Recommendation, strawberry.lazy("schema.recommendations")]]:
        from schema.recommendations import customer_recommendations

        return await customer_recommendations(info, self.id, first)

    @strawberry.field(description="Whether the catalog rules let a product be offered to the customer at `at` "
                                  "(default now), and why not. NOT_FOUND for an unknown product.")
    async def offer_eligibility(
        self,
        info: Ctx,
        product_id: Annotated[ID, strawberry.argument(
            description="The catalogue product to check; NOT_FOUND when unknown.")],
        at: Annotated[datetime | None, strawberry.argument(
            description="When the offer would be made (ISO 8601; a value without offset is read as UTC); "
                        "null: now.")] = None,
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
        self,
        info: Ctx,
        from_: Annotated[datetime | None, strawberry.argument(
            name="from", description="Start of the period, inclusive (ISO 8601; without offset: UTC); null: one "
                                     "year before `to`.")] = None,
        to: Annotated[datetime | None, strawberry.argument(
            description="End of the period, exclusive (ISO 8601; without offset: UTC); null: now.")] = None,
    ) -> list[Annotated[SatisfactionMonth, strawberry.lazy("schema.relationship")]]:
        from schema.relationship import customer_satisfaction

        return await customer_satisfaction(info, self.id, from_, to)

    @strawberry.field(description="Value tier, RFM scores and behavioural cluster; null outside the base.")
    async def value(self, info: Ctx) -> CustomerValue | None:
        return await customer_value(info, self.id)

    @strawberry.field(description="Churn probability with reasons; null when not scored (no open account). "
                                  "With `asOf`: the customer as they were then (facts before it only).")
    async def churn_risk(
        self,
        info: Ctx,
        as_of: Annotated[datetime | None, strawberry.argument(
            description="Score the customer as they were at this past time, from facts before it only (ISO "
                        "8601; without offset: UTC); null: now. BAD_USER_INPUT when in the future.")] = None,
    ) -> S.ChurnRisk | None:
        return await S.churn_risk(info, self.id, as_of)

    @strawberry.field(description="Expected discounted margin over the horizon; null when not scored. "
                                  "With `asOf`: as of that time.")
    async def lifetime_value(
        self,
        info: Ctx,
        as_of: Annotated[datetime | None, strawberry.argument(
            description="Value the customer as of this past time (ISO 8601; without offset: UTC); null: "
                        "now. BAD_USER_INPUT when in the future.")] = None,
    ) -> S.LifetimeValue | None:
        return await S.lifetime_value(info, self.id, as_of)

    @strawberry.field(description="Products the customer does not hold, likeliest to be taken first.")
    async def propensities(
        self,
        info: Ctx,
        first: Annotated[int, strawberry.argument(description="How many products to return, likeliest first.")] = 5,
    ) -> list[S.Propensity]:
        return await S.propensities(info, self.id, first)

    @strawberry.field(description="Contacts with the customer, newest first.")
    def contacts(
        self,
        info: Ctx,
        first: Annotated[int | None, strawberry.argument(
            description="Page forward: the first `first` items after `after` (or the start), 0..`CDP_MAX_PAGE_SIZE` "
                        "(PAGE_TOO_LARGE above); not with `last`. Null with `last` null: 20.")] = None,
        after: Annotated[str | None, strawberry.argument(
            description="Cursor of the edge to start after (`pageInfo.endCursor` of the previous page); "
                        "null: from the newest.")] = None,
        kind: Annotated[E.ContactKind | None, strawberry.argument(
            description="Only contacts of this kind; null: every kind.")] = None,
        channel: Annotated[strawberry.ID | None, strawberry.argument(
            description="Only contacts through this channel id; null: every channel.")] = None,
        since: Annotated[datetime | None, strawberry.argument(
            description="Only contacts at or after this time (ISO 8601; without offset: UTC); null: all "
                        "time.")] = None,
        last: LastArgument = None,
        before: BeforeArgument = None,
    ) -> ContactConnection:
        ctx = info.context
        request = page_request(first, after, last, before, ctx.settings.max_page_size, CONTACT_ORDER, 2)
        filters = (naive_utc(since), kind.value if kind else None, channel)
        rows = customers.contacts_now(ctx, self.id, *filters)
        if rows is MISSING:
            return self._contacts(info, request, filters)  # type: ignore[return-value]
        return _contact_page(rows, request)

    async def _contacts(self, info: Ctx, request: PageRequest, filters: tuple) -> ContactConnection:
        return _contact_page(await customers.contacts(info.context, self.id, *filters), request)

    @strawberry.field(description="Preferred channels, favourite first.")
    def preferred_channels(self, info: Ctx) -> list[ChannelPreference]:
        rows = customers.preferred_channels_now(info.context, self.id)
        if rows is MISSING:
            return self._preferred_channels(info)  # type: ignore[return-value]
        return [ChannelPreference.from_row(r) for r in rows]

    async def _preferred_channels(self, info: Ctx) -> list[ChannelPreference]:
        return [ChannelPreference.from_row(r) for r in await customers.preferred_channels(info.context, self.id)]

    @strawberry.field(description="Monetary events over all the customer's accounts, newest first (time, then id), "
                                  "a page at a time (keyset cursors: events booked while paging do not shift the "
                                  "pages).")
    def monetary_history(
        self,
        info: Ctx,
        first: Annotated[int | None, strawberry.argument(
            description="Page forward: the first `first` events after `after` (or the newest), 0..500 "
                        "(PAGE_TOO_LARGE above); not with `last`. Null with `last` null: 50.")] = None,
        kind: Annotated[E.MonetaryKind | None, strawberry.argument(
            description="Only events of this kind; null: every kind.")] = None,
        since: Annotated[datetime | None, strawberry.argument(
            description="Only events at or after this time (ISO 8601; without offset: UTC); null: all time.")] = None,
        after: AfterArgument = None,
        last: Annotated[int | None, strawberry.argument(
            description="Page backward: the last `last` events before `before` (or the oldest), 0..500; not "
                        "with `first`.")] = None,
        before: BeforeArgument = None,
    ) -> MonetaryEventConnection:
        arguments = (kind.value if kind else None, since, first, after, last, before)
        rows = customers.monetary_events_now(info.context, self.id)
        if rows is MISSING:
            return self._monetary_history(info, arguments)  # type: ignore[return-value]
        return _history(customers.monetary_page(rows, *arguments))

    async def _monetary_history(self, info: Ctx, arguments: tuple) -> MonetaryEventConnection:
        accs = await customers.accounts(info.context, self.id)
        rows = await customers.monetary_events(info.context, [a["id"] for a in accs])
        return _history(customers.monetary_page(rows, *arguments))

    @strawberry.field(description="Source records merged into this customer, oldest link first.")
    async def identities(self, info: Ctx) -> list[SourceIdentity]:
        return [SourceIdentity.from_row(r) for r in await customers.identities(info.context, self.id)]

    @strawberry.field(description="Profile attributes with the value the survivorship rules chose (all keys, "
                                   "or only `keys`).")
    async def profile(
        self,
        info: Ctx,
        keys: Annotated[list[str] | None, strawberry.argument(
            description="Attribute keys to return; null: every key the customer has.")] = None,
    ) -> list[ProfileAttribute]:
        return _profile(await customers.attribute_values(info.context, self.id), info.context, keys, self.id)

    @strawberry.field(description="Every value ever recorded for one attribute, newest first, with provenance.")
    async def attribute_history(
        self,
        info: Ctx,
        key: Annotated[str, strawberry.argument(description="The attribute key, e.g. `email`.")],
    ) -> list[AttributeValue]:
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
        self,
        info: Ctx,
        purpose: Annotated[Annotated[ConsentPurpose, strawberry.lazy("schema.privacy")] | None, strawberry.argument(
            description="Only statements for this purpose; null: every purpose.")] = None,
        channel: Annotated[ID | None, strawberry.argument(
            description="Only statements for this channel id; null: every channel (including channel-wide "
                        "statements).")] = None,
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


@strawberry.type(description="One customer of a page, with its cursor.")
class CustomerEdge:
    cursor: str = strawberry.field(
        description="Opaque cursor of this edge: pass it as `after` to read the customers after it.")
    node: Customer = strawberry.field(description="The customer.")


@strawberry.type(description="A page of customers.")
class CustomerConnection:
    edges: list[CustomerEdge] = strawberry.field(description="The customers of this page, in the requested order.")
    page_info: PageInfo = strawberry.field(description="Where this page sits: cursors and whether more pages follow.")
    page: strawberry.Private[Any]

    @strawberry.field(description="Number of customers matching the conditions (all pages).")
    async def total_count(self, info: Ctx) -> int:
        return await customers.customer_count(info.context, self.page.filter)


def customer_connection(found: customers.CustomerPage) -> CustomerConnection:
    page = found.page
    edges = [CustomerEdge(cursor=c, node=Customer.from_row(r)) for c, r in zip(page.cursors(), page.items)]
    return CustomerConnection(edges=edges, page_info=page_info(page), page=found)


@strawberry.type(description="One product of a catalogue page, with its cursor.")
class ProductEdge:
    cursor: str = strawberry.field(description="Opaque keyset cursor of this product (`after` / `before`).")
    node: Product = strawberry.field(description="The product.")


@strawberry.type(description="A page of the product catalogue, by product id.")
class ProductConnection:
    edges: list[ProductEdge] = strawberry.field(description="The products of this page, by product id.")
    page_info: PageInfo = strawberry.field(description="Cursors of the page's ends and whether products lie "
                                                       "beyond them.")
    total_count: int = strawberry.field(description="Products matching the category filter (all pages).")


def product_connection(page: Page[Row]) -> ProductConnection:
    """The ``ProductConnection`` of a keyset page of product rows."""
    edges = [ProductEdge(cursor=c, node=Product.from_row(r)) for c, r in zip(page.cursors(), page.items)]
    return ProductConnection(edges=edges, page_info=page_info(page), total_count=page.total or 0)
