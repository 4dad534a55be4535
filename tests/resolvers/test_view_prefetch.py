"""The customer view in one store call (``GraphStore.customer_views``, ``resolvers.view_prefetch``).

On both stores: the one-call read gives the rows the single reads give; the API answers
the same with and without the prefetch (one customer, a page, duplicate ids, filtered and
unfiltered contacts side by side); a masked field stays masked and a customer outside a
key's scope stays out; on Neo4j a plain view is one store call.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp.security.permissions import mask
from cdp.settings import Settings
from graph import queries as Q
from graph.store import GraphStore
from resolvers import view_prefetch
from tests.conftest import api_client, gql, with_key

VIEW = """query($id: ID!) { customer(id: $id) {
  id firstName lastName email phone tier status joinedOn birthDate nationalId updatedAt
  tenureMonths monthlyRevenue productCount lastContactAt openComplaints
  accounts { id type status openedOn contractEnd
    subscriptions { id status since until monthlyFee product { id name } }
    monetaryEvents(first: 3) { totalCount edges { node { id kind amount at } } } }
  contacts(first: 10) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id at kind outcome resolvedAt channel { id name } } } }
  complaints: contacts(first: 5, kind: COMPLAINT) { totalCount edges { node { id kind } } }
  preferredChannels { rank source updatedAt channel { id } }
  monetaryHistory(first: 5) { totalCount edges { node { id kind amount at accountId } } }
} }"""

PAGE = """query($ids: [ID!]) { customers(where: {ids: $ids}, first: 50) { totalCount edges { node {
  id email ... on Customer { accounts { id subscriptions { id product { id } } } }
  ...Contacts } } } }
