"""GraphQL enums, mirroring the vocabularies declared in ``graph.model``."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, TypeAlias, cast

import strawberry

from graph import model as m


def described(value: str, description: str) -> str:
    """An enum member's value with its SDL description (``strawberry.enum_value``).

    Strawberry reads the definition and makes the member's value ``value``; to a type checker
    the call returns the plain value, so ``Member.value`` is a ``str`` there as it is at run
    time (``strawberry.enum_value`` itself would type it as its definition object)."""
    return cast("str", strawberry.enum_value(value, description=description))


def _enum(name: str, values: tuple[str, ...], description: str,
          meanings: dict[str, str] | None = None) -> type[enum.Enum]:
    """A GraphQL enum of a ``graph.model`` vocabulary; ``meanings`` describes each value in the SDL
    (tests/schema/test_schema_sdl.py fails on a value without one)."""
    meanings = meanings or {}
    members = {v: strawberry.enum_value(v, description=meanings.get(v)) for v in values}
    # cast: mypy reads an Enum(name, members) call whose members are not literal as a member
    # lookup; the functional API makes a class
    return strawberry.enum(cast("type[enum.Enum]", enum.Enum(name, members)), description=description)


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
    Tier = _enum("Tier", m.TIER_VALUES, "Customer tier: key account, business or consumer.", {
        "KEY_ACCOUNT": "A large business customer with a named account manager.",
        "BUSINESS": "A business customer without an account manager.",
        "CONSUMER": "A private person."})
    CustomerStatus = _enum("CustomerStatus", m.CUSTOMER_STATUS_VALUES, "Lifecycle state of a customer.", {
        "ACTIVE": "Holds or held products and has not left.",
        "CHURNED": "Has left the operator.",
        "PROSPECT": "Known (e.g. a lead) but not yet a paying customer.",
        "MERGED": "Found to be the same person as another customer and merged into it (`mergedInto`).",
        "ERASED": "Personal data erased on request (`eraseCustomer`); only anonymous facts remain."})
    Gender = _enum("Gender", m.GENDER_VALUES, "Gender as recorded by the source system.", {
        "FEMALE": "Recorded as female.", "MALE": "Recorded as male.", "OTHER": "Recorded as another gender.",
        "UNKNOWN": "The source recorded that it does not know."})
    AccountType = _enum("AccountType", m.ACCOUNT_TYPE_VALUES, "Kind of billing account.", {
        "POSTPAID": "Billed after use, monthly.", "PREPAID": "Paid before use, by top-ups.",
        "BUSINESS": "A business account, invoiced."})
    AccountStatus = _enum("AccountStatus", m.ACCOUNT_STATUS_VALUES, "State of a billing account.", {
        "ACTIVE": "Open and in use.", "SUSPENDED": "Open but barred (e.g. unpaid bills).",
        "CLOSED": "Closed (`closedOn` says when)."})
    PaymentMethod = _enum("PaymentMethod", m.PAYMENT_METHOD_VALUES, "How an account pays.", {
        "DIRECT_DEBIT": "Collected from a bank account.", "CARD": "Charged to a payment card.",
        "INVOICE": "Paid by bank transfer against an invoice.", "CASH": "Paid in cash, e.g. in a shop.",
        "VOUCHER": "Paid with top-up vouchers (prepaid)."})
    ContractType = _enum("ContractType", m.CONTRACT_TYPE_VALUES, "Commitment period of an account.", {
        "NO_CONTRACT": "No minimum term; can leave any month.", "MONTHS_12": "A 12-month minimum term.",
        "MONTHS_24": "A 24-month minimum term."})
    ProductCategory = _enum("ProductCategory", m.PRODUCT_CATEGORY_VALUES, "Catalogue category.", {
        "VOICE": "Voice plans (minutes, calls).", "MOBILE_DATA": "Mobile data plans and add-ons.",
        "BROADBAND": "Fixed internet access.", "TV": "TV packages.",
        "VALUE_ADDED": "Value-added services (roaming, security, cloud, insurance).",
        "DEVICE": "Handsets, routers and other hardware, usually one-off priced.",
        "BUNDLE": "A package of other products (`Product.components`)."})
    ProductLifecycle = _enum("ProductLifecycle", m.PRODUCT_LIFECYCLE_VALUES, "Whether a product is sold.", {
        "PLANNED": "Not launched yet; not offered.", "ACTIVE": "On sale.",
        "RETIRED": "No longer sold; existing subscriptions may remain."})
    SubscriptionStatus = _enum("SubscriptionStatus", m.SUBSCRIPTION_STATUS_VALUES, "State of a subscription.", {
        "ACTIVE": "Running and billed; counts in revenue and product holdings.",
        "SUSPENDED": "Paused (e.g. barred account); not billed.", "CANCELLED": "Ended (`until` says when)."})
    ChannelKind = _enum("ChannelKind", m.CHANNEL_KIND_VALUES, "Family of a channel.", {
        "ASSISTED": "A person serves the customer: shop, call centre.",
        "DIGITAL": "Self-service: web, app, e-mail.", "MESSAGING": "SMS and chat messages.",
        "OUTBOUND": "The operator calls out (outbound calls)."})
    ContactDirection = _enum("ContactDirection", m.CONTACT_DIRECTION_VALUES, "Who started a contact.", {
        "INBOUND": "The customer contacted the operator.", "OUTBOUND": "The operator contacted the customer."})
    ContactKind = _enum("ContactKind", m.CONTACT_KIND_VALUES, "What a contact was about.", {
        "INQUIRY": "A question.", "COMPLAINT": "A complaint (docs/relationship.md counts them).",
        "PURCHASE": "A sale.", "CAMPAIGN_OFFER": "An offer made by a campaign wave.",
        "SERVICE_REQUEST": "A request to change or fix a service.",
        "RETENTION": "A contact about leaving or staying (a cancellation request or a save offer)."})
    ContactOutcome = _enum("ContactOutcome", m.CONTACT_OUTCOME_VALUES, "How a contact ended.", {
        "RESOLVED": "The matter was settled.", "OPEN": "The matter is still open.",
        "ESCALATED": "Handed to a higher level; still open.", "ACCEPTED": "An offer was accepted.",
        "DECLINED": "An offer was declined.", "NO_RESPONSE": "The customer did not answer.",
        "INFORMED": "Information was given; nothing to settle."})
    MonetaryKind = _enum("MonetaryKind", m.MONETARY_KIND_VALUES, "Kind of monetary event.", {
        "INVOICE": "An amount billed to the account.", "PAYMENT": "An amount paid by the customer.",
        "PURCHASE": "A one-off purchase (device, add-on).", "TOP_UP": "Prepaid credit added.",
        "REFUND": "An amount paid back to the customer."})


@strawberry.enum(description="Fields customers can be sorted by (ties are broken by id).")
class CustomerSortField(enum.Enum):
    ID = described("ID", description="Customer id.")
    LAST_NAME = described("LAST_NAME", description="Last name (company name for organisations); a "
                                      "personal field: only for credentials that may read it in full.")
    JOINED_ON = described("JOINED_ON", description="Day the customer joined.")
    CITY = described("CITY", description="City of the address.")
    MONTHLY_SPEND = described("MONTHLY_SPEND", description="Monthly recurring revenue after discounts.")


@strawberry.enum(description="Sort direction.")
class SortDirection(enum.Enum):
    ASC = strawberry.enum_value("ASC", description="Smallest (or earliest, or A) first.")
    DESC = strawberry.enum_value("DESC", description="Largest (or latest, or Z) first.")


def to_enum(enum_type: type[enum.Enum], value: str | None) -> enum.Enum | None:
    """The member for a stored value; None for a missing or unknown value."""
    return enum_type._value2member_map_.get(value) if value is not None else None
