"""``Customer.segments``: the saved segments a customer belongs to, through the
real HTTP endpoint, following writes; a saved segment whose definition no
longer evaluates is skipped instead of breaking the customer view."""

from __future__ import annotations

from datetime import date
from pathlib import Path


from cdp.settings import Settings
from graph.store import node_op
from tests.conftest import api_client, gql, make_store

CREATE = """mutation($name: String!, $d: SegmentDefinitionInput!) {
  createSegment(name: $name, definition: $d) { id } }"""
SEGMENTS = """query($id: ID!) { customer(id: $id) { segments { id name } } }"""


def test_customer_segments_follow_the_data(backend: str, tmp_path: Path) -> None:
    path = tmp_path / "store.lbdb"
    store = make_store(backend, tmp_path)
    store.write([node_op("Customer", [
        {"id": "C1", "tier": "BUSINESS", "status": "ACTIVE", "city": "Delft", "joined_on": date(2020, 1, 1)},
        {"id": "C2", "tier": "CONSUMER", "status": "ACTIVE", "city": "Ede", "joined_on": date(2021, 1, 1)},
    ])])
    try:
        with api_client(Settings(db_path=path), store) as http:
            for name, definition in (
                ("Business", {"attribute": {"key": "tier", "op": "EQ", "value": "BUSINESS"}}),
                ("Delft", {"attribute": {"key": "city", "op": "EQ", "value": "Delft"}}),
                ("Risky", {"score": {"name": "churn_risk", "op": "GT", "value": 0.5}}),  # no model: skipped
            ):
                body = gql(http, CREATE, {"name": name, "d": definition})
                assert "errors" not in body, body
            one = gql(http, SEGMENTS, {"id": "C1"})
            assert "errors" not in one, one
            assert [s["name"] for s in one["data"]["customer"]["segments"]] == ["Business", "Delft"]
            assert gql(http, SEGMENTS, {"id": "C2"})["data"]["customer"]["segments"] == []
            store.write([node_op("Customer", [{"id": "C2", "city": "Delft"}])])
            after = gql(http, SEGMENTS, {"id": "C2"})["data"]["customer"]["segments"]
            assert [s["name"] for s in after] == ["Delft"]
    finally:
        store.close()
