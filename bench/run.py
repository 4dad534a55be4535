"""Run the whole cdp benchmark in one go and report it.

    .venv/bin/python bench/run.py --customers 1000000            # make bench
    .venv/bin/python bench/run.py --customers 20000 --duration 10  # make bench-small

Steps, all on the embedded LadybugDB store:

1. bulk load: generate the seeded demo data (cached as Parquet under
   ``bench/out/data-<customers>-<seed>/``) and load it into a fresh store file
   ``bench/out/store-<customers>.lbdb``; generation is timed separately;
2. the real server (``cdp serve --no-demo``) in a subprocess, driven at
   ``--concurrency`` with the full customer view for random customer ids
   (wrk if installed, else a Python client in its own process), then with
   ``{ __typename }`` (the framework ceiling); the server's peak RSS and CPU;
3. the store floor: the store calls of one view, made directly against the
   store opened read-only after the server stopped, 1 thread and N threads.

Prints Markdown tables and writes ``bench/out/results-<customers>.json`` (and ``.md``).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script: import the ``bench`` package from the repository root, and do
# not let this folder's module names shadow anything.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import bulk, http_load, machine, report, store_floor  # noqa: E402
from bench.server import RssSampler, Server  # noqa: E402
from bench.view_query import TRIVIAL_QUERY, VIEW_QUERY, body_for, trivial_body, view_body_template  # noqa: E402


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _args(argv: list[str] | None) -> argparse.Namespace:
    from cdp.settings import Settings

    p = argparse.ArgumentParser(description="Benchmark cdp: bulk load, full customer view over HTTP, references.")
    p.add_argument("--customers", type=int, default=1_000_000, help="demo customers (default 1,000,000)")
    p.add_argument("--seed", type=int, default=42, help="demo data seed (default 42)")
    p.add_argument("--duration", type=float, default=60, help="seconds measured per HTTP phase (default 60)")
    p.add_argument("--warmup", type=float, default=5, help="unmeasured seconds before each HTTP phase (default 5)")
    p.add_argument("--concurrency", type=int, default=16, help="concurrent connections / threads (default 16)")
    p.add_argument("--rate", type=float, default=100,
                   help="requests/s of the open-loop view phase (default 100; 0 skips it)")
    p.add_argument("--floor-duration", type=float, default=None,
                   help="seconds per store-floor mode (default: min(duration, 20))")
    p.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto",
                   help="HTTP load generator (default: wrk when installed, else Python)")
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1: leave CPU to the server)")
    p.add_argument("--timeout", type=float, default=120,
                   help="client timeout per request in seconds (default 120; slower answers count as errors)")
    p.add_argument("--buffer-pool-mb", type=int, default=Settings.from_env().buffer_pool_mb,
                   help="LadybugDB page cache for the load, the server and the floor (default CDP_BUFFER_POOL_MB)")
    p.add_argument("--out", type=Path, default=HERE / "out", help="output folder (default bench/out)")
    return p.parse_args(argv)


def _drive(generator: str, url: str, template: Path, ids: Path, args: argparse.Namespace, seconds: float,
           rate: float | None = None) -> dict:
    if rate:  # open loop on a fixed schedule: only the Python client does that (wrk is closed-loop)
        return http_load.run_python(url, template, ids, args.concurrency, seconds, timeout=args.timeout, rate=rate)
    if generator == "wrk":
        return http_load.run_wrk(url, template, ids, args.concurrency, seconds, threads=args.wrk_threads,
                                 timeout=args.timeout)
    return http_load.run_python(url, template, ids, args.concurrency, seconds, timeout=args.timeout)


def _drain(server: Server, name: str) -> float:
    """Let requests abandoned by the last run finish before measuring anything else."""
    waited = server.wait_idle()
    if waited > 2:
        _say(f"{name}: waited {waited:.0f} s for the server to finish abandoned requests")
    return round(waited, 1)


def http_phase(server: Server, generator: str, template: Path, ids: Path, args: argparse.Namespace,
               name: str, rate: float | None = None) -> dict:
    """Warm up, then drive ``/graphql`` for ``--duration`` s; add server CPU and memory figures.

    With ``rate`` the measured run is open-loop at that many requests/s (the
    warm-up stays closed-loop).
    """
    url = server.url + "/graphql"
    drained = {"before_warmup_seconds": _drain(server, name)}
    if args.warmup > 0:
        _say(f"{name}: warm-up {args.warmup:g} s")
        _drive(generator, url, template, ids, args, args.warmup)
        drained["after_warmup_seconds"] = _drain(server, name)
    how = f"{rate:g} requests/s (open loop)" if rate else f"concurrency {args.concurrency}"
    _say(f"{name}: measuring {args.duration:g} s at {how}")
    cpu_before = server.cpu_seconds()
    with RssSampler(server.pid) as sampler:
        result = _drive(generator, url, template, ids, args, args.duration, rate)
    cpu_after = server.cpu_seconds()
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    memory = server.memory_kib()
    seconds = result["seconds"] or args.duration
    result["server"] = {
        "cpu_seconds": None if cpu is None else round(cpu, 2),
        "cpu_percent": None if cpu is None else round(cpu / seconds * 100, 1),
        "peak_rss_kib": max(memory["peak_rss_kib"] or 0, sampler.hwm_kib),
        "rss_kib_end": memory["rss_kib"],
        "max_sampled_rss_kib": sampler.max_kib,
        "threads": server.threads(),
        "died": server.exit_description(),
    }
    result["client_cpu_percent"] = round(result["client_cpu_seconds"] / seconds * 100, 1)
    drained["after_run_seconds"] = _drain(server, name)
    result["drain"] = drained
    if result["server"]["died"] is None and not server.alive():
        result["server"]["died"] = server.exit_description() + " (while finishing abandoned requests)"
    if result["server"]["died"]:
        _say(f"{name}: THE SERVER DIED: {result['server']['died']}; log tail:\n{server.log_tail()}")
    lat = result["latency_ms"]
    _say(f"{name}: {result['requests_per_second']} req/s, p50 {lat['p50']} ms, p99 {lat['p99']} ms, "
         f"errors {result['errors']}, server CPU {result['server']['cpu_percent']} %")
    if result.get("error_sample"):
        _say(f"{name}: error sample: {result['error_sample'][:300]}")
    return result


def _smoke(server: Server, template: str, customer_id: str, timeout: float) -> dict:
    """One view request before the load: fail fast, with the error, if the query is broken."""
    status, payload = server.post(body_for(template, customer_id), timeout=timeout)
    if status != 200 or payload.get("errors") or not (payload.get("data") or {}).get("customer"):
        raise RuntimeError(f"the full view query fails for {customer_id}: HTTP {status}: "
                           f"{json.dumps(payload)[:2000]}")
    return payload["data"]["customer"]


def run(args: argparse.Namespace) -> dict:
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    floor_seconds = args.floor_duration or min(args.duration, 20.0)
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if http_load.wrk_available() else "python"
    if generator == "wrk" and not http_load.wrk_available():
        raise SystemExit("bench: error: wrk is not installed (Debian: apt-get install -y wrk)")

    # 1. data and bulk load
    data, generation = bulk.demo_data(out, args.customers, args.seed)
    tables = bulk.rows_per_table(data)
    ids = bulk.sample_customer_ids(data, 10_000, args.seed + 1)
    db_path = out / f"store-{args.customers}.lbdb"
    load = bulk.bulk_load(data, db_path, args.buffer_pool_mb)
    del data
    gc.collect()

    ids_path = out / f"ids-{args.customers}.txt"
    ids_path.write_text("\n".join(ids) + "\n")
    view_template_path = out / "body-view.json"
    view_template_path.write_text(view_body_template())
    trivial_path = out / "body-trivial.json"
    trivial_path.write_text(trivial_body())

    # 2. HTTP phases against the real server
    server = Server(db_path, out / f"server-{args.customers}.log", args.buffer_pool_mb)
    _say(f"starting {' '.join(['cdp', 'serve', '--no-demo', '--port', str(server.port)])}")
    ready_seconds = server.start()
    try:
        _say(f"server pid {server.pid} ready in {ready_seconds:.1f} s at {server.url}")
        _smoke(server, view_body_template(), ids[0], args.timeout)
        # The ceiling first, so no slow view request left over can disturb it.
        trivial = http_phase(server, generator, trivial_path, ids_path, args, "{ __typename }")
        if not server.alive():
            raise RuntimeError(f"the server died during the trivial query: {server.exit_description()}")
        view = http_phase(server, generator, view_template_path, ids_path, args, "full view")
        http = {"view": view, "trivial": trivial}
        if args.rate:
            http["view_at_rate"] = http_phase(server, generator, view_template_path, ids_path, args,
                                              f"full view at {args.rate:g} req/s", rate=args.rate)
        http["server_ready_seconds"] = round(ready_seconds, 2)
        http["server_command"] = " ".join(server.command)
    finally:
        status = server.stop()
        _say(f"server stopped (exit status {status})")

    # 3. store floor, read-only, nobody else holding the file
    _say(f"store floor: {floor_seconds:g} s single-threaded, {floor_seconds:g} s with {args.concurrency} threads")
    floor = store_floor.run_subprocess(db_path, args.buffer_pool_mb, ids_path, floor_seconds, args.concurrency)

    results = {
        "started_at": started_at,
        "command": " ".join(getattr(sys, "orig_argv", sys.argv)),
        "machine": machine.facts(),
        "config": {
            "customers": args.customers, "seed": args.seed, "duration_seconds": args.duration,
            "warmup_seconds": args.warmup, "concurrency": args.concurrency,
            "floor_seconds": floor_seconds, "generator": generator, "wrk_threads": args.wrk_threads,
            "open_loop_rate": args.rate,
            "client_timeout_seconds": args.timeout,
            "buffer_pool_mb": args.buffer_pool_mb, "sampled_customer_ids": len(ids),
            "view_query": VIEW_QUERY, "trivial_query": TRIVIAL_QUERY,
            "note": "the load generator runs on the same cores as the server",
        },
        "data": tables,
        "generation": generation,
        "bulk_load": load,
        "http": http,
        "store_floor": floor,
    }
    results["targets"] = report.evaluate(results)
    return results


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    t0 = time.perf_counter()
    results = run(args)
    results["total_seconds"] = round(time.perf_counter() - t0, 1)
    out: Path = args.out.resolve()
    json_path = out / f"results-{args.customers}.json"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = report.markdown(results)
    (out / f"results-{args.customers}.md").write_text(text)
    print(text)
    _say(f"wrote {json_path} ({results['total_seconds']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
