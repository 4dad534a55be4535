"""Resolvers for customers: the unified view and the customer search.

Resolvers return store rows (dicts); ``schema.types`` wraps them in GraphQL
types. All store access goes through ``info.context.loaders`` or, for the
page queries that cannot be batched, one store call each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from strawberry.dataloader import DataLoader

from cdp.customers import rules
from cdp.errors import InvalidInput
from cdp.transport.pagination import Page, keyset_page, page_from_fetch, page_request
from graph.clock import naive_utc
from graph.queries import CustomerFilter, ViewShape
from graph.store import Row
from resolvers import view_prefetch
from resolvers.context import Context
from resolvers.loaders import MISSING, ContactKey, cached_value, in_thread


async def customer(ctx: Context, customer_id: str) -> Row | None:
    """The customer with ``customer_id``, or None when unknown."""
    return await ctx.loaders.customer.load(customer_id)


@dataclass
class CustomerPage:
    """One keyset page of a customer search (``page.items``: customer rows), with the filter
    needed to count the total."""

    page: Page[Row]
    filter: CustomerFilter


#: The type of each sort key's value in a cursor (a forged cursor of another type is refused
#: here, not by the store).
_SORT_VALUE_TYPES: dict[str, type | tuple[type, ...]] = {
    "ID": str, "LAST_NAME": str, "CITY": str, "JOINED_ON": date, "MONTHLY_SPEND": (int, float),
}


def customer_order(sort: str, descending: bool) -> str:
    """The name of a customer ordering, carried by its cursors (a cursor of another order is refused)."""
    return f"customers:{sort}:{'desc' if descending else 'asc'}"


async def customer_page(
    ctx: Context, criteria: rules.CustomerCriteria, sort: str, descending: bool,
    first: int | None, after: str | None, last: int | None = None, before: str | None = None,
    shape: ViewShape | None = None,
) -> CustomerPage:
    """Customers matching ``criteria``, one keyset page (``first``/``after`` forward,
    ``last``/``before`` backward: ``cdp.transport.pagination``), read from the store past the cursor (never
    the whole list); raises ``InvalidInput`` for bad arguments and ``Forbidden`` when a filter
    or the sort reads a personal field the principal may not read. With ``shape`` (the view
    parts the page's nodes select), those parts of the whole page are read in one store call
    (``resolvers.view_prefetch``)."""
    ctx.authorise_personal_use(rules.personal_uses(criteria, sort))
    rules.check_sort(sort)
    request = page_request(first, after, last, before, ctx.settings.max_page_size,
                           customer_order(sort, descending), 2)
    flt = rules.customer_filter(criteria, ctx.today)
    cursor = None
    if request.cursor is not None:
        value, customer_id = request.cursor
        if not isinstance(customer_id, str) or not isinstance(value, _SORT_VALUE_TYPES[sort]):
            field = "before" if request.backward else "after"
            raise InvalidInput(f"{field} is not a valid cursor of this list and order", field=field)
        cursor = (value, customer_id)
    fetched = await in_thread(ctx.store.customer_keyset, flt, sort, descending, request.size + 1, cursor,
                              request.backward)
    beyond = False
    if cursor is not None:  # is anything on the cursor's other side (hasPreviousPage going forward)?
        beyond = bool(await in_thread(ctx.store.customer_keyset, flt, sort, descending, 1,
                                      cursor, not request.backward))
    page = page_from_fetch(request, [(cid, (key, cid)) for cid, key in fetched], beyond)
    ids = page.items
    if shape is not None:
        await view_prefetch.prefetch(ctx, ids, shape)
    rows = await ctx.loaders.customer.load_many(ids)
    kept = [(r, k) for r, k in zip(rows, page.keys) if r is not None]
    found = Page([r for r, _ in kept], [k for _, k in kept], page.has_previous, page.has_next, page.order,
                 page.total, page.extra)
    return CustomerPage(found, flt)


async def customer_count(ctx: Context, flt: CustomerFilter) -> int:
    """Number of customers matching ``flt``."""
    return await in_thread(ctx.store.count_customers, flt)


async def accounts(ctx: Context, customer_id: str) -> list[Row]:
    return await ctx.loaders.accounts.load(customer_id)


async def subscriptions(ctx: Context, account_id: str) -> list[Row]:
    return await ctx.loaders.subscriptions.load(account_id)


async def all_subscriptions(ctx: Context, customer_id: str) -> list[Row]:
    """Every subscription of every account of the customer."""
    accs = await ctx.loaders.accounts.load(customer_id)
    per_account = await ctx.loaders.subscriptions.load_many([a["id"] for a in accs])
    return [s for subs in per_account for s in subs]


async def contacts(
    ctx: Context, customer_id: str, since: datetime | None, kind: str | None, channel: str | None,
) -> list[Row]:
    """The customer's contacts matching the filters, newest first."""
    return await ctx.loaders.contacts.load(ContactKey(customer_id, since, kind, channel))


async def preferred_channels(ctx: Context, customer_id: str) -> list[Row]:
    return await ctx.loaders.preferences.load(customer_id)


async def contact_summary(ctx: Context, customer_id: str) -> Row:
    return await ctx.loaders.contact_summary.load(customer_id)


async def monetary_events(ctx: Context, account_ids: list[str]) -> list[Row]:
    """Monetary events of the given accounts, newest first, each with ``account_id``."""
    return _merged_events(account_ids, await ctx.loaders.events.load_many(account_ids))


#: Ordering name of ``monetaryHistory`` cursors: newest first by time, then id.
MONETARY_ORDER = "monetary:at-desc"
#: Most events one ``monetaryHistory`` page holds, and the page without ``first`` or ``last``.
MAX_HISTORY_PAGE = 500
DEFAULT_HISTORY_PAGE = 50


def monetary_page(rows: list[Row], kind: str | None, since: datetime | None, first: int | None,
                  after: str | None, last: int | None, before: str | None) -> Page[Row]:
    """One keyset page of a customer's monetary events ``rows`` (``monetary_events``), of one
    ``kind`` and at or after ``since`` when given, newest first by time then id, so events booked
    while paging do not shift the pages; ``total``: how many match. Raises ``InvalidInput`` /
    ``PageTooLarge`` (above ``MAX_HISTORY_PAGE``) for bad paging arguments (``page_request``)."""
    request = page_request(first, after, last, before, MAX_HISTORY_PAGE, MONETARY_ORDER, 2,
                           default_size=DEFAULT_HISTORY_PAGE)
    since = naive_utc(since)
    chosen = [r for r in rows if (kind is None or r.get("kind") == kind)
              and (since is None or (r.get("at") is not None and r["at"] >= since))]
    return keyset_page(chosen, lambda r: (r.get("at"), r["id"]), request, descending=True)


def _merged_events(account_ids: list[str], per_account: list[list[Row]]) -> list[Row]:
    """The events of the accounts (``per_account[i]`` of ``account_ids[i]``) in one list, newest
    first, each with its ``account_id``."""
    rows = [{**e, "account_id": aid} for aid, events in zip(account_ids, per_account) for e in events]
    rows.sort(key=lambda e: (e["at"] or datetime.min, e["id"]), reverse=True)
    return rows


async def identities(ctx: Context, customer_id: str) -> list[Row]:
    """Source records merged into the customer, oldest link first."""
    return await ctx.loaders.identities.load(customer_id)


async def attribute_values(ctx: Context, customer_id: str) -> list[Row]:
    """Every profile attribute value of the customer, with provenance."""
    return await ctx.loaders.attribute_values.load(customer_id)


# Values the request's loaders hold already (primed by ``resolvers.view_prefetch`` or loaded
# earlier), or ``MISSING``: the schema answers those without awaiting.

def accounts_now(ctx: Context, customer_id: str) -> list[Row]:
    return cached_value(ctx.loaders.accounts, customer_id)


def subscriptions_now(ctx: Context, account_id: str) -> list[Row]:
    return cached_value(ctx.loaders.subscriptions, account_id)


def contacts_now(
    ctx: Context, customer_id: str, since: datetime | None, kind: str | None, channel: str | None,
) -> list[Row]:
    return cached_value(ctx.loaders.contacts, ContactKey(customer_id, since, kind, channel))


def preferred_channels_now(ctx: Context, customer_id: str) -> list[Row]:
    return cached_value(ctx.loaders.preferences, customer_id)


def _per_account_now(ctx: Context, loader: DataLoader, customer_id: str) -> tuple[list[str], list[list[Row]]] | None:
    """The customer's account ids and what ``loader`` holds for each, or None when the
    accounts or any account's rows are not held."""
    accs = accounts_now(ctx, customer_id)
    if accs is MISSING:
        return None
    ids = [a["id"] for a in accs]
    per_account = []
    for account_id in ids:
        rows = cached_value(loader, account_id)
        if rows is MISSING:
            return None
        per_account.append(rows)
    return ids, per_account


def all_subscriptions_now(ctx: Context, customer_id: str) -> list[Row]:
    """``all_subscriptions`` from what the loaders hold, or ``MISSING``."""
    held = _per_account_now(ctx, ctx.loaders.subscriptions, customer_id)
    if held is None:
        return MISSING
    return [s for subs in held[1] for s in subs]


def monetary_events_now(ctx: Context, customer_id: str) -> list[Row]:
    """``monetary_events`` of all the customer's accounts from what the loaders hold, or ``MISSING``."""
    held = _per_account_now(ctx, ctx.loaders.events, customer_id)
    if held is None:
        return MISSING
    return _merged_events(*held)


def contact_summary_now(ctx: Context, customer_id: str) -> Row:
    """``contact_summary`` from what the loaders hold (the summary, or the unfiltered contacts it
    is computed from, as the loader computes it), or ``MISSING``. A summary computed here is primed,
    so the view's other summary fields reuse it."""
    summary = cached_value(ctx.loaders.contact_summary, customer_id)
    if summary is not MISSING:
        return summary
    rows = cached_value(ctx.loaders.contacts, ContactKey(customer_id, None, None, None))
    if rows is MISSING:
        return MISSING
    summary = rules.contact_summary(rows)
    ctx.loaders.contact_summary.prime(customer_id, summary)
    return summary

