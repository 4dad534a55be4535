"""GraphQL types of privacy (docs/privacy.md): consents (``Customer.consents``,
``Customer.consentHistory``, ``recordConsent``), the export of everything held about a
person (``exportCustomerData``) and erasure (``eraseCustomer``)."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated, TypeAlias

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from graph.clock import naive_utc
from cdp.privacy import consent as rules
from cdp.privacy.erasure import Erasure as ErasureResult
from resolvers import privacy as resolve
from resolvers.context import Context
from schema.enums import _enum

if TYPE_CHECKING:
    from schema.types import Customer

Ctx = Info[Context, None]

if TYPE_CHECKING:  # made at run time from cdp.privacy.consent's vocabularies (see schema.enums)
    ConsentPurpose: TypeAlias = enum.Enum
    ConsentStatus: TypeAlias = enum.Enum
else:
    ConsentPurpose = _enum("ConsentPurpose", rules.PURPOSES,
                           "What a consent is for: the campaign purposes MARKETING, RETENTION and SERVICE, "
                           "DATA_SHARING (personal data shown to partners) and PROFILING (scores and "
                           "recommendations from the customer's data).", {
                               "MARKETING": "Offers of new products (MARKETING campaigns).",
                               "RETENTION": "Offers to keep a customer who may leave (RETENTION campaigns).",
                               "SERVICE": "Service messages about products held (SERVICE campaigns).",
                               "DATA_SHARING": "Personal data shown in full to partners that hold the scope.",
                               "PROFILING": "Scores and recommendations computed from the customer's data."})
    ConsentStatus = _enum("ConsentStatus", rules.STATUSES,
                          "What the customer said: GRANTED, DENIED, or REVOKED (a grant taken back).", {
                              "GRANTED": "The customer agreed.", "DENIED": "The customer refused.",
                              "REVOKED": "The customer took back an earlier grant."})


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None else None


@strawberry.type(description="One consent statement: for a purpose and/or through a channel, with its provenance.")
class Consent:
    purpose: ConsentPurpose | None = strawberry.field(
        description="The purpose; null: every purpose (a statement about a channel).")
    channel: strawberry.ID | None = strawberry.field(description="The channel; null: every channel.")
    status: ConsentStatus = strawberry.field(description="What the customer said.")
    recorded_at: datetime | None = strawberry.field(description="When it was said (observed).")
    expires_at: datetime | None = strawberry.field(description="When it stops holding; null: never.")
    source: str | None = strawberry.field(description="Who recorded it: a source system, API, or CUSTOMER.")
    customer_maintained: bool = strawberry.field(description="Recorded by the customer themselves.")
    value_id: strawberry.ID = strawberry.field(description="The attribute value holding the statement.")

    @classmethod
    def from_consent(cls, c: rules.Consent) -> Consent:
        return cls(purpose=ConsentPurpose(c.purpose) if c.purpose else None,
                   channel=strawberry.ID(c.channel) if c.channel else None, status=ConsentStatus(c.status),
                   recorded_at=_utc(c.recorded_at), expires_at=_utc(c.expires_at), source=c.source,
                   customer_maintained=c.customer_maintained, value_id=strawberry.ID(c.value_id))


@strawberry.type(description="What an erasure removed; the customer stays, anonymised, with status ERASED.")
class Erasure:
    customer_id: strawberry.ID = strawberry.field(description="The customer erased (the one a merged id was "
                                                              "merged into).")
    customers: list[strawberry.ID] = strawberry.field(description="It and every customer merged into it.")
    attribute_values_removed: int = strawberry.field(description="Observed attribute values deleted.")
    contact_subjects_removed: int = strawberry.field(description="Contact subject lines blanked.")
    event_descriptions_removed: int = strawberry.field(description="Monetary event descriptions blanked.")
    api_keys_revoked: int = strawberry.field(description="Customer API keys of the person revoked.")
    already_erased: bool = strawberry.field(description="The customer was erased before; this call removed "
                                                        "only what had reappeared, if anything.")

    @strawberry.field(description="The customer as it is now.")
    async def customer(self, info: Ctx) -> Annotated[Customer, strawberry.lazy("schema.types")] | None:
        from resolvers import customers
        from schema.types import Customer

        row = await customers.customer(info.context, str(self.customer_id))
        return Customer.from_row(row) if row else None

    @classmethod
    def from_result(cls, r: ErasureResult) -> Erasure:
        return cls(customer_id=strawberry.ID(r.customer_id), customers=[strawberry.ID(c) for c in r.customers],
                   attribute_values_removed=r.attribute_values, contact_subjects_removed=r.contact_subjects,
                   event_descriptions_removed=r.event_descriptions, api_keys_revoked=r.api_keys,
                   already_erased=r.already_erased)


async def customer_consents(info: Ctx, customer_id: str) -> list[Consent]:
    """Resolver of ``Customer.consents``."""
    return [Consent.from_consent(c) for c in await resolve.consents(info.context, customer_id)]


async def customer_consent_history(info: Ctx, customer_id: str, purpose: ConsentPurpose | None,
                                   channel: str | None) -> list[Consent]:
    """Resolver of ``Customer.consentHistory``."""
    found = await resolve.consent_history(info.context, customer_id, purpose.value if purpose else None, channel)
    return [Consent.from_consent(c) for c in found]


@strawberry.type
class PrivacyQuery:
    @strawberry.field(description="Everything held about one person as one JSON document: profile, every "
                                  "attribute value with provenance (consents included), identities, accounts "
                                  "with subscriptions and monetary events, contacts and complaints, channel "
                                  "preferences, campaign memberships and responses, segments, and scores when a "
                                  "model is trained (docs/privacy.md). Audited. NOT_FOUND for an unknown id.")
    async def export_customer_data(
        self,
        info: Ctx,
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="The customer whose data is exported.")],
    ) -> JSON:
        return JSON(await resolve.export_customer_data(info.context, str(customer_id)))


@strawberry.type
class PrivacyMutation:
    @strawberry.mutation(description="Record what a customer said about a purpose and/or a channel (at least "
                                     "one). Returns the customer's effective consents. A customer credential "
                                     "records for itself, customer-maintained, as source CUSTOMER. BAD_USER_INPUT "
                                     "(with the field) for an expiry not in the future or a bad source; "
                                     "NOT_FOUND for an unknown customer or channel; CONFLICT for an erased one.")
    async def record_consent(
        self,
        info: Ctx,
        customer_id: Annotated[strawberry.ID, strawberry.argument(
            description="The customer the statement is about; a customer credential may name only itself.")],
        status: Annotated[ConsentStatus, strawberry.argument(
            description="What the customer said.")],
        purpose: Annotated[ConsentPurpose | None, strawberry.argument(
            description="The purpose the statement is for; null: a statement about a channel only (give "
                        "`channel` then).")] = None,
        channel: Annotated[strawberry.ID | None, strawberry.argument(
            description="The channel id the statement is for; null: a statement about a purpose only (give "
                        "`purpose` then).")] = None,
        expires_at: Annotated[datetime | None, strawberry.argument(
            description="When the statement stops holding (ISO 8601; without offset: UTC; in the future); "
                        "null: never.")] = None,
        source: Annotated[str | None, strawberry.argument(
            description="Where the statement was given (letters, digits and `_`, at most 40), e.g. `CRM`; "
                        "null: `API`. A customer credential always records as `CUSTOMER`.")] = None,
    ) -> list[Consent]:
        found = await resolve.record_consent(info.context, str(customer_id), purpose.value if purpose else None,
                                             str(channel) if channel is not None else None, status.value,
                                             naive_utc(expires_at), source)
        return [Consent.from_consent(c) for c in found]

    @strawberry.mutation(description="Erase a person: their personal data leaves the store and the analytic "
                                     "projection in one transaction; accounts, subscriptions, monetary events, "
                                     "contacts (without free text) and campaign results stay, anonymised, so "
                                     "reports still add up (docs/privacy.md). Idempotent. Audited. NOT_FOUND for "
                                     "an unknown id.")
    async def erase_customer(
        self,
        info: Ctx,
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="The customer to erase (irreversible).")],
    ) -> Erasure:
        return Erasure.from_result(await resolve.erase_customer(info.context, str(customer_id)))
