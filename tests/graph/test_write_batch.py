"""graph.write_batch.last_per_key: the one "a later row for the same key wins" of writes and imports."""
from __future__ import annotations

import random

import pyarrow as pa

from graph.write_batch import distinct_keys, last_per_key


def _reference(table: pa.Table, keys: list[str]) -> list[dict]:
    """The rows to keep, by the rule itself: each key's last row, in row order."""
    rows = table.to_pylist()
    last = {tuple(r[k] for k in keys): i for i, r in enumerate(rows)}
    return [rows[i] for i in sorted(last.values())]


def test_a_later_row_wins_and_row_order_is_kept() -> None:
    table = pa.table({"id": ["a", "b", "a", "c", "b"], "v": [1, 2, 3, 4, 5]})
    assert last_per_key(table, ["id"]).to_pylist() == [{"id": "a", "v": 3}, {"id": "c", "v": 4},
                                                       {"id": "b", "v": 5}]


def test_distinct_keys_come_back_unchanged() -> None:
    table = pa.table({"from": ["a", "a", "b"], "to": ["x", "y", "x"], "w": [1.0, 2.0, 3.0]})
    assert last_per_key(table, ["from", "to"]) is table
    ids = pa.table({"id": pa.array([5, 3, 9], pa.int64())})
    assert last_per_key(ids, ["id"], {"id": distinct_keys(ids.column("id").combine_chunks())}) is ids


def test_composite_keys_with_repeats_match_the_rule_on_random_batches() -> None:
    rng = random.Random(22)
    for _ in range(20):
        n = rng.randrange(1, 200)
        table = pa.table({"from": [f"c{rng.randrange(8)}" for _ in range(n)],
                          "to": pa.array([rng.randrange(6) for _ in range(n)], pa.int64()),
                          "row": list(range(n))})
        assert last_per_key(table, ["from", "to"]).to_pylist() == _reference(table, ["from", "to"])
        assert last_per_key(table, ["to"]).to_pylist() == _reference(table, ["to"])
