"""Rule segments: exact membership on hand-built data (now and as of a past time),
an independent pandas computation on the demo data, every error path, pagination,
saved segments across app restarts, and incremental freshness."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.projection.tables import Projection, ProjectionData
from cdp.segments.definition import MAX_DEPTH, MAX_NODES, definition_json
from cdp.segments.engine import SegmentEngine
from cdp.settings import Settings
from graph.clock import utc_now
from graph.model import CHANNELS
from graph.store import GraphStore, node_op, relationship_op
from tests.conftest import BACKENDS, CliStore, api_client, gql, make_store

TODAY = utc_now().replace(hour=0, minute=0, second=0, microsecond=0)
PAST = TODAY - timedelta(days=100)


def days_ago(n: int) -> datetime:
    return TODAY - timedelta(days=n)


def write_tiny(store: GraphStore) -> None:
    """Five customers whose memberships are worked out by hand in the tests below."""
    d = lambda n: days_ago(n).date()  # noqa: E731
    store.write([
        node_op("Channel", [{"id": c, "name": n, "kind": k, "cost_per_contact": x} for c, n, k, x in CHANNELS]),
        node_op("Product", [
            {"id": "P-BB", "name": "Fibre", "category": "BROADBAND", "monthly_price": 30.0, "lifecycle": "ACTIVE"},
            {"id": "P-TV", "name": "TV", "category": "TV", "monthly_price": 20.0, "lifecycle": "ACTIVE"},
            {"id": "P-MOB", "name": "Data", "category": "MOBILE_DATA", "monthly_price": 15.0, "lifecycle": "ACTIVE"},
            {"id": "P-BUN", "name": "Home", "category": "BUNDLE", "monthly_price": 50.0, "lifecycle": "ACTIVE"},
        ]),
        node_op("Customer", [
            {"id": "C1", "first_name": "Ann", "tier": "CONSUMER", "status": "ACTIVE", "city": "Amsterdam",
             "birth_date": "1980-05-01", "joined_on": d(800)},
            {"id": "C2", "company_name": "Bolt BV", "tier": "BUSINESS", "status": "ACTIVE", "city": "Rotterdam",
             "birth_date": "1995-01-01", "joined_on": d(50)},
            {"id": "C3", "first_name": "Cas", "tier": "CONSUMER", "status": "ACTIVE", "city": "AMSTERDAM",
             "joined_on": d(1000)},
            {"id": "C4", "first_name": "Dup", "tier": "KEY_ACCOUNT", "status": "MERGED", "merged_into": "C1",
             "city": "Amsterdam", "birth_date": "1970-01-01", "joined_on": d(900)},
            {"id": "C5", "first_name": "Eva", "tier": "CONSUMER", "status": "ACTIVE", "city": "Utrecht",
             "birth_date": "2000-01-01", "joined_on": d(400)},
        ]),
        node_op("Account", [
            {"id": "A1", "type": "POSTPAID", "status": "ACTIVE", "opened_on": d(800), "contract_type": "MONTHS_24",
             "contract_end": (TODAY + timedelta(days=100)).date()},
            {"id": "A2", "type": "BUSINESS", "status": "ACTIVE", "opened_on": d(50), "contract_type": "MONTHS_12",
             "contract_end": d(5)},
            {"id": "A3", "type": "PREPAID", "status": "CLOSED", "opened_on": d(1000), "closed_on": d(30),
             "contract_type": "NO_CONTRACT"},
            {"id": "A4", "type": "POSTPAID", "status": "ACTIVE", "opened_on": d(900), "contract_end": d(1)},
            {"id": "A5", "type": "POSTPAID", "status": "ACTIVE", "opened_on": d(400), "contract_type": "NO_CONTRACT"},
        ]),
        node_op("Subscription", [
            {"id": "S1", "status": "ACTIVE", "since": d(700), "monthly_fee": 30.0, "discount": 0.0},
            {"id": "S2", "status": "ACTIVE", "since": d(40), "monthly_fee": 50.0, "discount": 0.1},
            {"id": "S3", "status": "CANCELLED", "since": d(900), "until": d(30), "monthly_fee": 20.0},
            {"id": "S4", "status": "ACTIVE", "since": d(800), "monthly_fee": 99.0},
            {"id": "S5", "status": "SUSPENDED", "since": d(300), "monthly_fee": 15.0},
        ]),
        node_op("Contact", [
            {"id": "K1", "at": days_ago(10), "kind": "COMPLAINT", "direction": "INBOUND", "outcome": "OPEN"},
            {"id": "K2", "at": days_ago(20), "kind": "COMPLAINT", "direction": "INBOUND", "outcome": "RESOLVED"},
            {"id": "K3", "at": days_ago(200), "kind": "INQUIRY", "direction": "INBOUND", "outcome": "RESOLVED"},
            {"id": "K4", "at": days_ago(150), "kind": "COMPLAINT", "direction": "INBOUND", "outcome": "RESOLVED"},
            {"id": "K5", "at": days_ago(1), "kind": "INQUIRY", "direction": "INBOUND", "outcome": "RESOLVED"},
            {"id": "K6", "at": days_ago(2), "kind": "INQUIRY", "direction": "OUTBOUND", "outcome": "INFORMED"},
            {"id": "K7", "at": days_ago(3), "kind": "INQUIRY", "direction": "INBOUND", "outcome": "RESOLVED"},
            {"id": "K8", "at": days_ago(5), "kind": "COMPLAINT", "direction": "INBOUND", "outcome": "OPEN"},
        ]),
        node_op("MonetaryEvent", [
            {"id": "M1", "kind": "INVOICE", "amount": 100.0, "at": days_ago(10)},
            {"id": "M2", "kind": "INVOICE", "amount": 100.0, "at": days_ago(40)},
            {"id": "M3", "kind": "INVOICE", "amount": 400.0, "at": days_ago(100)},
            {"id": "M4", "kind": "PAYMENT", "amount": 600.0, "at": days_ago(9)},
            {"id": "M5", "kind": "TOP_UP", "amount": 10.0, "at": days_ago(120)},
        ]),
        node_op("AttributeValue", [
            {"id": 1, "key": "favourite_team", "value": "Ajax", "source": "CRM", "observed_at": days_ago(300)},
            {"id": 2, "key": "favourite_team", "value": "PSV", "source": "CRM", "observed_at": days_ago(5)},
            {"id": 3, "key": "favourite_team", "value": "Feyenoord", "source": "CRM", "observed_at": days_ago(7)},
            {"id": 4, "key": "household_size", "value": "4", "source": "CRM", "observed_at": days_ago(7)},
            {"id": 5, "key": "household_size", "value": "12", "source": "CRM", "observed_at": days_ago(7)},
        ]),
        relationship_op("INCLUDES", [{"from": "P-BUN", "to": "P-BB", "quantity": 1},
                                     {"from": "P-BUN", "to": "P-TV", "quantity": 1}]),
        relationship_op("HOLDS", [{"from": f"C{i}", "to": f"A{i}"} for i in range(1, 6)]),
        relationship_op("HAS_SUBSCRIPTION", [{"from": f"A{i}", "to": f"S{i}"} for i in range(1, 6)]),
        relationship_op("OF_PRODUCT", [{"from": "S1", "to": "P-BB"}, {"from": "S2", "to": "P-BUN"},
                                       {"from": "S3", "to": "P-TV"}, {"from": "S4", "to": "P-BB"},
                                       {"from": "S5", "to": "P-MOB"}]),
        relationship_op("HAD_CONTACT", [{"from": "C1", "to": k} for k in ("K1", "K2", "K3")]
                        + [{"from": "C3", "to": "K4"}, {"from": "C4", "to": "K8"}]
                        + [{"from": "C5", "to": k} for k in ("K5", "K6", "K7")]),
        relationship_op("VIA", [{"from": "K1", "to": "CALL_CENTRE"}, {"from": "K2", "to": "APP"},
                                {"from": "K3", "to": "WEB"}, {"from": "K4", "to": "STORE"},
                                {"from": "K5", "to": "APP"}, {"from": "K6", "to": "OUTBOUND_CALL"},
                                {"from": "K7", "to": "APP"}, {"from": "K8", "to": "APP"}]),
        relationship_op("HAS_EVENT", [{"from": "A1", "to": m} for m in ("M1", "M2", "M3", "M4")]
                        + [{"from": "A3", "to": "M5"}]),
        relationship_op("HAS_ATTRIBUTE", [{"from": "C3", "to": 1}, {"from": "C3", "to": 2},
                                          {"from": "C1", "to": 3}, {"from": "C1", "to": 4},
                                          {"from": "C5", "to": 5}]),
    ])


#: C1 0.9, C2 0.2, C3 0.5; C4 and C5 unscored.
SCORES = {"C1": 0.9, "C2": 0.2, "C3": 0.5}


def fake_scores(name: str, data: ProjectionData) -> np.ndarray:
    if name != "churn_risk":
        raise InvalidInput(f"score {name!r} is not trained")
    return np.array([SCORES.get(i, np.nan) for i in data.ids], dtype=float)


@pytest.fixture(params=BACKENDS)
def tiny(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[GraphStore, SegmentEngine]]:
    store = make_store(request.param, tmp_path)
    write_tiny(store)
    projection = Projection(store)
    yield store, SegmentEngine(store, projection.data, fake_scores)
    projection.close()
    store.close()


def members(engine: SegmentEngine, definition: dict, as_of: datetime | None = None) -> list[str]:
    evaluation = engine.evaluate(definition, as_of, authorise=None)
    return evaluation.page(0, 1000)[0]


CASES: list[tuple[str, dict, list[str], list[str]]] = [
    # name, definition, members now, members as of PAST (100 days ago)
    ("everyone", {"all": []}, ["C1", "C2", "C3", "C5"], ["C1", "C3", "C5"]),
    ("tier", {"attribute": {"key": "tier", "op": "EQ", "value": "consumer"}}, ["C1", "C3", "C5"], ["C1", "C3", "C5"]),
    ("not tier", {"not": {"attribute": {"key": "tier", "op": "IN", "values": ["CONSUMER"]}}}, ["C2"], []),
    ("city, any case", {"attribute": {"key": "city", "op": "EQ", "value": "amsterdam"}}, ["C1", "C3"], ["C1", "C3"]),
    ("city contains", {"attribute": {"key": "city", "op": "CONTAINS", "value": "ERD"}}, ["C1", "C2", "C3"],
     ["C1", "C3"]),
    ("age", {"attribute": {"key": "age", "op": "GTE", "value": "40"}}, ["C1"], ["C1"]),
    ("birth date missing", {"attribute": {"key": "birth_date", "op": "MISSING"}}, ["C3"], ["C3"]),
    ("tenure", {"attribute": {"key": "tenure_months", "op": "LT", "value": "3"}}, ["C2"], []),
    ("custom latest", {"attribute": {"key": "favourite_team", "op": "EQ", "value": "psv"}}, ["C3"], []),
    ("custom as of", {"attribute": {"key": "favourite_team", "op": "EQ", "value": "AJAX"}}, [], ["C3"]),
    ("custom numeric", {"attribute": {"key": "household_size", "op": "GT", "value": "5"}}, ["C5"], []),
    ("custom exists", {"attribute": {"key": "favourite_team", "op": "EXISTS"}}, ["C1", "C3"], ["C3"]),
    ("holds broadband (bundle counts)", {"holds": {"category": "BROADBAND"}}, ["C1", "C2"], ["C1"]),
    ("holds TV", {"holds": {"category": "TV"}}, ["C2"], ["C3"]),
    ("holds product", {"holds": {"product": "P-TV"}}, ["C2"], ["C3"]),
    ("holds bundle", {"holds": {"bundle": True}}, ["C2"], []),
    ("holds suspended", {"holds": {"product": "P-MOB"}}, ["C5"], ["C5"]),
    ("holds two", {"holds": {"category": "BROADBAND", "minCount": 2}}, [], []),
    ("out of contract", {"account": {"contract": "OUT_OF_CONTRACT"}}, ["C2"], []),
    ("in contract", {"account": {"contract": "IN_CONTRACT"}}, ["C1"], ["C1"]),
    ("contract ends soon", {"account": {"contractEndsWithinDays": 120}}, ["C1"], []),
    ("prepaid", {"account": {"types": ["PREPAID"]}}, [], ["C3"]),
    ("one type (JSON alias)", {"account": {"type": "PREPAID"}}, [], ["C3"]),
    ("one kind (JSON alias)", {"contacts": {"days": 30, "kind": "COMPLAINT", "channel": "APP"}}, ["C1"], []),
    ("closed accounts", {"account": {"statuses": ["CLOSED"]}}, ["C3"], []),
    ("complaints", {"contacts": {"days": 30, "atLeast": 2, "kinds": ["COMPLAINT"]}}, ["C1"], []),
    ("complaints then", {"contacts": {"days": 90, "kinds": ["COMPLAINT"]}}, ["C1"], ["C3"]),
    ("app contacts", {"contacts": {"days": 30, "channels": ["APP"], "atLeast": 2}}, ["C5"], []),
    ("inbound, at most 2", {"contacts": {"days": 30, "direction": "INBOUND", "atLeast": 1, "atMost": 2}},
     ["C1", "C5"], []),
    ("outcome", {"contacts": {"days": 30, "outcomes": ["OPEN"]}}, ["C1"], []),
    ("quiet", {"noContactSince": {"days": 30}}, ["C2", "C3"], ["C1", "C3", "C5"]),
    ("quiet store", {"noContactSince": {"days": 365, "channels": ["STORE"]}}, ["C1", "C2", "C5"], ["C1", "C5"]),
    # C1: 200 in the last 90 days against 400 before (-50%); C3: 0 against 10 (-100%). As of PAST,
    # C3's top-up is the only revenue, with none before it: +infinity.
    ("spend drop", {"spendChange": {"days": 90, "op": "LT", "value": -20}}, ["C1", "C3"], []),
    ("spend up", {"spendChange": {"days": 90, "op": "GT", "value": 20}}, [], ["C3"]),
    ("spend", {"spend": {"op": "GT", "value": 40}}, ["C2"], []),
    ("spend between", {"spend": {"op": "BETWEEN", "value": 30, "to": 45}}, ["C1", "C2"], ["C1"]),
    ("score", {"score": {"name": "churn_risk", "op": "GTE", "value": 0.5}}, ["C1", "C3"], ["C1", "C3"]),
    ("not score (unscored)", {"not": {"score": {"name": "churn_risk", "op": "GTE", "value": 0.5}}}, ["C2", "C5"],
     ["C5"]),
    ("combination", {"all": [{"attribute": {"key": "tier", "op": "EQ", "value": "CONSUMER"}},
                             {"any": [{"holds": {"category": "BROADBAND"}}, {"noContactSince": {"days": 60}}]},
                             {"not": {"spend": {"op": "LT", "value": 10}}}]}, ["C1"], ["C1"]),
]


@pytest.mark.parametrize("name,definition,now,then", CASES, ids=[c[0] for c in CASES])
def test_membership_now_and_as_of(tiny, name: str, definition: dict, now: list[str],
                                  then: list[str]) -> None:
    _, engine = tiny
    assert members(engine, definition) == now
    assert members(engine, definition, PAST) == then


def test_customers_who_joined_later_are_not_members_as_of(tiny) -> None:
    _, engine = tiny
    evaluation = engine.evaluate({"all": []}, PAST, authorise=None)
    assert evaluation.base_size == 3 and not evaluation.contains("C2")
    assert engine.evaluate({"all": []}, authorise=None).base_size == 4  # the merged C4 is never in the base


ERRORS: list[tuple[Any, str, str]] = [
    ({"all": [{"contacts": {"days": 0}}]}, "definition.all[0].contacts.days", "positive integer"),
    ({"all": [{"attribute": {"key": "tier", "op": "EQ", "value": "X"}},
              {"contacts": {"days": 1.5}}]}, "definition.all[0].attribute.value", "unknown tier"),
    ({"any": [{"holds": {"product": "P-NONE"}}]}, "definition.any[0].holds.product", "unknown product"),
    ({"holds": {"product": "P-BB", "category": "TV"}}, "definition.holds", "exactly one of product"),
    ({"holds": {"category": "SHOES"}}, "definition.holds.category", "unknown value"),
    ({"all": [{}, {"contacts": {"days": 1}}]}, "definition.all[0]", "exactly one"),
    ({"all": [{"contacts": {"days": 1}, "spend": {"op": "GT", "value": 1}}]}, "definition.all[0]",
     "found contacts, spend"),
    ({"some": []}, "definition.some", "unknown node kind"),
    ({"any": []}, "definition.any", "at least one"),
    ({"not": [1]}, "definition.not", "must be an object"),
    ({"attribute": {"key": "shoe_size", "op": "EQ", "value": "42"}}, "definition.attribute.key",
     "unknown attribute"),
    ({"attribute": {"key": "tier", "op": "GT", "value": "CONSUMER"}}, "definition.attribute.op", "does not apply"),
    ({"attribute": {"key": "age", "op": "EQ", "value": "old"}}, "definition.attribute.value", "numbers"),
    ({"attribute": {"key": "joined_on", "op": "BETWEEN", "values": ["2020-01-01", "yesterday"]}},
     "definition.attribute.values[1]", "ISO 8601"),
    ({"attribute": {"key": "age", "op": "BETWEEN", "values": ["50", "40"]}}, "definition.attribute.values",
     "low must not exceed high"),
    ({"attribute": {"key": "city", "op": "IN", "value": "Utrecht"}}, "definition.attribute.value", "`values`"),
    ({"attribute": {"key": "city", "op": "EXISTS", "value": "x"}}, "definition.attribute", "takes no value"),
    ({"contacts": {"days": 10, "channels": ["FAX"]}}, "definition.contacts.channels[0]", "unknown channel"),
    ({"contacts": {"days": 10, "kinds": ["GOSSIP"]}}, "definition.contacts.kinds[0]", "unknown value"),
    ({"contacts": {"days": 10, "atLeast": 3, "atMost": 1}}, "definition.contacts.atMost", "atLeast"),
    ({"contacts": {"days": 10, "color": "red"}}, "definition.contacts.color", "unknown field"),
    ({"noContactSince": {"days": 99999}}, "definition.noContactSince.days", "at most"),
    ({"spendChange": {"days": 30, "op": "GT"}}, "definition.spendChange.value", "required"),
    ({"spend": {"op": "BETWEEN", "value": 10}}, "definition.spend.to", "upper bound"),
    ({"spend": {"op": "GT", "value": 10, "to": 20}}, "definition.spend.to", "only BETWEEN"),
    ({"account": {"minCount": 0}}, "definition.account.minCount", "positive integer"),
    ({"account": {"type": "PREPAID", "types": ["BUSINESS"]}}, "definition.account.type", "not both"),
    ({"contacts": {"days": 3, "channel": "FAX"}}, "definition.contacts.channel", "unknown channel"),
    ({"score": {"name": "iq", "op": "GT", "value": 1}}, "definition.score.name", "unknown score"),
    ({"score": {"name": "propensity:P-NONE", "op": "GT", "value": 1}}, "definition.score.name", "unknown product"),
    ({"score": {"name": "lifetime_value", "op": "GT", "value": 1}}, "definition.score.name", "not trained"),
    ("tier = 1", "definition", "must be an object"),
]


@pytest.mark.parametrize("definition,path,words", ERRORS, ids=[e[1] + ":" + e[2] for e in ERRORS])
def test_invalid_definitions_name_the_bad_node(tiny, definition: Any, path: str, words: str) -> None:
    _, engine = tiny
    # an id that names nothing is NOT_FOUND, any other bad node BAD_USER_INPUT (docs/errors.md)
    expected = NotFound if re.search(r"unknown (product|channel) ", words + " ") else InvalidInput
    with pytest.raises((InvalidInput, NotFound)) as caught:
        engine.evaluate(definition, authorise=None)
    assert type(caught.value) is expected, (words, caught.value)
    assert caught.value.field == path
    assert caught.value.message.startswith(f"{path}: ") and words in caught.value.message


def test_size_limits(tiny) -> None:
    _, engine = tiny
    deep: dict = {"attribute": {"key": "tier", "op": "EXISTS"}}
    for _ in range(MAX_DEPTH):
        deep = {"not": deep}
    with pytest.raises(InvalidInput, match="nesting") as caught:
        engine.evaluate(deep, authorise=None)
    assert caught.value.field == "definition" + ".not" * MAX_DEPTH
    wide = {"any": [{"attribute": {"key": "tier", "op": "EXISTS"}}] * MAX_NODES}
    with pytest.raises(InvalidInput, match=f"limited to {MAX_NODES} nodes") as caught:
        engine.evaluate(wide, authorise=None)
    assert caught.value.field == f"definition.any[{MAX_NODES - 1}]"


def test_as_of_in_the_future_is_refused(tiny) -> None:
    _, engine = tiny
    with pytest.raises(InvalidInput, match="future"):
        engine.evaluate({"all": []}, utc_now() + timedelta(days=1), authorise=None)


def test_evaluations_are_cached_per_data_version(tiny) -> None:
    store, engine = tiny
    definition = {"contacts": {"days": 30, "kinds": ["COMPLAINT"]}}
    first = engine.evaluate(definition, authorise=None)
    assert engine.evaluate({"contacts": {"kinds": ["COMPLAINT"], "days": 30, "atMost": None}}, authorise=None) is first
    assert definition_json(definition) == first.definition
    store.write([node_op("Contact", [{"id": "K9", "at": days_ago(1), "kind": "COMPLAINT"}]),
                 relationship_op("HAD_CONTACT", [{"from": "C5", "to": "K9"}]),
                 relationship_op("VIA", [{"from": "K9", "to": "SMS"}])])
    second = engine.evaluate(definition, authorise=None)
    assert second is not first and second.page(0, 10)[0] == ["C1", "C5"]


def test_new_customers_are_paged_in_id_order(tiny) -> None:
    store, engine = tiny
    assert engine.evaluate({"all": []}, authorise=None).page(0, 10)[0] == ["C1", "C2", "C3", "C5"]
    store.write([node_op("Customer", [{"id": "C0", "tier": "CONSUMER", "status": "ACTIVE"},
                                      {"id": "C45", "tier": "CONSUMER", "status": "ACTIVE"}])])
    evaluation = engine.evaluate({"all": []}, authorise=None)
    assert evaluation.page(0, 10)[0] == ["C0", "C1", "C2", "C3", "C45", "C5"]
    assert evaluation.page(2, 2) == (["C2", "C3"], True)
    assert evaluation.page(4, 2) == (["C45", "C5"], False)


def test_profile_says_what_distinguishes_the_members(tiny) -> None:
    _, engine = tiny
    preview = engine.preview({"attribute": {"key": "tier", "op": "EQ", "value": "BUSINESS"}}, authorise=None)
    assert preview.ids == ["C2"] and preview.size == 1 and preview.share == 0.25 and preview.base_size == 4
    items = {(i.measure, i.value): i for i in preview.profile}
    tier = items[("tier", "BUSINESS")]
    assert tier.segment == 1.0 and tier.base == 0.25 and tier.lift == 4.0
    spend = items[("monthly_spend", None)]
    # Base: C1 30, C2 45, C3 0 (cancelled), C5 0 (suspended).
    assert spend.segment == 45.0 and spend.base == pytest.approx(18.75)
    differences = [abs(i.difference) for i in preview.profile]
    assert differences == sorted(differences, reverse=True)


# --------------------------------------------------------------------------- demo data, independently


AS_OF = datetime(2026, 11, 1)


def test_matches_an_independent_pandas_computation(demo_store: GraphStore, demo_data) -> None:  # type: ignore[no-untyped-def]
    engine = SegmentEngine(demo_store, Projection(demo_store).data)
    nodes = {k: v.to_pandas() for k, v in demo_data.nodes.items()}
    rels = {k: v.to_pandas() for k, v in demo_data.relationships.items()}
    customers = nodes["Customer"].set_index("id")
    base = customers.index[customers["status"] != "MERGED"]

    # Two or more complaints through assisted channels in the 180 days before AS_OF.
    contacts = nodes["Contact"].merge(rels["HAD_CONTACT"], left_on="id", right_on="to") \
        .rename(columns={"from": "customer"}).drop(columns="to") \
        .merge(rels["VIA"].rename(columns={"from": "id", "to": "channel"}), on="id")
    window = contacts[(contacts["at"] >= AS_OF - timedelta(days=180)) & (contacts["at"] < AS_OF)
                      & (contacts["kind"] == "COMPLAINT") & contacts["channel"].isin(["CALL_CENTRE", "STORE"])]
    complainers = set(window.groupby("customer").size().loc[lambda s: s >= 2].index)

    # Holds broadband directly or through a bundle at AS_OF.
    products = nodes["Product"].set_index("id")
    broadband = set(products.index[products["category"] == "BROADBAND"])
    includes = rels["INCLUDES"]
    broadband |= set(includes.loc[includes["to"].isin(broadband), "from"])
    subs = nodes["Subscription"].merge(rels["OF_PRODUCT"].rename(columns={"from": "id", "to": "product"}), on="id") \
        .merge(rels["HAS_SUBSCRIPTION"].rename(columns={"from": "account", "to": "id"}), on="id") \
        .merge(rels["HOLDS"].rename(columns={"from": "customer", "to": "account"}), on="account")
    since, until = pd.to_datetime(subs["since"]), pd.to_datetime(subs["until"])
    running = subs["status"].isin(["ACTIVE", "SUSPENDED"]) | ((subs["status"] == "CANCELLED") & (until > AS_OF))
    held = subs[running & ~(since > AS_OF) & ~(until <= AS_OF) & subs["product"].isin(broadband)]
    holders = set(held["customer"])

    joined = pd.to_datetime(customers["joined_on"])
    base_then = set(base) - set(customers.index[joined > AS_OF])
    tiers = set(customers.index[customers["tier"] != "CONSUMER"])
    expected = sorted((complainers | (holders & tiers)) & base_then)
    definition = {"any": [
        {"contacts": {"days": 180, "atLeast": 2, "kinds": ["COMPLAINT"], "channels": ["CALL_CENTRE", "STORE"]}},
        {"all": [{"holds": {"category": "BROADBAND"}},
                 {"not": {"attribute": {"key": "tier", "op": "EQ", "value": "CONSUMER"}}}]},
    ]}
    evaluation = engine.evaluate(definition, AS_OF, authorise=None)
    assert len(expected) > 5
    assert evaluation.page(0, 10_000)[0] == expected


# --------------------------------------------------------------------------- GraphQL

PREVIEW = """query($d: SegmentDefinitionInput!, $first: Int!, $after: String, $asOf: DateTime) {
  previewSegment(definition: $d, first: $first, after: $after, asOf: $asOf) {
    size baseSize share asOf definition
    members { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id tier } } }
    profile { measure kind value segment base lift difference }
  }
}"""

DEMO_DEFINITION = {"all": [
    {"attribute": {"key": "tier", "op": "IN", "values": ["CONSUMER", "BUSINESS"]}},
    {"contacts": {"days": 365, "kinds": ["COMPLAINT", "INQUIRY"]}},
    {"not": {"holds": {"category": "TV"}}},
    {"account": {"types": ["POSTPAID", "BUSINESS"]}},
    {"spend": {"op": "GTE", "value": 10}},
]}


def test_preview_pages_through_all_members_in_id_order(client) -> None:  # type: ignore[no-untyped-def]
    variables = {"d": DEMO_DEFINITION, "first": 7, "asOf": "2026-11-01T00:00:00+00:00"}
    seen: list[str] = []
    after = None
    while True:
        body = gql(client, PREVIEW, {**variables, "after": after})
        assert "errors" not in body, body
        preview = body["data"]["previewSegment"]
        seen += [e["node"]["id"] for e in preview["members"]["edges"]]
        assert all(e["node"]["tier"] in ("CONSUMER", "BUSINESS") for e in preview["members"]["edges"])
        if not preview["members"]["pageInfo"]["hasNextPage"]:
            break
        after = preview["members"]["pageInfo"]["endCursor"]
    assert preview["size"] == preview["members"]["totalCount"] == len(seen) > 7
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert preview["share"] == pytest.approx(preview["size"] / preview["baseSize"])
    assert preview["asOf"].startswith("2026-11-01T00:00:00")
    assert preview["definition"]["all"][4] == {"spend": {"op": "GTE", "value": 10}}
    measures = {(p["measure"], p["value"]) for p in preview["profile"]}
    assert {("tenure_months", None), ("age", None), ("monthly_spend", None), ("contacts_365d", None),
            ("complaints_365d", None), ("revenue_90d", None), ("products_held", None)} <= measures
    assert {m for m, _ in measures} >= {"tier", "city", "account_type", "preferred_channel"}
    # Members hold no TV and have contacts: the profile shows it.
    tv_lift = [p for p in preview["profile"] if p["measure"] == "contacts_365d"][0]
    assert tv_lift["segment"] > tv_lift["base"]


def test_preview_size_agrees_with_the_customer_search(client) -> None:  # type: ignore[no-untyped-def]
    """The segment's monthly spend is the `monthlySpend` the customer search filters on."""
    body = gql(client, PREVIEW, {"d": {"all": [{"spend": {"op": "GTE", "value": 60}},
                                               {"attribute": {"key": "tier", "op": "EQ", "value": "CONSUMER"}}]},
                                 "first": 0})
    search = gql(client, '{ customers(where: {monthlySpend: {min: 60}, tier: [CONSUMER]}) { totalCount } }')
    assert body["data"]["previewSegment"]["size"] == search["data"]["customers"]["totalCount"] > 0


