"""Per-request DataLoaders: every nested field of the API goes through one.

Each loader turns the keys requested in one tick of the event loop into one
store call. A page of 50 customers with accounts, subscriptions and products
thus costs one store call per level, not one per customer.

Store calls that may wait (network round trips to Neo4j, big batches) run in
a worker thread so the event loop never blocks on them (``cdp.limits.fair_share.run_sync``:
the shared pool, or inline in a heavy operation's own lane thread). Small keyed reads on
the embedded store (at most ``store.inline_read_limit`` keys: in-process
primary-key lookups of ~0.3 ms each) run on the event loop itself: a hop to a
worker thread costs more than that once the event loop is busy, because the
worker must then wait for the GIL (measured in docs/benchmarks.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from strawberry.dataloader import DataLoader

from cdp.customers import rules
from cdp.analytics.analytics import Analytics
from cdp.errors import require_analytics
from cdp.limits.fair_share import run_sync
from cdp.offers.recommendations import Recommendation
from graph.store import GraphStore, Row

T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking call in a worker thread (``cdp.limits.fair_share.run_sync``)."""
    return await run_sync(fn, *args)


async def keyed(store: GraphStore, fn: Callable[..., T], ids: Sequence[Any], *args: Any) -> T:
    """Run the keyed store read ``fn(ids, *args)``: inline when short, else in a thread."""
    if len(ids) <= store.inline_read_limit:
        return fn(ids, *args)
    return await run_sync(fn, ids, *args)


#: What ``cached_value`` answers for a key whose value is not in the loader yet.
MISSING: Any = object()


def cached_value(loader: DataLoader, key: Any) -> Any:
    """The value ``loader`` holds for ``key`` (primed or loaded earlier in the request), or
    ``MISSING``: a resolver can then answer without awaiting (graphql-core completes a value
    much faster than an awaitable), and await the loader only when it must."""
    future = loader.cache_map.get(key) if loader.cache else None
    if future is None or not future.done() or future.cancelled() or future.exception() is not None:
        return MISSING
    return future.result()


@dataclass(frozen=True)
class ContactKey:
    """One customer's contacts under one set of filters."""

    customer_id: str
    since: datetime | None
    kind: str | None
    channel: str | None


