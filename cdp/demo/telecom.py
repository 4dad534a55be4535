"""Seeded generator of realistic telecom demo data for the customer graph.

``generate(customers, seed=...)`` builds one Arrow table per node label and per
relationship type of :data:`graph.model.MODEL` (schemas match
``arrow_schema()`` exactly) plus a pandas ``truth`` frame holding the latent
per-customer churn model, so analytics can later be checked against what was
planted. The same ``customers``, ``seed`` and ``as_of`` always give identical
tables; everything is vectorised with numpy and pyarrow (1,000,000 customers
take about 20 s and 4 GB on two cores).

What the data looks like (dates are relative to ``as_of``):

* Customers: ~90% CONSUMER, ~8% BUSINESS (with a company name), ~2% KEY_ACCOUNT
  (company name and account manager). Dutch names, addresses in ~30 cities of
  skewed size, unique national id, e-mail and ``+316`` phone number, joined
  within the last ten years. Status is CHURNED exactly when all accounts are
  closed, ACTIVE otherwise.
* Accounts: one for most consumers, 1-3 for business, 2-6 for key accounts;
  POSTPAID / PREPAID / BUSINESS with matching payment method and contract
  (prepaid never has a contract; 12/24-month contracts end a whole number of
  terms after ``opened_on``; some have run out).
* Catalogue: 31 products with readable ids (``P-MOB-10GB``, ``P-BND-FAMILY``):
  voice, data, broadband, TV, value-added services, devices and four bundles
  whose components are ``INCLUDES`` relationships. Two products are RETIRED
  (kept by grandfathered subscriptions), one is PLANNED.
* Subscriptions: packages typical for the account type (mobile voice+data,
  broadband+TV, bundles, business lines), including cancelled earlier plans.
* Churn: a latent probability, logistic in short tenure, being out of
  contract, complaints, low satisfaction, paying much for little usage, owning
  a single product and not owning a bundle. Churners close every account and
  cancel every subscription on their churn day (within the last two years).
* Contacts over the last two years: inquiries, complaints (more for unhappy
  customers, bunched before churn), purchases, service requests, retention
  contacts and campaign offers (SMS wave, then an outbound-call wave for the
  customers who did not answer), with channels, outcomes, satisfaction and
  resolution times.
* Ongoing problems (the planted "unhappy now" group, :func:`_ongoing_problems`): about 8% of
  active customers (more among broadband holders and customers whose contract ran out) made
  2-4 complaints in the last 15-60 days, mostly still open or escalated and rated low. They
  have not churned (yet): drawn after churn from a stream of their own, so everything else is
  what it would be without them. They are the members of the retention examples of README.md
  and docs/segments.md (broadband, two complaints in 90 days, out of contract).
* Past campaigns (``Campaign``, ``OFFERS``, ``TARGETED``, ``SENT``): the eight campaigns of
  :data:`CAMPAIGNS`, COMPLETED, each with its audience as a target definition
  (:data:`AUDIENCE_DEFINITIONS`), so ``campaign { audience }`` rebuilds who it would reach now.
* Consents (``cdp.privacy.consent``; ``AttributeValue`` rows as ``recordConsent`` writes them, source
  ``WEB``, ``STORE``, ``CALL_CENTRE`` or ``APP``, with the time of the statement), drawn from a
  stream of their own (:func:`_consents`), so nothing else depends on them:
  at sign-up ~60% grant MARKETING and ~18% refuse it (the other ~22% said nothing: soft
  opt-in), through the channel they joined by (web ~45%, store ~35%, call centre ~20%); on the
  sign-up form ~40% of those with an e-mail address say yes to e-mail offers
  (``consent_email_marketing``) and ~10% no to SMS offers (``consent_sms_marketing``); later,
  ~7% join the do-not-call register (``consent_outbound_call`` DENIED: outbound calls for
  every purpose), ~12% allow DATA_SHARING with partners (~15% of them withdraw it again within
  half a year), ~2% refuse PROFILING (no scores, no offers), and ~6% of the MARKETING grants
  are withdrawn (REVOKED in the app), ~18% among the most dissatisfied customers (latent
  dissatisfaction above one standard deviation).
* Monetary events: monthly INVOICE and PAYMENT on postpaid and business
  accounts over the last six months, TOP_UP on prepaid accounts, PURCHASE for
  devices bought in purchase contacts, REFUND after some resolved complaints.
  Amounts are positive; ``kind`` says which way the money moves.

Ground truth (``DemoData.truth``, one row per customer): ``customer_id``,
``tier``, ``churned``, ``churn_probability``, ``churned_on`` and the signals the
probability was computed from: ``tenure_years``, ``contract_type`` and
``out_of_contract`` (first account), ``complaints`` (the customer's COMPLAINT
contacts but those of an ongoing problem, counted in ``problem_complaints``), ``expected_satisfaction``, ``dissatisfaction`` (latent),
``usage_share`` and ``price_to_usage`` (latent usage, not in the graph),
``products``, ``has_bundle`` and ``monthly_spend`` (list price net of discount).

Parquet files written by :func:`write_parquet` are read back, schema-checked,
by :func:`read_parquet`.
"""

from __future__ import annotations

import datetime
import json
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cdp.errors import InvalidInput
from cdp.customers.provenance import value_ids
from graph.model import (
    ACCOUNT_STATUS_VALUES,
    ACCOUNT_TYPE_VALUES,
    ARROW_TYPES,
    CHANNELS,
    CONTACT_DIRECTION_VALUES,
    CONTACT_KIND_VALUES,
    CONTACT_OUTCOME_VALUES,
    CONTRACT_TYPE_VALUES,
    CUSTOMER_STATUS_VALUES,
    GENDER_VALUES,
    MODEL,
    MONETARY_KIND_VALUES,
    PAYMENT_METHOD_VALUES,
    PRODUCT_CATEGORY_VALUES,
    PRODUCT_LIFECYCLE_VALUES,
    SUBSCRIPTION_STATUS_VALUES,
    TIER_VALUES,
)

__all__ = ["DemoData", "generate", "read_parquet", "write_parquet"]

Progress = Callable[[str, int], None]

DAY_US = 86_400_000_000
"""Microseconds per day: timestamps are int64 microseconds since 1970-01-01."""
CONTACT_WINDOW_DAYS = 730
"""Contacts (and churn) happen within this many days before ``as_of``."""
BILLING_MONTHS = 6
"""Invoices and payments cover this many months before ``as_of``."""
MAX_TENURE_DAYS = 3650
"""Customers joined at most this many days before ``as_of``."""
MAX_CUSTOMERS = 10_000_000


# --------------------------------------------------------------------------
# Public data container
# --------------------------------------------------------------------------


@dataclass
class DemoData:
    """Generated demo data: Arrow tables in the model's schemas plus ground truth.

    ``nodes`` maps every node label of ``MODEL`` to its table, ``relationships``
    every relationship type. ``truth`` has one row per customer: ``customer_id``,
    ``churned``, ``churn_probability`` and the signals the probability was
    computed from (see :func:`generate`).
    """

    nodes: dict[str, pa.Table]
    relationships: dict[str, pa.Table]
    truth: pd.DataFrame

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}={t.num_rows}" for name, t in {**self.nodes, **self.relationships}.items())
        return f"DemoData({counts})"

    def row_count(self) -> int:
        """Total number of rows over all node and relationship tables (not ``truth``)."""
        return sum(t.num_rows for t in self.nodes.values()) + sum(
            t.num_rows for t in self.relationships.values()
        )


# --------------------------------------------------------------------------
# Enumerations, by position in the model's *_VALUES tuples
# --------------------------------------------------------------------------


def _code(values: tuple[str, ...], name: str) -> int:
    """Position of ``name`` in a model enumeration; ValueError if it is not declared."""
    return values.index(name)


def _shares(values: tuple[str, ...], shares: dict[str, float]) -> np.ndarray:
    """Probability vector over ``values`` (model order) from a name -> share map."""
    p = np.zeros(len(values))
    for name, share in shares.items():
        p[_code(values, name)] = share
    return p / p.sum()


KEY_ACCOUNT = _code(TIER_VALUES, "KEY_ACCOUNT")
BUSINESS = _code(TIER_VALUES, "BUSINESS")
CONSUMER = _code(TIER_VALUES, "CONSUMER")

POSTPAID = _code(ACCOUNT_TYPE_VALUES, "POSTPAID")
PREPAID = _code(ACCOUNT_TYPE_VALUES, "PREPAID")
BUSINESS_ACCOUNT = _code(ACCOUNT_TYPE_VALUES, "BUSINESS")

NO_CONTRACT = _code(CONTRACT_TYPE_VALUES, "NO_CONTRACT")
CONTRACT_MONTHS = {_code(CONTRACT_TYPE_VALUES, "MONTHS_12"): 12, _code(CONTRACT_TYPE_VALUES, "MONTHS_24"): 24}

ACCOUNT_ACTIVE = _code(ACCOUNT_STATUS_VALUES, "ACTIVE")
ACCOUNT_SUSPENDED = _code(ACCOUNT_STATUS_VALUES, "SUSPENDED")
ACCOUNT_CLOSED = _code(ACCOUNT_STATUS_VALUES, "CLOSED")

SUB_ACTIVE = _code(SUBSCRIPTION_STATUS_VALUES, "ACTIVE")
SUB_SUSPENDED = _code(SUBSCRIPTION_STATUS_VALUES, "SUSPENDED")
SUB_CANCELLED = _code(SUBSCRIPTION_STATUS_VALUES, "CANCELLED")

CHANNEL_IDS: tuple[str, ...] = tuple(c[0] for c in CHANNELS)
STORE, CALL_CENTRE, SMS, APP, WEB, EMAIL, OUTBOUND_CALL, AGENT = (
    CHANNEL_IDS.index(c)
    for c in ("STORE", "CALL_CENTRE", "SMS", "APP", "WEB", "EMAIL", "OUTBOUND_CALL", "AGENT")
)
CHANNEL_HOURS: dict[str, tuple[int, int]] = {
    "STORE": (9, 18), "CALL_CENTRE": (8, 21), "SMS": (10, 19), "APP": (6, 24),
    "WEB": (6, 24), "EMAIL": (0, 24), "OUTBOUND_CALL": (10, 20), "AGENT": (9, 17),
}
"""Opening hours [start, end) in which contacts through each channel happen."""


# --------------------------------------------------------------------------
# Reference lists (small, built in)
# --------------------------------------------------------------------------

FEMALE_NAMES = (
    "Emma", "Julia", "Sophie", "Anna", "Lisa", "Sanne", "Eva", "Fleur", "Lotte", "Iris",
    "Noor", "Sara", "Laura", "Anouk", "Femke", "Maria", "Linda", "Ingrid", "Marieke",
    "Esther", "Petra", "Monique", "Sandra", "Yvonne", "Fatima", "Nora", "Mila", "Tess",
    "Charlotte", "Wilma", "Annemarie", "Joyce",
)
MALE_NAMES = (
    "Daan", "Sem", "Lucas", "Levi", "Finn", "Milan", "Thijs", "Jesse", "Bram", "Lars",
    "Ruben", "Tim", "Jan", "Peter", "Kees", "Henk", "Willem", "Mark", "Erik", "Dennis",
    "Jeroen", "Sander", "Mohamed", "Ahmed", "Youssef", "Niels", "Bas", "Koen", "Stefan",
    "Hans", "Gerrit", "Martijn",
)
LAST_NAMES = (
    "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen",
    "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters",
    "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits",
    "de Graaf", "van der Meer", "van der Linden", "Kok", "Jacobs", "de Haan", "Vermeulen",
    "van den Heuvel", "van der Veen", "van den Broek", "de Bruijn", "de Bruin",
    "van der Heijden", "Schouten", "van Beek", "Willems", "van Vliet", "Hoekstra", "Maas",
    "Verhoeven", "Koster", "van Dam", "Prins", "Blom", "Huisman", "Peeters", "Yilmaz",
    "El Amrani", "Kaya",
)
CITIES: tuple[tuple[str, int, int, int], ...] = (
    # name, inhabitants (thousands), lowest and highest 4-digit postcode
    ("Amsterdam", 930, 1011, 1109), ("Rotterdam", 660, 3011, 3089),
    ("Den Haag", 560, 2491, 2599), ("Utrecht", 370, 3451, 3585),
    ("Eindhoven", 240, 5611, 5658), ("Groningen", 235, 9711, 9747),
    ("Tilburg", 225, 5011, 5049), ("Almere", 220, 1311, 1364), ("Breda", 185, 4811, 4839),
    ("Nijmegen", 180, 6511, 6546), ("Apeldoorn", 165, 7311, 7339), ("Arnhem", 165, 6811, 6846),
    ("Haarlem", 163, 2011, 2037), ("Enschede", 160, 7511, 7548),
    ("Amersfoort", 160, 3811, 3829), ("Zaandam", 157, 1501, 1509),
    ("'s-Hertogenbosch", 157, 5211, 5237), ("Hoofddorp", 80, 2131, 2136),
    ("Zwolle", 131, 8011, 8046), ("Leiden", 127, 2311, 2334), ("Maastricht", 121, 6211, 6229),
    ("Dordrecht", 120, 3311, 3329), ("Zoetermeer", 126, 2711, 2729), ("Ede", 120, 6711, 6718),
    ("Alphen aan den Rijn", 113, 2401, 2409), ("Alkmaar", 110, 1811, 1827),
    ("Emmen", 107, 7811, 7833), ("Delft", 104, 2611, 2629), ("Venlo", 102, 5911, 5928),
    ("Deventer", 101, 7411, 7429), ("Leeuwarden", 125, 8911, 8939),
)
STREETS = (
    "Kerkstraat", "Dorpsstraat", "Schoolstraat", "Molenweg", "Stationsweg", "Julianastraat",
    "Beatrixstraat", "Wilhelminastraat", "Hoofdstraat", "Nieuwstraat", "Industrieweg",
    "Parallelweg", "Kastanjelaan", "Eikenlaan", "Lindelaan", "Marktplein",
    "Prins Bernhardlaan", "Oranjestraat", "Havenstraat", "Zuiderweg", "Noordeinde",
    "Achterweg", "Sportlaan", "Tulpstraat", "Rozenstraat", "Merelstraat", "Spoorstraat",
    "Kanaalweg", "Veldweg", "Burgemeester de Withstraat",
)
POSTCODE_LETTERS = tuple("ABCDEGHJKLMNPRSTVWXZ")
LANGUAGES = {"nl": 0.87, "en": 0.09, "de": 0.015, "tr": 0.015, "ar": 0.01}
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example")
COMPANY_WORDS = (
    "Noord", "Delta", "Polder", "Holland", "Rijn", "Maas", "Oranje", "Zuid", "Vecht",
    "Lage Landen", "Duin", "Kennemer", "Veluwe", "Brabant", "IJssel", "Amstel",
)
COMPANY_SECTORS = (
    "Logistiek", "Bouw", "Advies", "Installatietechniek", "Transport", "Zorg", "Retail",
    "ICT", "Accountants", "Bakkerij", "Makelaardij", "Horeca",
)
KEY_ACCOUNT_SUFFIXES = ("Groep N.V.", "Holding B.V.", "Industries N.V.", "Logistics B.V.", "Energie N.V.")
ACCOUNT_MANAGERS = (
    "Marloes de Wit", "Rob Verbeek", "Sabine Kuipers", "Tom van Rijn", "Esra Demir",
    "Joost Hermans", "Karin Bosman", "Pieter Schipper", "Anand Ramdin", "Linda Vos",
)


# --------------------------------------------------------------------------
# Product catalogue
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogItem:
    """One product of the demo catalogue; dates are years before ``as_of``."""

    id: str
    name: str
    category: str
    monthly_price: float
    one_off_price: float
    monthly_cost: float
    lifecycle: str
    launched_years_ago: float
    description: str
    retired_years_ago: float | None = None
    successor: str | None = None


BUNDLE_COMPONENTS: dict[str, tuple[tuple[str, int], ...]] = {
    "P-BND-DUO": (("P-BB-500", 1), ("P-TV-START", 1)),
    "P-BND-MOBILE": (("P-VOI-UNL", 1), ("P-MOB-30GB", 1), ("P-VAS-ROAM", 1)),
    "P-BND-FAMILY": (("P-BB-500", 1), ("P-TV-PLUS", 1), ("P-VOI-UNL", 2), ("P-MOB-10GB", 2)),
    "P-BND-BUSINESS": (("P-BB-1000", 1), ("P-VOI-UNL", 5), ("P-MOB-UNL", 5), ("P-VAS-SEC", 1)),
}
"""Bundle id -> (component id, quantity); the bundle discount is in BUNDLE_DISCOUNTS."""
BUNDLE_DISCOUNTS = {"P-BND-DUO": 0.15, "P-BND-MOBILE": 0.20, "P-BND-FAMILY": 0.25, "P-BND-BUSINESS": 0.30}

