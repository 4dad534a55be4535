"""cdp's customer view side by side with the Neo4j GraphQL Library, on the same graph (issue 27).

    .venv/bin/python bench/view_vs_neo4j_graphql.py                 # make bench-view
    .venv/bin/python bench/view_vs_neo4j_graphql.py --duration 5 --connections 16

In one run, on one machine:

1. installs the Neo4j GraphQL Library 7.6.3 on Apollo Server 5 with the pinned versions of
   ``bench/neo4j-graphql/package-lock.json`` (``npm ci``; the registry is checked first);
2. generates cdp's seeded demo data (``cdp.demo.telecom.generate``, cached as Parquet under
   ``bench/out/``), starts a fresh local Neo4j 5.26 (``tools/neo4j``) and bulk-loads the data
   into it and into a fresh embedded store with ``GraphStore.bulk_load`` (what ``cdp demo load``
   does);
3. starts three servers: the library (``node bench/neo4j-graphql/server.mjs``), ``cdp serve`` on
   that Neo4j and ``cdp serve`` on the embedded store, and checks that the three answer the
   same view with the same accounts, subscriptions, products, contacts and channels;
4. drives each with the same load generator (wrk if installed, else ``bench/http_load.py``)
   and the same random customer ids, the same view fields, at each ``--connections`` for
   ``--duration`` s after a warm-up, then cdp's fuller view; per phase it reads the CPU time of
   every process involved (``/proc/<pid>/stat`` through psutil: the server and its workers,
   Neo4j's JVM, the load generator) before and after.

Prints a Markdown table and writes ``bench/out/view-vs-library-<customers>.json`` and ``.md``.
Exits 1 when a server fails to start or answers differently; errors under load are reported
in the table (a phase with errors does not count as a result).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from bench import bulk, http_load, machine, neo4j_import  # noqa: E402
from bench.server import Server, free_port  # noqa: E402
from bench.view_query import (  # noqa: E402
    CUSTOMER_VIEW_QUERY, FULLER_VIEW_QUERY, LIBRARY_VIEW_QUERY, body_for, body_template)

LIBRARY_DIR = HERE / "neo4j-graphql"
LIBRARY_VERSION = "7.6.3"
LIBRARY_READY = "LIBRARY READY "


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="cdp's customer view against the Neo4j GraphQL Library.")
    p.add_argument("--customers", type=int, default=2000, help="demo customers (default 2,000)")
    p.add_argument("--seed", type=int, default=42, help="demo data seed (default 42)")
    p.add_argument("--duration", type=float, default=20, help="measured seconds per phase (default 20)")
    p.add_argument("--warmup", type=float, default=5, help="unmeasured seconds before each phase (default 5)")
    p.add_argument("--connections", default="1,16", help="comma-separated connection counts (default 1,16)")
    p.add_argument("--servers", default="library,cdp-neo4j,cdp-embedded",
                   help="which servers to measure (default all three)")
    p.add_argument("--cdp-workers", type=int, default=None,
                   help="`cdp serve --workers N` for cdp on Neo4j (default: cdp's default)")
    p.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto",
                   help="load generator (default: wrk when installed, else the Python client)")
    p.add_argument("--timeout", type=float, default=30, help="client timeout per request, s (default 30)")
    p.add_argument("--out", type=Path, default=HERE / "out", help="output folder (default bench/out)")
    p.add_argument("--neo4j-heap", default="1g", help="Neo4j JVM heap (default 1g)")
    p.add_argument("--neo4j-load", choices=["auto", "driver", "import"], default="auto",
                   help="how the data gets into Neo4j: GraphStore.bulk_load through the driver, or "
                        "neo4j-admin's offline import (bench/neo4j_import.py); auto: import above "
                        "20,000 customers")
    return p.parse_args(argv)


# -- the library ------------------------------------------------------------------------------

def install_library() -> dict:
    """``npm ci`` the pinned library into ``bench/neo4j-graphql`` unless already installed there.

    Raises ``SystemExit`` when npm is missing or the registry does not answer."""
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        raise SystemExit("bench: error: node and npm are needed (Debian: apt-get install -y nodejs npm)")
    lock = LIBRARY_DIR / "package-lock.json"
    stamp = LIBRARY_DIR / "node_modules" / ".package-lock.json"
    installed = stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime
    if not installed:
        seen = subprocess.run([npm, "view", f"@neo4j/graphql@{LIBRARY_VERSION}", "version"],
                              capture_output=True, text=True, timeout=120)
        if seen.returncode != 0 or seen.stdout.strip() != LIBRARY_VERSION:
            raise SystemExit(f"bench: error: the npm registry does not answer for @neo4j/graphql@{LIBRARY_VERSION}:"
                             f" {seen.stderr.strip()[:500]}")
        _say("installing the Neo4j GraphQL Library (npm ci, pinned versions)")
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=LIBRARY_DIR)
        if done.returncode != 0:
            raise SystemExit(f"bench: error: npm ci failed in {LIBRARY_DIR}")
    versions = {}
    for name in ("@neo4j/graphql", "@apollo/server", "graphql", "neo4j-driver"):
        meta = json.loads((LIBRARY_DIR / "node_modules" / name / "package.json").read_text())
        versions[name] = meta["version"]
    versions["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return versions


class Library:
    """``node bench/neo4j-graphql/server.mjs`` on a free loopback port, over the Neo4j at ``uri``."""

    def __init__(self, uri: str, log_path: Path) -> None:
        self.uri = uri
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graphql_url(self) -> str:
        return self.url + "/"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 120.0) -> float:
        """Start the server; return the seconds until it printed its ready line. Raises RuntimeError."""
        env = dict(os.environ, NEO4J_URI=self.uri, PORT=str(self.port))
        started = time.perf_counter()
        log = open(self.log_path, "w")  # noqa: SIM115 - the server inherits it; closed once started
        self.process = subprocess.Popen(["node", "server.mjs"], cwd=LIBRARY_DIR, env=env, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"the library server exited ({self.process.returncode}):\n{self.log_tail()}")
            if LIBRARY_READY in self.log_path.read_text():
                return time.perf_counter() - started
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the library server was not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def post(self, body: str, timeout: float = 30.0) -> tuple[int, dict]:
        import urllib.error
        import urllib.request

        req = urllib.request.Request(self.graphql_url, data=body.encode(), headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def cpu_seconds(self) -> float | None:
        return process_cpu(self.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def process_cpu(pid: int, children: bool = True) -> float | None:
    """User + system CPU seconds of ``pid`` (and its live children) so far; None once it is gone."""
    try:
        proc = psutil.Process(pid)
        total = 0.0
        for p in [proc, *(proc.children(recursive=True) if children else [])]:
            t = p.cpu_times()
            total += t.user + t.system
        return total
    except psutil.Error:
        return None


# -- Neo4j and the data -----------------------------------------------------------------------

def start_neo4j(home: Path, heap: str):  # type: ignore[no-untyped-def]
    """A fresh local Neo4j 5.26 (tools/neo4j) in ``home``; returns the started ``LocalNeo4j``."""
    os.environ.setdefault("CDP_NEO4J_HEAP", heap)
    sys.path.insert(0, str(ROOT / "tools" / "neo4j"))
    try:
        import local as neo4j_local  # tools/neo4j/local.py
    finally:
        sys.path.pop(0)
    neo4j_local.HEAP = heap
    server = neo4j_local.LocalNeo4j(home, free_port())
    _say("starting a local Neo4j 5.26 (tools/neo4j)")
    try:
        server.start()
    except neo4j_local.Neo4jUnavailable as exc:
        raise SystemExit(f"bench: error: {exc}") from exc
    return server


def load_neo4j(data, uri: str) -> dict:  # type: ignore[no-untyped-def]
    """Bulk-load ``data`` into the empty Neo4j at ``uri`` with ``GraphStore.bulk_load``; rows and seconds."""
    from cdp.settings import Settings
    from cdp.store import open_store

    store = open_store(Settings(neo4j_uri=uri))
    try:
        _say(f"bulk-loading {data.row_count():,} rows into Neo4j at {uri}")
        started = time.perf_counter()
        rows = store.bulk_load(data.nodes, data.relationships)
        seconds = time.perf_counter() - started
    finally:
        store.close()
    _say(f"loaded {rows:,} rows into Neo4j in {seconds:.1f} s")
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds)}


def open_schema(uri: str) -> float:
    """Open cdp's store once on the imported graph: it creates its constraints and indexes
    (``ensure_schema``) and seeds what it seeds; return the seconds that took."""
    from cdp.settings import Settings
    from cdp.store import open_store

    started = time.perf_counter()
    store = open_store(Settings(neo4j_uri=uri))
    store.close()
    seconds = time.perf_counter() - started
    _say(f"cdp's constraints and indexes on the imported graph in {seconds:.1f} s")
    return round(seconds, 2)


# -- same answers -----------------------------------------------------------------------------

def _shape(customer: dict) -> dict:
    """The ids a view holds, in a form both APIs give alike (contacts in their order)."""
    contacts = customer["contacts"]
    if isinstance(contacts, dict):  # cdp: a connection
        contacts = [e["node"] for e in contacts["edges"]]
    return {
        "id": customer["id"],
        "accounts": sorted(
            (a["id"], sorted((s["id"], (s.get("product") or {}).get("id")) for s in a["subscriptions"]))
            for a in customer["accounts"]),
        "contacts": [(c["id"], c["at"][:19], (c.get("channel") or {}).get("id")) for c in contacts],
    }


def same_answers(servers: dict, ids: list[str], timeout: float) -> dict:
    """Ask every server the plain view of ``ids``; raise RuntimeError on an error or a difference."""
    checked = 0
    for customer_id in ids:
        shapes = {}
        for name, srv in servers.items():
            query = LIBRARY_VIEW_QUERY if name == "library" else CUSTOMER_VIEW_QUERY
            status, payload = srv.post(body_for(body_template(query), customer_id), timeout=timeout)
            data = (payload.get("data") or {})
            customer = data.get("customer") if name != "library" else (data.get("customers") or [None])[0]
            if status != 200 or payload.get("errors") or not customer:
                raise RuntimeError(f"{name} fails the view of {customer_id}: HTTP {status}: "
                                   f"{json.dumps(payload)[:1500]}")
            shapes[name] = _shape(customer)
        first = next(iter(shapes.values()))
        for name, shape in shapes.items():
            if shape != first:
                raise RuntimeError(f"{name} answers {customer_id} differently:\n{shape}\nagainst\n{first}")
        checked += 1
    return {"customers_compared": checked, "servers": list(servers)}


# -- one measured phase -----------------------------------------------------------------------

def _drive(generator: str, url: str, template: Path, ids: Path, connections: int, seconds: float,
           timeout: float) -> dict:
    if generator == "wrk":
        return http_load.run_wrk(url, template, ids, connections, seconds, threads=1, timeout=timeout)
    return http_load.run_python(url, template, ids, connections, seconds, timeout=timeout)


def phase(name: str, srv, url: str, neo4j_pid: int | None, generator: str, template: Path, ids: Path,
          connections: int, args: argparse.Namespace) -> dict:
    """Warm up, then measure ``srv`` at ``connections`` for ``--duration`` s; figures per view."""
    if args.warmup > 0:
        _drive(generator, url, template, ids, connections, args.warmup, args.timeout)
    time.sleep(0.5)
    before = {"server": srv.cpu_seconds(), "neo4j": process_cpu(neo4j_pid) if neo4j_pid else None}
    result = _drive(generator, url, template, ids, connections, args.duration, args.timeout)
    after = {"server": srv.cpu_seconds(), "neo4j": process_cpu(neo4j_pid) if neo4j_pid else None}
    views = max(1, result["requests"])
    cpu = {}
    for key in before:
        if before[key] is not None and after[key] is not None:
            cpu[key] = after[key] - before[key]
    cpu["client"] = result["client_cpu_seconds"]
    row = {
        "server": name,
        "connections": connections,
        "views": result["requests"],
        "seconds": result["seconds"],
        "views_per_second": result["requests_per_second"],
        "p50_ms": result["latency_ms"]["p50"],
        "p99_ms": result["latency_ms"]["p99"],
        "errors": result["errors"],
        "error_sample": result.get("error_sample"),
        "cpu_ms_per_view": {k: round(v * 1000 / views, 2) for k, v in cpu.items()},
        "cpu_percent": {k: round(v / max(result["seconds"], 1e-9) * 100, 1) for k, v in cpu.items()},
        "generator": result["generator"],
    }
    c = row["cpu_ms_per_view"]
    _say(f"{name} @{connections}: {row['views_per_second']} views/s, p50 {row['p50_ms']} ms, "
         f"p99 {row['p99_ms']} ms, errors {row['errors']}, CPU/view server {c.get('server')} ms "
         f"neo4j {c.get('neo4j')} ms")
    if row["error_sample"]:
        _say(f"{name}: error sample: {row['error_sample'][:300]}")
    return row


# -- report -----------------------------------------------------------------------------------

def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f} ms" if v < 100 else f"{v:.0f} ms"


def markdown(results: dict) -> str:
    lines = ["| server | view | connections | views/s | p50 | p99 | CPU/view server | CPU/view Neo4j | errors |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["phases"]:
        c = r["cpu_ms_per_view"]
        neo = "-" if c.get("neo4j") is None else f"{c['neo4j']:.2f} ms"
        lines.append(f"| {results['labels'][r['server']]} | {r['view']} | {r['connections']} | "
                     f"{r['views_per_second']:,.1f} | {_ms(r['p50_ms'])} | {_ms(r['p99_ms'])} | "
                     f"{c.get('server', 0):.2f} ms | {neo} | {r['errors']} |")
    lines.append("")
    lines.append("| ratio | value |")
    lines.append("|---|---:|")
    lines += [f"| {k} | {v} |" for k, v in results.get("targets", {}).items()]
    return "\n".join(lines)


def targets(phases: list[dict]) -> dict:
    """The issue's targets, evaluated on this run's figures."""
    def find(server: str, view: str, conns: int) -> dict | None:
        return next((p for p in phases if p["server"] == server and p["view"] == view
                     and p["connections"] == conns), None)

    out: dict = {}
    lib16, lib1 = find("library", "plain", 16), find("library", "plain", 1)
    for name in ("cdp-neo4j", "cdp-embedded"):
        own16, own1 = find(name, "plain", 16), find(name, "plain", 1)
        full16 = find(name, "fuller", 16)
        if lib16 and own16:
            out[f"{name} views/s vs library @16"] = round(own16["views_per_second"] / lib16["views_per_second"], 2)
            out[f"{name} p99 vs library @16"] = round((own16["p99_ms"] or 0) / (lib16["p99_ms"] or 1), 2)
        if lib1 and own1:
            out[f"{name} p50 vs library @1"] = round((own1["p50_ms"] or 0) / (lib1["p50_ms"] or 1), 2)
        if own16 and full16:
            out[f"{name} fuller/plain cost @16"] = round(own16["views_per_second"] / full16["views_per_second"], 2)
            out[f"{name} fuller/plain CPU per view @16"] = round(_cpu(full16) / max(_cpu(own16), 1e-9), 2)
    for name in ("cdp-neo4j", "cdp-embedded"):
        own16 = find(name, "plain", 16)
        if lib16 and own16:
            out[f"{name} CPU per view vs library @16"] = round(_cpu(own16) / max(_cpu(lib16), 1e-9), 2)
    return out


def _cpu(row: dict) -> float:
    """Server plus Neo4j CPU milliseconds per view of a phase (what a view costs the machine)."""
    c = row["cpu_ms_per_view"]
    return c.get("server", 0.0) + (c.get("neo4j") or 0.0)


def run(args: argparse.Namespace) -> dict:
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    connections = [int(c) for c in args.connections.split(",")]
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if http_load.wrk_available() else "python"
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    versions = install_library() if "library" in wanted else {}

    data, generation = bulk.demo_data(out, args.customers, args.seed)
    ids = bulk.sample_customer_ids(data, 10_000, args.seed + 1)
    ids_path = out / f"view-ids-{args.customers}.txt"
    ids_path.write_text("\n".join(ids) + "\n")
    templates = {}
    for view, query in (("plain", CUSTOMER_VIEW_QUERY), ("fuller", FULLER_VIEW_QUERY), ("library", LIBRARY_VIEW_QUERY)):
        templates[view] = out / f"view-body-{view}.json"
        templates[view].write_text(body_template(query))

    work = Path(tempfile.mkdtemp(prefix="cdp-view-bench-", dir=out))
    neo4j = None
    servers: dict = {}
    try:
        loads = {}
        need_neo4j = any(s in wanted for s in ("library", "cdp-neo4j"))
        if need_neo4j:
            how = args.neo4j_load if args.neo4j_load != "auto" else (
                "import" if args.customers > 20_000 else "driver")
            if how == "import":
                _say(f"importing {data.row_count():,} rows into a fresh Neo4j with neo4j-admin")
                loads["neo4j"] = neo4j_import.import_demo(data, work / "neo4j")
                _say(f"imported in {loads['neo4j']['seconds']} s ({loads['neo4j']['rows_per_second']:,} rows/s)")
            neo4j = start_neo4j(work / "neo4j", args.neo4j_heap)
            if how == "import":
                loads["neo4j"]["schema_seconds"] = open_schema(neo4j.uri)
            else:
                loads["neo4j"] = load_neo4j(data, neo4j.uri)
        if "cdp-embedded" in wanted:
            db_path = work / f"store-{args.customers}.lbdb"
            from cdp.settings import Settings

            loads["embedded"] = bulk.bulk_load(data, db_path, Settings.from_env().buffer_pool_mb)
        del data

        cdp_cmd = [sys.executable, "-m", "cdp.cli"]
        py_env = {"PYTHONPATH": str(ROOT)}
        if "library" in wanted:
            servers["library"] = Library(neo4j.uri, work / "library.log")
        if "cdp-neo4j" in wanted:
            workers = ["--workers", str(args.cdp_workers)] if args.cdp_workers else []
            servers["cdp-neo4j"] = Server(work / "unused.lbdb", work / "cdp-neo4j.log",
                                          env={**py_env, "NEO4J_URI": neo4j.uri}, cli=cdp_cmd, serve_args=workers)
        if "cdp-embedded" in wanted:
            servers["cdp-embedded"] = Server(db_path, work / "cdp-embedded.log", env=py_env, cli=cdp_cmd)
        keys = {}
        for name, srv in servers.items():
            seconds = srv.start()
            keys[name] = getattr(srv, "api_key", "")
            _say(f"{name} ready in {seconds:.1f} s (pid {srv.pid})")
        compared = same_answers(servers, ids[:20], args.timeout)
        _say(f"same answers from {', '.join(servers)} for {compared['customers_compared']} customers")

        phases = []
        neo4j_pid = neo4j.process.pid if neo4j else None
        for name, srv in servers.items():
            views = ["library"] if name == "library" else ["plain", "fuller"]
            url = srv.graphql_url if name == "library" else srv.url + "/graphql"
            os.environ["CDP_API_KEY"] = keys[name]  # the load generators send it (the library ignores it)
            for view in views:
                for conns in connections:
                    row = phase(name, srv, url, neo4j_pid if name != "cdp-embedded" else None, generator,
                                templates[view], ids_path, conns, args)
                    row["view"] = "plain" if view == "library" else view
                    phases.append(row)
    finally:
        for srv in servers.values():
            srv.stop()
        if neo4j is not None:
            neo4j.stop()
        shutil.rmtree(work, ignore_errors=True)

    results = {
        "started_at": started_at,
        "command": " ".join(getattr(sys, "orig_argv", sys.argv)),
        "customers": args.customers,
        "seed": args.seed,
        "duration_seconds": args.duration,
        "warmup_seconds": args.warmup,
        "generator": generator,
        "machine": machine.facts(),
        "library_versions": versions,
        "loads": loads,
        "same_answers": compared,
        "labels": {"library": f"Neo4j GraphQL Library {versions.get('@neo4j/graphql', '')} "
                              f"(Apollo {versions.get('@apollo/server', '')}, Node {versions.get('node', '')})",
                   "cdp-neo4j": "cdp on Neo4j" + (f" (--workers {args.cdp_workers})" if args.cdp_workers else ""),
                   "cdp-embedded": "cdp embedded"},
        "phases": phases,
    }
    results["targets"] = targets(phases)
    return results


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    try:
        results = run(args)
    except RuntimeError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    text = markdown(results)
    base = args.out.resolve() / f"view-vs-library-{args.customers}"
    base.with_suffix(".json").write_text(json.dumps(results, indent=2))
    base.with_suffix(".md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
