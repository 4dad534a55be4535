"""The customer view in one store call: read what a request selects up front, prime the DataLoaders.

A view resolved level by level costs one store call per level (customer, accounts,
subscriptions, contacts, ...): on Neo4j one network round trip and one worker-thread hop each.
Before the customer fields resolve, ``prefetch`` looks at the fields the request selected
under ``Customer`` (``shape_of``: from the parsed document, cached with it), reads every selected part for all the customers of the
field (one customer, or a page) with ``GraphStore.customer_views`` (one statement on Neo4j),
and primes the request's DataLoaders with the rows each loader would have read itself.

The resolvers then run unchanged and find their rows in the loaders: authorization (checked
before execution), masking of personal fields (field extensions), cost and rate limits, and
audit all apply exactly as without the prefetch, and a field the shape does not cover (a
filtered ``contacts``, ``recommendations``, ...) still goes through its loader. Priming never
overwrites what a loader already holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    NullValueNode,
    SelectionNode,
)
from strawberry.types import Info

from graph.queries import ViewShape
from resolvers.context import Context
from resolvers.loaders import ContactKey, keyed

#: Customer fields that read the customer's contacts unfiltered (``contact_summary`` too).
_CONTACT_FIELDS = frozenset({"lastContactAt", "openComplaints"})
#: ``contacts`` arguments that filter (a filtered list is read by the contacts loader itself).
_CONTACT_FILTERS = frozenset({"kind", "channel", "since"})
#: Shapes by the field node they were computed for (documents are cached and reused, so are
#: their nodes); bounded like the document cache.
_SHAPES: dict[int, tuple[FieldNode, ViewShape]] = {}
_SHAPES_MAX = 1024


def _fields(selections: Iterable[SelectionNode], fragments: Mapping[str, FragmentDefinitionNode]) -> Iterator[FieldNode]:
    """The fields of ``selections``, through inline fragments and fragment spreads."""
    for selection in selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set.selections, fragments)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            yield from _fields(fragments[selection.name.value].selection_set.selections, fragments)


def _children(field: FieldNode, fragments: Mapping[str, FragmentDefinitionNode]) -> Iterator[FieldNode]:
    return _fields(field.selection_set.selections, fragments) if field.selection_set else iter(())


def _filters(field: FieldNode) -> bool:
    """True when a ``contacts`` field passes a filter: any filter argument other than a literal
    null (a variable counts as a filter whatever its value: the shape does not depend on variables).
    A field written without arguments has ``arguments`` None in the parsed document, not empty."""
    return any(a.name.value in _CONTACT_FILTERS and not isinstance(a.value, NullValueNode)
               for a in field.arguments or ())


def view_shape(selections: Iterable[SelectionNode], fragments: Mapping[str, FragmentDefinitionNode]) -> ViewShape:
    """The parts of the view the field nodes ``selections`` (under one ``Customer``) read.

    ``@skip``/``@include`` are not evaluated, so a skipped part may be read for nothing, never
    missed; a filtered ``contacts`` is left to its loader."""
    accounts = subscriptions = events = contacts = preferences = False
    for field in _fields(selections, fragments):
        name = field.name.value
        if name == "accounts":
            accounts = True
            for sub in _children(field, fragments):
                subscriptions |= sub.name.value == "subscriptions"
                events |= sub.name.value == "monetaryEvents"
        elif name in ("monthlyRevenue", "productCount"):
            accounts = subscriptions = True
        elif name == "monetaryHistory":
            accounts = events = True
        elif name == "contacts":
            contacts |= not _filters(field)
        elif name in _CONTACT_FIELDS:
            contacts = True
        elif name == "preferredChannels":
            preferences = True
    return ViewShape(accounts, subscriptions, events, contacts, preferences)


def _connection_nodes(field: FieldNode, fragments: Mapping[str, FragmentDefinitionNode]) -> list[SelectionNode]:
    """The selections under ``edges { node { ... } }`` of a customer connection field."""
    out: list[SelectionNode] = []
    for edges in _children(field, fragments):
        if edges.name.value == "edges":
            for node in _children(edges, fragments):
                if node.name.value == "node" and node.selection_set:
                    out.extend(node.selection_set.selections)
    return out


def shape_of(info: Info, connection: bool = False) -> ViewShape:
    """The view shape of the field ``info`` resolves: a ``Customer`` or, with ``connection``, a
    customer connection (its ``edges.node``). Cached per field node of the cached document."""
    raw = info._raw_info
    node = raw.field_nodes[0]
    hit = _SHAPES.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    selections: list[SelectionNode] = []
    for field in raw.field_nodes:  # the same field may be asked twice (merged by GraphQL)
        if connection:
            selections += _connection_nodes(field, raw.fragments)
        elif field.selection_set:
            selections += field.selection_set.selections
    shape = view_shape(selections, raw.fragments)
    if len(_SHAPES) >= _SHAPES_MAX:
        _SHAPES.clear()
    _SHAPES[id(node)] = (node, shape)
    return shape


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
    # the catalogues the view's products and channels come from, so those fields answer at once
    if shape.subscriptions:
        await loaders.all_products()
    if shape.contacts or shape.preferences:
        await loaders.all_channels()
