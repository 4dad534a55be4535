"""What each role may do: the one table of operation permissions and personal-data access.

Three decisions, all pure functions of a ``Principal`` (docs/security.md):

1. ``check_operation``: may the principal use a GraphQL root field (query or
   mutation)? Every root field of the schema has a row in ``OPERATION_ROLES``
   (tests/security/test_security.py fails on a missing one, so a new operation cannot slip
   through unguarded). Partners additionally need the operation named on their key.
2. ``check_customer``: a ``customer`` principal reaches only its own customer id.
3. ``personal_access``: may the principal see a personal field unmasked? Admins
   and apps may; analysts and partners need the ``personal_data`` scope (or
   ``personal:<field>``), and partners also need the customer's consent to
   ``DATA_SHARING``; customers see their own.
4. ``authorise_personal_use``: may the principal let a personal field shape an answer
   (filter, sort, search, segment condition)? Only when it may read the field unmasked
   for every customer; this is the one check every such route passes (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from cdp.errors import Forbidden
from cdp.security.principal import PERSONAL_DATA_SCOPE, PERSONAL_FIELD_SCOPE_PREFIX, Principal, Role

ADMIN, ANALYST, APP, PARTNER, CUSTOMER = Role.ADMIN, Role.ANALYST, Role.APP, Role.PARTNER, Role.CUSTOMER
EVERYONE = frozenset(Role)
STAFF = frozenset({ADMIN, ANALYST, APP})

#: Roles allowed per GraphQL root field (queries and mutations) and per HTTP route
#: outside GraphQL. PARTNER in a row means "partners whose key names the operation".
OPERATION_ROLES: dict[str, frozenset[Role]] = {
    # --- queries: the customer view and catalogue
    "customer": EVERYONE,  # customers: their own id only
    "customers": frozenset({ADMIN, ANALYST, APP, PARTNER}),
    "product": EVERYONE,
    "products": EVERYONE,
    "channels": EVERYONE,
    # any object by global id: each id is then checked as its typed root field
    # (schema.node_lookup.NODE_OPERATIONS, schema.authorization)
    "node": EVERYONE,
    "nodes": EVERYONE,
    # --- queries: analytics
    "valueSegmentation": frozenset({ADMIN, ANALYST}),
    "previewSegment": frozenset({ADMIN, ANALYST}),
    "segments": frozenset({ADMIN, ANALYST, APP, PARTNER}),
    "segment": frozenset({ADMIN, ANALYST, APP, PARTNER}),
    "models": frozenset({ADMIN, ANALYST}),
    "churnDrivers": frozenset({ADMIN, ANALYST}),
    "job": frozenset({ADMIN, ANALYST}),  # its own jobs only (cdp.limits.jobs): the roles that may submit one
    "segmentRecommendations": frozenset({ADMIN, ANALYST, PARTNER}),
    "dataQuality": frozenset({ADMIN, ANALYST}),
    # --- queries: relationship management
    "accountManagers": STAFF,
    "accountManager": STAFF,
    "complaint": STAFF,
    "complaints": STAFF,
    "complaintStats": STAFF,
    "satisfactionByChannel": STAFF,
    # --- queries: campaigns
    "campaigns": frozenset({ADMIN, ANALYST, APP, PARTNER}),
    "campaign": frozenset({ADMIN, ANALYST, APP, PARTNER}),
    "contactPolicy": STAFF,
    # --- queries: privacy and security
    "auditLog": frozenset({ADMIN}),
    "apiKeys": frozenset({ADMIN}),
    "createApiKey": frozenset({ADMIN}),
    "revokeApiKey": frozenset({ADMIN}),
    "exportCustomerData": frozenset({ADMIN, APP, CUSTOMER}),  # customers: their own
    # --- mutations: partner upserts
    "upsertCustomers": frozenset({ADMIN, APP, PARTNER}),
    "upsertAccounts": frozenset({ADMIN, APP, PARTNER}),
    "upsertSubscriptions": frozenset({ADMIN, APP, PARTNER}),
    "upsertContacts": frozenset({ADMIN, APP, PARTNER}),
    "upsertMonetaryEvents": frozenset({ADMIN, APP, PARTNER}),
    # --- mutations: segments, models, catalogue
    "createSegment": frozenset({ADMIN, ANALYST}),
    "updateSegment": frozenset({ADMIN, ANALYST}),
    "deleteSegment": frozenset({ADMIN, ANALYST}),
    "trainModel": frozenset({ADMIN, ANALYST}),
    "setProductRules": frozenset({ADMIN}),
    "recordOfferResponse": frozenset({ADMIN, APP, PARTNER}),
    # --- mutations: relationship management
    "openComplaint": frozenset({ADMIN, APP}),
    "escalateComplaint": frozenset({ADMIN, APP}),
    "resolveComplaint": frozenset({ADMIN, APP}),
    "assignAccountManager": frozenset({ADMIN, APP}),
    "unassignAccountManager": frozenset({ADMIN, APP}),
    # --- mutations: campaigns
    "createCampaign": frozenset({ADMIN, ANALYST}),
    "launchCampaign": frozenset({ADMIN, ANALYST}),
    "launchWave": frozenset({ADMIN, ANALYST}),
    "recordCampaignResponses": frozenset({ADMIN, ANALYST, PARTNER}),
    "completeCampaign": frozenset({ADMIN, ANALYST}),
    "cancelCampaign": frozenset({ADMIN, ANALYST}),
    "deleteCampaign": frozenset({ADMIN, ANALYST}),
    "setContactPolicy": frozenset({ADMIN}),
    # --- mutations: profile and identity
    "updateProfile": frozenset({ADMIN, APP, CUSTOMER}),  # customers: their own
    "verifyAttributeValue": frozenset({ADMIN, APP}),
    "splitIdentity": frozenset({ADMIN}),
    # --- mutations: privacy
    "recordConsent": frozenset({ADMIN, APP, PARTNER, CUSTOMER}),  # customers: their own
    "eraseCustomer": frozenset({ADMIN}),
    # --- HTTP routes outside GraphQL
    "campaignContactList": frozenset({ADMIN, ANALYST, APP, PARTNER}),  # needs personal-data access too
}

#: The typed root field whose authorisation each ``Node`` type shares: a principal may fetch
#: an object by global id (``node``, ``nodes``) exactly when it may use that field.
NODE_OPERATIONS: dict[str, str] = {
    "Customer": "customer", "Account": "customer", "Contact": "customer", "Product": "product",
    "Channel": "channels", "Campaign": "campaign", "Segment": "segment", "Complaint": "complaint",
}

#: Operations a partner key may name (``cdp keys create --role partner --operations ...``).
PARTNER_OPERATIONS = frozenset(name for name, roles in OPERATION_ROLES.items() if PARTNER in roles)

#: Personal fields, by their GraphQL name and profile attribute key (docs/security.md).
PERSONAL_FIELDS: dict[str, str] = {
    "name": "name", "firstName": "first_name", "lastName": "last_name", "birthDate": "birth_date",
    "nationalId": "national_id", "email": "email", "phone": "phone", "street": "street",
    "postalCode": "postal_code",
}
#: Profile attribute keys that hold personal data (``AttributeValue.value`` is masked for them).
PERSONAL_ATTRIBUTE_KEYS = frozenset(PERSONAL_FIELDS.values())

#: Attributes derived from a personal field: a condition on one reveals the field (an age
#: compared day by day with ``asOf`` gives the birth date).
DERIVED_PERSONAL: dict[str, str] = {"age": "birth_date"}

#: Consent purpose a partner needs from the customer to see personal data.
DATA_SHARING = "DATA_SHARING"


class Access(Enum):
    """How a personal field is shown to a principal."""

    FULL = "full"
    MASKED = "masked"
    NEEDS_CONSENT = "needs_consent"  # full if the customer consented to DATA_SHARING, else masked


def check_operation(principal: Principal, operation: str) -> None:
    """Raise ``Forbidden`` unless ``principal`` may use ``operation`` (a root field or route name).

    Introspection (``__schema``, ``__type``, ``__typename``) is open to every principal.
    An operation missing from ``OPERATION_ROLES`` is refused (fail closed).
    """
    if operation.startswith("__"):
        return
    roles = OPERATION_ROLES.get(operation)
    if roles is None or principal.role not in roles:
        raise Forbidden(f"role {principal.role.value} may not use {operation}", field=operation)
    if principal.role is PARTNER and operation not in principal.operations:
        raise Forbidden(f"this partner key is not granted {operation}; its operations are: "
                        f"{', '.join(sorted(principal.operations)) or 'none'}", field=operation)


def check_customer(principal: Principal, customer_id: str | None, *, field: str = "customerId") -> None:
    """Raise ``Forbidden`` when a ``customer`` principal asks about another customer."""
    if principal.role is CUSTOMER and (customer_id is None or str(customer_id) != principal.customer_id):
        raise Forbidden("a customer credential reaches only its own customer", field=field)


def personal_access(principal: Principal, field: str, customer_id: str | None = None) -> Access:
    """How ``principal`` sees personal ``field`` (a GraphQL name or attribute key) of ``customer_id``."""
    key = PERSONAL_FIELDS.get(field, field)
    if principal.role in (ADMIN, APP):
        return Access.FULL
    if principal.role is CUSTOMER:
        return Access.FULL if customer_id is not None and customer_id == principal.customer_id else Access.MASKED
    scoped = (PERSONAL_DATA_SCOPE in principal.scopes
              or PERSONAL_FIELD_SCOPE_PREFIX + key in principal.scopes)
    if not scoped:
        return Access.MASKED
    return Access.NEEDS_CONSENT if principal.role is PARTNER else Access.FULL


def personal_key(name: str) -> str | None:
    """The personal attribute key ``name`` holds or reveals, or None when it is not personal.

    ``name`` is a GraphQL field name (``lastName``), a profile attribute key or Customer
    property (``national_id``, also as a custom attribute of another case) or an attribute
    derived from one (``age``: ``birth_date``).
    """
    text = name.strip()
    if text in PERSONAL_FIELDS:
        return PERSONAL_FIELDS[text]
    text = text.lower()
    if text in PERSONAL_ATTRIBUTE_KEYS:
        return text
    return DERIVED_PERSONAL.get(text)


def readable_in_full(principal: Principal, name: str) -> bool:
    """True when ``principal`` may read personal ``name`` unmasked for every customer (admins,
    apps, analysts with the scope for it); partners never (their access depends on each
    customer's consent), customers never (only their own). Not personal: True."""
    key = personal_key(name)
    return key is None or personal_access(principal, key) is Access.FULL


def authorise_personal_use(principal: Principal, uses: Mapping[str, str]) -> frozenset[str]:
    """The one rule for personal data shaping an answer: filters, sorts, searches and segment
    conditions (``customers(where:, orderBy:)``, segment definitions previewed, saved, evaluated,
    recommended for or targeted by campaigns).

    In: ``uses``, each name a request's condition refers to (a GraphQL field name, attribute
    key or derived attribute such as ``age``) -> the path of the argument that names it
    (``where.email``, ``definition.all[0].attribute.key``). Names that are not personal are
    ignored. Out: the personal keys used, to be audited as a personal read.
    Raises ``Forbidden`` (``field``: the path; the message names the field) for the first
    personal name ``principal`` may not read unmasked for every customer: a condition is
    evaluated over every customer, so answers (sizes, members, order) would reveal the value
    of customers whose value the principal may not see (a filter on e-mail answers "is this
    address a customer?"; bisecting with GTE rebuilds a birth date).
    """
    used = set()
    for name, path in uses.items():
        key = personal_key(name)
        if key is None:
            continue
        if not readable_in_full(principal, key):
            needs = ("the customer's DATA_SHARING consent, which a condition over every customer cannot have"
                     if principal.role is PARTNER and personal_access(principal, key) is Access.NEEDS_CONSENT
                     else f"the {PERSONAL_DATA_SCOPE} or {PERSONAL_FIELD_SCOPE_PREFIX}{key} scope")
            raise Forbidden(f"{key} is personal data this credential may not read unmasked (it needs {needs}), "
                            f"so it may not filter, sort, search or select customers by it ({path})", field=path)
        used.add(key)
    return frozenset(used)


def mask(field: str, value: object) -> object:
    """``value`` of personal ``field`` with most of it hidden; None stays None.

    E-mail keeps its first letter and domain (``j***@example.com``), phone its last two
    digits, names their initial, postal codes their first two characters; birth dates and
    national ids are hidden entirely (None / ``***``).
    """
    if value is None:
        return None
    key = PERSONAL_FIELDS.get(field, field)
    text = str(value)
    if key == "birth_date":
        return None
    if key == "email" and "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}"
    if key == "phone":
        digits = [c for c in text if c.isdigit()]
        return "*" * max(len(digits) - 2, 3) + "".join(digits[-2:])
    if key in ("name", "first_name", "last_name"):
        return " ".join(part[:1] + "***" for part in text.split()) or "***"
    if key == "postal_code":
        return text[:2] + "***"
    return "***"
