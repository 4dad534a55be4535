"""GraphQL types of value segmentation (``Query.valueSegmentation``, ``Customer.value``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry
from strawberry.types import Info

from resolvers import value as resolve
from resolvers.context import Context

if TYPE_CHECKING:
    from cdp.analytics import value as V


@strawberry.type(description="One value tier: HIGH (top 20% by revenue), MEDIUM (next 30%), LOW, NONE (no revenue).")
class ValueTier:
    name: str = strawberry.field(description="HIGH, MEDIUM, LOW or NONE.")
    customers: int = strawberry.field(description="Customers in the tier.")
    share: float = strawberry.field(description="Share of the customer base.")
    revenue: float = strawberry.field(
        description="Revenue of the tier's customers over the last year, in the account currency.")
    revenue_share: float = strawberry.field(description="Share of total revenue.")
    average_revenue: float = strawberry.field(description="Revenue per customer of the tier over the last year.")
    average_margin: float = strawberry.field(description="Average monthly margin (spend minus cost to serve).")


@strawberry.type(description="How concentrated revenue is over the customer base.")
class RevenueConcentration:
    top_share: float = strawberry.field(description="Share of last year's revenue from the top 20% of customers.")
    lorenz: list[float] = strawberry.field(
        description="Revenue share of the top 10%, 20%, ..., 100% of customers (ten values).")
    gini: float = strawberry.field(description="Gini coefficient of revenue (0 equal, 1 all from one customer).")
    total_revenue: float = strawberry.field(
        description="Revenue of the whole base over the last year, in the account currency.")


@strawberry.type(description="A named RFM segment (recency, frequency, monetary scores 1-5).")
class RfmSegment:
    name: str = strawberry.field(description="Segment name, e.g. `Champions`, `At risk`.")
    rule: str = strawberry.field(description="The condition on the R, F and M scores; the first matching rule wins.")
    customers: int = strawberry.field(description="Customers in the segment.")
    share: float = strawberry.field(description="Share of the customer base, 0..1.")
    revenue_share: float = strawberry.field(description="Share of the last year's revenue, 0..1.")


@strawberry.type(description="How a cluster differs from the base on one behaviour.")
class ClusterTrait:
    feature: str = strawberry.field(description="Feature name (docs/analytics.md).")
    description: str = strawberry.field(description="The feature in words.")
    cluster_mean: float = strawberry.field(description="Mean of the feature in the cluster.")
    base_mean: float = strawberry.field(description="Mean of the feature over the base.")
    z: float = strawberry.field(description="(cluster mean - base mean) / base standard deviation.")


@strawberry.type(description="A behavioural cluster (k-means) and what sets it apart.")
class BehaviourCluster:
    id: int = strawberry.field(description="Cluster number, from 0.")
    name: str = strawberry.field(description="A name from the cluster's strongest traits.")
    customers: int = strawberry.field(description="Customers in the cluster.")
    share: float = strawberry.field(description="Share of the customer base, 0..1.")
    revenue_share: float = strawberry.field(description="Share of the last year's revenue, 0..1.")
    description: str = strawberry.field(description="What sets the cluster apart, in words.")
    traits: list[ClusterTrait] = strawberry.field(description="Behaviours that set the cluster apart, strongest first.")


@strawberry.type(description="Value segmentation of the customer base, computed on demand and cached per data version.")
class ValueSegmentation:
    data_version: int = strawberry.field(description="Projection version the figures describe.")
    computed_at: datetime = strawberry.field(description="When the figures were computed (ISO 8601, UTC).")
    seconds: float = strawberry.field(description="Time the computation took.")
    customers: int = strawberry.field(description="Customers in the base segmented.")
    concentration: RevenueConcentration = strawberry.field(description="How concentrated revenue is.")
    tiers: list[ValueTier] = strawberry.field(description="Value tiers, HIGH first.")
    rfm: list[RfmSegment] = strawberry.field(description="RFM segments.")
    clusters: list[BehaviourCluster] = strawberry.field(description="Behavioural clusters.")
    cluster_count: int = strawberry.field(description="Number of clusters chosen (by silhouette score).")
    silhouette: float = strawberry.field(description="Silhouette score of the chosen clustering (-1..1).")

    @classmethod
    def from_analysis(cls, v: V.ValueSegmentation) -> ValueSegmentation:
        return cls(
            data_version=v.data_version, computed_at=v.computed_at,
            seconds=round(v.seconds, 3), customers=v.customers,
            concentration=RevenueConcentration(top_share=v.top_share, lorenz=list(v.lorenz), gini=v.gini,
                                               total_revenue=v.total_revenue),
            tiers=[ValueTier(name=t.name, customers=t.customers, share=t.share, revenue=t.revenue,
                             revenue_share=t.revenue_share, average_revenue=t.average_revenue,
                             average_margin=t.average_margin) for t in v.tiers],
            rfm=[RfmSegment(name=r.name, rule=r.rule, customers=r.customers, share=r.share,
                            revenue_share=r.revenue_share) for r in v.rfm],
            clusters=[BehaviourCluster(
                id=c.id, name=c.name, customers=c.customers, share=c.share, revenue_share=c.revenue_share,
                description=c.description,
                traits=[ClusterTrait(feature=t.feature, description=t.description, cluster_mean=t.cluster_mean,
                                     base_mean=t.base_mean, z=t.z) for t in c.traits],
            ) for c in v.clusters],
            cluster_count=v.k, silhouette=v.silhouette,
        )


@strawberry.type(description="One customer's place in the value segmentation.")
class CustomerValue:
    revenue: float = strawberry.field(description="Revenue over the last year.")
    tier: str = strawberry.field(description="Value tier: HIGH, MEDIUM, LOW or NONE.")
    recency: int = strawberry.field(description="RFM recency score, 1 (long ago) to 5 (recent).")
    frequency: int = strawberry.field(description="RFM frequency score, 1 (rarely) to 5 (often).")
    monetary: int = strawberry.field(description="RFM monetary score, 1 (little) to 5 (much).")
    rfm_segment: str = strawberry.field(description="Name of the customer's RFM segment.")
    cluster: int = strawberry.field(description="Id of the customer's behavioural cluster.")
    cluster_name: str = strawberry.field(description="Name of the customer's behavioural cluster.")


@strawberry.type
class ValueQuery:
    @strawberry.field(description="Revenue concentration, value tiers, RFM segments and behavioural clusters.")
    async def value_segmentation(self, info: Info[Context, None]) -> ValueSegmentation:
        return ValueSegmentation.from_analysis(await resolve.segmentation(info.context))


async def customer_value(info: Info[Context, None], customer_id: str) -> CustomerValue | None:
    """The ``Customer.value`` field: null when the customer is outside the base (e.g. merged)."""
    found = await resolve.customer_value(info.context, customer_id)
    if found is None:
        return None
    row, cluster_name = found
    return CustomerValue(revenue=float(row["revenue"]), tier=row["tier"], recency=int(row["recency"]),
                         frequency=int(row["frequency"]), monetary=int(row["monetary"]),
                         rfm_segment=row["rfm_segment"], cluster=int(row["cluster"]), cluster_name=cluster_name)
