"""The data-quality report on a store with planted problems: through the
domain function, the GraphQL query and the real ``cdp quality`` command, on each backend."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from cdp.customers import quality
from cdp.customers.profile import load_policy
from cdp.settings import Settings
from graph.store import GraphStore, node_op, relationship_op
from tests.conftest import CliStore, api_client, gql
from tests.cli.test_cli import cdp

NOW = datetime(2026, 11, 1)


def _plant(store: GraphStore) -> None:
    store.write([
        node_op("Customer", [
            {"id": "C1", "first_name": "Ann", "last_name": "Lee", "email": "Ann@Example.org", "phone": "06-1234 5678",
             "tier": "CONSUMER", "status": "ACTIVE", "joined_on": date(2020, 1, 1)},
            {"id": "C2", "first_name": "Ann", "last_name": "Lee", "email": "ann@example.org ", "tier": "CONSUMER",
             "status": "ACTIVE", "joined_on": date(2021, 1, 1)},
            {"id": "C3", "last_name": "Bos", "phone": "+31 6 12345678", "tier": "CONSUMER", "status": "ACTIVE"},
            {"id": "C4", "company_name": "Acme", "tier": "BUSINESS", "status": "ACTIVE"},
        ]),
        node_op("AttributeValue", [
            {"id": 1, "key": "email", "value": "Ann@Example.org", "source": "CRM", "identity_id": "CRM:C1",
             "observed_at": datetime(2023, 1, 1), "accuracy": 0.8},                    # stale
            {"id": 2, "key": "city", "value": "Utrecht", "source": "CRM", "identity_id": "CRM:C2",
             "observed_at": datetime(2026, 10, 1), "accuracy": 0.8},
            {"id": 3, "key": "city", "value": "Delft", "source": "BILLING", "identity_id": "BILLING:9",
             "observed_at": datetime(2026, 9, 1), "accuracy": 0.9},                    # conflicts with V2
        ]),
        relationship_op("HAS_ATTRIBUTE", [{"from": "C1", "to": 1}, {"from": "C2", "to": 2},
                                          {"from": "C2", "to": 3}]),
        node_op("ImportRun", [
            {"id": "R1", "source": "BILLING", "file": "a.csv", "read": 10, "rejected": 3},
            {"id": "R2", "source": "BILLING", "file": "b.csv", "read": 5, "rejected": 1},
            {"id": "R3", "source": "CRM", "file": "c.jsonl", "read": 7, "rejected": 0},
        ]),
    ])


@pytest.fixture()
def planted(cli_store: CliStore) -> CliStore:
    store = cli_store.open()
    _plant(store)
    store.close()  # the embedded file is locked by its one opener
    return cli_store


def test_report_finds_every_planted_problem(planted: CliStore) -> None:
    store = planted.open()
    try:
        r = quality.report(store, load_policy(), NOW)
    finally:
        store.close()
    assert r.customers == 4
    filled = {c.attribute: c.filled for c in r.completeness}
    assert filled["email"] == 2 and filled["phone"] == 2 and filled["company_name"] == 1 and filled["tier"] == 4
    assert [(k.attribute, k.customers) for k in r.staleness] == [("email", 1)]
    assert [(k.attribute, k.customers) for k in r.conflicts] == [("city", 1)]
    groups = {(g.rule, g.customer_ids) for g in r.duplicate_sample}
    assert groups == {("email", ("C1", "C2")), ("phone", ("C1", "C3"))}
    assert r.duplicate_groups == 2 and r.duplicate_customers == 3
    assert [(s.source, s.rows, s.runs) for s in r.rejects] == [("BILLING", 4, 2), ("CRM", 0, 1)]


def test_graphql_and_cli_report(planted: CliStore) -> None:


    store = planted.open()
    try:
        with api_client(Settings(), store) as client:
            body = gql(client, """{ dataQuality { customers duplicateGroups
                duplicateSample { rule customerIds } conflicts { attribute customers }
                completeness { attribute filled ratio } rejects { source rows runs } } }""")
    finally:
        store.close()
    q = body["data"]["dataQuality"]
    assert q["customers"] == 4 and q["duplicateGroups"] == 2
    assert {"rule": "email", "customerIds": ["C1", "C2"]} in q["duplicateSample"]
    assert q["conflicts"] == [{"attribute": "city", "customers": 1}]
    assert {"attribute": "email", "filled": 2, "ratio": 0.5} in q["completeness"]
    assert q["rejects"][0] == {"source": "BILLING", "rows": 4, "runs": 2}

    proc = cdp("quality", "--json", env=planted.env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["customers"] == 4 and data["duplicate_groups"] == 2
    text = cdp("quality", env=planted.env).stdout
    assert "| BILLING | 4 | 2 |" in text and "Likely duplicates not merged: 2 groups" in text
