"""Cost of the operations layer (metrics, request ids, access log) on the full customer view.

Runs the same server twice per round on a loaded store, alternating:

- ``bare``: the app without ``RequestObserver`` and without the store-call hook, logging at WARNING;
- ``ops``: the app as ``cdp serve`` runs it: metrics, request ids, one JSON access line per
  request at INFO (written to a file).

Both have rate limiting off (``CDP_RATE_LIMIT=0``: one load client would hit it) and run
uvicorn as ``cdp serve`` does. ``wrk`` posts the full view (``bench/out/body-view.json``,
written by ``bench/run.py``) for random customers at concurrency 16 after a warm-up. Prints one JSON object:
per variant, each round's req/s, p50/p99 and server CPU ms per request, and the medians.

    .venv/bin/python bench/ops_overhead.py --store bench/out/store-20000.lbdb --rounds 3 --duration 10

Failures: exits non-zero when a server does not become ready or wrk fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench import http_load  # noqa: E402
from bench.server import free_port  # noqa: E402


def serve(variant: str, port: int) -> None:
    """Run the app (``variant`` bare or ops) on ``port`` until SIGTERM; settings from the environment."""
    import uvicorn

    from cdp.app import build_app
    from cdp.ops.request_log import configure_logging
    from cdp.ops.request_middleware import RequestObserver
    from cdp.settings import Settings

    settings = Settings.from_env()
    configure_logging("json", "info" if variant == "ops" else "warning")
    app = build_app(settings)
    if variant == "bare":
        app.user_middleware = [m for m in app.user_middleware if m.cls is not RequestObserver]
        app.state.store.call_observer = None
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           log_config=None, access_log=False))
    signal.signal(signal.SIGTERM, server.handle_exit)
    server.run()


def _ready(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready within {timeout} s")


def measure(variant: str, db: Path, template: Path, ids: Path, args: argparse.Namespace, log: Path) -> dict:
    """Start a ``variant`` server on ``db``, warm it up, drive it for ``args.duration`` s; its summary."""
    port = free_port()
    env = {**os.environ, "CDP_DB_PATH": str(db), "CDP_RATE_LIMIT": "0", "CDP_BUFFER_POOL_MB": "1024"}
    env.pop("NEO4J_URI", None)
    # every request needs a credential (bench/wrk_view.lua sends CDP_API_KEY); made before the
    # server opens the embedded store
    made = subprocess.run([str(ROOT / ".venv/bin/cdp"), "keys", "create", "--role", "admin", "--name",
                           "ops overhead"], env=env, capture_output=True, text=True, check=True)
    os.environ["CDP_API_KEY"] = made.stdout.strip()
    with open(log, "a") as out:
        proc = subprocess.Popen([sys.executable, __file__, "--serve", variant, "--port", str(port)],
                                env=env, stdout=out, stderr=out, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        _ready(url)
        http_load.run_wrk(url + "/graphql", template, ids, args.concurrency, args.warmup)
        server = psutil.Process(proc.pid)
        before = server.cpu_times()
        result = http_load.run_wrk(url + "/graphql", template, ids, args.concurrency, args.duration)
        after = server.cpu_times()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    lat = result["latency_ms"]
    return {"requests_per_second": result["requests_per_second"], "p50_ms": lat["p50"], "p99_ms": lat["p99"],
            "errors": result["errors"], "requests": result["requests"],
            # Server CPU per answered request: steadier than req/s when other work shares the cores.
            "cpu_ms_per_request": round((after.user + after.system - before.user - before.system)
                                        * 1000 / max(1, result["requests"]), 3)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--store", type=Path, default=HERE / "out" / "store-20000.lbdb")
    p.add_argument("--ids", type=Path, default=HERE / "out" / "ids-20000.txt")
    p.add_argument("--body", type=Path, default=HERE / "out" / "body-view.json",
                   help="request body template written by bench/run.py (the full view)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--serve", choices=["bare", "ops"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0
    work = Path(tempfile.mkdtemp(prefix="ops-overhead-"))
    db = work / args.store.name
    shutil.copy(args.store, db)  # a copy: another benchmark may hold the original open
    template = args.body
    rounds: dict[str, list[dict]] = {"bare": [], "ops": []}
    for n in range(args.rounds):
        for variant in ("bare", "ops") if n % 2 == 0 else ("ops", "bare"):
            r = measure(variant, db, template, args.ids, args, work / f"server-{variant}.log")
            print(f"round {n + 1} {variant}: {r}", file=sys.stderr)
            rounds[variant].append(r)
    summary = {v: {"rounds": rs, "median_rps": statistics.median(r["requests_per_second"] for r in rs),
                   "median_p50_ms": statistics.median(r["p50_ms"] for r in rs),
                   "median_p99_ms": statistics.median(r["p99_ms"] for r in rs),
                   "median_cpu_ms_per_request": statistics.median(r["cpu_ms_per_request"] for r in rs)}
               for v, rs in rounds.items()}
    with open(work / "server-ops.log") as log:
        access_lines = sum(1 for line in log if '"cdp.access"' in line)
    summary["ops_access_lines"] = access_lines
    summary["store"] = str(args.store)
    print(json.dumps(summary, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
