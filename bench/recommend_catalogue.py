"""Recommendations on big catalogues: how long the first request takes, and the next ones.

A synthetic store is bulk-loaded into a fresh embedded LadybugDB file: ``--customers``
customers, each with one prepaid account holding ``--per-customer`` subscriptions out of
``--products`` products (70% from a "taste" group of 50 products, 30% by a Zipf-like
popularity; start dates spread over the last two years, so the calibration window has
takers). No catalog rules, prices unless ``--unpriced``. Then, through
``Analytics.recommendations``:

* ``projection``: loading the analytic projection (``Analytics.data()``);
* ``build``: the engine's state for that snapshot (holdings, collaborative model and its
  calibration, co-occurrence counts, catalogue matrices) plus the first customer's top 5:
  what the first ``recommendations`` request waits for after the projection;
* ``one_p50_ms`` / ``one_p95_ms``: one customer's top 5 afterwards (``--lookups`` customers).

    .venv/bin/python bench/recommend_catalogue.py --customers 1000 --products 20000
    .venv/bin/python bench/recommend_catalogue.py --customers 1000000 --products 500
    make bench-recommend          # both
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph.model import MODEL  # noqa: E402

GROUP = 50


def _table(label: str, columns: dict[str, pa.Array], relationship: bool = False) -> pa.Table:
    """A table in the model's schema for ``label``; columns not given are null."""
    schema = (MODEL.relationship(label) if relationship else MODEL.node(label)).arrow_schema()
    n = len(next(iter(columns.values())))
    return pa.Table.from_arrays([columns.get(f.name, pa.nulls(n, f.type)) for f in schema], schema=schema)