@pytest.mark.parametrize("definition,field,code", [
    ({"all": [{"contacts": {"days": -3}}]}, "definition.all[0].contacts.days", "BAD_USER_INPUT"),
    ({"all": [{"attribute": {"key": "tier", "op": "EQ", "value": "x"}}, {}]}, "definition.all[0].attribute.value",
     "BAD_USER_INPUT"),
    ({"any": [{"holds": {"product": "NOPE"}}]}, "definition.any[0].holds.product", "NOT_FOUND"),
    ({"all": [{"not": {"contacts": {"days": 3}, "holds": {"bundle": True}}}]}, "definition.all[0].not",
     "BAD_USER_INPUT"),
    # an untrained model: the code a customer's churnRisk gives for the same cause
    ({"score": {"name": "churn_risk", "op": "GT", "value": 0.5}}, "definition.score.name", "MODEL_NOT_TRAINED"),
])
def test_preview_errors_name_the_node(client, definition: dict, field: str, code: str) -> None:  # type: ignore[no-untyped-def]
    body = gql(client, PREVIEW, {"d": definition, "first": 5})
    error = body["errors"][0]
    assert error["extensions"] == {"code": code, "field": field}
    assert error["message"].startswith(field)


def test_preview_argument_errors(client) -> None:  # type: ignore[no-untyped-def]
    d = {"all": []}
    assert gql(client, PREVIEW, {"d": d, "first": 1000})["errors"][0]["extensions"]["field"] == "first"
    assert gql(client, PREVIEW, {"d": d, "first": 5, "after": "nope"})["errors"][0]["extensions"]["field"] == "after"
    future = gql(client, PREVIEW, {"d": d, "first": 5, "asOf": "2999-01-01T00:00:00Z"})["errors"][0]
    assert future["extensions"] == {"code": "BAD_USER_INPUT", "field": "asOf"}
    typed = gql(client, PREVIEW, {"d": {"contacts": {"days": "ten"}}, "first": 5})["errors"][0]
    assert typed["extensions"]["code"] == "BAD_USER_INPUT"


