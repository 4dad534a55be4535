"""Benchmark ``cdp import``: a generated customer CSV into a fresh embedded store or Neo4j.

    .venv/bin/python bench/import_csv.py --rows 1000000     # make bench-import
    .venv/bin/python tools/neo4j/local.py run -- .venv/bin/python bench/import_csv.py --rows 100000 --neo4j

1. Generates a seeded CSV of ``--rows`` customers the way a CRM exports them
   (';' separated, dd-mm-yyyy dates, source codes for gender, segment and
   status, ISO time stamps; 14 columns) into ``bench/out/customers-<rows>-<seed>.csv``,
   reused on later runs.
2. In a child process (so its peak RSS is the import's alone), imports it into
   a new store ``bench/out/import-<rows>.lbdb`` with ``cdp.ingest.run.import_file``,
   the code path of ``cdp import``, in batches of ``--batch-size`` rows; then
   imports the same file again (every row unchanged: the idempotent re-run).
   With ``--neo4j [URI]`` (default ``CDP_TEST_NEO4J_URI``, as ``tools/neo4j/local.py run``
   sets it) the store is that Neo4j, wiped first.
3. Checks the store holds every customer, and prints JSON and a Markdown table
   (also written to ``bench/out/import-csv-<rows>.json`` and ``.md``).

Target: >= 50,000 rows/s for the first import.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_ROWS_PER_SECOND = 50_000
#: issue 19's target for ``cdp import`` into Neo4j.
TARGET_NEO4J_ROWS_PER_SECOND = 20_000

MAPPING = """\
[source]
name = "CRM"
trust = 0.8
observed_at = "modified"

[source.csv]
delimiter = ";"

[[entity]]
label = "Customer"
key = "customer_no"
[entity.columns]
first_name = "first_name"
last_name = "last_name"
email = { column = "email", convert = "lower" }
phone = "phone"
birth_date = { column = "birth_date", format = "%d-%m-%Y" }
gender = { column = "gender", values = { V = "FEMALE", M = "MALE", X = "OTHER" }, default = "UNKNOWN" }
street = "street"
postal_code = { column = "postal_code", convert = "upper" }
city = "city"
tier = { column = "segment", values = { PART = "CONSUMER", ZAK = "BUSINESS", GROOT = "KEY_ACCOUNT" } }
status = { column = "status", values = { KLANT = "ACTIVE", EX = "CHURNED", LEAD = "PROSPECT" } }
joined_on = "customer_since"
updated_at = "modified"
"""

FIRST = ["Anna", "Bram", "Daan", "Emma", "Fleur", "Jan", "Julia", "Lars", "Lotte", "Mila", "Noah", "Sem",
         "Sophie", "Tess", "Thijs", "Zoe"]
LAST = ["Bakker", "de Boer", "Dekker", "van Dijk", "Jansen", "de Jong", "Meijer", "Mulder", "Peters",
        "Smit", "Visser", "de Vries", "Willems"]
CITIES = ["Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven", "Groningen", "Tilburg", "Almere",
          "Breda", "Nijmegen", "Delft", "Zwolle"]
STREETS = ["Dorpsstraat", "Kerkweg", "Molenlaan", "Stationsplein", "Havenweg", "Marktplein"]


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def generate_csv(path: Path, rows: int, seed: int) -> float:
    """Write ``rows`` seeded customer rows to ``path``; return the seconds it took."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp")
    chunk = 200_000
    options = pacsv.WriteOptions(delimiter=";", quoting_style="needed")
    with pacsv.CSVWriter(tmp, _schema(), write_options=options) as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            ids = np.arange(start + 1, start + n + 1)
            first = pa.array(np.array(FIRST)[rng.integers(0, len(FIRST), n)])
            last = pa.array(np.array(LAST)[rng.integers(0, len(LAST), n)])
            email = pc.binary_join_element_wise(
                pc.utf8_lower(first), pa.array([f"{i}@example.org" for i in ids]), ".")
            birth = np.datetime64("1940-01-01") + rng.integers(0, 365 * 65, n).astype("timedelta64[D]")
            since = np.datetime64("2000-01-01") + rng.integers(0, 365 * 26, n).astype("timedelta64[D]")
            modified = np.datetime64("2025-01-01T00:00:00") + rng.integers(0, 365 * 86400, n).astype(
                "timedelta64[s]")
            table = pa.table({
                "customer_no": pa.array([f"C{i:08d}" for i in ids]),
                "first_name": first,
                "last_name": last,
                "email": email,
                "phone": pa.array([f"+316{p:08d}" for p in rng.integers(0, 10**8, n)]),
                "birth_date": pc.strftime(pa.array(birth), format="%d-%m-%Y"),
                "gender": pa.array(np.array(["V", "M", "X", ""])[rng.choice(4, n, p=[.49, .49, .01, .01])]),
                "street": pa.array([f"{STREETS[s]} {h}" for s, h in
                                    zip(rng.integers(0, len(STREETS), n), rng.integers(1, 200, n))]),
                "postal_code": pa.array([f"{p} {a}{b}" for p, a, b in zip(
                    rng.integers(1000, 9999, n), rng.choice(list("abcdefgh"), n), rng.choice(list("klmnprst"), n))]),
                "city": pa.array(np.array(CITIES)[rng.integers(0, len(CITIES), n)]),
                "segment": pa.array(np.array(["PART", "ZAK", "GROOT"])[rng.choice(3, n, p=[.85, .13, .02])]),
                "status": pa.array(np.array(["KLANT", "EX", "LEAD"])[rng.choice(3, n, p=[.8, .15, .05])]),
                "customer_since": pc.strftime(pa.array(since), format="%Y-%m-%d"),
                "modified": pc.strftime(pa.array(modified), format="%Y-%m-%dT%H:%M:%SZ"),
            }, schema=_schema())
            writer.write_table(table)
    tmp.rename(path)
    return time.perf_counter() - started


