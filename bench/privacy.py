"""Benchmark of privacy (issue 7): consents over a whole base, exports and erasures.

    .venv/bin/python bench/privacy.py --customers 1000000
    .venv/bin/python bench/privacy.py --customers 20000

Works on a fresh copy of the store ``bench/analytics.py`` builds and reuses
(``bench/out/privacy-<customers>-<seed>.lbdb``, deleted afterwards unless ``--keep``).
Timed, through the objects the server uses, in this process:

1. the projection build (not part of any target: a server has it warm);
2. ``--consents`` consent statements written as one import would (one write: MARKETING
   denied, revoked or granted, SMS denied, some with an expiry), the incremental
   projection refresh that follows, and the whole base's consent decisions
   (``cdp.privacy.consent.ConsentTable``: first call after the write, then cached);
3. the audience of every active customer through the full contact policy (consents
   included), as ``bench/campaigns.py`` times it without them;
4. ``exportCustomerData`` of ``--sample`` customers (``cdp.privacy.customer_export.export``,
   segments and scores included): the first (which scores every customer when models
   are trained, as the first customer view does), then median and worst of the others;
5. erasing the same customers one by one (``cdp.privacy.erasure.erase``: reads, then one
   transaction) and the projection refresh after each (checked incremental): median
   and worst.

Prints one JSON line (stdout) and a Markdown table; reports, does not assert.
"""

from __future__ import annotations

import argparse
import gc
import json
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
from bench.analytics import _peak_mib, _rss_mib, _store  # noqa: E402
from bench.campaigns import _copy, _remove  # noqa: E402

EVERY_ACTIVE = {"attribute": {"key": "status", "op": "EQ", "value": "ACTIVE"}}
OFFERS = ("P-VAS-SEC", "P-TV-PLUS", "P-BB-500")


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _consent_rows(ids: list[str], now: datetime) -> tuple[list[dict], list[dict]]:
    """Consent statements for ``ids``: a mix of statuses, keys and expiries, as a source would send."""
    kinds = [("consent_marketing", "no", None), ("consent_marketing", "revoked", None),
             ("consent_marketing", "yes", now + timedelta(days=365)), ("consent_sms", "no", None),
             ("consent_sms_marketing", "denied", now - timedelta(days=1)), ("consent_profiling", "denied", None)]
    values, links = [], []
    for i, customer in enumerate(ids):
        key, value, expires = kinds[i % len(kinds)]
        vid = f"BENCH:{customer}|{key}"
        values.append({"id": vid, "key": key, "value": value, "source": "BENCH", "identity_id": f"BENCH:{customer}",
                       "observed_at": now - timedelta(minutes=1), "accuracy": 1.0, "customer_maintained": False,
                       "verified": False, "expires_at": expires})
        links.append({"from": customer, "to": vid})
    return values, links


