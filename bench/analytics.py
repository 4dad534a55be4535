"""Benchmark of the analytics of issue 4 at a given number of customers.

    .venv/bin/python bench/analytics.py --customers 1000000
    .venv/bin/python bench/analytics.py --customers 20000 --writes 3

Loads the seeded demo data (cached as Parquet by ``bench.bulk``) into a fresh
embedded store (reused by later runs: ``bench/out/analytics-<customers>-<seed>.lbdb``)
and times, in this process, through the same objects the server uses
(``cdp.analytics.analytics.Analytics``):

1. the projection build (whole store into memory) and its memory;
2. the feature frame of every customer;
3. incremental refresh after a write of 1,000 rows (new contacts of 1,000
   customers with their channel links), ``--writes`` times: the write, the
   projection refresh and the feature refresh are timed separately;
4. value segmentation (concentration, tiers, RFM, clusters);
5. previewing a five-condition segment (size plus the first page of 50),
   ``--previews`` times on fresh definitions (no cache hits): p50 and p95;
6. next-best offers: one customer's top 5 (p50/p95 over ``--lookups``
   customers, after a warm-up that fits and calibrates the model) and the top 5 of
   everyone; ``--propensity`` trains the propensity models first, so they blend in.
   A reused store that predates the demo catalogue's rules gets them written first;
7. churn training, scoring everyone, and one customer's scores (p50 over
   ``--lookups`` customers), when the scoring module is present.

Prints one JSON line (stdout) and a Markdown table. Reports, does not assert:
the targets are in the table.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402
from bench.bulk import bulk_load, demo_data  # noqa: E402

TARGETS = {
    "projection_build_seconds": ("<=", 60.0),
    "refresh_after_1000_rows_seconds": ("<=", 1.0),
    "segment_preview_p50_ms": ("<=", 100.0),
    "churn_training_seconds": ("<=", 120.0),
    "score_everyone_seconds": ("<=", 15.0),
    "one_customer_scores_p50_ms": ("<=", 5.0),
    "recommend_one_p95_ms": ("<=", 20.0),
    "recommend_everyone_seconds": ("<=", 120.0),
}


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _peak_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _frames_mib(data: Any) -> float:
    total = data.customers.memory_usage(deep=True).sum()
    total += sum(f.memory_usage(deep=True).sum() for f in data.facts.values())
    return round(total / 2**20, 1)


def _store(out: Path, customers: int, seed: int, buffer_pool_mb: int) -> Path:
    path = out / f"analytics-{customers}-{seed}.lbdb"
    if path.exists():
        _say(f"reusing store {path}")
        return path
    data, _ = demo_data(out, customers, seed)
    bulk_load(data, path, buffer_pool_mb)
    return path


def _ensure_demo_rules(store: Any) -> dict:
    """Write the demo catalogue's rules (eligibility and validity properties, REQUIRES,
    EXCLUDES, UPGRADES_TO; ``cdp.demo.telecom``) into a store loaded before the demo carried them.

    The rules do not change the generated customers or subscriptions, so the store then
    holds what a fresh load would. Returns the rule counts and whether they were written now.
    """
    from cdp.offers import catalog_rules
    from cdp.demo import telecom as demo
    from graph.store import node_op, relationship_op

    rules = catalog_rules.read_rules(store)
    written = False
    if not rules.requires and not rules.excludes and not rules.upgrades:
        _say("the store predates the demo catalogue's rules: writing them")
        import datetime as dt

        cat = demo._catalog(demo._Clock.at(dt.date(2026, 11, 1)).as_of)
        products, rels = demo._product_tables(cat)
        ops = [node_op("Product", products)]
        ops += [relationship_op(t, rels[t]) for t in ("REQUIRES", "EXCLUDES", "UPGRADES_TO")]
        store.write(ops)
        rules = catalog_rules.read_rules(store)
        written = True
    catalog_rules.validate(store.products(), rules)
    return {"requires": sum(map(len, rules.requires.values())), "excludes": sum(map(len, rules.excludes.values())),
            "upgrades": sum(map(len, rules.upgrades.values())), "written_now": written}


def _write_contacts(store: Any, ids: list[str], tag: str, at: datetime) -> float:
    """Write 1,000 rows: one new complaint contact per customer in ``ids``, with links."""
    from graph.store import node_op, relationship_op

    keys = [f"K-BENCH-{tag}-{i}" for i in range(len(ids))]
    ops = [
        node_op("Contact", [{"id": k, "at": at, "kind": "COMPLAINT", "direction": "INBOUND", "outcome": "OPEN"}
                            for k in keys]),
        relationship_op("HAD_CONTACT", [{"from": c, "to": k} for c, k in zip(ids, keys)]),
        relationship_op("VIA", [{"from": k, "to": "CALL_CENTRE"} for k in keys]),
    ]
    started = time.perf_counter()
    store.write(ops)
    return time.perf_counter() - started


def _definitions(rng: random.Random, products: list[str], count: int) -> list[dict]:
    """``count`` different five-condition segment definitions (no two alike, so no cache hits)."""
    out = []
    for _ in range(count):
        out.append({"all": [
            {"attribute": {"key": "tier", "op": "IN", "values": ["CONSUMER", "BUSINESS"]}},
            {"holds": {"product": rng.choice(products)}},
            {"contacts": {"atLeast": 1, "days": rng.randint(60, 400), "kinds": ["INQUIRY", "COMPLAINT"]}},
            {"attribute": {"key": "tenure_months", "op": "GTE", "value": str(rng.randint(1, 24))}},
            {"not": {"account": {"types": ["PREPAID"]}}},
        ]})
    return out


def run(customers: int, seed: int, writes: int, previews: int, lookups: int, out: Path,
        buffer_pool_mb: int, scores: bool = True, propensity: bool = False) -> dict:
    from cdp.analytics.analytics import Analytics
    from cdp.settings import Settings
    from cdp.store import open_store
    from graph.clock import utc_now

    path = _store(out, customers, seed, buffer_pool_mb)
    settings = Settings(db_path=path, buffer_pool_mb=buffer_pool_mb)
    store = open_store(settings)
    results: dict[str, Any] = {"benchmark": "analytics", "customers": customers, "seed": seed,
                               "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               "command": " ".join([Path(sys.executable).name, *sys.argv]),
                               "machine": machine.facts()}
    try:
        results["catalog_rules"] = _ensure_demo_rules(store)
        analytics = Analytics(store, settings)
        gc.collect()
        rss_before = _rss_mib()
        _say("building the projection")
        started = time.perf_counter()
        data = analytics.data()
        results["projection_build_seconds"] = round(time.perf_counter() - started, 2)
        results["projection_rows"] = {"customers": data.size, **{k: len(v) for k, v in data.facts.items()}}
        results["projection_frames_mib"] = _frames_mib(data)
        gc.collect()
        results["projection_rss_growth_mib"] = round(_rss_mib() - rss_before, 1)
        _say(f"projection: {results['projection_build_seconds']} s, frames {results['projection_frames_mib']} MiB")

        started = time.perf_counter()
        features = analytics.features.current(data)
        results["features_seconds"] = round(time.perf_counter() - started, 2)
        results["features_shape"] = list(features.shape)
        _say(f"features: {results['features_seconds']} s {features.shape}")

        rng = random.Random(seed)
        refresh, write_s, feature_s = [], [], []
        at = utc_now() - timedelta(hours=1)
        run_tag = datetime.now().strftime("%H%M%S")
        for i in range(writes):
            ids = rng.sample(list(data.ids), 1000)
            write_s.append(_write_contacts(store, ids, f"{run_tag}-{i}", at))
            started = time.perf_counter()
            data = analytics.data()
            refresh.append(time.perf_counter() - started)
            started = time.perf_counter()
            analytics.features.current(data)
            feature_s.append(time.perf_counter() - started)
            _say(f"write {write_s[-1]:.2f} s, refresh {refresh[-1]:.3f} s, features {feature_s[-1]:.3f} s")
        if writes:
            results["write_1000_rows_seconds"] = round(statistics.median(write_s), 3)
            results["refresh_after_1000_rows_seconds"] = round(statistics.median(
                [r + f for r, f in zip(refresh, feature_s)]), 3)
            results["refresh_projection_seconds"] = round(statistics.median(refresh), 3)
            results["refresh_features_seconds"] = round(statistics.median(feature_s), 3)

        started = time.perf_counter()
        value = analytics.value.current(data)
        results["value_segmentation_seconds"] = round(time.perf_counter() - started, 2)
        results["value"] = {"top20_revenue_share": round(value.top_share, 4), "gini": round(value.gini, 4),
                            "clusters": value.k, "silhouette": round(value.silhouette, 3)}
        _say(f"value segmentation: {results['value_segmentation_seconds']} s")

        results.update(_segments(analytics, data, rng, previews))
        if propensity:
            started = time.perf_counter()
            analytics.models.train("propensity")
            results["propensity_training_seconds"] = round(time.perf_counter() - started, 2)
            _say(f"propensity training: {results['propensity_training_seconds']} s")
            data = analytics.data()
        results.update(_recommendations(analytics, data, rng, lookups))
        if scores:
            results.update(_scores(analytics, data, rng, lookups))
        results["peak_rss_mib"] = _peak_mib()
    finally:
        store.close()
    return results


def _segments(analytics: Any, data: Any, rng: random.Random, previews: int) -> dict:
    try:
        engine = analytics.segments
    except (ImportError, AttributeError) as exc:
        _say(f"segments not available: {exc}")
        return {}
    products = [p for p in data.products.index if data.products.loc[p, "lifecycle"] == "ACTIVE"]
    times, sizes = [], []
    for definition in _definitions(rng, products, previews):
        started = time.perf_counter()
        preview = engine.preview(definition, limit=50, authorise=None)
        times.append((time.perf_counter() - started) * 1000)
        sizes.append(preview.evaluation.size)
    times.sort()
    return {"segment_preview_p50_ms": round(statistics.median(times), 1),
            "segment_preview_p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
            "segment_preview_runs": len(times), "segment_sizes_median": int(statistics.median(sizes)),
            "segment_sizes_min_max": [min(sizes), max(sizes)]}


def _recommendations(analytics: Any, data: Any, rng: random.Random, lookups: int) -> dict:
    """One customer's top 5 (p50/p95 after a warm-up) and the top 5 of every customer."""
    import numpy as np

    engine = analytics.recommendations
    started = time.perf_counter()
    engine.for_customer(data.ids[0], 5)
    out: dict[str, Any] = {"recommend_warmup_seconds": round(time.perf_counter() - started, 2)}
    c = engine.calibration(data)
    if c is not None:
        out["recommend_calibration"] = {"method": c.method, "model": c.model, "customers": c.customers,
                                        "pairs": c.pairs, "takers": c.takers, "observed": round(c.observed, 5),
                                        "predicted": round(c.predicted, 5),
                                        "brier": None if c.brier is None else round(c.brier, 5),
                                        "per_product": c.per_product}
    _say(f"recommendations warm-up {out['recommend_warmup_seconds']} s, calibration {out.get('recommend_calibration')}")
    times = []
    for customer_id in rng.sample(list(data.ids), lookups):
        started = time.perf_counter()
        engine.for_customer(customer_id, 5)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    out["recommend_one_p50_ms"] = round(statistics.median(times), 2)
    out["recommend_one_p95_ms"] = round(times[int(0.95 * (len(times) - 1))], 2)
    started = time.perf_counter()
    items, _ = engine.top_products(np.flatnonzero(data.base()), 5, data=data)
    out["recommend_everyone_seconds"] = round(time.perf_counter() - started, 2)
    out["recommend_everyone_with_offer_share"] = round(float((items[:, 0] >= 0).mean()), 4)
    _say(f"recommendations: one p95 {out['recommend_one_p95_ms']} ms, everyone {out['recommend_everyone_seconds']} s")
    return out