def synthetic(customers: int, products: int, per_customer: int, seed: int, priced: bool,
              today: date) -> tuple[dict[str, pa.Table], dict[str, pa.Table]]:
    """Node and relationship tables of the synthetic store (see the module docstring)."""
    rng = np.random.default_rng(seed)
    cids = pa.array([f"C{i:07d}" for i in range(customers)])
    aids = pa.array([f"A{i:07d}" for i in range(customers)])
    pids = np.array([f"P{j:05d}" for j in range(products)], dtype=object)
    popularity = 1.0 / np.arange(1, products + 1) ** 0.8
    popularity /= popularity.sum()
    groups = max(1, products // GROUP)
    taste = rng.integers(0, groups, customers)
    n = customers * per_customer
    owner = np.repeat(np.arange(customers), per_customer)
    in_group = rng.random(n) < 0.7
    product = np.where(in_group, np.minimum(taste[owner] * GROUP + rng.integers(0, GROUP, n), products - 1),
                       rng.choice(products, n, p=popularity))
    since = np.datetime64(today) - rng.integers(1, 730, n).astype("timedelta64[D]")
    sids = pa.array([f"S{k:08d}" for k in range(n)])
    price = rng.uniform(2, 40, products).round(2)
    nodes = {
        "Customer": _table("Customer", {"id": cids, "status": pa.array(["ACTIVE"] * customers),
                                        "tier": pa.array(["CONSUMER"] * customers),
                                        "joined_on": pa.array([date(2022, 1, 1)] * customers, pa.date32())}),
        "Account": _table("Account", {"id": aids, "type": pa.array(["PREPAID"] * customers),
                                      "status": pa.array(["ACTIVE"] * customers),
                                      "opened_on": pa.array([date(2022, 1, 1)] * customers, pa.date32())}),
        "Product": _table("Product", {
            "id": pa.array(pids.tolist()), "name": pa.array([f"Product {p}" for p in pids]),
            "category": pa.array(["VALUE_ADDED"] * products), "lifecycle": pa.array(["ACTIVE"] * products),
            "monthly_price": pa.array(price if priced else np.full(products, np.nan), pa.float64(),
                                      mask=None if priced else np.ones(products, dtype=bool)),
            "monthly_cost": pa.array((price * 0.3).round(2) if priced else np.zeros(products), pa.float64(),
                                     mask=None if priced else np.ones(products, dtype=bool))}),
        "Subscription": _table("Subscription", {"id": sids, "status": pa.array(["ACTIVE"] * n),
                                                "since": pa.array(since.astype("datetime64[D]"), pa.date32())}),
    }
    rels = {
        "HOLDS": _table("HOLDS", {"from": cids, "to": aids}, relationship=True),
        "HAS_SUBSCRIPTION": _table("HAS_SUBSCRIPTION", {"from": pa.array(np.asarray(aids)[owner]), "to": sids},
                                   relationship=True),
        "OF_PRODUCT": _table("OF_PRODUCT", {"from": sids, "to": pa.array(pids[product].tolist())},
                             relationship=True),
    }
    return nodes, rels


def run(customers: int, products: int, per_customer: int = 3, seed: int = 7, priced: bool = True,
        lookups: int = 100, buffer_pool_mb: int = 2048) -> dict[str, Any]:
    """Build the store, then time the projection, the first request and later ones."""
    from cdp.analytics.analytics import Analytics
    from cdp.settings import Settings
    from cdp.store import open_store

    out: dict[str, Any] = {"customers": customers, "products": products, "per_customer": per_customer,
                           "priced": priced}
    t0 = time.perf_counter()
    nodes, rels = synthetic(customers, products, per_customer, seed, priced, datetime.utcnow().date())
    out["generate_seconds"] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(db_path=Path(tmp) / "catalogue.lbdb", buffer_pool_mb=buffer_pool_mb)
        store = open_store(settings)
        try:
            t0 = time.perf_counter()
            store.bulk_load(nodes, rels)
            out["load_seconds"] = time.perf_counter() - t0
            analytics = Analytics(store, settings)
            t0 = time.perf_counter()
            data = analytics.data()
            out["projection_seconds"] = time.perf_counter() - t0
            ids = list(data.ids)
            engine = analytics.recommendations
            t0 = time.perf_counter()
            first = engine.for_customer(ids[0], 5)
            out["build_seconds"] = time.perf_counter() - t0
            c = engine.calibration()
            out["calibration"] = {"method": c.method, "model": c.model, "customers": c.customers,
                                  "takers": c.takers} if c else None
            times = []
            for i in np.random.default_rng(0).integers(0, len(ids), lookups):
                t1 = time.perf_counter()
                engine.for_customer(ids[i], 5)
                times.append(time.perf_counter() - t1)
            out["one_p50_ms"] = float(np.percentile(times, 50) * 1e3)
            out["one_p95_ms"] = float(np.percentile(times, 95) * 1e3)
            out["example"] = {"customer": str(ids[0]), "offers": [
                {"offer": r.product, "probability": round(r.probability, 4), "reasons": list(r.reasons)}
                for r in first[:3]]}
        finally:
            store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=1_000)
    ap.add_argument("--products", type=int, default=20_000)
    ap.add_argument("--per-customer", type=int, default=3, help="subscriptions per customer")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--unpriced", action="store_true", help="no prices: offers rank by probability")
    ap.add_argument("--lookups", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    r = run(a.customers, a.products, a.per_customer, a.seed, not a.unpriced, a.lookups)
    if a.json:
        print(json.dumps(r, indent=2, default=str))
    else:
        print(f"{r['customers']:,} customers x {r['products']:,} products ({r['per_customer']} each, "
              f"{'priced' if r['priced'] else 'unpriced'}): load {r['load_seconds']:.1f} s, "
              f"projection {r['projection_seconds']:.1f} s, first request (build) {r['build_seconds']:.1f} s, "
              f"then one customer's top 5 p50 {r['one_p50_ms']:.1f} ms / p95 {r['one_p95_ms']:.1f} ms; "
              f"calibration {r['calibration']}")
        for o in r["example"]["offers"]:
            print(f"  {r['example']['customer']}: {o['offer']} {o['probability']} {'; '.join(o['reasons'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
