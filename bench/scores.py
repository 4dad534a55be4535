"""Predictive scores on demo data: quality against the logistic baseline, and speed.

Generates ``--customers`` seeded demo customers (churn is planted, cdp/demo/telecom.py),
bulk-loads them into a fresh embedded store, then through the model registry
(the code ``trainModel`` runs): trains churn, lifetime value and propensity,
scores everyone, and times one customer's scores and reasons.

    .venv/bin/python bench/scores.py --customers 20000
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path


def run(customers: int, workdir: Path, seed: int = 42, lookups: int = 500) -> dict:
    """Everything above; returns the figures."""
    from cdp.demo import telecom as demo
    from cdp.analytics.analytics import Analytics
    from cdp.settings import Settings
    from graph.ladybug_store import LadybugStore

    out: dict = {"customers": customers}
    started = time.perf_counter()
    data = demo.generate(customers, seed=seed)
    store = LadybugStore(workdir / "scores.lbdb", buffer_pool_mb=2048)
    store.bulk_load(data.nodes, data.relationships)
    del data
    out["load_seconds"] = round(time.perf_counter() - started, 1)
    analytics = Analytics(store, Settings(db_path=workdir / "scores.lbdb", model_dir=workdir / "models"))
    try:
        started = time.perf_counter()
        analytics.features.current(analytics.data())
        out["projection_and_features_seconds"] = round(time.perf_counter() - started, 1)
        models = analytics.models
        for name in ("churn", "lifetime_value", "propensity"):
            started = time.perf_counter()
            card = models.train(name)[-1]
            out[f"{name}_training_seconds"] = round(time.perf_counter() - started, 1)
            out[f"{name}_card"] = card
        started = time.perf_counter()
        out["scored"] = models.score_everyone()
        out["score_everyone_seconds"] = round(time.perf_counter() - started, 2)  # churn risk and lifetime value
        started = time.perf_counter()
        models.score_everyone(propensity=True)
        out["score_everyone_with_propensity_seconds"] = round(time.perf_counter() - started, 2)
        ids = random.Random(seed).sample(list(analytics.data().ids), min(lookups, customers))
        times = []
        for customer_id in ids:
            t = time.perf_counter()
            models.customer_scores(customer_id)
            times.append((time.perf_counter() - t) * 1000)
        out["one_customer_scores_p50_ms"] = round(statistics.median(times), 3)
        out["one_customer_scores_p99_ms"] = round(sorted(times)[int(0.99 * (len(times) - 1))], 3)
        times = []
        for customer_id in ids[:50]:
            t = time.perf_counter()
            models.churn_reasons(customer_id)
            times.append((time.perf_counter() - t) * 1000)
        out["reasons_p50_ms"] = round(statistics.median(times), 1)
    finally:
        analytics.close()
        store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=20_000)
    p.add_argument("--workdir", type=Path)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cdp_scores_") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        r = run(args.customers, workdir)
    for name in ("churn", "lifetime_value", "propensity"):
        print(r.pop(f"{name}_card").summary())
    for key, value in r.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
