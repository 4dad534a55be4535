"""Condition trees evaluated as masks over the whole population at once
(``cdp.segments.evaluation``), against the same rows found with pandas on the demo data."""

from __future__ import annotations

import numpy as np

from cdp.projection.tables import build, utc_now
from cdp.segments.definition import parse_definition
from cdp.segments.evaluation import Evaluator
from graph.store import GraphStore


def test_masks_of_leaves_and_of_all_any_not(demo_store: GraphStore) -> None:
    data = build(demo_store)
    evaluator = Evaluator(data, utc_now(), past=False, scores=None)
    tier = data.customers["tier"].astype(str).str.upper().to_numpy()
    business = tier == "BUSINESS"
    assert business.any() and not business.all()  # the demo data has both kinds
    status = data.customers["status"].astype(str).str.upper().to_numpy()
    active = status == "ACTIVE"

    def mask(raw: dict) -> np.ndarray:
        return evaluator.eval(parse_definition(raw, data))

    business_leaf = {"attribute": {"key": "tier", "op": "EQ", "value": "business"}}
    active_leaf = {"attribute": {"key": "status", "op": "EQ", "value": "ACTIVE"}}
    assert np.array_equal(mask(business_leaf), business)
    assert np.array_equal(mask({"all": [business_leaf, active_leaf]}), business & active)
    assert np.array_equal(mask({"any": [business_leaf, active_leaf]}), business | active)
    assert np.array_equal(mask({"not": business_leaf}), ~business)
    assert evaluator.base().sum() <= data.size