fragment Contacts on Customer { contacts(first: 3) { edges { node { id at channel { id } } } } openComplaints }"""


@pytest.fixture
def loaded(store: GraphStore) -> GraphStore:
    """``store`` (each backend) holding a small seeded demo graph."""
    from cdp.demo import telecom as demo

    data = demo.generate(40, seed=11)
    store.bulk_load(data.nodes, data.relationships)
    return store


def _plain(rows: list[dict]) -> list[dict]:
    """Rows without unset properties (Neo4j leaves them out of a node, the view sends them as null)."""
    return [{k: v for k, v in r.items() if v is not None} for r in rows]


def test_customer_views_give_the_rows_of_the_single_reads(loaded: GraphStore) -> None:
    ids = [r["id"] for r in loaded.export_nodes("Customer").select(["id"]).to_pylist()]
    asked = ids + ["NO-SUCH-CUSTOMER", ids[0]]
    views = loaded.customer_views(asked, Q.ViewShape(True, True, True, True, True))
    assert set(views.customers) == set(ids)
    single = loaded.customers(ids)
    accounts = loaded.accounts_of_customers(ids)
    contacts = loaded.contacts_of_customers(ids)
    preferences = loaded.preferred_channels(ids)
    account_ids = [a["id"] for i in ids for a in accounts.get(i, [])]
    subscriptions = loaded.subscriptions_of_accounts(account_ids)
    events = loaded.monetary_events_of_accounts(account_ids)
    assert account_ids and any(contacts.values()) and any(events.values()) and any(preferences.values())
    for i in ids:
        assert _plain([views.customers[i]]) == _plain([single[i]])
        assert _plain(views.accounts[i]) == _plain(accounts.get(i, []))
        assert _plain(views.contacts[i]) == _plain(contacts.get(i, []))  # newest first, like the single read
        assert _plain(views.preferences[i]) == _plain(preferences.get(i, []))
    for a in account_ids:
        assert _plain(views.subscriptions[a]) == _plain(subscriptions.get(a, []))
        assert _plain(views.events[a]) == _plain(events.get(a, []))
    only_customers = loaded.customer_views(ids[:3], Q.ViewShape())
    assert set(only_customers.customers) == set(ids[:3]) and not only_customers.accounts


def _client(store: GraphStore, tmp_path: Path, role: str = "admin", **options):  # type: ignore[no-untyped-def]
    settings = Settings(db_path=tmp_path / "unused.lbdb", audit_log=tmp_path / "audit.jsonl", rate_limit=0,
                        api_key_cache_seconds=0)
    return api_client(settings, store, role, **options)


def _without_prefetch(monkeypatch: pytest.MonkeyPatch) -> None:
    async def level_by_level(*_: object) -> None:
        return None

    monkeypatch.setattr(view_prefetch, "prefetch", level_by_level)


def test_the_api_answers_the_same_with_and_without_the_prefetch(loaded: GraphStore, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [r["id"] for r in loaded.export_nodes("Customer").select(["id"]).to_pylist()]
    with _client(loaded, tmp_path) as client:
        fast_views = [gql(client, VIEW, {"id": i}) for i in ids[:8]] + [gql(client, VIEW, {"id": "NO-SUCH"})]
        fast_page = gql(client, PAGE, {"ids": ids[:20] + [ids[0], "NO-SUCH"]})
        _without_prefetch(monkeypatch)
        slow_views = [gql(client, VIEW, {"id": i}) for i in ids[:8]] + [gql(client, VIEW, {"id": "NO-SUCH"})]
        slow_page = gql(client, PAGE, {"ids": ids[:20] + [ids[0], "NO-SUCH"]})
    assert all("errors" not in v for v in fast_views + [fast_page]), fast_views
    assert fast_views == slow_views
    assert fast_page == slow_page
    assert fast_views[-1]["data"]["customer"] is None
    assert len(fast_page["data"]["customers"]["edges"]) == 20
    seen = [v["data"]["customer"] for v in fast_views[:-1]]
    assert any(c["accounts"] and c["accounts"][0]["subscriptions"] for c in seen)
    assert any(c["contacts"]["edges"] for c in seen) and any(c["preferredChannels"] for c in seen)
    for c in seen:  # the filtered alias is not the unfiltered list
        kinds = {e["node"]["kind"] for e in c["complaints"]["edges"]}
        assert kinds <= {"COMPLAINT"}


def test_on_neo4j_a_view_is_one_store_call(loaded: GraphStore, tmp_path: Path) -> None:
    ids = [r["id"] for r in loaded.export_nodes("Customer").select(["id"]).to_pylist()]
    plain = """query($id: ID!) { customer(id: $id) { id accounts { id subscriptions { id product { name } } }
      contacts(first: 10) { edges { node { id channel { name } } } } } }"""
    with _client(loaded, tmp_path) as client:
        gql(client, plain, {"id": ids[0]})  # the product and channel catalogues are cached after this
        before = loaded.call_count
        gql(client, "{ __typename }")
        per_request = loaded.call_count - before  # the key check (not cached in these tests)
        before = loaded.call_count
        body = gql(client, plain, {"id": ids[1]})
        calls = loaded.call_count - before - per_request
    assert body["data"]["customer"]["id"] == ids[1]
    # embedded: the single reads in process (customer, accounts, subscriptions, contacts)
    assert calls == (1 if loaded.one_statement_views else 4)


FULLER = """query($id: ID!) { customer(id: $id) {
  id email tier tenureMonths openComplaints lastContactAt monthlyRevenue productCount
  accounts { id subscriptions { id product { id name } } }
  contacts(first: 10) { edges { node { id at kind outcome channel { id name } } } }
  preferredChannels { rank channel { id name } }
  monetaryHistory(first: 10) { totalCount edges { node { id kind amount at accountId } } }
} }"""


def test_the_fuller_view_is_answered_from_the_one_prefetch(loaded: GraphStore, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Tenure, open complaints, last contact, revenue, product count, preferred channels and the
    monetary history answer from what the prefetch read: no store call after it."""
    ids = [r["id"] for r in loaded.export_nodes("Customer").select(["id"]).to_pylist()]
    with _client(loaded, tmp_path) as client:
        gql(client, FULLER, {"id": ids[0]})  # the product and channel catalogues are cached after this
        before = loaded.call_count
        gql(client, "{ __typename }")
        per_request = loaded.call_count - before
        fast = []
        for i in ids[1:9]:
            before = loaded.call_count
            fast.append(gql(client, FULLER, {"id": i}))
            calls = loaded.call_count - before - per_request
            # one statement on Neo4j; embedded, one call per part: customer, accounts,
            # subscriptions, monetary events, contacts, preferences
            assert calls == (1 if loaded.one_statement_views else 6), (i, calls)
        _without_prefetch(monkeypatch)
        slow = [gql(client, FULLER, {"id": i}) for i in ids[1:9]]
    assert all("errors" not in v for v in fast), fast
    assert fast == slow
    seen = [v["data"]["customer"] for v in fast]
    assert any(c["monetaryHistory"]["edges"] for c in seen) and any(c["preferredChannels"] for c in seen)
    assert any(c["lastContactAt"] for c in seen) and any(c["monthlyRevenue"] for c in seen)
    for c in seen:
        history = [e["node"] for e in c["monetaryHistory"]["edges"]]
        assert len(history) <= 10 and [e["at"] for e in history] == sorted((e["at"] for e in history), reverse=True)


