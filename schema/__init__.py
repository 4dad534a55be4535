"""The GraphQL API contract: ``schema`` is the strawberry schema of cdp.

The SDL is committed as ``schema/schema.graphql`` (``cdp schema export``);
tests/schema/test_schema_sdl.py fails when the two drift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import strawberry
from strawberry.extensions import ValidationCache
from strawberry.types import Info

from resolvers import catalog, customers, view_prefetch
from resolvers import quality as quality_resolvers
from resolvers.context import Context
from schema.enums import ProductCategory, SortDirection
from schema.document_cache import DocumentCache
from schema.errors import ErrorCodes
from schema.authorization import Authorization
from schema.jobs import JobQuery
from schema.node_lookup import NodeQuery
from schema.connections import AfterArgument, BeforeArgument, FirstArgument, LastArgument
from schema.limits import QueryLimitsExtension
from schema.operation_observer import OperationObserver
from schema.mutations import Mutation
from schema.quality import DataQualityReport
from schema.scalars import SCALAR_OVERRIDES
from schema.inputs import CustomerOrder, CustomerWhere
from schema.campaigns import CampaignQuery
from schema.privacy import PrivacyQuery
from schema.recommendations import RecommendationQuery
from schema.relationship import RelationshipQuery
from schema.security import SecurityKeysQuery, SecurityQuery
from schema.value import ValueQuery
from schema.segments import SegmentQuery
from schema.scoring import ScoringQuery
from schema.types import Channel, Customer, CustomerConnection, Product, ProductConnection, customer_connection, product_connection
from cdp.customers.rules import CustomerCriteria

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


@strawberry.type(description="The root of every read. Which fields a credential may use depends on its role "
                             "(docs/security.md); personal fields come masked unless it may read them in full.")
class Query(ValueQuery, SegmentQuery, ScoringQuery, RecommendationQuery, RelationshipQuery, CampaignQuery,
            SecurityQuery, PrivacyQuery, SecurityKeysQuery, JobQuery, NodeQuery):
    @strawberry.field(description="The unified view of one customer; null when the id is unknown.")
    async def customer(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(
            description="The customer id; a customer credential may name only itself (FORBIDDEN otherwise).")],
    ) -> Customer | None:
        # the selected parts of the view in one store call, before the fields resolve
        await view_prefetch.prefetch(info.context, [id], view_prefetch.shape_of(info))
        row = await customers.customer(info.context, id)
        return Customer.from_row(row) if row else None

    @strawberry.field(description="Customers matching `where`, as a Relay-style connection.")
    async def customers(
        self,
        info: Info[Context, None],
        where: Annotated[CustomerWhere | None, strawberry.argument(
            description="Conditions every returned customer meets; null: every customer.")] = None,
        order_by: Annotated[CustomerOrder | None, strawberry.argument(
            description="Sort order; null: by id, ascending.")] = None,
        first: Annotated[int | None, strawberry.argument(
            description="Page forward: the first `first` customers after `after` (or the start), "
                        "0..`CDP_MAX_PAGE_SIZE` (PAGE_TOO_LARGE above); not with `last`. Null with `last` "
                        "null: 20.")] = None,
        after: Annotated[str | None, strawberry.argument(
            description="Cursor of the edge to start after (`pageInfo.endCursor` of the previous page); "
                        "null: from the start.")] = None,
        last: LastArgument = None,
        before: BeforeArgument = None,
    ) -> CustomerConnection:
        order = order_by or CustomerOrder()
        page = await customers.customer_page(
            info.context, _criteria(where), order.field.value, order.direction == SortDirection.DESC,
            first, after, last, before,
            shape=view_prefetch.shape_of(info, connection=True),
        )
        return customer_connection(page)

    @strawberry.field(description="One catalogue product; null when the id is unknown.")
    async def product(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The product id, e.g. `P-BB-500`.")],
    ) -> Product | None:
        row = await catalog.product(info.context, id)
        return Product.from_row(row) if row else None

    @strawberry.field(description="The product catalogue by product id (optionally one category), a page at a time "
                                  "(keyset cursors: products added while paging do not shift the pages).")
    async def products(
        self,
        info: Info[Context, None],
        category: Annotated[ProductCategory | None, strawberry.argument(
            description="Only products of this category; null: every product.")] = None,
        first: FirstArgument = None,
        after: AfterArgument = None,
        last: LastArgument = None,
        before: BeforeArgument = None,
    ) -> ProductConnection:
        page = await catalog.product_page(info.context, category.value if category else None,
                                          first, after, last, before)
        return product_connection(page)

    @strawberry.field(description="Every channel, with its contact volume.")
    async def channels(self, info: Info[Context, None]) -> list[Channel]:
        return [Channel.from_row(r) for r in await catalog.channels(info.context)]


    @strawberry.field(description="Data-quality report over the whole store (computed on request).")
    async def data_quality(self, info: Info[Context, None]) -> DataQualityReport:
        return DataQualityReport.from_report(await quality_resolvers.data_quality(info.context))


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
    scalar_overrides=SCALAR_OVERRIDES,  # one DateTime format: ISO 8601 in UTC with +00:00
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
    """The schema in GraphQL SDL, as committed in ``schema/schema.graphql``.

    It opens with an explicit ``schema { ... }`` block naming the root types: graphql-core
    leaves it out when the roots have their conventional names, and tools that read the SDL
    alone (``build_schema``, code generators) should not have to rely on naming conventions.
    """
    core = schema._schema
    roots = [("query", core.query_type), ("mutation", core.mutation_type), ("subscription", core.subscription_type)]
    block = "".join(f"  {operation}: {root.name}\n" for operation, root in roots if root is not None)
    text = schema.as_str().rstrip() + "\n"
    if text.startswith("schema {"):  # graphql-core printed one already (non-conventional root names)
        return text
    return f"schema {{\n{block}}}\n\n{text}"
