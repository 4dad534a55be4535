"""The keys of ``AttributeValue`` nodes: 63-bit hashes of what an observation is about.

An observation is one value of one attribute that one source identity stated at one
time. Its id hashes (identity id, key, observation time), so re-recording the same
observation names the same node on every run and machine, and the key is an INT64:
LadybugDB writes and checkpoints integer primary keys about twice as fast as the
~45-character text ids cdp used before (``bench/copy_floor.py``, docs/import.md).

Two different observations may hash alike, with a probability of about n^2 / 2^64 over
n observations (1 in 3,700 over 100 million). ``next_ids`` gives the fixed sequence
of ids to try instead; ``cdp.customers.provenance.settle_ids`` walks it against the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: What an observation id stands for: the columns it is hashed from.
CONTENT = ("identity_id", "key", "observed_at")

#: The SipHash key of observation ids. Never change it: it defines the ids already stored.
_HASH_KEY = "cdp-observation!"
_MASK = np.uint64((1 << 63) - 1)
_STEP = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, element-wise (wrapping ``uint64`` arithmetic)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(33))
        x = x * np.uint64(0xFF51AFD7ED558CCD)
        x = x ^ (x >> np.uint64(33))
        x = x * np.uint64(0xC4CEB9FE1A85EC53)
        mixed: np.ndarray = x ^ (x >> np.uint64(33))
        return mixed


def _text_hash(texts: np.ndarray) -> np.ndarray:
    """SipHash-2-4 (pandas' ``hash_array``, keyed by ``_HASH_KEY``) of an object array of strings."""
    hashed: np.ndarray = pd.util.hash_array(texts, encoding="utf8", hash_key=_HASH_KEY, categorize=False)
    return hashed


def identity_hashes(identities: pa.Array) -> np.ndarray:
    """The hashes of identity ids that ``value_ids`` mixes in (``uint64``): compute them once
    when recording several keys of the same identities."""
    return _text_hash(np.asarray(pc.fill_null(identities, "").to_numpy(zero_copy_only=False), dtype=object))


def value_ids(identities: pa.Array, key: str | pa.Array, observed_at: pa.Array,
              hashed: np.ndarray | None = None) -> pa.Array:
    """The ids of observations: one per identity, key and observation time (naive UTC).

    ``identities``: text; ``key``: one attribute key for all, or one per row;
    ``observed_at``: timestamps (a null hashes as the epoch); ``hashed``: the
    identities' ``identity_hashes`` when the caller has them. Returns an ``int64`` array
    of positive 63-bit ids, the same on every run and machine.
    """
    n = len(identities)
    if n == 0:
        return pa.array([], pa.int64())
    who = identity_hashes(identities) if hashed is None else hashed
    if isinstance(key, str):
        what = np.full(n, _text_hash(np.array([key], dtype=object))[0], dtype=np.uint64)
    else:
        what = _text_hash(np.asarray(pc.fill_null(key, "").to_numpy(zero_copy_only=False), dtype=object))
    when = pc.fill_null(pc.cast(pc.cast(observed_at, pa.timestamp("us")), pa.int64()), 0)
    with np.errstate(over="ignore"):
        ticks = when.to_numpy(zero_copy_only=False).astype(np.uint64)
        mixed = _mix(who ^ _mix(what + ticks * _STEP))
    return pa.array((mixed & _MASK).astype(np.int64))


def text_ids(keys: pa.Array) -> pa.Array:
    """Integer ids for ``AttributeValue`` rows keyed by text in an import mapping (an
    ``[[entity]]`` of that label with key columns): a 63-bit SipHash of each key, so the
    same row gets the same id on every import. Nulls stay null. Returns ``int64``."""
    if len(keys) == 0:
        return pa.array([], pa.int64())
    valid = pc.is_valid(keys)
    hashed = _text_hash(np.asarray(pc.fill_null(keys, "").to_numpy(zero_copy_only=False), dtype=object))
    ids = pa.array((hashed & _MASK).astype(np.int64))
    return pc.if_else(valid, ids, pa.scalar(None, pa.int64()))


def value_id(identity_id: str, key: str, observed_at: datetime | None) -> int:
    """The id of one observation (``value_ids`` for one)."""
    one: int = value_ids(pa.array([identity_id], pa.string()), key,
                         pa.array([observed_at], pa.timestamp("us")))[0].as_py()
    return one


def next_ids(ids: np.ndarray) -> np.ndarray:
    """The next id to try for each of ``ids`` when another observation holds it."""
    with np.errstate(over="ignore"):
        return (_mix(ids.astype(np.uint64) + _STEP) & _MASK).astype(np.int64)


def repeats(ids: np.ndarray) -> bool:
    """Whether any integer in ``ids`` occurs twice (a sort: numpy 2's and Arrow's hash sets
    are several times slower on a million random 63-bit ids)."""
    ordered = np.sort(ids)
    return bool((ordered[1:] == ordered[:-1]).any())


def distinct_ids(ids: np.ndarray, same: Sequence[tuple[object, ...]]) -> np.ndarray:
    """``ids`` with repeats moved along ``next_ids`` until each is unique, unless the rows
    are the same observation (``same``: one content tuple per row). A copy; for a set of
    observations known completely (a migration, a generated data set)."""
    ids = ids.astype(np.int64).copy()
    if not repeats(ids):
        return ids
    owner: dict[int, tuple[object, ...]] = {}
    for i in range(len(ids)):
        while True:
            held = owner.get(int(ids[i]))
            if held is None or held == same[i]:
                owner[int(ids[i])] = same[i]
                break
            ids[i] = next_ids(ids[i:i + 1])[0]
    return ids