_BROADBAND_PLANS = ("P-BB-100", "P-BB-500", "P-BB-1000", "P-BB-4000")
_VOICE_PLANS = ("P-VOI-BASIC", "P-VOI-UNL", "P-VOI-INTL")
_DATA_PLANS = ("P-MOB-1GB", "P-MOB-5GB", "P-MOB-10GB", "P-MOB-30GB", "P-MOB-UNL")
CATALOG_REQUIRES: dict[str, tuple[str, ...]] = {
    "P-TV-START": _BROADBAND_PLANS, "P-TV-PLUS": _BROADBAND_PLANS, "P-TV-SPORT": _BROADBAND_PLANS,
    "P-DEV-ROUTER": _BROADBAND_PLANS, "P-DEV-TVBOX": ("P-TV-START", "P-TV-PLUS"),
    "P-VAS-ROAM": _VOICE_PLANS, "P-VAS-INSURE": ("P-DEV-PHONE-BASIC", "P-DEV-PHONE-MID", "P-DEV-PHONE-TOP"),
}
"""Catalog rule REQUIRES: product -> products of which the customer must hold one."""
CATALOG_EXCLUDES: tuple[tuple[str, str], ...] = tuple(
    (group[i], group[j]) for group in (_BROADBAND_PLANS, _VOICE_PLANS, _DATA_PLANS, ("P-TV-START", "P-TV-PLUS"))
    for i in range(len(group)) for j in range(i + 1, len(group)))
"""Catalog rule EXCLUDES: competing plans cannot be held together."""
CATALOG_UPGRADES: tuple[tuple[str, str, float | None], ...] = (
    ("P-VOI-BASIC", "P-VOI-UNL", None), ("P-VOI-UNL", "P-VOI-INTL", None),
    ("P-VOI-CLASSIC", "P-VOI-UNL", 0.2), ("P-MOB-3GB", "P-MOB-5GB", 0.2),
    ("P-MOB-1GB", "P-MOB-5GB", None), ("P-MOB-5GB", "P-MOB-10GB", None),
    ("P-MOB-10GB", "P-MOB-30GB", 0.1), ("P-MOB-30GB", "P-MOB-UNL", 0.1),
    ("P-BB-100", "P-BB-500", 0.1), ("P-BB-500", "P-BB-1000", 0.1), ("P-BB-1000", "P-BB-4000", None),
    ("P-TV-START", "P-TV-PLUS", None),
)
"""Catalog rule UPGRADES_TO: (from, to, discount on the target)."""
CATALOG_ELIGIBILITY: dict[str, dict[str, object]] = {
    "P-DEV-PHONE-BASIC": {"eligible_account_types": "POSTPAID,BUSINESS"},
    "P-DEV-PHONE-MID": {"eligible_account_types": "POSTPAID,BUSINESS"},
    "P-DEV-PHONE-TOP": {"eligible_account_types": "POSTPAID,BUSINESS", "min_tenure_months": 12},
    "P-BND-BUSINESS": {"eligible_account_types": "BUSINESS", "eligible_tiers": "BUSINESS,KEY_ACCOUNT"},
    "P-BND-FAMILY": {"eligible_tiers": "CONSUMER"},
    "P-MOB-UNL": {"eligible_contract": "OUT_OF_CONTRACT"},
}
"""Catalog eligibility rules per product (properties of Product)."""

_BASE_CATALOG: tuple[CatalogItem, ...] = (
    CatalogItem("P-VOI-BASIC", "Voice Basic 150 min", "VOICE", 6.00, 0, 1.80, "ACTIVE", 14,
                "150 minutes and 50 SMS per month."),
    CatalogItem("P-VOI-UNL", "Voice Unlimited", "VOICE", 12.50, 0, 3.10, "ACTIVE", 12,
                "Unlimited calls and SMS within the EU."),
    CatalogItem("P-VOI-INTL", "Voice Unlimited International", "VOICE", 19.50, 0, 6.40, "ACTIVE", 9,
                "Unlimited calls including 40 countries outside the EU."),
    CatalogItem("P-VOI-CLASSIC", "Voice Classic 300 min", "VOICE", 9.00, 0, 2.90, "RETIRED", 15,
                "Legacy plan: 300 minutes per month.", 5, "P-VOI-UNL"),
    CatalogItem("P-MOB-1GB", "Mobile Data 1 GB", "MOBILE_DATA", 5.00, 0, 1.10, "ACTIVE", 13,
                "1 GB of 4G/5G data per month."),
    CatalogItem("P-MOB-3GB", "Mobile Data 3 GB", "MOBILE_DATA", 9.00, 0, 2.00, "RETIRED", 13,
                "Legacy plan: 3 GB of 4G data per month.", 4, "P-MOB-5GB"),
    CatalogItem("P-MOB-5GB", "Mobile Data 5 GB", "MOBILE_DATA", 10.00, 0, 2.30, "ACTIVE", 12,
                "5 GB of 4G/5G data per month."),
    CatalogItem("P-MOB-10GB", "Mobile Data 10 GB", "MOBILE_DATA", 15.00, 0, 3.40, "ACTIVE", 11,
                "10 GB of 4G/5G data per month."),
    CatalogItem("P-MOB-30GB", "Mobile Data 30 GB", "MOBILE_DATA", 22.50, 0, 5.60, "ACTIVE", 7,
                "30 GB of 5G data per month."),
    CatalogItem("P-MOB-UNL", "Mobile Data Unlimited", "MOBILE_DATA", 32.50, 0, 9.80, "ACTIVE", 4,
                "Unlimited 5G data (fair use)."),
    CatalogItem("P-BB-100", "Fibre 100 Mbit/s", "BROADBAND", 39.50, 25.0, 14.00, "ACTIVE", 12,
                "Fibre internet, 100 Mbit/s symmetric."),
    CatalogItem("P-BB-500", "Fibre 500 Mbit/s", "BROADBAND", 49.50, 25.0, 16.50, "ACTIVE", 8,
                "Fibre internet, 500 Mbit/s symmetric."),
    CatalogItem("P-BB-1000", "Fibre 1 Gbit/s", "BROADBAND", 59.50, 25.0, 19.00, "ACTIVE", 5,
                "Fibre internet, 1 Gbit/s symmetric."),
    CatalogItem("P-BB-4000", "Fibre 4 Gbit/s", "BROADBAND", 79.50, 25.0, 27.00, "PLANNED", -0.33,
                "Fibre internet, 4 Gbit/s; launching soon."),
    CatalogItem("P-TV-START", "TV Start", "TV", 12.50, 0, 6.00, "ACTIVE", 12,
                "60 channels, 7 days replay."),
    CatalogItem("P-TV-PLUS", "TV Plus", "TV", 22.50, 0, 10.50, "ACTIVE", 8,
                "150 channels, replay and recording."),
    CatalogItem("P-TV-SPORT", "TV Sport", "TV", 17.50, 0, 11.00, "ACTIVE", 6,
                "Live football, F1 and other sports."),
    CatalogItem("P-VAS-ROAM", "Roaming Pack World", "VALUE_ADDED", 9.95, 0, 4.20, "ACTIVE", 6,
                "Calls and 5 GB data outside the EU."),
    CatalogItem("P-VAS-CLOUD", "Cloud Storage 1 TB", "VALUE_ADDED", 4.99, 0, 1.10, "ACTIVE", 5,
                "1 TB of cloud storage."),
    CatalogItem("P-VAS-SEC", "Security Suite", "VALUE_ADDED", 3.99, 0, 0.80, "ACTIVE", 7,
                "Antivirus and safe browsing for 5 devices."),
    CatalogItem("P-VAS-MUSIC", "Music Streaming", "VALUE_ADDED", 10.99, 0, 7.50, "ACTIVE", 5,
                "Music streaming subscription."),
    CatalogItem("P-VAS-INSURE", "Device Insurance", "VALUE_ADDED", 7.50, 0, 3.00, "ACTIVE", 9,
                "Theft and damage cover for one phone."),
    CatalogItem("P-DEV-PHONE-BASIC", "Smartphone Basic", "DEVICE", 0, 199.0, 0, "ACTIVE", 2,
                "Entry-level 5G smartphone."),
    CatalogItem("P-DEV-PHONE-MID", "Smartphone Mid-range", "DEVICE", 0, 499.0, 0, "ACTIVE", 2,
                "Mid-range 5G smartphone."),
    CatalogItem("P-DEV-PHONE-TOP", "Smartphone Flagship", "DEVICE", 0, 1199.0, 0, "ACTIVE", 1,
                "Flagship 5G smartphone."),
    CatalogItem("P-DEV-ROUTER", "Wi-Fi 6 Router", "DEVICE", 0, 129.0, 0, "ACTIVE", 3,
                "Mesh-capable Wi-Fi 6 router."),
    CatalogItem("P-DEV-TVBOX", "TV Box 4K", "DEVICE", 0, 89.0, 0, "ACTIVE", 4,
                "4K TV receiver with recording."),
)
_BUNDLES: tuple[tuple[str, str, float, str], ...] = (
    # id, name, launched years ago, description
    ("P-BND-DUO", "Internet + TV", 7, "Fibre 500 Mbit/s with TV Start."),
    ("P-BND-MOBILE", "Mobile Complete", 6, "Unlimited calls, 30 GB and world roaming."),
    ("P-BND-FAMILY", "Family Bundle", 6, "Fibre, TV Plus and two mobile lines."),
    ("P-BND-BUSINESS", "Business Connect", 4, "Fibre 1 Gbit/s, five mobile lines and security."),
)


def catalog() -> tuple[CatalogItem, ...]:
    """The demo product catalogue: base products, then bundles priced from their components.

    A bundle's monthly price is the sum of its components' prices (times
    quantity) less the bundle discount; its cost is the components' cost.
    """
    by_id = {item.id: item for item in _BASE_CATALOG}
    bundles = []
    for bundle_id, name, launched, description in _BUNDLES:
        parts = BUNDLE_COMPONENTS[bundle_id]
        list_price = sum(by_id[c].monthly_price * q for c, q in parts)
        cost = sum(by_id[c].monthly_cost * q for c, q in parts)
        price = round(list_price * (1 - BUNDLE_DISCOUNTS[bundle_id]), 2)
        bundles.append(CatalogItem(bundle_id, name, "BUNDLE", price, 0, round(cost, 2), "ACTIVE",
                                   launched, description))
    return _BASE_CATALOG + tuple(bundles)


@dataclass
class _Catalog:
    """The catalogue as numpy columns, indexed by product position."""

    items: tuple[CatalogItem, ...]
    index: dict[str, int]
    category: np.ndarray  # int codes into PRODUCT_CATEGORY_VALUES
    price: np.ndarray
    one_off: np.ndarray
    launched: np.ndarray  # day numbers
    retired: np.ndarray  # day numbers, huge when not retired
    successor: np.ndarray  # product index, or itself
    mobile: np.ndarray  # bool: product gives voice or mobile data
    broadband: np.ndarray
    tv: np.ndarray

    def ids(self, *names: str) -> np.ndarray:
        """Product positions of the given ids (KeyError on an unknown id)."""
        return np.array([self.index[n] for n in names], dtype=np.int64)


def _catalog(as_of_day: int) -> _Catalog:
    """Catalogue columns with launch and retirement days relative to ``as_of_day``."""
    items = catalog()
    for item in items:  # ValueError here means the catalogue uses an undeclared enumeration value
        _code(PRODUCT_LIFECYCLE_VALUES, item.lifecycle)
    index = {item.id: i for i, item in enumerate(items)}
    category = np.array([_code(PRODUCT_CATEGORY_VALUES, it.category) for it in items])
    never = np.iinfo(np.int64).max // 4
    cat = _Catalog(
        items=items,
        index=index,
        category=category,
        price=np.array([it.monthly_price for it in items]),
        one_off=np.array([it.one_off_price for it in items]),
        launched=np.array([as_of_day - round(it.launched_years_ago * 365.25) for it in items]),
        retired=np.array([never if it.retired_years_ago is None
                          else as_of_day - round(it.retired_years_ago * 365.25) for it in items]),
        successor=np.array([index[it.successor] if it.successor else i for i, it in enumerate(items)]),
        mobile=np.isin(category, [_code(PRODUCT_CATEGORY_VALUES, c) for c in ("VOICE", "MOBILE_DATA")]),
        broadband=category == _code(PRODUCT_CATEGORY_VALUES, "BROADBAND"),
        tv=category == _code(PRODUCT_CATEGORY_VALUES, "TV"),
    )
    for bundle_id, parts in BUNDLE_COMPONENTS.items():
        b = index[bundle_id]
        for component, _ in parts:
            c = index[component]
            cat.mobile[b] |= cat.mobile[c]
            cat.broadband[b] |= cat.broadband[c]
            cat.tv[b] |= cat.tv[c]
    return cat


# --------------------------------------------------------------------------
# Subscription packages
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slot:
    """One product choice in a package.

    ``options`` are (product id, weight); the account takes the slot with
    ``probability`` (per line when ``per_line``). ``main`` slots start when
    the account opens; the others (add-ons) start later and are sometimes
    cancelled. ``changeable`` slots sometimes replaced an earlier plan, which
    then appears as a cancelled subscription.
    """

    options: tuple[tuple[str, float], ...]
    probability: float
    main: bool = False
    per_line: bool = False
    changeable: bool = False


@dataclass(frozen=True)
class _Package:
    """A typical combination of products for one account type."""

    name: str
    weight: float
    slots: tuple[_Slot, ...]


_VOICE = (("P-VOI-BASIC", .30), ("P-VOI-UNL", .50), ("P-VOI-INTL", .12), ("P-VOI-CLASSIC", .08))
_DATA = (("P-MOB-1GB", .10), ("P-MOB-3GB", .06), ("P-MOB-5GB", .22), ("P-MOB-10GB", .30),
         ("P-MOB-30GB", .20), ("P-MOB-UNL", .12))
_BROADBAND = (("P-BB-100", .35), ("P-BB-500", .45), ("P-BB-1000", .20))
_TV = (("P-TV-START", .5), ("P-TV-PLUS", .4), ("P-TV-SPORT", .1))
_MOBILE_EXTRAS = (("P-VAS-ROAM", .4), ("P-VAS-MUSIC", .3), ("P-VAS-CLOUD", .1), ("P-VAS-INSURE", .2))
_HOME_EXTRAS = (("P-VAS-SEC", .5), ("P-VAS-CLOUD", .3), ("P-VAS-MUSIC", .2))

