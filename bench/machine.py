"""Facts about the machine and software a benchmark ran on."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def wrk_version() -> str | None:
    """``wrk``'s version line, or None when wrk is not installed."""
    exe = shutil.which("wrk")
    if not exe:
        return None
    out = subprocess.run([exe, "-v"], capture_output=True, text=True)
    line = (out.stdout or out.stderr).strip().splitlines()
    return line[0] if line else "wrk (unknown version)"


def facts() -> dict:
    """CPU model, usable cores, RAM, OS, Python and the versions that matter."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "ram_gib": _mem_total_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "ladybug": _version("ladybug"),
        "strawberry_graphql": _version("strawberry-graphql"),
        "starlette": _version("starlette"),
        "uvicorn": _version("uvicorn"),
        "pyarrow": _version("pyarrow"),
        "wrk": wrk_version(),
    }
