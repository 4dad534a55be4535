"""Recording how a customer answered an offer, so the next recommendations know.

A response is stored the way every other interaction is: a ``Contact`` of kind
CAMPAIGN_OFFER, direction OUTBOUND, with outcome ACCEPTED, DECLINED or
NO_RESPONSE (for "ignored"), linked to the customer (``HAD_CONTACT``), the
channel it went through (``VIA``) and the offered product (``ABOUT``). The
projection's ``offers`` fact picks it up on the next read, and
``cdp.offers.recommendations`` lowers offers the customer recently declined or ignored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from cdp.customers.erased_customers import customer_to_record
from cdp.errors import InvalidInput, NotFound
from graph.store import GraphStore, node_op, relationship_op

#: Response names the API accepts, and the contact outcome each is stored as.
OUTCOMES = {"ACCEPTED": "ACCEPTED", "DECLINED": "DECLINED", "IGNORED": "NO_RESPONSE"}


@dataclass(frozen=True)
class OfferResponse:
    """A recorded response: the contact id written and what it says."""

    contact_id: str
    customer_id: str
    product_id: str
    channel_id: str
    response: str
    at: datetime


def record(store: GraphStore, customer_id: str, product_id: str, response: str, channel_id: str,
           at: datetime, campaign: str | None = None) -> OfferResponse:
    """Write one response atomically; returns it.

    Raises ``NotFound`` for an unknown customer, product or channel, ``Conflict`` for an erased customer,
    ``InvalidInput`` for an unknown response (nothing is written then).
    """
    outcome = OUTCOMES.get(response)
    if outcome is None:
        raise InvalidInput(f"response must be one of {', '.join(OUTCOMES)}", field="response")
    customer_to_record(store, customer_id)
    if not store.existing_ids("Product", [product_id]):
        raise NotFound(f"no product {product_id!r}", field="offer")
    if not store.existing_ids("Channel", [channel_id]):
        raise NotFound(f"no channel {channel_id!r}", field="channel")
    digest = hashlib.sha1(f"{customer_id}|{product_id}|{channel_id}|{at.isoformat()}".encode()).hexdigest()[:16]
    contact_id = f"RESP-{digest}"
    store.write([
        node_op("Contact", [{"id": contact_id, "at": at, "direction": "OUTBOUND", "kind": "CAMPAIGN_OFFER",
                             "outcome": outcome, "campaign": campaign, "subject": f"offer {product_id}"}]),
        relationship_op("HAD_CONTACT", [{"from": customer_id, "to": contact_id}]),
        relationship_op("VIA", [{"from": contact_id, "to": channel_id}]),
        relationship_op("ABOUT", [{"from": contact_id, "to": product_id}]),
    ])
    return OfferResponse(contact_id, customer_id, product_id, channel_id, response, at)
