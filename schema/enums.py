"""GraphQL enums, mirroring the vocabularies declared in ``graph.model``."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, TypeAlias, cast

import strawberry

from graph import model as m


def _enum(name: str, values: tuple[str, ...], description: str) -> type[enum.Enum]:
    # cast: mypy reads an Enum(name, members) call whose members are not literal as a member
    # lookup; the functional API makes a class
    return strawberry.enum(cast("type[enum.Enum]", enum.Enum(name, {v: v for v in values})), description=description)


if TYPE_CHECKING:
    # Each is made at run time from a vocabulary of graph.model, so a type checker cannot list
    # its members: to it each is an Enum (read with `.value`, made with `E.Tier(value)`).
    Tier: TypeAlias = enum.Enum
    CustomerStatus: TypeAlias = enum.Enum
    Gender: TypeAlias = enum.Enum
    AccountType: TypeAlias = enum.Enum
    AccountStatus: TypeAlias = enum.Enum
    PaymentMethod: TypeAlias = enum.Enum
    ContractType: TypeAlias = enum.Enum
    ProductCategory: TypeAlias = enum.Enum
    ProductLifecycle: TypeAlias = enum.Enum
    SubscriptionStatus: TypeAlias = enum.Enum
    ChannelKind: TypeAlias = enum.Enum
    ContactDirection: TypeAlias = enum.Enum
    ContactKind: TypeAlias = enum.Enum
    ContactOutcome: TypeAlias = enum.Enum
    MonetaryKind: TypeAlias = enum.Enum
else:
    Tier = _enum("Tier", m.TIER_VALUES, "Customer tier: key account, business or consumer.")
    CustomerStatus = _enum("CustomerStatus", m.CUSTOMER_STATUS_VALUES, "Lifecycle state of a customer.")
    Gender = _enum("Gender", m.GENDER_VALUES, "Gender as recorded by the source system.")
    AccountType = _enum("AccountType", m.ACCOUNT_TYPE_VALUES, "Kind of billing account.")
    AccountStatus = _enum("AccountStatus", m.ACCOUNT_STATUS_VALUES, "State of a billing account.")
    PaymentMethod = _enum("PaymentMethod", m.PAYMENT_METHOD_VALUES, "How an account pays.")
    ContractType = _enum("ContractType", m.CONTRACT_TYPE_VALUES, "Commitment period of an account.")
    ProductCategory = _enum("ProductCategory", m.PRODUCT_CATEGORY_VALUES, "Catalogue category.")
    ProductLifecycle = _enum("ProductLifecycle", m.PRODUCT_LIFECYCLE_VALUES, "Whether a product is sold.")
    SubscriptionStatus = _enum("SubscriptionStatus", m.SUBSCRIPTION_STATUS_VALUES, "State of a subscription.")
    ChannelKind = _enum("ChannelKind", m.CHANNEL_KIND_VALUES, "Family of a channel.")
    ContactDirection = _enum("ContactDirection", m.CONTACT_DIRECTION_VALUES, "Who started a contact.")
    ContactKind = _enum("ContactKind", m.CONTACT_KIND_VALUES, "What a contact was about.")
    ContactOutcome = _enum("ContactOutcome", m.CONTACT_OUTCOME_VALUES, "How a contact ended.")
    MonetaryKind = _enum("MonetaryKind", m.MONETARY_KIND_VALUES, "Kind of monetary event.")


@strawberry.enum(description="Fields customers can be sorted by (ties are broken by id).")
class CustomerSortField(enum.Enum):
    ID = "ID"
    LAST_NAME = "LAST_NAME"
    JOINED_ON = "JOINED_ON"
    CITY = "CITY"
    MONTHLY_SPEND = "MONTHLY_SPEND"


@strawberry.enum(description="Sort direction.")
class SortDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


def to_enum(enum_type: type[enum.Enum], value: str | None) -> enum.Enum | None:
    """The member for a stored value; None for a missing or unknown value."""
    return enum_type._value2member_map_.get(value) if value is not None else None
