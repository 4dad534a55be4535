"""GraphQL object types of the unified customer view.

Each type wraps a store row (``row``, private) and exposes fields; nested
fields call ``resolvers`` functions, which batch through DataLoaders.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import strawberry
from strawberry.types import Info

from cdp import customers as rules
from cdp.errors import InvalidInput
from cdp.pagination import encode_cursor, page_window
from resolvers import catalog, customers
from resolvers.context import Context
from schema import enums as E

Row = dict[str, Any]
Ctx = Info[Context, None]


def utc(value: datetime | None) -> datetime | None:
    """Stored times are naive UTC: mark them as UTC for clients."""
    return value.replace(tzinfo=timezone.utc) if value is not None else None


def naive_utc(value: datetime | None) -> datetime | None:
    """A client's time, converted to the store's naive UTC."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


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
    row: strawberry.Private[Row]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.row["id"])

    @strawberry.field
    def name(self) -> str:
        return self.row.get("name") or self.row["id"]

    @strawberry.field
    def kind(self) -> E.ChannelKind | None:
        return E.to_enum(E.ChannelKind, self.row.get("kind"))

    @strawberry.field(description="Cost of one contact through this channel.")
    def cost_per_contact(self) -> float | None:
        return self.row.get("cost_per_contact")

    @strawberry.field(description="Number of contacts through this channel since `since` (all time if omitted).")
    async def contact_volume(self, info: Ctx, since: datetime | None = None) -> int:
        return await catalog.contact_volume(info.context, self.row["id"], naive_utc(since))


@strawberry.type(description="A component of a bundle.")
class BundleComponent:
    row: strawberry.Private[Row]

    @strawberry.field
    async def product(self, info: Ctx) -> Product | None:
        found = await catalog.product(info.context, self.row["product_id"])
        return Product(row=found) if found else None

    @strawberry.field
    def quantity(self) -> int:
        return self.row.get("quantity") or 1

    @strawberry.field(description="Share taken off the component's price inside the bundle, 0..1.")
    def discount(self) -> float:
        return self.row.get("discount") or 0.0


@strawberry.type(description="A catalogue item: plan, service, device or bundle.")
class Product:
    row: strawberry.Private[Row]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.row["id"])

    @strawberry.field
    def name(self) -> str:
        return self.row.get("name") or self.row["id"]

    @strawberry.field
    def category(self) -> E.ProductCategory | None:
        return E.to_enum(E.ProductCategory, self.row.get("category"))

    @strawberry.field
    def monthly_price(self) -> float | None:
        return self.row.get("monthly_price")

    @strawberry.field
    def one_off_price(self) -> float | None:
        return self.row.get("one_off_price")

    @strawberry.field(description="Cost to serve per month.")
    def monthly_cost(self) -> float | None:
        return self.row.get("monthly_cost")

    @strawberry.field(description="Monthly price minus monthly cost.")
    def monthly_margin(self) -> float | None:
        price, cost = self.row.get("monthly_price"), self.row.get("monthly_cost")
        return round(price - cost, 2) if price is not None and cost is not None else None

    @strawberry.field
    def lifecycle(self) -> E.ProductLifecycle | None:
        return E.to_enum(E.ProductLifecycle, self.row.get("lifecycle"))

    @strawberry.field
    def launched_on(self) -> date | None:
        return self.row.get("launched_on")

    @strawberry.field
    def description(self) -> str | None:
        return self.row.get("description")

    @strawberry.field
    def is_bundle(self) -> bool:
        return self.row.get("category") == "BUNDLE"

    @strawberry.field(description="Products this bundle includes (empty for non-bundles).")
    async def components(self, info: Ctx) -> list[BundleComponent]:
        rows = await catalog.components(info.context, self.row["id"])
        return [BundleComponent(row=r) for r in rows]

    @strawberry.field(description="Number of active subscriptions to this product.")
    async def subscriber_count(self, info: Ctx) -> int:
        return await catalog.subscriber_count(info.context, self.row["id"])


# --------------------------------------------------------------------------- accounts


@strawberry.type(description="An account's subscription to a product.")
class Subscription:
    row: strawberry.Private[Row]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.row["id"])

    @strawberry.field
    def status(self) -> E.SubscriptionStatus | None:
        return E.to_enum(E.SubscriptionStatus, self.row.get("status"))

    @strawberry.field
    def since(self) -> date | None:
        return self.row.get("since")

    @strawberry.field
    def until(self) -> date | None:
        return self.row.get("until")

    @strawberry.field
    def monthly_fee(self) -> float | None:
        return self.row.get("monthly_fee")

    @strawberry.field(description="Share taken off the fee, 0..1.")
    def discount(self) -> float:
        return self.row.get("discount") or 0.0

    @strawberry.field(description="Fee after discount.")
    def net_monthly_fee(self) -> float:
        return rules.net_monthly_fee(self.row)

    @strawberry.field
    async def product(self, info: Ctx) -> Product | None:
        found = await catalog.product(info.context, self.row["product_id"])
        return Product(row=found) if found else None


