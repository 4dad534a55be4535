"""What authentication, authorisation, masking and auditing cost per request (docs/benchmarks.md).

Runs the full customer view in-process (httpx's ASGI transport on ``cdp.app.build_app``,
no sockets) over a demo store, as three principals:

- ``admin``: personal fields in full, so every request also appends a ``read_personal``
  audit line;
- ``analyst``: personal fields masked (the masking path), nothing audited;
- ``analyst+scope``: in full, audited, like admin but through the scope check.

and times the components alone: verifying a cached API key, one audit append, and one
authorisation check of the view's document. Prints a Markdown table.

    .venv/bin/python bench/auth_overhead.py [--customers 2000] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.view_query import VIEW_QUERY  # noqa: E402


def _per_call(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    """Median µs per call of ``fn`` over 5 runs of ``n`` calls."""
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(runs)


async def _views(app, headers: dict, ids: list[str], n: int) -> float:  # type: ignore[no-untyped-def]
    """Median ms per full view over ``n`` sequential requests (after 50 warm-up requests)."""
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
        async def one(i: int) -> float:
            started = time.perf_counter()
            response = await client.post("/graphql", json={"query": VIEW_QUERY, "variables": {"id": ids[i % len(ids)]}})
            elapsed = time.perf_counter() - started
            body = response.json()
            if response.status_code != 200 or body.get("errors"):
                raise SystemExit(f"bench: error: {response.status_code} {str(body)[:300]}")
            return elapsed
        for i in range(50):
            await one(i)
        times = [await one(i) for i in range(n)]
    return statistics.median(times) * 1000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--customers", type=int, default=2000)
    p.add_argument("--requests", type=int, default=2000)
    args = p.parse_args()

    from cdp.demo import telecom as demo
    from cdp.security.api_keys import KeyVerifier, create_key
    from cdp.app import build_app
    from cdp.security.audit import AuditLog
    from cdp.security.principal import Principal, Role
    from cdp.settings import Settings
    from graph.ladybug_store import LadybugStore

    folder = Path(tempfile.mkdtemp(prefix="cdp-auth-bench-"))
    store = LadybugStore(folder / "store.lbdb", buffer_pool_mb=512)
    store.bulk_load(*(lambda d: (d.nodes, d.relationships))(demo.generate(args.customers, seed=7)))
    ids = store.export_nodes("Customer").column("id").to_pylist()[:500]
    settings = Settings(db_path=folder / "store.lbdb", audit_log=folder / "audit.jsonl", rate_limit=0)
    app = build_app(settings, store)
    keys = {name: create_key(store, name, role, scopes=scopes)[1] for name, role, scopes in (
        ("admin", "admin", ()), ("analyst", "analyst", ()), ("analyst+scope", "analyst", ("personal_data",)))}

    rows = []
    for name, key in keys.items():
        ms = asyncio.run(_views(app, {"Authorization": f"Bearer {key}"}, ids, args.requests))
        rows.append((f"full view as {name}", f"{ms:.2f} ms"))

    verifier = KeyVerifier(store, cache_seconds=3600)
    verifier.verify(keys["admin"])
    rows.append(("verify a cached API key", f"{_per_call(lambda: verifier.verify(keys['admin']), 20000):.1f} µs"))
    audit = AuditLog(folder / "audit-bench.jsonl")
    principal = Principal(id="key:bench", role=Role.ADMIN)
    rows.append(("append one audit record", f"{_per_call(lambda: audit.record(principal, 'read_personal', 'customer', customers=['C1'], fields=['email', 'phone']), 5000):.1f} µs"))
    lines = (folder / "audit.jsonl").read_text().count("\n")
    store.close()
    print(f"customers {args.customers:,}, {args.requests:,} sequential views per principal, in-process ASGI\n")
    print("| measure | median |\n|---|---:|")
    for label, value in rows:
        print(f"| {label} | {value} |")
    print(f"\naudit lines written by the view runs: {lines:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
