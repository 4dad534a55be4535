"""The store contract: every GraphStore operation, with known answers.

Runs once per backend: always on the embedded LadybugDB store, and on Neo4j
when NEO4J_URI is set (see tests/conftest.py). Data is built by hand so every
expected value is known.
"""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa
import pytest

from cdp.customers.rules import contact_summary
from graph.errors import InvalidInput, KeyTaken, StoreError
from graph.model import CHANNELS, MODEL
from graph.queries import CustomerFilter
from graph.store import GraphStore, node_op, relationship_op, unlink_op

T0 = datetime(2026, 1, 1, 9, 0)


def seed(store: GraphStore) -> None:
    """Two customers, three accounts, a bundle catalogue, contacts and events."""
    store.write([
        node_op("Customer", [
            {"id": "C1", "first_name": "Ann", "last_name": "Lee", "tier": "CONSUMER", "status": "ACTIVE",
             "city": "Utrecht", "joined_on": date(2020, 1, 15), "email": "ann@example.org"},
            {"id": "C2", "company_name": "Acme BV", "tier": "KEY_ACCOUNT", "status": "ACTIVE",
             "city": "Delft", "joined_on": date(2024, 6, 1), "account_manager": "Mia"},
            {"id": "C3", "first_name": "Zed", "tier": "CONSUMER", "status": "CHURNED", "city": "Utrecht",
             "joined_on": date(2018, 3, 1)},
        ]),
        node_op("Account", [
            {"id": "A1", "type": "POSTPAID", "status": "ACTIVE", "opened_on": date(2020, 1, 15)},
            {"id": "A2", "type": "BUSINESS", "status": "ACTIVE", "opened_on": date(2024, 6, 1)},
            {"id": "A3", "type": "PREPAID", "status": "CLOSED", "opened_on": date(2024, 7, 1),
             "closed_on": date(2025, 1, 1)},
        ]),
        node_op("Product", [
            {"id": "P-MOB", "name": "Mobile", "category": "MOBILE_DATA", "monthly_price": 20.0, "monthly_cost": 7.0},
            {"id": "P-TV", "name": "TV", "category": "TV", "monthly_price": 15.0, "monthly_cost": 9.0},
            {"id": "P-BND", "name": "Bundle", "category": "BUNDLE", "monthly_price": 30.0, "monthly_cost": 16.0},
        ]),
        node_op("Subscription", [
            {"id": "S1", "status": "ACTIVE", "since": date(2020, 2, 1), "monthly_fee": 20.0, "discount": 0.1},
            {"id": "S2", "status": "ACTIVE", "since": date(2024, 6, 1), "monthly_fee": 30.0, "discount": 0.0},
            {"id": "S3", "status": "CANCELLED", "since": date(2021, 1, 1), "monthly_fee": 15.0, "discount": 0.0},
            {"id": "S4", "status": "ACTIVE", "since": date(2024, 6, 2), "monthly_fee": 15.0, "discount": 0.5},
        ]),
        node_op("Channel", [{"id": "SMS", "name": "SMS", "kind": "MESSAGING"},
                            {"id": "APP", "name": "App", "kind": "DIGITAL"}]),
        node_op("Contact", [
            {"id": "K1", "at": T0, "kind": "COMPLAINT", "outcome": "OPEN", "direction": "INBOUND"},
            {"id": "K2", "at": datetime(2026, 2, 1), "kind": "INQUIRY", "outcome": "RESOLVED", "direction": "INBOUND"},
            {"id": "K3", "at": datetime(2025, 5, 1), "kind": "COMPLAINT", "outcome": "RESOLVED", "direction": "INBOUND"},
        ]),
        node_op("MonetaryEvent", [
            {"id": "M1", "kind": "INVOICE", "amount": 18.0, "currency": "EUR", "at": datetime(2026, 1, 1)},
            {"id": "M2", "kind": "PAYMENT", "amount": -18.0, "currency": "EUR", "at": datetime(2026, 1, 5)},
        ]),
        relationship_op("HOLDS", [{"from": "C1", "to": "A1"}, {"from": "C2", "to": "A2"}, {"from": "C3", "to": "A3"}]),
        relationship_op("HAS_SUBSCRIPTION", [{"from": "A1", "to": "S1"}, {"from": "A2", "to": "S2"},
                                             {"from": "A1", "to": "S3"}, {"from": "A2", "to": "S4"}]),
        relationship_op("OF_PRODUCT", [{"from": "S1", "to": "P-MOB"}, {"from": "S2", "to": "P-BND"},
                                       {"from": "S3", "to": "P-TV"}, {"from": "S4", "to": "P-TV"}]),
        relationship_op("INCLUDES", [{"from": "P-BND", "to": "P-MOB", "quantity": 2, "discount": 0.2},
                                     {"from": "P-BND", "to": "P-TV", "quantity": 1, "discount": 0.1}]),
        relationship_op("HAD_CONTACT", [{"from": "C1", "to": "K1"}, {"from": "C1", "to": "K2"},
                                        {"from": "C2", "to": "K3"}]),
        relationship_op("VIA", [{"from": "K1", "to": "SMS"}, {"from": "K2", "to": "APP"}, {"from": "K3", "to": "APP"}]),
        relationship_op("HAS_EVENT", [{"from": "A1", "to": "M1"}, {"from": "A1", "to": "M2"}]),
        relationship_op("PREFERS", [{"from": "C1", "to": "APP", "rank": 1, "source": "CUSTOMER"},
                                    {"from": "C1", "to": "SMS", "rank": 2, "source": "INFERRED"}]),
    ])


