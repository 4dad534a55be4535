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
from cdp.models.churn_drivers import ChurnDrivers as ChurnDriversResult
from resolvers import scoring
from resolvers.context import Context

if TYPE_CHECKING:
    from cdp.models.scoring import CustomerScores
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
    probability: float = strawberry.field(
        description="Probability the customer leaves within the churn model's label window, 0..1.")

    @strawberry.field(description="The features that move this customer's probability most, strongest first.")
    async def reasons(
        self,
        info: Ctx,
        top: Annotated[int, strawberry.argument(description="How many reasons to return, strongest first.")] = 5,
    ) -> list[ScoreReason]:
        return [ScoreReason.from_reason(r)
                for r in await scoring.churn_reasons(info.context, self.customer_id, max(1, min(top, 20)),
                                                     self.as_of)]


@strawberry.type(description="Expected discounted value over the horizon (docs/models.md): margin for "
                             "subscription customers (`model: \"lifetime_value\"`), revenue from repeat purchases "
                             "for transactional ones, whose open accounts are all prepaid "
                             "(`model: \"repeat_purchase\"`).")
class LifetimeValue:
    value: float = strawberry.field(description="Expected discounted value over the horizon, in the account currency.")
    model: str = strawberry.field(description="The model that valued the customer: `lifetime_value` (subscription "
                                              "margin x churn-derived retention) or `repeat_purchase` "
                                              "(BG/NBD x Gamma-Gamma).")
    horizon_months: int = strawberry.field(description="The horizon, in months.")
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
    product_id: strawberry.ID = strawberry.field(description="The product's id.")

    @strawberry.field(description="The product; null when it is no longer in the catalogue.")
    async def product(self, info: Ctx) -> ProductRef | None:
        from schema.types import _product

        return await _product(info, self.product_id)

    probability: float = strawberry.field(
        description="Probability the customer takes the product within the model's window, 0..1.")
    model_based: bool = strawberry.field(description="False: too few past takers; the probability is the base rate.")


@strawberry.type(description="Held-out quality of a classifier.")
class ModelMetrics:
    roc_auc: float | None = strawberry.field(
        description="Held-out ROC AUC (0.5 is chance); null when it cannot be computed.")
    pr_auc: float | None = strawberry.field(
        description="Held-out PR AUC (average precision); null when it cannot be computed.")
    brier: float | None = strawberry.field(
        description="Held-out Brier score (lower is better); null when it cannot be computed.")

    @classmethod
    def from_metrics(cls, m: MC.Metrics | None) -> ModelMetrics | None:
        return cls(roc_auc=m.roc_auc, pr_auc=m.pr_auc, brier=m.brier) if m is not None else None


@strawberry.type(description="A top driver: how much shuffling the feature lowers held-out ROC AUC.")
class ModelDriver:
    feature: str = strawberry.field(description="Feature name (docs/models.md).")
    description: str = strawberry.field(description="The feature in words.")
    importance: float = strawberry.field(description="Drop of held-out ROC AUC when the feature is shuffled.")


@strawberry.type(description="The propensity model of one product.")
class ProductModelCard:
    product_id: strawberry.ID = strawberry.field(description="The product.")
    rows: int = strawberry.field(description="Rows (customers) the product's model was trained and evaluated on.")
    positives: int = strawberry.field(description="Of those, customers who took the product.")
    base_rate: float = strawberry.field(description="positives / rows.")
    trained: bool = strawberry.field(description="False: fewer takers than needed; scored with the base rate.")
    roc_auc: float | None = strawberry.field(description="Held-out ROC AUC; null when untrained or not computable.")
    pr_auc: float | None = strawberry.field(description="Held-out PR AUC; null when untrained or not computable.")
    brier: float | None = strawberry.field(description="Held-out Brier score; null when untrained or not computable.")


@strawberry.type(description="One named setting or figure of a model.")
class ModelParameter:
    name: str = strawberry.field(description="Setting or figure name.")
    value: str = strawberry.field(description="Its value, as text.")


@strawberry.type(description="What a trained model is and how good it is on data it never saw.")
class ModelCard:
    name: str = strawberry.field(
        description="Model name: `churn`, `lifetime_value`, `repeat_purchase` or `propensity`.")
    kind: str = strawberry.field(description="What the model is and predicts, in words.")
    trained_at: datetime = strawberry.field(description="When the model was trained (ISO 8601, UTC).")
    rows: int = strawberry.field(description="Rows (customers) the model was trained and evaluated on.")
    positives: int | None = strawberry.field(description="Rows with a positive label (classifiers); null otherwise.")
    held_out_rows: int | None = strawberry.field(description="Rows held out for evaluation; null when not split.")
    training_seconds: float | None = strawberry.field(description="Wall-clock training time, in seconds.")
    roc_auc: float | None = strawberry.field(description="Held-out ROC AUC.")
    pr_auc: float | None = strawberry.field(description="Held-out PR AUC (average precision).")
    brier: float | None = strawberry.field(description="Held-out Brier score (lower is better).")
    baseline: ModelMetrics | None = strawberry.field(
        description="A logistic-regression baseline on the same split, trained in the same run.")
    top_drivers: list[ModelDriver] = strawberry.field(description="The features that matter most, strongest first.")
    features: list[str] = strawberry.field(description="Every feature the model reads.")
    excluded_features: list[str] = strawberry.field(description="Features left out (e.g. as leakage).")
    products: list[ProductModelCard] = strawberry.field(
        description="Per-product cards (propensity only; empty otherwise).")
    parameters: list[ModelParameter] = strawberry.field(description="Settings and figures of the model.")
    notes: list[str] = strawberry.field(description="Caveats in words (e.g. a small held-out set).")
    import_findings: list[str] = strawberry.field(description=(
        "Signal the imports lost, as of training: mapped columns of the latest import of each source and "
        "mapping that ended up constant, collapsed (several source values, one model value) or unused, "
        "as `cdp import` reported them (docs/import.md). Empty when none."))

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
            notes=list(c.notes), import_findings=list(c.import_findings))


