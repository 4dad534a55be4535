"""The GraphQL API contract: ``schema`` is the strawberry schema of cdp.

The SDL is committed as ``schema/schema.graphql`` (``cdp schema export``);
tests/schema/test_schema_sdl.py fails when the two drift.
"""

from __future__ import annotations

from pathlib import Path

import strawberry
from strawberry.extensions import ValidationCache
from strawberry.types import Info

from cdp.limits.fair_share import run_sync
from resolvers import catalog, customers, view_prefetch
from resolvers.context import Context
from schema.enums import ProductCategory, SortDirection
from schema.document_cache import DocumentCache
from schema.errors import ErrorCodes
from schema.authorization import Authorization
from schema.jobs import JobQuery
from schema.limits import QueryLimitsExtension
from schema.operation_observer import OperationObserver
from schema.mutations import Mutation
from schema.quality import DataQualityReport
from schema.inputs import CustomerOrder, CustomerWhere
from schema.campaigns import CampaignQuery
from schema.privacy import PrivacyQuery
from schema.recommendations import RecommendationQuery
from schema.relationship import RelationshipQuery
from schema.security import SecurityKeysQuery, SecurityQuery
from schema.value import ValueQuery
from schema.segments import SegmentQuery
from schema.scoring import ScoringQuery
from schema.types import Channel, Customer, CustomerConnection, Product, customer_connection
from cdp.customers import quality
from cdp.customers.rules import CustomerCriteria
from cdp.security.permissions import readable_in_full

SDL_PATH = Path(__file__).with_name("schema.graphql")


def _criteria(where: CustomerWhere | None) -> CustomerCriteria:
    if where is None:
        return CustomerCriteria()

    def values(items: list | None) -> tuple | None:
        return None if items is None else tuple(getattr(i, "value", i) for i in items)

    tenure, spend, joined = where.tenure_months, where.monthly_spend, where.joined_on
    return CustomerCriteria(
        ids=values(where.ids), tiers=values(where.tier), statuses=values(where.status),
        cities=values(where.city), countries=values(where.country), name_contains=where.name_contains,
        email=where.email, phone=where.phone, holds_product=where.holds_product,
        holds_category=where.holds_category.value if where.holds_category else None,
        account_type=where.account_type.value if where.account_type else None,
        tenure_min_months=tenure.min if tenure else None, tenure_max_months=tenure.max if tenure else None,
        spend_min=spend.min if spend else None, spend_max=spend.max if spend else None,
        joined_from=joined.from_ if joined else None, joined_to=joined.to if joined else None,
    )


@strawberry.type
class Query(ValueQuery, SegmentQuery, ScoringQuery, RecommendationQuery, RelationshipQuery, CampaignQuery,
            SecurityQuery, PrivacyQuery, SecurityKeysQuery, JobQuery):
    @strawberry.field(description="The unified view of one customer; null when the id is unknown.")
    async def customer(self, info: Info[Context, None], id: strawberry.ID) -> Customer | None:
        # the selected parts of the view in one store call, before the fields resolve
        await view_prefetch.prefetch(info.context, [id], view_prefetch.shape_of(info))
        row = await customers.customer(info.context, id)
        return Customer.from_row(row) if row else None

    @strawberry.field(description="Customers matching `where`, as a Relay-style connection.")
    async def customers(
        self,
        info: Info[Context, None],
        where: CustomerWhere | None = None,
        order_by: CustomerOrder | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> CustomerConnection:
        order = order_by or CustomerOrder()
        page = await customers.customer_page(
            info.context, _criteria(where), order.field.value, order.direction == SortDirection.DESC,
            first, after,
            shape=view_prefetch.shape_of(info, connection=True),
        )
        return customer_connection(page)

    @strawberry.field(description="One catalogue product; null when the id is unknown.")
    async def product(self, info: Info[Context, None], id: strawberry.ID) -> Product | None:
        row = await catalog.product(info.context, id)
        return Product.from_row(row) if row else None

    @strawberry.field(description="The product catalogue, optionally one category.")
    async def products(self, info: Info[Context, None], category: ProductCategory | None = None) -> list[Product]:
        rows = await catalog.products(info.context, category.value if category else None)
        return [Product.from_row(r) for r in rows]

    @strawberry.field(description="Every channel, with its contact volume.")
    async def channels(self, info: Info[Context, None]) -> list[Channel]:
        return [Channel.from_row(r) for r in await catalog.channels(info.context)]


    @strawberry.field(description="Data-quality report over the whole store (computed on request).")
    async def data_quality(self, info: Info[Context, None]) -> DataQualityReport:
        ctx = info.context
        report = await run_sync(quality.report, ctx.store, ctx.policy, ctx.now)
        report = quality.duplicates_readable(report, lambda rule: readable_in_full(ctx.principal, rule))
        ctx.authorise_personal_use({g.rule: "duplicateSample" for g in report.duplicate_sample})
        return DataQualityReport.from_report(report)


class CdpSchema(strawberry.Schema):
    """Logs only unexpected errors (``ErrorCodes`` logs them with their traceback);
    user mistakes are answered, not logged as server faults."""

    def process_errors(self, errors: list, execution_context: object = None) -> None:
        return None


#: Distinct query texts whose parsed and validated form is kept. Front ends send
#: a handful of fixed documents, so parsing (~15% of a view's CPU) and
#: validation (~38%) then happen once per document, not once per request.
#: Bounded, so unique texts from a client cannot grow memory.
DOCUMENT_CACHE_SIZE = 512

schema = CdpSchema(
    query=Query,
    mutation=Mutation,
    extensions=[
        OperationObserver,  # notes the operation name for metrics and the access log
        ErrorCodes,
        QueryLimitsExtension,  # depth, aliases, tokens, cost: checked once per document text
        Authorization,  # operations per role, own-data-only customers; audits writes and personal reads
        lambda: DocumentCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
    ],
)


def sdl() -> str:
    """The schema in GraphQL SDL, as committed in ``schema/schema.graphql``."""
    return schema.as_str().rstrip() + "\n"
