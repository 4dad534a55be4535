"""Fair share under load (issue 18, docs/limits.md "Lanes"): does one busy credential slow the others?

A real ``cdp serve`` (``python -m cdp.cli serve``, this checkout's code) on the demo data.
Two API keys of the ``app`` role: a *heavy* one and a *service desk* one.

1. idle window: the service desk sends ``{ __typename }`` and the full customer view
   (``bench.view_query.VIEW_QUERY``), one request at a time, and we note their latencies;
2. loaded window: the heavy key keeps ``--heavy-concurrency`` (30) requests of the heaviest allowed
   query in flight (``HEAVY_QUERY``: 100 customers with their 5 best offers), a closed
   loop per connection; a refusal (BUSY, RATE_LIMITED) is waited out for its
   ``Retry-After`` like a well-behaved client does (``--ignore-retry-after``: re-sent at
   once, as an abusive client would), while the service desk measures the same
   two queries again.

The windows alternate (``--cycles`` of each, ``--duration`` seconds long), so that idle and
loaded figures see the same background load of a shared machine.

The pass criteria of issue 18: under load the service desk's ``{ __typename }`` p99 is at
most 100 ms, and its view p99 at most twice its idle p99. Each load generator runs in its
own process (``python -m bench.fair_share --role ...``), so none shares the server's GIL
or the other's. The machine's load average is noted at the start of each window. Prints
one JSON document; ``make bench-fair-share`` runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench.machine import facts as machine_facts  # noqa: E402
from bench.server import Server  # noqa: E402
from bench.view_query import VIEW_QUERY  # noqa: E402

#: The heaviest query a client may send within the per-request limits (issue 18, item 4).
HEAVY_QUERY = "{ customers(first: 100) { edges { node { id recommendations(first: 5) { offer } } } } }"
TRIVIAL_QUERY = "{ __typename }"


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None}
    s = sorted(values)

    def p(q: float) -> float:
        return round(s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))], 2)

    return {"n": len(s), "p50": p(50), "p90": p(90), "p99": p(99), "max": round(s[-1], 2)}


async def _heavy(url: str, key: str, concurrency: int, duration: float, honour: bool) -> dict:
    """Keep ``concurrency`` heavy requests in flight for ``duration`` s; count the outcomes."""
    import httpx

    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    body = json.dumps({"query": HEAVY_QUERY})
    outcomes: dict[str, int] = {}
    ok_ms: list[float] = []
    deadline = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=600) as client:
        async def worker() -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    r = await client.post(url, content=body, headers=headers)
                except httpx.HTTPError:
                    outcomes["socket_error"] = outcomes.get("socket_error", 0) + 1
                    await asyncio.sleep(0.1)
                    continue
                errors = r.json().get("errors") if r.headers.get("content-type", "").startswith(
                    "application/json") else [{"extensions": {"code": f"HTTP {r.status_code}"}}]
                code = (errors[0].get("extensions") or {}).get("code", "?") if errors else "ok"
                outcomes[code] = outcomes.get(code, 0) + 1
                if code == "ok":
                    ok_ms.append((time.perf_counter() - t0) * 1000)
                elif honour and "retry-after" in r.headers:
                    await asyncio.sleep(float(r.headers["retry-after"]) * random.uniform(1.0, 1.2))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"outcomes": outcomes, "ok_ms": ok_ms}


def _probe(url: str, key: str, duration: float, ids: list[str], gap: float) -> dict:
    """One request at a time, alternating ``{ __typename }`` and the view, for ``duration`` s."""
    import httpx

    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    trivial = json.dumps({"query": TRIVIAL_QUERY})
    rng = random.Random(1)
    times: dict[str, list[float]] = {"typename": [], "view": []}
    failures: dict[str, int] = {}
    deadline = time.perf_counter() + duration
    with httpx.Client(timeout=600) as client:
        while time.perf_counter() < deadline:
            for name in ("typename", "view"):
                body = trivial if name == "typename" else json.dumps(
                    {"query": VIEW_QUERY, "variables": {"id": rng.choice(ids)}})
                t0 = time.perf_counter()
                r = client.post(url, content=body, headers=headers)
                elapsed = (time.perf_counter() - t0) * 1000
                if r.status_code != 200 or "errors" in r.json():
                    failures[name] = failures.get(name, 0) + 1
                    if failures[name] == 1:
                        failures[name + "_sample"] = r.text[:500]  # type: ignore[assignment]
                else:
                    times[name].append(elapsed)
                time.sleep(gap)
    return {"typename_ms": times["typename"], "view_ms": times["view"], "failures": failures}


def _spawn(role: str, url: str, key: str, duration: float, extra: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "bench.fair_share", "--role", role, "--url", url, "--key", key,
           "--duration", str(duration), *extra]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)})


def _result(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"load process failed ({proc.returncode}): {out[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "cdp.cli", *args], env=env, capture_output=True, text=True,
                          cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"cdp {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def run(args: argparse.Namespace) -> dict:
    work = Path(args.workdir or tempfile.mkdtemp(prefix="cdp-fair-share-"))
    db = work / "demo.lbdb"
    # this checkout's code first (the cdp console script would import the installed one)
    python_path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "CDP_DB_PATH": str(db), "PYTHONPATH": python_path}
    if not db.exists():
        _cli(env, "demo", "load", "--customers", str(args.customers), "--seed", "42")
    heavy_key = _cli(env, "keys", "create", "--role", "app", "--name", "heavy partner")
    desk_key = _cli(env, "keys", "create", "--role", "app", "--name", "service desk")
    # the server's own limits stay at their defaults (CDP_RATE_LIMIT=100 per credential):
    # this benchmark is about what a client can do within them
    server = Server(db, work / "server.log", cli=[sys.executable, "-m", "cdp.cli"],
                    env={"PYTHONPATH": python_path, "CDP_RATE_LIMIT": os.environ.get("CDP_RATE_LIMIT", "100"),
                         "CDP_RATE_BURST": os.environ.get("CDP_RATE_BURST", "200")})
    started = server.start()
    url = server.url + "/graphql"
    probe_args = ["--gap", str(args.gap), "--customers", str(args.customers)]
    heavy_args = ["--heavy-concurrency", str(args.heavy_concurrency)]
    if args.ignore_retry_after:
        heavy_args.append("--ignore-retry-after")
    samples: dict[str, dict[str, list[float]]] = {"idle": {"typename_ms": [], "view_ms": []},
                                                  "under_load": {"typename_ms": [], "view_ms": []}}
    failures: dict[str, dict] = {"idle": {}, "under_load": {}}
    heavy_outcomes: dict[str, int] = {}
    heavy_ok_ms: list[float] = []
    # the machine's 1-minute load average at the start of each window: on a shared machine
    # it says how far the figures are from a quiet machine's
    load: dict[str, list[float]] = {"idle": [], "under_load": []}
    try:
        # warm up: the analytic projection and the recommendation engine are built on first use
        _result(_spawn("heavy", url, heavy_key, 5, ["--heavy-concurrency", "1"]))
        # idle and loaded windows alternate, so both see the same background load of the machine
        for _ in range(args.cycles):
            server.wait_idle(300)
            load["idle"].append(round(os.getloadavg()[0], 2))
            idle = _result(_spawn("probe", url, desk_key, args.duration, probe_args))
            heavy = _spawn("heavy", url, heavy_key, args.duration + 4, heavy_args)
            time.sleep(3)  # let the load build up
            load["under_load"].append(round(os.getloadavg()[0], 2))
            loaded = _result(_spawn("probe", url, desk_key, args.duration, probe_args))
            burst = _result(heavy)
            for phase, got in (("idle", idle), ("under_load", loaded)):
                for name in ("typename_ms", "view_ms"):
                    samples[phase][name] += got[name]
                for k, v in got["failures"].items():
                    failures[phase][k] = v if isinstance(v, str) else failures[phase].get(k, 0) + v
            for code, n in burst["outcomes"].items():
                heavy_outcomes[code] = heavy_outcomes.get(code, 0) + n
            heavy_ok_ms += burst["ok_ms"]
        server.wait_idle(300)
    finally:
        server.stop()
    idle_result = {k: _percentiles(v) for k, v in samples["idle"].items()} | {"failures": failures["idle"]}
    loaded_result = {k: _percentiles(v) for k, v in samples["under_load"].items()} | {
        "failures": failures["under_load"]}
    heavy_result = {"outcomes": heavy_outcomes, "ok_latency_ms": _percentiles(heavy_ok_ms)}
    idle_view, load_view = idle_result["view_ms"]["p99"], loaded_result["view_ms"]["p99"]
    verdict = {
        "typename_p99_ms": loaded_result["typename_ms"]["p99"],
        "typename_p99_ok": (loaded_result["typename_ms"]["p99"] or 1e9) <= 100,
        "view_p99_ratio": round(load_view / idle_view, 2) if idle_view and load_view else None,
        "view_p99_ok": bool(idle_view and load_view and load_view <= 2 * idle_view),
        "view_p50_ratio": round(loaded_result["view_ms"]["p50"] / idle_result["view_ms"]["p50"], 2)
        if idle_result["view_ms"]["p50"] and loaded_result["view_ms"]["p50"] else None,
    }
    return {
        "benchmark": "fair share under load (bench/fair_share.py)",
        "command": " ".join([Path(sys.executable).name, "bench/fair_share.py", *sys.argv[1:]]),
        "customers": args.customers,
        "heavy_query": HEAVY_QUERY,
        "heavy_concurrency": args.heavy_concurrency,
        "heavy_honours_retry_after": not args.ignore_retry_after,
        "windows": f"{args.cycles} x ({args.duration:g} s idle, {args.duration:g} s under load)",
        "server_settings": {k: v for k, v in os.environ.items() if k.startswith("CDP_HEAVY_")},
        "server_start_s": round(started, 1),
        "load_average_1min": load | {"after": round(os.getloadavg()[0], 2)},
        "idle": idle_result,
        "under_load": loaded_result,
        "heavy": heavy_result,
        "verdict": verdict,
        "machine": machine_facts(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=2000, help="demo customers (the README's default)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of each measured window")
    p.add_argument("--cycles", type=int, default=3, help="idle and loaded windows, alternating")
    p.add_argument("--heavy-concurrency", type=int, default=30)
    p.add_argument("--ignore-retry-after", action="store_true", help="the heavy client re-sends refusals at once")
    p.add_argument("--gap", type=float, default=0.02, help="seconds between the service desk's requests")
    p.add_argument("--workdir", help="folder for the store and the server log (default: a new temporary one)")
    p.add_argument("--role", choices=["run", "heavy", "probe"], default="run", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--key", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.role == "heavy":
        print(json.dumps(asyncio.run(_heavy(args.url, args.key, args.heavy_concurrency, args.duration,
                                            not args.ignore_retry_after))))
    elif args.role == "probe":
        ids = [f"C{i:07d}" for i in range(1, args.customers + 1)]
        print(json.dumps(_probe(args.url, args.key, args.duration, ids, args.gap)))
    else:
        print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
