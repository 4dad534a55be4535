"""GraphQL types of privacy (docs/privacy.md): consents (``Customer.consents``,
``Customer.consentHistory``, ``recordConsent``), the export of everything held about a
person (``exportCustomerData``) and erasure (``eraseCustomer``)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from cdp.privacy import consent as rules
from cdp.privacy.erasure import Erasure as ErasureResult
from resolvers import privacy as resolve
from resolvers.context import Context
from schema.enums import _enum
from schema.types import naive_utc

if TYPE_CHECKING:
    from schema.types import Customer

Ctx = Info[Context, None]

ConsentPurpose = _enum("ConsentPurpose", rules.PURPOSES,
                       "What a consent is for: the campaign purposes MARKETING, RETENTION and SERVICE, "
                       "DATA_SHARING (personal data shown to partners) and PROFILING (scores and "
                       "recommendations from the customer's data).")
ConsentStatus = _enum("ConsentStatus", rules.STATUSES,
                      "What the customer said: GRANTED, DENIED, or REVOKED (a grant taken back).")


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None else None


@strawberry.type(description="One consent statement: for a purpose and/or through a channel, with its provenance.")
class Consent:
    purpose: ConsentPurpose | None = strawberry.field(  # type: ignore[valid-type]
        description="The purpose; null: every purpose (a statement about a channel).")
    channel: strawberry.ID | None = strawberry.field(description="The channel; null: every channel.")
    status: ConsentStatus  # type: ignore[valid-type]
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
    attribute_values_removed: int
    contact_subjects_removed: int
    event_descriptions_removed: int
    api_keys_revoked: int
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


async def customer_consent_history(info: Ctx, customer_id: str, purpose: ConsentPurpose | None,  # type: ignore[valid-type]
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
    async def export_customer_data(self, info: Ctx, customer_id: strawberry.ID) -> JSON:
        return await resolve.export_customer_data(info.context, str(customer_id))


@strawberry.type
class PrivacyMutation:
    @strawberry.mutation(description="Record what a customer said about a purpose and/or a channel (at least "
                                     "one). Returns the customer's effective consents. A customer credential "
                                     "records for itself, customer-maintained, as source CUSTOMER. BAD_USER_INPUT "
                                     "(with the field) for an unknown channel, an expiry not in the future or a "
                                     "bad source; NOT_FOUND for an unknown customer; CONFLICT for an erased one.")
    async def record_consent(
        self, info: Ctx, customer_id: strawberry.ID, status: ConsentStatus,  # type: ignore[valid-type]
        purpose: ConsentPurpose | None = None, channel: strawberry.ID | None = None,  # type: ignore[valid-type]
        expires_at: datetime | None = None, source: str | None = None,
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
    async def erase_customer(self, info: Ctx, customer_id: strawberry.ID) -> Erasure:
        return Erasure.from_result(await resolve.erase_customer(info.context, str(customer_id)))
