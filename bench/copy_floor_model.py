"""The write floor of ``cdp import`` with provenance for cdp's own tables: LadybugDB alone.

    .venv/bin/python bench/copy_floor_model.py --customers 1000000 --batch 250000 --shape node

Per batch of customers it COPYs, in one transaction, what the default import mapping
writes for a new customer: the ``Customer`` row with all 20 of cdp's columns, its
``Identity`` and ``HAS_IDENTITY`` link, and 5 observations with their links, then COMMITs.
No cdp code runs (no conversion, change detection or existence checks), so the time is
the least an import of this data model can take on this machine.

``--shape node`` is cdp's model: one ``AttributeValue`` node (INT64 key, 10 columns) per
observed value, linked from the customer. ``--shape record`` is the alternative measured
for docs/import.md: one node per source record and time, holding the keys and values as
two lists, linked from the customer (5 times fewer observation rows).
``--only`` COPYs a subset of the tables (comma-separated; the customers are always kept),
to see what each costs. Prints the seconds per table, per commit, and the total as JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

KEYS = ("email", "phone", "street", "postal_code", "city")
CUSTOMER_COLUMNS = ("first_name last_name company_name birth_date gender national_id email phone street city "
                    "postal_code country language tier status joined_on account_manager updated_at merged_into").split()


def customers(start: int, n: int) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Customers ``start`` .. ``start + n`` (all columns), their identities and links."""
    ids = pa.array([f"CUST{start + i:09d}" for i in range(n)])
    columns: dict[str, pa.Array] = {"id": ids}
    for c in CUSTOMER_COLUMNS:
        if c in ("birth_date", "joined_on"):
            columns[c] = pa.array(np.full(n, np.datetime64("1980-01-01"), dtype="datetime64[D]"))
        elif c == "updated_at":
            columns[c] = pa.array(np.full(n, np.datetime64("2024-01-01"), dtype="datetime64[us]"))
        else:
            columns[c] = pa.array([f"v{c}{i % 1000}" for i in range(n)])
    identities = pa.table({
        "id": pa.array([f"CRM:CUST{start + i:09d}" for i in range(n)]), "source": pa.array(["CRM"] * n),
        "source_key": ids, "matched_by": pa.array(["SEED"] * n), "confidence": pa.array(np.ones(n)),
        "linked_at": pa.array(np.full(n, np.datetime64("2024-01-01"), dtype="datetime64[us]"))})
    return pa.table(columns), identities, pa.table({"from": ids, "to": identities.column("id")})


def node_observations(start: int, identities: pa.Table) -> tuple[pa.Table, pa.Table]:
    """5 ``AttributeValue``-like rows per customer (random INT64 ids) and their links."""
    n, k = identities.num_rows, len(KEYS)
    m = n * k
    owners = pa.array(np.repeat(identities.column("source_key").to_numpy(zero_copy_only=False), k))
    ids = pa.array(np.random.default_rng(start).integers(0, 2**62, m))
    values = pa.table({
        "id": ids, "key": pa.array(list(KEYS) * n), "value": pa.array(["someone@example.com"] * m),
        "source": pa.array(["CRM"] * m),
        "identity_id": pa.array(np.repeat(identities.column("id").to_numpy(zero_copy_only=False), k)),
        "observed_at": pa.array(np.full(m, np.datetime64("2024-01-01"), dtype="datetime64[us]")),
        "accuracy": pa.array(np.full(m, 0.8)), "customer_maintained": pa.array(np.zeros(m, bool)),
        "verified": pa.array(np.zeros(m, bool)), "expires_at": pa.nulls(m, pa.timestamp("us"))})
    return values, pa.table({"from": owners, "to": ids})


