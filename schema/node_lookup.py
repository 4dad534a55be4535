"""``Query.node`` and ``Query.nodes``: any ``Node`` by its global id (``cdp.transport.global_ids``).

Each global id is answered by the same resolver path as the typed root field of its type
(``customer``, ``product``, ``campaign``, ``segment``, ``complaint``; accounts and contacts
through their customer's ``accounts`` / ``contacts``), so it returns what that field would:
the same masking of personal fields, null where the typed field is null. Before execution
``schema.authorization`` checks each id against the principal as it checks the typed field
(``cdp.security.permissions.NODE_OPERATIONS``); a customer credential reaches only its own accounts and contacts
(anything else, existing or not, is ``FORBIDDEN``, so the answer says nothing about other
customers). A malformed id, or one of a type without global ids, is ``BAD_USER_INPUT``
naming the argument (``id``, or ``ids[n]``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from cdp.transport import global_ids
from cdp.limits.request_limits import PageTooLarge
from cdp.security.permissions import check_customer
from resolvers import campaigns, catalog, customers, relationship, segments
from resolvers.context import Context
from resolvers.loaders import in_thread
from schema.node import Node

Ctx = Info[Context, None]

async def _owned(ctx: Context, label: str, domain_id: str) -> str | None:
    """The customer owning ``label`` node ``domain_id`` (None when unknown), after checking a
    customer credential may reach it (``Forbidden`` otherwise, whether or not it exists)."""
    owners = await in_thread(ctx.store.owners, label, [domain_id])
    owner = next(iter(owners), None)
    check_customer(ctx.principal, owner, field="id")
    return owner


async def resolve_node(info: Ctx, type_name: str, domain_id: str) -> Node | None:
    """The ``type_name`` object with ``domain_id`` as its typed root field answers it, or None."""
    from schema.campaigns import Campaign
    from schema.relationship import Complaint
    from schema.segments import Segment
    from schema.types import Account, Channel, Contact, Customer, Product

    ctx = info.context
    if type_name == "Customer":
        row = await customers.customer(ctx, domain_id)
        return Customer.from_row(row) if row else None
    if type_name == "Product":
        row = await catalog.product(ctx, domain_id)
        return Product.from_row(row) if row else None
    if type_name == "Channel":
        row = await catalog.channel(ctx, domain_id)
        return Channel.from_row(row) if row else None
    if type_name == "Campaign":
        found: Any = await campaigns.campaign(ctx, domain_id)
        return Campaign.from_domain(found) if found else None
    if type_name == "Segment":
        found = await segments.saved_segment(ctx, domain_id)
        return Segment.from_saved(found) if found else None
    if type_name == "Complaint":
        found = await relationship.complaint(ctx, domain_id)
        return Complaint.from_complaint(found, ctx.now) if found else None
    owner = await _owned(ctx, type_name, domain_id)
    if owner is None:
        return None
    if type_name == "Account":
        row = next((r for r in await customers.accounts(ctx, owner) if r["id"] == domain_id), None)
        return Account.from_row(row) if row else None
    row = next((r for r in await customers.contacts(ctx, owner, None, None, None) if r["id"] == domain_id), None)
    return Contact.from_row(row) if row else None


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object with a global id (`Node.globalId`), answered as its typed root "
                                  "field would answer it (same permissions and masking); null when there is "
                                  "none. BAD_USER_INPUT for an id that is not a global id of this API.")
    async def node(
        self, info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="A `globalId` from an earlier answer.")],
    ) -> Node | None:
        return await resolve_node(info, *global_ids.decode(str(id), "id"))

    @strawberry.field(description="The objects with the given global ids, in the same order; null for each "
                                  "that has none. At most CDP_MAX_PAGE_SIZE ids (PAGE_TOO_LARGE).")
    async def nodes(
        self, info: Ctx,
        ids: Annotated[list[strawberry.ID], strawberry.argument(description="`globalId`s from earlier answers.")],
    ) -> list[Node | None]:
        limit = info.context.settings.max_page_size
        if len(ids) > limit:
            raise PageTooLarge(f"ids holds {len(ids)} ids; at most {limit}", field="ids", limit=limit)
        decoded = [global_ids.decode(str(i), f"ids[{n}]") for n, i in enumerate(ids)]
        return list(await asyncio.gather(*(resolve_node(info, t, d) for t, d in decoded)))
