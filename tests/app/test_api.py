"""The GraphQL API over the real app and a real embedded store holding demo data.

Expected values are computed independently from the generated tables with
pandas, so the API is checked against the data, not against itself.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import pandas as pd
import pytest

from cdp.customers.rules import tenure_months
from tests.conftest import gql

VIEW = """
query View($id: ID!) {
  customer(id: $id) {
    id name tier status joinedOn tenureMonths monthlyRevenue productCount openComplaints lastContactAt
    address { city country }
    accounts { id type status subscriptions { id status netMonthlyFee product { id category } } }
    contacts(first: 5) { totalCount edges { cursor node { id at kind channel { id } } }
                         pageInfo { hasNextPage endCursor } }
    preferredChannels { rank channel { id } }
    monetaryHistory(first: 3) { totalCount edges { node { id at amount accountId } } }
  }
}
"""


@pytest.fixture(scope="module")
def frames(demo_data) -> dict[str, pd.DataFrame]:  # type: ignore[no-untyped-def]
    """Demo tables as pandas frames, for computing expected answers."""
    out = {k: v.to_pandas() for k, v in demo_data.nodes.items()}
    out.update({k: v.to_pandas() for k, v in demo_data.relationships.items()})
    return out


def _active_subs(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Active subscriptions with their customer and product."""
    subs = frames["Subscription"].merge(frames["HAS_SUBSCRIPTION"], left_on="id", right_on="to")
    subs = subs.rename(columns={"from": "account_id"}).drop(columns=["to"])
    subs = subs.merge(frames["HOLDS"].rename(columns={"from": "customer_id", "to": "account_id"}), on="account_id")
    subs = subs.merge(frames["OF_PRODUCT"].rename(columns={"from": "id", "to": "product_id"}), on="id")
    return subs[subs["status"] == "ACTIVE"]


def _busy_customer(frames: dict[str, pd.DataFrame]) -> str:
    """A customer with several contacts and active subscriptions."""
    contacts = frames["HAD_CONTACT"].groupby("from").size()
    subs = _active_subs(frames).groupby("customer_id").size()
    both = contacts[contacts >= 6].index.intersection(subs[subs >= 2].index)
    return sorted(both)[0]


def test_unified_view_matches_the_data(client, frames) -> None:  # type: ignore[no-untyped-def]
    cid = _busy_customer(frames)
    body = gql(client, VIEW, {"id": cid})
    assert "errors" not in body, body
    view = body["data"]["customer"]
    row = frames["Customer"].set_index("id").loc[cid]
    assert view["tier"] == row["tier"] and view["status"] == row["status"]
    assert view["address"]["city"] == row["city"]
    assert view["tenureMonths"] == tenure_months(row["joined_on"], datetime.now(timezone.utc).date())

    accounts = frames["HOLDS"][frames["HOLDS"]["from"] == cid]["to"]
    assert sorted(a["id"] for a in view["accounts"]) == sorted(accounts)

    subs = _active_subs(frames)
    mine = subs[subs["customer_id"] == cid]
    expected_revenue = round(float((mine["monthly_fee"] * (1 - mine["discount"].fillna(0))).round(2).sum()), 2)
    assert view["monthlyRevenue"] == pytest.approx(expected_revenue, abs=0.05)
    assert view["productCount"] == mine["product_id"].nunique()

    contact_ids = frames["HAD_CONTACT"][frames["HAD_CONTACT"]["from"] == cid]["to"]
    contacts = frames["Contact"][frames["Contact"]["id"].isin(contact_ids)]
    assert view["contacts"]["totalCount"] == len(contacts)
    newest = contacts.sort_values(["at", "id"], ascending=False)["id"].head(5).tolist()
    assert [e["node"]["id"] for e in view["contacts"]["edges"]] == newest
    assert view["contacts"]["pageInfo"]["hasNextPage"] == (len(contacts) > 5)
    complaints = contacts[(contacts["kind"] == "COMPLAINT") & contacts["outcome"].isin(["OPEN", "ESCALATED"])]
    assert view["openComplaints"] == len(complaints)
    last = contacts["at"].max().to_pydatetime().replace(tzinfo=timezone.utc)
    assert datetime.fromisoformat(view["lastContactAt"]) == last

    prefs = frames["PREFERS"][frames["PREFERS"]["from"] == cid].sort_values("rank")
    assert [p["channel"]["id"] for p in view["preferredChannels"]] == prefs["to"].tolist()


