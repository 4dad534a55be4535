"""GraphQL mutations: profile self-service, verification, identity splits."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from resolvers import customers, profile
from resolvers.context import Context
from schema.campaigns import CampaignMutation
from schema.inputs import AttributeChange
from schema.recommendations import RecommendationMutation
from schema.relationship import RelationshipMutation
from schema.catalog_rules import CatalogRulesMutation
from schema.partner import PartnerMutation
from schema.privacy import PrivacyMutation
from schema.security import SecurityMutation
from schema.segments import SegmentMutation
from schema.scoring import ScoringMutation
from schema.types import AttributeValue, Customer

Ctx = Info[Context, None]


@strawberry.type(description="Why one item of a batch was not applied.")
class ItemError:
    field: str = strawberry.field(description="The input field at fault, e.g. `value`.")
    message: str = strawberry.field(description="What is wrong, in words.")
    code: str = strawberry.field(description="Error code, as in docs/errors.md (e.g. BAD_USER_INPUT, FORBIDDEN).")
    path: str = strawberry.field(description="Where in the arguments, e.g. changes[2].value.")


@strawberry.type(description="What a self-service profile update did.")
class ProfileUpdatePayload:
    customer: Customer | None = strawberry.field(
        description="The customer after the update; null when not visible to the caller.")
    values: list[AttributeValue] = strawberry.field(description="Values recorded.")
    errors: list[ItemError] = strawberry.field(description="Changes refused, one per attribute key.")


@strawberry.type(description="The outcome of splitting a wrongly merged identity out of its customer.")
class SplitPayload:
    identity_id: strawberry.ID = strawberry.field(description="The identity that was split out.")
    original: Customer | None = strawberry.field(description="The customer the identity was merged into.")
    customer: Customer | None = strawberry.field(description="The new customer now holding the identity.")
    moved_values: int = strawberry.field(description="Attribute values that moved with the identity.")


async def _customer(ctx: Context, customer_id: str) -> Customer | None:
    ctx.forget_reads()  # the write may have changed what the request's loaders cached
    row = await customers.customer(ctx, customer_id)
    return Customer.from_row(row) if row else None


@strawberry.type(
    description="The root of every operation that changes data. Each mutation needs the role or operation its "
                "credential allows (docs/security.md) and is written to the audit log.")
class Mutation(PartnerMutation, SegmentMutation, ScoringMutation, CatalogRulesMutation, RecommendationMutation,
               RelationshipMutation, CampaignMutation, PrivacyMutation, SecurityMutation):
    @strawberry.mutation(description="A customer updates attributes the profile policy lets them maintain. "
                                     "Values are recorded as customer-maintained and unverified, with lower "
                                     "accuracy; refused keys come back in `errors`.")
    async def update_profile(
        self,
        info: Ctx,
        customer_id: Annotated[strawberry.ID, strawberry.argument(
            description="The customer whose profile changes; a customer credential may name only itself.")],
        changes: Annotated[list[AttributeChange], strawberry.argument(
            description="Attribute keys and new values; keys the profile policy does not let customers maintain "
                        "are refused in `errors`.")],
    ) -> ProfileUpdatePayload:
        ctx = info.context
        written, errors = await profile.update_profile(ctx, customer_id, [(c.key, c.value) for c in changes])
        now = ctx.now
        return ProfileUpdatePayload(
            customer=await _customer(ctx, customer_id),
            values=[AttributeValue.from_row(v, ctx.policy, now, str(customer_id)) for v in written],
            errors=[ItemError(field=e.field, message=e.message, code=e.code, path=e.path) for e in errors],
        )

    @strawberry.mutation(description="Mark an attribute value verified (e.g. the customer confirmed a code).")
    async def verify_attribute_value(
        self,
        info: Ctx,
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="The customer the value belongs to.")],
        value_id: Annotated[strawberry.ID, strawberry.argument(
            description="The attribute value's id (`AttributeValue.id`).")],
    ) -> AttributeValue:
        ctx = info.context
        row = await profile.verify_value(ctx, customer_id, value_id)
        return AttributeValue.from_row(row, ctx.policy, ctx.now, str(customer_id))

    @strawberry.mutation(description="Undo a wrong merge: move one source identity, with the attribute values "
                                     "its record contributed, to a new customer. Nothing is deleted.")
    async def split_identity(
        self,
        info: Ctx,
        identity_id: Annotated[strawberry.ID, strawberry.argument(
            description="The source identity to split out (`SourceIdentity.id`).")],
    ) -> SplitPayload:
        ctx = info.context
        split = await profile.split_identity(ctx, identity_id)
        return SplitPayload(identity_id=strawberry.ID(split.identity_id),
                            original=await _customer(ctx, split.original_customer_id),
                            customer=await _customer(ctx, split.new_customer_id), moved_values=split.moved_values)
