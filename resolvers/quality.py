"""Glue for the data-quality report: computed off the event loop, masked for the principal."""

from __future__ import annotations

from cdp.customers import quality
from cdp.limits.fair_share import run_sync
from cdp.security.permissions import readable_in_full
from resolvers.context import Context


async def data_quality(ctx: Context) -> quality.QualityReport:
    """The data-quality report of the whole store as of now. Duplicate groups found by a rule
    on personal fields are sampled only when the principal reads those fields in full, and
    such rules shaping the answer are authorised (``Forbidden``) and audited as a use."""
    report = await run_sync(quality.report, ctx.store, ctx.policy, ctx.now)
    report = quality.duplicates_readable(report, lambda rule: readable_in_full(ctx.principal, rule))
    ctx.authorise_personal_use({g.rule: "duplicateSample" for g in report.duplicate_sample})
    return report
