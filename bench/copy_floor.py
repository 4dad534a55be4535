"""The write floor of an import with provenance: LadybugDB alone, no cdp code.

    .venv/bin/python bench/copy_floor.py --customers 1000000 --batch 100000 --ids long

Per batch of customers it COPYs, in one transaction, what the default import mapping
writes for most of its rows: the customers (2 columns here, fewer than the real 15),
5 observations per customer (``AttributeValue``-like: 9 columns) and their links, then
COMMITs. Nothing else runs, so the rate is an upper bound for ``cdp import`` with
provenance (which also writes identities, converts values and detects changes).

``--ids`` picks the observations' primary key: ``long`` (~45-character strings like
cdp's ``<SOURCE>:<customer>|<key>|<time>``), ``short`` (16 hex characters) or ``int``
(INT64). ``--no-auto-checkpoint`` turns LadybugDB's automatic checkpoint off and
checkpoints once at the end (the time is reported apart). Prints one JSON object.
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


def observations(start: int, n: int, kind: str) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Customers, observations and links of customers ``start`` .. ``start + n``."""
    k = len(KEYS)
    customers = pa.array([f"CUST{start + i:09d}" for i in range(n)])
    owners = pa.array(np.repeat(customers.to_numpy(zero_copy_only=False), k))
    keys = list(KEYS) * n
    if kind == "int":
        ids = pa.array(np.arange(start * k, (start + n) * k, dtype=np.int64))
    elif kind == "short":
        ids = pa.array([f"{start * k + i:016x}" for i in range(n * k)])
    else:
        ids = pa.array([f"CRM:CUST{start + i // k:09d}|{keys[i]}|2024-01-01T00:00:00.000000" for i in range(n * k)])
    m = n * k
    values = pa.table({
        "id": ids, "key": pa.array(keys), "value": pa.array(["someone@example.com"] * m),
        "source": pa.array(["CRM"] * m), "identity_id": owners,
        "observed_at": pa.array(np.full(m, np.datetime64("2024-01-01"), dtype="datetime64[us]")),
        "accuracy": pa.array(np.full(m, 0.8)), "customer_maintained": pa.array(np.zeros(m, bool)),
        "verified": pa.array(np.zeros(m, bool))})
    return pa.table({"id": customers, "name": pa.array(["x"] * n)}), values, pa.table({"from": owners, "to": ids})


def relationship_rows(start: int, n: int) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """Customers, their identities and links, and 5 observations per customer as
    relationship rows customer -> identity (no primary key), for customers ``start`` .. ``+ n``."""
    k = len(KEYS)
    customers = pa.array([f"CUST{start + i:09d}" for i in range(n)])
    identities = pa.array([f"CRM:CUST{start + i:09d}" for i in range(n)])
    m = n * k
    owners = pa.array(np.repeat(customers.to_numpy(zero_copy_only=False), k))
    said_by = pa.array(np.repeat(identities.to_numpy(zero_copy_only=False), k))
    observed = pa.table({
        "from": owners, "to": said_by, "key": pa.array(list(KEYS) * n),
        "value": pa.array(["someone@example.com"] * m),
        "observed_at": pa.array(np.full(m, np.datetime64("2024-01-01"), dtype="datetime64[us]")),
        "accuracy": pa.array(np.full(m, 0.8)), "customer_maintained": pa.array(np.zeros(m, bool)),
        "verified": pa.array(np.zeros(m, bool))})
    return (pa.table({"id": customers, "name": pa.array(["x"] * n)}),
            pa.table({"id": identities, "source": pa.array(["CRM"] * n)}),
            pa.table({"from": customers, "to": identities}), observed)


def run(customers: int, batch: int, kind: str, auto_checkpoint: bool, buffer_pool_mb: int,
        shape: str = "node") -> dict:
    import ladybug

    folder = Path(tempfile.mkdtemp(prefix="copy-floor-"))
    try:
        db = ladybug.Database(str(folder / "floor.lbdb"), buffer_pool_size=buffer_pool_mb << 20)
        conn = ladybug.Connection(db)
        if not auto_checkpoint:
            conn.execute("CALL auto_checkpoint=false")
        pk = "INT64" if kind == "int" else "STRING"
        conn.execute("CREATE NODE TABLE C(id STRING, name STRING, PRIMARY KEY(id))")
        if shape == "rel":
            conn.execute("CREATE NODE TABLE I(id STRING, source STRING, PRIMARY KEY(id))")
            conn.execute("CREATE REL TABLE HI(FROM C TO I)")
            conn.execute("CREATE REL TABLE O(FROM C TO I, key STRING, value STRING, observed_at TIMESTAMP, "
                         "accuracy DOUBLE, customer_maintained BOOL, verified BOOL)")
        conn.execute(f"CREATE NODE TABLE A(id {pk}, key STRING, value STRING, source STRING, identity_id STRING, "
                     "observed_at TIMESTAMP, accuracy DOUBLE, customer_maintained BOOL, verified BOOL, "
                     "PRIMARY KEY(id))")
        conn.execute("CREATE REL TABLE H(FROM C TO A)")
        store_seconds = 0.0
        batches = []
        for start in range(0, customers, batch):
            if shape == "rel":
                tables = dict(zip(("C", "I", "HI", "O"), relationship_rows(start, min(batch, customers - start))))
            else:
                tables = dict(zip(("C", "A", "H"), observations(start, min(batch, customers - start), kind)))
            t0 = time.perf_counter()
            conn.execute("BEGIN TRANSACTION")
            for table, rows in tables.items():
                conn.execute(f"COPY {table} FROM $t", {"t": rows})
            t1 = time.perf_counter()
            conn.execute("COMMIT")
            t2 = time.perf_counter()
            batches.append({"copy_s": round(t1 - t0, 2), "commit_s": round(t2 - t1, 2)})
            store_seconds += t2 - t0
        t0 = time.perf_counter()
        conn.execute("CHECKPOINT")
        checkpoint = time.perf_counter() - t0
        conn.close()
        db.close()
        total = store_seconds + checkpoint
        return {"customers": customers, "batch": batch, "shape": shape, "ids": kind, "auto_checkpoint": auto_checkpoint,
                "store_rows": customers * ((3 + len(KEYS)) if shape == "rel" else (1 + 2 * len(KEYS))), "store_seconds": round(store_seconds, 1),
                "final_checkpoint_seconds": round(checkpoint, 1),
                "customers_per_second": round(customers / total),
                "first_batch": batches[0], "last_batch": batches[-1],
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description="LadybugDB write floor of an import with provenance")
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=100_000)
    p.add_argument("--ids", choices=("long", "short", "int"), default="long")
    p.add_argument("--shape", choices=("node", "rel"), default="node",
                   help="node: AttributeValue nodes and links (cdp's model); rel: observations as "
                        "relationship rows customer -> identity, with identities")
    p.add_argument("--no-auto-checkpoint", action="store_true")
    p.add_argument("--buffer-pool-mb", type=int, default=2048)
    args = p.parse_args()
    print(json.dumps(run(args.customers, args.batch, args.ids, not args.no_auto_checkpoint, args.buffer_pool_mb,
                         args.shape)))


if __name__ == "__main__":
    main()
