"""Collaborative filtering on implicit feedback: who holds what predicts what else they take.

Everything here works on a binary user x item matrix ``X`` (``scipy.sparse``
CSR, 1 = the user holds / rated the item). Users and items are row and column
numbers; mapping them to customer and product ids is the caller's business.

Estimators (scikit-learn style: ``fit(X)`` returns ``self``; fitted state ends in ``_``):

* ``Popularity``: every user gets the items most users hold. The baseline.
* ``ItemCooccurrence``: item-item similarity from co-occurrence,
  ``s(i -> j) = c_ij / (n_i ** alpha * n_j ** (1 - alpha) + shrink)`` (``alpha = 0.5``
  is cosine), pruned to each item's ``neighbours`` strongest; a user's scores are
  ``X[u] @ S``. ``explain`` gives, for a user and an item, the held item that
  contributes most and the share ``P(j | i) = c_ij / n_i`` ("held by 41% of
  customers who hold X").
* ``ImplicitFactorization``: matrix factorisation for implicit feedback (Hu,
  Koren & Volinsky 2008) by alternating least squares, confidence ``1 + alpha``
  on held items; every least-squares solve of a half-step is batched
  (``numpy.linalg.solve`` on stacked ``f x f`` systems), no Python loop per user.
* ``ItemRegression``: EASE (Steck 2019), item-item ridge regression in closed form
  with a zero diagonal; the strongest of these on MovieLens.
* ``Blend``: a weighted sum of its components' per-user min-max-normalised scores;
  ``tune_blend`` chooses the weights on a temporal validation split of the
  training interactions (never on the test split).

Every estimator answers ``score(users)`` (dense float32, ``len(users) x n_items``)
and ``recommend(users, k, exclude_held=True)`` -> ``(items, scores)``, both
``len(users) x k``, best first; a row with fewer than ``k`` eligible items is
padded with item ``-1`` and score ``-inf``. ``holdings=`` scores rows that were
not in the fitted matrix (e.g. customers added since), given as CSR rows.
Batch recommendation scores users in chunks and takes the top ``k`` with
``numpy.argpartition``.

Evaluation: ``temporal_split`` holds out each user's latest interactions by
time; ``evaluate`` reports recall@k = hits / min(k, |held out|) and NDCG@k
(binary relevance, ideal DCG over min(k, |held out|) positions), averaged over
users with at least one held-out item.

Raises ``ValueError`` for a matrix that is not two-dimensional or a call before ``fit``
(``sklearn.exceptions.NotFittedError``).
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

#: Users scored per chunk in batch recommendation (chunk x n_items float32 at a time).
CHUNK_CELLS = 4_000_000


# ----------------------------------------------------------------------------- matrices


def binary_csr(X: sp.spmatrix | np.ndarray) -> sp.csr_matrix:
    """``X`` as a binary float32 CSR matrix (any non-zero becomes 1, duplicates merged).

    Raises ValueError when ``X`` is not two-dimensional.
    """
    m = sp.csr_matrix(X)
    if m.ndim != 2:
        raise ValueError("a user x item matrix is two-dimensional")
    m.sum_duplicates()
    m.eliminate_zeros()
    m = m.astype(np.float32)
    m.data[:] = 1.0
    m.sort_indices()
    return m


def interaction_matrix(users: np.ndarray, items: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """Binary CSR matrix of ``shape`` with a 1 at each ``(users[n], items[n])``."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    m = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)), shape=shape)
    return binary_csr(m)


def _rows(X: sp.csr_matrix, users: np.ndarray) -> sp.csr_matrix:
    return X[users] if len(users) != X.shape[0] or not np.array_equal(users, np.arange(X.shape[0])) else X


def _minmax_rows(s: np.ndarray) -> np.ndarray:
    """Each row scaled to [0, 1] (a constant row becomes 0); -inf stays out of the range."""
    finite = np.where(np.isfinite(s), s, np.nan)
    lo = np.nanmin(finite, axis=1, keepdims=True)
    hi = np.nanmax(finite, axis=1, keepdims=True)
    span = hi - lo
    span[~(span > 0)] = 1.0
    out = (s - np.nan_to_num(lo)) / span
    return out.astype(np.float32, copy=False)


