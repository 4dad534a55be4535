"""Transactional lifetime value on real data: the CDNOW orders (Fader and Hardie's
data set of 23,570 customers who first bought at the CD retailer CDNOW in the first
quarter of 1997, 69,659 orders to June 1998; its 1/10 sample has 2,357 customers), as
shipped inside the ``lifetimes`` package, through the ordinary path, next to
``lifetimes``' own BG/NBD + Gamma-Gamma on the same calibration/holdout split.

1. Write the orders as a retailer's extract (one row per order; the data is never stored
   in the repository): customer, one pay-as-you-go (PREPAID) account opened on the
   first order, the order as a PURCHASE event.
2. Import it with the real ``cdp import`` command (``bench/mappings/cdnow_purchases.toml``).
3. Start the real app and train ``repeat_purchase`` over GraphQL as of the end of the
   calibration period (1997-09-30, the split of Fader, Hardie and Lee 2005), with a
   273-day horizon (the holdout, to 1998-06-30) and no discounting, so the value is the
   revenue expected in the holdout; read every customer's ``lifetimeValue(asOf:)``.
4. Compare with what each customer spent in the holdout: mean absolute error (MAE) per
   customer, beside ``lifetimes.BetaGeoFitter`` x ``GammaGammaFitter`` fitted on the same
   calibration summary, and two naive forecasts ("the calibration pace carries on",
   "nothing more").

    .venv/bin/python bench/cdnow.py [--sample] [--workdir DIR]

Needs ``lifetimes`` (test/bench extras of pyproject.toml; it ships the data).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.mlc_churn import MAPPINGS, cdp_import  # noqa: E402

#: The calibration period ends with this day; the holdout runs to ``HOLDOUT_END``.
CALIBRATION_END = "1997-09-30"
HOLDOUT_END = "1998-06-30"
HOLDOUT_DAYS = 273
AS_OF = "1997-09-30T23:59:59Z"

TRAIN = 'mutation($at: DateTime) { trainModel(name: "repeat_purchase", asOf: $at) { id } }'
JOB = ('query($id: ID!) { job(id: $id) { status error { code message } models { name rows positives '
       'trainingSeconds parameters { name value } notes } } }')
VALUES = ('query($after: String, $at: DateTime) { customers(first: 100, after: $after) { '
          'pageInfo { hasNextPage endCursor } edges { node { id '
          'lifetimeValue(asOf: $at) { value model expectedPurchases expectedSpend probabilityAlive } } } } }')


def load(sample: bool = False) -> pd.DataFrame:
    """CDNOW orders (``customer_id``, ``day`` as datetime64, ``dollar_value``) from the files
    ``lifetimes`` ships; ImportError when it is not installed."""
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("lifetimes is not installed (a test/bench extra: pip install -e '.[test]')")
    name = "CDNOW_sample.txt" if sample else "CDNOW_master.txt"
    path = Path(spec.submodule_search_locations[0]) / "datasets" / name
    if sample:  # no header: master id, id in the sample, date, CDs, dollars
        frame = pd.read_csv(path, sep=r"\s+", header=None, names=["customer_id", "sample_id", "date", "cds",
                                                                    "dollar_value"], dtype={"date": str})
    else:
        frame = pd.read_csv(path, sep=r"\s+", header=0, names=["customer_id", "date", "cds", "dollar_value"],
                            dtype={"date": str})
    frame["day"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    frame["customer_id"] = frame["customer_id"].astype(int)
    return frame[["customer_id", "day", "dollar_value"]]


def write_extract(orders: pd.DataFrame, out: Path) -> Path:
    """The retailer's order extract of ``orders`` in ``out``; returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    ids = orders["customer_id"].map(lambda i: f"CD{i:05d}")
    first = orders.groupby("customer_id")["day"].transform("min")
    extract = pd.DataFrame({
        "customer_id": ids,
        "account_id": "A-" + ids,
        "order_id": [f"O{i:06d}" for i in range(len(orders))],
        "first_order_on": first.dt.strftime("%Y-%m-%d"),
        "ordered_at": (orders["day"] + pd.Timedelta(hours=12)).dt.strftime("%Y-%m-%dT%H:%M:%S"),
        "dollar_value": orders["dollar_value"].round(2),
        "extracted_at": f"{HOLDOUT_END}T23:59:59",
    })
    path = out / "cdnow_orders.csv"
    extract.to_csv(path, index=False)
    return path


