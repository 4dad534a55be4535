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
    monetaryHistory(first: 20) { id kind amount currency at description accountId }
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
