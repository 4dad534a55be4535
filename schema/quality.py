"""GraphQL types of the data-quality report (``Query.dataQuality``)."""

from __future__ import annotations

from datetime import datetime, timezone

import strawberry

from cdp.customers import quality


@strawberry.type(description="How many customers have a value for one profile attribute.")
class AttributeCompleteness:
    attribute: str
    filled: int
    total: int
    ratio: float


@strawberry.type(description="A number of customers for one attribute key.")
class AttributeCount:
    attribute: str
    customers: int


@strawberry.type(description="Different customers sharing one normalised national id, e-mail or phone.")
class DuplicateCandidate:
    rule: str
    customer_ids: list[strawberry.ID]


@strawberry.type(description="Rows refused by imports of one source.")
class SourceRejects:
    source: str
    rows: int
    runs: int


@strawberry.type(description="Completeness, staleness, conflicts, unmerged duplicates and import rejects.")
class DataQualityReport:
    generated_at: datetime
    customers: int
    completeness: list[AttributeCompleteness]
    stale: list[AttributeCount] = strawberry.field(
        description="Customers whose newest value is older than the profile policy allows.")
    conflicts: list[AttributeCount] = strawberry.field(
        description="Customers whose sources' latest values disagree.")
    duplicate_groups: int
    duplicate_customers: int
    duplicate_sample: list[DuplicateCandidate]
    rejects: list[SourceRejects]

    @classmethod
    def from_report(cls, r: quality.QualityReport) -> DataQualityReport:
        return cls(
            generated_at=r.generated_at.replace(tzinfo=timezone.utc), customers=r.customers,
            completeness=[AttributeCompleteness(attribute=c.attribute, filled=c.filled, total=c.total,
                                                ratio=round(c.ratio, 4)) for c in r.completeness],
            stale=[AttributeCount(attribute=k.attribute, customers=k.customers) for k in r.staleness],
            conflicts=[AttributeCount(attribute=k.attribute, customers=k.customers) for k in r.conflicts],
            duplicate_groups=r.duplicate_groups, duplicate_customers=r.duplicate_customers,
            duplicate_sample=[DuplicateCandidate(rule=g.rule, customer_ids=[strawberry.ID(i) for i in g.customer_ids])
                              for g in r.duplicate_sample],
            rejects=[SourceRejects(source=s.source, rows=s.rows, runs=s.runs) for s in r.rejects],
        )