def test_contacts_paginate_without_gaps(client, frames) -> None:  # type: ignore[no-untyped-def]
    cid = _busy_customer(frames)
    seen, after = [], None
    while True:
        body = gql(client, """query($id: ID!, $after: String) { customer(id: $id) {
            contacts(first: 2, after: $after) { totalCount edges { node { id } }
            pageInfo { hasNextPage endCursor } } } }""", {"id": cid, "after": after})
        page = body["data"]["customer"]["contacts"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == page["totalCount"]


def test_contact_filters(client, frames) -> None:  # type: ignore[no-untyped-def]
    complaints = frames["Contact"][frames["Contact"]["kind"] == "COMPLAINT"]
    owner = frames["HAD_CONTACT"].set_index("to").loc[complaints["id"].iloc[0], "from"]
    body = gql(client, """query($id: ID!) { customer(id: $id) {
        contacts(first: 100, kind: COMPLAINT) { totalCount edges { node { kind } } } } }""", {"id": owner})
    page = body["data"]["customer"]["contacts"]
    mine = frames["HAD_CONTACT"][frames["HAD_CONTACT"]["from"] == owner]["to"]
    expected = complaints[complaints["id"].isin(mine)]
    assert page["totalCount"] == len(expected) >= 1
    assert {e["node"]["kind"] for e in page["edges"]} == {"COMPLAINT"}


def test_unknown_customer_is_null(client) -> None:  # type: ignore[no-untyped-def]
    body = gql(client, '{ customer(id: "no-such-customer") { id } product(id: "nope") { id } }')
    assert body == {"data": {"customer": None, "product": None}}


def test_customer_filters_match_pandas(client, frames) -> None:  # type: ignore[no-untyped-def]
    customers = frames["Customer"]
    business = gql(client, "{ customers(where: {tier: [BUSINESS, KEY_ACCOUNT]}) { totalCount } }")
    assert business["data"]["customers"]["totalCount"] == customers["tier"].isin(["BUSINESS", "KEY_ACCOUNT"]).sum()

    city = customers["city"].mode()[0]
    by_city = gql(client, "query($c: String!) { customers(where: {city: [$c]}, first: 100) { totalCount "
                          "edges { node { address { city } } } } }", {"c": city})
    assert by_city["data"]["customers"]["totalCount"] == (customers["city"] == city).sum()
    assert {e["node"]["address"]["city"] for e in by_city["data"]["customers"]["edges"]} == {city}

    subs = _active_subs(frames)
    products = frames["Product"].set_index("id")
    tv_holders = subs[subs["product_id"].map(products["category"]) == "TV"]["customer_id"].nunique()
    tv = gql(client, "{ customers(where: {holdsCategory: TV}) { totalCount } }")
    assert tv["data"]["customers"]["totalCount"] == tv_holders

    spend = (subs["monthly_fee"] * (1 - subs["discount"].fillna(0))).groupby(subs["customer_id"]).sum()
    expected_spend = int(((spend >= 40) & (spend <= 80)).sum())
    ranged = gql(client, "{ customers(where: {monthlySpend: {min: 40, max: 80}}) { totalCount } }")
    assert abs(ranged["data"]["customers"]["totalCount"] - expected_spend) <= 1  # float rounding at the edges


def test_tenure_filter(client, frames) -> None:  # type: ignore[no-untyped-def]
    today = datetime.now(timezone.utc).date()
    tenures = frames["Customer"]["joined_on"].map(lambda d: tenure_months(d, today))
    body = gql(client, "{ customers(where: {tenureMonths: {min: 12, max: 36}}) { totalCount } }")
    assert body["data"]["customers"]["totalCount"] == int(((tenures >= 12) & (tenures <= 36)).sum())


def test_customers_paginate_through_everything(client, frames) -> None:  # type: ignore[no-untyped-def]
    seen, after = [], None
    while True:
        body = gql(client, """query($after: String) { customers(first: 100, after: $after,
            orderBy: {field: JOINED_ON, direction: DESC}) { totalCount edges { node { id joinedOn } }
            pageInfo { hasNextPage endCursor } } }""", {"after": after})
        conn = body["data"]["customers"]
        seen += [(e["node"]["id"], e["node"]["joinedOn"]) for e in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert len(seen) == len({i for i, _ in seen}) == conn["totalCount"] == len(frames["Customer"])
    days = [d for _, d in seen]
    assert days == sorted(days, reverse=True)


PAGE = """query($n: Int!) { customers(first: $n) { edges { node { id name
    accounts { id subscriptions { id product { id name } } } } } } }"""


def test_nested_page_costs_a_constant_number_of_store_queries(client, demo_store) -> None:  # type: ignore[no-untyped-def]
    calls, statements = {}, {}
    gql(client, PAGE, {"n": 1})  # warm the product catalogue cache (one store call, then none)
    for n in (5, 50):
        before_calls, before_statements = demo_store.call_count, demo_store.query_count
        body = gql(client, PAGE, {"n": n})
        assert "errors" not in body and len(body["data"]["customers"]["edges"]) == n
        calls[n] = demo_store.call_count - before_calls
        statements[n] = demo_store.query_count - before_statements
        accounts = sum(len(e["node"]["accounts"]) for e in body["data"]["customers"]["edges"])
    # page ids + customers + accounts + subscriptions, whatever the page size
    # (products come from the cached catalogue, see test_catalogue_cache_*)
    if demo_store.one_statement_views:  # page ids, then the page's whole view in one statement
        assert calls[5] == calls[50] == 2 and statements[5] == statements[50] == 2
    else:
        assert calls[5] == calls[50] == 4
        # The embedded store answers a small batch with one primary-key lookup per
        # key, in process; it never sends more statements than keys plus the page query.
        assert 4 <= statements[50] <= 1 + 50 + 50 + accounts


def test_products_and_channels(client, frames) -> None:  # type: ignore[no-untyped-def]
    body = gql(client, "{ products(first: 100) { totalCount edges { node { id category isBundle subscriberCount "
                       "components { product { id } quantity } } } } "
                       "channels { id kind contactVolume } }")
    products = {e["node"]["id"]: e["node"] for e in body["data"]["products"]["edges"]}
    assert len(products) == body["data"]["products"]["totalCount"]
    subs = frames["Subscription"].merge(frames["OF_PRODUCT"], left_on="id", right_on="from")
    active = subs[subs["status"] == "ACTIVE"].groupby("to").size()
    for pid, product in products.items():
        assert product["subscriberCount"] == int(active.get(pid, 0))
    bundles = [p for p in products.values() if p["isBundle"]]
    assert bundles and all(p["components"] for p in bundles)
    volumes = frames["VIA"].groupby("to").size()
    for ch in body["data"]["channels"]:
        assert ch["contactVolume"] == int(volumes.get(ch["id"], 0))
    tv = [e["node"] for e in gql(client, "{ products(category: TV, first: 100) { edges { node { category } } } }")
          ["data"]["products"]["edges"]]
    assert tv and {p["category"] for p in tv} == {"TV"}


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("{ customers(first: 1000) { totalCount } }", "PAGE_TOO_LARGE", "first"),
        ("{ customers(first: -1) { totalCount } }", "BAD_USER_INPUT", "first"),
        ('{ customers(after: "bogus") { totalCount } }', "BAD_USER_INPUT", "after"),
        ("{ customers(where: {monthlySpend: {min: 9, max: 1}}) { totalCount } }", "BAD_USER_INPUT", "monthlySpend"),
        ("{ customers(where: {tenureMonths: {min: -3}}) { totalCount } }", "BAD_USER_INPUT", "tenureMonths"),
        ('{ customers(where: {joinedOn: {from: "2024-01-01", to: "2020-01-01"}}) { totalCount } }',
         "BAD_USER_INPUT", "joinedOn"),
        ('{ customer(id: "C0000001") { contacts(first: 999) { totalCount } } }', "PAGE_TOO_LARGE", "first"),
        ("{ customers(where: {tier: [GOLD]}) { totalCount } }", "GRAPHQL_VALIDATION_FAILED", None),
        ("{ customer { id } }", "GRAPHQL_VALIDATION_FAILED", None),
        ("{ nonsense }", "GRAPHQL_VALIDATION_FAILED", None),
        ("{ customer(id: ", "GRAPHQL_PARSE_FAILED", None),
    ],
)
def test_bad_arguments_get_coded_errors(client, query: str, code: str, field: str | None) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/graphql", json={"query": query})
    assert "Traceback" not in response.text and 'File "' not in response.text
    errors = response.json()["errors"]
    assert errors[0]["extensions"]["code"] == code
    if field:
        assert errors[0]["extensions"]["field"] == field


def test_queries_via_get_and_health(client, demo_store) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/graphql", params={"query": "{ channels { id } }"})
    assert response.status_code == 200 and len(response.json()["data"]["channels"]) == 8
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "backend": demo_store.backend}


def test_datetime_arguments_with_offsets(client, frames) -> None:  # type: ignore[no-untyped-def]
    cid = _busy_customer(frames)
    body = gql(client, """query($id: ID!, $since: DateTime!) { customer(id: $id) {
        contacts(first: 100, since: $since) { totalCount edges { node { at } } } } }""",
               {"id": cid, "since": "2026-01-01T02:00:00+02:00"})
    page = body["data"]["customer"]["contacts"]
    cutoff = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert all(datetime.fromisoformat(e["node"]["at"]) >= cutoff for e in page["edges"])
    assert date.fromisoformat("2026-01-01")  # the cutoff is a real day
