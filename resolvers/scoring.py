"""Glue for predictive scores: the app's model registry, called off the event loop;
training runs as a job (``cdp.limits.jobs``)."""

from __future__ import annotations

from datetime import datetime

from cdp.models.churn_drivers import ChurnDrivers
from cdp.errors import ConfigurationError
from cdp.limits.fair_share import run_sync
from cdp.limits.jobs import Job
from cdp.models.model_card import ModelCard, Reason
from cdp.models.scoring import CustomerScores, ModelRegistry
from resolvers.context import Context


def _registry(ctx: Context) -> ModelRegistry:
    """The app's model registry; ``ConfigurationError`` when the context has no analytics."""
    return ctx.ready_analytics().models


async def customer_scores(ctx: Context, customer_id: str, propensity: bool = False) -> CustomerScores | None:
    """One customer's scores (a lookup once everyone is scored); None when not projected.
    Product propensities only with ``propensity``."""
    registry = _registry(ctx)
    return await run_sync(lambda: registry.customer_scores(customer_id, propensity))


async def scores_as_of(ctx: Context, customer_id: str, at: datetime) -> CustomerScores | None:
    """One customer's churn risk and lifetime value as of ``at``; None when not projected."""
    registry = _registry(ctx)
    return await run_sync(lambda: registry.scores_as_of(customer_id, at))


async def churn_reasons(ctx: Context, customer_id: str, top: int, at: datetime | None = None) -> list[Reason]:
    """Reasons of one customer's churn probability (computed on demand), now or as of ``at``."""
    registry = _registry(ctx)
    return await run_sync(lambda: registry.churn_reasons(customer_id, top, at))


async def churn_drivers(ctx: Context, threshold: float, customers: int, top: int) -> ChurnDrivers:
    """What drives churn risk among the highest-risk customers (``ModelRegistry.churn_drivers``)."""
    registry = _registry(ctx)
    return await run_sync(lambda: registry.churn_drivers(threshold, customers, top))

def require_value(ctx: Context) -> None:
    """Raise ``ModelNotTrained`` unless a lifetime value model is trained."""
    _registry(ctx).require_value()


def require(ctx: Context, name: str) -> None:
    """Raise ``ModelNotTrained`` when model ``name`` is not trained."""
    _registry(ctx).card(name)


async def cards(ctx: Context) -> list[ModelCard]:
    """Cards of the trained models."""
    return _registry(ctx).cards()


def train(ctx: Context, name: str, as_of: datetime | None = None) -> Job:
    """Submit the training of model ``name`` (or ``all``) as of ``as_of`` (default now) as a job
    of the caller; returns it at once. Its result is the new cards. Raises ``InvalidInput`` for
    an unknown name or a future ``as_of``, ``Busy`` when the caller has too many unfinished jobs."""
    registry = _registry(ctx)
    registry.check_name(name)
    registry.check_as_of(as_of)
    if ctx.jobs is None:
        raise ConfigurationError("jobs are not available in this context")
    return ctx.jobs.submit(ctx.principal.id, "trainModel", lambda progress: registry.train(name, as_of, progress))
