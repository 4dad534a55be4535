"""Start, stop and wrap a local Neo4j Community 5.26 (tools/neo4j, no Docker).

    python tools/neo4j/local.py build            # resolve and compile once (Maven; cached)
    python tools/neo4j/local.py serve [--port N] # run in the foreground (make neo4j)
    python tools/neo4j/local.py run -- CMD ...   # start on a free port, run CMD with
                                                 # CDP_TEST_NEO4J_URI set, stop, exit with its status

``run`` starts two servers: the one of ``CDP_TEST_NEO4J_URI``, which tests wipe and fill
as they need, and a small one for ``CDP_TEST_NEO4J_DEMO_URI``, which holds the shared demo
data set for the whole run (Neo4j Community has one user database per server, so the
demo data cannot live next to the tests' own data).

The server is the real database engine (same Cypher planner, constraints, transactions and
Bolt protocol as a Neo4j server) embedded in ``LocalNeo4j.java`` with Bolt on 127.0.0.1 and
auth off. ``run`` uses a fresh data folder that is removed afterwards; ``serve`` keeps its
data under ``data/neo4j``. Exit status 1 when Java or Maven is missing or the server does
not start (message on stderr); ``run`` otherwise exits with the command's status.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CLASSES = HERE / "target" / "classes"
LIB = HERE / "target" / "lib"
MAIN = "cdp.neo4j.LocalNeo4j"
READY = "NEO4J READY "
HEAP = os.environ.get("CDP_NEO4J_HEAP", "1g")
PAGE_CACHE_MB = os.environ.get("CDP_NEO4J_PAGECACHE_MB", "512")
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0


class Neo4jUnavailable(RuntimeError):
    """Java or Maven is missing, the build failed, or the server did not start."""


def tools_present() -> bool:
    """True when ``java`` and ``mvn`` are on PATH."""
    return shutil.which("java") is not None and shutil.which("mvn") is not None


def built() -> bool:
    """True when the launcher is compiled and its dependencies copied."""
    return (CLASSES / "cdp" / "neo4j" / "LocalNeo4j.class").exists() and any(LIB.glob("neo4j-*.jar"))


def build() -> None:
    """Compile the launcher and copy Neo4j's jars (Maven; a few minutes the first time).

    Raises ``Neo4jUnavailable`` when Java or Maven is missing or Maven fails."""
    if not tools_present():
        raise Neo4jUnavailable("java and mvn are needed for the local Neo4j (OpenJDK 17, Maven 3.8)")
    if built():
        return
    done = subprocess.run(["mvn", "-q", "-B", "package", "-DskipTests"], cwd=HERE)
    if done.returncode != 0 or not built():
        raise Neo4jUnavailable(f"building tools/neo4j failed (mvn exit {done.returncode})")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalNeo4j:
    """One local Neo4j process: ``start()`` waits for the ready line, ``stop()`` for exit."""

    def __init__(self, home: Path, port: int, heap: str = HEAP, page_cache_mb: str = PAGE_CACHE_MB) -> None:
        self.home = home
        self.port = port
        self.heap = heap
        self.page_cache_mb = page_cache_mb
        self.uri = f"bolt://127.0.0.1:{port}"
        self.process: subprocess.Popen[str] | None = None
        self.log: list[str] = []

    def start(self) -> str:
        """Start the server and return its Bolt URI. Raises ``Neo4jUnavailable``."""
        build()
        self.home.mkdir(parents=True, exist_ok=True)
        classpath = f"{CLASSES}{os.pathsep}{LIB}/*"
        cmd = ["java", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-cp", classpath, MAIN,
               str(self.home), str(self.port), self.page_cache_mb]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, start_new_session=True)
        ready = threading.Event()

        def pump() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self.log.append(line.rstrip())
                del self.log[:-200]
                if line.startswith(READY):
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while not ready.wait(0.2):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    tail = "\n".join(self.log[-20:])
                    raise Neo4jUnavailable(f"the local Neo4j did not start:\n{tail}")
        except BaseException:  # not started, or interrupted while starting: leave no server behind
            self.stop()
            raise
        return self.uri

    def stop(self) -> None:
        """Stop the server (SIGTERM runs Neo4j's shutdown; SIGKILL after a minute)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _run(command: list[str]) -> int:
    home = Path(tempfile.mkdtemp(prefix="cdp-neo4j-"))
    server = LocalNeo4j(home / "tests", free_port())
    demo = LocalNeo4j(home / "demo", free_port(), heap="512m", page_cache_mb="128")
    failures: list[Neo4jUnavailable] = []

    def start_demo() -> None:
        try:
            demo.start()
        except Neo4jUnavailable as exc:
            failures.append(exc)

    starter = threading.Thread(target=start_demo)
    try:
        starter.start()  # both JVMs start at once
        uri = server.start()
        starter.join()
        if failures:
            raise failures[0]
        print(f"local Neo4j 5.26 ready at {uri}, demo data server at {demo.uri} (data {home})",
              file=sys.stderr, flush=True)
        env = dict(os.environ, CDP_TEST_NEO4J_URI=uri, CDP_TEST_NEO4J_DEMO_URI=demo.uri)
        return subprocess.call(command, env=env)
    finally:
        starter.join()
        server.stop()
        demo.stop()
        shutil.rmtree(home, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: the servers run in their own sessions, so only ``finally`` stops them."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("build", help="resolve Neo4j from Maven Central and compile the launcher")
    serve = sub.add_parser("serve", help="run in the foreground until Ctrl-C")
    serve.add_argument("--port", type=int, default=7687, help="Bolt port on 127.0.0.1 (default 7687)")
    serve.add_argument("--home", type=Path, default=ROOT / "data" / "neo4j", help="data folder")
    run = sub.add_parser("run", help="run a command against a fresh local Neo4j")
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # stop the servers (own sessions) on SIGTERM too
    try:
        if args.verb == "build":
            build()
            return 0
        if args.verb == "serve":
            server = LocalNeo4j(args.home, args.port)
            print(f"local Neo4j ready at {server.start()} (data {args.home}); Ctrl-C stops it", flush=True)
            try:
                while server.process is not None and server.process.poll() is None:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
            finally:
                server.stop()
            return 0
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("run needs a command after --")
        return _run(command)
    except Neo4jUnavailable as exc:
        print(f"local Neo4j: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
