"""GraphQL inputs and mutations for partner systems: batched upserts with typed errors per item.

Fields left out of an input item are not changed; an explicit null clears a
property. Each batch is checked item by item; the good items are written in
one transaction and every refused item comes back in ``errors`` with its
index, field, message and code.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from graph.clock import naive_utc
from resolvers import partner as resolve
from resolvers.context import Context
from schema import enums as E
from schema.inputs import AttributeChange

Ctx = Info[Context, None]
UNSET: Any = strawberry.UNSET


@strawberry.input(description="A customer as a source system knows it.")
class CustomerInput:
    id: strawberry.ID = strawberry.field(description="The customer's id in cdp; a new id creates the customer.")
    first_name: str | None = strawberry.field(
        default=UNSET, description="Given name. Personal data. Left out: unchanged.")
    last_name: str | None = strawberry.field(
        default=UNSET, description="Family name. Personal data. Left out: unchanged.")
    company_name: str | None = strawberry.field(
        default=UNSET, description="Company name, for business customers. Left out: unchanged.")
    birth_date: date | None = strawberry.field(
        default=UNSET, description="Date of birth (ISO 8601 date, not in the future). Personal data. Left out: "
                                   "unchanged.")
    gender: E.Gender | None = strawberry.field(
        default=UNSET, description="Gender as recorded by the source. Left out: unchanged.")
    national_id: str | None = strawberry.field(
        default=UNSET, description="National identity number. Personal data. Left out: unchanged.")
    email: str | None = strawberry.field(
        default=UNSET, description="E-mail address (checked for a plausible form). Personal data. Left out: "
                                   "unchanged.")
    phone: str | None = strawberry.field(
        default=UNSET, description="Phone number, preferably in E.164 form (`+44...`). Personal data. Left out: "
                                   "unchanged.")
    street: str | None = strawberry.field(
        default=UNSET, description="Street and house number. Personal data. Left out: unchanged.")
    city: str | None = strawberry.field(default=UNSET, description="City. Left out: unchanged.")
    postal_code: str | None = strawberry.field(
        default=UNSET, description="Postal code. Personal data. Left out: unchanged.")
    country: str | None = strawberry.field(
        default=UNSET, description="Country, ISO 3166-1 alpha-2 code (e.g. `GB`). Left out: unchanged.")
    language: str | None = strawberry.field(
        default=UNSET, description="Preferred language, ISO 639-1 code (e.g. `en`). Left out: unchanged.")
    tier: E.Tier | None = strawberry.field(default=UNSET, description="Customer tier. Left out: unchanged.")
    status: E.CustomerStatus | None = strawberry.field(
        default=UNSET, description="Lifecycle state (not MERGED or ERASED: only identity resolution and erasure "
                                   "set those). Left out: unchanged.")
    joined_on: date | None = strawberry.field(
        default=UNSET, description="Day the customer joined (ISO 8601 date). Left out: unchanged.")
    account_manager: str | None = strawberry.field(
        default=UNSET, description="Name of the account manager, for key accounts. Left out: unchanged.")
    attributes: list[AttributeChange] | None = strawberry.field(
        default=UNSET, description="Custom attributes and consent statements (keys consent_<purpose>, "
                                   "consent_<channel>, consent_<channel>_<purpose> take GRANTED, DENIED or "
                                   "REVOKED), recorded as observations of this source; a value equal to the "
                                   "source's latest for the key is not recorded again.")


@strawberry.input(description="A billing account of an existing customer.")
class AccountInput:
    id: strawberry.ID = strawberry.field(description="The account's id; a new id creates the account.")
    customer_id: strawberry.ID = strawberry.field(
        description="The owning customer, who must exist (BAD_USER_INPUT otherwise).")
    type: E.AccountType | None = strawberry.field(default=UNSET, description="Kind of account. Left out: unchanged.")
    status: E.AccountStatus | None = strawberry.field(
        default=UNSET, description="State of the account. Left out: unchanged.")
    opened_on: date | None = strawberry.field(
        default=UNSET, description="Day the account was opened (ISO 8601 date). Left out: unchanged.")
    closed_on: date | None = strawberry.field(
        default=UNSET, description="Day the account was closed (ISO 8601 date, not before `openedOn`). Left out: "
                                   "unchanged.")
    payment_method: E.PaymentMethod | None = strawberry.field(
        default=UNSET, description="How the account pays. Left out: unchanged.")
    contract_type: E.ContractType | None = strawberry.field(
        default=UNSET, description="Commitment period. Left out: unchanged.")
    contract_end: date | None = strawberry.field(
        default=UNSET, description="Last day of the contract commitment (ISO 8601 date). Left out: unchanged.")


@strawberry.input(description="A subscription of an existing account to a catalogue product.")
class SubscriptionInput:
    id: strawberry.ID = strawberry.field(description="The subscription's id; a new id creates the subscription.")
    account_id: strawberry.ID = strawberry.field(description="The account, which must exist.")
    product_id: strawberry.ID = strawberry.field(description="The catalogue product, which must exist.")
    status: E.SubscriptionStatus | None = strawberry.field(
        default=UNSET, description="State of the subscription. Left out: unchanged.")
    since: date | None = strawberry.field(default=UNSET, description="First day (ISO 8601 date). Left out: unchanged.")
    until: date | None = strawberry.field(
        default=UNSET, description="Last day (ISO 8601 date, not before `since`). Left out: unchanged.")
    monthly_fee: float | None = strawberry.field(
        default=UNSET, description="Fee per month before discount, 0..10,000,000. Left out: unchanged.")
    discount: float | None = strawberry.field(
        default=UNSET, description="Share taken off the fee, 0..1. Left out: unchanged.")


@strawberry.input(description="One interaction with an existing customer through a channel.")
class ContactInput:
    id: strawberry.ID = strawberry.field(description="The contact's id; a new id creates the contact.")
    customer_id: strawberry.ID = strawberry.field(description="The customer, who must exist.")
    channel_id: strawberry.ID = strawberry.field(description="The channel id, e.g. `SMS`; must exist.")
    at: datetime = strawberry.field(
        description="When the contact happened (ISO 8601; a value without offset is read as UTC).")
    direction: E.ContactDirection | None = strawberry.field(
        default=UNSET, description="Who started the contact. Left out: unchanged.")
    kind: E.ContactKind | None = strawberry.field(
        default=UNSET, description="What the contact was about. Left out: unchanged.")
    outcome: E.ContactOutcome | None = strawberry.field(
        default=UNSET, description="How the contact ended. Left out: unchanged.")
    satisfaction: int | None = strawberry.field(
        default=UNSET, description="Satisfaction score given, 1 (very unhappy) .. 5 (very happy). Left out: "
                                   "unchanged.")
    subject: str | None = strawberry.field(default=UNSET, description="Free-text subject line. Left out: unchanged.")
    campaign: str | None = strawberry.field(
        default=UNSET, description="Campaign code, for contacts made by a campaign. Left out: unchanged.")
    resolved_at: datetime | None = strawberry.field(
        default=UNSET, description="When the matter was resolved (ISO 8601; without offset: UTC). Left out: "
                                   "unchanged.")
    product_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="The product the contact was about, if any. Left out: unchanged.")


@strawberry.input(description="Money moving on an existing account.")
class MonetaryEventInput:
    id: strawberry.ID = strawberry.field(description="The event's id; a new id creates the event.")
    account_id: strawberry.ID = strawberry.field(description="The account, which must exist.")
    kind: E.MonetaryKind | None = strawberry.field(
        default=UNSET, description="What moved the money. Left out: unchanged.")
    amount: float | None = strawberry.field(
        default=UNSET, description="Amount in `currency`, as booked by the billing source (-1e9..1e9). Left out: "
                                   "unchanged.")
    currency: str | None = strawberry.field(
        default=UNSET, description="ISO 4217 currency code, e.g. `EUR`. Left out: unchanged.")
    at: datetime | None = strawberry.field(
        default=UNSET, description="When it happened (ISO 8601; a value without offset is read as UTC). Left out: "
                                   "unchanged.")
    description: str | None = strawberry.field(
        default=UNSET, description="Free text, e.g. an invoice line. Left out: unchanged.")


@strawberry.type(description="Why one item of a batch was not written (one error per bad field; nothing of "
                             "the item is written).")
class UpsertError:
    index: int = strawberry.field(description="Position of the item in the batch, from 0.")
    field: str = strawberry.field(description="The input field at fault (camelCase), e.g. `email`.")
    path: str = strawberry.field(description="Where in the arguments, e.g. items[3].email or "
                                             "items[0].attributes[2].value.")
    message: str = strawberry.field(description="What is wrong, in words.")
    code: str = strawberry.field(description="Error code, as in docs/errors.md (e.g. BAD_USER_INPUT, CONFLICT).")


@strawberry.type(description="What an upsert batch did.")
class UpsertPayload:
    created: int = strawberry.field(description="Items that did not exist and were created.")
    updated: int = strawberry.field(
        description="Items that existed and were updated.")
    ids: list[strawberry.ID] = strawberry.field(description="Ids of the items written.")
    errors: list[UpsertError] = strawberry.field(
        description="Items not written, one error per bad field; empty when every item was written.")


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [{"key": v.key, "value": v.value} if isinstance(v, AttributeChange) else _plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return naive_utc(value)
    return value


def _items(inputs: list[Any]) -> list[dict[str, Any]]:
    """Input objects as dicts of the fields that were sent."""
    return [{f.name: _plain(getattr(item, f.name)) for f in dataclasses.fields(item)
             if getattr(item, f.name) is not UNSET} for item in inputs]


async def _upsert(info: Ctx, label: str, inputs: list[Any], source: str) -> UpsertPayload:
    outcome = await resolve.upsert(info.context, label, _items(inputs), source)
    return UpsertPayload(
        created=outcome.created, updated=outcome.updated, ids=[strawberry.ID(i) for i in outcome.written_ids],
        errors=[UpsertError(index=e.index, field=e.field, path=e.path, message=e.message, code=e.code)
                for e in outcome.errors])


SOURCE = ("Name of the sending system, one of the profile policy's sources (e.g. BILLING); recorded as the "
          "provenance of the values.")


@strawberry.type
class PartnerMutation:
    @strawberry.mutation(description="Create or update customers (at most 1000 per call).")
    async def upsert_customers(
        self,
        info: Ctx,
        source: Annotated[str, strawberry.argument(
            description="Name of the sending system, one of the profile policy's sources (e.g. `BILLING`); "
                        "recorded as the provenance of the values.")],
        items: Annotated[list[CustomerInput], strawberry.argument(
            description="The items, at most 1000; each is written whole or not at all (see `errors`).")],
    ) -> UpsertPayload:
        return await _upsert(info, "Customer", items, source)

    @strawberry.mutation(description="Create or update billing accounts of existing customers.")
    async def upsert_accounts(
        self,
        info: Ctx,
        source: Annotated[str, strawberry.argument(
            description="Name of the sending system, one of the profile policy's sources (e.g. `BILLING`); "
                        "recorded as the provenance of the values.")],
        items: Annotated[list[AccountInput], strawberry.argument(
            description="The items, at most 1000; each is written whole or not at all (see `errors`).")],
    ) -> UpsertPayload:
        return await _upsert(info, "Account", items, source)

    @strawberry.mutation(description="Create or update subscriptions of existing accounts.")
    async def upsert_subscriptions(
        self,
        info: Ctx,
        source: Annotated[str, strawberry.argument(
            description="Name of the sending system, one of the profile policy's sources (e.g. `BILLING`); "
                        "recorded as the provenance of the values.")],
        items: Annotated[list[SubscriptionInput], strawberry.argument(
            description="The items, at most 1000; each is written whole or not at all (see `errors`).")],
    ) -> UpsertPayload:
        return await _upsert(info, "Subscription", items, source)

    @strawberry.mutation(description="Create or update contacts of existing customers.")
    async def upsert_contacts(
        self,
        info: Ctx,
        source: Annotated[str, strawberry.argument(
            description="Name of the sending system, one of the profile policy's sources (e.g. `BILLING`); "
                        "recorded as the provenance of the values.")],
        items: Annotated[list[ContactInput], strawberry.argument(
            description="The items, at most 1000; each is written whole or not at all (see `errors`).")],
    ) -> UpsertPayload:
        return await _upsert(info, "Contact", items, source)

    @strawberry.mutation(description="Create or update monetary events of existing accounts.")
    async def upsert_monetary_events(
        self,
        info: Ctx,
        source: Annotated[str, strawberry.argument(
            description="Name of the sending system, one of the profile policy's sources (e.g. `BILLING`); "
                        "recorded as the provenance of the values.")],
        items: Annotated[list[MonetaryEventInput], strawberry.argument(
            description="The items, at most 1000; each is written whole or not at all (see `errors`).")],
    ) -> UpsertPayload:
        return await _upsert(info, "MonetaryEvent", items, source)
