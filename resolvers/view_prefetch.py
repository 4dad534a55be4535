"""The customer view in one store call: read what a request selects up front, prime the DataLoaders.

A view resolved level by level costs one store call per level (customer, accounts,
subscriptions, contacts, ...): on Neo4j one network round trip and one worker-thread hop each.
Before the customer fields resolve, ``prefetch`` looks at the fields the request selected
under ``Customer`` (``view_shape``), reads every selected part for all the customers of the
field (one customer, or a page) with ``GraphStore.customer_views`` (one statement on Neo4j),
and primes the request's DataLoaders with the rows each loader would have read itself.

The resolvers then run unchanged and find their rows in the loaders: authorization (checked
before execution), masking of personal fields (field extensions), cost and rate limits, and
audit all apply exactly as without the prefetch, and a field the shape does not cover (a
filtered ``contacts``, ``recommendations``, ...) still goes through its loader. Priming never
overwrites what a loader already holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from graph.queries import ViewShape
from resolvers.context import Context
from resolvers.loaders import ContactKey, keyed

#: Customer fields that read the customer's contacts unfiltered (``contact_summary`` too).
_CONTACT_FIELDS = frozenset({"lastContactAt", "openComplaints"})
#: ``contacts`` arguments that filter (a filtered list is read by the contacts loader itself).
_CONTACT_FILTERS = ("kind", "channel", "since")


def _fields(selections: Iterable[Any]) -> Iterable[Any]:
    """The fields of ``selections``, through inline fragments and fragment spreads."""
    for selection in selections:
        if hasattr(selection, "arguments"):  # a field
            yield selection
        else:  # a fragment: its own selections
            yield from _fields(selection.selections)


def view_shape(selections: Iterable[Any]) -> ViewShape:
    """The parts of the view the fields ``selections`` (under one ``Customer``) read.

    ``selections``: strawberry's selected fields (``info.selected_fields[0].selections`` or
    the ``node`` of a connection's edges); ``@skip``/``@include`` are not evaluated, so a
    skipped part may be read for nothing, never missed."""
    accounts = subscriptions = events = contacts = preferences = False
    for field in _fields(selections):
        name = field.name
        if name == "accounts":
            accounts = True
            for sub in _fields(field.selections):
                subscriptions |= sub.name == "subscriptions"
                events |= sub.name == "monetaryEvents"
        elif name in ("monthlyRevenue", "productCount"):
            accounts = subscriptions = True
        elif name == "monetaryHistory":
            accounts = events = True
        elif name == "contacts":
            contacts |= not any(field.arguments.get(a) is not None for a in _CONTACT_FILTERS)
        elif name in _CONTACT_FIELDS:
            contacts = True
        elif name == "preferredChannels":
            preferences = True
    return ViewShape(accounts, subscriptions, events, contacts, preferences)


def connection_nodes(selections: Iterable[Any]) -> list[Any]:
    """The selections under ``edges { node { ... } }`` of a customer connection."""
    out: list[Any] = []
    for field in _fields(selections):
        if field.name == "edges":
            for edge_field in _fields(field.selections):
                if edge_field.name == "node":
                    out.extend(edge_field.selections)
    return out


async def prefetch(ctx: Context, ids: Sequence[str], shape: ViewShape) -> None:
    """Read the ``shape`` parts of the views of ``ids`` in one store call; prime the loaders.

    Does nothing when the shape asks only for the customer rows (the customer loader batches
    those already). Store errors propagate as from the loaders (``StoreUnavailable`` ...)."""
    if not ids or shape == ViewShape():
        return
    loaders = ctx.loaders
    wanted = list(dict.fromkeys(ids))
    views = await keyed(ctx.store, ctx.store.customer_views, wanted, shape)
    loaders.customer.prime_many({i: views.customers.get(i) for i in wanted})
    known = [i for i in wanted if i in views.customers]
    if shape.accounts:
        loaders.accounts.prime_many({i: views.accounts.get(i, []) for i in known})
        account_ids = [a["id"] for i in known for a in views.accounts.get(i, [])]
        if shape.subscriptions:
            loaders.subscriptions.prime_many({a: views.subscriptions.get(a, []) for a in account_ids})
        if shape.events:
            loaders.events.prime_many({a: views.events.get(a, []) for a in account_ids})
    if shape.contacts:
        loaders.contacts.prime_many({ContactKey(i, None, None, None): views.contacts.get(i, []) for i in known})
    if shape.preferences:
        loaders.preferences.prime_many({i: views.preferences.get(i, []) for i in known})
