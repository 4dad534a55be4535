"""GraphQL types of the data-quality report (``Query.dataQuality``)."""

from __future__ import annotations

from datetime import datetime, timezone

import strawberry

from cdp.customers import quality


@strawberry.type(description="How many customers have a value for one profile attribute.")
class AttributeCompleteness:
    attribute: str = strawberry.field(description="The attribute, e.g. `email`.")
    filled: int = strawberry.field(description="Customers with a value.")
    total: int = strawberry.field(description="Customers considered.")
    ratio: float = strawberry.field(description="filled / total, 0..1.")


@strawberry.type(description="A number of customers for one attribute key.")
class AttributeCount:
    attribute: str = strawberry.field(description="The attribute, e.g. `phone`.")
    customers: int = strawberry.field(description="Customers affected.")


@strawberry.type(description="Different customers sharing one normalised national id, e-mail or phone.")
class DuplicateCandidate:
    rule: str = strawberry.field(description="The match rule that finds the group (docs/identity.md).")
    customer_ids: list[strawberry.ID] = strawberry.field(description="Customers that look like one person.")


@strawberry.type(description="Rows refused by imports of one source.")
class SourceRejects:
    source: str = strawberry.field(description="The source system.")
    rows: int = strawberry.field(description="Rows rejected over its import runs.")
    runs: int = strawberry.field(description="Import runs of the source.")


@strawberry.type(description="Completeness, staleness, conflicts, unmerged duplicates and import rejects.")
class DataQualityReport:
    generated_at: datetime = strawberry.field(description="When the report was computed (ISO 8601, UTC).")
    customers: int = strawberry.field(description="Customers the report covers.")
    completeness: list[AttributeCompleteness] = strawberry.field(
        description="Share of customers with a value, per attribute.")
    stale: list[AttributeCount] = strawberry.field(
        description="Customers whose newest value is older than the profile policy allows.")
    conflicts: list[AttributeCount] = strawberry.field(
        description="Customers whose sources' latest values disagree.")
    duplicate_groups: int = strawberry.field(description="Groups of customers that look like one person.")
    duplicate_customers: int = strawberry.field(description="Customers in those groups.")
    duplicate_sample: list[DuplicateCandidate] = strawberry.field(
        description="A sample of the groups; rules on personal fields only for credentials that may read them in "
                    "full.")
    rejects: list[SourceRejects] = strawberry.field(description="Rejected import rows, per source.")

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
