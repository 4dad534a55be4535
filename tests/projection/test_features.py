"""The feature frame: exact values on hand-built data, point-in-time semantics,
and incremental upkeep equal to a full recomputation."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cdp.projection import features as F
from cdp.projection.tables import Projection, build
from graph.store import GraphStore, node_op, relationship_op
from tests.conftest import BACKENDS, make_store

NOW = datetime(2026, 11, 1)


@pytest.fixture(params=BACKENDS)
def hand_store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    store = make_store(request.param, tmp_path)
    store.write([
        node_op("Customer", [
            {"id": "A", "tier": "CONSUMER", "status": "ACTIVE", "city": "Delft", "birth_date": date(1986, 11, 1),
             "joined_on": date(2024, 11, 1)},
            {"id": "B", "tier": "BUSINESS", "status": "ACTIVE", "company_name": "Bos BV", "account_manager": "Eva",
             "joined_on": date(2025, 11, 1)},
        ]),
        node_op("Product", [
            {"id": "P-MOB", "name": "Mobile", "category": "MOBILE_DATA", "monthly_price": 20.0, "monthly_cost": 5.0},
            {"id": "P-TV", "name": "TV", "category": "TV", "monthly_price": 30.0, "monthly_cost": 10.0},
        ]),
        node_op("Channel", [{"id": "WEB", "name": "Web", "kind": "DIGITAL", "cost_per_contact": 0.1},
                            {"id": "CALL_CENTRE", "name": "Calls", "kind": "ASSISTED", "cost_per_contact": 4.0}]),
        node_op("Account", [
            {"id": "A1", "type": "POSTPAID", "status": "ACTIVE", "opened_on": date(2024, 11, 1),
             "contract_type": "MONTHS_24", "contract_end": date(2026, 11, 1), "payment_method": "DIRECT_DEBIT"},
            {"id": "B1", "type": "BUSINESS", "status": "CLOSED", "opened_on": date(2025, 11, 1),
             "closed_on": date(2026, 10, 1), "contract_type": "NO_CONTRACT"},
        ]),
        node_op("Subscription", [
            {"id": "S1", "status": "ACTIVE", "since": date(2024, 11, 1), "monthly_fee": 20.0, "discount": 0.5},
            {"id": "S2", "status": "CANCELLED", "since": date(2025, 1, 1), "until": date(2026, 6, 1),
             "monthly_fee": 30.0, "discount": 0.0},
            {"id": "S3", "status": "CANCELLED", "since": date(2025, 11, 1), "until": date(2026, 10, 1),
             "monthly_fee": 30.0, "discount": 0.0},
        ]),
        node_op("Contact", [
            {"id": "K1", "at": datetime(2026, 10, 20), "kind": "COMPLAINT", "direction": "INBOUND", "outcome": "OPEN",
             "satisfaction": 1},
            {"id": "K2", "at": datetime(2026, 5, 1), "kind": "INQUIRY", "direction": "INBOUND",
             "outcome": "RESOLVED", "satisfaction": 4},
            {"id": "K3", "at": datetime(2024, 1, 1), "kind": "INQUIRY", "direction": "INBOUND", "outcome": "RESOLVED"},
        ]),
        node_op("MonetaryEvent", [
            {"id": "M1", "kind": "INVOICE", "amount": 10.0, "at": datetime(2026, 10, 1)},
            {"id": "M2", "kind": "INVOICE", "amount": 40.0, "at": datetime(2026, 7, 1)},
            {"id": "M3", "kind": "REFUND", "amount": 5.0, "at": datetime(2026, 10, 15)},
            {"id": "M4", "kind": "PAYMENT", "amount": 10.0, "at": datetime(2026, 10, 2)},
        ]),
        relationship_op("HOLDS", [{"from": "A", "to": "A1"}, {"from": "B", "to": "B1"}]),
        relationship_op("HAS_SUBSCRIPTION", [{"from": "A1", "to": "S1"}, {"from": "A1", "to": "S2"},
                                             {"from": "B1", "to": "S3"}]),
        relationship_op("OF_PRODUCT", [{"from": "S1", "to": "P-MOB"}, {"from": "S2", "to": "P-TV"},
                                       {"from": "S3", "to": "P-TV"}]),
        relationship_op("HAD_CONTACT", [{"from": "A", "to": "K1"}, {"from": "A", "to": "K2"},
                                        {"from": "A", "to": "K3"}]),
        relationship_op("VIA", [{"from": "K1", "to": "CALL_CENTRE"}, {"from": "K2", "to": "WEB"},
                                {"from": "K3", "to": "WEB"}]),
        relationship_op("HAS_EVENT", [{"from": "A1", "to": m} for m in ("M1", "M2", "M3", "M4")]),
        relationship_op("PREFERS", [{"from": "A", "to": "WEB", "rank": 1}]),
        node_op("AttributeValue", [
            {"id": 1, "key": "day_minutes", "value": "120.5", "observed_at": datetime(2026, 1, 1)},
            {"id": 2, "key": "day_minutes", "value": "180", "observed_at": datetime(2026, 9, 1)},
            {"id": 3, "key": "day_minutes", "value": "99", "observed_at": datetime(2026, 9, 1)},
        ]),
        relationship_op("HAS_ATTRIBUTE", [{"from": "A", "to": 1}, {"from": "A", "to": 2},
                                          {"from": "B", "to": 3}]),
    ])
    yield store
    store.close()


def test_values_as_of_now(hand_store: GraphStore) -> None:
    data = build(hand_store)
    f = F.compute(data, NOW)
    a, b = f.loc[data.row_of("A")], f.loc[data.row_of("B")]
    assert a["age_years"] == pytest.approx(40.0, abs=0.01)
    assert a["tenure_months"] == pytest.approx(24.0, abs=0.1)
    assert (a["accounts_open"], a["has_postpaid"], a["pays_direct_debit"]) == (1, 1, 1)
    assert a["out_of_contract"] == 1 and a["on_contract"] == 0  # the contract ended today
    assert a["products_held"] == 1 and a["has_mobile_data"] == 1 and a["has_tv"] == 0
    assert a["monthly_spend"] == pytest.approx(10.0)
    assert a["monthly_cost_to_serve"] == pytest.approx(5.0) and a["monthly_margin"] == pytest.approx(5.0)
    assert (a["contacts_30d"], a["contacts_365d"], a["complaints_90d"], a["open_complaints"]) == (1, 2, 1, 1)
    assert a["satisfaction_365d"] == pytest.approx(2.5) and a["unhappy_contacts_365d"] == 1
    assert a["days_since_contact"] == pytest.approx(12.0)
    assert a["digital_share_365d"] == pytest.approx(0.5)
    assert a["revenue_90d"] == pytest.approx(5.0)  # invoice 10 minus refund 5
    assert a["revenue_prev_90d"] == pytest.approx(40.0)
    assert a["revenue_change"] == pytest.approx((5 - 40) / 40)
    assert a["days_since_payment"] == pytest.approx(30.0)
    assert str(a["preferred_channel"]) == "WEB"
    assert a["attr_day_minutes"] == pytest.approx(180.0)  # the latest observation
    assert (b["accounts_open"], b["accounts_closed"], b["products_held"]) == (0, 1, 0)
    assert b["is_company"] == 1 and b["has_account_manager"] == 1
    assert b["days_since_contact"] == F.NEVER_DAYS
    assert pd.isna(b["satisfaction_365d"])


def test_values_as_of_a_past_time_do_not_see_the_future(hand_store: GraphStore) -> None:
    data = build(hand_store)
    rows = np.array([data.row_of("A"), data.row_of("B")])
    # B as it was just before its account closed; A a year ago.
    f = F.compute(data, np.array([datetime(2025, 11, 1), datetime(2026, 9, 30)], dtype="datetime64[us]"), rows)
    a, b = f.loc[rows[0]], f.loc[rows[1]]
    assert (b["accounts_open"], b["accounts_closed"], b["has_tv"], b["monthly_spend"]) == (1, 0, 1, 30.0)
    assert a["tenure_months"] == pytest.approx(12.0, abs=0.1)
    assert a["has_tv"] == 1 and a["products_held"] == 2  # S2 was still running
    assert a["contacts_365d"] == 0 and a["revenue_365d"] == 0
    assert a["on_contract"] == 1 and a["contract_months_left"] == pytest.approx(12.0, abs=0.2)


def test_a_time_per_row_must_fit(hand_store: GraphStore) -> None:
    data = build(hand_store)
    with pytest.raises(ValueError):
        F.compute(data, np.array([NOW], dtype="datetime64[us]"), np.array([0, 1]))
    with pytest.raises(ValueError):
        F.compute(data, NOW, np.array([0, 0]))


def test_every_feature_is_described(demo_store: GraphStore) -> None:
    frame = F.compute(build(demo_store), NOW)
    for column in frame.columns:
        assert F.describe(column) and (column in F.FEATURE_INDEX or column.startswith(("attr_", "holds_")))
    assert set(F.FEATURE_INDEX) <= set(frame.columns)


def test_the_frame_follows_writes_incrementally(hand_store: GraphStore) -> None:
    projection = Projection(hand_store)
    frame = F.FeatureFrame(projection)
    first = frame.current()
    assert first.loc[projection.data().row_of("A"), "complaints_365d"] == 1
    hand_store.write([
        node_op("Contact", [{"id": "K9", "at": datetime(2026, 10, 30), "kind": "COMPLAINT",
                             "direction": "INBOUND", "outcome": "OPEN"}]),
        relationship_op("HAD_CONTACT", [{"from": "A", "to": "K9"}]),
        relationship_op("VIA", [{"from": "K9", "to": "WEB"}]),
        node_op("Customer", [{"id": "C", "tier": "CONSUMER", "status": "ACTIVE", "city": "Ede"}]),
    ])
    current = frame.current()
    data = projection.data()
    assert len(current) == data.size == 3
    expected = F.compute(data, frame.as_of)
    pd.testing.assert_frame_equal(current.astype(object), expected.astype(object), check_names=False)
    assert current.loc[data.row_of("A"), "complaints_365d"] == 2
    assert str(current.loc[data.row_of("C"), "city"]) == "Ede"


def test_contract_type_and_payment_method_are_kept_as_categories(backend: str, tmp_path: Path) -> None:
    """A contract type without an end date and a payment method other than direct debit
    reach the feature frame as categories (issue 20: they used to become a constant and a
    direct-debit flag); a closed account's values do not count."""
    store = make_store(backend, tmp_path)
    store.write([
        node_op("Customer", [{"id": f"K{i}", "first_name": "K", "last_name": str(i), "status": "ACTIVE"}
                             for i in range(3)]),
        node_op("Account", [
            {"id": "KA0", "type": "POSTPAID", "status": "ACTIVE", "opened_on": date(2024, 1, 1),
             "contract_type": "MONTHS_24", "payment_method": "CARD"},
            {"id": "KA1", "type": "POSTPAID", "status": "ACTIVE", "opened_on": date(2024, 1, 1),
             "contract_type": "NO_CONTRACT", "payment_method": "INVOICE"},
            {"id": "KA2", "type": "POSTPAID", "status": "CLOSED", "opened_on": date(2024, 1, 1),
             "closed_on": date(2025, 1, 1), "contract_type": "MONTHS_12", "payment_method": "CASH"}]),
        relationship_op("HOLDS", [{"from": f"K{i}", "to": f"KA{i}"} for i in range(3)]),
    ])
    try:
        data = Projection(store).data()
    finally:
        store.close()
    frame = F.compute(data, datetime(2026, 1, 1))
    by_id = {str(data.ids[r]): r for r in frame.index}
    assert isinstance(frame["contract_type"].dtype, pd.CategoricalDtype)
    assert frame.loc[by_id["K0"], "contract_type"] == "MONTHS_24"       # no contract_end, still known
    assert frame.loc[by_id["K0"], "on_contract"] == 0.0                 # (the end-date features cannot say)
    assert frame.loc[by_id["K1"], "payment_method"] == "INVOICE"
    assert pd.isna(frame.loc[by_id["K2"], "contract_type"])             # closed account: not held
    assert F.describe("contract_type").startswith("contract type")