def test_a_bad_argument_fails_alike_on_the_fast_path(loaded: GraphStore, tmp_path: Path) -> None:
    customer_id = loaded.export_nodes("Customer").select(["id"]).to_pylist()[0]["id"]
    bad = "query($id: ID!) { customer(id: $id) { id accounts { id } monetaryHistory(first: 501) { totalCount } } }"
    with _client(loaded, tmp_path) as client:
        body = client.post("/graphql", json={"query": bad, "variables": {"id": customer_id}}).json()
    assert body["errors"][0]["extensions"] == {"code": "PAGE_TOO_LARGE", "field": "first", "limit": 500}
    assert body["errors"][0]["path"] == ["customer", "monetaryHistory"]


def test_a_masked_field_stays_masked_on_the_fast_path(loaded: GraphStore, tmp_path: Path) -> None:
    row = loaded.export_nodes("Customer").to_pylist()[0]
    with _client(loaded, tmp_path, role="analyst") as client:
        body = gql(client, VIEW, {"id": row["id"]})
        page = gql(client, PAGE, {"ids": [row["id"]]})
    view = body["data"]["customer"]
    assert view["accounts"] is not None and "errors" not in body  # the prefetched parts are there
    assert view["email"] == mask("email", row["email"]) != row["email"]
    assert view["phone"] == mask("phone", row["phone"])
    assert view["lastName"] == mask("last_name", row["last_name"])
    assert view["birthDate"] is None and view["nationalId"] == mask("national_id", row["national_id"])
    assert page["data"]["customers"]["edges"][0]["node"]["email"] == mask("email", row["email"])


def test_a_customer_outside_the_keys_scope_stays_out(loaded: GraphStore, tmp_path: Path) -> None:
    me, other = [r["id"] for r in loaded.export_nodes("Customer").select(["id"]).to_pylist()[:2]]
    with _client(loaded, tmp_path, role="customer", customer_id=me) as client:
        mine = gql(client, VIEW, {"id": me})
        before = loaded.call_count
        gql(client, "{ __typename }")
        per_request = loaded.call_count - before  # the key check (not cached in these tests)
        before = loaded.call_count
        theirs = client.post("/graphql", json={"query": VIEW, "variables": {"id": other}}).json()
        calls = loaded.call_count - before - per_request
        listing = client.post("/graphql", json={"query": PAGE, "variables": {"ids": [other]}}).json()
        other_key = with_key(client, loaded, "customer", customer_id=other)
        allowed = client.post("/graphql", json={"query": VIEW, "variables": {"id": other}}, headers=other_key).json()
    assert mine["data"]["customer"]["id"] == me and "errors" not in mine
    assert theirs["data"] is None and [e["extensions"]["code"] for e in theirs["errors"]] == ["FORBIDDEN"]
    assert calls == 0  # nothing of the other customer's view was read
    assert listing["data"] is None and [e["extensions"]["code"] for e in listing["errors"]] == ["FORBIDDEN"]
    assert allowed["data"]["customer"]["id"] == other  # the same query with the other's own key