@strawberry.type(description="A feature raising churn risk among the at-risk customers explained "
                             "(`Query.churnDrivers`).")
class ChurnDriver:
    feature: str = strawberry.field(description="Feature name (docs/models.md).")
    description: str = strawberry.field(description="The feature in words.")
    customers: int = strawberry.field(description="Explained customers with this feature among their top reasons "
                                                  "raising their risk.")
    share: float = strawberry.field(description="`customers` over the customers explained (0..1).")
    mean_effect: float = strawberry.field(description="Mean effect on those customers' probability (> 0): their "
                                                      "score minus the score with the base's typical value.")
    typical_value: str = strawberry.field(description="The commonest value of the feature among those customers.")


@strawberry.type(description="What drives churn risk across the at-risk base: the churn model's reasons of the "
                             "highest-risk customers, counted per feature (computed on request on the current data).")
class ChurnDrivers:
    threshold: float = strawberry.field(description="Probability from which a customer counts as at risk.")
    scored: int = strawberry.field(description="Customers the churn model scores.")
    at_risk: int = strawberry.field(description="Scored customers at or above `threshold`.")
    explained: int = strawberry.field(description="The highest-risk at-risk customers whose reasons were counted "
                                                  "(at most the `customers` asked for).")
    top: int = strawberry.field(description="Reasons looked at per customer.")
    drivers: list[ChurnDriver] = strawberry.field(description="Features raising risk, those of most customers "
                                                              "first (ties: larger mean effect first).")

    @classmethod
    def from_drivers(cls, d: ChurnDriversResult) -> ChurnDrivers:
        return cls(threshold=d.threshold, scored=d.scored, at_risk=d.at_risk, explained=d.explained, top=d.top,
                   drivers=[ChurnDriver(feature=x.feature, description=x.description, customers=x.customers,
                                        share=x.share, mean_effect=x.mean_effect, typical_value=x.typical_value)
                            for x in d.drivers])

# --------------------------------------------------------------------------- Customer fields


async def _scores(info: Ctx, customer_id: str, as_of: datetime | None) -> CustomerScores | None:
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

    @strawberry.field(description="What drives churn risk across the at-risk base: the `customers` highest-risk "
                                  "customers scored at or above `threshold` are explained (`top` reasons each) and "
                                  "the reasons raising their risk counted per feature. MODEL_NOT_TRAINED before the "
                                  "churn model is trained; BAD_USER_INPUT for an argument out of range.")
    async def churn_drivers(
        self, info: Ctx,
        threshold: Annotated[float, strawberry.argument(
            description="Probability from which a customer counts as at risk, in (0, 1].")] = 0.5,
        customers: Annotated[int, strawberry.argument(
            description="How many of the highest-risk customers to explain, 1..1000.")] = 200,
        top: Annotated[int, strawberry.argument(
            description="Reasons looked at per customer, 1..10.")] = 3,
    ) -> ChurnDrivers:
        return ChurnDrivers.from_drivers(await scoring.churn_drivers(info.context, threshold, customers, top))


@strawberry.type
class ScoringMutation:
    @strawberry.mutation(description="Train a predictive model on the store's history: `churn`, `lifetime_value`, "
                                     "`repeat_purchase`, `propensity` or `all`, as of now or as of `asOf` (only what was known "
                                     "then is read). Takes seconds to minutes, so it runs as a job: this "
                                     "answers at once; poll `job(id)` for its status and, when done, the new "
                                     "card(s) in `models`. BUSY when this credential has too many unfinished jobs.")
    async def train_model(
        self,
        info: Ctx,
        name: Annotated[str, strawberry.argument(
            description="`churn`, `lifetime_value`, `repeat_purchase`, `propensity` or `all`; BAD_USER_INPUT "
                        "otherwise.")],
        as_of: Annotated[datetime | None, strawberry.argument(
            description="Train as of this past time, from what was known then (ISO 8601; without offset: "
                        "UTC); null: now.")] = None,
    ) -> JobRef:
        from schema.jobs import Job

        return Job(job=scoring.train(info.context, name, as_of))
