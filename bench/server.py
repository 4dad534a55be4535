"""The real ``cdp serve`` as a subprocess, with its memory and CPU use.

``Server`` starts ``.venv/bin/cdp serve --no-demo`` on a free loopback port
with ``CDP_DB_PATH`` pointing at the loaded store, waits for ``/readyz``,
reports its resident memory (``VmRSS`` now, ``VmHWM`` = peak since start) and
CPU seconds, and stops it with SIGTERM (SIGKILL after a grace period).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cdp_executable() -> str:
    """The ``cdp`` console script of the interpreter running the benchmark."""
    candidate = Path(sys.executable).with_name("cdp")
    if candidate.exists():
        return str(candidate)
    return str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "cdp")


def _proc_status_kib(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Server:
    """One ``cdp serve`` process on 127.0.0.1 serving the store at ``db_path``."""

    def __init__(self, db_path: Path, log_path: Path, buffer_pool_mb: int | None = None, *,
                 cli: list[str] | None = None, env: dict[str, str] | None = None,
                 serve_args: list[str] | None = None) -> None:
        """``cli``: the command that runs cdp (default the ``cdp`` console script; e.g.
        ``[python, "-m", "cdp.cli"]`` with ``PYTHONPATH`` in ``env`` to serve a checkout's code);
        ``env``: variables set for the server (and ``cdp keys create``) over the defaults (e.g.
        ``NEO4J_URI`` to serve a Neo4j store; without it ``NEO4J_URI`` is removed);
        ``serve_args``: more ``cdp serve`` options (e.g. ``--workers 2``)."""
        self.db_path = db_path
        self.cli = cli or [cdp_executable()]
        self.extra_env = dict(env or {})
        self.log_path = log_path
        self.buffer_pool_mb = buffer_pool_mb
        self.serve_args = list(serve_args or [])
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.command: list[str] = []
        self.api_key = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, ready_timeout: float = 120.0) -> float:
        """Start the server and wait until ``/readyz`` answers 200; return seconds taken.

        Raises ``RuntimeError`` (with the log's tail) if it exits or is not ready in time.
        """
        env = dict(os.environ)
        env["CDP_DB_PATH"] = str(self.db_path)
        env.pop("NEO4J_URI", None)
        env.update(self.extra_env)
        # one load client from one address: a rate limit that never refuses, still on the request path
        env.setdefault("CDP_RATE_LIMIT", "1000000")
        env.setdefault("CDP_RATE_BURST", "1000000")
        if self.buffer_pool_mb:
            env["CDP_BUFFER_POOL_MB"] = str(self.buffer_pool_mb)
        env.update(self.extra_env)
        # every request needs a credential: an admin key made in the store, shared with the load
        # generators (bench/http_load.py, bench/wrk_view.lua) through CDP_API_KEY
        made = subprocess.run([*self.cli, "keys", "create", "--role", "admin", "--name", "benchmark"],
                              env=env, capture_output=True, text=True)
        if made.returncode != 0:
            raise RuntimeError(f"cdp keys create failed: {made.stderr.strip()}")
        self.api_key = made.stdout.strip()
        os.environ["CDP_API_KEY"] = self.api_key
        self.command = [*self.cli, "serve", "--no-demo", "--port", str(self.port),
                        "--log-level", "warning", *self.serve_args]
        log = open(self.log_path, "w")  # noqa: SIM115 - the server inherits it; closed once started
        started = time.perf_counter()
        self.process = subprocess.Popen(self.command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        log.close()
        deadline = started + ready_timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"cdp serve exited with status {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"cdp serve was not ready after {ready_timeout:.0f} s:\n{self.log_tail()}")

    def post(self, body: str, timeout: float = 30.0) -> tuple[int, dict]:
        """POST ``body`` to ``/graphql``; return the status and the decoded JSON."""
        req = urllib.request.Request(self.url + "/graphql", data=body.encode(),
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {self.api_key}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_description(self) -> str | None:
        """None while running, else how it ended (``killed by SIGSEGV``, ``exit status 1``)."""
        if self.alive() or self.process is None:
            return None
        code = self.process.returncode
        if code < 0:
            import signal

            return f"killed by {signal.Signals(-code).name}"
        return f"exit status {code}"

    def memory_kib(self) -> dict[str, int | None]:
        """Current (``VmRSS``) and peak (``VmHWM``) resident memory in KiB."""
        return {"rss_kib": _proc_status_kib(self.pid, "VmRSS"), "peak_rss_kib": _proc_status_kib(self.pid, "VmHWM")}

    def cpu_seconds(self) -> float | None:
        """User + system CPU seconds the server has used so far (all threads, and its worker
        processes when it has any); None once it is gone."""
        try:
            proc = psutil.Process(self.pid)
            total = 0.0
            for p in [proc, *proc.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            return None
        return total

    def wait_idle(self, max_seconds: float = 900.0, below_percent: float = 5.0, window: float = 1.0) -> float:
        """Wait until the server uses < ``below_percent`` of a core over ``window`` s; return seconds waited.

        Requests a load generator abandoned at the end of a run keep running in
        the server; this lets them finish so they do not leak into the next phase.
        Gives up (and returns) after ``max_seconds``.
        """
        started = time.perf_counter()
        try:
            proc = psutil.Process(self.pid)
            proc.cpu_percent(None)
            while time.perf_counter() - started < max_seconds and self.alive():
                if proc.cpu_percent(interval=window) < below_percent:
                    break
        except psutil.Error:
            pass  # the server is gone: nothing to wait for
        return time.perf_counter() - started

    def threads(self) -> int | None:
        try:
            return psutil.Process(self.pid).num_threads()
        except psutil.Error:
            return None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 20.0) -> int | None:
        """SIGTERM the server, SIGKILL it after ``grace`` seconds; return its exit status."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.terminate()
        try:
            return self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


class RssSampler:
    """Samples a process's ``VmRSS`` and ``VmHWM`` every ``interval`` s in a thread; keeps the max.

    The last ``VmHWM`` seen is the peak even if the process dies before the end.
    """

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid = pid
        self.interval = interval
        self.max_kib = 0
        self.hwm_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            value = _proc_status_kib(self.pid, "VmRSS")
            if value:
                self.max_kib = max(self.max_kib, value)
            hwm = _proc_status_kib(self.pid, "VmHWM")
            if hwm:
                self.hwm_kib = max(self.hwm_kib, hwm)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
