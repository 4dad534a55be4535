"""Glue for partner upserts: the value rules of now, consent rules, one write off the event loop."""

from __future__ import annotations

from typing import Any

from anyio import to_thread

from cdp.privacy import consent
from cdp.ingest import upserts
from cdp.customers.write_rules import WriteRules
from resolvers.context import Context


async def upsert(ctx: Context, label: str, items: list[dict[str, Any]], source: str) -> upserts.UpsertOutcome:
    """Upsert a batch of ``label`` items (dicts of the fields sent) from ``source``; refused items
    come back in the outcome's errors. Raises ``Forbidden`` when a customer item carries a consent
    attribute the principal may not record (docs/privacy.md), ``InvalidInput`` for a bad source
    or batch (``cdp.ingest.upserts``). The request's cached reads are dropped after the write."""
    now = ctx.now
    rules = WriteRules.of(ctx.settings, now)
    if label == "Customer":  # consents sent as attributes obey who may record them (docs/privacy.md)
        consent.check_statements(ctx.principal, [
            (f"items[{i}].attributes[{j}]", a.get("key"), a.get("value"))
            for i, item in enumerate(items) for j, a in enumerate(item.get("attributes") or ())])
    outcome = await to_thread.run_sync(upserts.upsert, ctx.store, ctx.policy, label, items, source, now, rules)
    ctx.forget_reads()
    return outcome