def test_empty_store_and_ping(store: GraphStore) -> None:
    assert store.ping()
    assert store.is_empty()
    counts = store.counts()
    # A new store holds only the channel catalogue (graph.model.CHANNELS), seeded by ensure_schema.
    assert counts.pop("Channel") == len(CHANNELS) and set(counts.values()) == {0}
    assert sorted(store.channels()) == sorted(c[0] for c in CHANNELS)


def test_upsert_creates_then_updates(store: GraphStore) -> None:
    first = store.upsert_nodes("Customer", [{"id": "X1", "first_name": "A"}, {"id": "X2", "first_name": "B"}])
    assert (first.created, first.updated) == ({"Customer": 2}, {"Customer": 0})
    again = store.upsert_nodes("Customer", [{"id": "X1", "last_name": "Z"}, {"id": "X3"}])
    assert (again.created, again.updated) == ({"Customer": 1}, {"Customer": 1})
    rows = store.customers(["X1", "X2", "X3", "nope"])
    assert set(rows) == {"X1", "X2", "X3"}
    # A partial upsert leaves properties it does not name untouched.
    assert rows["X1"]["first_name"] == "A" and rows["X1"]["last_name"] == "Z"


def test_upsert_is_idempotent(store: GraphStore) -> None:
    seed(store)
    before = store.counts()
    seed(store)
    assert store.counts() == before


def test_last_row_wins_within_a_batch(store: GraphStore) -> None:
    store.upsert_nodes("Customer", [{"id": "X", "city": "A"}, {"id": "X", "city": "B"}])
    assert store.customers(["X"])["X"]["city"] == "B"
    assert store.counts()["Customer"] == 1


def test_bad_rows_are_rejected_before_any_write(store: GraphStore) -> None:
    with pytest.raises(InvalidInput, match="joined_on"):
        store.upsert_nodes("Customer", [{"id": "X", "joined_on": "yesterday"}])
    with pytest.raises(InvalidInput, match="colour"):
        store.upsert_nodes("Customer", [{"id": "X", "colour": "red"}])
    with pytest.raises(InvalidInput, match="id"):
        store.upsert_nodes("Customer", [{"first_name": "no key"}])
    assert store.is_empty()


def test_a_batch_is_all_or_nothing(store: GraphStore) -> None:
    # The customer is valid, the relationship points at a missing account: nothing lands.
    with pytest.raises(InvalidInput, match="unknown Account"):
        store.write([
            node_op("Customer", [{"id": "C9"}]),
            relationship_op("HOLDS", [{"from": "C9", "to": "A-missing"}]),
        ])
    assert store.customers(["C9"]) == {}
    assert store.counts()["Customer"] == 0


def test_a_fresh_op_creates_without_looking_and_refuses_a_stored_key(store: GraphStore) -> None:
    """``fresh`` rows are created without an existence read: new ones land (counted as
    created, linkable in the same write); a stored key fails the whole write with
    KeyTaken and leaves the stored node and everything else of the write untouched."""
    result = store.write([node_op("Customer", [{"id": "F1", "city": "Delft"}, {"id": "F2"}], fresh=True),
                          node_op("Account", [{"id": "FA1", "type": "MOBILE"}], fresh=True),
                          relationship_op("HOLDS", [{"from": "F1", "to": "FA1"}])])
    assert result.created == {"Customer": 2, "Account": 1, "HOLDS": 1} and not any(result.updated.values())
    with pytest.raises(KeyTaken):
        store.write([node_op("Customer", [{"id": "F3"}, {"id": "F1", "city": "Breda"}], fresh=True),
                     relationship_op("HOLDS", [{"from": "F3", "to": "FA1"}])])
    stored = store.customers(["F1", "F3"])
    assert set(stored) == {"F1"} and stored["F1"]["city"] == "Delft"
    assert [a["id"] for a in store.accounts_of_customers(["F1", "F3"]).get("F1", [])] == ["FA1"]
    assert "F3" not in store.accounts_of_customers(["F1", "F3"])


