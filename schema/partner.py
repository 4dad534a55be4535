"""GraphQL inputs and mutations for partner systems: batched upserts with typed errors per item.

Fields left out of an input item are not changed; an explicit null clears a
property. Each batch is checked item by item; the good items are written in
one transaction and every refused item comes back in ``errors`` with its
index, field, message and code.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime, timezone
from typing import Any

import strawberry
from anyio import to_thread
from strawberry.types import Info

from cdp.privacy import consent
from cdp.ingest import upserts
from cdp.customers.write_rules import WriteRules
from resolvers.context import Context
from schema import enums as E
from schema.inputs import AttributeChange

Ctx = Info[Context, None]
UNSET: Any = strawberry.UNSET


@strawberry.input(description="A customer as a source system knows it.")
class CustomerInput:
    id: strawberry.ID
    first_name: str | None = UNSET
    last_name: str | None = UNSET
    company_name: str | None = UNSET
    birth_date: date | None = UNSET
    gender: E.Gender | None = UNSET
    national_id: str | None = UNSET
    email: str | None = UNSET
    phone: str | None = UNSET
    street: str | None = UNSET
    city: str | None = UNSET
    postal_code: str | None = UNSET
    country: str | None = UNSET
    language: str | None = UNSET
    tier: E.Tier | None = UNSET
    status: E.CustomerStatus | None = UNSET
    joined_on: date | None = UNSET
    account_manager: str | None = UNSET
    attributes: list[AttributeChange] | None = strawberry.field(
        default=UNSET, description="Custom attributes and consent statements (keys consent_<purpose>, "
                                   "consent_<channel>, consent_<channel>_<purpose> take GRANTED, DENIED or "
                                   "REVOKED), recorded as observations of this source; a value equal to the "
                                   "source's latest for the key is not recorded again.")


@strawberry.input(description="A billing account of an existing customer.")
class AccountInput:
    id: strawberry.ID
    customer_id: strawberry.ID
    type: E.AccountType | None = UNSET
    status: E.AccountStatus | None = UNSET
    opened_on: date | None = UNSET
    closed_on: date | None = UNSET
    payment_method: E.PaymentMethod | None = UNSET
    contract_type: E.ContractType | None = UNSET
    contract_end: date | None = UNSET


@strawberry.input(description="A subscription of an existing account to a catalogue product.")
class SubscriptionInput:
    id: strawberry.ID
    account_id: strawberry.ID
    product_id: strawberry.ID
    status: E.SubscriptionStatus | None = UNSET
    since: date | None = UNSET
    until: date | None = UNSET
    monthly_fee: float | None = UNSET
    discount: float | None = UNSET


@strawberry.input(description="One interaction with an existing customer through a channel.")
class ContactInput:
    id: strawberry.ID
    customer_id: strawberry.ID
    channel_id: strawberry.ID
    at: datetime
    direction: E.ContactDirection | None = UNSET
    kind: E.ContactKind | None = UNSET
    outcome: E.ContactOutcome | None = UNSET
    satisfaction: int | None = UNSET
    subject: str | None = UNSET
    campaign: str | None = UNSET
    resolved_at: datetime | None = UNSET
    product_id: strawberry.ID | None = UNSET


@strawberry.input(description="Money moving on an existing account.")
class MonetaryEventInput:
    id: strawberry.ID
    account_id: strawberry.ID
    kind: E.MonetaryKind | None = UNSET
    amount: float | None = UNSET
    currency: str | None = UNSET
    at: datetime | None = UNSET
    description: str | None = UNSET


@strawberry.type(description="Why one item of a batch was not written (one error per bad field; nothing of "
                             "the item is written).")
class UpsertError:
    index: int = strawberry.field(description="Position of the item in the batch, from 0.")
    field: str
    path: str = strawberry.field(description="Where in the arguments, e.g. items[3].email or "
                                             "items[0].attributes[2].value.")
    message: str
    code: str


@strawberry.type(description="What an upsert batch did.")
class UpsertPayload:
    created: int
    updated: int
    ids: list[strawberry.ID] = strawberry.field(description="Ids of the items written.")
    errors: list[UpsertError]


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [{"key": v.key, "value": v.value} if isinstance(v, AttributeChange) else _plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _items(inputs: list[Any]) -> list[dict[str, Any]]:
    """Input objects as dicts of the fields that were sent."""
    return [{f.name: _plain(getattr(item, f.name)) for f in dataclasses.fields(item)
             if getattr(item, f.name) is not UNSET} for item in inputs]


async def _upsert(info: Ctx, label: str, inputs: list[Any], source: str) -> UpsertPayload:
    ctx = info.context
    now = ctx.now
    rules = WriteRules.of(ctx.settings, now)
    items = _items(inputs)
    if label == "Customer":  # consents sent as attributes obey who may record them (docs/privacy.md)
        consent.check_statements(ctx.principal, [
            (f"items[{i}].attributes[{j}]", a.get("key"), a.get("value"))
            for i, item in enumerate(items) for j, a in enumerate(item.get("attributes") or ())])
    outcome = await to_thread.run_sync(upserts.upsert, ctx.store, ctx.policy, label, items, source, now, rules)
    ctx.forget_reads()
    return UpsertPayload(
        created=outcome.created, updated=outcome.updated, ids=[strawberry.ID(i) for i in outcome.written_ids],
        errors=[UpsertError(index=e.index, field=e.field, path=e.path, message=e.message, code=e.code)
                for e in outcome.errors])


SOURCE = ("Name of the sending system, one of the profile policy's sources (e.g. BILLING); recorded as the "
          "provenance of the values.")


@strawberry.type
class PartnerMutation:
    @strawberry.mutation(description="Create or update customers (at most 1000 per call).")
    async def upsert_customers(self, info: Ctx, source: str, items: list[CustomerInput]) -> UpsertPayload:
        return await _upsert(info, "Customer", items, source)

    @strawberry.mutation(description="Create or update billing accounts of existing customers.")
    async def upsert_accounts(self, info: Ctx, source: str, items: list[AccountInput]) -> UpsertPayload:
        return await _upsert(info, "Account", items, source)

    @strawberry.mutation(description="Create or update subscriptions of existing accounts.")
    async def upsert_subscriptions(self, info: Ctx, source: str, items: list[SubscriptionInput]) -> UpsertPayload:
        return await _upsert(info, "Subscription", items, source)

    @strawberry.mutation(description="Create or update contacts of existing customers.")
    async def upsert_contacts(self, info: Ctx, source: str, items: list[ContactInput]) -> UpsertPayload:
        return await _upsert(info, "Contact", items, source)

    @strawberry.mutation(description="Create or update monetary events of existing accounts.")
    async def upsert_monetary_events(self, info: Ctx, source: str,
                                     items: list[MonetaryEventInput]) -> UpsertPayload:
        return await _upsert(info, "MonetaryEvent", items, source)