PACKAGES: dict[int, tuple[_Package, ...]] = {
    POSTPAID: (
        _Package("mobile", .30, (
            _Slot(_VOICE, .95, main=True, changeable=True),
            _Slot(_DATA, .90, main=True, changeable=True),
            _Slot(_MOBILE_EXTRAS, .35))),
        _Package("home", .20, (
            _Slot(_BROADBAND, 1.0, main=True, changeable=True),
            _Slot(_TV, .65),
            _Slot((("P-TV-SPORT", 1.0),), .10),
            _Slot(_HOME_EXTRAS, .30))),
        _Package("internet_tv", .18, (
            _Slot((("P-BND-DUO", 1.0),), 1.0, main=True),
            _Slot(_VOICE, .55, changeable=True),
            _Slot(_DATA, .55, changeable=True),
            _Slot((("P-TV-SPORT", 1.0),), .12),
            _Slot(_HOME_EXTRAS, .20))),
        _Package("family", .14, (
            _Slot((("P-BND-FAMILY", 1.0),), 1.0, main=True),
            _Slot((("P-TV-SPORT", 1.0),), .15),
            _Slot(_MOBILE_EXTRAS, .40),
            _Slot(_DATA, .25))),
        _Package("mobile_complete", .18, (
            _Slot((("P-BND-MOBILE", 1.0),), 1.0, main=True),
            _Slot(_HOME_EXTRAS, .20),
            _Slot(_BROADBAND, .25),
            _Slot(_TV, .10))),
    ),
    PREPAID: (
        _Package("prepaid_voice_data", .70, (
            _Slot((("P-VOI-BASIC", .7), ("P-VOI-UNL", .3)), 1.0, main=True),
            _Slot((("P-MOB-1GB", .4), ("P-MOB-5GB", .4), ("P-MOB-10GB", .2)), .80))),
        _Package("prepaid_data", .30, (
            _Slot((("P-MOB-1GB", .3), ("P-MOB-5GB", .5), ("P-MOB-10GB", .2)), 1.0, main=True),
            _Slot((("P-VAS-ROAM", 1.0),), .10))),
    ),
    BUSINESS_ACCOUNT: (
        _Package("business_connect", .45, (
            _Slot((("P-BND-BUSINESS", 1.0),), 1.0, main=True),
            _Slot((("P-VOI-UNL", .7), ("P-VOI-INTL", .3)), .6, per_line=True),
            _Slot((("P-MOB-10GB", .3), ("P-MOB-30GB", .4), ("P-MOB-UNL", .3)), .6, per_line=True),
            _Slot((("P-VAS-CLOUD", 1.0),), .40))),
        _Package("business_custom", .55, (
            _Slot((("P-BB-500", .5), ("P-BB-1000", .5)), .8, main=True, changeable=True),
            _Slot((("P-VOI-UNL", .7), ("P-VOI-INTL", .3)), 1.0, main=True, per_line=True),
            _Slot((("P-MOB-10GB", .3), ("P-MOB-30GB", .4), ("P-MOB-UNL", .3)), .85, main=True,
                  per_line=True, changeable=True),
            _Slot((("P-VAS-SEC", 1.0),), .50),
            _Slot((("P-VAS-ROAM", 1.0),), .15, per_line=True))),
    ),
}
"""Packages by account type; business customers on a POSTPAID account get consumer packages."""


# --------------------------------------------------------------------------
# Arrow column builders
# --------------------------------------------------------------------------


