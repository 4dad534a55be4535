"""The GraphQL documents the HTTP benchmark sends.

``VIEW_QUERY`` is the full unified customer view (profile, address, derived
figures, accounts with subscriptions and products, the latest 20 contacts with
their channel, preferred channels, the latest 20 monetary events); it touches
exactly the store calls ``bench.store_floor`` replays. ``TRIVIAL_QUERY`` does
no store work at all and measures the framework ceiling.
"""

from __future__ import annotations

import json

#: Placeholder in a request-body template that the load generator replaces by a customer id.
ID_PLACEHOLDER = "__CUSTOMER_ID__"

VIEW_QUERY = """
query CustomerView($id: ID!) {
  customer(id: $id) {
    id name firstName lastName companyName birthDate gender nationalId
    email phone language tier status joinedOn accountManager updatedAt
    address { street city postalCode country }
    tenureMonths monthlyRevenue productCount lastContactAt openComplaints
    accounts {
      id type status openedOn closedOn paymentMethod contractType contractEnd
      subscriptions {
        id status since until monthlyFee discount netMonthlyFee
        product { id name category monthlyPrice }
      }
    }
    contacts(first: 20) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges {
        cursor
        node {
          id at direction kind outcome satisfaction subject campaign resolvedAt
          channel { id name }
        }
      }
    }
    preferredChannels { rank source updatedAt channel { id name } }
    monetaryHistory(first: 20) { totalCount edges { node { id kind amount currency at description accountId } } }
  }
}
""".strip()

TRIVIAL_QUERY = "{ __typename }"


def view_body_template() -> str:
    """The JSON POST body of the view query with ``ID_PLACEHOLDER`` for the id."""
    return json.dumps({"query": VIEW_QUERY, "variables": {"id": ID_PLACEHOLDER}}, separators=(",", ":"))


def trivial_body() -> str:
    """The JSON POST body of the trivial query (no placeholder)."""
    return json.dumps({"query": TRIVIAL_QUERY}, separators=(",", ":"))


def body_for(template: str, customer_id: str) -> str:
    """``template`` with the placeholder replaced by ``customer_id`` (JSON-escaped)."""
    return template.replace(ID_PLACEHOLDER, json.dumps(customer_id)[1:-1])


#: The customer view of the side-by-side benchmark (bench/view_vs_neo4j_graphql.py): a customer
#: with accounts, their subscriptions and products, and the last 10 contacts with their channel.
#: ``LIBRARY_VIEW_QUERY`` asks the Neo4j GraphQL Library for the same fields.
CUSTOMER_VIEW_QUERY = """
query CustomerView($id: ID!) {
  customer(id: $id) {
    id firstName lastName email tier status joinedOn
    accounts {
      id type status
      subscriptions { id status since monthlyFee product { id name category } }
    }
    contacts(first: 10) { edges { node { id at kind outcome channel { id name } } } }
  }
}
""".strip()

#: cdp's fuller view: the plain one plus tenure, open complaints, preferred channels and the
#: latest 10 monetary events (no peer in the library without custom Cypher resolvers).
FULLER_VIEW_QUERY = """
query CustomerView($id: ID!) {
  customer(id: $id) {
    id firstName lastName email tier status joinedOn
    tenureMonths openComplaints
    accounts {
      id type status
      subscriptions { id status since monthlyFee product { id name category } }
    }
    contacts(first: 10) { edges { node { id at kind outcome channel { id name } } } }
    preferredChannels { rank channel { id name } }
    monetaryHistory(first: 10) { totalCount edges { node { id kind amount currency at } } }
  }
}
""".strip()

#: The plain view in the Neo4j GraphQL Library's generated API (bench/neo4j-graphql/typedefs.graphql):
#: a list filtered by id, contacts as a list sorted by time with a limit.
LIBRARY_VIEW_QUERY = """
query CustomerView($id: ID!) {
  customers(where: { id: { eq: $id } }) {
    id firstName lastName email tier status joinedOn
    accounts {
      id type status
      subscriptions { id status since monthlyFee product { id name category } }
    }
    contacts(limit: 10, sort: [{ at: DESC }]) { id at kind outcome channel { id name } }
  }
}
""".strip()


def body_template(query: str) -> str:
    """The JSON POST body of ``query`` with ``$id`` set to ``ID_PLACEHOLDER``."""
    return json.dumps({"query": query, "variables": {"id": ID_PLACEHOLDER}}, separators=(",", ":"))