def _schema():  # type: ignore[no-untyped-def]
    import pyarrow as pa

    names = ["customer_no", "first_name", "last_name", "email", "phone", "birth_date", "gender", "street",
             "postal_code", "city", "segment", "status", "customer_since", "modified"]
    return pa.schema([(n, pa.string()) for n in names])


def run_import(csv_path: Path, mapping_path: Path, db_path: Path, batch_size: int | None,
               buffer_pool_mb: int, neo4j: str | None = None) -> dict:
    """Import ``csv_path`` twice into a fresh store (this process; Neo4j at ``neo4j``, wiped,
    when given); return figures and checks."""
    import os
    import resource

    from bench.bulk import remove_store
    from cdp.ingest.run import import_file
    from cdp.ingest.mapping import load_mapping
    from cdp.settings import Settings
    from graph.ladybug_store import LadybugStore

    mapping = load_mapping(mapping_path)
    if neo4j:
        from graph.neo4j_store import Neo4jStore

        store = Neo4jStore(neo4j, os.environ.get("NEO4J_USER", "neo4j"), os.environ.get("NEO4J_PASSWORD", ""),
                           os.environ.get("NEO4J_DATABASE", "neo4j"), max_retry_seconds=60)
        store.wipe()
    else:
        remove_store(db_path)
        store = LadybugStore(db_path, buffer_pool_mb=buffer_pool_mb,
                             checkpoint_mb=Settings.from_env().checkpoint_mb)
    batch_size = batch_size or store.import_batch_rows
    try:
        runs = []
        for name in ("first import", "re-import (unchanged)"):
            _say(f"{name}: {csv_path.name} in batches of {batch_size:,}")
            rejects = csv_path.with_suffix(".rejects.csv")

            def progress(report) -> None:  # type: ignore[no-untyped-def]
                if report.batches and report.batches % 5 == 0 and not report.writing:
                    _say(f"  {report.read:,} rows, {report.rows_per_second:,.0f} rows/s")

            report = import_file(store, mapping, csv_path, batch_size, rejects, progress)
            runs.append({"run": name, **{k: v for k, v in report.as_dict().items() if k != "warnings"}})
            _say(f"{name}: {report.read:,} rows in {report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s)")
        counts = store.counts()
        sample = store.nodes("Customer", ["C00000001"]).get("C00000001", {})
    finally:
        store.close()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"store": store.backend, "batch_size": batch_size, "runs": runs, "customers_in_store": counts["Customer"], "sample_customer": {
        k: str(v) for k, v in sample.items()}, "peak_rss_mib": round(peak_kib / 1024)}