CREATE = """mutation($name: String!, $d: SegmentDefinitionInput!, $description: String) {
  createSegment(name: $name, definition: $d, description: $description) {
    id name description definition version createdAt updatedAt size
    members(first: 2) { totalCount edges { node { id } } }
  }
}"""
UPDATE = """mutation($id: ID!, $name: String, $d: SegmentDefinitionInput) {
  updateSegment(id: $id, name: $name, definition: $d) { id name definition version size }
}"""
LIST = """{ segments { edges { node { id name version size sizeThen: size(asOf: "%s") contains(customerId: "C3")
  members(first: 10) { totalCount edges { node { id } } } profile { measure value } } } } }""" % (
    PAST.isoformat() + "Z")


def test_saved_segments_survive_a_restart(cli_store: CliStore) -> None:
    store = cli_store.open()
    write_tiny(store)
    with api_client(cli_store.settings(), store) as http:
        created = gql(http, CREATE, {"name": "Complainers", "description": "recent complaints",
                                     "d": {"contacts": {"days": 30, "kinds": ["COMPLAINT"]}}})
        segment = created["data"]["createSegment"]
        assert segment["id"] == "SEG-complainers" and segment["version"] == 1
        assert segment["definition"] == {"contacts": {"days": 30, "kinds": ["COMPLAINT"]}}
        assert segment["size"] == 1 and segment["members"]["edges"] == [{"node": {"id": "C1"}}]

        again = gql(http, CREATE, {"name": "complainers", "d": {"all": []}})["errors"][0]
        assert again["extensions"] == {"code": "CONFLICT", "field": "name"}
        bad = gql(http, CREATE, {"name": "Broken", "d": {"contacts": {"days": 0}}})["errors"][0]
        assert bad["extensions"] == {"code": "BAD_USER_INPUT", "field": "definition.contacts.days"}
        empty = gql(http, CREATE, {"name": "  ", "d": {"all": []}})["errors"][0]
        assert empty["extensions"]["field"] == "name"
        assert gql(http, CREATE, {"name": "Everyone", "d": {"all": []}})["data"]["createSegment"]["size"] == 4

        updated = gql(http, UPDATE, {"id": "SEG-complainers", "name": "Complainers, 90 days",
                                     "d": {"contacts": {"days": 90, "kinds": ["COMPLAINT"]}}})
        assert updated["data"]["updateSegment"]["version"] == 2
        assert updated["data"]["updateSegment"]["name"] == "Complainers, 90 days"
        bad_update = gql(http, UPDATE, {"id": "SEG-complainers", "d": {"holds": {"product": "P-NONE"}}})
        assert bad_update["errors"][0]["extensions"]["field"] == "definition.holds.product"
        clash = gql(http, UPDATE, {"id": "SEG-complainers", "name": "EVERYONE"})["errors"][0]
        assert clash["extensions"]["code"] == "CONFLICT"
        missing = gql(http, UPDATE, {"id": "SEG-nope", "name": "x"})["errors"][0]
        assert missing["extensions"]["code"] == "NOT_FOUND"
    store.close()

    store = cli_store.open()  # a new store object and app: a restart
    with api_client(cli_store.settings(), store) as http:
        listed = [e["node"] for e in gql(http, LIST)["data"]["segments"]["edges"]]
        assert [s["name"] for s in listed] == ["Complainers, 90 days", "Everyone"]
        complainers = listed[0]
        assert complainers["version"] == 2 and complainers["size"] == 1 and complainers["sizeThen"] == 1
        assert complainers["contains"] is False
        assert complainers["members"] == {"totalCount": 1, "edges": [{"node": {"id": "C1"}}]}
        assert complainers["profile"]
        one = gql(http, '{ segment(id: "SEG-everyone") { name size } nothing: segment(id: "x") { id } }')
        assert one["data"] == {"segment": {"name": "Everyone", "size": 4}, "nothing": None}
        deleted = gql(http, 'mutation { a: deleteSegment(id: "SEG-everyone") b: deleteSegment(id: "SEG-everyone") }')
        assert deleted["data"] == {"a": True, "b": False}
        assert [e["node"]["id"] for e in gql(http, "{ segments { edges { node { id } } } }")["data"]["segments"]["edges"]] \
            == ["SEG-complainers"]
    store.close()


