"""GraphQL types of relationship management: complaints, account managers and their
portfolios, satisfaction over time (docs/relationship.md).

``RelationshipQuery`` and ``RelationshipMutation`` are mixed into the root
``Query`` and ``Mutation``; ``customer_satisfaction`` serves ``Customer.satisfaction``.
User mistakes raise ``CdpError``s, which reach clients with ``extensions.code``
(NOT_FOUND, BAD_USER_INPUT, CONFLICT) and ``extensions.field``.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Annotated

import numpy as np
import strawberry
from strawberry.types import Info

from graph.clock import naive_utc
from schema.node import Node

from cdp.relationship import complaints as rules
from cdp.relationship import portfolio as P
from cdp.relationship import satisfaction as S
from cdp.transport.pagination import keyset_page, page_request
from schema.connections import BeforeArgument, LastArgument
from resolvers import relationship as resolve
from resolvers.context import Context
from schema import enums as E
from schema.errors import FieldsUnder
from schema.types import Channel, Customer, PageInfo, Product, _channel, _product, page_info, utc
from schema.enums import described

Ctx = Info[Context, None]


@strawberry.enum(description="Where a complaint stands: OPEN, ESCALATED (still open) or RESOLVED (a resolution "
                             "time is set, or the outcome is neither OPEN nor ESCALATED).")
class ComplaintStatus(enum.Enum):
    OPEN = described("OPEN", description="Not resolved and not escalated.")
    ESCALATED = described("ESCALATED", description="Escalated to a higher level; still unresolved.")
    RESOLVED = described(
        "RESOLVED", description="Resolved: a resolution time is set, or the outcome is neither OPEN nor ESCALATED.")


@strawberry.enum(description="How a portfolio's customers are ordered: ID ascending, the others highest first "
                             "(unscored customers last); ties by id.")
class PortfolioOrder(enum.Enum):
    ID = described("ID", description="Customer id, ascending.")
    REVENUE = described("REVENUE", description="Revenue of the last 12 months, highest first.")
    CHURN_RISK = described(
        "CHURN_RISK", description="Churn probability, highest first (unscored customers last).")
    OPEN_COMPLAINTS = described("OPEN_COMPLAINTS", description="Unresolved complaints, most first.")
    MONTHLY_RECURRING = described(
        "MONTHLY_RECURRING", description="Monthly recurring revenue, highest first.")


# --------------------------------------------------------------------------- complaints


@strawberry.type(description="A complaint (a contact of kind COMPLAINT) from opening to resolution.")
class Complaint(Node):
    id: strawberry.ID = strawberry.field(description="Id of the complaint's contact.")
    customer_id: strawberry.ID = strawberry.field(description="Id of the customer who complained.")
    subject: str | None = strawberry.field(description="Free-text subject; removed when the customer is erased.")
    status: ComplaintStatus = strawberry.field(description="Where the complaint stands.")
    outcome: E.ContactOutcome | None = strawberry.field(description="The stored outcome of the contact.")
    opened_at: datetime | None = strawberry.field(description="When the complaint was received (ISO 8601, UTC).")
    resolved_at: datetime | None = strawberry.field(
        description="When it was resolved (ISO 8601, UTC); null while unresolved.")
    resolution_hours: float | None = strawberry.field(description="Hours from opening to resolution; null while "
                                                                  "unresolved.")
    open_hours: float | None = strawberry.field(description="Hours the complaint has been open; null once resolved.")
    satisfaction: int | None = strawberry.field(description="Score the customer gave, 1..5, when asked.")
    channel_id: strawberry.Private[str | None]
    product_id: strawberry.Private[str | None]

    @strawberry.field(description="The customer who complained.")
    async def customer(self, info: Ctx) -> Customer | None:
        row = await info.context.loaders.customer.load(str(self.customer_id))
        return Customer.from_row(row) if row else None

    @strawberry.field(description="The channel the complaint came through.")
    async def channel(self, info: Ctx) -> Channel | None:
        return await _channel(info, self.channel_id)

    @strawberry.field(description="The product the complaint is about, when known.")
    async def product(self, info: Ctx) -> Product | None:
        return await _product(info, self.product_id)

    @classmethod
    def from_complaint(cls, c: rules.Complaint, now: datetime) -> Complaint:
        hours = c.resolution_hours
        age = c.open_hours(now)
        return cls(id=strawberry.ID(c.id), customer_id=strawberry.ID(c.customer_id), subject=c.subject,
                   status=ComplaintStatus(c.status), outcome=E.to_enum(E.ContactOutcome, c.outcome),
                   opened_at=utc(c.opened_at), resolved_at=utc(c.resolved_at),
                   resolution_hours=round(hours, 3) if hours is not None else None,
                   open_hours=round(age, 3) if age is not None else None, satisfaction=c.satisfaction,
                   channel_id=c.channel_id, product_id=c.product_id)


@strawberry.type(description="One complaint of a page, with its cursor.")
class ComplaintEdge:
    cursor: str = strawberry.field(
        description="Opaque cursor of this edge: pass it as `after` to read the complaints after it.")
    node: Complaint = strawberry.field(description="The complaint.")


@strawberry.type(description="A page of complaints, newest first.")
class ComplaintConnection:
    edges: list[ComplaintEdge] = strawberry.field(description="The complaints of this page, newest first.")
    page_info: PageInfo = strawberry.field(description="Where this page sits: cursors and whether more pages follow.")
    total_count: int = strawberry.field(description="Complaints selected (all pages).")


def _connection(found: resolve.ComplaintPage, now: datetime) -> ComplaintConnection:
    page = found.page
    edges = [ComplaintEdge(cursor=cur, node=Complaint.from_complaint(c, now))
             for cur, c in zip(page.cursors(), page.items)]
    return ComplaintConnection(edges=edges, page_info=page_info(page), total_count=found.total)


@strawberry.type(description="Counts, resolution times and SLA figures over a set of complaints "
                             "(docs/relationship.md).")
class ComplaintStats:
    total: int = strawberry.field(description="Complaints selected.")
    open: int = strawberry.field(description="Status OPEN.")
    escalated: int = strawberry.field(description="Status ESCALATED (also unresolved).")
    resolved: int = strawberry.field(description="Status RESOLVED.")
    median_resolution_hours: float | None = strawberry.field(description="Over complaints with a resolution time.")
    p90_resolution_hours: float | None = strawberry.field(description="90th percentile of resolution hours.")
    mean_resolution_hours: float | None = strawberry.field(
        description="Mean hours from opening to resolution, over complaints with a resolution time; null without any.")
    sla_hours: float = strawberry.field(description="The target resolution time used.")
    within_sla_share: float | None = strawberry.field(description="Share of complaints with a resolution time "
                                                                  "resolved within `slaHours`.")
    overdue: int = strawberry.field(description="Unresolved complaints open longer than `slaHours`.")
    mean_open_hours: float | None = strawberry.field(description="Mean age of the unresolved complaints.")
    oldest_open_hours: float | None = strawberry.field(
        description="Age in hours of the oldest unresolved complaint; null when none is open.")
    mean_satisfaction: float | None = strawberry.field(description="Mean score given on resolved complaints.")
    satisfaction_count: int = strawberry.field(description="Resolved complaints with a satisfaction score.")
    as_of: datetime = strawberry.field(
        description="The time open ages and SLA figures are measured at (ISO 8601, UTC).")

    @classmethod
    def from_stats(cls, s: rules.ComplaintStats) -> ComplaintStats:
        return cls(total=s.total, open=s.open, escalated=s.escalated, resolved=s.resolved,
                   median_resolution_hours=s.median_resolution_hours, p90_resolution_hours=s.p90_resolution_hours,
                   mean_resolution_hours=s.mean_resolution_hours, sla_hours=s.sla_hours,
                   within_sla_share=s.within_sla_share, overdue=s.overdue, mean_open_hours=s.mean_open_hours,
                   oldest_open_hours=s.oldest_open_hours, mean_satisfaction=s.mean_satisfaction,
                   satisfaction_count=s.satisfaction_count, as_of=utc(s.as_of))


def _filter(status: list[ComplaintStatus] | None = None, customer_id: strawberry.ID | None = None,
            manager: str | None = None, opened_from: datetime | None = None,
            opened_to: datetime | None = None) -> rules.ComplaintFilter:
    return rules.ComplaintFilter(
        statuses=tuple(s.value for s in status) if status is not None else None,
        customer_ids=(str(customer_id),) if customer_id is not None else None, manager=manager,
        opened_from=naive_utc(opened_from), opened_to=naive_utc(opened_to))


# --------------------------------------------------------------------------- satisfaction


@strawberry.type(description="Satisfaction scores of one calendar month (UTC).")
class SatisfactionMonth:
    month: date = strawberry.field(description="First day of the month.")
    mean: float = strawberry.field(description="Mean score, 1..5.")
    count: int = strawberry.field(description="Scores given.")
    low_share: float = strawberry.field(description="Share of scores of 2 or less.")

    @classmethod
    def from_month(cls, m: S.MonthlySatisfaction) -> SatisfactionMonth:
        return cls(month=m.month, mean=m.mean, count=m.count, low_share=m.low_share)


@strawberry.type(description="Satisfaction with one channel over a window, in total and per month.")
class ChannelSatisfaction:
    channel_id: strawberry.ID = strawberry.field(description="The channel id.")
    mean: float = strawberry.field(description="Mean score over the window, 1..5.")
    count: int = strawberry.field(description="Scores given over the window.")
    low_share: float = strawberry.field(description="Share of scores of 2 or less.")
    months: list[SatisfactionMonth] = strawberry.field(description="Months with scores, oldest first.")

    @strawberry.field(description="The channel; null when it is no longer in the catalogue.")
    async def channel(self, info: Ctx) -> Channel | None:
        return await _channel(info, str(self.channel_id))

    @classmethod
    def from_channel(cls, c: S.ChannelSatisfaction) -> ChannelSatisfaction:
        return cls(channel_id=strawberry.ID(c.channel), mean=c.mean, count=c.count, low_share=c.low_share,
                   months=[SatisfactionMonth.from_month(m) for m in c.months])


async def customer_satisfaction(info: Ctx, customer_id: str, from_: datetime | None,
                                to: datetime | None) -> list[SatisfactionMonth]:
    """``Customer.satisfaction``: monthly scores, oldest first."""
    months = await resolve.of_customer(info.context, customer_id, naive_utc(from_), naive_utc(to))
    return [SatisfactionMonth.from_month(m) for m in months]


# --------------------------------------------------------------------------- account managers


@strawberry.type(description="An account manager (a name on customers) and the size of their portfolio.")
class AccountManager:
    name: str = strawberry.field(description="The manager's name as recorded on customers.")
    customers: int = strawberry.field(description="Customers in the base with this manager.")
    key_accounts: int = strawberry.field(description="Of those customers, KEY_ACCOUNT tier.")
    business: int = strawberry.field(description="Of those customers, BUSINESS tier.")
    open_complaints: int = strawberry.field(description="Unresolved complaints of those customers.")


@strawberry.type(description="One customer of a portfolio with its figures.")
class PortfolioCustomer:
    customer: Customer = strawberry.field(description="The customer.")
    open_complaints: int = strawberry.field(description="The customer's unresolved complaints.")
    complaints_last_year: int = strawberry.field(description="Complaints opened in the last 365 days.")
    churn_risk: float | None = strawberry.field(description="Churn probability; null when the model is not "
                                                            "trained (see `Portfolio.churn.reason`) or the "
                                                            "customer is not scored.")
    revenue_last_12_months: float = strawberry.field(
        name="revenueLast12Months", description="Invoices, purchases and top-ups minus refunds, last 365 days.")
    monthly_recurring: float = strawberry.field(description="Active subscriptions' fees net of discount.")


@strawberry.type(description="One customer of a portfolio page, with its cursor.")
class PortfolioCustomerEdge:
    cursor: str = strawberry.field(
        description="Opaque cursor of this edge: pass it as `after` to read the customers after it.")
    node: PortfolioCustomer = strawberry.field(description="The customer with its portfolio figures.")


@strawberry.type(description="A page of a portfolio's customers.")
class PortfolioCustomerConnection:
    edges: list[PortfolioCustomerEdge] = strawberry.field(
        description="The customers of this page, in the requested order.")
    page_info: PageInfo = strawberry.field(description="Where this page sits: cursors and whether more pages follow.")
    total_count: int = strawberry.field(description="Customers in the portfolio (all pages).")


@strawberry.type(description="Churn risk of a portfolio. When the churn model is not trained, `available` is "
                             "false, `reason` says why and the figures are null.")
class PortfolioChurn:
    available: bool = strawberry.field(
        description="False when the churn model is not trained (the figures are then null).")
    reason: str | None = strawberry.field(
        description="Why the figures are missing (e.g. the model is not trained); null when available.")
    threshold: float = strawberry.field(description="Probability from which a customer counts as high risk.")
    mean: float | None = strawberry.field(description="Mean probability of the scored customers.")
    high_risk: int | None = strawberry.field(description="Customers at or above `threshold`.")
    scored: int | None = strawberry.field(description="Customers the model scores.")


@strawberry.type(description="Revenue of one calendar month (UTC).")
class MonthlyRevenue:
    month: date = strawberry.field(description="First day of the month.")
    revenue: float = strawberry.field(
        description="Invoices, purchases and top-ups minus refunds booked in the month, in the account currency.")


@strawberry.type(description="Revenue of a portfolio.")
class PortfolioRevenue:
    last_12_months: float = strawberry.field(name="last12Months", description="Invoices, purchases and top-ups "
                                                                                "minus refunds, last 365 days.")
    monthly_recurring: float = strawberry.field(description="Active subscriptions' fees net of discount, summed.")
    months: list[MonthlyRevenue] = strawberry.field(description="The last 12 calendar months, oldest first; the "
                                                                "current month to date.")


@strawberry.type(description="An account manager's customers with their complaints, churn risk, revenue and "
                             "satisfaction, computed now on the current data.")
class Portfolio:
    manager: str = strawberry.field(description="The account manager's name.")
    as_of: datetime = strawberry.field(description="The time the figures are computed at (ISO 8601, UTC).")
    customer_count: int = strawberry.field(description="Customers in the portfolio.")
    open_complaints: int = strawberry.field(description="Unresolved complaints of the portfolio's customers.")
    revenue: PortfolioRevenue = strawberry.field(description="Revenue of the portfolio's customers.")
    satisfaction_mean: float | None = strawberry.field(description="Mean satisfaction score, last 365 days.")
    satisfaction_count: int = strawberry.field(description="Scores given in the last 365 days.")
    view: strawberry.Private[resolve.PortfolioView]

    @strawberry.field(description="Churn risk figures (`threshold` defaults to 0.5).")
    def churn(
        self,
        threshold: Annotated[float, strawberry.argument(
            description="Probability from which a customer counts as high risk, 0..1.")] = P.HIGH_RISK,
    ) -> PortfolioChurn:
        p = self.view.portfolio
        scored = int((~np.isnan(p.churn)).sum()) if p.churn is not None else None
        return PortfolioChurn(available=p.churn is not None, reason=p.churn_unavailable, threshold=threshold,
                              mean=p.churn_mean(), high_risk=p.high_risk(threshold), scored=scored)

    @strawberry.field(description="The portfolio's customers with their figures.")
    async def customers(
        self,
        info: Ctx,
        first: Annotated[int | None, strawberry.argument(
            description="Page forward: the first `first` items after `after` (or the start), 0..`CDP_MAX_PAGE_SIZE` "
                        "(PAGE_TOO_LARGE above); not with `last`. Null with `last` null: 20.")] = None,
        after: Annotated[str | None, strawberry.argument(
            description="Cursor of the edge to start after (`pageInfo.endCursor` of the previous page); "
                        "null: from the start.")] = None,
        order_by: Annotated[PortfolioOrder, strawberry.argument(
            description="Order of the customers.")] = PortfolioOrder.ID,
        last: LastArgument = None,
        before: BeforeArgument = None,
    ) -> PortfolioCustomerConnection:
        by = order_by.value
        request = page_request(first, after, last, before, info.context.settings.max_page_size,
                               f"portfolio:{by}", 1 if by == "ID" else 2)
        p = self.view.portfolio
        order = p.order(by)
        value = p.sort_key(by) if by != "ID" else None
        # the portfolio's own order (ID ascending, the figures descending with ties by id) as a key
        # that ascends along it: a cursor names the customer's figure and id, not its position
        keyset = (lambda i: (str(p.ids[i]),)) if by == "ID" else (lambda i: (-float(value[i]), str(p.ids[i])))  # type: ignore[index]
        page = keyset_page([int(i) for i in order], keyset, request)
        positions = page.items
        rows = await resolve.customer_rows(info.context, [str(p.ids[i]) for i in positions])
        edges = []
        for cursor, i, row in zip(page.cursors(), positions, rows):
            if row is None:
                continue
            risk = float(p.churn[i]) if p.churn is not None and not np.isnan(p.churn[i]) else None
            edges.append(PortfolioCustomerEdge(cursor=cursor, node=PortfolioCustomer(
                customer=Customer.from_row(row), open_complaints=int(p.open_complaints[i]),
                complaints_last_year=int(p.complaints_365d[i]), churn_risk=risk,
                revenue_last_12_months=round(float(p.revenue_12m[i]), 2),
                monthly_recurring=round(float(p.monthly_recurring[i]), 2))))
        return PortfolioCustomerConnection(edges=edges, page_info=page_info(page), total_count=p.size)

    @strawberry.field(description="The portfolio's complaints, newest first.")
    async def complaints(
        self,
        info: Ctx,
        status: Annotated[list[ComplaintStatus] | None, strawberry.argument(
            description="Only complaints in one of these states; null: every state.")] = None,
        first: Annotated[int | None, strawberry.argument(
            description="Page forward: the first `first` items after `after` (or the start), 0..`CDP_MAX_PAGE_SIZE` "
                        "(PAGE_TOO_LARGE above); not with `last`. Null with `last` null: 20.")] = None,
        after: Annotated[str | None, strawberry.argument(
            description="Cursor of the edge to start after (`pageInfo.endCursor` of the previous page); "
                        "null: from the start.")] = None,
        last: LastArgument = None,
        before: BeforeArgument = None,
    ) -> ComplaintConnection:
        flt = _filter(status=status, manager=self.manager)
        page = await resolve.complaints(info.context, flt, first, after, self.view.data, self.view.complaints,
                                        last=last, before=before)
        return _connection(page, info.context.now)

    @strawberry.field(description="Complaint figures of the portfolio (`slaHours` defaults to "
                                  "CDP_COMPLAINT_SLA_HOURS).")
    async def complaint_stats(
        self,
        info: Ctx,
        sla_hours: Annotated[float | None, strawberry.argument(
            description="Target resolution time in hours; null: `CDP_COMPLAINT_SLA_HOURS`.")] = None,
        opened_from: Annotated[datetime | None, strawberry.argument(
            description="Only complaints opened at or after this time (ISO 8601; without offset: UTC); "
                        "null: no lower bound.")] = None,
        opened_to: Annotated[datetime | None, strawberry.argument(
            description="Only complaints opened before this time (ISO 8601; without offset: UTC); null: no "
                        "upper bound.")] = None,
    ) -> ComplaintStats:
        flt = _filter(manager=self.manager, opened_from=opened_from, opened_to=opened_to)
        stats = await resolve.complaint_stats(info.context, flt, sla_hours, self.view.data, self.view.complaints)
        return ComplaintStats.from_stats(stats)

    @strawberry.field(description="Monthly satisfaction of the portfolio's customers (default: the last year).")
    async def satisfaction(
        self,
        info: Ctx,
        from_: Annotated[datetime | None, strawberry.argument(
            name="from", description="Start of the period, inclusive (ISO 8601; without offset: "
                                     "UTC); null: one year before `to`.")] = None,
        to: Annotated[datetime | None, strawberry.argument(
            description="End of the period, exclusive (ISO 8601; without offset: UTC); null: now.")] = None,
    ) -> list[SatisfactionMonth]:
        months = await resolve.of_rows(info.context, self.view.data, self.view.portfolio.rows,
                                       naive_utc(from_), naive_utc(to))
        return [SatisfactionMonth.from_month(m) for m in months]

    @classmethod
    def from_view(cls, view: resolve.PortfolioView) -> Portfolio:
        p = view.portfolio
        return cls(manager=p.manager, as_of=utc(p.as_of), customer_count=p.size,
                   open_complaints=int(p.open_complaints.sum()),
                   revenue=PortfolioRevenue(last_12_months=round(float(p.revenue_12m.sum()), 2),
                                            monthly_recurring=round(float(p.monthly_recurring.sum()), 2),
                                            months=[MonthlyRevenue(month=m.month, revenue=round(m.revenue, 2))
                                                    for m in p.months]),
                   satisfaction_mean=p.satisfaction_mean, satisfaction_count=p.satisfaction_count, view=view)


# --------------------------------------------------------------------------- root fields


@strawberry.input(description="A new complaint.")
class OpenComplaintInput:
    customer_id: strawberry.ID = strawberry.field(
        description="The customer who complains; must exist (NOT_FOUND otherwise).")
    subject: str = strawberry.field(description="What the complaint is about, in words.")
    channel_id: strawberry.ID = strawberry.field(description="The channel it came through (e.g. CALL_CENTRE).")
    product_id: strawberry.ID | None = strawberry.field(default=None, description="The product it is about.")
    at: datetime | None = strawberry.field(default=None, description="When it was received (default: now).")


@strawberry.type
class RelationshipQuery:
    @strawberry.field(description="Every account manager named on a customer, by name.")
    async def account_managers(self, info: Ctx) -> list[AccountManager]:
        return [AccountManager(name=m.name, customers=m.customers, key_accounts=m.key_accounts,
                               business=m.business, open_complaints=m.open_complaints)
                for m in await resolve.managers(info.context)]

    @strawberry.field(description="One account manager's portfolio; null when no customer has that manager.")
    async def account_manager(
        self,
        info: Ctx,
        name: Annotated[str, strawberry.argument(description="The account manager's name, exactly as recorded.")],
    ) -> Portfolio | None:
        view = await resolve.portfolio(info.context, name)
        return Portfolio.from_view(view) if view is not None else None

    @strawberry.field(description="One complaint; null when the id is unknown or not a complaint.")
    async def complaint(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="The complaint's contact id.")],
    ) -> Complaint | None:
        found = await resolve.complaint(info.context, str(id))
        return Complaint.from_complaint(found, info.context.now) if found else None

    @strawberry.field(description="Complaints matching every filter given, newest first.")
    async def complaints(
        self,
        info: Ctx,
        status: Annotated[list[ComplaintStatus] | None, strawberry.argument(
            description="Only complaints in one of these states; null: every state.")] = None,
        customer_id: Annotated[strawberry.ID | None, strawberry.argument(
            description="Only this customer's complaints.")] = None,
        manager: Annotated[str | None, strawberry.argument(
            description="Only complaints of this account manager's customers.")] = None,
        opened_from: Annotated[datetime | None, strawberry.argument(
            description="Only complaints opened at or after this time (ISO 8601; without offset: UTC); "
                        "null: no lower bound.")] = None,
        opened_to: Annotated[datetime | None, strawberry.argument(
            description="Only complaints opened before this time (ISO 8601; without offset: UTC); null: no "
                        "upper bound.")] = None,
        first: Annotated[int | None, strawberry.argument(
            description="Page forward: the first `first` items after `after` (or the start), 0..`CDP_MAX_PAGE_SIZE` "
                        "(PAGE_TOO_LARGE above); not with `last`. Null with `last` null: 20.")] = None,
        after: Annotated[str | None, strawberry.argument(
            description="Cursor of the edge to start after (`pageInfo.endCursor` of the previous page); "
                        "null: from the start.")] = None,
        last: LastArgument = None,
        before: BeforeArgument = None,
    ) -> ComplaintConnection:
        flt = _filter(status, customer_id, manager, opened_from, opened_to)
        return _connection(await resolve.complaints(info.context, flt, first, after, last=last, before=before),
                           info.context.now)

    @strawberry.field(description="Counts, resolution times and SLA figures of the complaints matching every "
                                  "filter given (`slaHours` defaults to CDP_COMPLAINT_SLA_HOURS).")
    async def complaint_stats(
        self,
        info: Ctx,
        customer_id: Annotated[strawberry.ID | None, strawberry.argument(
            description="Only this customer's complaints.")] = None,
        manager: Annotated[str | None, strawberry.argument(
            description="Only complaints of this account manager's customers.")] = None,
        opened_from: Annotated[datetime | None, strawberry.argument(
            description="Only complaints opened at or after this time (ISO 8601; without offset: UTC); "
                        "null: no lower bound.")] = None,
        opened_to: Annotated[datetime | None, strawberry.argument(
            description="Only complaints opened before this time (ISO 8601; without offset: UTC); null: no "
                        "upper bound.")] = None,
        sla_hours: Annotated[float | None, strawberry.argument(
            description="Target resolution time in hours; null: `CDP_COMPLAINT_SLA_HOURS`.")] = None,
    ) -> ComplaintStats:
        flt = _filter(None, customer_id, manager, opened_from, opened_to)
        return ComplaintStats.from_stats(await resolve.complaint_stats(info.context, flt, sla_hours))

    @strawberry.field(description="Satisfaction per channel, in total and per month, over [from, to) (default: "
                                  "the last year); of one account manager's customers when `manager` is given.")
    async def satisfaction_by_channel(
        self,
        info: Ctx,
        from_: Annotated[datetime | None, strawberry.argument(
            name="from", description="Start of the period, inclusive (ISO 8601; without offset: "
                                     "UTC); null: one year before `to`.")] = None,
        to: Annotated[datetime | None, strawberry.argument(
            description="End of the period, exclusive (ISO 8601; without offset: UTC); null: now.")] = None,
        manager: Annotated[str | None, strawberry.argument(
            description="Only scores of this account manager's customers; null: every customer.")] = None,
    ) -> list[ChannelSatisfaction]:
        found = await resolve.by_channel(info.context, naive_utc(from_), naive_utc(to), manager)
        return [ChannelSatisfaction.from_channel(c) for c in found]


@strawberry.type
class RelationshipMutation:
    @strawberry.mutation(description="Record a complaint (status OPEN). NOT_FOUND for an unknown customer, channel "
                                     "or product; BAD_USER_INPUT for an empty subject or a time in the future.",
                         extensions=[FieldsUnder("input")])
    async def open_complaint(
        self,
        info: Ctx,
        input: Annotated[OpenComplaintInput, strawberry.argument(description="The complaint.")],
    ) -> Complaint:
        ctx = info.context
        found = await resolve.open_complaint(ctx, str(input.customer_id), input.subject, str(input.channel_id),
                                             naive_utc(input.at),
                                             str(input.product_id) if input.product_id is not None else None)
        return Complaint.from_complaint(found, ctx.now)

    @strawberry.mutation(description="Escalate an unresolved complaint (it stays open). CONFLICT when it is "
                                     "already resolved or escalated.")
    async def escalate_complaint(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="The complaint's id.")],
    ) -> Complaint:
        return Complaint.from_complaint(await resolve.escalate(info.context, str(id)), info.context.now)

    @strawberry.mutation(description="Resolve a complaint at `at` (default now), optionally with the customer's "
                                     "satisfaction score (1..5). CONFLICT when already resolved; BAD_USER_INPUT "
                                     "when `at` is before it was opened or in the future.")
    async def resolve_complaint(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="The complaint's id.")],
        at: Annotated[datetime | None, strawberry.argument(
            description="When it was resolved (ISO 8601; without offset: UTC); null: now. Not in the "
                        "future, not before it was opened.")] = None,
        satisfaction: Annotated[int | None, strawberry.argument(
            description="The customer's satisfaction score, 1..5, if asked.")] = None,
    ) -> Complaint:
        found = await resolve.resolve(info.context, str(id), naive_utc(at), satisfaction)
        return Complaint.from_complaint(found, info.context.now)

    @strawberry.mutation(description="Make `name` the account manager of a KEY_ACCOUNT or BUSINESS customer "
                                     "(replacing any other). BAD_USER_INPUT for a consumer or an empty name.")
    async def assign_account_manager(
        self,
        info: Ctx,
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="A KEY_ACCOUNT or BUSINESS customer.")],
        name: Annotated[str, strawberry.argument(description="The account manager's name.")],
    ) -> Customer:
        return Customer.from_row(await resolve.assign(info.context, str(customer_id), name))

    @strawberry.mutation(description="Remove a customer's account manager (no change when it has none).")
    async def unassign_account_manager(
        self,
        info: Ctx,
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="The customer.")],
    ) -> Customer:
        return Customer.from_row(await resolve.unassign(info.context, str(customer_id)))