def _scores(analytics: Any, data: Any, rng: random.Random, lookups: int) -> dict:
    models = getattr(analytics, "models", None)
    if models is None:
        _say("scoring not available")
        return {}
    out: dict[str, Any] = {}
    started = time.perf_counter()
    cards = models.train("churn")
    card = cards[0] if isinstance(cards, list) else cards
    out["churn_training_seconds"] = round(time.perf_counter() - started, 2)
    metrics, baseline = getattr(card, "metrics", None), getattr(card, "baseline", None)
    out["churn_card"] = {"rows": card.rows, "positives": card.positives,
                         **{k: getattr(metrics, k, None) for k in ("roc_auc", "pr_auc", "brier")},
                         **{f"baseline_{k}": getattr(baseline, k, None) for k in ("roc_auc", "pr_auc", "brier")}}
    _say(f"churn training: {out['churn_training_seconds']} s {out['churn_card']}")
    if hasattr(models, "score_everyone"):
        started = time.perf_counter()
        models.score_everyone()
        out["score_everyone_seconds"] = round(time.perf_counter() - started, 2)
    times = []
    ids = rng.sample(list(data.ids), lookups)
    for customer_id in ids:
        started = time.perf_counter()
        models.customer_scores(customer_id)
        times.append((time.perf_counter() - started) * 1000)
    out["one_customer_scores_p50_ms"] = round(statistics.median(times), 3)
    return out


def markdown(r: dict) -> str:
    rows = ["| figure | target | measured |", "|---|---:|---:|"]
    for key, (op, target) in TARGETS.items():
        if key in r:
            rows.append(f"| {key} | {op} {target:g} | {r[key]} |")
    for key in ("projection_frames_mib", "projection_rss_growth_mib", "features_seconds",
                "write_1000_rows_seconds", "refresh_projection_seconds", "refresh_features_seconds",
                "value_segmentation_seconds", "segment_preview_p95_ms", "peak_rss_mib"):
        if key in r:
            rows.append(f"| {key} | | {r[key]} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--writes", type=int, default=5)
    parser.add_argument("--previews", type=int, default=30)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--buffer-pool-mb", type=int, default=2048)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--no-scores", action="store_true", help="skip model training and scoring")
    parser.add_argument("--propensity", action="store_true",
                        help="train the propensity models before timing recommendations (they blend in)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = run(args.customers, args.seed, args.writes, args.previews, args.lookups, args.out,
                  args.buffer_pool_mb, scores=not args.no_scores, propensity=args.propensity)
    line = json.dumps(results, default=str)
    print(line)
    if args.json_out:
        args.json_out.write_text(line + "\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
