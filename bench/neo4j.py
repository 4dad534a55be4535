"""Neo4j side by side with the embedded store, in one run (issue 19, item 5).

    make bench-neo4j                                   # 1,000,000 customers on a fresh local Neo4j
    .venv/bin/python tools/neo4j/local.py run -- .venv/bin/python bench/neo4j.py --customers 100000
    .venv/bin/python bench/neo4j.py --customers 100000 --neo4j bolt://127.0.0.1:7687 --reuse

Loads the seeded demo data (``cdp.demo.telecom.generate``, cached as Parquet by ``bench.bulk``)
into a fresh LadybugDB file and into Neo4j (``--neo4j``, else ``CDP_TEST_NEO4J_URI`` as
``tools/neo4j/local.py run`` sets it; wiped first unless ``--reuse`` finds the same
number of customers there), and reports for both stores:

1. the first bulk load: seconds and rows (nodes + relationships) per second;
2. the projection build (``cdp.projection.tables.build``): best of ``--builds``; on Neo4j
   with the store's parallel columnar reads and, for comparison, with one reader;
   ``--row-slices`` also times reading the customers table and one slice of contacts
   the old way (one record per row, a dict and ``_plain`` per value) to show the
   per-value cost of each path;
3. previewing a five-condition segment (p50/p95 over ``--previews`` fresh definitions)
   and one customer's next-best offers (p50/p95 over ``--lookups``), through the same
   ``cdp.analytics.analytics.Analytics`` the server uses (``bench.analytics``).

Says whether the driver's Rust extension (``neo4j-rust-ext``) was loaded: run once with
and once without it to compare. Prints one JSON line and a Markdown table. The machine
may be shared (figures then vary run to run): the JSON records the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402
from bench.analytics import _recommendations, _segments  # noqa: E402
from bench.bulk import bulk_load, demo_data  # noqa: E402


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _rust_ext() -> bool:
    try:
        import neo4j._rust  # noqa: F401
    except ImportError:
        return False
    return True


def _server_pid(uri: str) -> int | None:
    """The pid of the local Neo4j JVM (``tools/neo4j``) serving ``uri``, found by its port in
    the command line; None for any other server."""
    port = uri.rsplit(":", 1)[-1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"cdp.neo4j.LocalNeo4j" in argv and port.encode() in argv:
            return int(entry.name)
    return None


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of ``pid`` so far (0 when unknown)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Cpu:
    """CPU seconds of this process (the client) and of the Neo4j JVM over a block."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid

    def __enter__(self) -> _Cpu:
        self._client, self._server = time.process_time(), _cpu_seconds(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client = round(time.process_time() - self._client, 1)
        self.server = round(_cpu_seconds(self.pid) - self._server, 1) if self.pid else None


def _analytics(store: Any, out: Path) -> Any:
    """The ``Analytics`` a server would own over ``store`` (models kept under ``out``)."""
    from cdp.analytics.analytics import Analytics
    from cdp.settings import Settings

    return Analytics(store, Settings(db_path=out / "latency.lbdb", model_dir=out / f"models-{store.backend}"))


def _builds(analytics: Any, times: int, readers: int | None = None) -> tuple[float, Any]:
    """Best seconds of ``times`` projection builds (the first through ``Analytics.data()``, as a
    server's first analytic request; then ``Projection.rebuild``) with ``readers`` threads; the snapshot."""
    store = analytics.store
    saved = store.projection_readers
    if readers is not None:
        store.projection_readers = readers
    best, data = float("inf"), None
    try:
        for _ in range(times):
            data = None
            started = time.perf_counter()
            data = analytics.projection.rebuild() if analytics.projection.built else analytics.data()
            best = min(best, time.perf_counter() - started)
    finally:
        store.projection_readers = saved
    return round(best, 2), data


def _row_slices(store: Any, data: Any) -> dict:
    """Seconds per value reading the customers table and the first 50,000 customers' contacts
    the old way (records as dicts through ``_plain``) and the columnar way."""
    from graph import queries as Q
    from graph.cypher import Query
    from graph.store import GraphStore, projection_schema

    out: dict[str, Any] = {}
    lo, hi = data.ids[0], data.ids[min(len(data.ids), 50_000) - 1]
    for name, query, params in (
            ("customers", Q.projection_customers(False), {}),
            ("contacts_50k", Q.projection_fact("contacts", False), {"lo": lo, "hi": hi})):
        schema = projection_schema("contacts" if name.startswith("contacts") else "customers")
        rows_query = Query(query.name, query.cypher, query.params)  # the row text, as before columns
        started = time.perf_counter()
        table = GraphStore._fetch_table(store, rows_query, params, schema)
        rows_s = time.perf_counter() - started
        started = time.perf_counter()
        columns = store._fetch_table(query, params, schema)
        columns_s = time.perf_counter() - started
        assert columns.num_rows == table.num_rows, (name, columns.num_rows, table.num_rows)
        values = table.num_rows * table.num_columns
        out[name] = {"values": values, "rows_seconds": round(rows_s, 2), "columns_seconds": round(columns_s, 2),
                     "rows_us_per_value": round(rows_s / max(values, 1) * 1e6, 2),
                     "columns_us_per_value": round(columns_s / max(values, 1) * 1e6, 2)}
        _say(f"{name}: rows {rows_s:.1f} s, columns {columns_s:.1f} s ({values:,} values)")
    return out


def _latencies(analytics: Any, data: Any, seed: int, previews: int, lookups: int) -> dict:
    rng = random.Random(seed)
    results = {}
    results.update(_segments(analytics, data, rng, previews))
    results.update(_recommendations(analytics, data, rng, lookups))
    return results


def _neo4j(uri: str, data: Any, customers: int, reuse: bool) -> tuple[Any, dict]:
    from graph.neo4j_store import Neo4jStore
    from graph.queries import CustomerFilter

    store = Neo4jStore(uri, os.environ.get("NEO4J_USER", "neo4j"), os.environ.get("NEO4J_PASSWORD", ""),
                       os.environ.get("NEO4J_DATABASE", "neo4j"), max_retry_seconds=60)
    stored = store.count_customers(CustomerFilter())
    if reuse and stored == customers:
        _say(f"reusing the {stored:,} customers in Neo4j at {uri}")
        return store, {"reused": True}
    _say(f"wiping Neo4j at {uri} ({stored:,} customers) and bulk-loading {data.row_count():,} rows")
    store.wipe()
    started = time.perf_counter()
    last = {"step": None}

    def progress(step: str, rows: int) -> None:
        if step != last["step"]:
            last["step"] = step
            _say(f"  neo4j load: {step} ({time.perf_counter() - started:.0f} s)")

    load_before = os.getloadavg()[0]
    with _Cpu(_server_pid(uri)) as cpu:
        rows = store.bulk_load(data.nodes, data.relationships, progress=progress)
    seconds = time.perf_counter() - started
    return store, {"reused": False, "rows": rows, "seconds": round(seconds, 1), "rows_per_second": round(rows / seconds),
                   "client_cpu_seconds": cpu.client, "server_cpu_seconds": cpu.server,
                   "bulk_writers": store.bulk_writers, "load_average": [load_before, os.getloadavg()[0]]}


def run(args: argparse.Namespace) -> dict:
    from graph.ladybug_store import LadybugStore

    uri = args.neo4j or os.environ.get("CDP_TEST_NEO4J_URI")
    if not uri:
        raise SystemExit("bench/neo4j.py: no Neo4j: pass --neo4j URI or run under tools/neo4j/local.py run --")
    results: dict[str, Any] = {
        "benchmark": "neo4j", "customers": args.customers, "seed": args.seed,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": machine.facts(),
        "load_average_at_start": os.getloadavg(), "neo4j_rust_ext": _rust_ext(),
        "neo4j_heap": os.environ.get("CDP_NEO4J_HEAP"), "neo4j_pagecache_mb": os.environ.get("CDP_NEO4J_PAGECACHE_MB"),
    }
    data, info = demo_data(args.out, args.customers, args.seed)
    results["rows"] = data.row_count()

    # ---------------------------------------------------------------- LadybugDB
    path = args.out / f"neo4j-side-{args.customers}-{args.seed}.lbdb"
    if not args.skip_ladybug:
        results["ladybug_load"] = bulk_load(data, path, args.buffer_pool_mb)
        lady = LadybugStore(path, buffer_pool_mb=args.buffer_pool_mb)
        analytics = _analytics(lady, args.out)
        try:
            _say("ladybug: projection builds")
            results["ladybug_projection_build_seconds"], snapshot = _builds(analytics, args.builds)
            _say(f"ladybug: build {results['ladybug_projection_build_seconds']} s")
            if args.previews or args.lookups:
                results["ladybug"] = _latencies(analytics, snapshot, args.seed, args.previews, args.lookups)
            del snapshot
        finally:
            analytics.close()
            lady.close()

    # ---------------------------------------------------------------- Neo4j
    neo, load = _neo4j(uri, data, args.customers, args.reuse)
    del data
    results["neo4j_load"] = load
    analytics = _analytics(neo, args.out)
    try:
        _say(f"neo4j: projection builds ({neo.projection_readers} readers)")
        with _Cpu(_server_pid(uri)) as cpu:
            results["neo4j_projection_build_seconds"], snapshot = _builds(analytics, args.builds)
        results["neo4j_projection_cpu_seconds"] = {"client": cpu.client, "server": cpu.server, "builds": args.builds}
        results["neo4j_projection_readers"] = neo.projection_readers
        results["neo4j_projection_rows"] = {"customers": snapshot.size, **{k: len(v) for k, v in snapshot.facts.items()}}
        _say(f"neo4j: build {results['neo4j_projection_build_seconds']} s")
        if args.one_reader:
            results["neo4j_projection_build_one_reader_seconds"], snapshot = _builds(analytics, 1, readers=1)
            _say(f"neo4j: build with one reader {results['neo4j_projection_build_one_reader_seconds']} s")
        if args.row_slices:
            results["neo4j_read_paths"] = _row_slices(neo, snapshot)
        if args.previews or args.lookups:
            results["neo4j"] = _latencies(analytics, snapshot, args.seed, args.previews, args.lookups)
    finally:
        analytics.close()
        neo.close()
    return results


def markdown(r: dict) -> str:
    lady, neo = r.get("ladybug", {}), r.get("neo4j", {})
    load_l, load_n = r.get("ladybug_load", {}), r.get("neo4j_load", {})
    rows = [f"| figure ({r['customers']:,} customers, {r['rows']:,} rows) | LadybugDB | Neo4j |", "|---|---:|---:|",
            f"| first bulk load, s | {load_l.get('seconds', '')} | {load_n.get('seconds', 'reused')} |",
            f"| first bulk load, rows/s | {load_l.get('rows_per_second', '')} | {load_n.get('rows_per_second', '')} |",
            f"| projection build, s | {r.get('ladybug_projection_build_seconds', '')} | "
            f"{r.get('neo4j_projection_build_seconds', '')} |"]
    if load_n.get("server_cpu_seconds") is not None:
        rows.append(f"| Neo4j bulk load: client / server CPU s | | {load_n['client_cpu_seconds']} / "
                    f"{load_n['server_cpu_seconds']} |")
    cpu = r.get("neo4j_projection_cpu_seconds") or {}
    if cpu.get("server") is not None:
        rows.append(f"| Neo4j projection builds ({cpu['builds']}): client / server CPU s | | "
                    f"{cpu['client']} / {cpu['server']} |")
    if "neo4j_projection_build_one_reader_seconds" in r:
        rows.append(f"| projection build, one reader, s | | {r['neo4j_projection_build_one_reader_seconds']} |")
    for key in ("segment_preview_p50_ms", "segment_preview_p95_ms", "recommend_one_p50_ms", "recommend_one_p95_ms"):
        if key in lady or key in neo:
            rows.append(f"| {key} | {lady.get(key, '')} | {neo.get(key, '')} |")
    rows.append(f"\nneo4j-rust-ext loaded: {r['neo4j_rust_ext']}; load average at start: {r['load_average_at_start']}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--neo4j", help="bolt:// or neo4j:// URI (default: CDP_TEST_NEO4J_URI)")
    parser.add_argument("--reuse", action="store_true", help="keep the Neo4j data when it holds --customers already")
    parser.add_argument("--builds", type=int, default=2, help="projection builds per store (best is reported)")
    parser.add_argument("--one-reader", action="store_true", help="also time a Neo4j build with one reader")
    parser.add_argument("--row-slices", action="store_true", help="also time the row-per-record read path")
    parser.add_argument("--skip-ladybug", action="store_true")
    parser.add_argument("--previews", type=int, default=20)
    parser.add_argument("--lookups", type=int, default=100)
    parser.add_argument("--buffer-pool-mb", type=int, default=2048)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = run(args)
    line = json.dumps(results, default=str)
    print(line)
    if args.json_out:
        args.json_out.write_text(line + "\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