@strawberry.type(description="Money moving on an account.")
class MonetaryEvent:
    row: strawberry.Private[Row]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.row["id"])

    @strawberry.field
    def kind(self) -> E.MonetaryKind | None:
        return E.to_enum(E.MonetaryKind, self.row.get("kind"))

    @strawberry.field
    def amount(self) -> float | None:
        return self.row.get("amount")

    @strawberry.field
    def currency(self) -> str | None:
        return self.row.get("currency")

    @strawberry.field
    def at(self) -> datetime | None:
        return utc(self.row.get("at"))

    @strawberry.field
    def description(self) -> str | None:
        return self.row.get("description")

    @strawberry.field
    def account_id(self) -> strawberry.ID | None:
        aid = self.row.get("account_id")
        return strawberry.ID(aid) if aid else None


def _events(rows: list[Row], first: int, kind: Any, since: datetime | None) -> list[MonetaryEvent]:
    if first < 0 or first > 500:
        raise InvalidInput("first must be between 0 and 500", field="first")
    since = naive_utc(since)
    out = [r for r in rows
           if (kind is None or r.get("kind") == kind.value) and (since is None or (r.get("at") and r["at"] >= since))]
    return [MonetaryEvent(row=r) for r in out[:first]]


@strawberry.type(description="A billing account.")
class Account:
    row: strawberry.Private[Row]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.row["id"])

    @strawberry.field
    def type(self) -> E.AccountType | None:
        return E.to_enum(E.AccountType, self.row.get("type"))

    @strawberry.field
    def status(self) -> E.AccountStatus | None:
        return E.to_enum(E.AccountStatus, self.row.get("status"))

    @strawberry.field
    def opened_on(self) -> date | None:
        return self.row.get("opened_on")

    @strawberry.field
    def closed_on(self) -> date | None:
        return self.row.get("closed_on")

    @strawberry.field
    def payment_method(self) -> E.PaymentMethod | None:
        return E.to_enum(E.PaymentMethod, self.row.get("payment_method"))

    @strawberry.field
    def contract_type(self) -> E.ContractType | None:
        return E.to_enum(E.ContractType, self.row.get("contract_type"))

    @strawberry.field
    def contract_end(self) -> date | None:
        return self.row.get("contract_end")

    @strawberry.field
    async def subscriptions(self, info: Ctx) -> list[Subscription]:
        rows = await customers.subscriptions(info.context, self.row["id"])
        return [Subscription(row=r) for r in rows]

    @strawberry.field(description="Monetary events of this account, newest first.")
    async def monetary_events(
        self, info: Ctx, first: int = 50, kind: E.MonetaryKind | None = None, since: datetime | None = None,
    ) -> list[MonetaryEvent]:
        rows = await customers.monetary_events(info.context, [self.row["id"]])
        return _events(rows, first, kind, since)


# --------------------------------------------------------------------------- contacts


@strawberry.type(description="One interaction between the operator and a customer.")
class Contact:
    row: strawberry.Private[Row]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.row["id"])

    @strawberry.field
    def at(self) -> datetime | None:
        return utc(self.row.get("at"))

    @strawberry.field
    def direction(self) -> E.ContactDirection | None:
        return E.to_enum(E.ContactDirection, self.row.get("direction"))

    @strawberry.field
    def kind(self) -> E.ContactKind | None:
        return E.to_enum(E.ContactKind, self.row.get("kind"))

    @strawberry.field
    def outcome(self) -> E.ContactOutcome | None:
        return E.to_enum(E.ContactOutcome, self.row.get("outcome"))

    @strawberry.field(description="1 (very unhappy) .. 5 (very happy), when asked.")
    def satisfaction(self) -> int | None:
        return self.row.get("satisfaction")

    @strawberry.field
    def subject(self) -> str | None:
        return self.row.get("subject")

    @strawberry.field(description="Campaign code, for campaign contacts.")
    def campaign(self) -> str | None:
        return self.row.get("campaign")

    @strawberry.field
    def resolved_at(self) -> datetime | None:
        return utc(self.row.get("resolved_at"))

    @strawberry.field
    async def channel(self, info: Ctx) -> Channel | None:
        found = await catalog.channel(info.context, self.row["channel_id"])
        return Channel(row=found) if found else None


@strawberry.type
class ContactEdge:
    cursor: str
    node: Contact