def _fixed_width_text(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Strings ``prefix`` + ``numbers`` zero-padded to ``width`` digits, built without Python loops.

    ``numbers`` must be non-negative and below ``10**width``.
    """
    numbers = np.asarray(numbers, dtype=np.int64)
    count = len(numbers)
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    row = len(head) + width
    chars = np.empty((count, row), dtype=np.uint8)
    chars[:, : len(head)] = head
    rest = numbers.copy()
    for pos in range(row - 1, len(head) - 1, -1):
        chars[:, pos] = rest % 10 + 48
        rest //= 10
    offsets = np.arange(0, (count + 1) * row, row, dtype=np.int64)
    if offsets[-1] < 2**31:
        return pa.StringArray.from_buffers(count, pa.py_buffer(offsets.astype(np.int32)),
                                           pa.py_buffer(chars))
    large = pa.LargeStringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(chars))
    return large.cast(pa.string())


def _ids(prefix: str, count: int, width: int) -> pa.Array:
    """Sequential ids ``prefix`` + 1..count, at least ``width`` digits (more if needed)."""
    width = max(width, len(str(count)))
    return _fixed_width_text(prefix, np.arange(1, count + 1), width)


def _pick(values: Sequence[str], codes: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """String column ``values[codes]``; null where ``valid`` is False."""
    mask = None if valid is None else ~valid
    return pc.take(pa.array(list(values), pa.string()), pa.array(codes, pa.int32(), mask=mask))


def _dates(days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """date32 column from day numbers since 1970-01-01; null where ``valid`` is False."""
    mask = None if valid is None else ~valid
    return pa.array(days.astype(np.int32), pa.date32(), mask=mask)


def _timestamps(us: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Naive timestamp('us') column from microseconds since 1970-01-01 (UTC)."""
    mask = None if valid is None else ~valid
    return pa.array(us.astype(np.int64), pa.timestamp("us"), mask=mask)


def _money(amounts: np.ndarray) -> pa.Array:
    """float64 column of amounts rounded to cents."""
    return pa.array(np.round(amounts, 2), pa.float64())


def _table(schema: pa.Schema, columns: dict[str, pa.Array]) -> pa.Table:
    """Table in ``schema``'s column order; KeyError if a column is missing, ArrowInvalid on a type clash."""
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def _relationship(rel_type: str, from_ids: pa.Array, to_ids: pa.Array, /, **props: pa.Array) -> pa.Table:
    """Relationship table ``from``/``to`` (+ properties) in the model's schema."""
    return _table(MODEL.relationship(rel_type).arrow_schema(), {"from": from_ids, "to": to_ids, **props})


def _slug(text: str) -> str:
    """Lower-case ASCII letters and digits of ``text`` ("van Dijk" -> "vandijk")."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


# --------------------------------------------------------------------------
# Random helpers (domain-neutral, vectorised)
# --------------------------------------------------------------------------


def _choose(rng: np.random.Generator, p: np.ndarray | Sequence[float], size: int) -> np.ndarray:
    """``size`` draws of positions 0..len(p)-1 with probabilities ``p`` (normalised)."""
    p = np.asarray(p, dtype=float)
    cdf = np.cumsum(p / p.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(p) - 1)


def _choose_by_group(rng: np.random.Generator, groups: np.ndarray,
                     table: dict[int, np.ndarray]) -> np.ndarray:
    """For each row draw a position with the probabilities ``table[groups[row]]``."""
    out = np.zeros(len(groups), dtype=np.int64)
    for group, p in table.items():
        rows = np.flatnonzero(groups == group)
        out[rows] = _choose(rng, p, len(rows))
    return out


def _day_between(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray,
                 skew: float = 1.0) -> np.ndarray:
    """A day in [lo, hi] per row (hi >= lo); ``skew`` < 1 pushes days towards ``hi``."""
    u = rng.random(len(lo))
    if skew != 1.0:
        u = u**skew
    return lo + np.minimum((u * (hi - lo + 1)).astype(np.int64), hi - lo)


def _time_of_day_us(rng: np.random.Generator, channel: np.ndarray) -> np.ndarray:
    """Microseconds after midnight within each channel's opening hours."""
    out = np.zeros(len(channel), dtype=np.int64)
    for code, channel_id in enumerate(CHANNEL_IDS):
        rows = np.flatnonzero(channel == code)
        start, end = CHANNEL_HOURS[channel_id]
        out[rows] = (start * 3600 + rng.integers(0, (end - start) * 3600, len(rows))) * 1_000_000
    return out


def _add_months(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Calendar arithmetic: day numbers plus whole months (day of month clipped to month end)."""
    d = days.astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    day_of_month = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + months.astype("timedelta64[M]")
    start = target.astype("datetime64[D]").astype(np.int64)
    length = (target + 1).astype("datetime64[D]").astype(np.int64) - start
    return start + np.minimum(day_of_month, length - 1)


def _months_between(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Whole calendar months from day ``start`` to day ``end``."""
    s, e = start.astype("datetime64[D]"), end.astype("datetime64[D]")
    sm, em = s.astype("datetime64[M]"), e.astype("datetime64[M]")
    months = (em - sm).astype(np.int64)
    s_dom = (s - sm.astype("datetime64[D]")).astype(np.int64)
    e_dom = (e - em.astype("datetime64[D]")).astype(np.int64)
    return months - (e_dom < s_dom)


def _group_starts(owner: np.ndarray, owners: int) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by ``owner``: first row and row count of each owner 0..owners-1."""
    counts = np.bincount(owner, minlength=owners)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return starts, counts


# --------------------------------------------------------------------------
# Generation stages
# --------------------------------------------------------------------------


@dataclass
class _Clock:
    """Day numbers (since 1970-01-01) the generator works with."""

    as_of: int  # first day *after* the data: everything happens before it
    contacts_from: int
    billing_months: np.ndarray  # first day of each billed month

    @classmethod
    def at(cls, as_of: datetime.date) -> _Clock:
        day = (as_of - datetime.date(1970, 1, 1)).days
        this_month = np.datetime64(as_of, "M")
        starts = (this_month - np.arange(BILLING_MONTHS, -1, -1)).astype("datetime64[D]").astype(np.int64)
        starts = starts[starts < day][-BILLING_MONTHS:]
        return cls(as_of=day, contacts_from=day - CONTACT_WINDOW_DAYS, billing_months=starts)


@dataclass
class _People:
    """Customers as numpy columns plus their finished descriptive Arrow columns."""

    count: int
    tier: np.ndarray
    joined: np.ndarray
    age: np.ndarray  # years at as_of
    dissatisfaction: np.ndarray  # latent, standard normal: drives complaints and satisfaction
    usage: np.ndarray  # latent share of the paid allowance actually used, 0..1
    columns: dict[str, pa.Array]


def _customers(rng: np.random.Generator, count: int, clock: _Clock) -> _People:
    """Draw customers: tier, names, birth date, contact details, address, tenure.

    Status and ``updated_at`` depend on churn and are added by :func:`_customer_table`.
    """
    tier = _choose(rng, _shares(TIER_VALUES, {"KEY_ACCOUNT": .02, "BUSINESS": .08, "CONSUMER": .90}), count)
    tenure = np.where(rng.random(count) < .55, rng.integers(1, MAX_TENURE_DAYS + 1, count),
                      rng.exponential(800, count).astype(np.int64) + 1)
    tenure = np.where(tier == KEY_ACCOUNT, rng.integers(200, MAX_TENURE_DAYS + 1, count), tenure)
    joined = clock.as_of - np.clip(tenure, 1, MAX_TENURE_DAYS)

    age_at_join = 18 + np.minimum(rng.gamma(2.2, 9.0, count), 70)
    birth = joined - (age_at_join * 365.25).astype(np.int64)
    age = (clock.as_of - birth) / 365.25

    gender = _choose(rng, _shares(GENDER_VALUES, {"FEMALE": .49, "MALE": .49, "OTHER": .005,
                                                  "UNKNOWN": .015}), count)
    first_names = FEMALE_NAMES + MALE_NAMES
    female = (gender == _code(GENDER_VALUES, "FEMALE")) | (
        (gender != _code(GENDER_VALUES, "MALE")) & (rng.random(count) < .5))
    first = np.where(female, rng.integers(0, len(FEMALE_NAMES), count),
                     len(FEMALE_NAMES) + rng.integers(0, len(MALE_NAMES), count))
    last_weights = 1.0 / (np.arange(len(LAST_NAMES)) + 6)
    last = _choose(rng, last_weights, count)

    number = np.arange(count, dtype=np.int64)
    # Affine bijections give unique, random-looking numbers for every customer.
    national = (number * 7_919_773 + int(rng.integers(0, 10**9))) % 10**9
    mobile = (number * 48_271 + int(rng.integers(0, 10**8))) % 10**8
    email = _emails(rng, first_names, first, last)

    city_weights = np.array([c[1] for c in CITIES], dtype=float) ** 1.2
    city = _choose(rng, city_weights, count)
    lo = np.array([c[2] for c in CITIES])[city]
    hi = np.array([c[3] for c in CITIES])[city]
    postcode_digits = lo + (rng.random(count) * (hi - lo + 1)).astype(np.int64)
    postcode = pc.binary_join_element_wise(
        pc.cast(pa.array(postcode_digits), pa.string()),
        pc.binary_join_element_wise(_pick(POSTCODE_LETTERS, rng.integers(0, len(POSTCODE_LETTERS), count)),
                                    _pick(POSTCODE_LETTERS, rng.integers(0, len(POSTCODE_LETTERS), count)),
                                    ""),
        " ")
    house = pc.cast(pa.array(1 + rng.geometric(1 / 40, count)), pa.string())
    street = pc.binary_join_element_wise(
        _pick(STREETS, rng.integers(0, len(STREETS), count)), house, " ")

    company = _company_names(rng, tier, last)
    manager = _pick(ACCOUNT_MANAGERS, rng.integers(0, len(ACCOUNT_MANAGERS), count), tier == KEY_ACCOUNT)
    language = _pick(tuple(LANGUAGES), _choose(rng, list(LANGUAGES.values()), count))

    columns = {
        "id": _ids("C", count, 7),
        "first_name": _pick(first_names, first),
        "last_name": _pick(LAST_NAMES, last),
        "company_name": company,
        "birth_date": _dates(birth),
        "gender": _pick(GENDER_VALUES, gender),
        "national_id": _fixed_width_text("", national, 9),
        "email": email,
        "phone": _fixed_width_text("+316", mobile, 8),
        "street": street,
        "city": _pick([c[0] for c in CITIES], city),
        "postal_code": postcode,
        "country": _pick(("NL",), np.zeros(count, dtype=np.int64)),
        "language": language,
        "tier": _pick(TIER_VALUES, tier),
        "joined_on": _dates(joined),
        "account_manager": manager,
    }
    return _People(count=count, tier=tier, joined=joined, age=age,
                   dissatisfaction=rng.standard_normal(count),
                   usage=rng.beta(2.5, 1.6, count), columns=columns)


def _emails(rng: np.random.Generator, first_names: tuple[str, ...], first: np.ndarray,
            last: np.ndarray) -> pa.Array:
    """Unique addresses "first.last@domain"; namesakes get a number ("anna.jansen7@...")."""
    count = len(first)
    pair = first * len(LAST_NAMES) + last
    order = np.argsort(pair, kind="stable")
    starts, _ = _group_starts(pair[order], len(first_names) * len(LAST_NAMES))
    ordinal = np.empty(count, dtype=np.int64)
    ordinal[order] = np.arange(count) - starts[pair[order]]
    suffix = pc.if_else(pa.array(ordinal == 0), "", pc.cast(pa.array(ordinal + 1), pa.string()))
    local = pc.binary_join_element_wise(
        _pick([_slug(n) for n in first_names], first),
        pc.binary_join_element_wise(_pick([_slug(n) for n in LAST_NAMES], last), suffix, ""), ".")
    return pc.binary_join_element_wise(local, _pick(EMAIL_DOMAINS, _choose(rng, [.4, .3, .2, .1], count)),
                                       "@")


def _company_names(rng: np.random.Generator, tier: np.ndarray, last: np.ndarray) -> pa.Array:
    """Company names for business ("Delta Logistiek B.V.") and key accounts ("Rijn Groep N.V.")."""
    count = len(tier)
    use_family = rng.random(count) < .4
    words = COMPANY_WORDS + tuple(n[0].upper() + n[1:] for n in LAST_NAMES)
    word = np.where(use_family, len(COMPANY_WORDS) + last, rng.integers(0, len(COMPANY_WORDS), count))
    firm = pc.binary_join_element_wise(
        _pick(words, word), _pick(COMPANY_SECTORS, rng.integers(0, len(COMPANY_SECTORS), count)),
        _pick(("B.V.", "V.O.F.", "B.V."), rng.integers(0, 3, count)), " ")
    group = pc.binary_join_element_wise(
        _pick(words, word), _pick(KEY_ACCOUNT_SUFFIXES, rng.integers(0, len(KEY_ACCOUNT_SUFFIXES), count)),
        " ")
    named = pa.array(tier != CONSUMER)
    return pc.if_else(named, pc.if_else(pa.array(tier == KEY_ACCOUNT), group, firm),
                      pa.nulls(count, pa.string()))


@dataclass
class _Accounts:
    """Accounts as numpy columns, grouped by customer (ids follow this order)."""

    count: int
    customer: np.ndarray
    start: np.ndarray  # first account of each customer
    per_customer: np.ndarray
    type: np.ndarray
    opened: np.ndarray
    payment: np.ndarray
    contract: np.ndarray
    contract_end: np.ndarray  # day, -1 without contract
    lines: np.ndarray  # mobile lines (business accounts have several)
    # set by _close_accounts once churn is known:
    status: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    closed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # day, -1 if open
    last_day: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # last open day


def _accounts(rng: np.random.Generator, people: _People, clock: _Clock) -> _Accounts:
    """Draw each customer's accounts: type, opening day, payment method and contract."""
    n = people.count
    tier = people.tier
    per_customer = np.where(
        tier == CONSUMER, 1 + (rng.random(n) < .06),
        np.where(tier == BUSINESS, 1 + rng.binomial(2, .3, n), 2 + rng.binomial(4, .35, n)))
    customer = np.repeat(np.arange(n), per_customer)
    start, _ = _group_starts(customer, n)
    count = len(customer)
    first = np.zeros(count, dtype=bool)
    first[start] = True
    acc_tier = tier[customer]

    type_ = _choose_by_group(rng, acc_tier, {
        CONSUMER: _shares(ACCOUNT_TYPE_VALUES, {"POSTPAID": .65, "PREPAID": .35}),
        BUSINESS: _shares(ACCOUNT_TYPE_VALUES, {"BUSINESS": .9, "POSTPAID": .1}),
        KEY_ACCOUNT: _shares(ACCOUNT_TYPE_VALUES, {"BUSINESS": .95, "POSTPAID": .05}),
    })
    joined = people.joined[customer]
    opened = np.where(first, joined, _day_between(rng, joined, np.full(count, clock.as_of - 1)))
    payment = _choose_by_group(rng, type_, {
        POSTPAID: _shares(PAYMENT_METHOD_VALUES, {"DIRECT_DEBIT": .75, "CARD": .15, "INVOICE": .10}),
        PREPAID: _shares(PAYMENT_METHOD_VALUES, {"CARD": .40, "VOUCHER": .35, "CASH": .25}),
        BUSINESS_ACCOUNT: _shares(PAYMENT_METHOD_VALUES, {"INVOICE": .70, "DIRECT_DEBIT": .30}),
    })
    contract = _choose_by_group(rng, type_, {
        POSTPAID: _shares(CONTRACT_TYPE_VALUES, {"NO_CONTRACT": .25, "MONTHS_12": .35, "MONTHS_24": .40}),
        PREPAID: _shares(CONTRACT_TYPE_VALUES, {"NO_CONTRACT": 1.0}),
        BUSINESS_ACCOUNT: _shares(CONTRACT_TYPE_VALUES, {"NO_CONTRACT": .10, "MONTHS_12": .40,
                                                         "MONTHS_24": .50}),
    })
    contract_end = _contract_ends(rng, opened, contract, clock.as_of)
    lines = np.ones(count, dtype=np.int64)
    business = type_ == BUSINESS_ACCOUNT
    lines = np.where(business & (acc_tier == BUSINESS), np.minimum(rng.geometric(.5, count), 10), lines)
    lines = np.where(business & (acc_tier == KEY_ACCOUNT), np.minimum(rng.geometric(.22, count), 40), lines)
    return _Accounts(count=count, customer=customer, start=start, per_customer=per_customer, type=type_,
                     opened=opened, payment=payment, contract=contract, contract_end=contract_end,
                     lines=lines)


def _contract_ends(rng: np.random.Generator, opened: np.ndarray, contract: np.ndarray,
                   as_of: int) -> np.ndarray:
    """End day of each contract (-1 for NO_CONTRACT).

    A contract ends a whole number of terms after ``opened``. About half the
    customers whose first term has passed renewed (the end lies after
    ``as_of``); the others run out of contract (the end lies before it).
    """
    term = np.zeros(len(opened), dtype=np.int64)
    for code, months in CONTRACT_MONTHS.items():
        term[contract == code] = months
    has = term > 0
    elapsed = np.where(has, _months_between(opened, np.full(len(opened), as_of)) // np.maximum(term, 1), 0)
    renewed = rng.random(len(opened)) < .5
    terms = np.where((elapsed == 0) | renewed, elapsed + 1, elapsed)
    return np.where(has, _add_months(opened, terms * term), -1)


@dataclass
class _Subscriptions:
    """Subscriptions as numpy columns, sorted by account."""

    account: np.ndarray
    product: np.ndarray
    main: np.ndarray  # bool: core plan of the account
    earlier: np.ndarray  # bool: an earlier plan since replaced (always cancelled)
    start_share: np.ndarray  # where in the account's lifetime it starts, 0..1
    cancel_share: np.ndarray  # add-ons cancelled part-way (0..1) or NaN
    discount: np.ndarray
    since: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    until: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # -1 if open
    status: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    fee: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def current(self) -> np.ndarray:
        """Rows that are part of the account's current package (not earlier plans, not dropped add-ons)."""
        return ~self.earlier & np.isnan(self.cancel_share)

    def take(self, rows: np.ndarray) -> _Subscriptions:
        return _Subscriptions(*(getattr(self, f)[rows] for f in (
            "account", "product", "main", "earlier", "start_share", "cancel_share", "discount")))


def _choose_subscriptions(rng: np.random.Generator, accounts: _Accounts, people: _People,
                          cat: _Catalog, as_of: int) -> _Subscriptions:
    """Pick each account's products from the packages of its type (dates come later).

    Changeable slots replaced an earlier plan for some accounts (more often the
    longer the account exists); the earlier plan becomes a cancelled row.
    """
    parts: list[tuple[np.ndarray, ...]] = []
    account_years = (as_of - accounts.opened) / 365.25
    business = people.tier[accounts.customer] != CONSUMER
    for account_type, packages in PACKAGES.items():
        members = np.flatnonzero(accounts.type == account_type)
        package = _choose(rng, [p.weight for p in packages], len(members))
        for number, pkg in enumerate(packages):
            owners = members[package == number]
            for slot in pkg.slots:
                rows = np.repeat(owners, accounts.lines[owners]) if slot.per_line else owners
                rows = rows[rng.random(len(rows)) < slot.probability]
                options = cat.ids(*(o[0] for o in slot.options))
                weights = [o[1] for o in slot.options]
                product = options[_choose(rng, weights, len(rows))]
                size = len(rows)
                start = np.zeros(size) if slot.main else rng.random(size)
                cancel = np.where(rng.random(size) < (.0 if slot.main else .15), rng.random(size), np.nan)
                changed = np.zeros(size, dtype=bool)
                if slot.changeable:
                    changed = rng.random(size) < .35 * np.minimum(account_years[rows] / 4, 1)
                    start = np.where(changed, rng.uniform(.15, .9, size), start)
                discount = _discounts(rng, business[rows])
                parts.append((rows, product, np.full(size, slot.main), np.zeros(size, dtype=bool),
                              start, cancel, discount))
                before = np.flatnonzero(changed)
                if len(before):
                    earlier_product = options[_choose(rng, weights, len(before))]
                    parts.append((rows[before], earlier_product, np.full(len(before), slot.main),
                                  np.ones(len(before), dtype=bool), np.zeros(len(before)),
                                  start[before], _discounts(rng, business[rows[before]])))
    columns = [np.concatenate(c) for c in zip(*parts)]
    order = np.argsort(columns[0], kind="stable")
    return _Subscriptions(*(c[order] for c in columns))


def _discounts(rng: np.random.Generator, business: np.ndarray) -> np.ndarray:
    """Share taken off the fee: none for most, 5-30% for some (more often for business)."""
    size = len(business)
    levels = np.array([.05, .10, .15, .20, .25, .30])
    chance = np.where(business, .55, .3)
    return np.where(rng.random(size) < chance, levels[_choose(rng, [5, 6, 4, 3, 2, 1], size)], 0.0)


@dataclass
class _Churn:
    """Per-customer churn signals, probability and outcome."""

    probability: np.ndarray
    churned: np.ndarray
    day: np.ndarray  # churn day, -1 if not churned
    complaints: np.ndarray
    satisfaction: np.ndarray  # expected satisfaction 1..5
    out_of_contract: np.ndarray
    products: np.ndarray
    has_bundle: np.ndarray
    spend: np.ndarray
    price_to_usage: np.ndarray
    tenure_years: np.ndarray
    last_day: np.ndarray  # last day as a customer: churn day or as_of - 1


CHURN_WEIGHTS = {
    "intercept": -3.5,
    "new_customer": 1.3,  # times exp(-tenure_years / 1.5)
    "out_of_contract": 1.0,
    "complaint": 0.45,  # per complaint, at most 6 counted
    "dissatisfaction": 0.6,  # per point of expected satisfaction below 3.5
    "price_to_usage": 0.8,  # times log(price_to_usage)
    "single_product": 0.5,
    "bundle": -0.7,
    "key_account": -1.0,
    "business": -0.4,
}
"""Coefficients of the logistic churn model (see :func:`_churn`)."""


def _churn(rng: np.random.Generator, people: _People, accounts: _Accounts, subs: _Subscriptions,
           cat: _Catalog, clock: _Clock) -> _Churn:
    """Draw churn from a logistic function of observable signals.

    Signals per customer: tenure, whether the first account is out of contract
    (no contract, or its contract ended), the number of complaints in the last
    two years (Poisson, more for dissatisfied customers; the contacts stage
    creates exactly that many), the expected satisfaction score, the price
    paid relative to usage, owning a single product and owning a bundle.
    A churn day lies in the last two years, after every account opened and,
    for customers out of contract, after the contract ended.
    """
    n = people.count
    tenure = (clock.as_of - people.joined) / 365.25
    first = accounts.start
    out_of_contract = (accounts.contract[first] == NO_CONTRACT) | (accounts.contract_end[first] < clock.as_of)
    exposure = (clock.as_of - np.maximum(people.joined, clock.contacts_from)) / CONTACT_WINDOW_DAYS
    rate = .22 * np.exp(.8 * people.dissatisfaction) * np.where(people.tier == CONSUMER, 1.0, 1.5)
    complaints = rng.poisson(rate * exposure)
    satisfaction = np.clip(4.0 - .6 * people.dissatisfaction, 1, 5)

    current = subs.current
    sub_customer = accounts.customer[subs.account]
    products = np.bincount(sub_customer[current], minlength=n)
    bundle = cat.category[subs.product] == _code(PRODUCT_CATEGORY_VALUES, "BUNDLE")
    has_bundle = np.bincount(sub_customer[current & bundle], minlength=n) > 0
    spend = np.bincount(sub_customer[current],
                        weights=(cat.price[subs.product] * (1 - subs.discount))[current], minlength=n)
    price_to_usage = 1 / np.maximum(people.usage, .05)

    w = CHURN_WEIGHTS
    z = (w["intercept"] + w["new_customer"] * np.exp(-tenure / 1.5)
         + w["out_of_contract"] * out_of_contract + w["complaint"] * np.minimum(complaints, 6)
         + w["dissatisfaction"] * (3.5 - satisfaction) + w["price_to_usage"] * np.log(price_to_usage)
         + w["single_product"] * (products <= 1) + w["bundle"] * has_bundle
         + w["key_account"] * (people.tier == KEY_ACCOUNT) + w["business"] * (people.tier == BUSINESS))
    probability = 1 / (1 + np.exp(-z))
    churned = rng.random(n) < probability

    latest_open = np.maximum.reduceat(accounts.opened, first)
    lo = np.maximum(latest_open + 1, clock.contacts_from)
    ended = accounts.contract_end[first]
    lo = np.where(out_of_contract & (ended >= lo), ended, lo)
    hi = np.full(n, clock.as_of - 1)
    churned &= lo <= hi
    day = np.where(churned, _day_between(rng, np.minimum(lo, hi), hi), -1)
    return _Churn(probability=probability, churned=churned, day=day, complaints=complaints,
                  satisfaction=satisfaction, out_of_contract=out_of_contract, products=products,
                  has_bundle=has_bundle, spend=spend, price_to_usage=price_to_usage, tenure_years=tenure,
                  last_day=np.where(churned, day, clock.as_of - 1))


def _close_accounts(rng: np.random.Generator, accounts: _Accounts, churn: _Churn, clock: _Clock) -> None:
    """Set account status and closing day.

    Churners close every account on their churn day. Other customers keep
    their first account open; a few close an extra account, and a few
    accounts are SUSPENDED (unpaid bills).
    """
    count = accounts.count
    churned = churn.churned[accounts.customer]
    closed = np.where(churned, churn.day[accounts.customer], -1)
    extra = np.ones(count, dtype=bool)
    extra[accounts.start] = False
    lo, hi = accounts.opened + 1, np.full(count, clock.as_of - 1)
    close_extra = ~churned & extra & (rng.random(count) < .08) & (lo <= hi)
    closed = np.where(close_extra, _day_between(rng, np.minimum(lo, hi), hi), closed)
    status = np.full(count, ACCOUNT_ACTIVE)
    status[(closed < 0) & (rng.random(count) < .015)] = ACCOUNT_SUSPENDED
    status[closed >= 0] = ACCOUNT_CLOSED
    accounts.status, accounts.closed = status, closed
    accounts.last_day = np.where(closed >= 0, closed, clock.as_of - 1)


def _date_subscriptions(rng: np.random.Generator, subs: _Subscriptions, accounts: _Accounts,
                        cat: _Catalog, clock: _Clock) -> _Subscriptions:
    """Give subscriptions their days, status and fee; drop the ones that cannot fit; sort
    by account and start day.

    ``since`` lies in the account's lifetime and not before the product's
    launch; a retired product taken after its retirement becomes its successor.
    Everything on a closed account is cancelled on the closing day. The fee is
    the list price, a bit lower the longer ago the subscription started (price
    indexation), with small noise.
    """
    opened = accounts.opened[subs.account]
    last = accounts.last_day[subs.account]
    span = last - opened
    since = opened + np.round(subs.start_share * span).astype(np.int64)
    product = np.where(since >= cat.retired[subs.product], cat.successor[subs.product], subs.product)
    since = np.maximum(since, cat.launched[product])
    ends_early = subs.earlier | ~np.isnan(subs.cancel_share)
    share = np.where(subs.earlier, subs.cancel_share, 0.0)  # earlier plans end where the new one starts
    until_earlier = opened + np.round(share * span).astype(np.int64)
    cancel_share = np.nan_to_num(subs.cancel_share)
    until_addon = since + np.round(cancel_share * (last - since)).astype(np.int64)
    until = np.where(subs.earlier, until_earlier, np.where(ends_early, until_addon, -1))
    closed = accounts.closed[subs.account]
    until = np.where((until < 0) & (closed >= 0), closed, until)
    keep = (since <= last) & ((until < 0) | (until >= since))
    rows = np.flatnonzero(keep)
    rows = rows[np.lexsort((since[rows], subs.account[rows]))]  # ids run by account, then start
    out = subs.take(rows)
    out.product = product[rows]
    out.since, out.until = since[rows], until[rows]
    status = np.where(out.until >= 0, SUB_CANCELLED, SUB_ACTIVE)
    suspended = accounts.status[out.account] == ACCOUNT_SUSPENDED
    out.status = np.where((status == SUB_ACTIVE) & suspended, SUB_SUSPENDED, status)
    years = (clock.as_of - out.since) / 365.25
    noise = 1 + rng.normal(0, .02, len(rows))
    out.fee = np.round(cat.price[out.product] * np.maximum(1 - .025 * years, .75) * noise, 2)
    return out


@dataclass
class _Preferences:
    """PREFERS rows plus each customer's favourite channel (-1 if none)."""

    customer: np.ndarray
    channel: np.ndarray
    rank: np.ndarray
    source: np.ndarray
    updated: np.ndarray
    favourite: np.ndarray


def _preferences(rng: np.random.Generator, people: _People, churn: _Churn, clock: _Clock) -> _Preferences:
    """Up to three ranked preferred channels per customer, by age group and tier.

    Young customers prefer the app, older ones the store and call centre, key
    accounts their account manager (AGENT). Drawn without replacement with the
    Gumbel top-k trick.
    """
    n = people.count
    weights = {  # STORE, CALL_CENTRE, SMS, APP, WEB, EMAIL, OUTBOUND_CALL, AGENT
        0: [.05, .10, .08, .42, .20, .13, .02, 0],  # under 35
        1: [.10, .20, .08, .27, .20, .13, .02, 0],  # 35-60
        2: [.25, .35, .10, .05, .10, .13, .02, 0],  # over 60
        3: [.05, .15, .03, .10, .17, .25, .05, 0],  # business
        4: [.02, .05, .02, .05, .06, .15, .05, .60],  # key account
    }
    group = np.where(people.age < 35, 0, np.where(people.age < 60, 1, 2))
    group = np.where(people.tier == BUSINESS, 3, np.where(people.tier == KEY_ACCOUNT, 4, group))
    with np.errstate(divide="ignore"):
        log_w = np.log(np.array([weights[g] for g in range(5)]))
    scores = log_w[group] + rng.gumbel(size=(n, len(CHANNEL_IDS)))
    top = np.argsort(-scores, axis=1)[:, :3]
    wanted = _choose(rng, [.10, .30, .35, .25], n)
    rank = np.broadcast_to(np.arange(1, 4), (n, 3))
    keep = rank <= wanted[:, None]
    customer = np.broadcast_to(np.arange(n)[:, None], (n, 3))[keep]
    channel = top[keep]
    lo = np.maximum(people.joined, clock.contacts_from)[customer]
    day = _day_between(rng, lo, churn.last_day[customer])
    updated = day * DAY_US + rng.integers(0, DAY_US, len(day))
    favourite = np.where(wanted > 0, top[:, 0], -1)
    return _Preferences(customer=customer, channel=channel, rank=rank[keep],
                        source=_choose(rng, [.4, .6], len(day)), updated=updated, favourite=favourite)


# --------------------------------------------------------------------------
# Contacts
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _ContactKind:
    """How one kind of inbound contact looks: channels, outcomes, subjects, surveys."""

    kind: str
    rate: float  # contacts per customer over the two-year window
    channels: dict[str, float]
    outcomes: dict[str, float]
    subjects: tuple[str, ...]
    surveyed: float  # share asked for a satisfaction score
    satisfaction_shift: float
    about_own_product: float  # share linked (ABOUT) to one of the customer's products


INBOUND_KINDS: tuple[_ContactKind, ...] = (
    _ContactKind("INQUIRY", 2.0,
                 {"STORE": .08, "CALL_CENTRE": .30, "APP": .30, "WEB": .25, "EMAIL": .07},
                 {"INFORMED": .85, "RESOLVED": .15},
                 ("Question about invoice", "Roaming charges", "Contract end date", "Upgrade options",
                  "Data usage", "Moving house", "Price change"), .25, 0.2, .4),
    _ContactKind("COMPLAINT", 0.0,  # count comes from the churn signals
                 {"STORE": .10, "CALL_CENTRE": .55, "APP": .05, "WEB": .15, "EMAIL": .15},
                 {"RESOLVED": .65, "OPEN": .15, "ESCALATED": .20},
                 ("Unexpected charges on invoice", "Slow internet connection", "Mobile coverage problems",
                  "TV signal drops", "Technician did not show up", "Wrong price applied",
                  "Outage not compensated"), .5, -1.3, .6),
    _ContactKind("SERVICE_REQUEST", 0.9,
                 {"STORE": .05, "CALL_CENTRE": .35, "APP": .35, "WEB": .25},
                 {"RESOLVED": .85, "OPEN": .10, "ESCALATED": .05},
                 ("Change payment method", "Replace SIM card", "Install broadband", "Replace router",
                  "Number porting", "Change address", "Add family member"), .35, -0.2, .5),
    _ContactKind("PURCHASE", 0.4,
                 {"STORE": .35, "CALL_CENTRE": .10, "APP": .20, "WEB": .35},
                 {"ACCEPTED": .85, "INFORMED": .15},
                 ("New phone", "Add-on", "Accessory", "Replacement device"), .2, 0.3, 0.0),
)
RETENTION_SUBJECTS = ("Cancellation request", "Contract renewal offer", "Loyalty discount")
DEVICE_MIX = {"P-DEV-PHONE-BASIC": .3, "P-DEV-PHONE-MID": .4, "P-DEV-PHONE-TOP": .15,
              "P-DEV-ROUTER": .1, "P-DEV-TVBOX": .05}
ADD_ON_MIX = {"P-VAS-ROAM": .25, "P-VAS-CLOUD": .2, "P-VAS-SEC": .2, "P-VAS-MUSIC": .2, "P-VAS-INSURE": .15}


@dataclass(frozen=True)
class _Campaign:
    """A marketing campaign: SMS wave ``days_before`` as_of, then an outbound-call wave."""

    theme: str
    days_before: int
    product: str
    audience: str  # which customers are eligible, see _campaign_audience


CAMPAIGNS: tuple[_Campaign, ...] = (
    _Campaign("FIBRE", 690, "P-BB-500", "no_broadband"),
    _Campaign("BUNDLE", 600, "P-BND-DUO", "broadband_no_bundle"),
    _Campaign("DATA", 500, "P-MOB-30GB", "mobile"),
    _Campaign("TV", 420, "P-TV-PLUS", "broadband_no_tv"),
    _Campaign("ROAMING", 330, "P-VAS-ROAM", "mobile"),
    _Campaign("FAMILY", 240, "P-BND-FAMILY", "mobile_no_bundle"),
    _Campaign("DATA", 160, "P-MOB-UNL", "mobile"),
    _Campaign("SECURITY", 70, "P-VAS-SEC", "broadband"),
)
SEASONS = ("WINTER", "WINTER", "SPRING", "SPRING", "SPRING", "SUMMER", "SUMMER", "SUMMER",
           "AUTUMN", "AUTUMN", "AUTUMN", "WINTER")


def _campaign_code(campaign: _Campaign, as_of: datetime.date) -> tuple[str, datetime.date]:
    """Code ("CMP-2026-SPRING-DATA") and SMS start day of a campaign for a given ``as_of``."""
    start = as_of - datetime.timedelta(days=campaign.days_before)
    return f"CMP-{start.year}-{SEASONS[start.month - 1]}-{campaign.theme}", start


@dataclass
class _ContactRows:
    """Contacts of one kind (or the concatenation of all) as numpy columns."""

    customer: np.ndarray
    at: np.ndarray  # microseconds
    kind: np.ndarray
    channel: np.ndarray
    outcome: np.ndarray
    satisfaction: np.ndarray  # 0 = not asked
    subject: np.ndarray  # index into the subject list
    campaign: np.ndarray  # index into the campaign list, -1 if none
    resolved: np.ndarray  # microseconds, -1 if not resolved
    about: np.ndarray  # product index, -1 if none

    @classmethod
    def concat(cls, parts: list[_ContactRows]) -> _ContactRows:
        names = [f.name for f in cls.__dataclass_fields__.values()]
        return cls(*(np.concatenate([getattr(p, n) for p in parts]) for n in names))

    def take(self, rows: np.ndarray) -> _ContactRows:
        return _ContactRows(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))


@dataclass
class _Holdings:
    """What each customer owns, for picking the product a contact is about and campaign audiences."""

    sub_start: np.ndarray
    sub_count: np.ndarray
    sub_product: np.ndarray
    mobile: np.ndarray
    broadband: np.ndarray
    tv: np.ndarray
    bundle: np.ndarray

    def random_product(self, rng: np.random.Generator, customer: np.ndarray) -> np.ndarray:
        """One of the customer's subscribed products per row, -1 if the customer has none."""
        count = self.sub_count[customer]
        pick = self.sub_start[customer] + (rng.random(len(customer)) * count).astype(np.int64)
        return np.where(count > 0, self.sub_product[np.minimum(pick, len(self.sub_product) - 1)], -1)


def _holdings(subs: _Subscriptions, accounts: _Accounts, cat: _Catalog, customers: int) -> _Holdings:
    """Per-customer product ranges and category flags (subscriptions are sorted by customer)."""
    owner = accounts.customer[subs.account]
    start, count = _group_starts(owner, customers)
    current = subs.current

    def flag(per_product: np.ndarray) -> np.ndarray:
        return np.bincount(owner[current & per_product[subs.product]], minlength=customers) > 0

    bundle = cat.category == _code(PRODUCT_CATEGORY_VALUES, "BUNDLE")
    return _Holdings(sub_start=start, sub_count=count, sub_product=subs.product,
                     mobile=flag(cat.mobile), broadband=flag(cat.broadband), tv=flag(cat.tv),
                     bundle=flag(bundle))


def _contacts(rng: np.random.Generator, people: _People, churn: _Churn, holdings: _Holdings,
              prefs: _Preferences, cat: _Catalog, clock: _Clock,
              as_of: datetime.date, problems: tuple[np.random.Generator, np.ndarray] | None = None,
              ) -> tuple[_ContactRows, list[str], list[str]]:
    """All contacts of the last two years, sorted by customer and time.

    ``problems`` is the stream and the per-customer counts of ongoing-problem complaints
    (:func:`_ongoing_problems`). Returns the rows, the subject texts and the campaign codes
    their indexes point into.
    """
    subjects: list[str] = []
    parts = [_inbound_contacts(rng, spec, people, churn, holdings, prefs, cat, clock, subjects)
             for spec in INBOUND_KINDS]
    parts.append(_retention_contacts(rng, people, churn, holdings, clock, subjects))
    codes: list[str] = []
    for number, campaign in enumerate(CAMPAIGNS):
        parts.append(_campaign_contacts(rng, number, campaign, people, churn, holdings, cat, clock, as_of,
                                        subjects, codes))
    if problems is not None:
        parts.append(_problem_complaints(problems[0], problems[1], people, churn, holdings, clock, subjects))
    rows = _ContactRows.concat(parts)
    order = np.lexsort((rows.at, rows.customer))
    return rows.take(order), subjects, codes


PROBLEM_RATE = 0.06
"""Share of active customers with an ongoing service problem (before the multipliers of
:func:`_ongoing_problems`)."""
PROBLEM_DAYS = (15, 60)
"""An ongoing problem's first complaint lies this many days before ``as_of`` (uniform)."""
BROADBAND_PROBLEMS = ("Slow internet connection", "Outage not compensated", "Technician did not show up")
MOBILE_PROBLEMS = ("Mobile coverage problems", "Unexpected charges on invoice", "Wrong price applied")


def _ongoing_problems(rng: np.random.Generator, people: _People, churn: _Churn, accounts: _Accounts,
                      holdings: _Holdings, clock: _Clock) -> np.ndarray:
    """How many complaints each customer made about an ongoing problem (0 for most): the planted
    "unhappy now" group a retention desk looks for (``docs/segments.md``'s examples).

    Active customers (not churned, joined at least 90 days ago) holding broadband or mobile
    products get a problem with probability ``PROBLEM_RATE``, doubled for broadband holders (home
    service problems are the most reported) and doubled again when an account's contract has run
    out (they are the ones who can leave, and say so), times ``exp(0.5 * dissatisfaction)``; capped at
    0.6. A problem is 2-4 complaints (see :func:`_problem_complaints`). Drawn after churn, from a
    stream of its own: the rest of the data, and each customer's churn probability, are what they
    would be without it; the risk the problem carries lies after ``as_of``.
    """
    ran_out = (accounts.contract != NO_CONTRACT) & (accounts.contract_end >= 0) & (accounts.contract_end < clock.as_of)
    out_of_contract = np.bincount(accounts.customer[ran_out], minlength=people.count) > 0
    holds = holdings.broadband | holdings.mobile
    active = ~churn.churned & holds & (people.joined < clock.as_of - 90)
    p = (PROBLEM_RATE * np.where(holdings.broadband, 2.0, 1.0) * np.where(out_of_contract, 2.0, 1.0)
         * np.exp(.5 * people.dissatisfaction))
    has = active & (rng.random(people.count) < np.minimum(p, .6))
    return np.where(has, 2 + rng.binomial(2, .4, people.count), 0)


def _problem_complaints(rng: np.random.Generator, problems: np.ndarray, people: _People, churn: _Churn,
                        holdings: _Holdings, clock: _Clock, subjects: list[str]) -> _ContactRows:
    """The complaints of ongoing problems: the first 15-60 days before ``as_of``, follow-ups on later
    days before it; about a broadband problem when the customer holds broadband, else a mobile one;
    mostly through the call centre (key accounts: their account manager), mostly still OPEN or
    ESCALATED, rated low when surveyed."""
    customer = np.repeat(np.arange(people.count), problems)
    size = len(customer)
    first_of = np.cumsum(problems) - problems  # row of each customer's first complaint
    first = np.zeros(size, dtype=bool)
    first[first_of[problems > 0]] = True
    start = clock.as_of - rng.integers(PROBLEM_DAYS[0], PROBLEM_DAYS[1] + 1, people.count)
    lo = start[customer]
    day = np.where(first, lo, _day_between(rng, lo + 1, np.full(size, clock.as_of - 1)))
    channel = _choose(rng, _shares(CHANNEL_IDS, {"CALL_CENTRE": .6, "STORE": .1, "WEB": .15, "EMAIL": .15}), size)
    channel = np.where(people.tier[customer] == KEY_ACCOUNT, AGENT, channel)
    at = day * DAY_US + _time_of_day_us(rng, channel)
    outcome = _choose(rng, _shares(CONTACT_OUTCOME_VALUES, {"OPEN": .45, "ESCALATED": .35, "RESOLVED": .2}), size)
    outcome, resolved = _resolutions(rng, outcome, at, clock)
    satisfaction = _satisfaction(rng, churn.satisfaction[customer], -1.8, rng.random(size) < .5)
    broadband = holdings.broadband[customer]
    topic = rng.integers(0, 3, size)
    subject = np.where(broadband, topic, len(BROADBAND_PROBLEMS) + topic) + len(subjects)
    subjects.extend(BROADBAND_PROBLEMS + MOBILE_PROBLEMS)
    about = holdings.random_product(rng, customer)
    return _ContactRows(customer=customer, at=at, kind=np.full(size, _code(CONTACT_KIND_VALUES, "COMPLAINT")),
                        channel=channel, outcome=outcome, satisfaction=satisfaction, subject=subject,
                        campaign=np.full(size, -1), resolved=resolved, about=about)


def _contact_window(people: _People, churn: _Churn, clock: _Clock) -> tuple[np.ndarray, np.ndarray]:
    """First and last day each customer can have contacts (joined / churn bounded)."""
    return np.maximum(people.joined, clock.contacts_from), churn.last_day


def _satisfaction(rng: np.random.Generator, expected: np.ndarray, shift: np.ndarray | float,
                  asked: np.ndarray) -> np.ndarray:
    """Survey scores 1..5 around the customer's expected score; 0 where not asked."""
    score = np.clip(np.rint(expected + shift + rng.normal(0, .8, len(expected))), 1, 5).astype(np.int64)
    return np.where(asked, score, 0)


def _inbound_contacts(rng: np.random.Generator, spec: _ContactKind, people: _People, churn: _Churn,
                      holdings: _Holdings, prefs: _Preferences, cat: _Catalog, clock: _Clock,
                      subjects: list[str]) -> _ContactRows:
    """Contacts the customer starts (inquiries, complaints, service requests, purchases).

    Complaints number exactly ``churn.complaints`` and bunch up towards the
    churn day of churners. Half the contacts go through the customer's
    favourite channel when it suits the kind; key accounts mostly call their
    account manager.
    """
    lo, hi = _contact_window(people, churn, clock)
    if spec.kind == "COMPLAINT":
        counts = churn.complaints
    else:
        exposure = (clock.as_of - lo) / CONTACT_WINDOW_DAYS
        counts = rng.poisson(spec.rate * exposure * np.where(people.tier == CONSUMER, 1.0, 1.4))
    customer = np.repeat(np.arange(people.count), counts)
    size = len(customer)
    skew = np.where(churn.churned[customer] & (spec.kind == "COMPLAINT"), .5, 1.0)
    u = rng.random(size) ** skew
    span = hi[customer] - lo[customer]
    day = lo[customer] + np.minimum((u * (span + 1)).astype(np.int64), span)

    channel_p = _shares(CHANNEL_IDS, spec.channels)
    channel = _choose(rng, channel_p, size)
    favourite = prefs.favourite[customer]
    suits = (favourite >= 0) & (channel_p[np.maximum(favourite, 0)] > 0)
    channel = np.where(suits & (rng.random(size) < .5), favourite, channel)
    key = people.tier[customer] == KEY_ACCOUNT
    channel = np.where(key & (rng.random(size) < .6), AGENT, channel)
    at = day * DAY_US + _time_of_day_us(rng, channel)

    outcome = _choose(rng, _shares(CONTACT_OUTCOME_VALUES, spec.outcomes), size)
    resolved = np.full(size, -1, dtype=np.int64)
    if spec.kind in ("COMPLAINT", "SERVICE_REQUEST"):
        outcome, resolved = _resolutions(rng, outcome, at, clock)

    escalated = outcome == _code(CONTACT_OUTCOME_VALUES, "ESCALATED")
    still_open = outcome == _code(CONTACT_OUTCOME_VALUES, "OPEN")
    shift = spec.satisfaction_shift - .6 * escalated - .4 * still_open
    satisfaction = _satisfaction(rng, churn.satisfaction[customer], shift, rng.random(size) < spec.surveyed)

    if spec.kind == "PURCHASE":
        device = rng.random(size) < .6
        about = np.where(device, cat.ids(*DEVICE_MIX)[_choose(rng, list(DEVICE_MIX.values()), size)],
                         cat.ids(*ADD_ON_MIX)[_choose(rng, list(ADD_ON_MIX.values()), size)])
        usual = rng.random(size) < .8  # "New phone" / "Add-on" rather than a replacement or accessory
        subject = np.where(device, np.where(usual, 0, 3), np.where(usual, 1, 2))
    else:
        about = holdings.random_product(rng, customer)
        about = np.where(rng.random(size) < spec.about_own_product, about, -1)
        subject = rng.integers(0, len(spec.subjects), size)
    subject = subject + len(subjects)
    subjects.extend(spec.subjects)
    return _ContactRows(customer=customer, at=at, kind=np.full(size, _code(CONTACT_KIND_VALUES, spec.kind)),
                        channel=channel, outcome=outcome, satisfaction=satisfaction, subject=subject,
                        campaign=np.full(size, -1), resolved=resolved, about=about)


def _resolutions(rng: np.random.Generator, outcome: np.ndarray, at: np.ndarray,
                 clock: _Clock) -> tuple[np.ndarray, np.ndarray]:
    """Resolution times: hours to days after the contact; escalations take longer, some never end.

    A resolution that would fall after ``as_of`` leaves the contact OPEN.
    """
    size = len(outcome)
    resolved_code = _code(CONTACT_OUTCOME_VALUES, "RESOLVED")
    escalated = outcome == _code(CONTACT_OUTCOME_VALUES, "ESCALATED")
    hours = rng.lognormal(np.log(20), 1.1, size) * np.where(escalated, 5, 1)
    resolved = at + (hours * 3_600_000_000).astype(np.int64)
    done = (outcome == resolved_code) | (escalated & (rng.random(size) < .5))
    late = done & (resolved >= clock.as_of * DAY_US)
    outcome = np.where(late & (outcome == resolved_code), _code(CONTACT_OUTCOME_VALUES, "OPEN"), outcome)
    return outcome, np.where(done & ~late, resolved, -1)


def _retention_contacts(rng: np.random.Generator, people: _People, churn: _Churn, holdings: _Holdings,
                        clock: _Clock, subjects: list[str]) -> _ContactRows:
    """Retention contacts: most churners in the weeks before leaving (declined), some customers
    out of contract (mostly accepted a renewal or loyalty discount)."""
    lo, hi = _contact_window(people, churn, clock)
    n = people.count
    chance = np.where(churn.churned, .65, np.where(churn.out_of_contract, .12, .02))
    customer = np.flatnonzero(rng.random(n) < chance)
    size = len(customer)
    churned = churn.churned[customer]
    before = np.maximum(churn.day[customer] - rng.integers(0, 21, size), lo[customer])
    day = np.where(churned, before, _day_between(rng, lo[customer], hi[customer]))
    channel = np.where(rng.random(size) < .6, OUTBOUND_CALL, CALL_CENTRE)
    channel = np.where((people.tier[customer] == KEY_ACCOUNT) & (rng.random(size) < .7), AGENT, channel)
    outcome = np.where(
        churned, _choose(rng, _shares(CONTACT_OUTCOME_VALUES, {"DECLINED": .85, "NO_RESPONSE": .15}), size),
        _choose(rng, _shares(CONTACT_OUTCOME_VALUES, {"ACCEPTED": .65, "DECLINED": .35}), size))
    subject = np.where(churned, 0, rng.integers(1, 3, size)) + len(subjects)
    subjects.extend(RETENTION_SUBJECTS)
    about = holdings.random_product(rng, customer)
    about = np.where(rng.random(size) < .5, about, -1)
    satisfaction = _satisfaction(rng, churn.satisfaction[customer], np.where(churned, -.8, .2),
                                 rng.random(size) < .2)
    return _ContactRows(customer=customer, at=day * DAY_US + _time_of_day_us(rng, channel),
                        kind=np.full(size, _code(CONTACT_KIND_VALUES, "RETENTION")), channel=channel,
                        outcome=outcome, satisfaction=satisfaction, subject=subject,
                        campaign=np.full(size, -1), resolved=np.full(size, -1), about=about)


def _campaign_audience(audience: str, holdings: _Holdings) -> np.ndarray:
    """Customers a campaign targets, by what they hold today."""
    h = holdings
    audiences = {
        "no_broadband": ~h.broadband,
        "broadband_no_bundle": h.broadband & ~h.bundle,
        "broadband_no_tv": h.broadband & ~h.tv,
        "broadband": h.broadband,
        "mobile": h.mobile,
        "mobile_no_bundle": h.mobile & ~h.bundle,
    }
    return audiences[audience]


_HOLDS_MOBILE = {"any": [{"holds": {"category": "VOICE"}}, {"holds": {"category": "MOBILE_DATA"}}]}
_HOLDS_BROADBAND = {"holds": {"category": "BROADBAND"}}
#: Each campaign audience of :func:`_campaign_audience` as a segment definition (``docs/segments.md``):
#: the demo campaigns' ``target_definition``, so their audience can be rebuilt through the API.
#: Key accounts were never targeted (their account manager makes offers).
AUDIENCE_DEFINITIONS: dict[str, dict] = {
    "no_broadband": {"not": _HOLDS_BROADBAND},
    "broadband_no_bundle": {"all": [_HOLDS_BROADBAND, {"not": {"holds": {"bundle": True}}}]},
    "broadband_no_tv": {"all": [_HOLDS_BROADBAND, {"not": {"holds": {"category": "TV"}}}]},
    "broadband": _HOLDS_BROADBAND,
    "mobile": _HOLDS_MOBILE,
    "mobile_no_bundle": {"all": [_HOLDS_MOBILE, {"not": {"holds": {"bundle": True}}}]},
}


def _target_definition(audience: str) -> str:
    """The JSON ``target_definition`` of a demo campaign for ``audience``: who it is for, without key accounts."""
    not_key = {"attribute": {"key": "tier", "op": "NE", "value": "KEY_ACCOUNT"}}
    return json.dumps({"all": [AUDIENCE_DEFINITIONS[audience], not_key]}, sort_keys=True)


def _campaign_contacts(rng: np.random.Generator, number: int, campaign: _Campaign, people: _People,
                       churn: _Churn, holdings: _Holdings, cat: _Catalog, clock: _Clock,
                       as_of: datetime.date, subjects: list[str], codes: list[str]) -> _ContactRows:
    """One campaign: an SMS to ~40% of its audience, then an outbound call to some non-responders.

    Only customers (not key accounts) who had joined before the campaign and
    stayed until after it are targeted. Unhappy customers accept less often.
    """
    code, start_date = _campaign_code(campaign, as_of)
    start = (start_date - datetime.date(1970, 1, 1)).days
    product = cat.index[campaign.product]
    codes.append(code)
    subjects.append(f"{SEASONS[start_date.month - 1].title()} offer: {cat.items[product].name}")
    subject = len(subjects) - 1
    eligible = (_campaign_audience(campaign.audience, holdings) & (people.tier != KEY_ACCOUNT)
                & (people.joined < start) & (churn.last_day > start + 21))
    sms_customer = np.flatnonzero(eligible & (rng.random(people.count) < .4))
    mood = np.exp(-.4 * people.dissatisfaction)
    accepted = _code(CONTACT_OUTCOME_VALUES, "ACCEPTED")
    declined = _code(CONTACT_OUTCOME_VALUES, "DECLINED")
    no_response = _code(CONTACT_OUTCOME_VALUES, "NO_RESPONSE")

    def responses(customer: np.ndarray, accept: float, decline: float) -> np.ndarray:
        u = rng.random(len(customer))
        p_accept = accept * mood[customer]
        return np.where(u < p_accept, accepted, np.where(u < p_accept + decline, declined, no_response))

    sms_outcome = responses(sms_customer, .04, .06)
    sms_day = start + rng.integers(0, 3, len(sms_customer))
    silent = sms_customer[(sms_outcome == no_response)]
    call_customer = silent[rng.random(len(silent)) < .35]
    call_outcome = responses(call_customer, .13, .45)
    call_day = start + rng.integers(7, 21, len(call_customer))

    customer = np.concatenate([sms_customer, call_customer])
    channel = np.concatenate([np.full(len(sms_customer), SMS), np.full(len(call_customer), OUTBOUND_CALL)])
    day = np.concatenate([sms_day, call_day])
    size = len(customer)
    outcome = np.concatenate([sms_outcome, call_outcome])
    reached = (channel == OUTBOUND_CALL) & (outcome != no_response)
    satisfaction = _satisfaction(rng, churn.satisfaction[customer], 0.0, reached & (rng.random(size) < .1))
    return _ContactRows(customer=customer, at=day * DAY_US + _time_of_day_us(rng, channel),
                        kind=np.full(size, _code(CONTACT_KIND_VALUES, "CAMPAIGN_OFFER")), channel=channel,
                        outcome=outcome, satisfaction=satisfaction, subject=np.full(size, subject),
                        campaign=np.full(size, number), resolved=np.full(size, -1),
                        about=np.full(size, product))


# --------------------------------------------------------------------------
# Monetary events
# --------------------------------------------------------------------------


@dataclass
class _EventRows:
    """Monetary events as numpy columns."""

    account: np.ndarray
    kind: np.ndarray
    amount: np.ndarray
    at: np.ndarray
    description: np.ndarray  # index into the description list

    @classmethod
    def concat(cls, parts: list[_EventRows]) -> _EventRows:
        return cls(*(np.concatenate([getattr(p, n) for p in parts]) for n in cls.__dataclass_fields__))

    def take(self, rows: np.ndarray) -> _EventRows:
        return _EventRows(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))


def _monetary_events(rng: np.random.Generator, accounts: _Accounts, subs: _Subscriptions,
                     contacts: _ContactRows, cat: _Catalog,
                     clock: _Clock) -> tuple[_EventRows, list[str]]:
    """Invoices and payments, top-ups, device purchases and refunds; sorted by account and time."""
    descriptions: list[str] = []
    parts = _billing(rng, accounts, subs, clock, descriptions)
    parts.append(_top_ups(rng, accounts, clock, descriptions))
    parts += _purchases_and_refunds(rng, accounts, contacts, cat, clock, descriptions)
    events = _EventRows.concat(parts)
    order = np.lexsort((events.at, events.account))
    return events.take(order), descriptions


def _billing(rng: np.random.Generator, accounts: _Accounts, subs: _Subscriptions, clock: _Clock,
             descriptions: list[str]) -> list[_EventRows]:
    """Monthly INVOICE (subscriptions active that day, net of discount, plus out-of-bundle usage)
    and its PAYMENT some days later, on postpaid and business accounts.

    Direct debit is collected after five days, cards within three, invoices
    within a month; a few invoices stay unpaid (many on suspended accounts).
    Payments that would fall on or after ``as_of`` are not there yet.
    """
    billed = accounts.type != PREPAID
    net = subs.fee * (1 - subs.discount)
    invoice_code = _code(MONETARY_KIND_VALUES, "INVOICE")
    payment_code = _code(MONETARY_KIND_VALUES, "PAYMENT")
    delay_by_method = {_code(PAYMENT_METHOD_VALUES, "DIRECT_DEBIT"): (5, 6),
                       _code(PAYMENT_METHOD_VALUES, "CARD"): (1, 4),
                       _code(PAYMENT_METHOD_VALUES, "INVOICE"): (7, 31)}
    unpaid_chance = np.where(accounts.status == ACCOUNT_SUSPENDED, .6, .015)
    parts = []
    for month_start in clock.billing_months:
        running = (subs.since <= month_start) & ((subs.until < 0) | (subs.until > month_start))
        amount = np.bincount(subs.account[running], weights=net[running], minlength=accounts.count)
        usage = np.where(rng.random(accounts.count) < .3, rng.exponential(6.0, accounts.count), 0.0)
        amount = np.round(amount + usage * (amount > 0), 2)
        open_then = (accounts.opened <= month_start) & (
            (accounts.closed < 0) | (accounts.closed > month_start))
        account = np.flatnonzero(billed & open_then & (amount > 0))
        size = len(account)
        label = str(np.datetime64(int(month_start), "D").astype("datetime64[M]"))
        descriptions += [f"Invoice {label}", f"Payment invoice {label}"]
        invoice_at = month_start * DAY_US + 2 * 3_600_000_000 + rng.integers(0, 3_600_000_000, size)
        delay = np.zeros(size, dtype=np.int64)
        method = accounts.payment[account]
        for code, (lo, hi) in delay_by_method.items():
            rows = np.flatnonzero(method == code)
            delay[rows] = rng.integers(lo, hi, len(rows))
        paid_at = (month_start + delay) * DAY_US + rng.integers(6 * 3_600_000_000, 22 * 3_600_000_000, size)
        paid = (rng.random(size) >= unpaid_chance[account]) & (paid_at < clock.as_of * DAY_US)
        parts.append(_EventRows(account, np.full(size, invoice_code), amount[account], invoice_at,
                                np.full(size, len(descriptions) - 2)))
        parts.append(_EventRows(account[paid], np.full(paid.sum(), payment_code), amount[account][paid],
                                paid_at[paid], np.full(paid.sum(), len(descriptions) - 1)))
    return parts


def _top_ups(rng: np.random.Generator, accounts: _Accounts, clock: _Clock,
             descriptions: list[str]) -> _EventRows:
    """Prepaid TOP_UP events (about one every seven weeks) over the billing window."""
    window_start = int(clock.billing_months[0]) if len(clock.billing_months) else clock.as_of
    lo = np.maximum(accounts.opened, window_start)
    hi = accounts.last_day
    active = (accounts.type == PREPAID) & (lo <= hi)
    days = np.where(active, hi - lo + 1, 0)
    counts = rng.poisson(days / 50)
    account = np.repeat(np.arange(accounts.count), counts)
    size = len(account)
    day = _day_between(rng, lo[account], hi[account])
    amount = np.array([10.0, 15.0, 20.0, 25.0, 30.0, 50.0])[_choose(rng, [3, 2, 4, 1, 1, 1], size)]
    descriptions.append("Prepaid top-up")
    return _EventRows(account, np.full(size, _code(MONETARY_KIND_VALUES, "TOP_UP")), amount,
                      day * DAY_US + rng.integers(7 * 3_600_000_000, 23 * 3_600_000_000, size),
                      np.full(size, len(descriptions) - 1))


def _purchases_and_refunds(rng: np.random.Generator, accounts: _Accounts, contacts: _ContactRows,
                           cat: _Catalog, clock: _Clock, descriptions: list[str]) -> list[_EventRows]:
    """PURCHASE for every accepted purchase contact about a device (its one-off price, at the
    contact) and REFUND (goodwill credit) after a quarter of resolved complaints, booked on the
    customer's first account."""
    device = cat.category == _code(PRODUCT_CATEGORY_VALUES, "DEVICE")
    bought = np.flatnonzero((contacts.kind == _code(CONTACT_KIND_VALUES, "PURCHASE"))
                            & (contacts.outcome == _code(CONTACT_OUTCOME_VALUES, "ACCEPTED"))
                            & (contacts.about >= 0) & device[np.maximum(contacts.about, 0)])
    product = contacts.about[bought]
    offset = len(descriptions)
    descriptions += [f"Purchase {item.name}" for item in cat.items]
    purchases = _EventRows(accounts.start[contacts.customer[bought]],
                           np.full(len(bought), _code(MONETARY_KIND_VALUES, "PURCHASE")),
                           cat.one_off[product],
                           np.minimum(contacts.at[bought] + 60_000_000, clock.as_of * DAY_US - 1),
                           offset + product)

    complaint = contacts.kind == _code(CONTACT_KIND_VALUES, "COMPLAINT")
    resolved = np.flatnonzero(complaint & (contacts.resolved >= 0))
    refunded = resolved[rng.random(len(resolved)) < .25]
    descriptions += ["Goodwill credit", "Refund of incorrect charge"]
    refunds = _EventRows(accounts.start[contacts.customer[refunded]],
                         np.full(len(refunded), _code(MONETARY_KIND_VALUES, "REFUND")),
                         np.round(rng.uniform(5, 60, len(refunded)), 2), contacts.resolved[refunded],
                         len(descriptions) - 2 + rng.integers(0, 2, len(refunded)))
    return [purchases, refunds]


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------


def _customer_table(rng: np.random.Generator, people: _People, churn: _Churn, clock: _Clock) -> pa.Table:
    """Customer nodes: status CHURNED for churners, ``updated_at`` at the last change."""
    n = people.count
    status = np.where(churn.churned, _code(CUSTOMER_STATUS_VALUES, "CHURNED"),
                      _code(CUSTOMER_STATUS_VALUES, "ACTIVE"))
    lo = np.maximum(people.joined, clock.as_of - 365)
    day = np.where(churn.churned, churn.day, _day_between(rng, lo, np.full(n, clock.as_of - 1)))
    updated = day * DAY_US + rng.integers(0, DAY_US, n)
    columns = dict(people.columns, status=_pick(CUSTOMER_STATUS_VALUES, status),
                   updated_at=_timestamps(updated), merged_into=pa.nulls(n, pa.string()))
    return _table(MODEL.node("Customer").arrow_schema(), columns)


def _account_table(rng: np.random.Generator, accounts: _Accounts, clock: _Clock) -> pa.Table:
    """Account nodes."""
    n = accounts.count
    closed = accounts.closed >= 0
    day = np.where(closed, accounts.closed,
                   _day_between(rng, np.maximum(accounts.opened, clock.as_of - 365),
                                np.full(n, clock.as_of - 1)))
    has_contract = accounts.contract_end >= 0
    return _table(MODEL.node("Account").arrow_schema(), {
        "id": _ids("A", n, 7),
        "type": _pick(ACCOUNT_TYPE_VALUES, accounts.type),
        "status": _pick(ACCOUNT_STATUS_VALUES, accounts.status),
        "opened_on": _dates(accounts.opened),
        "closed_on": _dates(accounts.closed, closed),
        "payment_method": _pick(PAYMENT_METHOD_VALUES, accounts.payment),
        "contract_type": _pick(CONTRACT_TYPE_VALUES, accounts.contract),
        "contract_end": _dates(accounts.contract_end, has_contract),
        "updated_at": _timestamps(day * DAY_US + rng.integers(0, DAY_US, n)),
    })


def _product_tables(cat: _Catalog) -> tuple[pa.Table, dict[str, pa.Table]]:
    """Product nodes (with catalog eligibility and validity) and the product-to-product
    relationships: INCLUDES (bundle -> component, quantity, bundle discount) and the
    catalog rules REQUIRES, EXCLUDES and UPGRADES_TO."""
    items = cat.items

    def rule(name: str) -> pa.Array:
        type_ = ARROW_TYPES[MODEL.node("Product").prop(name).type]
        return pa.array([CATALOG_ELIGIBILITY.get(it.id, {}).get(name) for it in items], type_)

    planned = np.array([it.lifecycle == "PLANNED" for it in items])  # offered from its launch day
    products = _table(MODEL.node("Product").arrow_schema(), {
        "id": pa.array([it.id for it in items], pa.string()),
        "name": pa.array([it.name for it in items], pa.string()),
        "category": pa.array([it.category for it in items], pa.string()),
        "monthly_price": pa.array([float(it.monthly_price) for it in items], pa.float64()),
        "one_off_price": pa.array([float(it.one_off_price) for it in items], pa.float64()),
        "monthly_cost": pa.array([float(it.monthly_cost) for it in items], pa.float64()),
        "lifecycle": pa.array([it.lifecycle for it in items], pa.string()),
        "launched_on": _dates(cat.launched),
        "description": pa.array([it.description for it in items], pa.string()),
        "eligible_account_types": rule("eligible_account_types"),
        "eligible_tiers": rule("eligible_tiers"),
        "eligible_contract": rule("eligible_contract"),
        "min_tenure_months": rule("min_tenure_months"),
        "offer_from": _dates(cat.launched, planned),
        "offer_until": pa.nulls(len(items), pa.date32()),
        "offerable": pa.array([it.lifecycle != "RETIRED" for it in items], pa.bool_()),
        "repeatable": pa.nulls(len(items), pa.bool_()),  # plans, not top-ups: a held plan is not offered again
    })
    rows = [(b, c, q, BUNDLE_DISCOUNTS[b]) for b, parts in BUNDLE_COMPONENTS.items() for c, q in parts]
    rels = {"INCLUDES": _relationship(
        "INCLUDES", pa.array([r[0] for r in rows], pa.string()), pa.array([r[1] for r in rows], pa.string()),
        quantity=pa.array([r[2] for r in rows], pa.int64()),
        discount=pa.array([float(r[3]) for r in rows], pa.float64()))}
    requires = [(p, t) for p, targets in CATALOG_REQUIRES.items() for t in targets]
    rels["REQUIRES"] = _relationship("REQUIRES", pa.array([r[0] for r in requires], pa.string()),
                                     pa.array([r[1] for r in requires], pa.string()))
    rels["EXCLUDES"] = _relationship("EXCLUDES", pa.array([r[0] for r in CATALOG_EXCLUDES], pa.string()),
                                     pa.array([r[1] for r in CATALOG_EXCLUDES], pa.string()))
    rels["UPGRADES_TO"] = _relationship(
        "UPGRADES_TO", pa.array([r[0] for r in CATALOG_UPGRADES], pa.string()),
        pa.array([r[1] for r in CATALOG_UPGRADES], pa.string()),
        discount=pa.array([r[2] for r in CATALOG_UPGRADES], pa.float64()))
    return products, rels


def _subscription_table(rng: np.random.Generator, subs: _Subscriptions, clock: _Clock) -> pa.Table:
    """Subscription nodes."""
    n = len(subs.account)
    ended = subs.until >= 0
    day = np.minimum(np.where(ended, subs.until, np.maximum(subs.since, clock.as_of - 365)), clock.as_of - 1)
    return _table(MODEL.node("Subscription").arrow_schema(), {
        "id": _ids("S", n, 8),
        "status": _pick(SUBSCRIPTION_STATUS_VALUES, subs.status),
        "since": _dates(subs.since),
        "until": _dates(subs.until, ended),
        "monthly_fee": _money(subs.fee),
        "discount": pa.array(subs.discount, pa.float64()),
        "updated_at": _timestamps(day * DAY_US + rng.integers(0, DAY_US, n)),
    })


def _channel_table() -> pa.Table:
    """Channel nodes: exactly the CHANNELS catalogue of the model."""
    return _table(MODEL.node("Channel").arrow_schema(), {
        "id": pa.array([c[0] for c in CHANNELS], pa.string()),
        "name": pa.array([c[1] for c in CHANNELS], pa.string()),
        "kind": pa.array([c[2] for c in CHANNELS], pa.string()),
        "cost_per_contact": pa.array([float(c[3]) for c in CHANNELS], pa.float64()),
    })


def _contact_table(contacts: _ContactRows, subjects: list[str], codes: list[str],
                   cat: _Catalog) -> pa.Table:
    """Contact nodes; direction is OUTBOUND for campaign offers and outbound calls.

    Campaign contacts carry their wave (1 for the SMS, 2 for the outbound
    call), what they cost (the channel's cost per contact) and the offer.
    """
    n = len(contacts.customer)
    campaign = contacts.kind == _code(CONTACT_KIND_VALUES, "CAMPAIGN_OFFER")
    outbound = campaign | (contacts.channel == OUTBOUND_CALL)
    direction = np.where(outbound, _code(CONTACT_DIRECTION_VALUES, "OUTBOUND"),
                         _code(CONTACT_DIRECTION_VALUES, "INBOUND"))
    asked = contacts.satisfaction > 0
    return _table(MODEL.node("Contact").arrow_schema(), {
        "id": _ids("K", n, 8),
        "at": _timestamps(contacts.at),
        "direction": _pick(CONTACT_DIRECTION_VALUES, direction),
        "kind": _pick(CONTACT_KIND_VALUES, contacts.kind),
        "outcome": _pick(CONTACT_OUTCOME_VALUES, contacts.outcome),
        "satisfaction": pa.array(contacts.satisfaction, pa.int64(), mask=~asked),
        "subject": _pick(subjects, contacts.subject),
        "campaign": _pick(codes, np.maximum(contacts.campaign, 0), contacts.campaign >= 0),
        "resolved_at": _timestamps(contacts.resolved, contacts.resolved >= 0),
        "wave": pa.array(np.where(contacts.channel == SMS, 1, 2), pa.int64(), mask=~campaign),
        "cost": pa.array(np.array([c[3] for c in CHANNELS])[contacts.channel], pa.float64(), mask=~campaign),
        "offer": _pick([item.id for item in cat.items], np.maximum(contacts.about, 0),
                       campaign & (contacts.about >= 0)),
    })


#: The waves every demo campaign ran: an SMS, then an outbound call a week later to those who did not answer.
DEMO_WAVES = (("SMS", 0), ("OUTBOUND_CALL", 7))


def _demo_waves(start_us: int, contacted: list[int]) -> str:
    """The ``waves`` JSON of one demo campaign: both waves launched, with their contact counts and cost."""
    cost = {c[0]: c[3] for c in CHANNELS}
    waves = []
    for number, ((channel, delay), count) in enumerate(zip(DEMO_WAVES, contacted), start=1):
        launched = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=int(start_us) + delay * DAY_US)
        waves.append({"number": number, "channel": channel, "delay_days": delay, "only_non_responders": True,
                      "launched_at": launched.isoformat(), "contacted": int(count),
                      "cost": round(count * cost[channel], 2), "excluded": {}})
    return json.dumps(waves)