class Loaders:
    """The DataLoaders of one request, reading from ``store`` (and ``analytics``, for offers).

    Each loader is made on first use: a view touches a few of them, and making all of them for
    every request cost ~1 ms of a view's CPU (profile in docs/benchmarks.md)."""

    def __init__(self, store: GraphStore, analytics: Analytics | None = None) -> None:
        self.store = store
        self.analytics = analytics
        self._channel_catalogue: dict[str, Row] | None = None
        self._product_catalogue: dict[str, Row] | None = None

    @cached_property
    def offers(self) -> DataLoader:
        """Next-best offers by ``(customer id, first)``: a page of customers is ranked in one batch
        (``RecommendationEngine.for_rows``), about 14 times cheaper than customer by customer."""
        return DataLoader(self._offers)

    @cached_property
    def customer(self) -> DataLoader:
        return DataLoader(self._customers)

    @cached_property
    def accounts(self) -> DataLoader:
        return DataLoader(self._accounts)

    @cached_property
    def subscriptions(self) -> DataLoader:
        return DataLoader(self._subscriptions)

    @cached_property
    def product(self) -> DataLoader:
        return DataLoader(self._products)

    @cached_property
    def components(self) -> DataLoader:
        return DataLoader(self._components)

    @cached_property
    def subscribers(self) -> DataLoader:
        return DataLoader(self._subscribers)

    @cached_property
    def preferences(self) -> DataLoader:
        return DataLoader(self._preferences)

    @cached_property
    def contact_summary(self) -> DataLoader:
        return DataLoader(self._contact_summaries)

    @cached_property
    def events(self) -> DataLoader:
        return DataLoader(self._events)

    @cached_property
    def contacts(self) -> DataLoader:
        return DataLoader(self._contacts)

    @cached_property
    def channel_volume(self) -> DataLoader:
        return DataLoader(self._channel_volumes)

    @cached_property
    def identities(self) -> DataLoader:
        return DataLoader(self._identities)

    @cached_property
    def attribute_values(self) -> DataLoader:
        return DataLoader(self._attribute_values)

    async def _offers(self, keys: list[tuple[str, int]]) -> list[list[Recommendation]]:
        analytics = require_analytics(self.analytics)

        def run() -> list[list[Recommendation]]:
            data = analytics.data()
            out: dict[tuple[str, int], list[Recommendation]] = {}
            for first in sorted({k[1] for k in keys}):
                ids = [c for c, f in keys if f == first]
                rows = [(c, data.row_of(c)) for c in ids]
                known = [(c, r) for c, r in rows if r is not None]
                ranked = analytics.recommendations.for_rows(
                    np.array([r for _, r in known], dtype=np.int64), first, data=data) if known else []
                out.update({(c, first): recs for (c, _), recs in zip(known, ranked)})
            return [out.get(k, []) for k in keys]  # customers outside the base get no offers

        return await run_sync(run)

    async def _catalogue(self, name: str, read: Callable[[], dict[str, Row]]) -> dict[str, Row]:
        # The store caches catalogues: inline where its reads are in process or the cache
        # answers (a thread hop per request costs more than the copy).
        if self.store.inline_read_limit or self.store.catalogue_cached(name):
            return read()
        return await in_thread(read)

    async def all_channels(self) -> dict[str, Row]:
        """The channel catalogue by id, sorted by id (read once per request, cached by the store)."""
        if self._channel_catalogue is None:
            self._channel_catalogue = await self._catalogue("channels", self.store.channels)
        return self._channel_catalogue

    def channel_now(self, channel_id: str) -> Row | None:
        """The channel from the catalogue this request read already, or ``MISSING`` before it did."""
        if self._channel_catalogue is None:
            return MISSING
        return self._channel_catalogue.get(channel_id)

    def product_now(self, product_id: str) -> Row | None:
        """The product from the catalogue this request read already, or ``MISSING`` (not read yet,
        or a product the cached catalogue lacks: ``product_by_id`` reads it)."""
        if self._product_catalogue is None:
            return MISSING
        return self._product_catalogue.get(product_id, MISSING)

    async def channel_by_id(self, channel_id: str) -> Row | None:
        return (await self.all_channels()).get(channel_id)

    async def all_products(self) -> dict[str, Row]:
        """The product catalogue by id, sorted by id (read once per request, cached by the store)."""
        if self._product_catalogue is None:
            self._product_catalogue = await self._catalogue("products", self.store.products)
        return self._product_catalogue

    async def product_by_id(self, product_id: str) -> Row | None:
        """A product from the catalogue; one the cached catalogue lacks is read through a DataLoader."""
        found = (await self.all_products()).get(product_id)
        return found if found is not None else await self.product.load(product_id)

    async def _customers(self, ids: Sequence[str]) -> list[Row | None]:
        found = await keyed(self.store, self.store.customers, ids)
        return [found.get(i) for i in ids]

    async def _accounts(self, ids: Sequence[str]) -> list[list[Row]]:
        found = await keyed(self.store, self.store.accounts_of_customers, ids)
        return [found.get(i, []) for i in ids]

    async def _subscriptions(self, ids: Sequence[str]) -> list[list[Row]]:
        found = await keyed(self.store, self.store.subscriptions_of_accounts, ids)
        return [found.get(i, []) for i in ids]

    async def _products(self, ids: Sequence[str]) -> list[Row | None]:
        found = await keyed(self.store, self.store.products, ids)
        return [found.get(i) for i in ids]

    async def _components(self, ids: Sequence[str]) -> list[list[Row]]:
        found = await keyed(self.store, self.store.bundle_components, ids)
        return [found.get(i, []) for i in ids]

    async def _subscribers(self, ids: Sequence[str]) -> list[int]:
        found = await in_thread(self.store.subscriber_counts, ids)
        return [found.get(i, 0) for i in ids]

    async def _preferences(self, ids: Sequence[str]) -> list[list[Row]]:
        found = await keyed(self.store, self.store.preferred_channels, ids)
        return [found.get(i, []) for i in ids]

    async def _contact_summaries(self, ids: Sequence[str]) -> list[Row]:
        # From the unfiltered contacts, which the view usually loads anyway: no extra store call.
        every = await self.contacts.load_many([ContactKey(i, None, None, None) for i in ids])
        return [rules.contact_summary(rows) for rows in every]

    async def _identities(self, ids: Sequence[str]) -> list[list[Row]]:
        found = await keyed(self.store, self.store.identities_of_customers, ids)
        return [found.get(i, []) for i in ids]

    async def _attribute_values(self, ids: Sequence[str]) -> list[list[Row]]:
        found = await keyed(self.store, self.store.attribute_values_of_customers, ids)
        return [found.get(i, []) for i in ids]

    async def _events(self, ids: Sequence[str]) -> list[list[Row]]:
        found = await keyed(self.store, self.store.monetary_events_of_accounts, ids)
        return [found.get(i, []) for i in ids]

    async def _contacts(self, keys: Sequence[ContactKey]) -> list[list[Row]]:
        # One store query per distinct filter; usually all keys share one.
        by_filter: dict[tuple, list[str]] = defaultdict(list)
        for key in keys:
            by_filter[(key.since, key.kind, key.channel)].append(key.customer_id)
        results: dict[ContactKey, list[Row]] = {}
        for (since, kind, channel), ids in by_filter.items():
            found = await keyed(self.store, self.store.contacts_of_customers, ids, since, kind, channel)
            for cid in ids:
                results[ContactKey(cid, since, kind, channel)] = found.get(cid, [])
        return [results[k] for k in keys]

    async def _channel_volumes(self, keys: Sequence[tuple[str, datetime | None]]) -> list[int]:
        by_since: dict[datetime | None, list[str]] = defaultdict(list)
        for cid, since in keys:
            by_since[since].append(cid)
        out: dict[tuple[str, datetime | None], int] = {}
        for since, ids in by_since.items():
            found = await in_thread(self.store.channel_contact_volumes, ids, since)
            out.update({(cid, since): found.get(cid, 0) for cid in ids})
        return [out[k] for k in keys]