# ----------------------------------------------------------------------------- base


class Recommender(BaseEstimator):
    """What every recommender here shares: held items, scoring in chunks, top-k.

    Subclasses implement ``_fit(X)`` and ``_score(users, holdings)`` (dense
    float32 scores for the given rows: ``users`` are fitted row numbers or None
    when only ``holdings`` are known).
    """

    def fit(self, X: sp.spmatrix | np.ndarray, y: None = None) -> Recommender:
        """Fit on the binary user x item matrix ``X``; returns self."""
        self.X_ = binary_csr(X)
        self.n_users_, self.n_items_ = self.X_.shape
        self._fit(self.X_)
        return self

    # subclasses -------------------------------------------------------------
    def _fit(self, X: sp.csr_matrix) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _score(self, users: np.ndarray | None, holdings: sp.csr_matrix) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    # public -----------------------------------------------------------------
    def _check(self) -> None:
        if not hasattr(self, "X_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(X) first")

    def _inputs(self, users: Sequence[int] | np.ndarray | None,
                holdings: sp.spmatrix | None) -> tuple[np.ndarray | None, sp.csr_matrix]:
        self._check()
        if holdings is not None:
            h = binary_csr(holdings)
            if h.shape[1] != self.n_items_:
                raise ValueError(f"holdings have {h.shape[1]} items, the model {self.n_items_}")
            return None, h
        u = np.arange(self.n_users_) if users is None else np.atleast_1d(np.asarray(users, dtype=np.int64))
        if len(u) and (u.min() < 0 or u.max() >= self.n_users_):
            raise ValueError(f"user numbers must be in 0..{self.n_users_ - 1}")
        return u, _rows(self.X_, u)

    def score(self, users: Sequence[int] | np.ndarray | None = None, *,
              holdings: sp.spmatrix | None = None) -> np.ndarray:
        """Scores (float32, ``len(users) x n_items``; higher is better) of fitted users
        (None: all), or of the rows of ``holdings`` (CSR, ``n x n_items``) when given."""
        u, h = self._inputs(users, holdings)
        return self._score(u, h)

    def recommend(self, users: Sequence[int] | np.ndarray | None = None, k: int = 10, *,
                  exclude_held: bool = True, holdings: sp.spmatrix | None = None,
                  candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` items per user: ``(items int64, scores float32)``, each ``n x k``, best first.

        ``exclude_held`` leaves out items the user holds; ``candidates`` (bool,
        ``n x n_items`` or ``n_items``) leaves out items that are False. Rows with fewer
        than ``k`` eligible items are padded with item -1 and score -inf.
        Scores users in chunks of ``CHUNK_CELLS / n_items``.
        """
        u, h = self._inputs(users, holdings)
        n = h.shape[0]
        k = int(k)
        if k < 1:
            raise ValueError("k must be at least 1")
        kk = min(k, self.n_items_)
        items = np.full((n, k), -1, dtype=np.int64)
        scores = np.full((n, k), -np.inf, dtype=np.float32)
        step = max(1, CHUNK_CELLS // max(1, self.n_items_))
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            hc = h[lo:hi] if (lo, hi) != (0, n) else h
            s = self._score(None if u is None else u[lo:hi], hc)
            if not s.flags.writeable or s.dtype != np.float32:
                s = np.array(s, dtype=np.float32)
            if exclude_held and hc.nnz:
                r = np.repeat(np.arange(hi - lo), np.diff(hc.indptr))
                s[r, hc.indices] = -np.inf
            if candidates is not None:
                c = np.asarray(candidates, dtype=bool)
                c = c[lo:hi] if c.ndim == 2 else c[None, :]
                s = np.where(c, s, -np.inf).astype(np.float32, copy=False)
            top = _top_k(s, kk)
            items[lo:hi, :kk] = top
            scores[lo:hi, :kk] = np.where(top >= 0, np.take_along_axis(s, np.maximum(top, 0), axis=1), -np.inf)
        return items, scores


# ----------------------------------------------------------------------------- popularity


class Popularity(Recommender):
    """Items ranked by how many users hold them; the same ranking for everyone."""

    def _fit(self, X: sp.csr_matrix) -> None:
        self.counts_ = np.asarray(X.sum(axis=0)).ravel().astype(np.float32)

    def _score(self, users: np.ndarray | None, holdings: sp.csr_matrix) -> np.ndarray:
        return np.tile(self.counts_, (holdings.shape[0], 1))


# ----------------------------------------------------------------------------- item-item


@dataclass(frozen=True)
class Reason:
    """Why an item is recommended to a user: the held item that contributes most.

    ``share`` = the share of the users holding ``because_of`` who also hold ``item``
    (P(item | because_of)); ``holders`` = how many users hold ``because_of``;
    ``together`` = how many hold both.
    """

    item: int
    because_of: int
    share: float
    holders: int
    together: int
    contribution: float


#: Largest share of item pairs that may co-occur for ``ItemCooccurrence`` to prune from the
#: sparse co-occurrence matrix instead of dense column blocks.
SPARSE_SHARE = 0.02


class ItemCooccurrence(Recommender):
    """Item-item collaborative filtering on co-occurrence counts.

    ``s(i -> j) = c_ij / (n_i ** alpha * n_j ** (1 - alpha) + shrink)`` with
    ``c_ij`` = users holding both, ``n_i`` = users holding ``i``. ``alpha = 0.5`` is
    cosine; ``alpha = 1`` is the conditional probability P(j | i) (favours popular j).
    Each item keeps its ``neighbours`` strongest successors (0 = all). Users' scores
    are ``X[u] @ S``. Co-occurrence is computed in column blocks, so memory is
    ``n_items x block`` at a time plus the pruned ``S``.
    """

    def __init__(self, alpha: float = 0.5, shrink: float = 10.0, neighbours: int = 200,
                 block: int = 1024) -> None:
        self.alpha = alpha
        self.shrink = shrink
        self.neighbours = neighbours
        self.block = block

    def _fit(self, X: sp.csr_matrix) -> None:
        n = X.shape[1]
        self.Xc_ = X.tocsc()
        self.Xc_.sort_indices()
        counts = np.asarray(X.sum(axis=0)).ravel().astype(np.float64)
        self.counts_ = counts
        keep = self.neighbours if self.neighbours and self.neighbours < n else n
        Xt = X.T.tocsr()
        if keep < n and self._sparse_fit(X, Xt, counts, keep):
            return
        ni = np.power(counts, self.alpha)[:, None]
        rows, cols, vals = [], [], []
        dense = np.zeros((n, n), dtype=np.float32) if keep == n else None
        for lo in range(0, n, self.block):
            hi = min(n, lo + self.block)
            c = (Xt @ X[:, lo:hi]).toarray().astype(np.float64)      # c[i, j - lo] = users holding both
            c[np.arange(lo, hi), np.arange(hi - lo)] = 0.0             # no self-similarity
            s = c / (ni * np.power(counts[lo:hi], 1.0 - self.alpha)[None, :] + self.shrink)
            if dense is not None:
                dense[:, lo:hi] = s
                continue
            # keep, per target column j, its `keep` strongest source items i
            top = np.argpartition(-s, keep - 1, axis=0)[:keep]
            v = np.take_along_axis(s, top, axis=0)
            nz = v > 0
            rows.append(top[nz])
            cols.append(np.broadcast_to(np.arange(lo, hi), top.shape)[nz])
            vals.append(v[nz].astype(np.float32))
        if dense is not None:
            self.dense_ = True
            self.S_ = dense
        else:
            self.dense_ = False
            self.S_ = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                    shape=(n, n), dtype=np.float32)

    def _sparse_fit(self, X: sp.csr_matrix, Xt: sp.csr_matrix, counts: np.ndarray, keep: int) -> bool:
        """The pruned fit from the sparse co-occurrence matrix, when few item pairs co-occur
        (``SPARSE_SHARE`` of all pairs at most: a big catalogue over few customers); returns
        False (nothing done) otherwise. The same scores as the block path; ties at the
        ``keep``-th neighbour may be kept differently."""
        n = X.shape[1]
        # Upper bound on the co-occurring pairs: sum over users of (items held)^2.
        per_user = np.diff(X.indptr).astype(np.float64)
        if float((per_user ** 2).sum()) > SPARSE_SHARE * n * n:
            return False
        c = (Xt @ X).tocoo()
        i, j, v = c.row, c.col, c.data.astype(np.float64)
        off = (i != j) & (v > 0)  # no self-similarity
        i, j, v = i[off], j[off], v[off]
        s = v / (np.power(counts[i], self.alpha) * np.power(counts[j], 1.0 - self.alpha) + self.shrink)
        # Per target column j, its `keep` strongest sources i: sort by column, then by score, best first.
        order = np.lexsort((-s, j))
        i, j, s = i[order], j[order], s[order]
        start = np.searchsorted(j, np.arange(n))
        rank = np.arange(len(j)) - start[j]
        top = rank < keep
        self.dense_ = False
        self.S_ = sp.csr_matrix((s[top].astype(np.float32), (i[top], j[top])), shape=(n, n), dtype=np.float32)
        return True

    def _score(self, users: np.ndarray | None, holdings: sp.csr_matrix) -> np.ndarray:
        if holdings.shape[0] == 1 and self.dense_:       # one user: sum the held items' rows
            held = holdings.indices
            return self.S_[held].sum(axis=0, keepdims=True, dtype=np.float32)
        out = holdings @ self.S_
        return np.asarray(out.toarray() if sp.issparse(out) else out, dtype=np.float32)

    def together(self, i: int, j: int) -> int:
        """How many users of the fitted matrix hold both items ``i`` and ``j``."""
        self._check()
        a = self.Xc_.indices[self.Xc_.indptr[i]:self.Xc_.indptr[i + 1]]
        b = self.Xc_.indices[self.Xc_.indptr[j]:self.Xc_.indptr[j + 1]]
        return int(len(np.intersect1d(a, b, assume_unique=True)))

    def explain(self, user: int | None, items: Iterable[int], *,
                holdings: np.ndarray | None = None) -> list[Reason | None]:
        """For each item: the held item contributing most to its score, as a ``Reason``.

        ``user`` is a fitted row; or pass ``holdings`` (the held item numbers) instead.
        None for an item no held item points to.
        """
        self._check()
        if holdings is None:
            assert user is not None, "explain() needs user or holdings"
            held = self.X_.indices[self.X_.indptr[user]:self.X_.indptr[user + 1]]
        else:
            held = np.asarray(holdings, dtype=np.int64)
        out: list[Reason | None] = []
        if len(held) == 0:
            return [None for _ in items]
        for j in items:
            col = self.S_[held, j] if self.dense_ else self.S_[held][:, [j]].toarray().ravel()
            col = np.asarray(col, dtype=np.float64).ravel()
            best = int(np.argmax(col))
            if not col[best] > 0:
                out.append(None)
                continue
            i = int(held[best])
            both = self.together(i, int(j))
            holders = int(self.counts_[i])
            out.append(Reason(item=int(j), because_of=i, share=both / holders if holders else 0.0,
                              holders=holders, together=both, contribution=float(col[best])))
        return out


# ----------------------------------------------------------------------------- ALS


class ImplicitFactorization(Recommender):
    """Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren, Volinsky).

    Preference ``p_ui = 1`` where the user holds the item, confidence ``c_ui = 1 + alpha``
    there and 1 elsewhere; minimises ``sum c_ui (p_ui - u_u . v_i)^2 + reg (|U|^2 + |V|^2)``.
    One half-step solves ``(V'V + alpha * sum_{i in u} v_i v_i' + reg I) u_u = (1 + alpha) sum_{i in u} v_i``
    for every user at once: the ``sum_{i in u} v_i v_i'`` of all users are one sparse product
    ``X @ outer(V)`` (chunked), then a stacked ``numpy.linalg.solve``.
    """

    def __init__(self, factors: int = 32, alpha: float = 10.0, reg: float = 1.0, iterations: int = 12,
                 random_state: int = 0) -> None:
        self.factors = factors
        self.alpha = alpha
        self.reg = reg
        self.iterations = iterations
        self.random_state = random_state

    def _solve(self, X: sp.csr_matrix, V: np.ndarray) -> np.ndarray:
        """Least-squares factors of the rows of ``X`` given the other side's factors ``V``."""
        f = V.shape[1]
        gram = V.T @ V + self.reg * np.eye(f)
        outer = (V[:, :, None] * V[:, None, :]).reshape(len(V), f * f)
        out = np.empty((X.shape[0], f), dtype=np.float64)
        step = max(1, 2_000_000 // (f * f))
        for lo in range(0, X.shape[0], step):
            hi = min(X.shape[0], lo + step)
            x = X[lo:hi]
            A = (x @ outer).reshape(hi - lo, f, f) * self.alpha + gram
            b = (x @ V) * (1.0 + self.alpha)
            out[lo:hi] = np.linalg.solve(A, b[:, :, None])[:, :, 0]
        return out

    def _fit(self, X: sp.csr_matrix) -> None:
        rng = np.random.default_rng(self.random_state)
        f = self.factors
        Xd = X.astype(np.float64)
        Xt = Xd.T.tocsr()
        V = rng.normal(0, 0.01, (X.shape[1], f))
        U = np.zeros((X.shape[0], f))
        for _ in range(self.iterations):
            U = self._solve(Xd, V)
            V = self._solve(Xt, U)
        self.user_factors_ = U.astype(np.float32)
        self.item_factors_ = V.astype(np.float32)

    def _score(self, users: np.ndarray | None, holdings: sp.csr_matrix) -> np.ndarray:
        if users is None:                                 # fold in rows not seen in fit
            U = self._solve(holdings.astype(np.float64), self.item_factors_.astype(np.float64)).astype(np.float32)
        else:
            U = self.user_factors_[users]
        return U @ self.item_factors_.T


# ----------------------------------------------------------------------------- EASE


class ItemRegression(Recommender):
    """Item-item linear regression in closed form (EASE, Steck 2019).

    ``B = argmin |X - X B|^2 + reg |B|^2`` with ``diag(B) = 0``: with
    ``P = (X'X + reg I)^-1``, ``B = -P / diag(P)`` (column-wise), diagonal zeroed.
    Users' scores are ``X[u] @ B``. Only items held by at least ``min_count`` users
    take part, and at most the ``most`` most held of those (ties: lower column first;
    ``None``: all), since the inverse is ``n x n`` dense (3,400 items cost ~2 s and 90 MB);
    other items score below every kept item.
    """

    def __init__(self, reg: float = 300.0, min_count: int = 5, most: int | None = None) -> None:
        self.reg = reg
        self.min_count = min_count
        self.most = most

    def _fit(self, X: sp.csr_matrix) -> None:
        counts = np.asarray(X.sum(axis=0)).ravel()
        kept = np.flatnonzero(counts >= self.min_count)
        if self.most is not None and len(kept) > self.most:
            kept = np.sort(kept[np.argsort(-counts[kept], kind="stable")[:self.most]])
        self.kept_ = kept
        Xk = X[:, self.kept_].astype(np.float64)
        G = (Xk.T @ Xk).toarray()
        G[np.diag_indices_from(G)] += self.reg
        P = np.linalg.inv(G)
        B = -P / np.diag(P)[None, :]
        np.fill_diagonal(B, 0.0)
        self.B_ = B.astype(np.float32)
        self.floor_ = np.float32(-np.abs(self.B_).sum(axis=0).max() - 1.0) if len(self.kept_) else np.float32(0)

    def _score(self, users: np.ndarray | None, holdings: sp.csr_matrix) -> np.ndarray:
        out = np.full((holdings.shape[0], self.n_items_), self.floor_, dtype=np.float32)
        if len(self.kept_):
            s = holdings[:, self.kept_] @ self.B_
            out[:, self.kept_] = s
        return out


# ----------------------------------------------------------------------------- blend


class Blend(Recommender):
    """Weighted sum of components' scores, each min-max normalised per user.

    ``components`` is a list of ``(name, estimator)``; ``weights`` one non-negative number
    per component (None: equal). ``fit`` fits every component on the same matrix, unless
    ``prefit`` (the components are already fitted on that matrix; they must be).
    """

    def __init__(self, components: list[tuple[str, Recommender]], weights: Sequence[float] | None = None,
                 prefit: bool = False) -> None:
        self.components = components
        self.weights = weights
        self.prefit = prefit

    def _fit(self, X: sp.csr_matrix) -> None:
        for _, est in self.components:
            if not self.prefit:
                est.fit(X)
            elif getattr(est, "X_", None) is None or est.X_.shape != X.shape:
                raise ValueError("prefit components must be fitted on a matrix of the same shape")
        w = np.ones(len(self.components)) if self.weights is None else np.asarray(self.weights, dtype=float)
        if len(w) != len(self.components) or (w < 0).any():
            raise ValueError("one non-negative weight per component")
        self.weights_ = w

    def _score(self, users: np.ndarray | None, holdings: sp.csr_matrix) -> np.ndarray:
        total = np.zeros((holdings.shape[0], self.n_items_), dtype=np.float32)
        for w, (_, est) in zip(self.weights_, self.components):
            if w == 0:
                continue
            total += np.float32(w) * _minmax_rows(est._score(users, holdings))
        return total


# ----------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Quality:
    """Ranking quality on held-out items."""

    recall: float
    ndcg: float
    users: int
    k: int


def temporal_split(interactions: pd.DataFrame, *, n_latest: int | None = None, fraction: float | None = None,
                   user: str = "user", time: str = "time",
                   min_train: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out each user's latest interactions by ``time``: ``(train, test)`` frames.

    Exactly one of ``n_latest`` (the last n per user) or ``fraction`` (the last
    ``ceil(fraction * count)`` per user, at least 1) is given. Ties in ``time`` are
    broken by row order (stable sort). A user keeps at least ``min_train``
    interactions in ``train`` (users with too few keep everything there).

    Raises ValueError when neither or both of ``n_latest`` and ``fraction`` are given.
    """
    if (n_latest is None) == (fraction is None):
        raise ValueError("give exactly one of n_latest or fraction")
    f = interactions.sort_values([user, time], kind="stable")
    pos_from_end = f.groupby(user, sort=False).cumcount(ascending=False).to_numpy()
    size = f.groupby(user, sort=False)[user].transform("size").to_numpy()
    if n_latest is not None:
        held = np.minimum(n_latest, size - min_train)
    else:
        held = np.minimum(np.maximum(1, np.ceil(fraction * size)).astype(np.int64), size - min_train)
    is_test = pos_from_end < held
    return f[~is_test], f[is_test]


def _top_k(s: np.ndarray, k: int) -> np.ndarray:
    """Column numbers of each row's ``k`` largest finite scores, best first (-1 pads)."""
    kk = min(k, s.shape[1])
    top = np.argpartition(-s, kk - 1, axis=1)[:, :kk] if kk < s.shape[1] else \
        np.broadcast_to(np.arange(s.shape[1]), s.shape).copy()
    ts = np.take_along_axis(s, top, axis=1)
    order = np.argsort(-ts, axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    top = np.where(np.isfinite(np.take_along_axis(ts, order, axis=1)), top, -1)
    if kk < k:
        top = np.hstack([top, np.full((len(top), k - kk), -1, dtype=top.dtype)])
    return top


def ranking_quality(items: np.ndarray, test: sp.csr_matrix, k: int) -> Quality:
    """recall@k and NDCG@k of ranked ``items`` (``n x k``, -1 = none) against ``test`` rows
    (binary CSR, one row per ranked row, each with at least one item)."""
    n = len(items)
    rows = np.repeat(np.arange(n), k)
    flat = items[:, :k].ravel()
    ok = flat >= 0
    hit: np.ndarray = np.zeros(len(flat), dtype=bool)
    hit[ok] = np.asarray(test[rows[ok], flat[ok]]).ravel() > 0
    hit = hit.reshape(n, k)
    denom = np.minimum(k, np.diff(test.indptr))
    recall = hit.sum(axis=1) / denom
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hit * discount).sum(axis=1)
    idcg = np.cumsum(discount)[denom - 1]
    return Quality(recall=float(recall.mean()), ndcg=float((dcg / idcg).mean()), users=n, k=k)


def evaluate(recommender: Recommender, train: sp.spmatrix, test: sp.spmatrix, k: int = 10,
             users: np.ndarray | None = None) -> Quality:
    """recall@k and NDCG@k of ``recommender`` (fitted on ``train``) on the held-out ``test``.

    Held items (``train``) are excluded from the ranking. recall@k = hits /
    min(k, |held out|); NDCG@k with binary relevance, ideal DCG over
    min(k, |held out|) positions. Averaged over users with at least one held-out
    item (or over ``users``, who must each have one).
    """
    test = binary_csr(test)
    have = np.flatnonzero(np.diff(test.indptr) > 0) if users is None else np.asarray(users)
    items, _ = recommender.recommend(have, k, exclude_held=True)
    return ranking_quality(items, test[have], k)


def tune_blend(components: list[tuple[str, Recommender]], train: pd.DataFrame, shape: tuple[int, int], *,
               n_latest: int | None = None, fraction: float | None = None, k: int = 10,
               grid: Sequence[float] = (0.0, 0.25, 0.5, 1.0), user: str = "user", item: str = "item",
               time: str = "time", max_users: int | None = 50_000) -> tuple[Blend, dict[tuple[float, ...], Quality]]:
    """Choose a ``Blend``'s weights on a validation split carved out of ``train``.

    ``train`` is the training interactions (columns ``user``, ``item``, ``time``);
    its latest interactions per user (``n_latest`` / ``fraction``, as in
    ``temporal_split``) become the validation set; the components are fitted once on
    the rest, and every weight combination from ``grid``
    (all-zero and rescaled duplicates skipped) is scored by recall@k, NDCG@k breaking ties.
    At most ``max_users`` validation users (a seeded sample) are scored; each component's
    scores are computed once and combined per weight vector.
    Returns an unfitted ``Blend`` with the best weights and every combination's quality.
    """
    fit_part, val_part = temporal_split(train, n_latest=n_latest, fraction=fraction, user=user, time=time)
    Xf = interaction_matrix(fit_part[user].to_numpy(), fit_part[item].to_numpy(), shape)
    Xv = interaction_matrix(val_part[user].to_numpy(), val_part[item].to_numpy(), shape)
    Blend(components).fit(Xf)  # fits each component in place: they are scored below
    have = np.flatnonzero(np.diff(Xv.indptr) > 0)
    if max_users and len(have) > max_users:
        have = np.sort(np.random.default_rng(0).choice(have, max_users, replace=False))
    held = Xf[have]
    r = np.repeat(np.arange(len(have)), np.diff(held.indptr))
    parts = []
    for _, est in components:                     # each component scored once
        p = _minmax_rows(est._score(have, held))
        p[r, held.indices] = -np.inf
        parts.append(p)
    truth = Xv[have]
    results: dict[tuple[float, ...], Quality] = {}
    import itertools

    for combo in itertools.product(grid, repeat=len(components)):
        top = max(combo)
        if top <= 0:
            continue
        w = tuple(round(c / top, 6) for c in combo)      # scaling all weights changes no ranking
        if w in results:
            continue
        total = sum(np.float32(c) * p for c, p in zip(w, parts) if c > 0)
        assert not isinstance(total, int)  # some weight is > 0, so the sum has a term
        results[w] = ranking_quality(_top_k(total, k), truth, k)
    best = max(results, key=lambda w: (results[w].recall, results[w].ndcg))
    from sklearn.base import clone

    return Blend([(n, clone(e)) for n, e in components], weights=list(best)), results
