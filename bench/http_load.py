"""HTTP load generation against ``/graphql`` at a fixed concurrency.

Two generators, same result shape:

- ``run_wrk``: ``wrk`` (C, event loop, light on CPU) with ``bench/wrk_view.lua``
  posting a body template with a random customer id per request;
- ``run_python``: a fallback asyncio + httpx client, always in a separate
  process (``python -m bench.http_load ...``) so it does not share the
  benchmark's GIL.

Both count as errors any non-200 response, any 200 whose body carries GraphQL
``errors``, and any socket error or timeout. Latency is measured per request
from sending to receiving the full response (closed loop: each connection
sends its next request when the previous one is answered); requests still
unanswered when the run ends are not counted, and latency is ``None`` when
no request was answered at all.
The result also carries ``client_cpu_seconds``: the load generator's own CPU
use, which competes with the server for the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import math
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LUA = HERE / "wrk_view.lua"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def _summary(generator: str, requests: int, seconds: float, latencies_ms: dict[str, float | None],
             non200: int, graphql_errors: int, socket_errors: int, client_cpu: float, extra: dict) -> dict:
    errors = non200 + graphql_errors + socket_errors
    return {
        "generator": generator,
        "requests": requests,
        "seconds": round(seconds, 2),
        "requests_per_second": round(requests / seconds, 1) if seconds else 0.0,
        "ok_requests_per_second": round(max(0, requests - non200 - graphql_errors) / seconds, 1) if seconds else 0.0,
        "latency_ms": {k: None if v is None else round(v, 2) for k, v in latencies_ms.items()},
        "errors": errors,
        "non200": non200,
        "graphql_errors": graphql_errors,
        "socket_errors": socket_errors,
        "client_cpu_seconds": round(client_cpu, 2),
        **extra,
    }


def auth_headers() -> dict[str, str]:
    """The credential of the benchmark's requests: ``CDP_API_KEY`` (set by ``bench.server.Server``)."""
    key = os.environ.get("CDP_API_KEY")
    return {"Authorization": f"Bearer {key}"} if key else {}


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, template: Path, ids: Path, concurrency: int, duration: float,
            threads: int = 1, timeout: float = 120.0) -> dict:
    """Drive ``url`` with wrk for ``duration`` seconds; return the summary dict."""
    cmd = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(duration))}s",
           f"--timeout={timeout:g}s", "--latency", "-s", str(LUA), url, "--", str(ids), str(template)]
    before = _children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
    client_cpu = _children_cpu() - before
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    raw = json.loads(line.split(" ", 1)[1])
    sample = next((ln.split(" ", 1)[1] for ln in proc.stdout.splitlines() if ln.startswith("BENCH_ERROR ")), None)
    lat = {k: v / 1000 for k, v in raw["latency_us"].items() if k in ("p50", "p90", "p99", "max", "mean")}
    if raw["responses"] == 0:  # nothing answered in time: there is no latency to report
        lat = dict.fromkeys(lat)
    sock = raw["socket_errors"]
    socket_errors = sock["connect"] + sock["read"] + sock["write"] + sock["timeout"]
    # wrk counts a request cut off at the end of the run only in "requests"; use answered ones.
    return _summary(f"wrk ({threads} thread{'s' if threads > 1 else ''}, {concurrency} connections)",
                    raw["responses"], raw["duration_us"] / 1e6, lat, raw["non200"], raw["graphql_errors"],
                    socket_errors, client_cpu,
                    {"bytes_per_response": round(raw["bytes"] / max(1, raw["requests"])),
                     "wrk_socket_errors": sock, "error_sample": sample, "command": " ".join(cmd)})


