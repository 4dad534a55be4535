"""Product propensity (``cdp.models.propensity``) trained on the real demo store's projection:
one entry per live product on the card (a model with enough takers, else the base rate),
probabilities in [0, 1] and NaN for products a customer already holds; a snapshot before any
account is refused."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from cdp.analytics.analytics import Analytics
from cdp.errors import InvalidInput
from cdp.models import propensity
from cdp.projection import features as F
from cdp.settings import Settings

AS_OF = datetime(2026, 11, 1)  # the demo data's as_of (cdp.demo.telecom.generate)


@pytest.fixture
def data(demo_store, tmp_path: Path):  # type: ignore[no-untyped-def]
    analytics = Analytics(demo_store, Settings(db_path=tmp_path / "unused.lbdb"))
    yield analytics.data()
    analytics.close()


def test_training_covers_every_live_product_and_scores_only_what_is_not_held(data) -> None:  # type: ignore[no-untyped-def]
    model, card = propensity.train(data, AS_OF)
    live = [p for p, life in zip(data.products.index, data.products.get("lifecycle", [None] * len(data.products)))
            if life != "RETIRED"]
    assert model.products == live and [p.product for p in card.products] == live
    assert card.rows > 0 and card.parameters["horizon_days"] == propensity.HORIZON_DAYS
    for product in card.products:
        assert product.trained == (product.product in model.estimators)
        assert 0.0 <= product.base_rate <= 1.0
    rows = np.flatnonzero(data.base())[:50]
    held = propensity.holdings(data, rows, AS_OF, model.products)
    scores = model.predict(F.compute(data, AS_OF, rows).loc[rows], held)
    assert scores.shape == (len(rows), len(live))
    assert np.isnan(scores[held]).all()
    free = scores[~held]
    assert len(free) and ((free >= 0) & (free <= 1)).all()
    for j, product in enumerate(live):  # products without a model of their own: their base rate
        if product not in model.estimators:
            assert np.allclose(scores[~held[:, j], j], model.base_rates[product])


def test_a_snapshot_before_any_account_is_refused(data) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="no customer had an open account"):
        propensity.train(data, datetime(1990, 1, 1))