def through_api(db: Path, models: Path) -> tuple[dict, pd.DataFrame]:
    """Train ``repeat_purchase`` as of the calibration end on the real app and read every
    customer's value as of then; returns the card and a frame indexed by customer id."""
    from starlette.testclient import TestClient

    from cdp.security.api_keys import create_key
    from cdp.app import build_app
    from cdp.settings import Settings

    settings = Settings(db_path=db, buffer_pool_mb=256, model_dir=models,
                        repeat_purchase_horizon_days=HOLDOUT_DAYS, ltv_discount_rate=0.0)
    app = build_app(settings)
    _, key = create_key(app.state.store, "cdnow benchmark", "analyst")
    rows = []
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        def gql(query: str, variables: dict) -> dict:
            while True:  # as a client should: wait out RATE_LIMITED (the heavy lane's budget, docs/limits.md)
                body = client.post("/graphql", json={"query": query, "variables": variables}).json()
                errors = body.get("errors") or []
                if errors and all(e.get("extensions", {}).get("code") == "RATE_LIMITED" for e in errors):
                    time.sleep(float(errors[0]["extensions"].get("retryAfter", 1)))
                    continue
                if errors:
                    raise RuntimeError(f"GraphQL errors: {errors}")
                return body["data"]

        job_id = gql(TRAIN, {"at": AS_OF})["trainModel"]["id"]
        while (job := gql(JOB, {"id": job_id})["job"])["status"] not in ("SUCCEEDED", "FAILED"):
            time.sleep(0.2)
        if job["status"] != "SUCCEEDED":
            raise RuntimeError(f"trainModel failed: {job['error']}")
        after = None
        while True:
            page = gql(VALUES, {"after": after, "at": AS_OF})["customers"]
            for edge in page["edges"]:
                value = edge["node"]["lifetimeValue"] or {}
                rows.append({"id": edge["node"]["id"], "value": value.get("value"), "model": value.get("model"),
                             "purchases": value.get("expectedPurchases")})
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
    return job["models"][0], pd.DataFrame(rows).set_index("id")


