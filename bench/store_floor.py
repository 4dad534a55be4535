"""The store floor: the store calls of one customer view, called directly.

``customer_view`` makes, in Python against a ``GraphStore``, the calls the
API's DataLoaders make for one full customer view (customers,
accounts_of_customers, subscriptions_of_accounts, products,
contacts_of_customers, preferred_channels, monetary_events_of_accounts,
channels), one after another. ``measure`` times
that single-threaded (latency per view, and per call) and with N threads
(throughput), with no HTTP, GraphQL or event loop involved. A view the store
rejects (``CdpError``) is counted as an error, not timed.

``run_subprocess`` runs ``measure`` in its own process (``python -m
bench.store_floor``) so a crash of the native store cannot take the whole
benchmark down; it is then reported as ``crashed``.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from graph.errors import CdpError
from graph.store import GraphStore

CALLS = ("customers", "accounts_of_customers", "subscriptions_of_accounts", "products",
         "contacts_of_customers", "preferred_channels",
         "monetary_events_of_accounts", "channels")


def customer_view(store: GraphStore, cid: str, timings: dict[str, float] | None = None) -> int:
    """Make the store calls of one customer view; return the number of rows read.

    When ``timings`` is given, add each call's seconds to it by call name.
    Like the DataLoaders, calls with no keys (no accounts, no products) are skipped.
    """
    clock = time.perf_counter

    def call(name: str, *args: object):  # type: ignore[no-untyped-def]
        t0 = clock()
        out = getattr(store, name)(*args)
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + clock() - t0
        return out

    ids = [cid]
    rows = len(call("customers", ids))
    accounts = call("accounts_of_customers", ids).get(cid, [])
    contacts = call("contacts_of_customers", ids).get(cid, [])
    prefs = call("preferred_channels", ids).get(cid, [])
    rows += len(accounts) + len(contacts) + len(prefs)
    account_ids = [a["id"] for a in accounts]
    if account_ids:
        subs = call("subscriptions_of_accounts", account_ids)
        events = call("monetary_events_of_accounts", account_ids)
        rows += sum(map(len, subs.values())) + sum(map(len, events.values()))
        product_ids = sorted({s["product_id"] for ss in subs.values() for s in ss if s.get("product_id")})
        if product_ids:
            rows += len(call("products", product_ids))
    if contacts or prefs:
        rows += len(call("channels"))
    return rows


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    k = min(len(values) - 1, max(0, -(-len(values) * p // 100) - 1))
    return values[int(k)]


def single_threaded(store: GraphStore, ids: Sequence[str], seconds: float, seed: int = 1) -> dict:
    """Views one after another for ``seconds``: latency p50/p90/p99/max and per-call p50."""
    rng = random.Random(seed)
    latencies: list[float] = []
    per_call: dict[str, list[float]] = defaultdict(list)
    rows = 0
    errors: list[str] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        try:
            rows += customer_view(store, rng.choice(ids), timings)
        except CdpError as exc:
            errors.append(exc.message)
            continue
        latencies.append((time.perf_counter() - t0) * 1000)
        for name, t in timings.items():
            per_call[name].append(t * 1000)
    total = sum(latencies) / 1000
    if not latencies:
        return {"views": 0, "errors": len(errors), "error_sample": errors[0] if errors else None}
    return {
        "views": len(latencies),
        "errors": len(errors),
        "error_sample": errors[0] if errors else None,
        "views_per_second": round(len(latencies) / total, 1),
        "rows_per_view": round(rows / max(1, len(latencies)), 1),
        "latency_ms": {"p50": round(_pct(latencies, 50), 2), "p90": round(_pct(latencies, 90), 2),
                       "p99": round(_pct(latencies, 99), 2), "max": round(max(latencies), 2)},
        "per_call_p50_ms": {name: round(_pct(per_call[name], 50), 3) for name in CALLS if per_call[name]},
        "per_call_mean_ms": {name: round(sum(per_call[name]) / len(per_call[name]), 3)
                             for name in CALLS if per_call[name]},
    }


def multi_threaded(store: GraphStore, ids: Sequence[str], seconds: float, threads: int) -> dict:
    """``threads`` threads making views for ``seconds``: views/s and latency under load."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    store_errors: list[str] = []
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def worker(i: int) -> None:
        rng = random.Random(1000 + i)
        mine = latencies[i]
        start.wait()
        try:
            while time.perf_counter() < deadline[0]:
                t0 = time.perf_counter()
                try:
                    customer_view(store, rng.choice(ids))
                except CdpError as exc:  # counted, like an HTTP error
                    store_errors.append(exc.message)
                    continue
                mine.append((time.perf_counter() - t0) * 1000)
        except BaseException as exc:  # noqa: BLE001 - reported, not swallowed
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"store floor thread failed: {errors[0]!r}") from errors[0]
    flat = [x for lat in latencies for x in lat]
    return {
        "threads": threads,
        "views": len(flat),
        "errors": len(store_errors),
        "error_sample": store_errors[0] if store_errors else None,
        "seconds": round(elapsed, 2),
        "views_per_second": round(len(flat) / elapsed, 1),
        "latency_ms": {"p50": round(_pct(flat, 50), 2) if flat else None,
                       "p99": round(_pct(flat, 99), 2) if flat else None,
                       "max": round(max(flat), 2) if flat else None},
    }


def measure(db_path: Path, buffer_pool_mb: int, ids: Sequence[str], seconds: float, threads: int) -> dict:
    """Open the store read-only and measure the floor (after a short warm-up)."""
    from graph.ladybug_store import LadybugStore

    t0 = time.perf_counter()
    store = LadybugStore(db_path, buffer_pool_mb, read_only=True)
    open_seconds = time.perf_counter() - t0
    try:
        warm = single_threaded(store, ids, min(3.0, seconds), seed=99)
        single = single_threaded(store, ids, seconds)
        multi = multi_threaded(store, ids, seconds, threads)
    finally:
        store.close()
    return {"open_seconds": round(open_seconds, 2), "warmup_views": warm["views"],
            "single_thread": single, "multi_thread": multi}


def run_subprocess(db_path: Path, buffer_pool_mb: int, ids_path: Path, seconds: float, threads: int) -> dict:
    """``measure`` in a child process; a crash gives ``{"crashed": ..., "stderr_tail": ...}``."""
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "bench.store_floor", "--db", str(db_path), "--buffer-pool-mb",
           str(buffer_pool_mb), "--ids", str(ids_path), "--seconds", str(seconds), "--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root, timeout=3 * seconds + 1800)
    if proc.returncode == 0:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    how = (f"killed by {signal.Signals(-proc.returncode).name}" if proc.returncode < 0
           else f"exit status {proc.returncode}")
    empty = {"views": 0, "errors": 0, "latency_ms": {}}
    return {"crashed": how, "stderr_tail": proc.stderr[-3000:], "command": " ".join(cmd),
            "single_thread": dict(empty), "multi_thread": {**empty, "threads": threads}}


def main(argv: list[str] | None = None) -> int:
    """CLI: measure the floor of the store at ``--db`` and print one JSON line."""
    p = argparse.ArgumentParser(description="store floor of the cdp customer view")
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--buffer-pool-mb", type=int, default=2048)
    p.add_argument("--ids", type=Path, required=True, help="file with one customer id per line")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--threads", type=int, default=16)
    args = p.parse_args(argv)
    ids = [ln for ln in args.ids.read_text().splitlines() if ln]
    print(json.dumps(measure(args.db, args.buffer_pool_mb, ids, args.seconds, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
