"""Customers who object to profiling are left out of model training, not only of scoring.

Through the real store (each backend) and projection: a few hundred demo customers refuse
PROFILING (``cdp.privacy.consent.record``), one is erased; the churn labels, the propensity
training base and the collaborative recommender's training rows must not contain them,
and the model cards say how many were left out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import numpy as np
import pytest

from cdp.models import churn
from cdp.privacy import consent
from cdp.demo import telecom as demo
from cdp.models import propensity
from cdp.projection.tables import Projection, ProjectionData
from cdp.offers.recommendations import CollaborativeProbability, holdings_matrix
from graph.store import GraphStore
from tests.conftest import BACKENDS, make_store

CUSTOMERS = 2500
REFUSING = 300


@pytest.fixture(scope="module", params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphStore]:
    data = demo.generate(CUSTOMERS, seed=11)
    s = make_store(request.param, tmp_path_factory.mktemp("training"))
    s.bulk_load(data.nodes, data.relationships)
    yield s
    s.close()


@pytest.fixture(scope="module")
def refused(store: GraphStore) -> tuple[ProjectionData, set[str], datetime, ProjectionData, set[str]]:
    """The projection after ``REFUSING`` more customers of the base, evenly spread, said no to
    PROFILING; the chosen ids, the time, the projection from before, and the customers who
    had refused before (the demo data records a few refusals of its own, ``cdp.demo.telecom``)."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    data = Projection(store).data()
    base = data.base()
    already = _ids(data, np.flatnonzero(base & ~consent.trainable(data, now)))
    ids = [i for i in (str(i) for i in data.ids[np.flatnonzero(base)]) if i not in already]
    chosen = set(ids[:: len(ids) // REFUSING][:REFUSING])
    for customer in chosen:
        consent.record(store, customer, "PROFILING", None, "DENIED", None, "CRM", False, now)
    after = Projection(store).data()
    return after, chosen, now, data, already


def _ids(data: ProjectionData, rows: np.ndarray) -> set[str]:
    return {str(i) for i in data.ids[rows]}


def test_trainable_is_the_base_without_refusals(refused) -> None:  # type: ignore[no-untyped-def]
    data, chosen, now, _, already = refused
    assert already  # the demo's own refusals: checked as well
    mask = consent.trainable(data, now)
    assert _ids(data, np.flatnonzero(data.base() & ~mask)) == chosen | already
    assert not (mask & ~data.base()).any()


def test_churn_labels_leave_out_refusals(refused) -> None:  # type: ignore[no-untyped-def]
    data, chosen, now, before, already = refused
    labels = churn.labels(data, now)
    assert len(labels.rows) > 0
    assert not _ids(data, labels.rows) & (chosen | already)
    assert labels.unprofiled == len(chosen | already)
    # before they refused, many of them were labelled: the exclusion is doing something
    earlier = churn.labels(before, now)
    assert len(_ids(before, earlier.rows) & chosen) > REFUSING // 2
    assert earlier.unprofiled == len(already)


def test_propensity_card_counts_refusals(refused) -> None:  # type: ignore[no-untyped-def]
    data, chosen, now, _, already = refused
    _, card = propensity.train(data, now, max_rows=2000)
    assert card.parameters["left_out_no_profiling_consent"] == len(chosen | already)


def test_collaborative_model_is_not_fitted_on_refusals(refused) -> None:  # type: ignore[no-untyped-def]
    data, chosen, now, _, already = refused
    held = holdings_matrix(data, now)
    model = CollaborativeProbability("cooccurrence").fit(data, now, held)
    assert model.left_out_ == len(chosen | already)
    rows = np.flatnonzero(consent.trainable(data, now))
    # the fitted item statistics are those of the allowed customers' holdings alone
    expected = CollaborativeProbability("cooccurrence")._fit_models(held[rows], "share")["cooccurrence"]
    fitted = model.models_["cooccurrence"]
    some = held[rows[:50]]
    np.testing.assert_allclose(np.asarray(fitted.score(holdings=some)), np.asarray(expected.score(holdings=some)))