@strawberry.type(description="A page of contacts, newest first.")
class ContactConnection:
    edges: list[ContactEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type(description="A channel a customer prefers; rank 1 is the favourite.")
class ChannelPreference:
    row: strawberry.Private[Row]

    @strawberry.field
    def rank(self) -> int:
        return self.row.get("rank") or 0

    @strawberry.field(description="CUSTOMER when the customer said so, INFERRED when derived from behaviour.")
    def source(self) -> str | None:
        return self.row.get("source")

    @strawberry.field
    def updated_at(self) -> datetime | None:
        return utc(self.row.get("updated_at"))

    @strawberry.field
    async def channel(self, info: Ctx) -> Channel | None:
        found = await catalog.channel(info.context, self.row["channel_id"])
        return Channel(row=found) if found else None


@strawberry.type(description="A postal address.")
class Address:
    street: str | None
    city: str | None
    postal_code: str | None
    country: str | None


# --------------------------------------------------------------------------- customer


@strawberry.type(description="The unified view of one customer, merged from every source system.")
class Customer:
    row: strawberry.Private[Row]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.row["id"])

    @strawberry.field(description="Company name for organisations, else first and last name.")
    def name(self) -> str:
        return rules.display_name(self.row)

    @strawberry.field
    def first_name(self) -> str | None:
        return self.row.get("first_name")

    @strawberry.field
    def last_name(self) -> str | None:
        return self.row.get("last_name")

    @strawberry.field
    def company_name(self) -> str | None:
        return self.row.get("company_name")

    @strawberry.field
    def birth_date(self) -> date | None:
        return self.row.get("birth_date")

    @strawberry.field
    def gender(self) -> E.Gender | None:
        return E.to_enum(E.Gender, self.row.get("gender"))

    @strawberry.field
    def national_id(self) -> str | None:
        return self.row.get("national_id")

    @strawberry.field
    def email(self) -> str | None:
        return self.row.get("email")

    @strawberry.field
    def phone(self) -> str | None:
        return self.row.get("phone")

    @strawberry.field
    def address(self) -> Address:
        r = self.row
        return Address(street=r.get("street"), city=r.get("city"),
                       postal_code=r.get("postal_code"), country=r.get("country"))

    @strawberry.field
    def language(self) -> str | None:
        return self.row.get("language")

    @strawberry.field
    def tier(self) -> E.Tier | None:
        return E.to_enum(E.Tier, self.row.get("tier"))

    @strawberry.field
    def status(self) -> E.CustomerStatus | None:
        return E.to_enum(E.CustomerStatus, self.row.get("status"))

    @strawberry.field
    def joined_on(self) -> date | None:
        return self.row.get("joined_on")

    @strawberry.field(description="Account manager, for key accounts.")
    def account_manager(self) -> str | None:
        return self.row.get("account_manager")

    @strawberry.field
    def updated_at(self) -> datetime | None:
        return utc(self.row.get("updated_at"))

    @strawberry.field
    async def accounts(self, info: Ctx) -> list[Account]:
        rows = await customers.accounts(info.context, self.row["id"])
        return [Account(row=r) for r in rows]

    @strawberry.field(description="Contacts with the customer, newest first.")
    async def contacts(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        kind: E.ContactKind | None = None,
        channel: strawberry.ID | None = None,
        since: datetime | None = None,
    ) -> ContactConnection:
        ctx = info.context
        skip, limit = page_window(first, after, ctx.settings.max_page_size)
        rows = await customers.contacts(
            ctx, self.row["id"], naive_utc(since), kind.value if kind else None, channel)
        page = rows[skip:skip + limit]
        edges = [ContactEdge(cursor=encode_cursor(skip + i), node=Contact(row=r)) for i, r in enumerate(page)]
        return ContactConnection(
            edges=edges, page_info=page_info(skip, len(page), skip + limit < len(rows)), total_count=len(rows))

    @strawberry.field(description="Preferred channels, favourite first.")
    async def preferred_channels(self, info: Ctx) -> list[ChannelPreference]:
        rows = await customers.preferred_channels(info.context, self.row["id"])
        return [ChannelPreference(row=r) for r in rows]

    @strawberry.field(description="Monetary events over all the customer's accounts, newest first.")
    async def monetary_history(
        self, info: Ctx, first: int = 50, kind: E.MonetaryKind | None = None, since: datetime | None = None,
    ) -> list[MonetaryEvent]:
        accs = await customers.accounts(info.context, self.row["id"])
        rows = await customers.monetary_events(info.context, [a["id"] for a in accs])
        return _events(rows, first, kind, since)

    @strawberry.field(description="Whole months since the customer joined.")
    def tenure_months(self, info: Ctx) -> int | None:
        return rules.tenure_months(self.row.get("joined_on"), info.context.today)

    @strawberry.field(description="Monthly recurring revenue of active subscriptions, after discounts.")
    async def monthly_revenue(self, info: Ctx) -> float:
        return rules.monthly_revenue(await customers.all_subscriptions(info.context, self.row["id"]))

    @strawberry.field(description="Number of distinct products held through active subscriptions.")
    async def product_count(self, info: Ctx) -> int:
        return rules.active_product_count(await customers.all_subscriptions(info.context, self.row["id"]))

    @strawberry.field(description="Time of the latest contact.")
    async def last_contact_at(self, info: Ctx) -> datetime | None:
        summary = await customers.contact_summary(info.context, self.row["id"])
        return utc(summary["last_contact_at"])

    @strawberry.field(description="Complaints not yet resolved (open or escalated).")
    async def open_complaints(self, info: Ctx) -> int:
        summary = await customers.contact_summary(info.context, self.row["id"])
        return summary["open_complaints"] or 0


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
    edges = [CustomerEdge(cursor=encode_cursor(page.skip + i), node=Customer(row=r))
             for i, r in enumerate(page.rows)]
    return CustomerConnection(edges=edges, page_info=page_info(page.skip, len(edges), page.has_next), page=page)


