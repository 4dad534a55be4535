"""GraphQL types of predictive scores: churn risk with reasons, lifetime value,
product propensities, model cards; the ``models`` query and ``trainModel`` mutation (which
submits a job: ``schema.jobs``).

A field of a model that is not trained yet fails with ``MODEL_NOT_TRAINED``; a
customer the models do not score (no open account, merged away) gets null.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from cdp.models import model_card as MC
from resolvers import scoring
from resolvers.context import Context

if TYPE_CHECKING:
    from schema.jobs import Job
    from schema.types import Product

Ctx = Info[Context, None]
ProductRef = Annotated["Product", strawberry.lazy("schema.types")]
JobRef = Annotated["Job", strawberry.lazy("schema.jobs")]


@strawberry.type(description="One reason of a customer's score: a feature and how much it moves the score.")
class ScoreReason:
    feature: str = strawberry.field(description="Feature name (docs/models.md).")
    description: str = strawberry.field(description="The feature in words.")
    value: str = strawberry.field(description="The customer's value of the feature.")
    effect: float = strawberry.field(description="The customer's score minus the score with the base's typical "
                                                 "value of this feature: > 0 raises the risk, < 0 lowers it.")

    @classmethod
    def from_reason(cls, r: MC.Reason) -> ScoreReason:
        return cls(feature=r.feature, description=r.description, value=r.value, effect=r.effect)


@strawberry.type(description="The calibrated probability that the customer closes every account within the "
                             "churn model's label window (see `models`), with its reasons.")
class ChurnRisk:
    customer_id: strawberry.Private[str]
    as_of: strawberry.Private[datetime | None]
    probability: float

    @strawberry.field(description="The features that move this customer's probability most, strongest first.")
    async def reasons(self, info: Ctx, top: int = 5) -> list[ScoreReason]:
        return [ScoreReason.from_reason(r)
                for r in await scoring.churn_reasons(info.context, self.customer_id, max(1, min(top, 20)),
                                                     self.as_of)]


@strawberry.type(description="Expected discounted value over the horizon (docs/models.md): margin for "
                             "subscription customers (`model: \"lifetime_value\"`), revenue from repeat purchases "
                             "for transactional ones, whose open accounts are all prepaid "
                             "(`model: \"repeat_purchase\"`).")
class LifetimeValue:
    value: float
    model: str = strawberry.field(description="The model that valued the customer: `lifetime_value` (subscription "
                                              "margin x churn-derived retention) or `repeat_purchase` "
                                              "(BG/NBD x Gamma-Gamma).")
    horizon_months: int
    monthly_margin: float | None = strawberry.field(
        description="Monthly recurring spend minus cost to serve (lifetime_value; null for repeat_purchase).")
    monthly_retention: float | None = strawberry.field(
        description="Monthly chance of staying implied by the churn risk (lifetime_value only).")
    churn_probability: float | None = strawberry.field(description="The churn risk (lifetime_value only).")
    expected_purchases: float | None = strawberry.field(
        description="Purchases expected over the horizon (repeat_purchase only).")
    expected_spend: float | None = strawberry.field(
        description="Expected spend per purchase (repeat_purchase only).")
    probability_alive: float | None = strawberry.field(
        description="Chance the customer still buys, from their purchase history (repeat_purchase only).")


@strawberry.type(description="How likely the customer is to take a product they do not hold.")
class Propensity:
    product_id: strawberry.ID

    @strawberry.field
    async def product(self, info: Ctx) -> ProductRef | None:
        from schema.types import _product

        return await _product(info, self.product_id)

    probability: float
    model_based: bool = strawberry.field(description="False: too few past takers; the probability is the base rate.")


@strawberry.type(description="Held-out quality of a classifier.")
class ModelMetrics:
    roc_auc: float | None
    pr_auc: float | None
    brier: float | None

    @classmethod
    def from_metrics(cls, m: MC.Metrics | None) -> ModelMetrics | None:
        return cls(roc_auc=m.roc_auc, pr_auc=m.pr_auc, brier=m.brier) if m is not None else None


@strawberry.type(description="A top driver: how much shuffling the feature lowers held-out ROC AUC.")
class ModelDriver:
    feature: str
    description: str
    importance: float


@strawberry.type(description="The propensity model of one product.")
class ProductModelCard:
    product_id: strawberry.ID
    rows: int
    positives: int
    base_rate: float
    trained: bool = strawberry.field(description="False: fewer takers than needed; scored with the base rate.")
    roc_auc: float | None
    pr_auc: float | None
    brier: float | None


@strawberry.type(description="One named setting or figure of a model.")
class ModelParameter:
    name: str
    value: str


@strawberry.type(description="What a trained model is and how good it is on data it never saw.")
class ModelCard:
    name: str
    kind: str
    trained_at: datetime
    rows: int = strawberry.field(description="Rows (customers) the model was trained and evaluated on.")
    positives: int | None
    held_out_rows: int | None
    training_seconds: float | None
    roc_auc: float | None = strawberry.field(description="Held-out ROC AUC.")
    pr_auc: float | None = strawberry.field(description="Held-out PR AUC (average precision).")
    brier: float | None = strawberry.field(description="Held-out Brier score (lower is better).")
    baseline: ModelMetrics | None = strawberry.field(
        description="A logistic-regression baseline on the same split, trained in the same run.")
    top_drivers: list[ModelDriver]
    features: list[str]
    excluded_features: list[str] = strawberry.field(description="Features left out (e.g. as leakage).")
    products: list[ProductModelCard]
    parameters: list[ModelParameter]
    notes: list[str]

    @classmethod
    def from_card(cls, c: MC.ModelCard) -> ModelCard:
        m = c.metrics
        return cls(
            name=c.name, kind=c.kind, trained_at=c.trained_at.replace(tzinfo=timezone.utc), rows=c.rows,
            positives=c.positives, held_out_rows=c.held_out_rows, training_seconds=c.seconds,
            roc_auc=m.roc_auc if m else None, pr_auc=m.pr_auc if m else None, brier=m.brier if m else None,
            baseline=ModelMetrics.from_metrics(c.baseline),
            top_drivers=[ModelDriver(feature=d.feature, description=d.description, importance=d.importance)
                         for d in c.drivers],
            features=list(c.features), excluded_features=list(c.excluded_features),
            products=[ProductModelCard(product_id=strawberry.ID(p.product), rows=p.rows, positives=p.positives,
                                       base_rate=p.base_rate, trained=p.trained, roc_auc=p.roc_auc,
                                       pr_auc=p.pr_auc, brier=p.brier) for p in c.products],
            parameters=[ModelParameter(name=k, value=str(v)) for k, v in c.parameters.items()],
            notes=list(c.notes))


# --------------------------------------------------------------------------- Customer fields


async def _scores(info: Ctx, customer_id: str, as_of: datetime | None):  # type: ignore[no-untyped-def]
    if as_of is None:
        return await scoring.customer_scores(info.context, customer_id)
    return await scoring.scores_as_of(info.context, customer_id, as_of)


async def churn_risk(info: Ctx, customer_id: str, as_of: datetime | None = None) -> ChurnRisk | None:
    """``Customer.churnRisk``: MODEL_NOT_TRAINED when untrained, null when not scored;
    as of now or as of ``as_of`` (BAD_USER_INPUT when in the future)."""
    scoring.require(info.context, "churn")
    scores = await _scores(info, customer_id, as_of)
    if scores is None or scores.churn_probability is None:
        return None
    return ChurnRisk(customer_id=customer_id, as_of=as_of, probability=scores.churn_probability)


async def lifetime_value(info: Ctx, customer_id: str, as_of: datetime | None = None) -> LifetimeValue | None:
    """``Customer.lifetimeValue``: MODEL_NOT_TRAINED when no value model is trained, null when
    not scored; as of now or as of ``as_of``. Which model values whom: ``cdp.models.scoring``."""
    scoring.require_value(info.context)
    s = await _scores(info, customer_id, as_of)
    if s is None or s.lifetime_value is None or s.value_model is None:
        return None
    if s.value_model == "repeat_purchase":
        return LifetimeValue(value=round(s.lifetime_value, 2), model=s.value_model,
                             horizon_months=s.horizon_months or 0, monthly_margin=None, monthly_retention=None,
                             churn_probability=None, expected_purchases=s.expected_purchases,
                             expected_spend=None if s.expected_spend is None else round(s.expected_spend, 2),
                             probability_alive=s.probability_alive)
    return LifetimeValue(value=round(s.lifetime_value, 2), model=s.value_model, horizon_months=s.horizon_months or 0,
                         monthly_margin=round(s.monthly_margin or 0.0, 2),
                         monthly_retention=s.monthly_retention or 0.0, churn_probability=s.churn_probability,
                         expected_purchases=None, expected_spend=None, probability_alive=None)


async def propensities(info: Ctx, customer_id: str, first: int) -> list[Propensity]:
    """``Customer.propensities``: products not held, likeliest first; MODEL_NOT_TRAINED when untrained."""
    scoring.require(info.context, "propensity")
    s = await scoring.customer_scores(info.context, customer_id, propensity=True)
    if s is None:
        return []
    return [Propensity(product_id=strawberry.ID(p), probability=prob, model_based=model)
            for p, prob, model in s.propensities[:max(0, first)]]


# --------------------------------------------------------------------------- root fields


@strawberry.type
class ScoringQuery:
    @strawberry.field(description="Cards of the trained predictive models (churn, lifetime_value, repeat_purchase, propensity).")
    async def models(self, info: Ctx) -> list[ModelCard]:
        return [ModelCard.from_card(c) for c in await scoring.cards(info.context)]


@strawberry.type
class ScoringMutation:
    @strawberry.mutation(description="Train a predictive model on the store's history: `churn`, `lifetime_value`, "
                                     "`repeat_purchase`, `propensity` or `all`, as of now or as of `asOf` (only what was known "
                                     "then is read). Takes seconds to minutes, so it runs as a job: this "
                                     "answers at once; poll `job(id)` for its status and, when done, the new "
                                     "card(s) in `models`. BUSY when this credential has too many unfinished jobs.")
    async def train_model(self, info: Ctx, name: str, as_of: datetime | None = None) -> JobRef:
        from schema.jobs import Job

        return Job(job=scoring.train(info.context, name, as_of))
