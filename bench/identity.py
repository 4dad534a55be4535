"""Benchmark of identity resolution: speed, memory and quality at a given number of source records.

    .venv/bin/python bench/identity.py --records 1000000
    .venv/bin/python bench/identity.py --records 100000 --seed 3 --rules my-rules.toml

Generates about ``--records`` source records with ``cdp.demo.source_records`` (persons
from ``persons_for_records``) in a child process and caches them as Parquet
(``bench/out/identity-sources-<persons>-<seed>.parquet``, reused by later
runs), so that this process holds only the records: it reads them, times
``cdp.identity.resolution.resolve`` once and scores the clusters against the planted
truth (pairwise precision and recall). Peak memory is this process's VmHWM
(``/proc/self/status``; ``ru_maxrss`` elsewhere): the whole process (reading
plus resolving) and, where the kernel lets ``/proc/self/clear_refs`` reset
the mark, ``resolve`` alone.

Prints one JSON line (stdout), then a Markdown table; ``--json-out`` also
writes the JSON to a file. The target is resolve <= 60 s at 1,000,000 records
on 2 cores; this script reports, it does not assert.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script: import from the repository root, and do not let this
# folder's module names (identity.py) shadow anything.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from bench import machine  # noqa: E402
from cdp.identity import resolution as identity  # noqa: E402
from cdp.demo import source_records as sources_demo  # noqa: E402

TARGET_SECONDS = 60.0


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _status_kib(field: str) -> int | None:
    """A ``/proc/self/status`` figure in KiB (VmHWM, VmRSS), or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the process's peak RSS (VmHWM) to its current RSS; False when the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_mib() -> float:
    """Peak RSS in MiB: VmHWM where available, else getrusage's ru_maxrss (KiB on Linux)."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kib / 1024, 1)


def _generate_to(path: Path, persons: int, seed: int) -> None:
    """Child process: generate the sources and write them, with the truth, as Parquet plus a meta file."""
    started = time.perf_counter()
    data = sources_demo.generate_sources(persons, seed=seed)
    seconds = time.perf_counter() - started
    table = data.records.assign(true_person_id=data.truth["true_person_id"].to_numpy())
    tmp = path.with_suffix(".tmp")
    table.to_parquet(tmp, index=False)
    tmp.rename(path)
    path.with_suffix(".json").write_text(json.dumps({"persons": persons, "seed": seed, "records": len(table),
                                                     "generate_seconds": round(seconds, 2)}))


def sources(out: Path, records: int, seed: int) -> tuple[Path, dict]:
    """The Parquet file of generated sources for about ``records`` records (generated now unless cached)."""
    persons = sources_demo.persons_for_records(records)
    path = out / f"identity-sources-{persons}-{seed}.parquet"
    if path.exists() and path.with_suffix(".json").exists():
        _say(f"using cached sources {path}")
        return path, {**json.loads(path.with_suffix(".json").read_text()), "cached": True}
    out.mkdir(parents=True, exist_ok=True)
    _say(f"generating sources for {persons:,} persons (about {records:,} records, seed {seed}) in a child process")
    child = multiprocessing.get_context("spawn").Process(target=_generate_to, args=(path, persons, seed))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"bench: generating sources failed (exit code {child.exitcode})")
    meta = json.loads(path.with_suffix(".json").read_text())
    _say(f"generated {meta['records']:,} records in {meta['generate_seconds']:.1f} s")
    return path, {**meta, "cached": False}


def run(records: int, seed: int, rules_path: Path | None, out: Path) -> dict:
    """Generate (or reuse), resolve and score once; returns the figures (see the module docstring)."""
    rules = identity.load_rules(rules_path)
    path, meta = sources(out, records, seed)
    table = pd.read_parquet(path)
    truth = table.pop("true_person_id").to_numpy()
    inputs = table
    gc.collect()
    rss_before = round((_status_kib("VmRSS") or 0) / 1024, 1)
    peak_reset = _reset_peak()

    _say(f"resolving {len(inputs):,} records")
    started = time.perf_counter()
    resolution = identity.resolve(inputs, rules)
    resolve_seconds = time.perf_counter() - started
    peak_resolve = _peak_mib()
    _say(f"resolved into {resolution.clusters:,} clusters in {resolve_seconds:.1f} s")

    quality = identity.pair_quality(resolution.records["cluster_id"], truth)
    by_rule = resolution.records["matched_by"].value_counts().to_dict()
    return {
        "benchmark": "identity_resolution",
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "records": len(inputs),
        "persons": meta["persons"],
        "seed": seed,
        "sources_file": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
        "sources_cached": meta["cached"],
        "rules": str(rules_path or identity.DEFAULT_RULES_PATH.relative_to(ROOT)),
        "generate_seconds": meta["generate_seconds"],
        "resolve_seconds": round(resolve_seconds, 2),
        "records_per_second": round(len(inputs) / resolve_seconds),
        "target_seconds": TARGET_SECONDS,
        "target_met": resolve_seconds <= TARGET_SECONDS,
        "clusters": resolution.clusters,
        "true_persons": int(len(set(truth.tolist()))),
        "precision": round(quality.precision, 5),
        "recall": round(quality.recall, 5),
        "pairs_found": quality.found,
        "pairs_correct": quality.correct,
        "pairs_true": quality.true,
        "rss_before_resolve_mib": rss_before,
        "peak_rss_resolve_mib": peak_resolve,
        "peak_rss_resolve_includes_reading": not peak_reset,
        "peak_rss_process_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "matched_by": {k: int(v) for k, v in sorted(by_rule.items())},
        "merges": resolution.merges,
        "refused": resolution.refused,
        "machine": machine.facts(),
    }


def markdown(r: dict) -> str:
    """The figures as a Markdown table."""
    m = r["machine"]
    peak_note = " (includes reading)" if r["peak_rss_resolve_includes_reading"] else ""
    rows = [
        ("source records", f"{r['records']:,} ({r['persons']:,} true persons, seed {r['seed']})"),
        ("resolve time", f"{r['resolve_seconds']:.1f} s ({r['records_per_second']:,} records/s; "
                         f"target <= {r['target_seconds']:.0f} s: {'met' if r['target_met'] else 'NOT met'})"),
        ("generation time", f"{r['generate_seconds']:.1f} s (separate process"
                            f"{', cached' if r['sources_cached'] else ''})"),
        ("clusters found / true persons", f"{r['clusters']:,} / {r['true_persons']:,}"),
        ("pairwise precision", f"{r['precision']:.4f} ({r['pairs_correct']:,} of {r['pairs_found']:,} pairs)"),
        ("pairwise recall", f"{r['recall']:.4f} ({r['pairs_correct']:,} of {r['pairs_true']:,} pairs)"),
        ("peak RSS during resolve", f"{r['peak_rss_resolve_mib']:,.0f} MiB{peak_note} "
                                    f"(RSS before: {r['rss_before_resolve_mib']:,.0f} MiB)"),
        ("peak RSS of the process", f"{r['peak_rss_process_mib']:,.0f} MiB (reading Parquet + resolving)"),
        ("machine", f"{m['cores']} cores ({m['cpu_model']}), {m['ram_gib']} GiB, Python {m['python']}"),
    ]
    lines = ["| identity resolution | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    lines += ["", "| rule | records matched by it | clusters joined |", "|---|---:|---:|"]
    for rule, joined in r["merges"].items():
        lines.append(f"| {rule} | {r['matched_by'].get(rule, 0):,} | {joined:,} |")
    lines.append(f"| seed | {r['matched_by'].get('seed', 0):,} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="about this many source records")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rules", type=Path, default=None, help="rule file (default: cdp/identity/identity_rules.toml)")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="where generated sources are cached")
    args = parser.parse_args(argv)
    result = run(args.records, args.seed, args.rules, args.out)
    line = json.dumps(result, sort_keys=False)
    print(line, flush=True)
    print()
    print(markdown(result))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