def test_links_to_fresh_nodes_are_created_once_beside_merged_ones(store: GraphStore) -> None:
    """One write links fresh nodes (created, so their links are too), nodes found new
    (not fresh) and stored nodes: each pair ends up linked exactly once, with its
    properties; writing the fresh nodes again is refused and adds no link."""
    store.write([node_op("Customer", [{"id": "S1"}]), node_op("Channel", [{"id": "SMS"}, {"id": "APP"}])])
    store.upsert_relationships("PREFERS", [{"from": "S1", "to": "SMS", "rank": 1}])

    def write() -> dict[str, int]:
        return store.write([
            node_op("Customer", [{"id": "N1"}, {"id": "N2"}], fresh=True),
            node_op("Customer", [{"id": "M1"}]),
            relationship_op("PREFERS", [{"from": "N1", "to": "SMS", "rank": 1}, {"from": "N2", "to": "APP", "rank": 2},
                                        {"from": "M1", "to": "SMS", "rank": 3}, {"from": "S1", "to": "SMS", "rank": 4},
                                        {"from": "S1", "to": "APP", "rank": 5}]),
        ])

    first = write()
    assert first.created == {"Customer": 3, "PREFERS": 4} and first.updated.get("PREFERS") == 1
    assert store.counts()["PREFERS"] == 5
    ranks = {c: sorted((p["channel_id"], p["rank"]) for p in v)
             for c, v in store.preferred_channels(["N1", "N2", "M1", "S1"]).items()}
    assert ranks == {"N1": [("SMS", 1)], "N2": [("APP", 2)], "M1": [("SMS", 3)], "S1": [("APP", 5), ("SMS", 4)]}
    with pytest.raises(KeyTaken):  # the fresh customers are stored now: the write refuses
        write()
    assert store.counts()["PREFERS"] == 5


def test_relationship_upsert_counts_and_properties(store: GraphStore) -> None:
    seed(store)
    res = store.upsert_relationships("PREFERS", [{"from": "C1", "to": "SMS", "rank": 1},
                                                 {"from": "C2", "to": "SMS", "rank": 1}])
    assert res.created == {"PREFERS": 1} and res.updated == {"PREFERS": 1}
    prefs = store.preferred_channels(["C1"])["C1"]
    assert [(p["channel_id"], p["rank"]) for p in prefs] == [("APP", 1), ("SMS", 1)] or \
        sorted((p["channel_id"], p["rank"]) for p in prefs) == [("APP", 1), ("SMS", 1)]


def test_iso_strings_and_offsets_become_naive_utc(store: GraphStore) -> None:
    store.upsert_nodes("Contact", [{"id": "K", "at": "2026-03-01T12:00:00+02:00"}])
    store.upsert_nodes("Customer", [{"id": "C", "joined_on": "2020-02-29"}])
    store.upsert_nodes("Channel", [{"id": "SMS"}])
    store.upsert_relationships("HAD_CONTACT", [{"from": "C", "to": "K"}])
    store.upsert_relationships("VIA", [{"from": "K", "to": "SMS"}])
    contact = store.contacts_of_customers(["C"])["C"][0]
    assert contact["at"] == datetime(2026, 3, 1, 10, 0)
    assert store.customers(["C"])["C"]["joined_on"] == date(2020, 2, 29)


def test_unified_view_reads(store: GraphStore) -> None:
    seed(store)
    accounts = store.accounts_of_customers(["C1", "C2", "nobody"])
    assert {k: [a["id"] for a in v] for k, v in accounts.items()} == {"C1": ["A1"], "C2": ["A2"]}
    subs = store.subscriptions_of_accounts(["A1", "A2"])
    assert [(s["id"], s["product_id"]) for s in subs["A1"]] == [("S1", "P-MOB"), ("S3", "P-TV")]
    assert [(s["id"], s["product_id"]) for s in subs["A2"]] == [("S2", "P-BND"), ("S4", "P-TV")]
    contacts = store.contacts_of_customers(["C1", "C2"])
    assert [(c["id"], c["channel_id"]) for c in contacts["C1"]] == [("K2", "APP"), ("K1", "SMS")]
    assert store.contacts_of_customers(["C1"], kind="COMPLAINT")["C1"][0]["id"] == "K1"
    assert store.contacts_of_customers(["C1"], channel="APP")["C1"][0]["id"] == "K2"
    assert store.contacts_of_customers(["C1"], since=datetime(2026, 1, 15)) == {"C1": [store.contacts_of_customers(["C1"])["C1"][0]]}
    summary = contact_summary(store.contacts_of_customers(["C1"])["C1"])
    assert summary == {"contacts": 2, "last_contact_at": datetime(2026, 2, 1), "open_complaints": 1}
    prefs = store.preferred_channels(["C1"])["C1"]
    assert [(p["channel_id"], p["rank"], p["source"]) for p in prefs] == [("APP", 1, "CUSTOMER"), ("SMS", 2, "INFERRED")]
    events = store.monetary_events_of_accounts(["A1"])["A1"]
    assert [(e["id"], e["amount"]) for e in events] == [("M2", -18.0), ("M1", 18.0)]
    assert store.monetary_events_of_accounts(["A1"], since=datetime(2026, 1, 3))["A1"][0]["id"] == "M2"