def _campaign_tables(contacts: _ContactRows, codes: list[str], cat: _Catalog, customer_ids: pa.Array,
                     contact_ids: pa.Array, as_of: datetime.date) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """The demo's past campaigns as ``Campaign`` nodes with ``OFFERS``, ``TARGETED`` and ``SENT``.

    They ran before cdp managed campaigns: no control group was held out, so
    their reports have no lift. Each carries its audience as a target definition
    (:data:`AUDIENCE_DEFINITIONS`), so ``campaign { audience }`` shows who it
    would reach today. Each contacted customer is TREATMENT; an
    ACCEPTED contact is the conversion (revenue: a year of the offer's price,
    plus its one-off price), a DECLINED one the decline.
    """
    rows = np.flatnonzero(contacts.campaign >= 0)
    number = contacts.campaign[rows]
    customer = contacts.customer[rows]
    at = contacts.at[rows]
    wave = np.where(contacts.channel[rows] == SMS, 1, 2)
    outcome = contacts.outcome[rows]
    product = contacts.about[rows]
    # Campaign nodes, one per code (in CAMPAIGNS order).
    count = len(codes)
    start_us = np.array([(_campaign_code(c, as_of)[1] - datetime.date(1970, 1, 1)).days * DAY_US
                         for c in CAMPAIGNS[:count]], dtype=np.int64)
    product_of = np.array([cat.index[c.product] for c in CAMPAIGNS[:count]])
    names = [f"{code.split('-')[2].title()} {code.split('-')[1]}: {cat.items[i].name}"
             for code, i in zip(codes, product_of)]
    campaign_ids = pa.array(codes, pa.string())
    campaigns = _table(MODEL.node("Campaign").arrow_schema(), {
        "id": campaign_ids,
        "name": pa.array(names, pa.string()),
        "description": pa.array([f"{c.theme.title()} campaign (generated history, no control group)"
                                 for c in CAMPAIGNS[:count]], pa.string()),
        "purpose": pa.array(["MARKETING"] * count, pa.string()),
        "status": pa.array(["COMPLETED"] * count, pa.string()),
        "target_segment": pa.nulls(count, pa.string()),
        "target_definition": pa.array([_target_definition(c.audience) for c in CAMPAIGNS[:count]], pa.string()),
        "waves": pa.array([_demo_waves(start_us[i], [int(((number == i) & (wave == w)).sum()) for w in (1, 2)])
                           for i in range(count)], pa.string()),
        "offer_choice": pa.array(["RANK"] * count, pa.string()),
        "control_share": pa.array(np.zeros(count), pa.float64()),
        "budget": pa.nulls(count, pa.float64()),
        "starts_at": _timestamps(start_us),
        "ends_at": _timestamps(start_us + 60 * DAY_US),
        "response_window_days": pa.array(np.full(count, 30), pa.int64()),
        "created_at": _timestamps(start_us - 14 * DAY_US),
        "updated_at": _timestamps(start_us + 60 * DAY_US),
        "launched_at": _timestamps(start_us),
    })
    offers = _relationship("OFFERS", campaign_ids, pc.take(pa.array([it.id for it in cat.items], pa.string()),
                                                           pa.array(product_of)),
                           rank=pa.array(np.ones(count, dtype=np.int64)))
    sent = _relationship("SENT", pc.take(campaign_ids, pa.array(number)), pc.take(contact_ids, pa.array(rows)))
    # One TARGETED row per (campaign, customer): the last contact says where they got to.
    order = np.lexsort((at, customer, number))
    number, customer, at, wave, outcome, product = (a[order] for a in (number, customer, at, wave, outcome, product))
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (number[1:] != number[:-1]) | (customer[1:] != customer[:-1])
    accepted = outcome == _code(CONTACT_OUTCOME_VALUES, "ACCEPTED")
    declined = outcome == _code(CONTACT_OUTCOME_VALUES, "DECLINED")
    responded = accepted | declined
    pick = np.flatnonzero(last)
    converted, refused, answered = accepted[pick], declined[pick], responded[pick]
    price = cat.price[product[pick]] * 12 + cat.one_off[product[pick]]
    targeted = _relationship(
        "TARGETED", pc.take(campaign_ids, pa.array(number[pick])), pc.take(customer_ids, pa.array(customer[pick])),
        cohort=pa.array(["TREATMENT"] * len(pick), pa.string()),
        assigned_at=_timestamps(start_us[number[pick]]),
        offer=pc.take(pa.array([it.id for it in cat.items], pa.string()), pa.array(product[pick])),
        last_wave=pa.array(wave[pick], pa.int64()),
        opened_at=_timestamps(at[pick], answered),
        responded_at=_timestamps(at[pick], answered),
        converted_at=_timestamps(at[pick], converted),
        declined_at=_timestamps(at[pick], refused),
        revenue=pa.array(np.round(price, 2), pa.float64(), mask=~converted),
        response_wave=pa.array(wave[pick], pa.int64(), mask=~answered),
    )
    return campaigns, offers, targeted, sent


