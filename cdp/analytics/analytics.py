"""Whole-population analytics of one running app, in one object.

``Analytics(store, settings)`` owns the live analytic projection
(``cdp.projection.tables``) and the services computed on it on demand: segments
(``cdp.segments.engine``), value analysis (``cdp.analytics.value``), predictive models
(``cdp.models.scoring``), channels, recommendations and campaigns. The app builds one and
hands it to every request through the GraphQL context
(``resolvers.context.Context.analytics``); the CLI and the benchmarks build their own.

It is the composition root of the analytics: the one place that wires them. Each
service gets exactly the parts it uses (the store, the snapshot function, another
service, a score function), never the ``Analytics`` that built it.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from cdp.ops.cancellation import Cancellation
from cdp.ingest.column_signal import stored_findings
from cdp.errors import InvalidInput
from cdp.limits.fair_share import not_charged
from cdp.projection.tables import Projection, ProjectionData
from cdp.settings import Settings
from graph.store import GraphStore

# The services import pandas, SciPy and scikit-learn (seconds at start): each property
# imports its service on first use, so a command that needs none of them (``cdp privacy
# export``, ``cdp quality``) does not pay for them. These are the deferred imports below.
if TYPE_CHECKING:
    import numpy as np

    from cdp.campaigns.campaigns import Campaigns
    from cdp.outreach.channel_choice import ChannelChoices
    from cdp.projection.features import FeatureFrame
    from cdp.offers.recommendations import RecommendationEngine
    from cdp.models.scoring import ModelRegistry
    from cdp.analytics.value import ValueAnalysis
    from cdp.segments.engine import SegmentEngine


class Analytics:
    """The projection of ``store`` and the analytics built on it.

    Nothing is read until first use: the projection builds on the first
    ``data()`` call (seconds at a million customers; docs/benchmarks.md).
    """

    def __init__(self, store: GraphStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        # On Neo4j other servers write too: their writes come through the change feed.
        # The first build serves everyone: not charged to the heavy-lane budget of the request
        # that happens to trigger it (cdp.limits.fair_share).
        self.projection = Projection(store, follow_every=settings.change_feed_poll, first_build_scope=not_charged)
        #: Set when the app shuts down: long computations stop at their next check (cdp.ops.cancellation).
        self.cancellation = Cancellation()

    def data(self) -> ProjectionData:
        """The current projection snapshot, fresh with this process's writes and, on
        Neo4j, with other servers' writes read from the change feed at most
        ``settings.change_feed_poll`` seconds ago.
        """
        return self.projection.data()

    @cached_property
    def features(self) -> FeatureFrame:
        """The per-customer feature frame, kept current with the projection."""
        from cdp.projection.features import FeatureFrame

        return FeatureFrame(self.projection)

    @cached_property
    def models(self) -> ModelRegistry:
        """Predictive models (churn, lifetime value, propensity): training, cards, scores of everyone."""
        from cdp.models.scoring import ModelRegistry

        store = self.store
        return ModelRegistry(self.projection, self.features, self.settings,
                             import_findings=lambda: stored_findings(store))

    def score_column(self, name: str, data: ProjectionData) -> np.ndarray:
        """Per-row scores ``name`` (``churn_risk``, ``lifetime_value``, ``propensity:<product>``)
        of ``data``'s customers, NaN where unscored: the seam segments use for score conditions.

        Raises ``InvalidInput`` when the score is unknown or its model is not trained.
        """
        models = getattr(self, "models", None)
        if models is None:
            raise InvalidInput(f"score {name!r} is not available: its model is not trained", field="score")
        return models.score_column(name, data)

    @cached_property
    def segments(self) -> SegmentEngine:
        """Rule segments: evaluation on the projection (cached per data version) and saved segments."""
        from cdp.segments.engine import SegmentEngine

        return SegmentEngine(self.store, self.data, self.score_column)

    @cached_property
    def value(self) -> ValueAnalysis:
        """Value segmentation (concentration, tiers, RFM, clusters), cached per data version."""
        from cdp.analytics.value import ValueAnalysis

        return ValueAnalysis(self.projection, self.features, recency_kinds=self.settings.rfm_recency_kinds)

    @cached_property
    def channels(self) -> ChannelChoices:
        """Next-best channel and time per customer, rebuilt once per data version."""
        from cdp.outreach.channel_choice import ChannelChoices

        return ChannelChoices(self.projection)

    @cached_property
    def recommendations(self) -> RecommendationEngine:
        """Next-best offers with their channel and time, on the live projection."""
        from cdp.offers.recommendations import RecommendationEngine

        # The models load on the first propensity asked for, not when the engine is built.
        return RecommendationEngine(self.store, self.data, self.channels,
                                    propensities=lambda rows, data: self.models.propensity_rows(rows, data),
                                    check=self.cancellation.check)

    @cached_property
    def campaigns(self) -> Campaigns:
        """Campaigns: audiences under the contact policy, wave launches, responses."""
        from cdp.campaigns.campaigns import Campaigns

        return Campaigns(self.store, self.data, self.segments, self.recommendations)

    def close(self) -> None:
        """Stop following the store, and cancel long computations still running (they raise
        ``ShuttingDown`` at their next check)."""
        self.cancellation.cancel()
        self.projection.close()
