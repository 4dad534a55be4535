"""Glue for campaigns: the app's ``Campaigns`` service, called off the event loop."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from collections.abc import Mapping, Sequence

from cdp.campaigns import campaign_report
from cdp.outreach import contact_policy
from cdp.campaigns.campaigns import Audience, Campaign, Campaigns, CampaignSpec, ResponseInput, ResponseResult
from cdp.outreach.contact_policy import ContactPolicy
from cdp.limits.fair_share import run_sync
from cdp.transport.pagination import Page, keyset_page, page_request
from resolvers.context import Context


#: Ordering name of ``campaigns`` cursors: newest first by creation time, then id.
CAMPAIGN_ORDER = "campaigns:created-desc"


def service(ctx: Context) -> Campaigns:
    """The app's campaigns; ``ConfigurationError`` when the context has no analytics."""
    return ctx.ready_analytics().campaigns


async def campaigns(ctx: Context, status: str | None) -> list[Campaign]:
    return await run_sync(service(ctx).list, status)


async def campaign_page(ctx: Context, status: str | None, first: int | None, after: str | None,
                        last: int | None, before: str | None) -> Page[Campaign]:
    """One keyset page of the campaigns (optionally of one status), newest first by creation time
    then id, so campaigns created while paging do not shift the pages; ``total``: how many match.
    Raises ``InvalidInput`` / ``PageTooLarge`` for bad paging arguments (``page_request``)."""
    request = page_request(first, after, last, before, ctx.settings.max_page_size, CAMPAIGN_ORDER, 2)
    return keyset_page(await campaigns(ctx, status), lambda c: (c.created_at, c.id), request, descending=True)


async def campaign(ctx: Context, campaign_id: str) -> Campaign | None:
    return await run_sync(service(ctx).get, campaign_id)


def authorise_target(ctx: Context, campaign_id: str) -> None:
    """Raise ``Forbidden`` when the campaign's target compares a personal field the principal
    may not read (``Context.authorise_personal_use``); ``NotFound`` for an unknown campaign."""
    campaign_ = service(ctx).require(campaign_id)
    ctx.authorise_personal_use(service(ctx).target_uses(campaign_.target_segment, campaign_.target_definition))


async def create(ctx: Context, spec: CampaignSpec) -> Campaign:
    def run() -> Campaign:
        ctx.authorise_personal_use(service(ctx).target_uses(spec.target_segment, spec.target_definition))
        return service(ctx).create(spec, ctx.now)

    return await run_sync(run)


async def audience(ctx: Context, campaign_id: str, wave: int, at: datetime | None) -> Audience:
    def run() -> Audience:
        authorise_target(ctx, campaign_id)
        return service(ctx).audience(campaign_id, wave, at)

    return await run_sync(run)


async def launch(ctx: Context, campaign_id: str, wave: int, force: bool) -> Campaign:
    def run() -> Campaign:
        authorise_target(ctx, campaign_id)
        return service(ctx).launch(campaign_id, ctx.now, wave, force)[0]

    return await run_sync(run)


async def set_status(ctx: Context, campaign_id: str, status: str) -> Campaign:
    return await run_sync(lambda: service(ctx).set_status(campaign_id, status, ctx.now))


async def delete(ctx: Context, campaign_id: str) -> bool:
    await run_sync(service(ctx).delete, campaign_id)
    return True


async def record(ctx: Context, campaign_id: str, responses: Sequence[ResponseInput]) -> ResponseResult:
    return await run_sync(lambda: service(ctx).record_responses(campaign_id, responses))


async def report(ctx: Context, campaign_id: str, at: datetime | None) -> Any:
    """The performance report of one campaign (``cdp.campaigns.campaign_report``)."""
    def run() -> Any:
        authorise_target(ctx, campaign_id)  # its figures count who matched the target
        return campaign_report.report(service(ctx), campaign_id, at)

    return await run_sync(run)


async def policy(ctx: Context) -> ContactPolicy:
    return await run_sync(contact_policy.load, ctx.store)


async def set_policy(ctx: Context, raw: Mapping[str, Any]) -> ContactPolicy:
    return await run_sync(lambda: contact_policy.save(ctx.store, raw, ctx.now))