def test_catalogue_reads(store: GraphStore) -> None:
    seed(store)
    assert list(store.products()) == ["P-BND", "P-MOB", "P-TV"]
    assert store.products(["P-TV", "x"])["P-TV"]["monthly_cost"] == 9.0
    comps = store.bundle_components(["P-BND"])["P-BND"]
    assert [(c["product_id"], c["quantity"], c["discount"]) for c in comps] == [("P-MOB", 2, 0.2), ("P-TV", 1, 0.1)]
    assert store.subscriber_counts(["P-MOB", "P-TV", "P-BND"]) == {"P-MOB": 1, "P-TV": 1, "P-BND": 1}
    assert list(store.channels()) == sorted(c[0] for c in CHANNELS)  # the seeded catalogue, sorted by id
    assert store.channel_contact_volumes(["APP", "SMS"]) == {"APP": 2, "SMS": 1}
    assert store.channel_contact_volumes(["APP"], since=datetime(2026, 1, 1)) == {"APP": 1}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (CustomerFilter(), ["C1", "C2", "C3"]),
        (CustomerFilter(tiers=("KEY_ACCOUNT",)), ["C2"]),
        (CustomerFilter(cities=("Utrecht",), statuses=("ACTIVE",)), ["C1"]),
        (CustomerFilter(name_contains="ACME"), ["C2"]),
        (CustomerFilter(holds_product="P-MOB"), ["C1"]),
        (CustomerFilter(holds_product="P-TV"), ["C2"]),  # C1's TV subscription is cancelled
        (CustomerFilter(holds_category="BUNDLE"), ["C2"]),
        (CustomerFilter(account_type="PREPAID"), []),  # the prepaid account is closed
        (CustomerFilter(joined_from=date(2019, 1, 1), joined_to=date(2021, 1, 1)), ["C1"]),
        (CustomerFilter(spend_min=18.0, spend_max=18.0), ["C1"]),  # 20 * 0.9
        (CustomerFilter(spend_min=30.0), ["C2"]),  # 30 + 15 * 0.5
        (CustomerFilter(spend_max=0.0), ["C3"]),
        (CustomerFilter(email="ann@example.org"), ["C1"]),
    ],
)
def test_customer_search(store: GraphStore, flt: CustomerFilter, expected: list[str]) -> None:
    seed(store)
    assert store.find_customers(flt, "ID", False, 0, 10) == expected
    assert store.count_customers(flt) == len(expected)


def test_customer_search_sorting_and_paging(store: GraphStore) -> None:
    seed(store)
    assert store.find_customers(CustomerFilter(), "MONTHLY_SPEND", True, 0, 10) == ["C2", "C1", "C3"]
    assert store.find_customers(CustomerFilter(), "JOINED_ON", False, 0, 10) == ["C3", "C1", "C2"]
    assert store.find_customers(CustomerFilter(), "ID", True, 1, 1) == ["C2"]
    assert store.find_customers(CustomerFilter(), "ID", False, 5, 10) == []


@pytest.mark.parametrize("sort", ["ID", "LAST_NAME", "JOINED_ON", "CITY", "MONTHLY_SPEND"])
@pytest.mark.parametrize("descending", [False, True])
def test_customer_keyset_pages_cover_the_order_once(store: GraphStore, sort: str, descending: bool) -> None:
    """Keyset pages of one, forward and backward, walk the same order as the offset query
    (nulls first: C3 has no last name), each customer exactly once."""
    seed(store)
    flt = CustomerFilter()
    expected = store.find_customers(flt, sort, descending, 0, 10)
    if sort in ("LAST_NAME", "CITY", "JOINED_ON"):  # the keyset order puts a missing value first
        whole = store.customer_keyset(flt, sort, descending, 10)
        assert sorted(i for i, _ in whole) == sorted(expected)
        expected = [i for i, _ in whole]
    forward, cursor = [], None
    while True:
        rows = store.customer_keyset(flt, sort, descending, 1, cursor)
        if not rows:
            break
        forward.append(rows[0][0])
        cursor = (rows[0][1], rows[0][0])
    assert forward == expected
    backward, cursor = [], None
    while True:
        rows = store.customer_keyset(flt, sort, descending, 1, cursor, backward=True)
        if not rows:
            break
        backward.append(rows[0][0])
        cursor = (rows[0][1], rows[0][0])
    assert backward == list(reversed(expected))