def run(customers: int, seed: int, consents: int, sample: int, out: Path, buffer_pool_mb: int,
        keep: bool) -> dict:
    import numpy as np

    from cdp.privacy import consent
    from cdp.privacy import customer_export
    from cdp.privacy import erasure
    from cdp.analytics.analytics import Analytics
    from cdp.campaigns.campaigns import CampaignSpec, WavePlan
    from cdp.settings import Settings
    from cdp.store import open_store
    from graph.clock import utc_now
    from graph.store import node_op, relationship_op

    source = _store(out, customers, seed, buffer_pool_mb)
    path = out / f"privacy-{customers}-{seed}.lbdb"
    _say(f"copying {source} to {path}")
    copy_seconds = _copy(source, path)
    results: dict[str, Any] = {"benchmark": "privacy", "customers": customers, "seed": seed,
                               "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               "command": " ".join([Path(sys.executable).name, *sys.argv]),
                               "machine": machine.facts(), "store_copy_seconds": round(copy_seconds, 1)}
    settings = Settings(db_path=path, buffer_pool_mb=buffer_pool_mb, model_dir=Path(str(source) + ".models"))
    store = open_store(settings)
    try:
        analytics = Analytics(store, settings)
        gc.collect()
        started = time.perf_counter()
        data = analytics.data()
        results["projection_build_seconds"] = round(time.perf_counter() - started, 2)
        _say(f"projection: {results['projection_build_seconds']} s")
        now = utc_now()
        rng = np.random.default_rng(seed)
        active = np.flatnonzero(data.base() & (data.customers["status"] == "ACTIVE").to_numpy())
        chosen = data.ids.to_numpy()[rng.choice(active, min(consents, len(active)), replace=False)].tolist()

        # 2. Consents for a share of the base, written as one import batch would.
        values, links = _consent_rows(chosen, now)
        started = time.perf_counter()
        store.write([node_op("AttributeValue", values), relationship_op("HAS_ATTRIBUTE", links)])
        results["consent_write_seconds"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        data = analytics.data()
        results["refresh_after_consents_seconds"] = round(time.perf_counter() - started, 2)
        results["refresh_after_consents_rebuilt"] = analytics.projection.last_refresh.rebuilt
        times = []
        for _ in range(3):
            started = time.perf_counter()
            table = consent.ConsentTable(data, now)
            refused = table.refused("MARKETING", "SMS")
            times.append(time.perf_counter() - started)
        results["consent_table_first_seconds"] = round(times[0], 3)
        results["consent_table_seconds"] = round(statistics.median(times[1:]), 3)
        results["consents"] = {"statements": len(values), "refused_marketing_sms": int(refused.sum()),
                               "unprofiled": int(consent.unprofiled(data, now).sum())}
        _say(f"consents: write {results['consent_write_seconds']} s, refresh "
             f"{results['refresh_after_consents_seconds']} s, table {times}")

        # 3. The audience of every active customer through the full policy, consents included.
        campaigns = analytics.campaigns
        broad = campaigns.create(CampaignSpec(name="Bench: privacy audience", offers=OFFERS,
                                              waves=(WavePlan("SMS"),), target_definition=EVERY_ACTIVE,
                                              control_share=0.1), now=now)
        times = []
        for _ in range(3):
            started = time.perf_counter()
            audience = campaigns.audience(broad.id, 1, now)
            times.append(time.perf_counter() - started)
        results["audience_seconds"] = round(statistics.median(times[1:]), 2)
        results["audience_excluded"] = audience.excluded
        campaigns.delete(broad.id)
        _say(f"audience: {times}")

        # 4-5. Export, then erase, a sample of customers with history.
        # Campaign audience members when the store has campaigns (more to export), else anyone active.
        targeted = {r["to"] for r in store.export_relationships("TARGETED").select(["to"]).to_pylist()}
        drawn = data.ids.to_numpy()[rng.choice(active, min(sample * 50, len(active)), replace=False)].tolist()
        people = ([c for c in drawn if c in targeted] + [c for c in drawn if c not in targeted])[:sample]
        results["sample_in_campaigns"] = sum(c in targeted for c in people)
        exports, sizes = [], []
        for customer in people:
            started = time.perf_counter()
            document = customer_export.export(store, customer, now, analytics)
            exports.append(time.perf_counter() - started)
            sizes.append(len(json.dumps(document)))
        erasures, refreshes, rebuilt, removed = [], [], [], []
        for customer in people:
            started = time.perf_counter()
            result = erasure.erase(store, customer, now)
            erasures.append(time.perf_counter() - started)
            removed.append(result.attribute_values + result.contact_subjects + result.event_descriptions)
            started = time.perf_counter()
            analytics.data()
            refreshes.append(time.perf_counter() - started)
            rebuilt.append(analytics.projection.last_refresh.rebuilt)
        results["sample"] = len(people)
        # The first export scores every customer when models are trained (as the first customer view would).
        results["export_first_seconds"] = round(exports[0], 3)
        results["export_seconds"] = round(statistics.median(exports[1:] or exports), 3)
        results["export_worst_seconds"] = round(max(exports[1:] or exports), 3)
        results["export_median_bytes"] = int(statistics.median(sizes))
        results["erase_seconds"] = round(statistics.median(erasures), 3)
        results["erase_worst_seconds"] = round(max(erasures), 3)
        results["refresh_after_erase_seconds"] = round(statistics.median(refreshes), 3)
        results["refresh_after_erase_rebuilt"] = any(rebuilt)
        results["erase_median_items_removed"] = int(statistics.median(removed))
        results["peak_rss_mib"] = _peak_mib()
        results["rss_mib"] = _rss_mib()
        _say(f"export {results['export_seconds']} s, erase {results['erase_seconds']} s, refresh "
             f"{results['refresh_after_erase_seconds']} s")
        analytics.close()
    finally:
        store.close()
        if not keep:
            _remove(path)
    return results


def _table(results: dict) -> str:
    rows = ["| figure | measured |", "|---|---:|"]
    for key in ("projection_build_seconds", "consent_write_seconds", "refresh_after_consents_seconds",
                "consent_table_first_seconds", "consent_table_seconds", "audience_seconds", "export_first_seconds",
                "export_seconds",
                "export_worst_seconds", "erase_seconds", "erase_worst_seconds", "refresh_after_erase_seconds",
                "refresh_after_erase_rebuilt", "peak_rss_mib"):
        rows.append(f"| {key} | {results.get(key)} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--consents", type=int, default=40_000,
                        help="consent statements written (below the projection's 50,000-customer rebuild)")
    parser.add_argument("--sample", type=int, default=20, help="customers exported, then erased")
    parser.add_argument("--buffer-pool-mb", type=int, default=2048)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--keep", action="store_true", help="keep the store copy")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = run(args.customers, args.seed, args.consents, args.sample, args.out, args.buffer_pool_mb, args.keep)
    (args.out / f"privacy-{args.customers}.json").write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, default=str))
    print(_table(results))


if __name__ == "__main__":
    main()
