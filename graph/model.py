"""The customer graph model, declared once.

Both backends build their schema from these declarations: LadybugDB gets
``CREATE NODE TABLE`` / ``CREATE REL TABLE`` statements, Neo4j gets uniqueness
constraints on every key and indexes on the properties marked ``indexed``.
The demo generator, bulk loader and exporters use the same declarations to
build Arrow tables, so a property exists in exactly one place.

Conventions:
- every node has a string primary key ``id``;
- times are naive UTC ``TIMESTAMP`` values, calendar days are ``DATE``;
- enumerations are stored as upper-case strings (see the ``*_VALUES`` tuples);
- relationship rows are keyed by ``from`` and ``to`` (the node ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

PropertyType = Literal["STRING", "INT64", "DOUBLE", "BOOL", "DATE", "TIMESTAMP"]

ARROW_TYPES: dict[str, pa.DataType] = {
    "STRING": pa.string(),
    "INT64": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOL": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
}


@dataclass(frozen=True)
class Property:
    """One typed property of a node or relationship."""

    name: str
    type: PropertyType
    indexed: bool = False
    description: str = ""


@dataclass(frozen=True)
class NodeType:
    """A node label with its properties; ``id`` is always the key."""

    label: str
    properties: tuple[Property, ...]
    description: str = ""
    key: str = "id"

    def prop(self, name: str) -> Property:
        """Return the property called ``name``; raise KeyError if unknown."""
        for prop in self.properties:
            if prop.name == name:
                return prop
        raise KeyError(f"{self.label} has no property {name!r}")

    @property
    def property_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties)

    @property
    def key_type(self) -> pa.DataType:
        """Arrow type of the key: ``string`` for most labels, ``int64`` for ``AttributeValue``."""
        return ARROW_TYPES[self.prop(self.key).type]

    def arrow_schema(self) -> pa.Schema:
        """Arrow schema of a table of these nodes, in declaration order."""
        return pa.schema([(p.name, ARROW_TYPES[p.type]) for p in self.properties])


@dataclass(frozen=True)
class RelType:
    """A relationship type between two node labels, with optional properties."""

    type: str
    source: str
    target: str
    properties: tuple[Property, ...] = ()
    description: str = ""
    source_key: PropertyType = "STRING"
    target_key: PropertyType = "STRING"

    @property
    def property_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties)

    def endpoint_schema(self) -> pa.Schema:
        """Arrow schema of ``from`` and ``to``: the key types of the two end labels."""
        return pa.schema([("from", ARROW_TYPES[self.source_key]), ("to", ARROW_TYPES[self.target_key])])

    def arrow_schema(self) -> pa.Schema:
        """Arrow schema of a relationship table: ``from``, ``to``, then properties."""
        fields = list(self.endpoint_schema())
        fields += [(p.name, ARROW_TYPES[p.type]) for p in self.properties]
        return pa.schema(fields)


@dataclass(frozen=True)
class GraphModel:
    """The whole model: node types and relationship types, by name."""

    nodes: tuple[NodeType, ...]
    relationships: tuple[RelType, ...]

    def __post_init__(self) -> None:
        for rel in self.relationships:
            for end, declared in ((rel.source, rel.source_key), (rel.target, rel.target_key)):
                if self.node(end).prop("id").type != declared:
                    raise ValueError(f"{rel.type}: {end} keys are {self.node(end).prop('id').type}, not {declared}")

    def node(self, label: str) -> NodeType:
        """Return the node type ``label``; raise KeyError if it is not declared."""
        for node in self.nodes:
            if node.label == label:
                return node
        raise KeyError(f"unknown node label {label!r}")

    def relationship(self, rel_type: str) -> RelType:
        """Return the relationship type ``rel_type``; raise KeyError if undeclared."""
        for rel in self.relationships:
            if rel.type == rel_type:
                return rel
        raise KeyError(f"unknown relationship type {rel_type!r}")


def _p(name: str, type_: PropertyType, indexed: bool = False, description: str = "") -> Property:
    return Property(name, type_, indexed, description)


# Enumerations, stored as strings. The GraphQL enums mirror these tuples.
TIER_VALUES = ("KEY_ACCOUNT", "BUSINESS", "CONSUMER")
CUSTOMER_STATUS_VALUES = ("ACTIVE", "CHURNED", "PROSPECT", "MERGED", "ERASED")
GENDER_VALUES = ("FEMALE", "MALE", "OTHER", "UNKNOWN")
ACCOUNT_TYPE_VALUES = ("POSTPAID", "PREPAID", "BUSINESS")
ACCOUNT_STATUS_VALUES = ("ACTIVE", "SUSPENDED", "CLOSED")
PAYMENT_METHOD_VALUES = ("DIRECT_DEBIT", "CARD", "INVOICE", "CASH", "VOUCHER")
CONTRACT_TYPE_VALUES = ("NO_CONTRACT", "MONTHS_12", "MONTHS_24")
PRODUCT_CATEGORY_VALUES = ("VOICE", "MOBILE_DATA", "BROADBAND", "TV", "VALUE_ADDED", "DEVICE", "BUNDLE")
PRODUCT_LIFECYCLE_VALUES = ("PLANNED", "ACTIVE", "RETIRED")
ELIGIBLE_CONTRACT_VALUES = ("ANY", "IN_CONTRACT", "OUT_OF_CONTRACT", "NO_CONTRACT")
SUBSCRIPTION_STATUS_VALUES = ("ACTIVE", "SUSPENDED", "CANCELLED")
CHANNEL_KIND_VALUES = ("ASSISTED", "DIGITAL", "MESSAGING", "OUTBOUND")
CONTACT_DIRECTION_VALUES = ("INBOUND", "OUTBOUND")
CONTACT_KIND_VALUES = ("INQUIRY", "COMPLAINT", "PURCHASE", "CAMPAIGN_OFFER", "SERVICE_REQUEST", "RETENTION")
CONTACT_OUTCOME_VALUES = (
    "RESOLVED", "OPEN", "ESCALATED", "ACCEPTED", "DECLINED", "NO_RESPONSE", "INFORMED",
)
MONETARY_KIND_VALUES = ("INVOICE", "PAYMENT", "PURCHASE", "TOP_UP", "REFUND")

CUSTOMER = NodeType(
    "Customer",
    (
        _p("id", "STRING"),
        _p("first_name", "STRING"),
        _p("last_name", "STRING"),
        _p("company_name", "STRING", description="Set for business and key-account customers."),
        _p("birth_date", "DATE"),
        _p("gender", "STRING"),
        _p("national_id", "STRING", indexed=True),
        _p("email", "STRING", indexed=True),
        _p("phone", "STRING", indexed=True),
        _p("street", "STRING"),
        _p("city", "STRING", indexed=True),
        _p("postal_code", "STRING"),
        _p("country", "STRING"),
        _p("language", "STRING"),
        _p("tier", "STRING", indexed=True),
        _p("status", "STRING", indexed=True),
        _p("joined_on", "DATE", indexed=True),
        _p("account_manager", "STRING", description="Name of the account manager (key accounts)."),
        _p("updated_at", "TIMESTAMP"),
        _p("merged_into", "STRING", description="Set (with status MERGED) when identity resolution merged "
                                                 "this customer into another."),
    ),
    "A person or organisation the operator serves.",
)

ACCOUNT = NodeType(
    "Account",
    (
        _p("id", "STRING"),
        _p("type", "STRING", indexed=True),
        _p("status", "STRING", indexed=True),
        _p("opened_on", "DATE"),
        _p("closed_on", "DATE"),
        _p("payment_method", "STRING"),
        _p("contract_type", "STRING"),
        _p("contract_end", "DATE"),
        _p("updated_at", "TIMESTAMP"),
    ),
    "A billing account; a customer holds one or more.",
)

PRODUCT = NodeType(
    "Product",
    (
        _p("id", "STRING"),
        _p("name", "STRING"),
        _p("category", "STRING", indexed=True),
        _p("monthly_price", "DOUBLE", description="Recurring list price per month."),
        _p("one_off_price", "DOUBLE", description="Price paid once (devices, activation)."),
        _p("monthly_cost", "DOUBLE", description="Cost to serve per month, for margins."),
        _p("lifecycle", "STRING"),
        _p("launched_on", "DATE"),
        _p("description", "STRING"),
        _p("eligible_account_types", "STRING", description="Catalog rule: comma-separated account types "
                                                            "(an open one is needed); empty means any."),
        _p("eligible_tiers", "STRING", description="Catalog rule: comma-separated customer tiers; empty means any."),
        _p("eligible_contract", "STRING", description="Catalog rule: ANY, IN_CONTRACT, OUT_OF_CONTRACT or "
                                                      "NO_CONTRACT (empty means ANY)."),
        _p("min_tenure_months", "INT64", description="Catalog rule: months since joining needed."),
        _p("offer_from", "DATE", description="Catalog rule: first day the product may be offered."),
        _p("offer_until", "DATE", description="Catalog rule: last day the product may be offered."),
        _p("offerable", "BOOL", description="Catalog rule: false keeps the product out of offers (null: true)."),
        _p("repeatable", "BOOL", description="Catalog rule: true keeps the product on offer while held "
                                             "(top-ups, data packs: repeat purchases); null: false."),
    ),
    "A catalog item: a plan, a service, a device or a bundle of products.",
)

SUBSCRIPTION = NodeType(
    "Subscription",
    (
        _p("id", "STRING"),
        _p("status", "STRING", indexed=True),
        _p("since", "DATE"),
        _p("until", "DATE"),
        _p("monthly_fee", "DOUBLE", description="List fee at subscription time."),
        _p("discount", "DOUBLE", description="Share taken off the fee, 0..1."),
        _p("updated_at", "TIMESTAMP"),
    ),
    "An account's subscription to a product.",
)

CHANNEL = NodeType(
    "Channel",
    (
        _p("id", "STRING"),
        _p("name", "STRING"),
        _p("kind", "STRING"),
        _p("cost_per_contact", "DOUBLE"),
    ),
    "A way to reach or be reached by a customer.",
)

CONTACT = NodeType(
    "Contact",
    (
        _p("id", "STRING"),
        _p("at", "TIMESTAMP", indexed=True),
        _p("direction", "STRING"),
        _p("kind", "STRING", indexed=True),
        _p("outcome", "STRING"),
        _p("satisfaction", "INT64", description="1 (very unhappy) .. 5 (very happy), if asked."),
        _p("subject", "STRING"),
        _p("campaign", "STRING", description="Campaign code for campaign contacts."),
        _p("resolved_at", "TIMESTAMP"),
        _p("wave", "INT64", description="Wave number (1, 2, ...) for contacts a campaign launched."),
        _p("cost", "DOUBLE", description="What the contact cost (the channel's cost per contact at launch)."),
        _p("offer", "STRING", description="Product id offered, for campaign contacts."),
    ),
    "One interaction between the operator and a customer.",
)

MONETARY_EVENT = NodeType(
    "MonetaryEvent",
    (
        _p("id", "STRING"),
        _p("kind", "STRING"),
        _p("amount", "DOUBLE"),
        _p("currency", "STRING"),
        _p("at", "TIMESTAMP", indexed=True),
        _p("description", "STRING"),
    ),
    "Money moving on an account: invoice, payment, purchase, top-up, refund.",
)

IDENTITY = NodeType(
    "Identity",
    (
        _p("id", "STRING", description="<source>:<source_key>"),
        _p("source", "STRING", indexed=True, description="Source system, e.g. BILLING, CRM, SERVICE_DESK."),
        _p("source_key", "STRING", description="The record's key in its source system."),
        _p("matched_by", "STRING", description="Rule that linked it to its customer (SEED for the first)."),
        _p("confidence", "DOUBLE", description="Confidence of that link, 0..1."),
        _p("linked_at", "TIMESTAMP"),
    ),
    "A customer's record in one source system; a customer has one per record merged into it.",
)

ATTRIBUTE_VALUE = NodeType(
    "AttributeValue",
    (
        _p("id", "INT64", description="A 63-bit hash of the identity, key and observation time "
                                     "(``cdp.customers.provenance.value_ids``): integer keys keep imports fast."),
        _p("key", "STRING", indexed=True, description="Attribute name: a profile field or a custom key."),
        _p("value", "STRING", description="The value as text (dates ISO 8601)."),
        _p("source", "STRING", description="Source system, or CUSTOMER for self-service."),
        _p("identity_id", "STRING", description="The Identity whose record said it (moves with it on a split)."),
        _p("observed_at", "TIMESTAMP", description="When the source observed the value."),
        _p("accuracy", "DOUBLE", description="Confidence in the value, 0..1."),
        _p("customer_maintained", "BOOL", description="Entered by the customer."),
        _p("verified", "BOOL", description="Confirmed (e.g. a code sent to the phone or e-mail was used)."),
        _p("expires_at", "TIMESTAMP", description="When the value stops holding (consents with an expiry; "
                                                   "null: no expiry)."),
    ),
    "One value of one profile attribute, with its provenance.",
)

IMPORT_RUN = NodeType(
    "ImportRun",
    (
        _p("id", "STRING"),
        _p("source", "STRING", indexed=True, description="Source system named by the mapping."),
        _p("file", "STRING"),
        _p("mapping", "STRING"),
        _p("started_at", "TIMESTAMP"),
        _p("finished_at", "TIMESTAMP"),
        _p("read", "INT64"),
        _p("created", "INT64"),
        _p("updated", "INT64"),
        _p("unchanged", "INT64"),
        _p("rejected", "INT64"),
        _p("rejects_file", "STRING"),
        _p("signal", "STRING", description="Mapped columns that ended up constant, collapsed or unused "
                                           "(cdp.ingest.column_signal), one finding a line; null: none."),
    ),
    "One run of `cdp import`: what it read, wrote and refused, and the signal its mapping lost "
    "(feeds the data-quality report and the model cards).",
)

SEGMENT = NodeType(
    "Segment",
    (
        _p("id", "STRING"),
        _p("name", "STRING", indexed=True, description="Unique display name."),
        _p("description", "STRING"),
        _p("definition", "STRING", description="The condition tree as JSON (docs/segments.md)."),
        _p("created_at", "TIMESTAMP"),
        _p("updated_at", "TIMESTAMP"),
        _p("version", "INT64", description="1 when created, +1 per update."),
    ),
    "A saved rule segment: a named condition tree evaluated on the analytic projection.",
)

CAMPAIGN_STATUS_VALUES = ("DRAFT", "RUNNING", "COMPLETED", "CANCELLED")
CAMPAIGN_PURPOSE_VALUES = ("MARKETING", "RETENTION", "SERVICE")
CAMPAIGN_COHORT_VALUES = ("TREATMENT", "CONTROL")

CAMPAIGN = NodeType(
    "Campaign",
    (
        _p("id", "STRING"),
        _p("name", "STRING", indexed=True, description="Unique display name."),
        _p("description", "STRING"),
        _p("purpose", "STRING", description="MARKETING, RETENTION or SERVICE: the consent purpose contacts need."),
        _p("status", "STRING", indexed=True, description="DRAFT, RUNNING, COMPLETED or CANCELLED."),
        _p("target_segment", "STRING", description="Id of the saved Segment targeted (or empty)."),
        _p("target_definition", "STRING", description="Inline segment definition as JSON (or empty)."),
        _p("waves", "STRING", description="Ordered waves as JSON: channel, delay_days, only_non_responders."),
        _p("offer_choice", "STRING", description="RANK (first eligible offer) or EXPECTED_VALUE (the eligible "
                                                 "offer the recommendation engine values most)."),
        _p("control_share", "DOUBLE", description="Share of the audience held out as control group, 0..0.5."),
        _p("budget", "DOUBLE", description="Spending limit for contacts, currency units (null: none)."),
        _p("starts_at", "TIMESTAMP", description="Planned start (first wave)."),
        _p("ends_at", "TIMESTAMP", description="End of the response window."),
        _p("response_window_days", "INT64", description="Days after a contact a response or sale counts."),
        _p("created_at", "TIMESTAMP"),
        _p("updated_at", "TIMESTAMP"),
        _p("launched_at", "TIMESTAMP"),
    ),
    "A campaign: offers to a target audience in ordered waves, measured against a control group.",
)

CONTACT_POLICY = NodeType(
    "ContactPolicy",
    (
        _p("id", "STRING"),
        _p("definition", "STRING", description="The policy as JSON (docs/campaigns.md)."),
        _p("updated_at", "TIMESTAMP"),
        _p("version", "INT64"),
    ),
    "The contact policy campaigns obey (one node, id 'default').",
)

API_KEY = NodeType(
    "ApiKey",
    (
        _p("id", "STRING", description="Public key id (the part of the key before its secret)."),
        _p("name", "STRING", description="Who or what holds the key, e.g. 'service desk' or 'billing partner'."),
        _p("role", "STRING", description="admin, analyst, app, partner or customer."),
        _p("scopes", "STRING", description="Granted scopes, space-separated (e.g. 'personal_data')."),
        _p("operations", "STRING", description="Partner keys: GraphQL operations (root fields) allowed, "
                                               "space-separated; empty for other roles."),
        _p("customer_id", "STRING", description="Customer keys: the only customer the key reaches."),
        _p("secret_hash", "STRING", description="SHA-256 of the key's secret (the secret is never stored)."),
        _p("created_at", "TIMESTAMP"),
        _p("expires_at", "TIMESTAMP", description="Null: never expires."),
        _p("revoked_at", "TIMESTAMP", description="Set by `cdp keys revoke`; a revoked key is refused."),
    ),
    "An API credential (docs/security.md): its role and scopes, and the hash of its secret.",
)

HOLDS = RelType("HOLDS", "Customer", "Account", description="Customer holds a billing account.")
HAS_SUBSCRIPTION = RelType("HAS_SUBSCRIPTION", "Account", "Subscription")
OF_PRODUCT = RelType("OF_PRODUCT", "Subscription", "Product")
INCLUDES = RelType(
    "INCLUDES", "Product", "Product",
    (_p("quantity", "INT64"), _p("discount", "DOUBLE")),
    "A bundle includes a component product.",
)
REQUIRES = RelType("REQUIRES", "Product", "Product",
                   description="Catalog rule: the product is only offered to holders of the target.")
EXCLUDES = RelType("EXCLUDES", "Product", "Product",
                   description="Catalog rule: the two products cannot be held together.")
UPGRADES_TO = RelType(
    "UPGRADES_TO", "Product", "Product", (_p("discount", "DOUBLE"),),
    "Catalog rule: the target is an up-sell of the source (optional discount, 0..1).",
)
HAD_CONTACT = RelType("HAD_CONTACT", "Customer", "Contact")
VIA = RelType("VIA", "Contact", "Channel")
ABOUT = RelType("ABOUT", "Contact", "Product", description="What a contact was about, if known.")
HAS_EVENT = RelType("HAS_EVENT", "Account", "MonetaryEvent")
PREFERS = RelType(
    "PREFERS", "Customer", "Channel",
    (_p("rank", "INT64"), _p("source", "STRING"), _p("updated_at", "TIMESTAMP")),
    "Channel preference: rank 1 is the favourite.",
)

OFFERS = RelType("OFFERS", "Campaign", "Product", (_p("rank", "INT64"),),
                 "A product a campaign offers (rank 1 first).")
TARGETED = RelType(
    "TARGETED", "Campaign", "Customer",
    (_p("cohort", "STRING", description="TREATMENT or CONTROL (held out, never contacted)."),
     _p("assigned_at", "TIMESTAMP"),
     _p("offer", "STRING", description="Product offered to this customer."),
     _p("last_wave", "INT64", description="Last wave that contacted the customer (null: none)."),
     _p("opened_at", "TIMESTAMP"), _p("responded_at", "TIMESTAMP"), _p("converted_at", "TIMESTAMP"),
     _p("declined_at", "TIMESTAMP"),
     _p("revenue", "DOUBLE", description="Revenue attributed to the conversion."),
     _p("response_wave", "INT64", description="Wave the response is attributed to.")),
    "A customer in a launched campaign's audience, with its cohort and response.",
)
SENT = RelType("SENT", "Campaign", "Contact", description="A contact a campaign wave made.")

HAS_IDENTITY = RelType("HAS_IDENTITY", "Customer", "Identity", description="A source record merged into the customer.")
HAS_ATTRIBUTE = RelType("HAS_ATTRIBUTE", "Customer", "AttributeValue", description="A profile attribute value.",
                        target_key="INT64")

MODEL = GraphModel(
    nodes=(CUSTOMER, ACCOUNT, PRODUCT, SUBSCRIPTION, CHANNEL, CONTACT, MONETARY_EVENT, IDENTITY, ATTRIBUTE_VALUE,
           IMPORT_RUN, SEGMENT, CAMPAIGN, CONTACT_POLICY, API_KEY),
    relationships=(HOLDS, HAS_SUBSCRIPTION, OF_PRODUCT, INCLUDES, HAD_CONTACT, VIA, ABOUT, HAS_EVENT, PREFERS,
                   HAS_IDENTITY, HAS_ATTRIBUTE, REQUIRES, EXCLUDES, UPGRADES_TO, OFFERS, TARGETED, SENT),
)

CHANNELS: tuple[tuple[str, str, str, float], ...] = (
    # id, name, kind, cost per contact (currency units)
    ("STORE", "Store", "ASSISTED", 12.0),
    ("CALL_CENTRE", "Call centre", "ASSISTED", 4.5),
    ("SMS", "SMS", "MESSAGING", 0.05),
    ("APP", "Self-service app", "DIGITAL", 0.02),
    ("WEB", "Web", "DIGITAL", 0.02),
    ("EMAIL", "E-mail", "MESSAGING", 0.01),
    ("OUTBOUND_CALL", "Outbound call", "OUTBOUND", 3.5),
    ("AGENT", "Field agent / account manager", "ASSISTED", 25.0),
)
"""The channel catalogue every store starts with."""