def test_injection_strings_are_just_values(store: GraphStore) -> None:
    seed(store)
    evil = "x' OR 1=1 //\"}) MATCH (n) DETACH DELETE n //"
    assert store.find_customers(CustomerFilter(name_contains=evil, cities=(evil,)), "ID", False, 0, 10) == []
    assert store.customers([evil]) == {}
    assert store.counts()["Customer"] == 3


def test_bulk_load_export_round_trip(store: GraphStore) -> None:
    customers = pa.table({
        "id": ["B1", "B2"], "first_name": ["Eva", None], "joined_on": [date(2021, 5, 5), None],
        "updated_at": [datetime(2026, 1, 1, 8, 30), None],
    })
    full = pa.table({name: customers.column(name) if name in customers.column_names
                     else pa.nulls(2, MODEL.node("Customer").arrow_schema().field(name).type)
                     for name in MODEL.node("Customer").property_names})
    accounts = pa.table({name: pa.array(["BA1"]) if name == "id" else
                         pa.nulls(1, MODEL.node("Account").arrow_schema().field(name).type)
                         for name in MODEL.node("Account").property_names})
    holds = pa.table({"from": ["B1"], "to": ["BA1"]})
    loaded = store.bulk_load({"Customer": full, "Account": accounts}, {"HOLDS": holds})
    assert loaded == 4
    out = store.export_nodes("Customer")
    assert out.schema == MODEL.node("Customer").arrow_schema()
    assert out.to_pylist() == full.cast(MODEL.node("Customer").arrow_schema()).to_pylist()
    assert store.export_relationships("HOLDS").to_pylist() == [{"from": "B1", "to": "BA1"}]


def test_bulk_load_rejects_wrong_tables(store: GraphStore) -> None:
    with pytest.raises(InvalidInput, match="missing column"):
        store.bulk_load({"Customer": pa.table({"id": ["x"]})}, {})


def test_delete_and_existing_ids(store: GraphStore) -> None:
    seed(store)
    assert store.existing_ids("Customer", ["C1", "C9"]) == {"C1"}
    store.delete_nodes("Customer", ["C1"])
    assert store.existing_ids("Customer", ["C1"]) == set()
    assert "C1" not in store.accounts_of_customers(["C1"])
    assert store.counts()["HOLDS"] == 2


def test_nodes_and_relationships_return_stored_properties(store: GraphStore) -> None:
    seed(store)
    rows = store.nodes("Customer", ["C1", "C2", "nobody"])
    assert set(rows) == {"C1", "C2"}
    assert set(rows["C1"]) == set(MODEL.node("Customer").property_names)
    assert (rows["C1"]["first_name"], rows["C1"]["joined_on"], rows["C1"]["company_name"]) == (
        "Ann", date(2020, 1, 15), None)
    assert store.nodes("Contact", ["K1"])["K1"]["at"] == T0
    assert store.nodes("Customer", []) == {}
    prefs = store.relationships("PREFERS", ["C1", "C2"])
    assert set(prefs) == {("C1", "APP"), ("C1", "SMS")}
    assert (prefs[("C1", "SMS")]["rank"], prefs[("C1", "SMS")]["source"], prefs[("C1", "SMS")]["updated_at"]) == (
        2, "INFERRED", None)
    assert set(store.relationships("HOLDS", ["C1", "C3"])) == {("C1", "A1"), ("C3", "A3")}
    # Large batches take the other read path of the embedded store (one statement for all keys).
    many = [f"X{i:04d}" for i in range(150)]
    store.upsert_nodes("Customer", [{"id": i, "city": f"city {i}"} for i in many])
    rows = store.nodes("Customer", ["C1", *many, "nobody"])
    assert len(rows) == 151 and rows["X0149"]["city"] == "city X0149" and rows["C1"]["city"] == "Utrecht"
    assert set(store.relationships("HOLDS", [*many, "C2"])) == {("C2", "A2")}


def test_call_and_query_counts(store: GraphStore) -> None:
    calls, statements = store.call_count, store.query_count
    store.customers(["a"])
    store.accounts_of_customers(["a"])
    assert store.call_count == calls + 2
    assert store.query_count == statements + 2