def test_products_are_features_so_dsl_and_fibre_differ(tmp_path: Path) -> None:
    """Two broadband products (one category) get a ``holds_<product>`` flag each, so customers
    on DSL and on fibre differ in the frame (issue 20: the category flag made them alike);
    a product with fewer than ``MIN_PRODUCT_HOLDERS`` subscriptions gets no column."""
    from graph.ladybug_store import LadybugStore

    n = 2 * F.MIN_PRODUCT_HOLDERS
    product = ["P-DSL" if i % 2 else "P-FIBRE" for i in range(n)] + ["P-RARE"]
    store = LadybugStore(tmp_path / "p.lbdb", buffer_pool_mb=64)
    store.write([
        node_op("Customer", [{"id": f"K{i}", "first_name": "K", "last_name": str(i), "status": "ACTIVE"}
                             for i in range(n + 1)]),
        node_op("Product", [{"id": p, "name": p, "category": "BROADBAND", "monthly_price": 30.0}
                            for p in ("P-DSL", "P-FIBRE", "P-RARE")]),
        node_op("Account", [{"id": f"KA{i}", "type": "POSTPAID", "status": "ACTIVE", "opened_on": date(2024, 1, 1)}
                            for i in range(n + 1)]),
        node_op("Subscription", [{"id": f"KS{i}", "status": "ACTIVE", "since": date(2024, 1, 1), "monthly_fee": 30.0,
                                  "discount": 0.0} for i in range(n + 1)]),
        relationship_op("HOLDS", [{"from": f"K{i}", "to": f"KA{i}"} for i in range(n + 1)]),
        relationship_op("HAS_SUBSCRIPTION", [{"from": f"KA{i}", "to": f"KS{i}"} for i in range(n + 1)]),
        relationship_op("OF_PRODUCT", [{"from": f"KS{i}", "to": product[i]} for i in range(n + 1)]),
    ])
    try:
        data = Projection(store).data()
    finally:
        store.close()
    frame = F.compute(data, datetime(2026, 1, 1))
    by_id = {str(data.ids[r]): r for r in frame.index}
    assert {"holds_P-DSL", "holds_P-FIBRE"} <= set(frame.columns) and "holds_P-RARE" not in frame.columns
    dsl, fibre = frame.loc[by_id["K1"]], frame.loc[by_id["K0"]]
    assert dsl["has_broadband"] == fibre["has_broadband"] == 1.0
    assert (dsl["holds_P-DSL"], dsl["holds_P-FIBRE"]) == (1.0, 0.0)
    assert (fibre["holds_P-DSL"], fibre["holds_P-FIBRE"]) == (0.0, 1.0)
    assert F.describe("holds_P-DSL") == "holds product P-DSL"
    # A frame of some rows only has the same product columns (counted over the whole store).
    assert [c for c in F.compute(data, datetime(2026, 1, 1), np.array([0])).columns if c.startswith("holds_")] \
        == [c for c in frame.columns if c.startswith("holds_")]