def _event_table(events: _EventRows, descriptions: list[str]) -> pa.Table:
    """MonetaryEvent nodes (currency EUR, positive amounts)."""
    n = len(events.account)
    return _table(MODEL.node("MonetaryEvent").arrow_schema(), {
        "id": _ids("M", n, 8),
        "kind": _pick(MONETARY_KIND_VALUES, events.kind),
        "amount": _money(events.amount),
        "currency": _pick(("EUR",), np.zeros(n, dtype=np.int64)),
        "at": _timestamps(events.at),
        "description": _pick(descriptions, events.description),
    })


def _truth(people: _People, churn: _Churn, accounts: _Accounts, customer_ids: pa.Array,
           problems: np.ndarray) -> pd.DataFrame:
    """Per-customer ground truth: churn outcome, probability and the signals behind it."""
    table = pa.table({
        "customer_id": customer_ids,
        "tier": people.columns["tier"],
        "churned": pa.array(churn.churned),
        "churn_probability": pa.array(churn.probability),
        "churned_on": _dates(churn.day, churn.churned),
        "tenure_years": pa.array(churn.tenure_years),
        "contract_type": _pick(CONTRACT_TYPE_VALUES, accounts.contract[accounts.start]),
        "out_of_contract": pa.array(churn.out_of_contract),
        "complaints": pa.array(churn.complaints.astype(np.int64)),
        "problem_complaints": pa.array(problems.astype(np.int64)),
        "expected_satisfaction": pa.array(churn.satisfaction),
        "dissatisfaction": pa.array(people.dissatisfaction),
        "usage_share": pa.array(people.usage),
        "price_to_usage": pa.array(churn.price_to_usage),
        "products": pa.array(churn.products.astype(np.int64)),
        "has_bundle": pa.array(churn.has_bundle),
        "monthly_spend": pa.array(np.round(churn.spend, 2)),
    })
    return _truth_frame(table)


