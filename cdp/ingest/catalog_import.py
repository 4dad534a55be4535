"""Catalog rules through ``cdp import``: the whole file is checked before anything is written.

A mapping **writes catalog rules** when it maps a rule property of ``Product``
(``RULE_PROPERTIES``) or a ``REQUIRES`` / ``EXCLUDES`` / ``UPGRADES_TO``
relationship. Rules depend on each other (a cycle needs two rows, an exclusion
contradicts a requirement stored earlier), so such a file is imported **all or
nothing**: ``cdp.ingest.run.import_file`` reads it as one batch, and when
``check`` (or the usual row checks) finds any problem, nothing is written, every
problem goes to the rejects file, and the import fails with ``InvalidInput``
naming the file, row and column of the first one (``cdp import`` exits 2).

``check`` merges the file's rules with the store's (imports add rules, they never
remove one) and finds, each reported on the row and column that bring it in:

- a rule naming an unknown product (not in the store, not created by the file),
  or the product itself;
- an upgrade discount outside 0..1;
- a product that both requires and excludes the same product;
- a cycle of REQUIRES or of UPGRADES_TO (reported on the file's last row on it);
- eligibility values outside the vocabularies (account types, tiers, contract
  states), a negative tenure, ``offer_from`` after ``offer_until`` (with the
  store's value of the field the file does not map).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cdp.offers import catalog_rules as cr
from cdp.errors import InvalidInput
from cdp.ingest.convert import ConvertedBatch
from cdp.ingest.read import Reject
from cdp.ingest.mapping import SourceMapping
from graph.store import GraphStore

#: Product properties that hold catalog rules.
RULE_PROPERTIES = ("eligible_account_types", "eligible_tiers", "eligible_contract", "min_tenure_months",
                   "offer_from", "offer_until", "offerable")
#: Relationship types that are catalog rules.
RULE_TYPES = ("REQUIRES", "EXCLUDES", "UPGRADES_TO")
#: Most rows of one rules file (it is checked and written as one batch).
MAX_ROWS = 1_000_000

#: ``check_eligibility``'s field -> the Product properties it is about (first mapped one is blamed).
_FIELDS = {
    "eligibility.accountTypes": ("eligible_account_types",),
    "eligibility.tiers": ("eligible_tiers",),
    "eligibility.contract": ("eligible_contract",),
    "eligibility.minTenureMonths": ("min_tenure_months",),
    "eligibility.offerUntil": ("offer_until", "offer_from"),
}


def writes_rules(mapping: SourceMapping) -> bool:
    """Whether ``mapping`` writes catalog rules (a rule property of Product, or a rule relationship)."""
    return any(e.label == "Product" and any(p.name in RULE_PROPERTIES for p in e.properties)
               for e in mapping.entities) or any(r.type in RULE_TYPES for r in mapping.relationships)


def check(store: GraphStore, mapping: SourceMapping, batch: ConvertedBatch) -> list[Reject]:
    """Problems of the catalog rules in ``batch`` (every row of the file) merged with the
    store's rules: one ``Reject`` per problem (file, row, column, value, reason), rows
    in file order. Reads the store (products and rules); writes nothing.
    Raises what the store's reads raise."""
    file = batch.file
    stored = store.products()
    products: dict[str, dict[str, Any]] = {k: dict(v) for k, v in stored.items()}
    out: list[Reject] = []
    entity = next((e for e in mapping.entities if e.label == "Product"), None)
    columns = {p.name: p.column or "" for p in entity.properties} if entity else {}
    product_rows: dict[str, tuple[int, dict[str, Any]]] = {}
    if entity is not None:
        table = batch.nodes["Product"].to_pylist()
        for i, row in enumerate(table):
            pid = row["id"]
            if pid is None:
                continue
            merged = products.setdefault(pid, {"id": pid})
            merged.update({k: v for k, v in row.items() if k in columns})
            product_rows[pid] = (int(batch.rows[i]), row)
    known = set(products)

    rules = cr.read_rules(store)
    edges: dict[str, dict[str, list[str]]] = {t: {k: list(v) for k, v in table.items()} for t, table in (
        ("REQUIRES", rules.requires), ("EXCLUDES", rules.excludes),
        ("UPGRADES_TO", {k: [u.target for u in v] for k, v in rules.upgrades.items()}))}
    where: dict[tuple[str, str, str], tuple[int, str, str]] = {}  # (type, from, to) -> (row, column, value)
    for rel in mapping.relationships:
        if rel.type not in RULE_TYPES:
            continue
        table = batch.relationships[rel.type]
        sources, targets = table.column("from").to_pylist(), table.column("to").to_pylist()
        discounts = table.column("discount").to_pylist() if "discount" in table.column_names else [None] * len(sources)
        from_col, to_col = batch.key_columns[rel.type]["from"], batch.key_columns[rel.type]["to"]
        discount_col = next((p.column or "" for p in rel.properties if p.name == "discount"), "")
        for i, (a, b, d) in enumerate(zip(sources, targets, discounts)):
            row = int(batch.rows[i])
            if a is None or b is None:
                continue  # an empty key: already a reject of the row checks
            bad = False
            for value, column, end in ((a, from_col, "from"), (b, to_col, "to")):
                if value not in known:
                    out.append(Reject(file, row, column, value, f"{rel.type} {end}: unknown product {value!r}",
                                      rel.type))
                    bad = True
            if a == b:
                out.append(Reject(file, row, to_col, b, f"{rel.type}: product {a} names itself", rel.type))
                bad = True
            if d is not None and not 0.0 <= d <= 1.0:
                out.append(Reject(file, row, discount_col, str(d),
                                  f"UPGRADES_TO {a} -> {b}: discount must be within 0..1", rel.type))
            if not bad:
                if b not in edges[rel.type].setdefault(a, []):
                    edges[rel.type][a].append(b)
                where[(rel.type, a, b)] = (row, to_col, b)

    # Requires and excludes the same product.
    excluded: dict[str, set[str]] = {}
    for a, targets in edges["EXCLUDES"].items():
        for b in targets:
            excluded.setdefault(a, set()).add(b)
            excluded.setdefault(b, set()).add(a)
    for a, targets in sorted(edges["REQUIRES"].items()):
        for b in sorted(set(targets) & excluded.get(a, set())):
            blame = where.get(("EXCLUDES", a, b)) or where.get(("EXCLUDES", b, a)) or where.get(("REQUIRES", a, b))
            if blame:
                out.append(Reject(file, blame[0], blame[1], blame[2],
                                  f"product {a} both requires and excludes {b}", "EXCLUDES"))

    # Cycles: report one per edge the file brings in, and drop it to look for more.
    for rel_type in ("REQUIRES", "UPGRADES_TO"):
        graph = {k: list(v) for k, v in edges[rel_type].items()}
        for _ in range(len(where) + 1):
            cycle = cr._cycle({k: tuple(v) for k, v in graph.items()})
            if not cycle:
                break
            steps = list(zip(cycle, cycle[1:]))
            mine = [(where[(rel_type, a, b)], a, b) for a, b in steps if (rel_type, a, b) in where]
            if not mine:
                break  # a cycle already in the store: not this file's doing
            (row, column, value), a, b = max(mine)
            out.append(Reject(file, row, column, value, f"{rel_type} cycle {' -> '.join(cycle)}", rel_type))
            graph[a].remove(b)

    # Eligibility and validity of the products the file sets.
    for pid, (row, values) in product_rows.items():
        try:
            cr.check_eligibility(pid, cr.Eligibility.from_row(products[pid]))
        except InvalidInput as exc:
            names = _FIELDS.get(exc.field or "", ())
            name = next((n for n in names if n in columns), names[0] if names else "")
            out.append(Reject(file, row, columns.get(name, ""), _text(values.get(name)), exc.message, "Product"))
    return sorted(out, key=lambda r: r.row)


def refusal(problems: Sequence[Reject], rejects_path: str | None) -> InvalidInput:
    """The error an import of catalog rules fails with: the first problem by file, row and
    column, how many there are, and where the rest are listed."""
    first = problems[0]
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
    more = f" ({count}" + (f", listed in {rejects_path}" if rejects_path else "") + ")" \
        if len(problems) > 1 or rejects_path else ""
    column = f", column {first.column}" if first.column else ""
    return InvalidInput(f"{first.file}, row {first.row}{column}: {first.reason}{more}; catalog rules are "
                        "imported all or nothing, so nothing was imported")


def _text(value: Any) -> str:
    return "" if value is None else str(value)
