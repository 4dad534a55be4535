"""Demo data for the benchmark, and the timed bulk load into a fresh store.

``demo_data`` generates the seeded demo data once and caches it as Parquet in
``<out>/data-<customers>-<seed>/`` (reused on later runs); ``bulk_load`` loads
it into a new LadybugDB file and times ``GraphStore.bulk_load`` alone.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

META = "bench-meta.json"


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _progress(what: str, cumulative: bool = False):  # type: ignore[no-untyped-def]
    """A progress callback printing each step once, with a running row count.

    ``cumulative``: the callback receives the total so far (``demo.generate``)
    rather than the rows of the step (``GraphStore.bulk_load``).
    """
    state = {"step": None, "rows": 0, "started": time.perf_counter()}

    def progress(step: str, rows: int) -> None:
        state["rows"] = rows if cumulative else state["rows"] + rows
        if step != state["step"]:
            state["step"] = step
            elapsed = time.perf_counter() - state["started"]
            _say(f"  {what}: {step} ({state['rows']:,} rows so far, {elapsed:.1f} s)")

    return progress


def demo_data(out: Path, customers: int, seed: int) -> tuple[Any, dict]:
    """Return ``(DemoData, info)``; info says whether the Parquet cache was used.

    info: ``cache_dir``, ``cached`` (bool), ``generate_seconds`` (of the run that
    generated the data), ``read_seconds`` (reading the cache, when cached),
    ``write_seconds`` (writing the cache, when generated now).
    """
    from cdp.demo import telecom as demo

    from cdp.errors import InvalidInput

    cache = out / f"data-{customers}-{seed}"
    meta_path = cache / META
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        _say(f"reading cached demo data from {cache}")
        started = time.perf_counter()
        try:
            data = demo.read_parquet(cache)
        except InvalidInput as exc:  # written by an older model: generate again
            _say(f"the cache does not fit the current model ({exc}); regenerating")
        else:
            read_seconds = time.perf_counter() - started
            return data, {"cache_dir": str(cache), "cached": True, "generate_seconds": meta["generate_seconds"],
                          "read_seconds": round(read_seconds, 2)}

    _say(f"generating demo data for {customers:,} customers (seed {seed})")
    started = time.perf_counter()
    data = demo.generate(customers, seed=seed, progress=_progress("generate", cumulative=True))
    generate_seconds = time.perf_counter() - started
    _say(f"generated {data.row_count():,} rows in {generate_seconds:.1f} s; caching as Parquet")
    tmp = out / f".data-{customers}-{seed}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.perf_counter()
    demo.write_parquet(data, tmp)
    (tmp / META).write_text(json.dumps({"customers": customers, "seed": seed,
                                        "generate_seconds": round(generate_seconds, 2),
                                        "rows": data.row_count()}))
    write_seconds = time.perf_counter() - started
    shutil.rmtree(cache, ignore_errors=True)
    tmp.rename(cache)
    return data, {"cache_dir": str(cache), "cached": False, "generate_seconds": round(generate_seconds, 2),
                  "write_seconds": round(write_seconds, 2)}


def rows_per_table(data: Any) -> dict[str, dict[str, int]]:
    """Row counts of every node and relationship table of ``data``."""
    return {
        "nodes": {name: t.num_rows for name, t in data.nodes.items()},
        "relationships": {name: t.num_rows for name, t in data.relationships.items()},
    }


def sample_customer_ids(data: Any, n: int, seed: int) -> list[str]:
    """Up to ``n`` customer ids drawn at random (seeded) from the data."""
    ids = data.nodes["Customer"].column("id").to_pylist()
    rng = random.Random(seed)
    return rng.sample(ids, min(n, len(ids)))


def remove_store(path: Path) -> None:
    """Delete a LadybugDB store (file or folder) and its side files."""
    for p in [path, *path.parent.glob(path.name + ".*")]:
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def _size_bytes(path: Path) -> int:
    items = [path, *path.parent.glob(path.name + ".*")]
    total = 0
    for p in items:
        if p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        elif p.exists():
            total += p.stat().st_size
    return total


def bulk_load(data: Any, db_path: Path, buffer_pool_mb: int) -> dict:
    """Load ``data`` into a fresh store at ``db_path``; return rows, seconds, rows/s.

    Only ``GraphStore.bulk_load`` is timed; opening the store and creating the
    schema are reported as ``open_seconds``.
    """
    from cdp.settings import Settings
    from cdp.store import open_store

    remove_store(db_path)
    settings = Settings(db_path=db_path, buffer_pool_mb=buffer_pool_mb)
    started = time.perf_counter()
    store = open_store(settings)
    open_seconds = time.perf_counter() - started
    try:
        _say(f"bulk-loading {data.row_count():,} rows into {db_path}")
        started = time.perf_counter()
        rows = store.bulk_load(data.nodes, data.relationships, progress=_progress("load"))
        seconds = time.perf_counter() - started
    finally:
        started = time.perf_counter()
        store.close()
        close_seconds = time.perf_counter() - started
    _say(f"loaded {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
        "open_seconds": round(open_seconds, 2),
        "close_seconds": round(close_seconds, 2),
        "store_bytes": _size_bytes(db_path),
        "buffer_pool_mb": buffer_pool_mb,
    }
