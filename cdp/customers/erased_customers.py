"""The rule every write about one customer shares: the customer exists and was not erased.

After ``eraseCustomer`` (``cdp.privacy.erasure``) nothing more is recorded about the person:
profile updates, consents, complaints and offer responses are refused with ``CONFLICT``
(imports and partner upserts check whole batches in ``cdp.ingest.run`` / ``cdp.ingest.upserts``).
"""

from __future__ import annotations

from cdp.errors import Conflict, NotFound
from graph.store import GraphStore, Row

#: The status of an erased customer (``graph.model.CUSTOMER_STATUS_VALUES``).
ERASED = "ERASED"


def customer_to_record(store: GraphStore, customer_id: str) -> Row:
    """The stored row of ``customer_id``, about whom something is to be written.

    Raises ``NotFound`` for an unknown customer and ``Conflict`` for an erased one
    (both with field ``customerId``).
    """
    found = store.customers([customer_id]).get(customer_id)
    if found is None:
        raise NotFound(f"no customer {customer_id!r}", field="customerId")
    if found.get("status") == ERASED:
        raise Conflict(f"customer {customer_id!r} was erased; nothing more is recorded about them",
                       field="customerId")
    return found