def record_observations(start: int, identities: pa.Table) -> tuple[pa.Table, pa.Table]:
    """One record per customer holding the 5 keys and values as lists, and its link."""
    n, k = identities.num_rows, len(KEYS)
    offsets = pa.array(np.arange(0, (n + 1) * k, k, dtype=np.int32))
    ids = pa.array(np.random.default_rng(start).integers(0, 2**62, n))
    records = pa.table({
        "id": ids, "identity_id": identities.column("id"), "source": pa.array(["CRM"] * n),
        "observed_at": pa.array(np.full(n, np.datetime64("2024-01-01"), dtype="datetime64[us]")),
        "accuracy": pa.array(np.full(n, 0.8)), "customer_maintained": pa.array(np.zeros(n, bool)),
        "verified": pa.array(np.zeros(n, bool)),
        "keys": pa.ListArray.from_arrays(offsets, pa.array(list(KEYS) * n)),
        "values": pa.ListArray.from_arrays(offsets, pa.array(["someone@example.com"] * (n * k)))})
    return records, pa.table({"from": identities.column("source_key"), "to": ids})


SCHEMA = {
    "node": "CREATE NODE TABLE A(id INT64, key STRING, value STRING, source STRING, identity_id STRING, "
            "observed_at TIMESTAMP, accuracy DOUBLE, customer_maintained BOOL, verified BOOL, "
            "expires_at TIMESTAMP, PRIMARY KEY(id))",
    "record": "CREATE NODE TABLE A(id INT64, identity_id STRING, source STRING, observed_at TIMESTAMP, "
              "accuracy DOUBLE, customer_maintained BOOL, verified BOOL, keys STRING[], values STRING[], "
              "PRIMARY KEY(id))",
}


def run(total: int, batch: int, shape: str, only: set[str] | None, buffer_pool_mb: int) -> dict:
    import ladybug

    folder = Path(tempfile.mkdtemp(prefix="copy-floor-model-"))
    try:
        db = ladybug.Database(str(folder / "floor.lbdb"), buffer_pool_size=buffer_pool_mb << 20)
        conn = ladybug.Connection(db)
        conn.execute("CREATE NODE TABLE Customer(id STRING, " + ", ".join(
            f"{c} {'DATE' if c in ('birth_date', 'joined_on') else 'TIMESTAMP' if c == 'updated_at' else 'STRING'}"
            for c in CUSTOMER_COLUMNS) + ", PRIMARY KEY(id))")
        conn.execute("CREATE NODE TABLE Identity(id STRING, source STRING, source_key STRING, matched_by STRING, "
                     "confidence DOUBLE, linked_at TIMESTAMP, PRIMARY KEY(id))")
        conn.execute("CREATE REL TABLE HAS_IDENTITY(FROM Customer TO Identity)")
        conn.execute(SCHEMA[shape])
        conn.execute("CREATE REL TABLE H(FROM Customer TO A)")
        seconds: dict[str, float] = {}
        commits: list[float] = []
        for start in range(0, total, batch):
            c, i, hi = customers(start, min(batch, total - start))
            a, h = (node_observations if shape == "node" else record_observations)(start, i)
            conn.execute("BEGIN TRANSACTION")
            for name, rows in (("Customer", c), ("Identity", i), ("HAS_IDENTITY", hi), ("A", a), ("H", h)):
                if only and name != "Customer" and name not in only:
                    continue
                t0 = time.perf_counter()
                conn.execute(f"COPY {name} FROM $rows", {"rows": rows})
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
            t0 = time.perf_counter()
            conn.execute("COMMIT")
            commits.append(round(time.perf_counter() - t0, 2))
        conn.close()
        db.close()
        store = sum(seconds.values()) + sum(commits)
        return {"customers": total, "batch": batch, "shape": shape, "only": sorted(only) if only else None,
                "store_seconds": round(store, 1), "customers_per_second": round(total / store),
                "copy_seconds": {k: round(v, 1) for k, v in seconds.items()}, "commit_seconds": commits,
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description="LadybugDB write floor of cdp import with provenance, cdp's tables")
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=250_000)
    p.add_argument("--shape", choices=("node", "record"), default="node")
    p.add_argument("--only", help="tables to COPY besides Customer: Identity,HAS_IDENTITY,A,H")
    p.add_argument("--buffer-pool-mb", type=int, default=2048)
    args = p.parse_args()
    only = set(args.only.split(",")) if args.only else None
    print(json.dumps(run(args.customers, args.batch, args.shape, only, args.buffer_pool_mb)))


if __name__ == "__main__":
    main()