def markdown(results: dict) -> str:
    """The results as a Markdown table."""
    first = results["runs"][0]
    target = TARGET_NEO4J_ROWS_PER_SECOND if results.get("store") == "neo4j" else TARGET_ROWS_PER_SECOND
    met = "yes" if first["rows_per_second"] >= target else "**no**"
    lines = [
        f"`{results['command']}`: {results['rows']:,} rows, {results['csv_mib']:,} MiB CSV, "
        f"batches of {results['batch_size']:,}, {results['machine']['usable_cores']} cores, "
        f"{results['machine']['ram_gib']} GiB RAM ({results['machine']['cpu_model']}).",
        "",
        "| run | rows | seconds | rows/s | created | updated | unchanged | rejected |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["runs"]:
        lines.append(f"| {r['run']} | {r['read']:,} | {r['seconds']:,.1f} | {r['rows_per_second']:,} | "
                     f"{r['created']:,} | {r['updated']:,} | {r['unchanged']:,} | {r['rejected']:,} |")
    lines += ["", "| target | goal | measured | met |", "|---|---:|---:|:---:|",
              f"| first import ({results.get('store', 'ladybug')}) | >= {target:,} rows/s | {first['rows_per_second']:,} rows/s | {met} |",
              f"| peak RSS of the importing process | | {results['peak_rss_mib']:,} MiB | |", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Benchmark cdp import on a generated customer CSV.")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--batch-size", type=int, help="rows per batch (default: cdp import's, the store's "
                                                   "import_batch_rows)")
    p.add_argument("--buffer-pool-mb", type=int, default=2048)
    p.add_argument("--out", type=Path, default=HERE / "out")
    p.add_argument("--provenance", default="contact", choices=["contact", "all", "off"],
                   help="observations recorded per customer: contact data (the default of a mapping), "
                        "all profile keys, or none")
    p.add_argument("--neo4j", nargs="?", const="", default=None, metavar="URI",
                   help="import into this Neo4j (wiped first; default CDP_TEST_NEO4J_URI) instead of LadybugDB")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / f"customers-{args.rows}-{args.seed}.csv"
    mapping_path = args.out / "customers-mapping.toml"
    db_path = args.out / f"import-{args.rows}.lbdb"
    if args.neo4j == "":
        import os

        args.neo4j = os.environ.get("CDP_TEST_NEO4J_URI") or p.error("--neo4j: no URI and no CDP_TEST_NEO4J_URI")
    if args.child:  # the import itself, in its own process
        print(json.dumps(run_import(csv_path, mapping_path, db_path, args.batch_size, args.buffer_pool_mb,
                                    args.neo4j)))
        return 0

    from bench import machine

    generate_seconds = None
    if not csv_path.exists():
        _say(f"generating {args.rows:,} customer rows (seed {args.seed}) into {csv_path}")
        generate_seconds = round(generate_csv(csv_path, args.rows, args.seed), 1)
    setting = {"contact": "", "all": "provenance = true\n", "off": "provenance = false\n"}[args.provenance]
    mapping_path.write_text(MAPPING.replace("[source]\n", "[source]\n" + setting, 1))
    child = subprocess.run([sys.executable, __file__, "--child", "--rows", str(args.rows), "--seed", str(args.seed),
                            *(["--batch-size", str(args.batch_size)] if args.batch_size else []),
                            "--buffer-pool-mb", str(args.buffer_pool_mb),
                            *(["--neo4j", args.neo4j] if args.neo4j else []),
                            "--out", str(args.out)], stdout=subprocess.PIPE, text=True, check=True)
    results = {
        "command": f".venv/bin/python bench/import_csv.py --rows {args.rows}"
                   + (f" --batch-size {args.batch_size}" if args.batch_size else "")
                   + (f" --provenance {args.provenance}" if args.provenance != "contact" else "")
                   + (" --neo4j" if args.neo4j else ""),
        "provenance": args.provenance,
        "rows": args.rows, "seed": args.seed,
        "csv_mib": round(csv_path.stat().st_size / 2**20), "generate_seconds": generate_seconds,
        **json.loads(child.stdout), "machine": machine.facts(),
    }
    if results["customers_in_store"] != args.rows - results["runs"][0]["rejected"]:
        _say(f"error: the store holds {results['customers_in_store']:,} customers, expected {args.rows:,}")
        return 1
    text = markdown(results)
    name = f"import-csv-{args.rows}" + ("-neo4j" if args.neo4j else "")
    (args.out / f"{name}.json").write_text(json.dumps(results, indent=2))
    (args.out / f"{name}.md").write_text(text)
    print(json.dumps(results, indent=2))
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