def test_catalogue_cache_serves_repeats_and_is_dropped_by_writes(store: GraphStore) -> None:
    seed(store)
    first = store.products()
    calls = store.call_count
    again = store.products(["P-TV"])
    store.channels()
    store.channels()
    assert store.call_count == calls + 1  # products cached; channels read once
    assert again["P-TV"] == first["P-TV"]
    again["P-TV"]["name"] = "mutated by a caller"
    assert store.products(["P-TV"])["P-TV"]["name"] == "TV"  # callers get copies
    store.upsert_nodes("Product", [{"id": "P-TV", "name": "TV Max"}, {"id": "P-NEW", "name": "New"}])
    assert store.products(["P-TV", "P-NEW"]) == {
        "P-TV": {**first["P-TV"], "name": "TV Max"}, "P-NEW": store.products()["P-NEW"]}
    store.upsert_nodes("Channel", [{"id": "WEB", "name": "Web"}])
    assert "WEB" in store.channels()


def test_identities_attributes_and_moving_them_with_unlink(store: GraphStore) -> None:
    seed(store)
    t = datetime(2026, 3, 1, 12, 0)
    store.write([
        node_op("Identity", [
            {"id": "CRM:1", "source": "CRM", "source_key": "1", "matched_by": "SEED", "confidence": 1.0,
             "linked_at": t},
            {"id": "BILLING:9", "source": "BILLING", "source_key": "9", "matched_by": "PHONE",
             "confidence": 0.9, "linked_at": datetime(2026, 3, 2)},
        ]),
        node_op("AttributeValue", [
            {"id": 1, "key": "email", "value": "ann@example.org", "source": "CRM", "identity_id": "CRM:1",
             "observed_at": t, "accuracy": 0.8, "customer_maintained": False, "verified": False},
            {"id": 2, "key": "email", "value": "ann@work.example", "source": "BILLING",
             "identity_id": "BILLING:9", "observed_at": t, "accuracy": 0.9, "customer_maintained": False,
             "verified": True},
        ]),
        relationship_op("HAS_IDENTITY", [{"from": "C1", "to": "CRM:1"}, {"from": "C1", "to": "BILLING:9"}]),
        relationship_op("HAS_ATTRIBUTE", [{"from": "C1", "to": 1}, {"from": "C1", "to": 2}]),
    ])
    identities = store.identities_of_customers(["C1", "C2"])
    assert [(i["id"], i["matched_by"]) for i in identities["C1"]] == [("CRM:1", "SEED"), ("BILLING:9", "PHONE")]
    assert "C2" not in identities
    values = {v["id"]: v for v in store.attribute_values_of_customers(["C1"])["C1"]}
    assert values[2]["verified"] is True and values[1]["observed_at"] == t
    assert store.customer_of_identity("BILLING:9") == "C1"
    assert store.customer_of_identity("nobody") is None

    # Move the BILLING identity and its value to C2 in one atomic write.
    result = store.write([
        unlink_op("HAS_IDENTITY", [{"from": "C1", "to": "BILLING:9"}]),
        unlink_op("HAS_ATTRIBUTE", [{"from": "C1", "to": 2}, {"from": "C1", "to": 999}]),
        relationship_op("HAS_IDENTITY", [{"from": "C2", "to": "BILLING:9"}]),
        relationship_op("HAS_ATTRIBUTE", [{"from": "C2", "to": 2}]),
    ])
    assert result.deleted == {"HAS_IDENTITY": 1, "HAS_ATTRIBUTE": 2}
    assert store.customer_of_identity("BILLING:9") == "C2"
    assert [v["id"] for v in store.attribute_values_of_customers(["C1"])["C1"]] == [1]
    assert [v["id"] for v in store.attribute_values_of_customers(["C2"])["C2"]] == [2]
    assert store.counts()["HAS_ATTRIBUTE"] == 2 and store.counts()["AttributeValue"] == 2


def test_a_failed_write_keeps_unlinked_relationships(store: GraphStore) -> None:
    seed(store)
    before = store.accounts_of_customers(["C1"])
    with pytest.raises(InvalidInput):
        store.write([unlink_op("HOLDS", [{"from": "C1", "to": "A1"}]),
                     relationship_op("HOLDS", [{"from": "C1", "to": "NO-SUCH-ACCOUNT"}])])
    assert store.accounts_of_customers(["C1"]) == before


def test_a_large_relationship_batch_is_written(store: GraphStore) -> None:
    # Regression: LadybugDB planned `MATCH (a {id: x}), (b {id: y})` as a cross product
    # and ran out of buffer pool at ~1,000 rows.
    n = 5000
    store.write([node_op("Customer", [{"id": f"C{i}"} for i in range(n)]),
                 node_op("AttributeValue", [{"id": i, "key": "k"} for i in range(n)])])
    result = store.write([relationship_op("HAS_ATTRIBUTE", [{"from": f"C{i}", "to": i} for i in range(n)])])
    assert result.created == {"HAS_ATTRIBUTE": n}
    assert store.counts()["HAS_ATTRIBUTE"] == n
    assert [v["id"] for v in store.attribute_values_of_customers(["C4321"])["C4321"]] == [4321]


