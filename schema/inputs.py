"""GraphQL input types."""

from __future__ import annotations

from datetime import date

import strawberry

from schema.enums import AccountType, CustomerSortField, CustomerStatus, ProductCategory, SortDirection, Tier


@strawberry.input(description="A new value for one profile attribute (null clears it).")
class AttributeChange:
    key: str = strawberry.field(description="The attribute key, e.g. `email`, `phone`, or a custom key.")
    value: str | None = strawberry.field(description="The new value as text; null clears the value.")


@strawberry.input(description="An inclusive range of whole numbers; either end may be left open.")
class IntRange:
    min: int | None = strawberry.field(default=None, description="Lowest value, inclusive; null: no lower bound.")
    max: int | None = strawberry.field(default=None, description="Highest value, inclusive; null: no upper bound.")


@strawberry.input(description="An inclusive range of amounts; either end may be left open.")
class FloatRange:
    min: float | None = strawberry.field(default=None, description="Lowest value, inclusive; null: no lower bound.")
    max: float | None = strawberry.field(default=None, description="Highest value, inclusive; null: no upper bound.")


@strawberry.input(description="An inclusive range of days; either end may be left open.")
class DateRange:
    from_: date | None = strawberry.field(
        description="First day, inclusive (ISO 8601 date); null: no lower bound.", default=None, name="from")
    to: date | None = strawberry.field(
        default=None, description="Last day, inclusive (ISO 8601 date); null: no upper bound.")


@strawberry.input(description="Conditions on customers, combined with AND. Lists mean 'any of'.")
class CustomerWhere:
    ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Only these customer ids.")
    tier: list[Tier] | None = strawberry.field(default=None, description="Only customers of one of these tiers.")
    status: list[CustomerStatus] | None = strawberry.field(
        default=None, description="Only customers in one of these states.")
    city: list[str] | None = strawberry.field(
        default=None, description="Only customers in one of these cities (exact, case-insensitive).")
    country: list[str] | None = strawberry.field(
        default=None, description="Only customers in one of these countries (ISO 3166-1 alpha-2 codes).")
    name_contains: str | None = strawberry.field(
        default=None, description="Case-insensitive match on first, last or company name.")
    email: str | None = strawberry.field(
        default=None, description="Only the customer with this e-mail address (exact, case-insensitive). A personal "
                                  "field: only for credentials that may read it in full (FORBIDDEN otherwise).")
    phone: str | None = strawberry.field(
        default=None, description="Only the customer with this phone number. A personal field: only for credentials "
                                  "that may read it in full (FORBIDDEN otherwise).")
    holds_product: strawberry.ID | None = strawberry.field(
        default=None, description="Has an active subscription to this product.")
    holds_category: ProductCategory | None = strawberry.field(
        default=None, description="Has an active subscription to a product of this category.")
    account_type: AccountType | None = strawberry.field(
        default=None, description="Holds an open account of this type.")
    tenure_months: IntRange | None = strawberry.field(
        default=None, description="Whole months since the customer joined.")
    monthly_spend: FloatRange | None = strawberry.field(
        default=None, description="Monthly recurring revenue of active subscriptions, after discounts.")
    joined_on: DateRange | None = strawberry.field(
        default=None, description="Only customers who joined within this range of days.")


@strawberry.input(description="Sort order of a customer list.")
class CustomerOrder:
    field: CustomerSortField = strawberry.field(
        default=CustomerSortField.ID, description="The field to sort by (ties broken by id).")
    direction: SortDirection = strawberry.field(default=SortDirection.ASC, description="Ascending or descending.")
