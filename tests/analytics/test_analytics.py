"""The analytics root (``cdp.analytics.analytics.Analytics``) over the real demo store: the projection
holds the demo's customers, each service is built once on first use and shares that projection,
a score of an untrained model is refused with a typed error, and closing cancels long work."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp.analytics.analytics import Analytics
from cdp.errors import CdpError, InvalidInput
from cdp.settings import Settings
from tests.conftest import DEMO_CUSTOMERS


@pytest.fixture
def analytics(demo_store, tmp_path: Path):  # type: ignore[no-untyped-def]
    built = Analytics(demo_store, Settings(db_path=tmp_path / "unused.lbdb", model_dir=tmp_path / "models"))
    yield built
    built.close()


def test_the_projection_holds_the_stores_customers(analytics: Analytics, demo_data) -> None:  # type: ignore[no-untyped-def]
    data = analytics.data()
    assert data.size == DEMO_CUSTOMERS
    assert analytics.data() is data  # no write in between: the same snapshot


def test_services_are_built_once_and_share_the_projection(analytics: Analytics) -> None:
    assert analytics.segments is analytics.segments
    assert analytics.models is analytics.models
    assert analytics.campaigns is analytics.campaigns
    assert analytics.features is analytics.features
    assert analytics.channels is analytics.channels
    assert analytics.value is analytics.value
    assert analytics.recommendations is analytics.recommendations


def test_a_score_of_an_untrained_model_is_refused(analytics: Analytics) -> None:
    with pytest.raises(InvalidInput) as caught:
        analytics.score_column("churn_risk", analytics.data())
    assert caught.value.code == "MODEL_NOT_TRAINED" and "cdp train churn" in str(caught.value)


def test_closing_cancels_long_work(analytics: Analytics) -> None:
    analytics.cancellation.check()  # running: passes
    analytics.close()
    with pytest.raises(CdpError) as caught:
        analytics.cancellation.check()
    assert caught.value.code == "SHUTTING_DOWN"