def test_rows_carry_every_model_property_even_unset_ones(store: GraphStore) -> None:
    """Neo4j omits unset properties from ``RETURN n``; readers index rows by the model's names
    (a contact without ``at`` once failed ``contacts_of_customers`` with a KeyError there)."""
    store.write([node_op("Customer", [{"id": "U1"}]), node_op("Channel", [{"id": "SMS"}]),
                 node_op("Contact", [{"id": "UK1", "kind": "INQUIRY"}]),
                 node_op("Account", [{"id": "UA1"}]), node_op("MonetaryEvent", [{"id": "UM1", "kind": "INVOICE"}]),
                 relationship_op("HAD_CONTACT", [{"from": "U1", "to": "UK1"}]),
                 relationship_op("VIA", [{"from": "UK1", "to": "SMS"}]),
                 relationship_op("HOLDS", [{"from": "U1", "to": "UA1"}]),
                 relationship_op("HAS_EVENT", [{"from": "UA1", "to": "UM1"}])])
    customer = store.customers(["U1"])["U1"]
    assert set(customer) == set(MODEL.node("Customer").property_names) and customer["city"] is None
    [contact] = store.contacts_of_customers(["U1"])["U1"]
    assert contact["id"] == "UK1" and contact["at"] is None and contact["outcome"] is None
    assert store.contacts_of_customers(["U1"], since=T0) == {}
    [event] = store.monetary_events_of_accounts(["UA1"])["UA1"]
    assert event["kind"] == "INVOICE" and event["at"] is None and event["amount"] is None
    assert set(store.channels()["SMS"]) == set(MODEL.node("Channel").property_names)


