"""Profile cdp's customer view in process with pyinstrument (where does a view's time go?).

    NEO4J_URI=bolt://127.0.0.1:7687 .venv/bin/python -m bench.profile_view --requests 2000
    CDP_DB_PATH=bench/out/store-2000.lbdb .venv/bin/python -m bench.profile_view --view fuller
    CDP_DB_PATH=bench/out/store-2000.lbdb .venv/bin/python -m bench.profile_view --compare --requests 2000

Builds the real app (``cdp.app.build_app``) on the configured store (which must hold demo
data, e.g. from ``cdp demo load``), makes an admin key, and sends ``--requests`` views of random
customers through the ASGI app (httpx's ASGI transport: the whole middleware stack, no socket)
from ``--concurrency`` tasks, under pyinstrument. Prints the views/s of the profiled run and
pyinstrument's call tree (``--html PATH`` also writes the HTML report). pyinstrument is in the
``bench`` extra.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path

from bench.view_query import CUSTOMER_VIEW_QUERY, FULLER_VIEW_QUERY

VIEWS = {"plain": CUSTOMER_VIEW_QUERY, "fuller": FULLER_VIEW_QUERY}


async def _drive(app, key: str, ids: list[str], query: str, requests: int, concurrency: int) -> float:  # type: ignore[no-untyped-def]
    import httpx

    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    remaining = iter(range(requests))
    rng = random.Random(7)

    async with httpx.AsyncClient(transport=transport, base_url="http://cdp") as client:
        async def worker() -> None:
            for _ in remaining:
                body = json.dumps({"query": query, "variables": {"id": rng.choice(ids)}})
                resp = await client.post("/graphql", content=body, headers=headers)
                if resp.status_code != 200 or b'"errors"' in resp.content:
                    raise RuntimeError(f"view failed: {resp.status_code} {resp.text[:500]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--view", choices=["plain", "fuller"], default="plain")
    p.add_argument("--html", type=Path, default=None)
    p.add_argument("--flat", action="store_true", help="self time per function instead of the call tree")
    p.add_argument("--compare", action="store_true",
                   help="no profiler: the process CPU per view of the plain and the fuller view, in "
                        "alternating rounds of 100 (the in-process client's CPU included, alike for both)")
    args = p.parse_args(argv)

    from pyinstrument import Profiler

    from cdp.security.api_keys import create_key
    from cdp.app import build_app
    from cdp.settings import Settings

    settings = Settings.from_env()
    app = build_app(settings)
    store = app.state.store
    ids = [r["id"] for r in store.export_nodes("Customer").select(["id"]).to_pylist()][:5000]
    _, key = create_key(store, "profile", "admin")
    query = CUSTOMER_VIEW_QUERY if args.view == "plain" else FULLER_VIEW_QUERY

    async def compare() -> dict[str, float]:
        cpu = {"plain": 0.0, "fuller": 0.0}
        async with app.router.lifespan_context(app):
            for view in cpu:
                await _drive(app, key, ids, VIEWS[view], 100, args.concurrency)  # warm-up
            for _ in range(max(1, args.requests // 100)):
                for view in cpu:
                    started = time.process_time()
                    await _drive(app, key, ids, VIEWS[view], 100, args.concurrency)
                    cpu[view] += time.process_time() - started
        return {view: seconds * 1000 / (max(1, args.requests // 100) * 100) for view, seconds in cpu.items()}

    if args.compare:
        per_view = asyncio.run(compare())
        print(f"{settings.backend}: process CPU per view: plain {per_view['plain']:.2f} ms, fuller "
              f"{per_view['fuller']:.2f} ms, fuller/plain {per_view['fuller'] / per_view['plain']:.2f}")
        return 0

    async def run() -> float:
        async with app.router.lifespan_context(app):
            await _drive(app, key, ids, query, min(200, args.requests), args.concurrency)  # warm-up
            profiler = Profiler(async_mode="disabled")
            profiler.start()
            seconds = await _drive(app, key, ids, query, args.requests, args.concurrency)
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False, show_all=False, flat=args.flat))
            if args.html:
                args.html.write_text(profiler.output_html())
            return seconds

    seconds = asyncio.run(run())
    print(f"{args.requests} {args.view} views on {settings.backend}: {args.requests / seconds:.1f} views/s "
          f"in process under the profiler", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