def run_python(url: str, template: Path, ids: Path, concurrency: int, duration: float,
               timeout: float = 120.0, rate: float | None = None) -> dict:
    """Drive ``url`` with the asyncio/httpx client in a separate process.

    With ``rate``, the load is open-loop: requests are sent on a fixed
    schedule of ``rate`` per second (at most ``concurrency`` in flight) and
    each latency is measured from its scheduled send time, so time spent
    queued for a free connection counts (no coordinated omission).
    """
    cmd = [sys.executable, "-m", "bench.http_load", "--url", url, "--template", str(template),
           "--ids", str(ids), "--concurrency", str(concurrency), "--duration", str(duration),
           "--timeout", str(timeout)]
    if rate:
        cmd += ["--rate", str(rate)]
    before = _children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=duration + 120)
    client_cpu = _children_cpu() - before
    if proc.returncode != 0:
        raise RuntimeError(f"python load client failed ({proc.returncode}):\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["client_cpu_seconds"] = round(client_cpu, 2)
    result["command"] = " ".join(cmd)
    return result


async def _drive(url: str, template: str, ids: list[str], concurrency: int, duration: float,
                 timeout: float, rate: float | None = None) -> dict:
    import httpx

    from bench.view_query import ID_PLACEHOLDER, body_for

    latencies: list[float] = []
    counts = {"non200": 0, "graphql_errors": 0, "socket_errors": 0}
    samples: list[str] = []
    has_id = ID_PLACEHOLDER in template
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Content-Type": "application/json", **auth_headers()}
    rng = random.Random()
    pending: set[asyncio.Task] = set()  # open loop: requests sent and not answered yet
    started = time.perf_counter()

    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        async def one(scheduled: float, slots: asyncio.Semaphore) -> None:
            async with slots:
                body = body_for(template, rng.choice(ids)) if has_id else template
                try:
                    resp = await client.post(url, content=body, headers=headers)
                except httpx.HTTPError:
                    counts["socket_errors"] += 1
                    return
            latencies.append((time.perf_counter() - scheduled) * 1000)
            if resp.status_code != 200:
                counts["non200"] += 1
                samples.append(f"{resp.status_code} {resp.text[:2000]}")
            elif b'"errors"' in resp.content:
                counts["graphql_errors"] += 1
                samples.append(f"{resp.status_code} {resp.text[:2000]}")

        async def scheduler() -> None:
            slots = asyncio.Semaphore(concurrency)
            k = 0
            while True:
                scheduled = started + k / rate  # type: ignore[operator]
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(one(scheduled, slots))
                pending.add(task)
                task.add_done_callback(pending.discard)
                k += 1

        async def worker() -> None:
            while True:
                body = body_for(template, rng.choice(ids)) if has_id else template
                t0 = time.perf_counter()
                try:
                    resp = await client.post(url, content=body, headers=headers)
                except httpx.HTTPError:
                    counts["socket_errors"] += 1
                    await asyncio.sleep(0.01)
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                if resp.status_code != 200:
                    counts["non200"] += 1
                elif b'"errors"' in resp.content:
                    counts["graphql_errors"] += 1
                else:
                    continue
                samples.append(f"{resp.status_code} {resp.text[:2000]}")

        # Like wrk: stop at the deadline and drop the requests still in flight.
        tasks = [asyncio.create_task(scheduler())] if rate else [
            asyncio.create_task(worker()) for _ in range(concurrency)]
        await asyncio.sleep(duration)
        tasks += list(pending)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    seconds = time.perf_counter() - started
    latencies.sort()
    lat: dict[str, float | None] = {"p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    if latencies:
        lat = {"p50": _percentile(latencies, 50), "p90": _percentile(latencies, 90),
               "p99": _percentile(latencies, 99), "max": latencies[-1], "mean": sum(latencies) / len(latencies)}
    mode = f"open loop at {rate:g} req/s, at most {concurrency} in flight" if rate else f"{concurrency} connections"
    return _summary(f"python asyncio+httpx ({mode}, separate process)",
                    len(latencies), seconds, lat, counts["non200"], counts["graphql_errors"],
                    counts["socket_errors"], 0.0, {"error_sample": samples[0] if samples else None})


def main(argv: list[str] | None = None) -> int:
    """CLI of the Python fallback client: prints one JSON summary line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--template", required=True, help="file with the JSON body (may hold the id placeholder)")
    p.add_argument("--ids", required=True, help="file with one customer id per line")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--rate", type=float, default=None,
                   help="open loop: send this many requests per second on a fixed schedule")
    args = p.parse_args(argv)
    template = Path(args.template).read_text().strip()
    ids = [ln for ln in Path(args.ids).read_text().splitlines() if ln]
    result = asyncio.run(_drive(args.url, template, ids, args.concurrency, args.duration, args.timeout,
                                args.rate))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
