"""The one guard of operations that need the app's analytics (``cdp.errors.require_analytics``):
every resolver that needs them refuses a context without them with the same typed error."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cdp.relationship.complaints import ComplaintFilter
from cdp.errors import ConfigurationError
from cdp.settings import Settings
from graph.store import GraphStore
from resolvers import campaigns, channel_choice, recommendations, relationship, scoring, segments, value
from resolvers.context import Context

NEEDS_ANALYTICS: dict[str, Callable[[Context], Awaitable[Any]]] = {
    "segments.evaluate": lambda ctx: segments.evaluate(ctx, {"all": []}, None),
    "campaigns.campaigns": lambda ctx: campaigns.campaigns(ctx, None),
    "scoring.customer_scores": lambda ctx: scoring.customer_scores(ctx, "c1"),
    "value.segmentation": value.segmentation,
    "recommendations.for_customer": lambda ctx: recommendations.for_customer(ctx, "c1", 3),
    "channel_choice.choices": lambda ctx: channel_choice.choices(ctx, "c1", 3, None),
    "relationship.complaints": lambda ctx: relationship.complaints(ctx, ComplaintFilter(), 10, None),
    "loaders.offers": lambda ctx: ctx.loaders.offers.load(("c1", 3)),
}


@pytest.mark.parametrize("name", sorted(NEEDS_ANALYTICS))
def test_every_resolver_refuses_a_context_without_analytics_alike(store: GraphStore, name: str) -> None:
    async def call() -> Any:
        ctx = Context(store=store, settings=Settings.from_env({}))
        assert ctx.analytics is None
        return await NEEDS_ANALYTICS[name](ctx)

    with pytest.raises(ConfigurationError) as caught:
        asyncio.run(call())
    assert caught.value.code == "CONFIGURATION_ERROR"
    assert caught.value.message == "analytics are not available in this context (the app was built without them)"
