"""Applying identity resolution to the store (``cdp.customers.customer_merge``) on the real stores:
two customers that are one person become one, their records, accounts and values moving to the
survivor; a third stays apart; erased customers and identities split by hand are not merged."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from cdp.customers import customer_merge
from cdp.customers.identity_links import split_identity
from cdp.customers.profile import load_policy
from cdp.identity.resolution import INPUT_COLUMNS, resolve
from cdp.ingest.upserts import upsert
from graph.store import GraphStore, node_op, relationship_op

NOW = datetime(2024, 6, 1, 12, 0)
POLICY = load_policy()
ADA = {"first_name": "Ada", "last_name": "Lee", "birth_date": date(1980, 3, 4), "email": "ada.lee@example.com",
       "phone": "0612345678", "street": "Dorpsstraat 12", "postal_code": "3511AB", "city": "Utrecht",
       "national_id": "123456782"}


@pytest.fixture
def duplicated(store: GraphStore) -> GraphStore:
    """C1 (CRM) and C2 (BILLING) are Ada; C3 (CRM) is someone else; C2 holds an account."""
    assert not upsert(store, POLICY, "Customer", [{"id": "C1", **ADA},
                                                  {"id": "C3", "first_name": "Bo", "last_name": "Bakker",
                                                   "email": "bo@example.net", "city": "Delft"}], "CRM", NOW).errors
    assert not upsert(store, POLICY, "Customer", [{"id": "C2", **ADA, "email": "ADA.LEE@example.com"}],
                      "BILLING", NOW).errors
    store.write([node_op("Account", [{"id": "A2"}]), relationship_op("HOLDS", [{"from": "C2", "to": "A2"}])])
    return store


def merges_of(store: GraphStore) -> list[customer_merge.Merge]:
    records = customer_merge.source_records(store)
    return customer_merge.plan(records, resolve(records[list(INPUT_COLUMNS)]))


def test_source_records_hold_one_record_per_identity(duplicated: GraphStore) -> None:
    records = customer_merge.source_records(duplicated)
    assert list(records.columns) == [*INPUT_COLUMNS, "identity_id", "customer_id", "matched_by"]
    assert sorted(zip(records["identity_id"], records["customer_id"])) == [
        ("BILLING:C2", "C2"), ("CRM:C1", "C1"), ("CRM:C3", "C3")]
    ada = records.set_index("identity_id").loc["BILLING:C2"]
    assert ada["last_name"] == "Lee" and ada["email"] == "ADA.LEE@example.com"


def test_one_person_in_two_customers_becomes_one(duplicated: GraphStore) -> None:
    merges = merges_of(duplicated)
    assert len(merges) == 1
    merge = merges[0]
    assert {merge.survivor, *merge.merged} == {"C1", "C2"}
    outcome = customer_merge.apply(duplicated, POLICY, merges, NOW)
    assert (outcome.merges, outcome.customers_merged, outcome.batches) == (1, 1, 1)
    assert sum(outcome.by_rule.values()) == 1
    (gone,) = merge.merged
    customers = duplicated.customers(["C1", "C2", "C3"])
    assert customers[gone]["status"] == "MERGED" and customers[gone]["merged_into"] == merge.survivor
    assert customers["C3"].get("merged_into") is None
    identities = {i["id"] for i in duplicated.identities_of_customers([merge.survivor])[merge.survivor]}
    assert identities == {"CRM:C1", "BILLING:C2"}
    assert [a["id"] for a in duplicated.accounts_of_customers([merge.survivor])[merge.survivor]] == ["A2"]
    assert duplicated.attribute_values_of_customers([gone]).get(gone, []) == []
    assert merges_of(duplicated) == []  # resolving again finds nothing left to merge


def test_an_identity_split_by_hand_is_not_merged_again(duplicated: GraphStore) -> None:
    customer_merge.apply(duplicated, POLICY, merges_of(duplicated), NOW)
    split = split_identity(duplicated, POLICY, "BILLING:C2", NOW)
    assert merges_of(duplicated) == []
    assert duplicated.customer_of_identity("BILLING:C2") == split.new_customer_id


def test_nothing_to_merge_writes_nothing(store: GraphStore) -> None:
    assert customer_merge.apply(store, POLICY, [], NOW) == customer_merge.MergeOutcome()


def test_an_erased_customer_is_not_re_identified(duplicated: GraphStore) -> None:
    duplicated.write([node_op("Customer", [{"id": "C2", "status": "ERASED"}])])
    assert "C2" not in set(customer_merge.source_records(duplicated)["customer_id"])
    assert merges_of(duplicated) == []
