"""A launched wave's contact list for the channel systems, as CSV or JSON Lines.

The same writer serves the HTTP download
``GET /campaigns/{id}/waves/{n}/contacts.csv`` (or ``.jsonl``) and
``cdp campaigns export``. Columns: see ``Campaigns.wave_contacts``. CSV has a
header row and is UTF-8, every field quoted (RFC 4180), cells that would start a
spreadsheet formula neutralised (``cdp.formats.csv_export``); JSON Lines has one object per
contact, values as stored. Errors over HTTP are GraphQL-shaped JSON bodies like every
other refusal (``{"data": null, "errors": [{"message", "extensions": {"code", "field"?}}]}``,
docs/errors.md): 404 ``NOT_FOUND`` for an unknown campaign or wave, 409 ``CONFLICT`` for
a wave not launched yet, 400 ``BAD_USER_INPUT`` for another format, 403 ``FORBIDDEN``,
503 ``AUDIT_UNAVAILABLE`` when the personal read cannot be audited (nothing is sent then).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any, TextIO

import pyarrow as pa
from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cdp.formats import csv_export
from cdp.errors import CdpError, InvalidInput, NotFound
from cdp.limits.request_limits import error_body, note_refusal
from cdp.security.permissions import (
    PERSONAL_ATTRIBUTE_KEYS,
    Access,
    authorise_personal_use,
    check_operation,
    mask,
    personal_access,
)

FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
_BATCH = 5_000


def lines(table: pa.Table, fmt: str) -> Iterator[str]:
    """The text of ``table`` in ``fmt`` (``csv`` or ``jsonl``), in chunks.
    Raises ``InvalidInput`` for another format."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", field="format")
    names = table.column_names
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv_export.writer(buffer)
        writer.writerow(names)
        for batch in table.to_batches(_BATCH):
            writer.writerows(zip(*(c.to_pylist() for c in batch.columns)))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()
        return
    for batch in table.to_batches(_BATCH):
        yield "".join(json.dumps(dict(zip(names, row)), ensure_ascii=False) + "\n"
                      for row in zip(*(c.to_pylist() for c in batch.columns)))


def write(table: pa.Table, fmt: str, out: TextIO) -> int:
    """Write ``table`` to ``out`` in ``fmt``; returns the number of contacts written."""
    for chunk in lines(table, fmt):
        out.write(chunk)
    return table.num_rows


def masked_for(table: pa.Table, principal: Any) -> tuple[pa.Table, list[str]]:
    """``table`` with the personal columns ``principal`` may not read masked (``cdp.security.permissions``).

    Out: the table and the personal columns left readable. A partner sees personal
    columns only with the scope; the customers in a launched wave consented to the
    campaign's purpose and channel, which is the sharing the list is made for.
    """
    readable = []
    for name in table.column_names:
        if name not in PERSONAL_ATTRIBUTE_KEYS:
            continue
        if personal_access(principal, name) is not Access.MASKED:
            readable.append(name)
            continue
        column = pa.array([mask(name, v) for v in table.column(name).to_pylist()], pa.string())
        table = table.set_column(table.column_names.index(name), name, column)
    return table, readable


#: HTTP status of a refused download by error code (others: 400).
_STATUS = {"FORBIDDEN": 403, "NOT_FOUND": 404, "CONFLICT": 409, "AUDIT_UNAVAILABLE": 503, "SHUTTING_DOWN": 503,
           "UNAUTHENTICATED": 401}


def refusal(error: CdpError) -> Response:
    """A refused download as a GraphQL-shaped JSON response (``cdp.limits.request_limits.error_body``), its
    code noted for ``/metrics``. A wave the campaign does not have (``InvalidInput`` on
    ``wave``: in the path, it names a resource) is 404 ``NOT_FOUND``."""
    if isinstance(error, InvalidInput) and error.field == "wave":
        error = NotFound(error.message, field="wave")
    note_refusal(error)
    return Response(error_body(error), _STATUS.get(error.code, 400), media_type="application/json")


async def contact_list_response(campaigns: Any, request: Request, audit: Any = None) -> Response:
    """The HTTP download of one wave's contact list (see the module docstring), for the
    principal ``cdp.security.authentication`` put on the request; unmasked downloads are audited."""
    campaign_id = request.path_params["campaign_id"]
    wave = int(request.path_params["wave"])
    fmt = request.path_params["format"]
    principal = request.state.principal
    try:
        check_operation(principal, "campaignContactList")
        if fmt not in FORMATS:
            raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", field="format")
        def read() -> tuple[pa.Table, frozenset[str]]:
            campaign = campaigns.require(campaign_id)  # a list shows who matched the target's conditions
            used = authorise_personal_use(principal, campaigns.target_uses(campaign.target_segment,
                                                                           campaign.target_definition))
            return campaigns.wave_contacts(campaign_id, wave), used

        table, used = await to_thread.run_sync(read)
        table, readable = masked_for(table, principal)
        if (readable or used) and audit is not None:
            audit.record(principal, "read_personal", "campaignContactList",
                         customers=table.column("customer_id").to_pylist(), fields=sorted({*readable, *used}))
    except CdpError as exc:
        return refusal(exc)
    filename = f"{campaign_id}-wave{wave}.{fmt}"
    return StreamingResponse(lines(table, fmt), media_type=FORMATS[fmt],
                             headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                      "X-Contact-Count": str(table.num_rows)})
