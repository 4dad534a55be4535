"""GraphQL types of catalog rules: a product's eligibility and up-sells, and the
``setProductRules`` mutation (mixed into the root ``Mutation``).

The rule fields of ``Product`` (``requires``, ``excludes``, ``upgradesTo``,
``eligibility``) are declared in ``schema.types`` and resolved here.
"""

from __future__ import annotations

import enum
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import strawberry
from strawberry.types import Info

from cdp.offers import catalog_rules as cr
from graph.model import ELIGIBLE_CONTRACT_VALUES
from resolvers import catalog
from resolvers import catalog_rules as resolve
from resolvers.context import Context
from schema import enums as E
from schema.errors import FieldsUnder
from schema.types import Product

Ctx = Info[Context, None]

if TYPE_CHECKING:  # made at run time from graph.model's vocabulary (see schema.enums)
    EligibleContract: TypeAlias = enum.Enum
else:
    EligibleContract = E._enum(
        "EligibleContract", ELIGIBLE_CONTRACT_VALUES,
        "Contract state a product is offered in: ANY; IN_CONTRACT (an open account's contract runs); "
        "OUT_OF_CONTRACT (a contract ended and none runs); NO_CONTRACT (no contract at all).", {
            "ANY": "Whatever the contract state.", "IN_CONTRACT": "An open account's contract still runs.",
            "OUT_OF_CONTRACT": "A contract has ended and none runs now.",
            "NO_CONTRACT": "The customer never had a contract."})


@strawberry.type(description="Who may be offered a product (empty lists mean any).")
class ProductEligibility:
    account_types: list[E.AccountType] = strawberry.field(description="An open account of one of these types.")
    tiers: list[E.Tier] = strawberry.field(description="Customer tiers that may be offered the product; empty: any.")
    contract: EligibleContract = strawberry.field(
        description="Contract state the customer must be in.")
    min_tenure_months: int = strawberry.field(description="Months since joining needed.")
    offerable: bool = strawberry.field(description="False keeps the product out of offers.")

    @classmethod
    def of(cls, e: cr.Eligibility) -> ProductEligibility:
        # Imported rules are not validated: values outside the vocabularies are left out.
        return cls(account_types=[m for m in (E.to_enum(E.AccountType, t) for t in e.account_types) if m],
                   tiers=[m for m in (E.to_enum(E.Tier, t) for t in e.tiers) if m],
                   contract=E.to_enum(EligibleContract, e.contract) or EligibleContract("ANY"),
                   min_tenure_months=e.min_tenure_months,
                   offerable=e.offerable)


@strawberry.type(description="An up-sell: the product a product upgrades to, with its discount.")
class ProductUpgrade:
    product_id: strawberry.Private[str]
    discount: float | None = strawberry.field(description="Share taken off the target's price, 0..1.")

    @strawberry.field(description="The product upgraded to; null when no longer in the catalogue.")
    async def product(self, info: Ctx) -> Product | None:
        found = await catalog.product(info.context, self.product_id)
        return Product.from_row(found) if found else None


@strawberry.input(description="An up-sell target.")
class UpgradeInput:
    product_id: strawberry.ID = strawberry.field(description="The product upgraded to; must exist.")
    discount: float | None = strawberry.field(
        default=None, description="Share taken off the upgrade's price, 0..1; null: none.")


@strawberry.input(description="A product's eligibility; replaces the stored one whole (fields left out mean any).")
class EligibilityInput:
    account_types: list[E.AccountType] | None = strawberry.field(
        default=None, description="Account types one of which the customer must have open; null or empty: any.")
    tiers: list[E.Tier] | None = strawberry.field(
        default=None, description="Tiers the customer must be in; null or empty: any.")
    contract: EligibleContract | None = strawberry.field(
        default=None, description="Contract state required; null: ANY.")
    min_tenure_months: int | None = strawberry.field(
        default=None, description="Whole months the customer must have been a customer; null: none.")
    offer_from: date | None = strawberry.field(
        default=None, description="First day the product may be offered (ISO 8601 date); null: no limit.")
    offer_until: date | None = strawberry.field(
        default=None, description="Last day the product may be offered (ISO 8601 date); null: no limit.")
    offerable: bool | None = strawberry.field(
        default=None, description="False keeps the product from every offer; null: true.")

    def to_rules(self) -> cr.Eligibility:
        return cr.Eligibility(
            account_types=tuple(t.value for t in self.account_types or ()),
            tiers=tuple(t.value for t in self.tiers or ()),
            contract=self.contract.value if self.contract is not None else "ANY",
            min_tenure_months=self.min_tenure_months or 0, offer_from=self.offer_from,
            offer_until=self.offer_until, offerable=self.offerable if self.offerable is not None else True)


@strawberry.input(description="New rules for a product: each field given replaces that rule set, fields left "
                              "out are kept.")
class ProductRulesInput:
    requires: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Products one of which the customer must hold.")
    excludes: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Products that cannot be held with this one (both directions).")
    upgrades_to: list[UpgradeInput] | None = strawberry.field(default=None, description="Up-sells.")
    eligibility: EligibilityInput | None = strawberry.field(
        default=None, description="Who may be offered the product; null: unchanged.")


async def requires(info: Ctx, product_id: str) -> list[Product]:
    return await _products(info, await resolve.requires(info.context, product_id))


async def excludes(info: Ctx, product_id: str) -> list[Product]:
    return await _products(info, await resolve.excludes(info.context, product_id))


async def upgrades_to(info: Ctx, product_id: str) -> list[ProductUpgrade]:
    return [ProductUpgrade(product_id=u.target, discount=u.discount)
            for u in await resolve.upgrades(info.context, product_id)]


def eligibility(row: dict[str, Any]) -> ProductEligibility:
    return ProductEligibility.of(cr.Eligibility.from_row(row))


async def _products(info: Ctx, ids: list[str]) -> list[Product]:
    out = []
    for i in ids:
        found = await catalog.product(info.context, i)
        if found:
            out.append(Product.from_row(found))
    return out


@strawberry.type
class CatalogRulesMutation:
    @strawberry.mutation(description="Replace a product's catalog rules (requires, excludes, upgrades, "
                                     "eligibility) in one write. Checked first: a product requiring and "
                                     "excluding the same one, cycles and bad values are BAD_USER_INPUT naming "
                                     "the product; NOT_FOUND for an unknown product (here or in the rules).",
                         extensions=[FieldsUnder("input")])
    async def set_product_rules(
        self,
        info: Ctx,
        product_id: Annotated[strawberry.ID, strawberry.argument(
            description="The product the rules are for (NOT_FOUND when unknown).")],
        input: Annotated[ProductRulesInput, strawberry.argument(
            description="The rules; they replace the product's rules in one write.")],
    ) -> Product:
        ups = None if input.upgrades_to is None else [cr.Upgrade(str(u.product_id), u.discount)
                                                      for u in input.upgrades_to]
        row = await resolve.set_rules(
            info.context, str(product_id),
            None if input.requires is None else [str(i) for i in input.requires],
            None if input.excludes is None else [str(i) for i in input.excludes],
            ups, input.eligibility.to_rules() if input.eligibility is not None else None)
        return Product.from_row(row)