def _truth_frame(table: pa.Table) -> pd.DataFrame:
    """The truth table as pandas (dates as datetime64), the same way on generate and read."""
    return table.to_pandas(date_as_object=False)


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def generate(customers: int, *, seed: int = 42, as_of: datetime.date = datetime.date(2026, 11, 1),
             progress: Progress | None = None) -> DemoData:
    """Generate demo data for ``customers`` customers.

    The result is deterministic for the same ``customers``, ``seed`` and
    ``as_of``; all activity lies before ``as_of`` (contacts and churn within
    two years, billing within six months). ``progress(stage, rows)`` is called
    after each stage with the stage name and the number of table rows built so
    far (about 50 per customer in the end).

    Returns a :class:`DemoData` with every node and relationship table of the
    model and the per-customer ``truth`` frame described in the module docstring.

    Raises InvalidInput when ``customers`` is not an integer in
    1..10,000,000, ``seed`` is not a non-negative integer or ``as_of`` is not
    a date.
    """
    _check_arguments(customers, seed, as_of)
    clock = _Clock.at(as_of)
    # Streams are children of one seed; a new mechanism takes a new child at the end, so the
    # data of the others stays what it was (child i does not depend on how many are spawned).
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(12)]
    nodes: dict[str, pa.Table] = {}
    rels: dict[str, pa.Table] = {}

    def done(stage: str) -> None:
        if progress is not None:
            progress(stage, sum(t.num_rows for t in nodes.values()) + sum(t.num_rows for t in rels.values()))

    cat = _catalog(clock.as_of)
    nodes["Product"], catalog_rels = _product_tables(cat)
    rels.update(catalog_rels)
    nodes["Channel"] = _channel_table()
    done("catalog")

    people = _customers(streams[0], customers, clock)
    accounts = _accounts(streams[1], people, clock)
    chosen = _choose_subscriptions(streams[2], accounts, people, cat, clock.as_of)
    churn = _churn(streams[3], people, accounts, chosen, cat, clock)
    _close_accounts(streams[4], accounts, churn, clock)
    nodes["Customer"] = _customer_table(streams[4], people, churn, clock)
    customer_ids = nodes["Customer"].column("id").combine_chunks()
    nodes["Account"] = _account_table(streams[4], accounts, clock)
    account_ids = nodes["Account"].column("id").combine_chunks()
    rels["HOLDS"] = _relationship("HOLDS", pc.take(customer_ids, accounts.customer), account_ids)
    done("customers")

    subs = _date_subscriptions(streams[5], chosen, accounts, cat, clock)
    del chosen
    nodes["Subscription"] = _subscription_table(streams[5], subs, clock)
    product_ids = nodes["Product"].column("id").combine_chunks()
    sub_ids = nodes["Subscription"].column("id").combine_chunks()
    rels["HAS_SUBSCRIPTION"] = _relationship("HAS_SUBSCRIPTION", pc.take(account_ids, subs.account), sub_ids)
    rels["OF_PRODUCT"] = _relationship("OF_PRODUCT", sub_ids, pc.take(product_ids, subs.product))
    del sub_ids
    done("subscriptions")

    prefs = _preferences(streams[6], people, churn, clock)
    channel_ids = nodes["Channel"].column("id").combine_chunks()
    rels["PREFERS"] = _relationship(
        "PREFERS", pc.take(customer_ids, prefs.customer), pc.take(channel_ids, prefs.channel),
        rank=pa.array(prefs.rank, pa.int64()), source=_pick(("CUSTOMER", "INFERRED"), prefs.source),
        updated_at=_timestamps(prefs.updated))
    done("preferences")

    holdings = _holdings(subs, accounts, cat, people.count)
    problems = _ongoing_problems(streams[10], people, churn, accounts, holdings, clock)
    contacts, subjects, codes = _contacts(streams[7], people, churn, holdings, prefs, cat, clock, as_of,
                                          (streams[10], problems))
    del holdings
    nodes["Contact"] = _contact_table(contacts, subjects, codes, cat)
    contact_ids = nodes["Contact"].column("id").combine_chunks()
    rels["HAD_CONTACT"] = _relationship("HAD_CONTACT", pc.take(customer_ids, contacts.customer), contact_ids)
    rels["VIA"] = _relationship("VIA", contact_ids, pc.take(channel_ids, contacts.channel))
    about = np.flatnonzero(contacts.about >= 0)
    rels["ABOUT"] = _relationship("ABOUT", pc.take(contact_ids, about),
                                  pc.take(product_ids, contacts.about[about]))
    nodes["Campaign"], rels["OFFERS"], rels["TARGETED"], rels["SENT"] = \
        _campaign_tables(contacts, codes, cat, customer_ids, contact_ids, as_of)
    del contact_ids, about
    done("contacts")

    events, descriptions = _monetary_events(streams[8], accounts, subs, contacts, cat, clock)
    del contacts, subs
    nodes["MonetaryEvent"] = _event_table(events, descriptions)
    rels["HAS_EVENT"] = _relationship("HAS_EVENT", pc.take(account_ids, events.account),
                                      nodes["MonetaryEvent"].column("id").combine_chunks())
    done("monetary events")

    nodes["Identity"], nodes["AttributeValue"], rels["HAS_IDENTITY"], rels["HAS_ATTRIBUTE"] = \
        _provenance(nodes["Customer"])
    consents, consent_links = _consents(streams[11], nodes["Customer"], people, churn)
    nodes["AttributeValue"] = pa.concat_tables([nodes["AttributeValue"], consents])
    rels["HAS_ATTRIBUTE"] = pa.concat_tables([rels["HAS_ATTRIBUTE"], consent_links])
    nodes["ImportRun"] = MODEL.node("ImportRun").arrow_schema().empty_table()
    for label in ("Segment", "ContactPolicy", "ApiKey"):
        nodes[label] = MODEL.node(label).arrow_schema().empty_table()
    done("identities, attribute provenance and consents")

    truth = _truth(people, churn, accounts, customer_ids, problems)
    data = DemoData(nodes={n.label: nodes[n.label] for n in MODEL.nodes},
                    relationships={r.type: rels[r.type] for r in MODEL.relationships}, truth=truth)
    done("done")
    return data


