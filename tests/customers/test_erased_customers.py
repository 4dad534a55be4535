"""Every write about one customer first checks the customer exists and was not erased
(``cdp.customers.erased_customers``), on each backend."""

from __future__ import annotations

import pytest

from cdp.customers.erased_customers import ERASED, customer_to_record
from cdp.errors import Conflict, NotFound
from graph.store import GraphStore, node_op


def test_a_known_customer_is_returned_an_unknown_or_erased_one_refused(store: GraphStore) -> None:
    store.write([node_op("Customer", [{"id": "C1", "first_name": "Ada", "status": "ACTIVE"},
                                      {"id": "C2", "status": ERASED}])])
    assert customer_to_record(store, "C1")["first_name"] == "Ada"
    with pytest.raises(NotFound) as unknown:
        customer_to_record(store, "C9")
    assert unknown.value.field == "customerId"
    with pytest.raises(Conflict, match="erased") as erased:
        customer_to_record(store, "C2")
    assert erased.value.field == "customerId"
