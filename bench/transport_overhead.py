"""What the transport's checks cost per request (docs/benchmarks.md, docs/limits.md).

Times CPU per call, each the median of 5 runs:

- decoding a request body with ``cdp.transport.graphql_request.decode_json`` (strict UTF-8, JSON
  nesting, lone surrogates) against ``json.loads`` alone, for the view query's small body,
  a partner batch of 1,000 items, and the same batch with a surrogate *pair* escaped in
  every item (the slow path: every string is looked at);
- one request through ``cdp.limits.request_limits.BodyReadTimeout`` (a deadline on each body read) around
  a trivial ASGI app that reads its body, against the app alone.

Prints a Markdown table.

    .venv/bin/python bench/transport_overhead.py [--items 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.view_query import VIEW_QUERY  # noqa: E402
from cdp.transport.graphql_request import decode_json  # noqa: E402
from cdp.limits.request_limits import BodyReadTimeout  # noqa: E402


def _per_call(fn: Callable[[], object], n: int) -> float:
    """Median CPU µs per call of ``fn`` over 5 runs of ``n`` calls (``time.process_time``:
    on a shared machine, wall-clock time mostly measures the other processes)."""
    runs = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(n):
            fn()
        runs.append((time.process_time() - started) / n * 1e6)
    return statistics.median(runs)


def _bodies(items: int) -> dict[str, bytes]:
    view = json.dumps({"query": VIEW_QUERY, "variables": {"id": "C0000001"}}).encode()
    batch = [{"id": f"C{i:07d}", "email": f"person{i}@example.org", "city": "Gent", "firstName": "Zoë",
              "attributes": {"a": [1, 2, {"b": "c"}]}} for i in range(items)]
    query = "mutation($items: [CustomerInput!]!) { upsertCustomers(source: \"crm\", items: $items) { updated } }"
    big = json.dumps({"query": query, "variables": {"items": batch}}).encode()
    return {"view query": view, f"batch of {items:,} items": big,
            f"batch of {items:,}, escaped emoji in each": big.replace(b"Gent", b"Gent \\ud83d\\ude00")}


async def _through(app: object, body: bytes) -> None:
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(_: dict) -> None:
        return None

    await app({"type": "http", "method": "POST", "headers": []}, receive, send)  # type: ignore[operator]


async def _reader(scope: dict, receive: Callable, send: Callable) -> None:
    message = await receive()
    assert message["type"] == "http.request"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    args = parser.parse_args()
    print("| measure | json.loads | checked | extra |")
    print("|---|---:|---:|---:|")
    for name, body in _bodies(args.items).items():
        n = 5000 if len(body) < 10_000 else 40
        plain = _per_call(lambda: json.loads(body), n)  # noqa: B023 - called within this iteration
        checked = _per_call(lambda: decode_json(body, 64, ""), n)  # noqa: B023 - called within this iteration
        print(f"| decode {name} ({len(body):,} B) | {plain:,.1f} µs | {checked:,.1f} µs | {checked - plain:,.1f} µs |")
    loop = asyncio.new_event_loop()
    timed = BodyReadTimeout(_reader, seconds=30)
    body = b'{"query": "{ __typename }"}'
    bare = _per_call(lambda: loop.run_until_complete(_through(_reader, body)), 5000)
    wrapped = _per_call(lambda: loop.run_until_complete(_through(timed, body)), 5000)
    print(f"| one request through BodyReadTimeout (vs. the app alone) | {bare:,.1f} µs | {wrapped:,.1f} µs "
          f"| {wrapped - bare:,.1f} µs |")
    loop.close()


if __name__ == "__main__":
    main()
