"""Collaborative filtering quality and speed on the project's demo data (``cdp.demo.telecom.generate``).

Protocol (docs/recommendations.md, "Quality"), the same as on MovieLens:

* customer x product from subscriptions (Customer -HOLDS-> Account -HAS_SUBSCRIPTION->
  Subscription -OF_PRODUCT-> Product), any status: a customer "holds" a product they
  ever subscribed to; a product taken twice counts once, at its first ``since``;
* each customer's **latest** product by ``since`` is held out (``--holdout``; ties broken
  by subscription id); customers with a single product keep it in training and are
  not evaluated;
* every model is fitted on the rest; recall@10 = hits / min(10, |held out|), NDCG@10;
  popularity is the baseline in the same run; the blend's weights come from a
  validation split of the training part (each customer's latest training product).

Also timed: fit, top-5 for every customer (batch), one customer's top 5 (p50 / p95).

    .venv/bin/python bench/recommend_demo.py [--customers 20000] [--seed 42] [--holdout 1] [--json]

``--engine`` measures the serving engine instead (``cdp.offers.recommendations.holdout_quality``):
the demo data is loaded into a fresh embedded store, and the engine ranks, as of
``--days`` (180) days ago, the products the catalog rules allowed then, with each
collaborative model (calibrated on the 180 days before that) and with popularity
over the same candidates; the held-out items are the products each customer started
since. Then one customer's top 5 through ``Analytics.recommendations`` (p50 / p95).

    .venv/bin/python bench/recommend_demo.py --engine [--customers 20000] [--days 180] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cdp.demo import telecom as demo
from cdp.offers.collaborative import (Blend, ImplicitFactorization, ItemCooccurrence, ItemRegression, Popularity,  # noqa: E402
                               Recommender, evaluate, interaction_matrix, temporal_split, tune_blend)

K = 10


def interactions(data: demo.DemoData) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """``(frame, customer ids, product ids)``: frame columns ``user``, ``item`` (row and
    column numbers), ``time`` (first ``since`` of the pair), one row per customer and product."""
    rel = data.relationships
    holds = rel["HOLDS"].to_pandas().rename(columns={"from": "customer", "to": "account"})
    has = rel["HAS_SUBSCRIPTION"].to_pandas().rename(columns={"from": "account", "to": "subscription"})
    of = rel["OF_PRODUCT"].to_pandas().rename(columns={"from": "subscription", "to": "product"})
    subs = data.nodes["Subscription"].to_pandas()[["id", "since"]].rename(columns={"id": "subscription"})
    f = holds.merge(has, on="account").merge(of, on="subscription").merge(subs, on="subscription")
    f = f.sort_values(["since", "subscription"], kind="stable").drop_duplicates(["customer", "product"])
    customers = data.nodes["Customer"].to_pandas()["id"].to_numpy()
    products = data.nodes["Product"].to_pandas()["id"].to_numpy()
    frame = pd.DataFrame({"user": pd.Index(customers).get_indexer(f["customer"]),
                          "item": pd.Index(products).get_indexer(f["product"]),
                          "time": pd.to_datetime(f["since"]).to_numpy()})
    return frame.reset_index(drop=True), customers, products


def models() -> dict[str, Recommender]:
    """The models compared (settings for a ~30-product catalogue)."""
    return {
        "popularity": Popularity(),
        "cooccurrence": ItemCooccurrence(alpha=0.5, shrink=10.0, neighbours=0),
        "factorization": ImplicitFactorization(factors=16, alpha=5.0, reg=1.0, iterations=10),
        "ease": ItemRegression(reg=100.0, min_count=1),
    }


def run(customers: int = 20_000, seed: int = 42, holdout: int = 1, k: int = K) -> dict[str, Any]:
    """Generate demo data, fit every model, report quality against popularity and timings."""
    t = time.perf_counter()
    data = demo.generate(customers, seed=seed)
    frame, ids, products = interactions(data)
    gen_s = time.perf_counter() - t
    shape = (len(ids), len(products))
    train, test = temporal_split(frame, n_latest=holdout)
    X = interaction_matrix(train["user"].to_numpy(), train["item"].to_numpy(), shape)
    T = interaction_matrix(test["user"].to_numpy(), test["item"].to_numpy(), shape)
    out: dict[str, Any] = {"customers": customers, "products": len(products), "pairs": len(frame),
                           "train": int(X.nnz), "held_out": int(T.nnz), "holdout_per_customer": holdout, "k": k,
                           "generate_seconds": gen_s, "models": {}}
    fitted: dict[str, Recommender] = {}
    for name, est in models().items():
        t0 = time.perf_counter()
        est.fit(X)
        fit_s = time.perf_counter() - t0
        q = evaluate(est, X, T, k)
        t0 = time.perf_counter()
        est.recommend(None, 5)
        batch_s = time.perf_counter() - t0
        one = []
        for u in np.random.default_rng(0).integers(0, shape[0], 300):
            t1 = time.perf_counter()
            est.recommend([u], 5)
            one.append(time.perf_counter() - t1)
        out["models"][name] = {"recall": q.recall, "ndcg": q.ndcg, "users": q.users, "fit_seconds": fit_s,
                               "top5_everyone_seconds": batch_s,
                               "top5_one_p50_ms": float(np.percentile(one, 50) * 1e3),
                               "top5_one_p95_ms": float(np.percentile(one, 95) * 1e3)}
        fitted[name] = est
    names = ["cooccurrence", "factorization", "ease", "popularity"]
    fresh = models()
    t0 = time.perf_counter()
    tuned, tried = tune_blend([(n, fresh[n]) for n in names], train, shape, n_latest=holdout, k=k,
                              grid=(0.0, 0.5, 1.0))
    tune_s = time.perf_counter() - t0
    blend = Blend([(n, fitted[n]) for n in names], weights=tuned.weights, prefit=True).fit(X)
    q = evaluate(blend, X, T, k)
    t0 = time.perf_counter()
    blend.recommend(None, 5)
    out["models"]["blend"] = {"recall": q.recall, "ndcg": q.ndcg, "users": q.users, "fit_seconds": tune_s,
                              "top5_everyone_seconds": time.perf_counter() - t0,
                              "weights": dict(zip(names, tuned.weights)),
                              "validation_recall": tried[tuple(tuned.weights)].recall}
    base = out["models"]["popularity"]
    best = max((n for n in out["models"] if n != "popularity"), key=lambda n: out["models"][n]["recall"])
    out["best"] = best
    out["recall_vs_popularity"] = out["models"][best]["recall"] / base["recall"]
    names_of = data.nodes["Product"].to_pandas().set_index("id")["name"]
    co = fitted["cooccurrence"]
    user = int(test["user"].iloc[0])
    items, _ = co.recommend([user], 3)
    reasons = []
    for r in co.explain(user, [int(i) for i in items[0] if i >= 0]):
        if r is not None:
            reasons.append(f"{names_of[products[r.item]]}: held by {r.share:.0%} of customers who hold "
                           f"{names_of[products[r.because_of]]}")
    out["example"] = {"customer": str(ids[user]), "reasons": reasons}
    return out


def engine_run(customers: int = 20_000, seed: int = 42, days: int = 180, k: int = K,
               lookups: int = 300) -> dict[str, Any]:
    """The engine's holdout quality per collaborative model and popularity, and one customer's
    top-5 latency, on a fresh store of the demo data (``customers``, ``seed``)."""
    import tempfile
    from datetime import timedelta

    from bench.bulk import bulk_load
    from cdp.analytics.analytics import Analytics
    from graph.clock import utc_now
    from cdp.offers.recommendations import holdout_quality
    from cdp.settings import Settings
    from cdp.store import open_store

    data = demo.generate(customers, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "engine.lbdb"
        bulk_load(data, path, 512)
        settings = Settings(db_path=path, buffer_pool_mb=512)
        store = open_store(settings)
        try:
            analytics = Analytics(store, settings)
            now = utc_now()
            t0 = time.perf_counter()
            q = holdout_quality(analytics, now - timedelta(days=days), now, k)
            out: dict[str, Any] = {"customers": customers, "seed": seed, "days": days, "k": k,
                                   "evaluated": q["customers"], "held_out": q["held_out"],
                                   "at": q["at"].isoformat(timespec="seconds"),
                                   "seconds": time.perf_counter() - t0, "rankings": {}, "calibration": {}}
            for name, r in q["rankings"].items():
                out["rankings"][name] = {by: {"recall": v.recall, "ndcg": v.ndcg} for by, v in r.items()}
            for name, c in q["calibration"].items():
                out["calibration"][name] = {"method": c.method, "customers": c.customers, "pairs": c.pairs,
                                            "takers": c.takers, "observed": c.observed, "predicted": c.predicted,
                                            "brier": c.brier, "per_product": c.per_product}
            engine = analytics.recommendations
            ids = list(analytics.data().ids)
            t0 = time.perf_counter()
            engine.for_customer(ids[0], 5)
            out["warmup_seconds"] = time.perf_counter() - t0
            times = []
            for i in np.random.default_rng(0).integers(0, len(ids), lookups):
                t1 = time.perf_counter()
                engine.for_customer(ids[i], 5)
                times.append(time.perf_counter() - t1)
            out["one_p50_ms"] = float(np.percentile(times, 50) * 1e3)
            out["one_p95_ms"] = float(np.percentile(times, 95) * 1e3)
            recs = engine.for_customer(ids[0], 3)
            out["example"] = {"customer": str(ids[0]), "offers": [
                {"offer": r.product, "probability": round(r.probability, 4), "expected_value": round(r.expected_value, 2),
                 "reasons": list(r.reasons)} for r in recs]}
        finally:
            store.close()
    return out


def _print_engine(r: dict[str, Any]) -> None:
    print(f"engine on demo data: {r['customers']:,} customers; as of {r['at']} ({r['days']} days ago), "
          f"{r['evaluated']:,} customers started {r['held_out']:,} products since")
    print(f"{'ranking':<14} {'recall@10 p':>11} {'NDCG@10 p':>9} {'recall@10 EV':>12} {'NDCG@10 EV':>10}")
    for name, m in r["rankings"].items():
        p, e = m["probability"], m["expected_value"]
        print(f"{name:<14} {p['recall']:>11.4f} {p['ndcg']:>9.4f} {e['recall']:>12.4f} {e['ndcg']:>10.4f}")
    for name, c in r["calibration"].items():
        brier = "" if c["brier"] is None else f", Brier {c['brier']:.4f}"
        print(f"calibration {name}: {c['method']}, {c['customers']:,} customers, {c['pairs']:,} pairs, "
              f"{c['takers']:,} takers (rate {c['observed']:.4f}, predicted {c['predicted']:.4f}{brier}), "
              f"{c['per_product']} product curves")
    print(f"one customer's top 5: warm-up {r['warmup_seconds']:.2f} s, p50 {r['one_p50_ms']:.2f} ms, "
          f"p95 {r['one_p95_ms']:.2f} ms")
    for o in r["example"]["offers"]:
        print(f"  {r['example']['customer']}: {o['offer']} p={o['probability']} EV={o['expected_value']}: "
              f"{'; '.join(o['reasons'])}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--holdout", type=int, default=1, help="latest products held out per customer (default 1)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--engine", action="store_true", help="measure the serving engine (see above)")
    ap.add_argument("--days", type=int, default=180, help="--engine: rank as of this many days ago")
    a = ap.parse_args(argv)
    if a.engine:
        e = engine_run(a.customers, a.seed, a.days)
        if a.json:
            print(json.dumps(e, indent=2, default=str))
        else:
            _print_engine(e)
        return 0
    r = run(a.customers, a.seed, a.holdout)
    if a.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"demo data: {r['customers']:,} customers, {r['products']} products, {r['pairs']:,} customer-product "
          f"pairs; latest {r['holdout_per_customer']} per customer held out ({r['held_out']:,} customers evaluated)")
    print(f"{'model':<14} {'recall@10':>9} {'NDCG@10':>8} {'fit s':>7} {'top5 all s':>10} {'one p50 ms':>10} "
          f"{'one p95 ms':>10}")
    for name, m in r["models"].items():
        print(f"{name:<14} {m['recall']:>9.4f} {m['ndcg']:>8.4f} {m['fit_seconds']:>7.2f} "
              f"{m['top5_everyone_seconds']:>10.3f} {m.get('top5_one_p50_ms', float('nan')):>10.3f} "
              f"{m.get('top5_one_p95_ms', float('nan')):>10.3f}")
    print(f"blend weights (validation split): {r['models']['blend']['weights']}")
    print(f"best: {r['best']}, recall@10 = {r['recall_vs_popularity']:.2f} x popularity")
    for line in r["example"]["reasons"]:
        print(f"  {r['example']['customer']}: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
