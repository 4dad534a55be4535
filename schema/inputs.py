"""GraphQL input types."""

from __future__ import annotations

from datetime import date

import strawberry

from schema.enums import AccountType, CustomerSortField, CustomerStatus, ProductCategory, SortDirection, Tier


@strawberry.input(description="A new value for one profile attribute (null clears it).")
class AttributeChange:
    key: str
    value: str | None


@strawberry.input(description="An inclusive range of whole numbers; either end may be left open.")
class IntRange:
    min: int | None = None
    max: int | None = None


@strawberry.input(description="An inclusive range of amounts; either end may be left open.")
class FloatRange:
    min: float | None = None
    max: float | None = None


@strawberry.input(description="An inclusive range of days; either end may be left open.")
class DateRange:
    from_: date | None = strawberry.field(default=None, name="from")
    to: date | None = None


@strawberry.input(description="Conditions on customers, combined with AND. Lists mean 'any of'.")
class CustomerWhere:
    ids: list[strawberry.ID] | None = None
    tier: list[Tier] | None = None
    status: list[CustomerStatus] | None = None
    city: list[str] | None = None
    country: list[str] | None = None
    name_contains: str | None = strawberry.field(
        default=None, description="Case-insensitive match on first, last or company name.")
    email: str | None = None
    phone: str | None = None
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
    joined_on: DateRange | None = None


@strawberry.input(description="Sort order of a customer list.")
class CustomerOrder:
    field: CustomerSortField = CustomerSortField.ID
    direction: SortDirection = SortDirection.ASC
