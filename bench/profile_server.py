"""Profile the server under the full-view load with py-spy (where does the time go?).

    .venv/bin/python -m bench.profile_server --customers 1000000 [--seconds 20] [--py-spy PATH]

Uses the store and id sample a ``bench/run.py`` run left in ``bench/out``
(``store-<customers>.lbdb``, ``ids-<customers>.txt``), starts ``cdp serve``,
drives it with wrk at concurrency 16 and meanwhile records the server with
``py-spy record --format raw`` twice: all threads, then only the thread
holding the GIL (``--gil``). Prints, per recording, the share of samples by
innermost Python function ("self") and by any function on the stack
("inclusive"). py-spy is not a project dependency: ``pip install py-spy``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from bench import http_load
from bench.server import Server

HERE = Path(__file__).resolve().parent


#: (label, substrings of frames): the share of samples with such a frame on the stack.
STAGES = (
    ("LadybugDB query (native, GIL released)", ("_execute_with_pybind",)),
    ("store: rows to Python dicts", ("_rows (graph/ladybug_store.py", "_plain (graph/ladybug_store.py")),
    ("idle worker threads", ("Queue.get",)),
    ("GraphQL parse", ("graphql/language/parser.py",)),
    ("GraphQL validate", ("graphql/validation/",)),
    ("GraphQL execute (resolvers, DataLoaders)", ("graphql/execution/",)),
    ("strawberry DataLoader", ("strawberry/dataloader.py",)),
    ("cdp resolvers / types", ("schema/types.py", "resolvers/")),
    ("JSON encoding", ("json/encoder.py",)),
    ("uvicorn HTTP", ("uvicorn/protocols/http",)),
)


def summarise(raw: Path, top: int = 15) -> str:
    """Top functions by self and inclusive share of the samples in a py-spy raw file."""
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    stage_counts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        total += n
        self_counts[frames[-1]] += n
        for frame in set(frames):
            incl_counts[frame] += n
        for label, needles in STAGES:
            if any(needle in f for f in frames for needle in needles):
                stage_counts[label] += n
    if not total:
        return "  (no samples)\n"
    lines = [f"  {total:,} samples", "  by stage (a sample can count in several):"]
    lines += [f"    {stage_counts[label] / total:6.1%}  {label}" for label, _ in STAGES]
    lines.append("  self:")
    lines += [f"    {c / total:6.1%}  {f}" for f, c in self_counts.most_common(top)]
    lines.append("  inclusive:")
    lines += [f"    {c / total:6.1%}  {f}" for f, c in incl_counts.most_common(top)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="py-spy profile of cdp serve under the full-view load")
    p.add_argument("--customers", type=int, required=True, help="which bench/out store to use")
    p.add_argument("--seconds", type=float, default=20, help="seconds per recording (default 20)")
    p.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy", help="py-spy executable")
    p.add_argument("--out", type=Path, default=HERE / "out")
    p.add_argument("--summarise", type=Path, nargs="*", help="only summarise existing raw py-spy files")
    args = p.parse_args(argv)
    if args.summarise:
        for raw in args.summarise:
            print(f"## {raw.name}\n{summarise(raw)}")
        return 0
    out = args.out.resolve()
    db, ids = out / f"store-{args.customers}.lbdb", out / f"ids-{args.customers}.txt"
    body = out / "body-view.json"
    for needed in (db, ids, body):
        if not needed.exists():
            sys.exit(f"profile: {needed} is missing; run bench/run.py --customers {args.customers} first")
    server = Server(db, out / f"profile-server-{args.customers}.log")
    server.start()
    try:
        for label, extra in (("all threads", []), ("GIL holder only", ["--gil"])):
            raw = out / f"profile-{args.customers}-{'gil' if extra else 'all'}.txt"
            load = threading.Thread(target=http_load.run_wrk, args=(server.url + "/graphql", body, ids, 16,
                                                                      args.seconds + 6))
            load.start()
            threading.Event().wait(3)  # let the load settle
            subprocess.run([args.py_spy, "record", "--pid", str(server.pid), "--duration", str(int(args.seconds)),
                            "--rate", "100", "--format", "raw", "--output", str(raw), *extra],
                           check=True, capture_output=True)
            load.join()
            server.wait_idle()
            print(f"## {label} ({raw.name})\n{summarise(raw)}", flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