#: Profile attributes the demo records with provenance (from the CRM, accuracy 0.8).
PROVENANCE_KEYS = ("email", "phone")


def _provenance(customers: pa.Table) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """One CRM ``Identity`` per customer and CRM ``AttributeValue`` rows for
    ``PROVENANCE_KEYS``: (identities, values, HAS_IDENTITY, HAS_ATTRIBUTE)."""
    cid = customers.column("id").combine_chunks()
    n = len(cid)
    identity_ids = pc.binary_join_element_wise("CRM", cid, ":")
    linked = pc.cast(pc.cast(customers.column("joined_on"), pa.timestamp("s")), pa.timestamp("us"))
    identities = _table(MODEL.node("Identity").arrow_schema(), {
        "id": identity_ids, "source": pa.array(["CRM"] * n), "source_key": cid,
        "matched_by": pa.array(["SEED"] * n), "confidence": pa.array(np.ones(n)), "linked_at": linked,
    })
    parts = []
    for key in PROVENANCE_KEYS:
        values = customers.column(key).combine_chunks()
        keep = pc.is_valid(values)
        ids = pc.filter(identity_ids, keep)
        m = len(ids)
        observed = pc.filter(customers.column("updated_at").combine_chunks(), keep)
        parts.append(pa.table({
            "id": value_ids(ids, key, observed),
            "key": pa.array([key] * m), "value": pc.filter(values, keep), "source": pa.array(["CRM"] * m),
            "identity_id": ids, "observed_at": observed,
            "accuracy": pa.array(np.full(m, 0.8)), "customer_maintained": pa.array(np.zeros(m, bool)),
            "verified": pa.array(np.zeros(m, bool)), "expires_at": pa.nulls(m, pa.timestamp("us")),
            "owner": pc.filter(cid, keep),
        }))
    values = pa.concat_tables(parts)
    owners = values.column("owner")
    values = _table(MODEL.node("AttributeValue").arrow_schema(),
                    {name: values.column(name) for name in MODEL.node("AttributeValue").property_names})
    return (identities, values, _relationship("HAS_IDENTITY", cid, identity_ids),
            _relationship("HAS_ATTRIBUTE", owners, values.column("id")))


#: Consent statements of the demo (``_consents``): (key, status, share of customers, source,
#: customer-maintained). Shares are of every customer unless the mechanism says otherwise.
CONSENT_AT_SIGN_UP_GRANTED = 0.60
CONSENT_AT_SIGN_UP_DENIED = 0.18
EMAIL_MARKETING_GRANTED = 0.40
SMS_MARKETING_DENIED = 0.10
DO_NOT_CALL = 0.07
DATA_SHARING_GRANTED = 0.12
DATA_SHARING_WITHDRAWN = 0.15
PROFILING_DENIED = 0.02
MARKETING_WITHDRAWN = 0.06
MARKETING_WITHDRAWN_UNHAPPY = 0.18
SIGN_UP_SOURCES = ("WEB", "STORE", "CALL_CENTRE")
SIGN_UP_SOURCE_SHARES = (0.45, 0.35, 0.20)


def _consents(rng: np.random.Generator, customers: pa.Table, people: _People,
              churn: _Churn) -> tuple[pa.Table, pa.Table]:
    """Consent statements (``cdp.privacy.consent``) as ``AttributeValue`` rows and their
    ``HAS_ATTRIBUTE`` links: (values, HAS_ATTRIBUTE). Each statement is recorded as
    ``recordConsent`` records one (identity ``<SOURCE>:<customer id>``, accuracy 1, value
    in lower case), observed between joining and the customer's last day. The mechanisms
    and their shares: the module docstring."""
    cid = customers.column("id").combine_chunks()
    n = people.count
    joined, last = people.joined, np.maximum(churn.last_day, people.joined)
    parts: list[tuple[np.ndarray, str, str, str, np.ndarray, bool]] = []

    def on_day(rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """A moment in office hours (08:00-20:00) of a day in [lo, hi] per row."""
        day = _day_between(rng, lo[rows], hi[rows])
        return day * DAY_US + rng.integers(8 * 3600, 20 * 3600, len(rows)) * 1_000_000

    # At sign-up, through the channel the customer joined by: MARKETING granted or refused.
    u = rng.random(n)
    source = _choose(rng, np.array(SIGN_UP_SOURCE_SHARES), n)
    signed_up = on_day(np.arange(n), joined, joined)
    granted = np.flatnonzero(u < CONSENT_AT_SIGN_UP_GRANTED)
    denied = np.flatnonzero((u >= CONSENT_AT_SIGN_UP_GRANTED)
                            & (u < CONSENT_AT_SIGN_UP_GRANTED + CONSENT_AT_SIGN_UP_DENIED))
    for rows, status in ((granted, "granted"), (denied, "denied")):
        for code, name in enumerate(SIGN_UP_SOURCES):
            picked = rows[source[rows] == code]
            parts.append((picked, "consent_marketing", status, name, signed_up[picked], name == "WEB"))
    # Channel statements made on the sign-up form: e-mail offers yes, SMS offers no.
    email = np.asarray(pc.is_valid(customers.column("email").combine_chunks()))
    for key, status, share in (("consent_email_marketing", "granted", EMAIL_MARKETING_GRANTED),
                               ("consent_sms_marketing", "denied", SMS_MARKETING_DENIED)):
        rows = np.flatnonzero((rng.random(n) < share) & (email if key.startswith("consent_email") else True))
        parts.append((rows, key, status, "WEB", signed_up[rows], True))
    # Later: the do-not-call register (outbound calls, every purpose), data sharing granted
    # (some withdrawn again), profiling refused, marketing withdrawn (more by unhappy customers).
    rows = np.flatnonzero(rng.random(n) < DO_NOT_CALL)
    parts.append((rows, "consent_outbound_call", "denied", "CALL_CENTRE", on_day(rows, joined, last), False))
    rows = np.flatnonzero(rng.random(n) < DATA_SHARING_GRANTED)
    shared = on_day(rows, joined, last)
    parts.append((rows, "consent_data_sharing", "granted", "WEB", shared, True))
    back = rng.random(len(rows)) < DATA_SHARING_WITHDRAWN
    end_of = last * DAY_US + 20 * 3600 * 1_000_000  # the last day's close: never after as_of
    parts.append((rows[back], "consent_data_sharing", "revoked", "APP",
                  np.minimum(shared[back] + rng.integers(1, 180, int(back.sum())) * DAY_US, end_of[rows[back]]),
                  True))
    rows = np.flatnonzero(rng.random(n) < PROFILING_DENIED)
    parts.append((rows, "consent_profiling", "denied", "APP", on_day(rows, joined, last), True))
    withdraw = np.where(people.dissatisfaction > 1.0, MARKETING_WITHDRAWN_UNHAPPY, MARKETING_WITHDRAWN)
    rows = granted[rng.random(len(granted)) < withdraw[granted]]
    later = np.minimum(np.maximum(on_day(rows, joined, last), signed_up[rows] + DAY_US), end_of[rows])
    parts.append((rows, "consent_marketing", "revoked", "APP", later, True))

    owner = np.concatenate([p[0] for p in parts])
    owners = pc.take(cid, pa.array(owner, pa.int64()))
    sources = np.concatenate([np.full(len(p[0]), p[3], dtype=object) for p in parts])
    identities = pc.binary_join_element_wise(pa.array(sources, pa.string()), owners, ":")
    keys = pa.array(np.concatenate([np.full(len(p[0]), p[1], dtype=object) for p in parts]), pa.string())
    observed = _timestamps(np.concatenate([p[4] for p in parts]))
    m = len(owner)
    values = _table(MODEL.node("AttributeValue").arrow_schema(), {
        "id": value_ids(identities, keys, observed), "key": keys,
        "value": pa.array(np.concatenate([np.full(len(p[0]), p[2], dtype=object) for p in parts]), pa.string()),
        "source": pa.array(sources, pa.string()), "identity_id": identities, "observed_at": observed,
        "accuracy": pa.array(np.ones(m)),
        "customer_maintained": pa.array(np.concatenate([np.full(len(p[0]), p[5], dtype=bool) for p in parts])),
        "verified": pa.array(np.zeros(m, bool)), "expires_at": pa.nulls(m, pa.timestamp("us")),
    })
    return values, _relationship("HAS_ATTRIBUTE", owners, values.column("id"))


def _check_arguments(customers: object, seed: object, as_of: object) -> None:
    """Raise InvalidInput for arguments generate() cannot work with."""
    if isinstance(customers, bool) or not isinstance(customers, (int, np.integer)) \
            or not 1 <= customers <= MAX_CUSTOMERS:
        raise InvalidInput(f"customers must be an integer from 1 to {MAX_CUSTOMERS:,}, got {customers!r}",
                           field="customers")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInput(f"seed must be a non-negative integer, got {seed!r}", field="seed")
    if not isinstance(as_of, datetime.date) or isinstance(as_of, datetime.datetime):
        raise InvalidInput(f"as_of must be a date, got {as_of!r}", field="as_of")


TRUTH_COLUMNS = ("customer_id", "churned", "churn_probability")
"""Columns ``truth.parquet`` must have."""


def _files(directory: Path) -> dict[tuple[str, str], Path]:
    """(kind, name) -> parquet path for every table of the model."""
    files = {("node", n.label): directory / "nodes" / f"{n.label}.parquet" for n in MODEL.nodes}
    files.update({("relationship", r.type): directory / "relationships" / f"{r.type}.parquet"
                  for r in MODEL.relationships})
    return files


def write_parquet(data: DemoData, directory: Path) -> None:
    """Write one parquet file per table: ``nodes/<Label>.parquet``,
    ``relationships/<TYPE>.parquet`` and ``truth.parquet`` under ``directory``
    (created if needed; existing files are overwritten).

    Raises OSError when the directory cannot be written.
    """
    directory = Path(directory)
    for (kind, name), path in _files(directory).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        table = data.nodes[name] if kind == "node" else data.relationships[name]
        pq.write_table(table, path)
    pq.write_table(pa.Table.from_pandas(data.truth, preserve_index=False), directory / "truth.parquet")


def read_parquet(directory: Path) -> DemoData:
    """Read demo data written by :func:`write_parquet`.

    Every table is checked against the model's schema. Raises InvalidInput,
    naming the file, when a file is missing, unreadable or has another schema
    (or ``truth.parquet`` lacks customer_id / churned / churn_probability).
    """
    directory = Path(directory)
    nodes: dict[str, pa.Table] = {}
    rels: dict[str, pa.Table] = {}
    for (kind, name), path in _files(directory).items():
        expected = (MODEL.node(name) if kind == "node" else MODEL.relationship(name)).arrow_schema()
        table = _read_table(path)
        if not table.schema.equals(expected, check_metadata=False):
            raise InvalidInput(f"demo file {path} does not match the {kind} schema of {name}: "
                               f"expected {expected.names} {expected.types}, found "
                               f"{table.schema.names} {table.schema.types}", field=str(path))
        (nodes if kind == "node" else rels)[name] = table.replace_schema_metadata(None)
    truth_path = directory / "truth.parquet"
    truth = _read_table(truth_path)
    missing = [c for c in TRUTH_COLUMNS if c not in truth.column_names]
    if missing:
        raise InvalidInput(f"demo file {truth_path} lacks columns {missing}", field=str(truth_path))
    return DemoData(nodes=nodes, relationships=rels, truth=_truth_frame(truth.replace_schema_metadata(None)))


def _read_table(path: Path) -> pa.Table:
    """Read one parquet file; InvalidInput naming it when missing or unreadable."""
    if not path.is_file():
        raise InvalidInput(f"demo file {path} is missing", field=str(path))
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"demo file {path} cannot be read: {exc}", field=str(path)) from exc
