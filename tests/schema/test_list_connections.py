"""The catalogue, campaign, saved-segment lists and a customer's monetary history as keyset connections, through the real HTTP
endpoint on each store backend: first/after and last/before walk every item exactly once, an item
written before the cursor between two pages does not shift the next page (it shows in
``totalCount``), and bad paging arguments are typed errors naming the argument."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from cdp.demo import telecom as demo
from cdp.settings import Settings
from graph.store import GraphStore
from tests.conftest import BACKENDS, api_client, make_store
from tests.schema.test_relay import _error, _ok, _walk

PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
PRODUCTS = """query($first: Int, $after: String, $last: Int, $before: String) {
  products(first: $first, after: $after, last: $last, before: $before) { totalCount
    edges { cursor node { id } } %s } }""" % PAGE_INFO
CAMPAIGNS = """query($first: Int, $after: String, $last: Int, $before: String) {
  campaigns(first: $first, after: $after, last: $last, before: $before) { totalCount
    edges { cursor node { id createdAt } } %s } }""" % PAGE_INFO
SEGMENTS = """query($first: Int, $after: String, $last: Int, $before: String) {
  segments(first: $first, after: $after, last: $last, before: $before) { totalCount
    edges { cursor node { id name } } %s } }""" % PAGE_INFO
CREATE_SEGMENT = """mutation($name: String!) { createSegment(name: $name,
  definition: {attribute: {key: "tier", op: EQ, value: "KEY_ACCOUNT"}}) { id } }"""
HISTORY = """query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) { customer(id: $id) {
  monetaryHistory(first: $first, after: $after, last: $last, before: $before) { totalCount
    edges { cursor node { id at accountId } } %s } } }""" % PAGE_INFO
UPSERT_EVENTS = """mutation($items: [MonetaryEventInput!]!) { upsertMonetaryEvents(source: "CRM", items: $items) {
  created errors { message } } }"""
CREATE_CAMPAIGN = """mutation($input: CampaignInput!) { createCampaign(input: $input) { id } }"""


@pytest.fixture(scope="module", params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphStore]:
    data = demo.generate(40, seed=21)
    s = make_store(request.param, tmp_path_factory.mktemp("lists"))
    s.bulk_load(data.nodes, data.relationships)
    yield s
    if request.param == "neo4j":
        s.wipe()
    s.close()


@pytest.fixture(scope="module")
def http(store: GraphStore) -> Iterator[TestClient]:
    with api_client(Settings(), store) as client:
        for n in range(3):  # saved segments to page through
            _ok(client, CREATE_SEGMENT, {"name": f"lists {n}"})
        yield client


def _ids(http: TestClient, query: str, root: str, **arguments: object) -> list[str]:
    return [e["node"]["id"] for e in _ok(http, query, arguments)[root]["edges"]]


def test_products_page_both_ways_by_id(http: TestClient, store: GraphStore) -> None:
    forward, total = _walk(http, PRODUCTS, ["products"], 4, False)
    backward, _ = _walk(http, PRODUCTS, ["products"], 3, True)
    assert total == len(store.products()) > 4
    assert forward == sorted(set(forward)) and len(forward) == total and backward == forward


def test_campaigns_page_both_ways_newest_first(http: TestClient) -> None:
    forward, total = _walk(http, CAMPAIGNS, ["campaigns"], 1, False)
    backward, _ = _walk(http, CAMPAIGNS, ["campaigns"], 2, True)
    assert total == len(demo.CAMPAIGNS) > 1
    assert len(set(forward)) == len(forward) == total and backward == forward
    times = [e["node"]["createdAt"] for e in _ok(http, CAMPAIGNS, {"first": 100})["campaigns"]["edges"]]
    assert times == sorted(times, reverse=True)


def test_segments_page_both_ways_by_name(http: TestClient) -> None:
    forward, total = _walk(http, SEGMENTS, ["segments"], 2, False)
    backward, _ = _walk(http, SEGMENTS, ["segments"], 2, True)
    assert total >= 3 and len(set(forward)) == len(forward) == total and backward == forward
    names = [e["node"]["name"] for e in _ok(http, SEGMENTS, {"first": 100})["segments"]["edges"]]
    assert names == sorted(names)


def test_a_product_added_before_the_cursor_does_not_shift_the_next_page(http: TestClient,
                                                                         store: GraphStore) -> None:
    everything = _ids(http, PRODUCTS, "products", first=100)
    page = _ok(http, PRODUCTS, {"first": 2})["products"]
    store.upsert_nodes("Product", [{"id": "P-0000-LISTS", "name": "Added while paging", "category": "TV"}])
    nxt = _ok(http, PRODUCTS, {"first": 2, "after": page["pageInfo"]["endCursor"]})["products"]
    assert [e["node"]["id"] for e in nxt["edges"]] == everything[2:4]
    assert nxt["totalCount"] == len(everything) + 1
    assert _ids(http, PRODUCTS, "products", first=1) == ["P-0000-LISTS"]  # it sorts first


def test_a_campaign_created_before_the_cursor_does_not_shift_the_next_page(http: TestClient) -> None:
    everything = _ids(http, CAMPAIGNS, "campaigns", first=100)
    page = _ok(http, CAMPAIGNS, {"first": 1})["campaigns"]
    spec = {"name": "lists: created while paging", "offers": ["P-BB-500"],
            "targetDefinition": {"holds": {"category": "MOBILE_DATA"}}, "waves": [{"channel": "SMS"}]}
    created = _ok(http, CREATE_CAMPAIGN, {"input": spec})["createCampaign"]["id"]
    nxt = _ok(http, CAMPAIGNS, {"first": 1, "after": page["pageInfo"]["endCursor"]})["campaigns"]
    assert [e["node"]["id"] for e in nxt["edges"]] == everything[1:2]
    assert nxt["totalCount"] == len(everything) + 1
    assert _ids(http, CAMPAIGNS, "campaigns", first=1) == [created]  # the newest comes first


def test_a_segment_saved_before_the_cursor_does_not_shift_the_next_page(http: TestClient) -> None:
    everything = _ids(http, SEGMENTS, "segments", first=100)
    page = _ok(http, SEGMENTS, {"first": 1})["segments"]
    created = _ok(http, CREATE_SEGMENT, {"name": "AAA lists: saved while paging"})["createSegment"]["id"]
    nxt = _ok(http, SEGMENTS, {"first": 1, "after": page["pageInfo"]["endCursor"]})["segments"]
    assert [e["node"]["id"] for e in nxt["edges"]] == everything[1:2]
    assert nxt["totalCount"] == len(everything) + 1
    assert _ids(http, SEGMENTS, "segments", first=1) == [created]


def _richest(http: TestClient) -> str:
    """The id of a customer with the longest monetary history among the first page of customers."""
    page = _ok(http, "{ customers(first: 40) { edges { node { id monetaryHistory { totalCount } } } } }")
    best = max(page["customers"]["edges"], key=lambda e: e["node"]["monetaryHistory"]["totalCount"])["node"]
    assert best["monetaryHistory"]["totalCount"] > 4
    return best["id"]


def test_monetary_history_pages_both_ways_newest_first(http: TestClient) -> None:
    cid = _richest(http)
    forward, total = _walk(http, HISTORY, ["customer", "monetaryHistory"], 3, False, {"id": cid})
    backward, _ = _walk(http, HISTORY, ["customer", "monetaryHistory"], 4, True, {"id": cid})
    assert len(set(forward)) == len(forward) == total and backward == forward
    events = [e["node"] for e in _ok(http, HISTORY, {"id": cid, "first": 500})["customer"]["monetaryHistory"]["edges"]]
    assert [e["id"] for e in events] == forward
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)


ACCOUNT_EVENTS = """query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) { customer(id: $id) {
  accounts { id monetaryEvents(first: $first, after: $after, last: $last, before: $before) { totalCount
    edges { cursor node { id at } } %s } } } }""" % PAGE_INFO


def test_an_accounts_events_page_both_ways_as_the_customers_history_does(http: TestClient) -> None:
    cid = _richest(http)
    history = [e["node"] for e in _ok(http, HISTORY, {"id": cid, "first": 500})["customer"]["monetaryHistory"]["edges"]]
    account = history[0]["accountId"]
    index = [a["id"] for a in _ok(http, ACCOUNT_EVENTS, {"id": cid, "first": 1})["customer"]["accounts"]].index(account)
    root = ["customer", "accounts", index, "monetaryEvents"]
    forward, total = _walk(http, ACCOUNT_EVENTS, root, 2, False, {"id": cid})
    backward, _ = _walk(http, ACCOUNT_EVENTS, root, 3, True, {"id": cid})
    # the account's events, newest first, are the customer's history restricted to that account
    assert forward == backward == [e["id"] for e in history if e["accountId"] == account]
    assert total == len(forward) > 0


def test_an_event_booked_before_the_cursor_does_not_shift_the_next_page(http: TestClient) -> None:
    cid = _richest(http)
    everything = [e["node"] for e in _ok(http, HISTORY, {"id": cid, "first": 500})["customer"]["monetaryHistory"]
                  ["edges"]]
    page = _ok(http, HISTORY, {"id": cid, "first": 2})["customer"]["monetaryHistory"]
    booked = _ok(http, UPSERT_EVENTS, {"items": [{"id": "ME-LISTS-NEW", "accountId": everything[0]["accountId"],
                                                  "kind": "PAYMENT", "amount": 10.0, "currency": "EUR",
                                                  "at": everything[0]["at"]}]})
    assert booked["upsertMonetaryEvents"]["errors"] == [], booked
    nxt = _ok(http, HISTORY, {"id": cid, "first": 2, "after": page["pageInfo"]["endCursor"]})["customer"]
    assert [e["node"]["id"] for e in nxt["monetaryHistory"]["edges"]] == [e["id"] for e in everything[2:4]]
    assert nxt["monetaryHistory"]["totalCount"] == len(everything) + 1


@pytest.mark.parametrize(("arguments", "code", "field"), [
    ("first: 2, last: 2", "BAD_USER_INPUT", "last"),
    ('last: 2, after: "x"', "BAD_USER_INPUT", "after"),
    ('first: 2, before: "x"', "BAD_USER_INPUT", "before"),
    ("first: -1", "BAD_USER_INPUT", "first"),
    ("last: 1000", "PAGE_TOO_LARGE", "last"),
    ('after: "bogus"', "BAD_USER_INPUT", "after"),
    ("after: FOREIGN", "BAD_USER_INPUT", "after"),  # a cursor of another list
])
@pytest.mark.parametrize("root", ["products", "campaigns", "segments"])
def test_bad_paging_arguments_are_typed_errors(http: TestClient, root: str, arguments: str, code: str,
                                               field: str) -> None:
    foreign = _ok(http, "{ complaints(first: 1) { pageInfo { endCursor } } }")["complaints"]["pageInfo"]["endCursor"]
    error = _error(http, f"{{ {root}({arguments.replace('FOREIGN', repr(foreign).replace(chr(39), chr(34)))}) "
                         "{ totalCount } }")
    assert error["extensions"]["code"] == code and error["extensions"]["field"] == field, error
    assert error["path"] == [root]
    if code == "PAGE_TOO_LARGE":
        assert error["extensions"]["limit"] == Settings().max_page_size


def test_bad_monetary_history_arguments_are_typed_errors(http: TestClient) -> None:
    cid = _richest(http)
    for arguments, code, field in (("first: 2, last: 2", "BAD_USER_INPUT", "last"), ("last: 501", "PAGE_TOO_LARGE", "last"),
                                   ('after: "bogus"', "BAD_USER_INPUT", "after")):
        error = _error(http, f'{{ customer(id: "{cid}") {{ monetaryHistory({arguments}) {{ totalCount }} }} }}')
        assert error["extensions"]["code"] == code and error["extensions"]["field"] == field, error
        assert error["path"] == ["customer", "monetaryHistory"]
