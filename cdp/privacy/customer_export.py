"""Everything cdp holds about one person, as one JSON document (``exportCustomerData``,
``cdp privacy export``; docs/privacy.md).

``export(store, customer_id, now, analytics)`` reads, for the customer:

| key | what |
|---|---|
| ``customer`` | every property of the ``Customer`` node |
| ``attribute_values`` | every profile value with its provenance (source, identity, observed, accuracy, customer maintained, verified, expiry), consents included, newest first |
| ``consents`` | the effective consent statements now (``cdp.privacy.consent.current``) |
| ``identities`` | the source-system records merged into the customer |
| ``accounts`` | each account with its ``subscriptions`` (and product) and ``monetary_events`` |
| ``contacts`` | every contact (with its channel), newest first; ``complaints`` repeats those of kind COMPLAINT |
| ``channel_preferences`` | ranked preferred channels |
| ``campaigns`` | campaign audiences the customer is in (cohort, offer, waves, responses, revenue) |
| ``merged_customers`` | ids of customers merged into this one (their records moved here) |
| ``segments`` | saved segments the customer belongs to now (id, name) |
| ``scores`` | churn probability, lifetime value and product propensities, when a model is trained (else null) |

Keys are the property names of ``graph/model.py``; times are ISO 8601 in UTC
(``+00:00``), days ``YYYY-MM-DD``. Values are shown as stored: the export is for the
person themselves (or an operator acting for them), so nothing is masked.
"""

from __future__ import annotations

import logging
import math
from datetime import date, datetime, timezone
from collections.abc import Sequence
from typing import Any, Protocol

from cdp.privacy import consent
from cdp.errors import CdpError, NotFound
from graph.store import GraphStore

log = logging.getLogger(__name__)


class SavedSegment(Protocol):
    """What an export reads of a saved segment (``cdp.segments.engine.Segment``)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def definition(self) -> Any: ...


class Membership(Protocol):
    """What an export reads of a segment's evaluation (``cdp.segments.engine.Evaluation``)."""

    def contains(self, customer_id: str) -> bool: ...


class SegmentSource(Protocol):
    """What an export reads of the segment engine (``cdp.segments.engine.SegmentEngine``); a
    Protocol, so privacy imports neither segments nor models (both read consent rules)."""

    def list(self) -> Sequence[SavedSegment]: ...
    def evaluate(self, definition: Any, *, authorise: Any) -> Membership: ...


class Card(Protocol):
    """What an export reads of a model card (``cdp.models.model_card.ModelCard``)."""

    @property
    def name(self) -> str: ...


class Scores(Protocol):
    """What an export reads of one customer's scores (``cdp.models.scoring.CustomerScores``)."""

    @property
    def churn_probability(self) -> float | None: ...
    @property
    def lifetime_value(self) -> float | None: ...
    @property
    def value_model(self) -> str | None: ...
    @property
    def monthly_margin(self) -> float | None: ...
    @property
    def propensities(self) -> Sequence[tuple[str, float, bool]]: ...


class ScoreSource(Protocol):
    """What an export reads of the model registry (``cdp.models.scoring.ModelRegistry``); a
    Protocol, so privacy does not import models (models import privacy's consent rules)."""

    def cards(self) -> Sequence[Card]: ...
    def customer_scores(self, customer_id: str, propensity: bool = True) -> Scores | None: ...


class CustomerAnalytics(Protocol):
    """What an export reads of the app's analytics (``cdp.analytics.analytics.Analytics``): saved
    segments and their evaluation, and the model scores."""

    @property
    def segments(self) -> SegmentSource: ...

    @property
    def models(self) -> ScoreSource: ...


#: Version of the document's layout (bumped when keys change meaning).
FORMAT_VERSION = 1


def export(store: GraphStore, customer_id: str, now: datetime,
           analytics: CustomerAnalytics | None = None) -> dict[str, Any]:
    """The export document of ``customer_id`` as of ``now`` (naive UTC); ``analytics`` (the
    app's, optional) adds segments and scores.

    Raises ``NotFound`` for an unknown customer; store errors propagate.
    """
    found = store.customers([customer_id]).get(customer_id)
    if found is None:
        raise NotFound(f"no customer {customer_id!r}", field="customerId")
    ids = [customer_id]
    values = store.attribute_values_of_customers(ids).get(customer_id, [])
    values.sort(key=lambda v: (v.get("observed_at") or datetime.min, v.get("id") or ""), reverse=True)
    accounts = store.accounts_of_customers(ids).get(customer_id, [])
    account_ids = [a["id"] for a in accounts]
    subscriptions = store.subscriptions_of_accounts(account_ids) if account_ids else {}
    events = store.monetary_events_of_accounts(account_ids) if account_ids else {}
    contacts = store.contacts_of_customers(ids).get(customer_id, [])
    campaigns = store.campaigns_of_customers(ids).get(customer_id, [])
    document = {
        "format_version": FORMAT_VERSION,
        "customer_id": customer_id,
        "exported_at": _json(now),
        "customer": _json(found),
        "attribute_values": _json(values),
        "consents": [_json(vars(c)) for c in consent.current(values, now)],
        "identities": _json(store.identities_of_customers(ids).get(customer_id, [])),
        "accounts": [{**_json(a), "subscriptions": _json(subscriptions.get(a["id"], [])),
                      "monetary_events": _json(events.get(a["id"], []))} for a in accounts],
        "contacts": _json(contacts),
        "complaints": _json([k for k in contacts if k.get("kind") == "COMPLAINT"]),
        "channel_preferences": _json(store.preferred_channels(ids).get(customer_id, [])),
        "campaigns": _json(sorted(campaigns, key=lambda g: (g.get("assigned_at") or datetime.min,
                                                             g["campaign_id"]))),
        "merged_customers": sorted(store.customers_merged_into(ids)),
        "segments": None,
        "scores": None,
    }
    if analytics is not None:
        document["segments"] = _segments(analytics, customer_id)
        document["scores"] = _scores(analytics, customer_id)
    return document


def _segments(analytics: CustomerAnalytics, customer_id: str) -> list[dict[str, str]]:
    """Saved segments the customer belongs to now; a definition that no longer evaluates is skipped."""
    out = []
    engine = analytics.segments
    for segment in engine.list():
        try:
            # the export is for the person or for staff who read every field (docs/privacy.md)
            if engine.evaluate(segment.definition, authorise=None).contains(customer_id):
                out.append({"id": segment.id, "name": segment.name})
        except CdpError as exc:
            log.warning("segment %s skipped in the export of %s: %s", segment.id, customer_id, exc)
    return out


def _scores(analytics: CustomerAnalytics, customer_id: str) -> dict[str, Any] | None:
    """The customer's model scores, or None when no model is trained."""
    models = analytics.models
    if not models.cards():
        return None
    scores = models.customer_scores(customer_id, propensity=True)
    if scores is None:
        return None
    return _json({
        "models": [card.name for card in models.cards()],
        "churn_probability": scores.churn_probability,
        "lifetime_value": scores.lifetime_value,
        "lifetime_value_model": scores.value_model,
        "monthly_margin": scores.monthly_margin,
        "propensities": [{"product_id": p, "probability": v, "model_based": m} for p, v, m in scores.propensities],
    })


def _json(value: Any) -> Any:
    """``value`` with times as ISO 8601 UTC text, days as ``YYYY-MM-DD`` and NaN as null."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

