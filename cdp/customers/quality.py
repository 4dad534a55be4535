"""The data-quality report: completeness, staleness, conflicts, unmerged duplicates, rejects.

Computed on a columnar projection of the store (``GraphStore.export_nodes`` /
``export_relationships`` into pandas), never by per-customer queries:

- **completeness**: per customer profile property, how many customers have a value;
- **staleness**: per attribute key, customers whose newest value is older than the
  profile policy's ``stale_after_days``;
- **conflicts**: per attribute key, customers whose sources' latest values disagree;
- **likely duplicates**: groups of different customers sharing a normalised national
  id, e-mail address or phone number (candidates for identity resolution);
- **rejects**: rows refused by imports, per source (from recorded import runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pandas as pd

from cdp.identity import resolution as identity
from cdp.formats.display_format import iso
from cdp.customers.profile import ProfilePolicy
from graph.store import GraphStore

#: Customer properties the completeness section covers.
PROFILE_PROPERTIES = ("first_name", "last_name", "company_name", "birth_date", "gender", "national_id", "email",
                      "phone", "street", "city", "postal_code", "country", "language", "tier", "status", "joined_on")

#: Exact keys that suggest two customers are one person, with their normalisation.
DUPLICATE_KEYS = ("national_id", "email", "phone")


@dataclass(frozen=True)
class Completeness:
    attribute: str
    filled: int
    total: int

    @property
    def ratio(self) -> float:
        return self.filled / self.total if self.total else 0.0


@dataclass(frozen=True)
class KeyCount:
    """A count of customers for one attribute key (stale values, conflicts)."""

    attribute: str
    customers: int


@dataclass(frozen=True)
class DuplicateGroup:
    """Different customers sharing one normalised value."""

    rule: str
    customer_ids: tuple[str, ...]


@dataclass(frozen=True)
class SourceRejects:
    source: str
    rows: int
    runs: int


@dataclass
class QualityReport:
    generated_at: datetime
    customers: int
    completeness: list[Completeness] = field(default_factory=list)
    staleness: list[KeyCount] = field(default_factory=list)
    conflicts: list[KeyCount] = field(default_factory=list)
    duplicate_groups: int = 0
    duplicate_customers: int = 0
    duplicate_sample: list[DuplicateGroup] = field(default_factory=list)
    rejects: list[SourceRejects] = field(default_factory=list)


def duplicates_readable(report: QualityReport, readable: Callable[[str], bool]) -> QualityReport:
    """``report`` with only the duplicate groups whose key ``readable(rule)`` allows: a group
    says "these customers share an e-mail address", which grouping by a field one may not
    read must not reveal (docs/security.md). The counts stay (they name nobody)."""
    return replace(report, duplicate_sample=[g for g in report.duplicate_sample if readable(g.rule)])


def normalised(rule: str, values: pd.Series) -> pd.Series:
    """Values of ``rule``'s key in comparable form (the identity resolver's normalisers); NA when unusable."""
    normalise = {"email": identity.normalise_emails, "phone": identity.normalise_phones,
                 "national_id": identity.normalise_national_ids}[rule]
    return normalise(values.astype("string"))


def report(store: GraphStore, policy: ProfilePolicy, now: datetime, sample: int = 20) -> QualityReport:
    """Build the report from the whole store. ``sample`` caps the duplicate groups listed."""
    customers = store.export_nodes("Customer").to_pandas()
    out = QualityReport(generated_at=now, customers=len(customers))
    for name in PROFILE_PROPERTIES:
        column = customers[name]
        filled = column.notna() & (column.astype("string").str.strip() != "") if column.dtype == object \
            else column.notna()
        out.completeness.append(Completeness(name, int(filled.fillna(False).sum()), len(customers)))

    values = store.export_nodes("AttributeValue").to_pandas()
    links = store.export_relationships("HAS_ATTRIBUTE").to_pandas()
    if len(values):
        owned = values.merge(links.rename(columns={"from": "customer", "to": "id"}), on="id")
        newest = owned.groupby(["key", "customer"])["observed_at"].max().reset_index()
        cutoff = now - timedelta(days=policy.stale_after_days)
        stale = newest[newest["observed_at"].isna() | (newest["observed_at"] < cutoff)]
        out.staleness = [KeyCount(k, int(n)) for k, n in stale.groupby("key").size().items()]
        latest = owned.sort_values("observed_at").groupby(["key", "customer", "source"]).tail(1)
        latest = latest.assign(norm=latest["value"].astype("string").str.strip().str.lower())
        distinct = latest.groupby(["key", "customer"])["norm"].nunique()
        conflicting = distinct[distinct > 1].reset_index()
        out.conflicts = [KeyCount(k, int(n)) for k, n in conflicting.groupby("key").size().items()]

    groups: list[DuplicateGroup] = []
    in_groups: set[str] = set()
    count = 0
    for rule in DUPLICATE_KEYS:
        keyed = pd.DataFrame({"id": customers["id"], "k": normalised(rule, customers[rule])}).dropna()
        shared = keyed[keyed.duplicated("k", keep=False)]
        for _, ids in shared.groupby("k")["id"]:
            count += 1
            in_groups.update(ids)
            if len(groups) < sample:
                groups.append(DuplicateGroup(rule, tuple(sorted(ids))))
    out.duplicate_groups, out.duplicate_customers, out.duplicate_sample = count, len(in_groups), groups

    runs = store.export_nodes("ImportRun").to_pandas()
    if len(runs):
        per = runs.groupby("source").agg(rows=("rejected", "sum"), runs=("id", "count"))
        out.rejects = [SourceRejects(s, int(r.rows), int(r.runs)) for s, r in per.iterrows()]
    return out


def markdown(r: QualityReport) -> str:
    """The report as Markdown tables (what ``cdp quality`` prints)."""
    lines = [f"# Data quality, {iso(r.generated_at)}, {r.customers:,} customers", "",
             "## Completeness", "", "| attribute | filled | share |", "|---|---:|---:|"]
    lines += [f"| {c.attribute} | {c.filled:,} | {c.ratio:.1%} |" for c in r.completeness]
    lines += ["", "## Stale values (newest value older than the policy allows)", "",
              "| attribute | customers |", "|---|---:|"]
    lines += [f"| {k.attribute} | {k.customers:,} |" for k in r.staleness] or ["| (none) | 0 |"]
    lines += ["", "## Conflicting sources", "", "| attribute | customers |", "|---|---:|"]
    lines += [f"| {k.attribute} | {k.customers:,} |" for k in r.conflicts] or ["| (none) | 0 |"]
    lines += ["", f"## Likely duplicates not merged: {r.duplicate_groups:,} groups, "
                  f"{r.duplicate_customers:,} customers", ""]
    lines += [f"- {g.rule}: {', '.join(g.customer_ids)}" for g in r.duplicate_sample]
    lines += ["", "## Rejected import rows", "", "| source | rows | runs |", "|---|---:|---:|"]
    lines += [f"| {s.source} | {s.rows:,} | {s.runs:,} |" for s in r.rejects] or ["| (none) | 0 | 0 |"]
    return "\n".join(lines) + "\n"
