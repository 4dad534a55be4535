"""Does a shorter switch interval while heavy work runs shorten a cheap request's tail?
(docs/benchmarks.md, "Fair share under load"; docs/limits.md "Lanes").

On a shared machine the idle and loaded windows of ``bench/fair_share.py`` see different
background load, and a p99 of a few hundred views moves with it. This benchmark measures
the one mechanism the setting acts on, the hand-over of the interpreter lock, in one
process and with the two settings *interleaved* every few requests, so both see the same
machine: the real app (``cdp.app.build_app``, Starlette's TestClient) on the demo data,
``--heavy-threads`` client threads keeping the heavy lane busy with the heaviest allowed
query (time budget off), and the main thread sending the full customer view
(``bench.view_query.VIEW_QUERY``) one at a time. Python's switch interval alternates
between ``--intervals`` (seconds) every ``--block`` views. Also measured: the views with
the heavy lane idle, before the load starts. The heavy clients run in this process too
(unlike ``bench/fair_share.py``), so absolute figures under load are worse than a real
server's; the comparison between intervals is what this measures. Prints one JSON document;
``make bench-lane-switch`` runs it.

    python bench/lane_switch_interval.py --customers 2000 --views 600
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fair_share import HEAVY_QUERY  # noqa: E402
from bench.machine import facts as machine_facts  # noqa: E402
from bench.view_query import VIEW_QUERY  # noqa: E402


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    s = sorted(values)
    if not s:
        return {"n": 0}

    def p(q: float) -> float:
        return round(s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))], 2)

    return {"n": len(s), "p50": p(50), "p90": p(90), "p99": p(99), "max": round(s[-1], 2)}


def run(args: argparse.Namespace) -> dict:
    from starlette.testclient import TestClient

    from cdp.demo import telecom as demo
    from cdp.security.api_keys import create_key
    from cdp.app import build_app
    from cdp.settings import Settings
    from graph.ladybug_store import LadybugStore

    work = Path(args.workdir or tempfile.mkdtemp(prefix="cdp-lane-switch-"))
    db = work / "demo.lbdb"
    if not db.exists():
        data = demo.generate(args.customers, seed=42)
        with LadybugStore(db) as store:
            store.bulk_load(data.nodes, data.relationships)
    env = {**os.environ, "CDP_DB_PATH": str(db), "CDP_AUDIT_LOG": str(work / "audit.jsonl"),
           "CDP_RATE_LIMIT": "0", "CDP_HEAVY_BUDGET": "0",
           "CDP_HEAVY_PER_CREDENTIAL": str(args.heavy_threads), "CDP_HEAVY_THREADS": str(args.heavy_threads)}
    settings = Settings.from_env(env)
    app = build_app(settings)
    _, heavy_key = create_key(app.state.store, "heavy", "app")
    _, desk_key = create_key(app.state.store, "desk", "app")
    ids = [f"C{i:07d}" for i in range(1, args.customers + 1)]
    python_default = sys.getswitchinterval()
    views: dict[str, list[float]] = {"idle": []} | {f"{i:g}": [] for i in args.intervals}
    heavy_done: list[float] = []
    stop = threading.Event()
    with TestClient(app) as client:
        def post(query: str, key: str, variables: dict | None = None) -> float:
            t0 = time.perf_counter()
            r = client.post("/graphql", json={"query": query, "variables": variables},
                            headers={"Authorization": f"Bearer {key}"})
            elapsed = (time.perf_counter() - t0) * 1000
            body = r.json()
            if r.status_code != 200 or body.get("errors"):
                raise RuntimeError(f"{r.status_code}: {r.text[:300]}")
            return elapsed

        post(HEAVY_QUERY, heavy_key)  # warm up: projection and recommendation engine
        for i in range(args.block * 4):
            post(VIEW_QUERY, desk_key, {"id": ids[i % len(ids)]})
        sys.setswitchinterval(python_default)
        for i in range(args.idle_views):
            views["idle"].append(post(VIEW_QUERY, desk_key, {"id": ids[(i * 7) % len(ids)]}))

        def heavy() -> None:
            while not stop.is_set():
                heavy_done.append(post(HEAVY_QUERY, heavy_key))

        threads = [threading.Thread(target=heavy, daemon=True) for _ in range(args.heavy_threads)]
        for t in threads:
            t.start()
        time.sleep(2)
        try:
            n = 0
            while n < args.views:
                for interval in args.intervals:
                    sys.setswitchinterval(interval)
                    for _ in range(args.block):
                        views[f"{interval:g}"].append(post(VIEW_QUERY, desk_key, {"id": ids[(n * 13) % len(ids)]}))
                        n += 1
        finally:
            sys.setswitchinterval(python_default)
            stop.set()
            for t in threads:
                t.join()
    return {
        "benchmark": "switch interval under heavy load (bench/lane_switch_interval.py)",
        "command": " ".join([Path(sys.executable).name, "bench/lane_switch_interval.py", *sys.argv[1:]]),
        "customers": args.customers,
        "heavy_query": HEAVY_QUERY,
        "heavy_threads": args.heavy_threads,
        "view_ms": {"lane idle (Python's 5 ms)" if k == "idle" else f"lane busy, switch interval {k} s": _percentiles(v)
                    for k, v in views.items()},
        "heavy_ms": _percentiles(heavy_done),
        "load_average": os.getloadavg(),
        "machine": machine_facts(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=2000)
    p.add_argument("--views", type=int, default=600, help="views under load, over all intervals")
    p.add_argument("--idle-views", type=int, default=150, help="views before the heavy load starts")
    p.add_argument("--block", type=int, default=5, help="views per interval before switching to the next")
    p.add_argument("--heavy-threads", type=int, default=2, help="heavy requests in flight (= lane threads)")
    p.add_argument("--intervals", type=float, nargs="+", default=[0.005, 0.0005])
    p.add_argument("--workdir", help="folder for the store (default: a new temporary one)")
    print(json.dumps(run(p.parse_args(argv)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
