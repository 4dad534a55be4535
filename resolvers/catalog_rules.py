"""Resolvers for catalog rules: thin glue to ``cdp.offers.catalog_rules``.

The rules are read once per request (three store reads, cached on the request's
``Loaders``, so ``Context.forget_reads`` after a write drops them); writes run
``cdp.offers.catalog_rules.set_product_rules`` in a worker thread.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence

from cdp.offers import catalog_rules as cr
from graph.store import Row
from resolvers.context import Context
from resolvers.loaders import Loaders, in_thread

_RULES: weakref.WeakKeyDictionary[Loaders, asyncio.Future[cr.CatalogRules]] = weakref.WeakKeyDictionary()


async def rules(ctx: Context) -> cr.CatalogRules:
    """Every catalog rule, read once per request. Raises StoreError/StoreUnavailable."""
    loaders = ctx.loaders
    pending = _RULES.get(loaders)
    if pending is None:
        pending = asyncio.ensure_future(in_thread(cr.read_rules, ctx.store))
        _RULES[loaders] = pending
    return await asyncio.shield(pending)


async def requires(ctx: Context, product_id: str) -> list[str]:
    """Ids of the products one of which a holder of ``product_id`` must hold."""
    return list((await rules(ctx)).requires.get(product_id, ()))


async def excludes(ctx: Context, product_id: str) -> list[str]:
    """Ids of the products that cannot be held with ``product_id`` (either direction)."""
    return list((await rules(ctx)).excluded_with(product_id))


async def upgrades(ctx: Context, product_id: str) -> list[cr.Upgrade]:
    """The up-sells of ``product_id``, by target id."""
    return list((await rules(ctx)).upgrades.get(product_id, ()))


async def set_rules(ctx: Context, product_id: str, requires: Sequence[str] | None,
                    excludes: Sequence[str] | None, upgrades: Sequence[cr.Upgrade] | None,
                    eligibility: cr.Eligibility | None) -> Row:
    """Replace a product's rules (None: unchanged); the product row afterwards.
    Raises NotFound (unknown product) or InvalidInput (rules that do not validate)."""
    row = await in_thread(cr.set_product_rules, ctx.store, product_id, requires, excludes, upgrades, eligibility)
    ctx.forget_reads()
    return row
