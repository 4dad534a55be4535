"""Glue for campaigns: the app's ``Campaigns`` service, called off the event loop."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from cdp import contact_policy
from cdp.campaigns import Audience, Campaign, Campaigns, CampaignSpec, ResponseInput, ResponseResult
from cdp.contact_policy import ContactPolicy
from cdp.errors import CdpError
from cdp.fair_share import run_sync
from resolvers.context import Context


def service(ctx: Context) -> Campaigns:
    """The app's campaigns; ``CdpError`` when the context has no analytics."""
    if ctx.analytics is None:
        raise CdpError("analytics are not available in this context")
    return ctx.analytics.campaigns


async def campaigns(ctx: Context, status: str | None) -> list[Campaign]:
    return await run_sync(service(ctx).list, status)


async def campaign(ctx: Context, campaign_id: str) -> Campaign | None:
    return await run_sync(service(ctx).get, campaign_id)


async def create(ctx: Context, spec: CampaignSpec) -> Campaign:
    return await run_sync(lambda: service(ctx).create(spec, ctx.now))


async def audience(ctx: Context, campaign_id: str, wave: int, at: datetime | None) -> Audience:
    return await run_sync(lambda: service(ctx).audience(campaign_id, wave, at))


async def launch(ctx: Context, campaign_id: str, wave: int, force: bool) -> Campaign:
    campaign_, _ = await run_sync(lambda: service(ctx).launch(campaign_id, ctx.now, wave, force))
    return campaign_


async def set_status(ctx: Context, campaign_id: str, status: str) -> Campaign:
    return await run_sync(lambda: service(ctx).set_status(campaign_id, status, ctx.now))


async def delete(ctx: Context, campaign_id: str) -> bool:
    await run_sync(service(ctx).delete, campaign_id)
    return True


async def record(ctx: Context, campaign_id: str, responses: Sequence[ResponseInput]) -> ResponseResult:
    return await run_sync(lambda: service(ctx).record_responses(campaign_id, responses))


async def report(ctx: Context, campaign_id: str, at: datetime | None) -> Any:
    """The performance report of one campaign (``cdp.campaign_report``)."""
    from cdp import campaign_report

    return await run_sync(lambda: campaign_report.report(service(ctx), campaign_id, at))


async def policy(ctx: Context) -> ContactPolicy:
    return await run_sync(contact_policy.load, ctx.store)


async def set_policy(ctx: Context, raw: Mapping[str, Any]) -> ContactPolicy:
    return await run_sync(lambda: contact_policy.save(ctx.store, raw, ctx.now))