def test_concurrent_crossing_writes_all_commit_with_their_own_counts(store: GraphStore) -> None:
    """Writers updating the same nodes in opposite orders deadlock on Neo4j; the store retries
    the loser's transaction whole (a managed transaction), and each write reports what its
    committed attempt did, not the sum of its attempts."""
    import threading

    store.write([node_op("Customer", [{"id": "X"}, {"id": "Y"}, {"id": "Z"}])])
    results: list = []
    errors: list[BaseException] = []

    def writer(order: list[str], n: int) -> None:
        for i in range(n):
            try:
                results.append(store.write([node_op("Customer", [{"id": k, "city": f"{k}{i}"} for k in order])]))
            except BaseException as exc:  # noqa: BLE001 - collected and asserted on below
                errors.append(exc)

    threads = [threading.Thread(target=writer, args=(order, 15))
               for order in (["X", "Y", "Z"], ["Z", "Y", "X"], ["Y", "X", "Z"], ["Z", "X", "Y"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 60
    assert all(r.updated == {"Customer": 3} and not any(r.created.values()) for r in results)
    assert store.counts()["Customer"] == 3


def test_concurrent_writes_of_one_relationship_leave_one(store: GraphStore) -> None:
    """Eight writers linking the same new pair at once: one relationship, never a duplicate
    (Neo4j's relationship MERGE locks both nodes)."""
    import threading

    store.write([node_op("Customer", [{"id": f"R{i}"} for i in range(8)]),
                 node_op("Channel", [{"id": "SMS"}])])
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer(rank: int) -> None:
        barrier.wait()
        try:
            for i in range(8):
                store.write([relationship_op("PREFERS", [{"from": f"R{i}", "to": "SMS", "rank": rank}])])
        except BaseException as exc:  # noqa: BLE001 - asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(r,)) for r in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.counts()["PREFERS"] == 8
    assert all(len(v) == 1 for v in store.preferred_channels([f"R{i}" for i in range(8)]).values())


def test_an_unlink_of_many_pairs_is_one_statement_on_neo4j(store: GraphStore) -> None:
    n = 40
    store.write([node_op("Customer", [{"id": "L"}]), node_op("Account", [{"id": f"LA{i}"} for i in range(n)]),
                 relationship_op("HOLDS", [{"from": "L", "to": f"LA{i}"} for i in range(n)])])
    before = store.query_count
    result = store.write([unlink_op("HOLDS", [{"from": "L", "to": f"LA{i}"} for i in range(n)]
                                    + [{"from": "L", "to": "NO-SUCH"}])])
    statements = store.query_count - before
    assert result.deleted == {"HOLDS": n + 1}
    assert store.accounts_of_customers(["L"]) == {}
    if store.backend == "neo4j":
        # one UNWIND statement, not one per pair (and the write's change-feed entry)
        assert statements == 1 + int(store.change_feed)


def test_a_bulk_load_that_died_half_way_completes_when_run_again(store: GraphStore,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Neo4j loads in transactions of ``BULK_BATCH`` rows, each committed with a marker; a load
    that fails after some of them leaves a marker (``bulk_load_unfinished``), and the same load
    run again skips the batches stored instead of failing on the key constraint. A load of
    other data cannot resume it."""
    if store.backend != "neo4j":
        pytest.skip("the embedded store's bulk load is COPY into an empty store (not resumable)")
    import graph.neo4j_store

    monkeypatch.setattr(graph.neo4j_store, "BULK_BATCH", 10_000)  # several batches, two in flight
    n = 25_000  # three batches of customers

    def table(label: str, ids: list) -> pa.Table:
        schema = MODEL.node(label).arrow_schema()
        return pa.table({name: pa.array(ids, schema.field(name).type) if name == "id"
                         else pa.nulls(len(ids), schema.field(name).type) for name in schema.names})

    nodes = {"Customer": table("Customer", [f"C{i}" for i in range(n)]),
             "Account": table("Account", [f"A{i}" for i in range(n)])}
    rels = {"HOLDS": pa.table({"from": [f"C{i}" for i in range(n)], "to": [f"A{i}" for i in range(n)]})}

    def die_after_customers(step: str, rows: int) -> None:
        if step == "Customer":
            raise RuntimeError("the loading process died")

    with pytest.raises(RuntimeError):
        store.bulk_load(nodes, rels, progress=die_after_customers)
    assert store.bulk_load_unfinished()
    assert store.counts()["Customer"] == n and store.counts()["Account"] == 0
    with pytest.raises(StoreError, match="unfinished bulk load of other data"):
        store.bulk_load({"Customer": nodes["Customer"].slice(0, 10)}, {})
    assert store.counts()["Customer"] == n
    assert store.bulk_load(nodes, rels) == 3 * n
    assert not store.bulk_load_unfinished()
    counts = store.counts()
    assert (counts["Customer"], counts["Account"], counts["HOLDS"]) == (n, n, n)
    store.wipe()
    assert store.is_empty() and store.counts()["Customer"] == 0


def test_a_bulk_load_keeps_dates_times_and_absent_values(store: GraphStore) -> None:
    """Bulk-loaded dates, times (to the microsecond), numbers, flags and absent values read
    back as written (Neo4j receives dates and times as ISO text and parses them)."""
    at = datetime(2024, 3, 1, 12, 30, 5, 123456)
    schema = MODEL.node("Contact").arrow_schema()
    contacts = pa.table({name: pa.nulls(2, schema.field(name).type) for name in schema.names}, schema=schema)
    contacts = contacts.set_column(schema.get_field_index("id"), "id", pa.array(["K1", "K2"]))
    contacts = contacts.set_column(schema.get_field_index("at"), "at", pa.array([at, None], pa.timestamp("us")))
    contacts = contacts.set_column(schema.get_field_index("satisfaction"), "satisfaction", pa.array([4, None]))
    customers = MODEL.node("Customer").arrow_schema()
    people = pa.table({name: pa.nulls(1, customers.field(name).type) for name in customers.names}, schema=customers)
    people = people.set_column(customers.get_field_index("id"), "id", pa.array(["C1"]))
    people = people.set_column(customers.get_field_index("joined_on"), "joined_on",
                               pa.array([date(2001, 2, 3)], pa.date32()))
    rels = {"HAD_CONTACT": pa.table({"from": ["C1", "C1"], "to": ["K1", "K2"]})}
    assert store.bulk_load({"Customer": people, "Contact": contacts}, rels) == 5
    rows = store.nodes("Contact", ["K1", "K2"])
    assert rows["K1"]["at"] == at and rows["K1"]["satisfaction"] == 4
    assert rows["K2"]["at"] is None and rows["K2"]["satisfaction"] is None
    assert store.nodes("Customer", ["C1"])["C1"]["joined_on"] == date(2001, 2, 3)
    assert not store.bulk_load_unfinished()
    assert store.counts()["HAD_CONTACT"] == 2


def test_a_routing_uri_reads_its_own_writes(store: GraphStore) -> None:
    """``neo4j://`` (routing: what a cluster or Aura is reached by) works like ``bolt://``: a
    second store on it reads what the first wrote, and its own writes, at once (bookmarks)."""
    if store.backend != "neo4j":
        pytest.skip("Neo4j URIs")
    from graph.neo4j_store import Neo4jStore

    assert store.uri.startswith("bolt://")
    store.write([node_op("Customer", [{"id": "RT1", "city": "Delft"}])])
    routed = Neo4jStore(store.uri.replace("bolt://", "neo4j://", 1), "neo4j", "", store.database)
    try:
        assert routed.customers(["RT1"])["RT1"]["city"] == "Delft"
        routed.write([node_op("Customer", [{"id": "RT2", "city": "Ede"}])])
        assert routed.customers(["RT2"])["RT2"]["city"] == "Ede"
        assert store.customers(["RT2"])["RT2"]["city"] == "Ede"
    finally:
        routed.close()
