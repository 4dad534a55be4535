"""The model registry (``cdp.models.scoring.ModelRegistry``) over the real demo store: names and
times checked, churn trained and saved, its card and everyone's scores served, a customer's
scores and reasons, and the drivers over the at-risk base. (Training through the API, and the
other models, are in test_scoring.py.)"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from cdp.analytics.analytics import Analytics
from cdp.errors import InvalidInput
from cdp.models.scoring import CustomerScores, ModelRegistry
from cdp.settings import Settings

AS_OF = datetime(2026, 11, 1)  # the demo data's as_of


@pytest.fixture(scope="module")
def trained(demo_store, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("registry")
    analytics = Analytics(demo_store, Settings(db_path=folder / "unused.lbdb", model_dir=folder / "models"))
    cards = analytics.models.train("churn", as_of=AS_OF)
    yield analytics, cards, folder
    analytics.close()


def test_names_and_times_are_checked() -> None:
    ModelRegistry.check_name("churn")
    ModelRegistry.check_name("all")
    with pytest.raises(InvalidInput) as name:
        ModelRegistry.check_name("astrology")
    assert name.value.field == "name"
    with pytest.raises(InvalidInput) as future:
        ModelRegistry.check_as_of(datetime.now() + timedelta(days=2))
    assert future.value.field == "asOf"
    assert ModelRegistry.check_as_of(AS_OF) == AS_OF


def test_churn_is_trained_saved_and_scores_everyone(trained) -> None:  # type: ignore[no-untyped-def]
    analytics, cards, folder = trained
    models = analytics.models
    assert [c.name for c in cards] == ["churn"] and cards[0].trained_at == AS_OF
    assert models.card("churn") == cards[0]
    assert [c.name for c in models.cards()] == ["churn"]
    assert any((folder / "models").iterdir())  # saved for the next start
    data = analytics.data()
    risk = models.score_column("churn_risk", data)
    assert risk.shape == (data.size,)
    scored = risk[~np.isnan(risk)]
    assert len(scored) > 0 and ((scored >= 0) & (scored <= 1)).all()
    with pytest.raises(InvalidInput):
        models.score_column("lifetime_value", data)  # not trained


def test_a_customers_scores_and_reasons(trained) -> None:  # type: ignore[no-untyped-def]
    analytics, _, _ = trained
    models = analytics.models
    data = analytics.data()
    risk = models.score_column("churn_risk", data)
    row = int(np.nanargmax(risk))
    customer = str(data.ids[row])
    scores = models.customer_scores(customer, propensity=False)
    assert isinstance(scores, CustomerScores)
    assert scores.churn_probability == pytest.approx(float(risk[row]), abs=1e-6)
    assert scores.lifetime_value is None  # its model is not trained
    reasons = models.churn_reasons(customer, top=3)
    assert 0 < len(reasons) <= 3
    assert all(r.feature and r.description for r in reasons)
    assert models.customer_scores("C-NOBODY") is None


def test_the_drivers_of_the_at_risk_base(trained) -> None:  # type: ignore[no-untyped-def]
    analytics, _, _ = trained
    drivers = analytics.models.churn_drivers(threshold=0.01, customers=20, top=3)
    assert drivers.at_risk >= drivers.explained > 0 and drivers.scored >= drivers.at_risk
    assert all(d.mean_effect > 0 and 0 < d.share <= 1 for d in drivers.drivers)
    with pytest.raises(InvalidInput) as caught:
        analytics.models.churn_drivers(threshold=0.0)
    assert caught.value.field == "threshold"
