"""Value segmentation: figures checked against an independent computation from
the store's own rows, caching per data version, and the GraphQL fields."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from cdp.analytics import value as V
from cdp.projection.features import FeatureFrame
from cdp.projection.tables import Projection
from graph.store import GraphStore, node_op, relationship_op
from tests.conftest import gql


@pytest.fixture(scope="module")
def analysis(demo_store: GraphStore):  # type: ignore[no-untyped-def]
    projection = Projection(demo_store)
    frame = FeatureFrame(projection)
    data = projection.data()
    yield data, V.analyse(data, frame.current(data), at=frame.as_of), frame.as_of
    projection.close()


def _revenue_by_customer(store: GraphStore, at: datetime) -> dict[str, float]:
    """Last year's revenue per customer, straight from the store's rows (not the projection)."""
    accounts = store.accounts_of_customers([r["id"] for r in store.export_nodes("Customer").to_pylist()])
    owner = {a["id"]: c for c, rows in accounts.items() for a in rows}
    events = store.monetary_events_of_accounts(list(owner))
    out: dict[str, float] = {}
    for account, rows in events.items():
        for e in rows:
            if not (at - timedelta(days=365) <= e["at"] < at):
                continue
            sign = 1 if e["kind"] in ("INVOICE", "PURCHASE", "TOP_UP") else -1 if e["kind"] == "REFUND" else 0
            out[owner[account]] = out.get(owner[account], 0.0) + sign * e["amount"]
    return out


def test_concentration_matches_the_store(analysis, demo_store: GraphStore) -> None:  # type: ignore[no-untyped-def]
    data, seg, at = analysis
    expected = _revenue_by_customer(demo_store, at)
    by_id = dict(zip(data.ids[seg.by_customer.index], seg.by_customer["revenue"]))
    with_events = {c: r for c, r in expected.items() if r != 0}
    for customer, revenue in with_events.items():
        assert by_id[customer] == pytest.approx(max(revenue, 0.0), abs=1e-6)
    values = np.sort(np.array(list(by_id.values())))[::-1]
    top = values[: int(np.ceil(len(values) * 0.2))].sum() / values.sum()
    assert seg.top_share == pytest.approx(top)
    assert seg.lorenz[1] == pytest.approx(top) and seg.lorenz[-1] == pytest.approx(1.0)
    assert list(seg.lorenz) == sorted(seg.lorenz)
    assert 0 < seg.gini < 1
    assert seg.total_revenue == pytest.approx(values.sum())


def test_tiers_rfm_and_clusters_partition_the_base(analysis) -> None:  # type: ignore[no-untyped-def]
    data, seg, _ = analysis
    base = int(data.base().sum())
    assert seg.customers == base
    assert sum(t.customers for t in seg.tiers) == base
    assert sum(t.revenue_share for t in seg.tiers) == pytest.approx(1.0)
    high = next(t for t in seg.tiers if t.name == "HIGH")
    low = next(t for t in seg.tiers if t.name == "LOW")
    assert high.average_revenue > low.average_revenue
    assert high.revenue_share == pytest.approx(seg.top_share, abs=0.05)
    assert sum(r.customers for r in seg.rfm) == base
    assert set(seg.by_customer["recency"]) <= {1, 2, 3, 4, 5}
    champions = seg.by_customer[seg.by_customer["rfm_segment"] == "CHAMPIONS"]
    assert (champions[["recency", "frequency", "monetary"]] >= 4).all().all()
    assert 3 <= seg.k <= 8 and len(seg.clusters) == seg.k
    assert sum(c.customers for c in seg.clusters) == base
    assert sorted(seg.by_customer["cluster"].unique()) == list(range(seg.k))
    sizes = [c.customers for c in seg.clusters]
    assert sizes == sorted(sizes, reverse=True)
    for cluster in seg.clusters:
        assert cluster.description and cluster.traits
        assert abs(cluster.traits[0].z) >= abs(cluster.traits[-1].z)


def test_cached_per_data_version(demo_data, store: GraphStore) -> None:  # type: ignore[no-untyped-def]
    store.bulk_load({"Customer": demo_data.nodes["Customer"]}, {})
    projection = Projection(store)
    analysis = V.ValueAnalysis(projection, FeatureFrame(projection))
    first = analysis.current()
    assert analysis.current() is first
    customer = first.by_customer.index[0]
    store.write([node_op("Customer", [{"id": projection.data().ids[customer], "city": "Elders"}])])
    second = analysis.current()
    assert second is not first and second.data_version > first.data_version
    # The clustering is reused across data versions (re-assigned, not refitted) until forced.
    assert first.clustering is not None and second.clustering is first.clustering
    assert analysis.current(refit=True).clustering is not first.clustering


def test_graphql_value_segmentation(client) -> None:  # type: ignore[no-untyped-def]
    body = gql(client, """{ valueSegmentation { customers concentration { topShare lorenz gini }
        tiers { name customers revenueShare } rfm { name customers }
        clusters { id name customers description traits { feature z } } clusterCount silhouette } }""")
    assert "errors" not in body, body
    seg = body["data"]["valueSegmentation"]
    assert seg["customers"] == sum(t["customers"] for t in seg["tiers"])
    assert len(seg["concentration"]["lorenz"]) == 10
    assert len(seg["clusters"]) == seg["clusterCount"]
    edges = gql(client, "{ customers(first: 3) { edges { node { id } } } }")["data"]["customers"]["edges"]
    ids = [e["node"] for e in edges]
    one = gql(client, "query($id: ID!) { customer(id: $id) { value { tier revenue recency rfmSegment cluster "
                      "clusterName } } }", {"id": ids[0]["id"]})
    value = one["data"]["customer"]["value"]
    assert value["tier"] in {"HIGH", "MEDIUM", "LOW", "NONE"}
    assert value["clusterName"] and 1 <= value["recency"] <= 5


def test_rfm_recency_reads_purchases_and_is_configurable(store: GraphStore) -> None:
    """Transactional customers (PURCHASE events only) get recency scores spread over 1-5, not
    all 1; restricting the kinds to payments and top-ups (the old behaviour) makes them all 1."""
    now = datetime.now().replace(microsecond=0)
    customers, accounts, events, holds, has = [], [], [], [], []
    for i in range(40):
        customers.append({"id": f"R{i:03d}", "first_name": "R", "last_name": str(i), "tier": "CONSUMER",
                          "status": "ACTIVE", "joined_on": (now - timedelta(days=400)).date()})
        accounts.append({"id": f"RA{i:03d}", "type": "PREPAID", "status": "ACTIVE",
                         "opened_on": (now - timedelta(days=400)).date()})
        holds.append({"from": f"R{i:03d}", "to": f"RA{i:03d}"})
        events.append({"id": f"RE{i:03d}", "kind": "PURCHASE", "amount": 10.0 + i, "currency": "EUR",
                       "at": now - timedelta(days=3 + 7 * i)})
        has.append({"from": f"RA{i:03d}", "to": f"RE{i:03d}"})
    store.write([node_op("Customer", customers), node_op("Account", accounts), node_op("MonetaryEvent", events),
                 relationship_op("HOLDS", holds), relationship_op("HAS_EVENT", has)])
    data = Projection(store).data()
    features = FeatureFrame(Projection(store)).current(data)
    result = V.analyse(data, features, now)
    assert set(result.by_customer["recency"]) == {1, 2, 3, 4, 5}
    newest = data.row_of("R000")
    assert result.by_customer.loc[newest, "recency"] == 5          # bought 3 days ago: most recent
    old = V.analyse(data, features, now, recency_kinds=("PAYMENT", "TOP_UP"))
    assert set(old.by_customer["recency"]) == {1}


def test_rfm_recency_kinds_setting() -> None:
    from cdp.errors import ConfigurationError
    from cdp.settings import Settings

    assert Settings.from_env({"CDP_RFM_RECENCY_KINDS": "purchase, top_up"}).rfm_recency_kinds == ("PURCHASE", "TOP_UP")
    with pytest.raises(ConfigurationError, match="CDP_RFM_RECENCY_KINDS"):
        Settings.from_env({"CDP_RFM_RECENCY_KINDS": "PURCHASE,GIFT"})