def test_engine_writes_nothing_for_an_invalid_definition(tiny) -> None:
    store, engine = tiny
    with pytest.raises(InvalidInput):
        engine.create("Bad", None, {"spend": {"op": "GT"}}, authorise=None)
    assert engine.list() == []
    created = engine.create("Good", None, {"spend": {"op": "GT", "value": 1}}, authorise=None)
    with pytest.raises(Conflict):
        engine.create("good", None, {"all": []}, authorise=None)
    with pytest.raises(NotFound):
        engine.update("SEG-none", name="x", authorise=None)
    with pytest.raises(InvalidInput):
        engine.update(created.id, definition={"spend": {"op": "GT", "value": "1"}}, authorise=None)
    assert engine.get(created.id).version == 1 and [s.name for s in engine.list()] == ["Good"]


def test_a_write_shows_in_the_next_preview(store: GraphStore, tmp_path: Path) -> None:
    write_tiny(store)
    definition = {"contacts": {"days": 30, "kinds": ["COMPLAINT"], "channels": ["SMS"]}}
    with api_client(Settings(db_path=tmp_path / "unused.lbdb"), store) as http:
        before = gql(http, PREVIEW, {"d": definition, "first": 5})["data"]["previewSegment"]
        assert before["size"] == 0
        store.write([node_op("Contact", [{"id": "K-NEW", "at": days_ago(2), "kind": "COMPLAINT"}]),
                     relationship_op("HAD_CONTACT", [{"from": "C2", "to": "K-NEW"}]),
                     relationship_op("VIA", [{"from": "K-NEW", "to": "SMS"}])])
        after = gql(http, PREVIEW, {"d": definition, "first": 5})["data"]["previewSegment"]
        assert after["size"] == 1 and after["members"]["edges"][0]["node"]["id"] == "C2"
