"""Read-only opens of an embedded store beside a writer in another process: LadybugDB alone.

    .venv/bin/python bench/read_only_beside_writer.py --seconds 25

Why: ``cdp stats`` and the other read commands open the store read-only while a running
``cdp serve`` holds it (``cdp.cli.command_store``). One writer process commits 1,000 rows per
transaction as fast as it can and checkpoints every 5,000 rows (far busier than a served
store); one reader process opens the store read-only, counts the rows and closes, again and
again. Reported: opens that succeeded, failures by message, whether a count was ever a
partial transaction (not a multiple of 1,000) or smaller than the one before, and whether
the writer finished unharmed. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import tempfile
import time
from pathlib import Path


def _writer(path: str, seconds: float, ready: multiprocessing.Event, out: multiprocessing.Queue) -> None:
    import ladybug

    db = ladybug.Database(path, buffer_pool_size=128 * 1024 * 1024)
    conn = ladybug.Connection(db)
    conn.execute("CREATE NODE TABLE T(id INT64, s STRING, PRIMARY KEY(id))")
    rows = checkpoints = 0
    ready.set()
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        conn.execute(f"UNWIND range({rows}, {rows + 999}) AS x CREATE (:T {{id: x, s: 'payload-' + string(x)}})")
        rows += 1000
        if rows % 5000 == 0:
            conn.execute("CHECKPOINT")
            checkpoints += 1
    conn.close()
    db.close()
    out.put({"writer_rows": rows, "writer_checkpoints": checkpoints})


def _reader(path: str, seconds: float, ready: multiprocessing.Event, out: multiprocessing.Queue) -> None:
    import ladybug

    ready.wait()
    outcomes: collections.Counter = collections.Counter()
    last, partial, shrank = 0, 0, 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            db = ladybug.Database(path, buffer_pool_size=64 * 1024 * 1024, read_only=True)
            conn = ladybug.Connection(db)
            count = conn.execute("MATCH (t:T) RETURN count(*)").get_next()[0]
            conn.close()
            db.close()
        except RuntimeError as exc:
            outcomes[str(exc).split(":", 1)[-1].strip()[:70]] += 1
            continue
        outcomes["ok"] += 1
        partial += count % 1000 != 0
        shrank += count < last
        last = count
    out.put({"read_only_opens": dict(outcomes), "partial_counts": partial, "counts_smaller_than_before": shrank})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=25.0, help="how long the writer runs (default: 25)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "beside.lbdb")
        ready, out = multiprocessing.Event(), multiprocessing.Queue()
        writer = multiprocessing.Process(target=_writer, args=(path, args.seconds, ready, out))
        reader = multiprocessing.Process(target=_reader, args=(path, args.seconds - 2, ready, out))
        writer.start()
        reader.start()
        reader.join()
        writer.join()
        result = {**out.get(), **out.get(), "writer_exit": writer.exitcode, "reader_exit": reader.exitcode}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