def reference(orders: pd.DataFrame) -> pd.DataFrame:
    """``lifetimes``' BG/NBD x Gamma-Gamma on the calibration summary (its own
    ``calibration_and_holdout_data``); per customer id: calibration frequency, its
    forecast of holdout revenue and the actual holdout revenue."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import calibration_and_holdout_data

    frame = orders.assign(id=orders["customer_id"].map(lambda i: f"CD{i:05d}"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split = calibration_and_holdout_data(frame, "id", "day", calibration_period_end=CALIBRATION_END,
                                             observation_period_end=HOLDOUT_END, freq="D",
                                             monetary_value_col="dollar_value")
        bgf = BetaGeoFitter(penalizer_coef=0.0).fit(split["frequency_cal"], split["recency_cal"], split["T_cal"])
        repeat = split[(split["frequency_cal"] > 0) & (split["monetary_value_cal"] > 0)]
        ggf = GammaGammaFitter(penalizer_coef=0.0).fit(repeat["frequency_cal"], repeat["monetary_value_cal"])
        purchases = bgf.conditional_expected_number_of_purchases_up_to_time(
            HOLDOUT_DAYS, split["frequency_cal"], split["recency_cal"], split["T_cal"])
        spend = ggf.conditional_expected_average_profit(split["frequency_cal"], split["monetary_value_cal"])
    # Gamma-Gamma's conditional spend of a customer without repeat purchases is the population mean.
    spend = spend.where(split["frequency_cal"] > 0, ggf.conditional_expected_average_profit(
        pd.Series([0.0]), pd.Series([0.0])).iloc[0])
    actual = split["frequency_holdout"] * split["monetary_value_holdout"]
    out = pd.DataFrame({"frequency": split["frequency_cal"], "T": split["T_cal"],
                        "monetary": split["monetary_value_cal"], "lifetimes": purchases * spend,
                        "actual": actual})
    out.attrs["bgnbd"] = dict(bgf.params_)
    out.attrs["gamma_gamma"] = dict(ggf.params_)
    return out


def run(workdir: Path, sample: bool = False) -> dict:
    """The whole path, from data set to figures; returns them (and the card)."""
    started = time.perf_counter()
    orders = load(sample)
    calibration = orders[orders["day"] <= CALIBRATION_END]
    extract = write_extract(orders, workdir)
    db = workdir / "cdnow.lbdb"
    cdp_import(db, MAPPINGS / "cdnow_purchases.toml", extract)
    imported = time.perf_counter()
    card, served = through_api(db, workdir / "models")
    ref = reference(orders)
    ref = ref[ref.index.isin(calibration.assign(id=calibration["customer_id"].map(lambda i: f"CD{i:05d}"))["id"])]
    cdp = served["value"].reindex(ref.index)
    mean_spend = float(ref.loc[ref["frequency"] > 0, "monetary"].mean())
    pace = ref["frequency"] / ref["T"].clip(lower=1) * HOLDOUT_DAYS * ref["monetary"].where(ref["monetary"] > 0,
                                                                                           mean_spend)

    def mae(forecast: pd.Series) -> float:
        return round(float((forecast - ref["actual"]).abs().mean()), 3)

    return {"customers": int(len(ref)), "orders": int(len(orders)), "scored": int(cdp.notna().sum()),
            "mae_cdp": mae(cdp), "mae_lifetimes": mae(ref["lifetimes"]), "mae_pace": mae(pace),
            "mae_zero": mae(ref["lifetimes"] * 0), "actual_total": round(float(ref["actual"].sum()), 2),
            "cdp_total": round(float(cdp.sum()), 2), "lifetimes_total": round(float(ref["lifetimes"].sum()), 2),
            "lifetimes_bgnbd": {k: round(float(v), 4) for k, v in ref.attrs["bgnbd"].items()},
            "card": card, "import_seconds": round(imported - started, 1),
            "total_seconds": round(time.perf_counter() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sample", action="store_true", help="the 1/10 sample (2,357 customers) instead of all 23,570")
    p.add_argument("--workdir", type=Path, help="where to write the extract and the store (default: a temp dir)")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="cdnow_") as tmp:
        r = run(args.workdir or Path(tmp), args.sample)
    params = {p["name"]: p["value"] for p in r["card"]["parameters"]}
    print(f"CDNOW{' sample' if args.sample else ''}: {r['customers']:,} customers, {r['orders']:,} orders; "
          f"calibration to {CALIBRATION_END}, holdout {HOLDOUT_DAYS} days to {HOLDOUT_END}; "
          f"import {r['import_seconds']} s, total {r['total_seconds']} s")
    print(f"  scored through the API: {r['scored']:,}")
    print(f"  holdout revenue: actual {r['actual_total']:,.2f}, cdp {r['cdp_total']:,.2f}, "
          f"lifetimes {r['lifetimes_total']:,.2f}")
    print(f"  MAE per customer: cdp {r['mae_cdp']}  lifetimes BG/NBD+GG {r['mae_lifetimes']}  "
          f"pace carries on {r['mae_pace']}  zero {r['mae_zero']}")
    print(f"  cdp BG/NBD r, alpha, a, b = {params['bgnbd_r']}, {params['bgnbd_alpha']}, {params['bgnbd_a']}, "
          f"{params['bgnbd_b']}; lifetimes {r['lifetimes_bgnbd']}")
    print(f"  card out-of-time check: {params.get('evaluation')} MAE {params.get('holdout_mae')} "
          f"(pace {params.get('holdout_mae_pace_baseline')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
