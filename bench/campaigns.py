"""Benchmark of campaigns (issue 6) at a given number of customers.

    .venv/bin/python bench/campaigns.py --customers 1000000
    .venv/bin/python bench/campaigns.py --customers 20000

Targets (issue 6): building a 1,000,000-customer audience through the full contact
policy <= 10 s; launching a wave of 100,000 contacts <= 30 s.

The store is the one ``bench/analytics.py`` builds and reuses
(``bench/out/analytics-<customers>-<seed>.lbdb``; built here the same way when
missing). Launching writes into a store, so this benchmark works on a fresh copy,
``bench/out/campaigns-<customers>-<seed>.lbdb``, made at every run (deleted afterwards
unless ``--keep``); the shared store is only read by ``cp``. Opening the copy adds the
campaign tables an older store lacks (``ensure_schema``).

Timed, through the objects the server uses (``cdp.analytics.analytics.Analytics``,
``cdp.campaigns.campaigns.Campaigns``), in this process:

1. the projection build (not part of the targets: a server has it warm);
2. the audience of a campaign targeting every active customer (inline definition),
   through the full contact policy, the catalog rules and the control split
   (``Campaigns.audience``): the first call and the median of ``--repeats`` more;
3. launching wave 1 of a second campaign whose budget pays for about ``--contacts``
   SMS contacts (``Campaigns.launch``: audience plus the one-transaction write of the
   contacts, their links and the audience's TARGETED relationships), then the
   projection refresh that follows it;
4. recording ``--responses`` responses (conversions in the control group at half the
   treated rate), the projection refresh they cause, the wave's contact list export, and the
   performance report of the launched campaign.

Prints one JSON line (stdout) and a Markdown table; reports, does not assert.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
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

TARGETS = {
    "audience_seconds": ("<=", 10.0),
    "launch_seconds": ("<=", 30.0),
}
OFFERS = ("P-VAS-SEC", "P-TV-PLUS", "P-BB-500")
EVERY_ACTIVE = {"attribute": {"key": "status", "op": "EQ", "value": "ACTIVE"}}


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _copy(source: Path, target: Path) -> float:
    """Copy the store file (and its WAL, if any) to ``target``; returns seconds."""
    started = time.perf_counter()
    for suffix in ("", ".wal"):
        src = Path(str(source) + suffix)
        dst = Path(str(target) + suffix)
        if dst.exists():
            dst.unlink()
        if src.exists():
            shutil.copyfile(src, dst)
    return time.perf_counter() - started


def _remove(path: Path) -> None:
    for suffix in ("", ".wal", ".lock"):
        p = Path(str(path) + suffix)
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()


def run(customers: int, seed: int, contacts: int, repeats: int, responses: int, out: Path,
        buffer_pool_mb: int, keep: bool) -> dict:
    from cdp.analytics.analytics import Analytics
    from cdp.campaigns.campaign_report import report
    from cdp.campaigns.campaigns import CampaignSpec, ResponseInput, WavePlan
    from cdp.settings import Settings
    from cdp.store import open_store

    source = _store(out, customers, seed, buffer_pool_mb)
    path = out / f"campaigns-{customers}-{seed}.lbdb"
    _say(f"copying {source} to {path}")
    copy_seconds = _copy(source, path)
    results: dict[str, Any] = {"benchmark": "campaigns", "customers": customers, "seed": seed,
                               "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               "command": " ".join([Path(sys.executable).name, *sys.argv]),
                               "machine": machine.facts(), "store_copy_seconds": round(copy_seconds, 1)}
    settings = Settings(db_path=path, buffer_pool_mb=buffer_pool_mb)
    store = open_store(settings)
    try:
        results["campaign_nodes_before"] = store.counts().get("Campaign")
        analytics = Analytics(store, settings)
        campaigns = analytics.campaigns
        gc.collect()
        _say("building the projection")
        started = time.perf_counter()
        data = analytics.data()
        results["projection_build_seconds"] = round(time.perf_counter() - started, 2)
        results["projection_customers"] = data.size
        results["projection_contacts"] = len(data.fact("contacts"))
        results["rss_after_projection_mib"] = _rss_mib()
        _say(f"projection: {results['projection_build_seconds']} s")

        # The latest contact in the store: campaigns run just after it (policy windows see history).
        last = data.fact("contacts")["at"].max()
        at = (last.to_pydatetime() + timedelta(days=1)).replace(hour=11, minute=0, second=0, microsecond=0)
        results["launch_at"] = at.isoformat()

        # 1. The audience of every active customer through the full policy.
        broad = campaigns.create(CampaignSpec(
            name="Bench: every active customer", offers=OFFERS,
            waves=(WavePlan("SMS"), WavePlan("OUTBOUND_CALL", 7)), target_definition=EVERY_ACTIVE,
            control_share=0.1), now=at - timedelta(days=1))
        rss = _rss_mib()
        times = []
        for i in range(repeats + 1):
            started = time.perf_counter()
            audience = campaigns.audience(broad.id, 1, at)
            times.append(time.perf_counter() - started)
            _say(f"audience {i}: {times[-1]:.2f} s")
        results["audience_first_seconds"] = round(times[0], 2)
        results["audience_seconds"] = round(statistics.median(times[1:] or times), 2)
        results["audience_rss_growth_mib"] = round(_rss_mib() - rss, 1)
        results["audience"] = {"target": audience.target, "eligible": audience.eligible,
                               "treatment": audience.treatment, "control": audience.control_size,
                               "excluded": audience.excluded}
        _say(f"audience: {results['audience']}")
        campaigns.delete(broad.id)

        # 2. Launch a wave of about ``contacts`` contacts (the budget pays for them).
        sms = float((store.channels().get("SMS") or {}).get("cost_per_contact") or 0.05)
        spec = CampaignSpec(
            name="Bench: 100k wave", offers=OFFERS, waves=(WavePlan("SMS"), WavePlan("OUTBOUND_CALL", 7)),
            target_definition=EVERY_ACTIVE, control_share=0.1, budget=round(contacts * sms, 2))
        campaign = campaigns.create(spec, now=at - timedelta(days=1))
        gc.collect()
        rss = _rss_mib()
        started = time.perf_counter()
        campaign, launched = campaigns.launch(campaign.id, at=at)
        results["launch_seconds"] = round(time.perf_counter() - started, 2)
        results["launch_rss_growth_mib"] = round(_rss_mib() - rss, 1)
        results["launched"] = {"contacts": launched.treatment, "control": launched.control_size,
                               "audience_members": launched.eligible, "cost": campaign.waves[0].cost,
                               "excluded": launched.excluded}
        _say(f"launch: {results['launch_seconds']} s, {results['launched']}")
        started = time.perf_counter()
        analytics.data()
        results["refresh_after_launch_seconds"] = round(time.perf_counter() - started, 2)
        _say(f"refresh after the launch: {results['refresh_after_launch_seconds']} s")

        # 3. Responses, the contact list, the report.
        ids = launched.ids()
        treated = ids[~launched.control][:responses]
        # The control group converts at half the treated rate (a positive lift to report).
        share = len(treated) / 4 / max(int((~launched.control).sum()), 1) / 2
        control = ids[launched.control][: max(int(share * launched.control_size), 1)]
        items = [ResponseInput(str(c), "CONVERTED" if i % 4 == 0 else "OPENED", at + timedelta(hours=2 + i % 48),
                               120.0 if i % 4 == 0 else None) for i, c in enumerate(treated)]
        items += [ResponseInput(str(c), "CONVERTED", at + timedelta(days=3), 100.0) for c in control]
        started = time.perf_counter()
        campaigns.record_responses(campaign.id, items)
        results["record_responses_seconds"] = round(time.perf_counter() - started, 2)
        results["responses"] = len(items)
        started = time.perf_counter()
        analytics.data()  # the contact list reads profiles from the projection: refresh it first
        results["refresh_after_responses_seconds"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        table = campaigns.wave_contacts(campaign.id, 1)
        results["wave_contacts_seconds"] = round(time.perf_counter() - started, 2)
        results["wave_contacts_rows"] = table.num_rows
        started = time.perf_counter()
        result = report(campaigns, campaign.id, at=at + timedelta(days=10))
        results["report_seconds"] = round(time.perf_counter() - started, 2)
        results["report"] = {"contacted": result.total.contacted, "converted": result.total.converted,
                             "lift": result.lift.absolute if result.lift else None,
                             "interval": [result.lift.interval.low, result.lift.interval.high]
                             if result.lift else None}
        _say(f"responses {results['record_responses_seconds']} s, contact list "
             f"{results['wave_contacts_seconds']} s, report {results['report_seconds']} s")
        results["peak_rss_mib"] = _peak_mib()
    finally:
        store.close()
        if not keep:
            _remove(path)
    return results


def _table(results: dict) -> str:
    rows = ["| figure | target | measured | met |", "|---|---:|---:|:---:|"]
    names = {"audience_seconds": "audience of every active customer, full contact policy (median)",
             "launch_seconds": f"launching a wave of {results.get('launched', {}).get('contacts', 0):,} contacts"}
    for key, (op, limit) in TARGETS.items():
        value = results.get(key)
        met = value is not None and value <= limit
        rows.append(f"| {names[key]} | {op} {limit:g} s | {value} s | {'yes' if met else 'no'} |")
    for key in ("audience_first_seconds", "refresh_after_launch_seconds", "record_responses_seconds",
                "refresh_after_responses_seconds", "wave_contacts_seconds", "report_seconds", "projection_build_seconds", "peak_rss_mib"):
        rows.append(f"| {key} | | {results.get(key)} | |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--contacts", type=int, default=100_000, help="size of the launched wave")
    parser.add_argument("--repeats", type=int, default=3, help="timed audience builds after the first")
    parser.add_argument("--responses", type=int, default=10_000)
    parser.add_argument("--buffer-pool-mb", type=int, default=2048)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--keep", action="store_true", help="keep the store copy")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = run(args.customers, args.seed, args.contacts, args.repeats, args.responses, args.out,
                  args.buffer_pool_mb, args.keep)
    (args.out / f"campaigns-{args.customers}.json").write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, default=str))
    print(_table(results))


if __name__ == "__main__":
    main()
