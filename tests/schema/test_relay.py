"""Relay conventions through the real HTTP endpoint, on each store backend: keyset connections
(first/after and last/before walk every item exactly once, pages do not shift when rows are
written before the cursor, bad paging arguments are typed errors) and global ids (``node`` /
``nodes`` answer each ``Node`` type as its typed field does, with the same permissions and
masking)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from cdp.demo import telecom as demo
from cdp.settings import Settings
from graph.store import GraphStore
from tests.conftest import BACKENDS, api_client, make_store, with_key

CUSTOMERS = 60
MAX_PAGE = 100


@pytest.fixture(scope="module", params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphStore]:
    data = demo.generate(CUSTOMERS, seed=5)
    s = make_store(request.param, tmp_path_factory.mktemp("relay"))
    s.bulk_load(data.nodes, data.relationships)
    yield s
    if request.param == "neo4j":
        s.wipe()
    s.close()


@pytest.fixture(scope="module")
def http(store: GraphStore) -> Iterator[TestClient]:
    with api_client(Settings(), store) as client:
        yield client


def _ok(client: TestClient, query: str, variables: dict | None = None, headers: dict | None = None) -> dict:
    response = client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def _error(client: TestClient, query: str, variables: dict | None = None, headers: dict | None = None) -> dict:
    response = client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code == 200, response.text
    assert "Traceback" not in response.text
    return response.json()["errors"][0]


CUSTOMER_PAGE = """query($first: Int, $after: String, $last: Int, $before: String, $field: CustomerSortField!,
    $direction: SortDirection!) {
  customers(first: $first, after: $after, last: $last, before: $before,
            orderBy: {field: $field, direction: $direction}) {
    totalCount edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""


def _walk(client: TestClient, query: str, root: list[str], size: int, backward: bool,
          variables: dict | None = None) -> tuple[list[str], int]:
    """Every id of a connection, paging forward (first/after) or backward (last/before);
    checks each page's pageInfo against its edges. Returns the ids in list order and totalCount."""
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        args = {"last": size, "before": cursor} if backward else {"first": size, "after": cursor}
        data = _ok(client, query, {**(variables or {}), **args})
        for key in root:
            data = data[key]
        edges, info = data["edges"], data["pageInfo"]
        ids = [e["node"]["id"] for e in edges]
        if edges:
            assert info["startCursor"] == edges[0]["cursor"] and info["endCursor"] == edges[-1]["cursor"]
        seen = ids + seen if backward else seen + ids
        pages += 1
        more = info["hasPreviousPage"] if backward else info["hasNextPage"]
        if pages == 1:  # nothing lies beyond the list's start (or end)
            assert not (info["hasNextPage"] if backward else info["hasPreviousPage"])
        else:
            assert info["hasNextPage"] if backward else info["hasPreviousPage"]
        if not more:
            return seen, data["totalCount"]
        cursor = info["startCursor"] if backward else info["endCursor"]
        assert pages < 1000


@pytest.mark.parametrize("field", ["ID", "LAST_NAME", "JOINED_ON", "CITY", "MONTHLY_SPEND"])
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
def test_customer_pages_cover_every_customer_once_both_ways(http: TestClient, field: str, direction: str) -> None:
    order = {"field": field, "direction": direction}
    forward, total = _walk(http, CUSTOMER_PAGE, ["customers"], 7, False, order)
    backward, _ = _walk(http, CUSTOMER_PAGE, ["customers"], 7, True, order)
    assert len(forward) == len(set(forward)) == total >= CUSTOMERS
    assert backward == forward
    whole = _ok(http, CUSTOMER_PAGE, {"first": MAX_PAGE, **order})["customers"]["edges"]
    assert [e["node"]["id"] for e in whole] == forward[:MAX_PAGE]
    if field == "ID":
        assert forward == sorted(forward, reverse=direction == "DESC")


def test_customer_pages_do_not_shift_under_writes(http: TestClient, store: GraphStore) -> None:
    """Rows inserted before the cursor and the deletion of rows before it (the cursor's own row
    too) leave the next page as it was; a row inserted after the cursor shows up once."""
    order = {"field": "ID", "direction": "ASC"}
    before_writes, _ = _walk(http, CUSTOMER_PAGE, ["customers"], 10, False, order)
    first = _ok(http, CUSTOMER_PAGE, {"first": 10, **order})["customers"]
    cursor = first["pageInfo"]["endCursor"]
    page_one = [e["node"]["id"] for e in first["edges"]]
    new = [{"id": "A-NEW-1", "lastName": "Early"}, {"id": "A-NEW-2", "lastName": "Early"},
           {"id": "ZZ-NEW-1", "lastName": "Late"}]
    written = _ok(http, """mutation($items: [CustomerInput!]!) { upsertCustomers(source: "billing", items: $items)
        { created errors { message } } }""", {"items": new})["upsertCustomers"]
    assert written == {"created": 3, "errors": []}
    store.delete_nodes("Customer", [page_one[0], page_one[-1]])  # before the cursor, and the cursor's own row
    rest = []
    after = cursor
    while True:
        page = _ok(http, CUSTOMER_PAGE, {"first": 10, "after": after, **order})["customers"]
        rest += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert rest == before_writes[10:] + ["ZZ-NEW-1"]
    # backward from the first page's start: the rows inserted before it, nothing else
    start = _ok(http, CUSTOMER_PAGE, {"first": 10, "after": cursor, **order})["customers"]["pageInfo"]["startCursor"]
    back = _ok(http, CUSTOMER_PAGE, {"last": 100, "before": start, **order})["customers"]
    assert [e["node"]["id"] for e in back["edges"]] == ["A-NEW-1", "A-NEW-2"] + page_one[1:-1]


CONTACTS = """query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) { customer(id: $id) {
  contacts(first: $first, after: $after, last: $last, before: $before) { totalCount
    edges { cursor node { id at } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"""


def _busiest(http: TestClient) -> str:
    rows = _ok(http, "{ customers(first: 100) { edges { node { id contacts(first: 0) { totalCount } } } } }")
    best = max(rows["customers"]["edges"], key=lambda e: e["node"]["contacts"]["totalCount"])
    assert best["node"]["contacts"]["totalCount"] >= 5
    return best["node"]["id"]


def test_contacts_page_both_ways_newest_first(http: TestClient) -> None:
    cid = _busiest(http)
    forward, total = _walk(http, CONTACTS, ["customer", "contacts"], 2, False, {"id": cid})
    backward, _ = _walk(http, CONTACTS, ["customer", "contacts"], 3, True, {"id": cid})
    assert len(forward) == len(set(forward)) == total and backward == forward
    times = [e["node"]["at"] for e in _ok(http, CONTACTS, {"id": cid, "first": 100})["customer"]["contacts"]["edges"]]
    assert times == sorted(times, reverse=True)


def test_a_contact_written_before_the_cursor_does_not_shift_the_next_page(http: TestClient) -> None:
    cid = _busiest(http)
    everything = [e["node"] for e in _ok(http, CONTACTS, {"id": cid, "first": 100})["customer"]["contacts"]["edges"]]
    page = _ok(http, CONTACTS, {"id": cid, "first": 2})["customer"]["contacts"]
    newest = everything[0]["at"]
    written = _ok(http, """mutation($items: [ContactInput!]!) { upsertContacts(source: "SERVICE_DESK", items: $items)
        { created errors { message } } }""", {"items": [{"id": "K-RELAY-NEW", "customerId": cid, "channelId": "APP",
                                                         "at": newest, "kind": "INQUIRY", "direction": "INBOUND"}]})
    assert written["upsertContacts"]["errors"] == [], written
    nxt = _ok(http, CONTACTS, {"id": cid, "first": 2, "after": page["pageInfo"]["endCursor"]})["customer"]["contacts"]
    assert [e["node"]["id"] for e in nxt["edges"]] == [c["id"] for c in everything[2:4]]
    assert nxt["totalCount"] == len(everything) + 1


COMPLAINTS = """query($first: Int, $after: String, $last: Int, $before: String) {
  complaints(first: $first, after: $after, last: $last, before: $before) { totalCount
    edges { cursor node { id openedAt } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""


def test_complaints_page_both_ways(http: TestClient) -> None:
    forward, total = _walk(http, COMPLAINTS, ["complaints"], 4, False)
    backward, _ = _walk(http, COMPLAINTS, ["complaints"], 5, True)
    assert total > 4 and len(forward) == len(set(forward)) == total and backward == forward


MEMBERS = """query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) { segment(id: $id) {
  members(first: $first, after: $after, last: $last, before: $before) { totalCount
    edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"""


def _segment(http: TestClient) -> str:
    """A saved segment of most customers (made once per store)."""
    for segment in (e["node"] for e in _ok(http, "{ segments(first: 100) { edges { node { id name } } } }")
                    ["segments"]["edges"]):
        if segment["name"] == "relay members":
            return segment["id"]
    created = _ok(http, """mutation($d: SegmentDefinitionInput!) { createSegment(name: "relay members", definition: $d)
        { id } }""", {"d": {"not": {"attribute": {"key": "tier", "op": "EQ", "value": "KEY_ACCOUNT"}}}})
    return created["createSegment"]["id"]


def test_segment_members_page_both_ways(http: TestClient) -> None:
    sid = _segment(http)
    forward, total = _walk(http, MEMBERS, ["segment", "members"], 6, False, {"id": sid})
    backward, _ = _walk(http, MEMBERS, ["segment", "members"], 6, True, {"id": sid})
    assert total > 6 and forward == sorted(set(forward)) and backward == forward and len(forward) == total


def _foreign_cursor(http: TestClient) -> str:
    page = _ok(http, CUSTOMER_PAGE, {"first": 1, "field": "LAST_NAME", "direction": "ASC"})
    return page["customers"]["pageInfo"]["endCursor"]


@pytest.mark.parametrize(("arguments", "code", "field"), [
    ("first: 2, last: 2", "BAD_USER_INPUT", "last"),
    ('last: 2, after: "x"', "BAD_USER_INPUT", "after"),
    ('first: 2, before: "x"', "BAD_USER_INPUT", "before"),
    ("last: -1", "BAD_USER_INPUT", "last"),
    ("last: 1000", "PAGE_TOO_LARGE", "last"),
    ("first: 1000", "PAGE_TOO_LARGE", "first"),
    ('before: "bogus"', "BAD_USER_INPUT", "before"),
    ('after: "' + base64.urlsafe_b64encode(b"cdp:o:5").decode() + '"', "BAD_USER_INPUT", "after"),  # an old offset cursor
    ("after: FOREIGN", "BAD_USER_INPUT", "after"),  # a cursor of another order
])
def test_bad_paging_arguments_are_typed_errors(http: TestClient, arguments: str, code: str, field: str) -> None:
    arguments = arguments.replace("FOREIGN", f'"{_foreign_cursor(http)}"')
    for query in (f"{{ customers({arguments}) {{ totalCount }} }}",
                  f"{{ complaints({arguments}) {{ totalCount }} }}"):
        error = _error(http, query)
        assert error["extensions"]["code"] == code and error["extensions"]["field"] == field, (query, error)
        if code == "PAGE_TOO_LARGE":
            assert error["extensions"]["limit"] == MAX_PAGE


# --------------------------------------------------------------------------- global ids


NODE = """query($id: ID!) { node(id: $id) { __typename globalId ... on Customer { id name email phone }
  ... on Account { id } ... on Contact { id } ... on Product { id } ... on Channel { id }
  ... on Campaign { id } ... on Segment { id } ... on Complaint { id } } }"""
NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { __typename globalId ... on Customer { id }
  ... on Account { id } ... on Contact { id } ... on Product { id } ... on Channel { id }
  ... on Campaign { id } ... on Segment { id } ... on Complaint { id } } }"""


def _one_of_each(http: TestClient) -> dict[str, dict]:
    """One object of each Node type, as its typed field answers it (``id`` and ``globalId``)."""
    cid = _busiest(http)
    view = _ok(http, """query($id: ID!) { customer(id: $id) { id globalId accounts { id globalId }
        contacts(first: 1) { edges { node { id globalId } } } } }""", {"id": cid})["customer"]
    data = _ok(http, """{ products(first: 1) { edges { node { id globalId } } } channels { id globalId }
        campaigns(first: 1) { edges { node { id globalId } } }
        complaints(first: 1) { edges { node { id globalId } } } }""")
    segment = _ok(http, 'query($id: ID!) { segment(id: $id) { id globalId } }', {"id": _segment(http)})["segment"]
    return {"Customer": {"id": view["id"], "globalId": view["globalId"]}, "Account": view["accounts"][0],
            "Contact": view["contacts"]["edges"][0]["node"], "Product": data["products"]["edges"][0]["node"],
            "Channel": data["channels"][0], "Campaign": data["campaigns"]["edges"][0]["node"],
            "Complaint": data["complaints"]["edges"][0]["node"], "Segment": segment}


def test_node_and_nodes_round_trip_every_type(http: TestClient) -> None:
    objects = _one_of_each(http)
    for type_name, obj in objects.items():
        assert base64.b64decode(obj["globalId"]).decode() == f"{type_name}:{obj['id']}"
        found = _ok(http, NODE, {"id": obj["globalId"]})["node"]
        assert (found["__typename"], found["id"], found["globalId"]) == (type_name, obj["id"], obj["globalId"])
    unknown = base64.b64encode(b"Customer:NO-SUCH-CUSTOMER").decode()
    ids = [o["globalId"] for o in objects.values()]
    listed = _ok(http, NODES, {"ids": [ids[-1], unknown, *ids]})["nodes"]
    assert listed[1] is None
    assert [(n["__typename"], n["id"]) for n in [listed[0], *listed[2:]]] == \
        [(t, o["id"]) for t, o in [list(objects.items())[-1], *objects.items()]]
    assert _ok(http, NODE, {"id": unknown})["node"] is None


@pytest.mark.parametrize(("query", "variables", "field"), [
    (NODE, {"id": "not base64 !"}, "id"),
    (NODE, {"id": base64.b64encode(b"NoColon").decode()}, "id"),
    (NODE, {"id": base64.b64encode(b"Subscription:S1").decode()}, "id"),  # a type without global ids
    (NODE, {"id": "C0000001"}, "id"),  # a domain id is not a global id
    (NODES, {"ids": [base64.b64encode(b"Customer:C1").decode(), "%%%"]}, "ids[1]"),
])
def test_malformed_or_foreign_global_ids_are_typed_errors(http: TestClient, query: str, variables: dict,
                                                          field: str) -> None:
    error = _error(http, query, variables)
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["field"] == field


def test_too_many_ids_are_refused(http: TestClient) -> None:
    ids = [base64.b64encode(f"Customer:C{i}".encode()).decode() for i in range(MAX_PAGE + 1)]
    error = _error(http, NODES, {"ids": ids})
    assert error["extensions"]["code"] == "PAGE_TOO_LARGE" and error["extensions"]["field"] == "ids"


VIEW = """query($id: ID!) { customer(id: $id) { id name email phone address { street city } } }"""
NODE_VIEW = """query($id: ID!) { node(id: $id) { ... on Customer { id name email phone address { street city } } } }"""


def test_node_masks_personal_fields_as_the_typed_field_does(http: TestClient, store: GraphStore) -> None:
    objects = _one_of_each(http)
    customer = objects["Customer"]
    analyst = with_key(http, store, "analyst")
    typed = _ok(http, VIEW, {"id": customer["id"]}, analyst)["customer"]
    by_node = _ok(http, NODE_VIEW, {"id": customer["globalId"]}, analyst)["node"]
    assert by_node == typed and typed["email"] != _ok(http, VIEW, {"id": customer["id"]})["customer"]["email"]
    # a customer credential: its own view in full, nobody else's, by either road
    own = with_key(http, store, "customer", customer_id=customer["id"])
    assert _ok(http, NODE_VIEW, {"id": customer["globalId"]}, own)["node"] == \
        _ok(http, VIEW, {"id": customer["id"]}, own)["customer"] == _ok(http, VIEW, {"id": customer["id"]})["customer"]
    someone_else = next(e["node"]["id"] for e in _ok(http, "{ customers(first: 2) { edges { node { id } } } }")
                        ["customers"]["edges"] if e["node"]["id"] != customer["id"])
    other = with_key(http, store, "customer", customer_id=someone_else)
    for gid in (customer["globalId"], objects["Account"]["globalId"], objects["Contact"]["globalId"],
                base64.b64encode(b"Account:NO-SUCH-ACCOUNT").decode()):
        error = _error(http, NODE_VIEW, {"id": gid}, other)
        assert error["extensions"]["code"] == "FORBIDDEN", (gid, error)
    assert _error(http, VIEW, {"id": customer["id"]}, other)["extensions"]["code"] == "FORBIDDEN"
    # the catalogue stays open to it; staff-only objects do not
    assert _ok(http, NODE, {"id": objects["Product"]["globalId"]}, other)["node"]["id"] == objects["Product"]["id"]
    for type_name in ("Complaint", "Campaign", "Segment"):
        error = _error(http, NODES, {"ids": [objects[type_name]["globalId"]]}, other)
        assert error["extensions"]["code"] == "FORBIDDEN", (type_name, error)


def test_node_of_an_erased_customer_answers_as_the_typed_field(http: TestClient) -> None:
    ids = [e["node"]["id"] for e in _ok(http, "{ customers(first: 3, orderBy: {field: ID, direction: DESC}) "
                                              "{ edges { node { id } } } }")["customers"]["edges"]]
    victim = ids[-1]
    erased = _ok(http, 'mutation($c: ID!) { eraseCustomer(customerId: $c) { customerId } }', {"c": victim})
    assert erased["eraseCustomer"]["customerId"] == victim
    gid = base64.b64encode(f"Customer:{victim}".encode()).decode()
    typed = _ok(http, VIEW, {"id": victim})["customer"]
    assert _ok(http, NODE_VIEW, {"id": gid})["node"] == (typed or None)


PORTFOLIO = """query($name: String!, $order: PortfolioOrder!, $first: Int, $after: String, $last: Int,
    $before: String) { accountManager(name: $name) {
  customers(orderBy: $order, first: $first, after: $after, last: $last, before: $before) { totalCount
    edges { cursor node { customer { id } revenueLast12Months } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"""


@pytest.mark.parametrize("order", ["ID", "REVENUE", "OPEN_COMPLAINTS"])
def test_portfolio_customers_page_both_ways(http: TestClient, order: str) -> None:
    ids = [e["node"]["id"] for e in _ok(http, "{ customers(first: 9, where: {tier: [BUSINESS, KEY_ACCOUNT]}) "
                                              "{ edges { node { id } } } }")
           ["customers"]["edges"]]
    for cid in ids:  # a portfolio of 9 (assigning again changes nothing)
        _ok(http, 'mutation($id: ID!) { assignAccountManager(customerId: $id, name: "Relay Manager") { id } }',
            {"id": cid})
    managers = _ok(http, "{ accountManagers { name customers } }")["accountManagers"]
    manager = next(m for m in managers if m["name"] == "Relay Manager")
    assert manager["customers"] >= 9

    def walk(backward: bool) -> tuple[list[str], int]:
        ids, cursor = [], None
        while True:
            args = {"last": 2, "before": cursor} if backward else {"first": 2, "after": cursor}
            page = _ok(http, PORTFOLIO, {"name": manager["name"], "order": order, **args})["accountManager"]["customers"]
            got = [e["node"]["customer"]["id"] for e in page["edges"]]
            ids = got + ids if backward else ids + got
            info = page["pageInfo"]
            if not (info["hasPreviousPage"] if backward else info["hasNextPage"]):
                return ids, page["totalCount"]
            cursor = info["startCursor"] if backward else info["endCursor"]

    forward, total = walk(False)
    backward, _ = walk(True)
    assert forward == backward and len(forward) == len(set(forward)) == total == manager["customers"]
    whole = _ok(http, PORTFOLIO, {"name": manager["name"], "order": order, "first": 100})["accountManager"]
    assert [e["node"]["customer"]["id"] for e in whole["customers"]["edges"]] == forward
