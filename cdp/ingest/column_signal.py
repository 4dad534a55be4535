"""Signal lost by a mapping: mapped columns that end up constant, collapsed or unused.

A mapping can silently throw away what a model would learn from (issue 20): a contract
type given as a default is the same on every account; four payment methods mapped onto
the model's vocabulary become one value; a column of the file is never read. ``ColumnSignal``
watches one import (``cdp.ingest.run.import_file``) and names such columns in the import's
report (``ImportReport.signal``, printed by ``cdp import``):

* **constant**: a property filled by a ``default`` only, or whose column gave one value
  on every imported row, or none on any (a value on some rows and none on others is kept:
  a closing date only churners have is signal);
* **collapsed**: an ``enum`` or ``bool`` column whose distinct values became fewer model
  values, with the source values that merged;
* **unused**: columns of the file the mapping does not read.

What comes in: the mapping, the file's columns, then every batch (source and converted).
What goes out: ``findings()``, one sentence per column. Nothing can fail: columns with more
than ``MAX_DISTINCT`` values are only checked for being constant.

The findings are kept on the run's ``ImportRun`` node (``cdp.ingest.run.record_run``), and
``stored_findings(store)`` reads them back for the model cards: a data scientist sees at
training time which imported columns could not reach the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdp.ingest.mapping import PropertyMapping, SourceMapping
from graph.store import GraphStore

#: Distinct values tracked per column; beyond that a column is neither constant nor checked for collapse.
MAX_DISTINCT = 200
#: Conversions whose vocabulary can merge source values.
MERGING = ("enum", "bool")
#: Rows needed before a column is called constant (a tiny file says little).
MIN_ROWS = 20


@dataclass
class _Seen:
    """What one mapped property received: its model values and source value -> model value."""

    prop: PropertyMapping
    item: str
    rows: int = 0
    values: set = field(default_factory=set)
    pairs: dict[Any, Any] = field(default_factory=dict)  # source text -> model value
    many: bool = False  # more than MAX_DISTINCT values
    empty: bool = False  # some rows had no value (empty against a value is signal too)


class ColumnSignal:
    """Collects, over one import, how each mapped property was filled (module docstring)."""

    def __init__(self, mapping: SourceMapping, file_columns: Sequence[str]) -> None:
        self.mapping = mapping
        read = set(mapping.columns())
        self.unused = [c for c in file_columns if c not in read]
        self._seen = [_Seen(p, e.label) for e in mapping.entities for p in e.properties]
        self._seen += [_Seen(p, r.type) for r in mapping.relationships for p in r.properties]

    def observe(self, table: pa.Table, nodes: dict[str, pa.Table], relationships: dict[str, pa.Table],
                rejected: np.ndarray) -> None:
        """Add one converted batch: ``table`` the source columns, ``nodes``/``relationships``
        the converted tables (a row per source row), ``rejected`` the rows not imported.
        Vectorised (distinct values per batch), so it costs little next to the writes."""
        keep = pa.array(~np.asarray(rejected, dtype=bool))
        kept = int(np.count_nonzero(~np.asarray(rejected, dtype=bool)))
        if not kept:
            return
        for seen in self._seen:
            seen.rows += kept
            converted = nodes.get(seen.item, relationships.get(seen.item))
            if converted is None or seen.prop.name not in converted.column_names or seen.many:
                continue
            model = pc.filter(converted.column(seen.prop.name), keep)
            column = seen.prop.column
            if seen.prop.conversion.kind in MERGING and column is not None and column in table.column_names:
                source = pc.filter(table.column(column), keep).cast(pa.string())
                pairs = pa.table({"s": source, "m": model}).group_by(["s", "m"]).aggregate([])
                for s, m in zip(pairs.column("s").to_pylist(), pairs.column("m").to_pylist()):
                    seen.empty |= m is None
                    if m is not None:
                        seen.values.add(m)
                        seen.pairs.setdefault(str(s).strip().upper(), m)
            else:
                distinct = pc.unique(model)
                if len(distinct) > MAX_DISTINCT + 1:
                    seen.many, seen.values, seen.pairs = True, set(), {}
                    continue
                values = distinct.to_pylist()
                seen.empty |= None in values
                seen.values.update(v for v in values if v is not None)
            if len(seen.values) > MAX_DISTINCT or len(seen.pairs) > MAX_DISTINCT:
                seen.many, seen.values, seen.pairs = True, set(), {}

    def findings(self) -> list[str]:
        """One sentence per constant, collapsed or unused column, in mapping order."""
        out = []
        for seen in self._seen:
            p, where = seen.prop, f"{seen.item}.{seen.prop.name}"
            if seen.many or seen.rows < MIN_ROWS:
                continue
            if p.column is None:
                out.append(f"{where} is constant: no column, the default {p.default!r} on every row; "
                           "no model can learn from it")
            elif not seen.values or (len(seen.values) == 1 and not seen.empty):
                what = f"one value {next(iter(seen.values))!r}" if seen.values else "no value"
                out.append(f"{where} is constant: column {p.column!r} gave {what} on all {seen.rows:,} rows")
            elif p.conversion.kind in MERGING:
                groups: dict[Any, list] = {}
                for s, m in seen.pairs.items():
                    groups.setdefault(m, []).append(s)
                merged = {m: sorted(map(str, s)) for m, s in groups.items() if len(s) > 1}
                if merged:
                    sources = sum(len(s) for s in groups.values())
                    detail = "; ".join(f"{', '.join(repr(v) for v in s)} -> {m!r}" for m, s in sorted(merged.items()))
                    out.append(f"{where} collapsed: column {p.column!r} had {sources} values, the model keeps "
                               f"{len(groups)} ({detail})")
        if self.unused:
            out.append(f"columns not mapped (their signal is not imported): {', '.join(self.unused)}")
        return out


def stored_findings(store: GraphStore) -> list[str]:
    """The findings of the latest import of each source and mapping in ``store``, each as
    ``"SOURCE (mapping, imported YYYY-MM-DD): finding"``, sources in name order; empty when
    no import left any (or none ran). Reads the ``ImportRun`` nodes; nothing else can fail."""
    runs = store.export_nodes("ImportRun").to_pandas()
    if not len(runs) or "signal" not in runs:
        return []
    runs = runs.sort_values("finished_at", kind="stable")
    latest = runs.groupby([runs["source"].fillna(""), runs["mapping"].fillna("")], sort=True).tail(1)
    out: list[str] = []
    for run in latest.sort_values(["source", "mapping"], kind="stable").itertuples():
        if not isinstance(run.signal, str) or not run.signal:
            continue
        finished = run.finished_at
        when = f", imported {finished:%Y-%m-%d}" if isinstance(finished, datetime) and not pd.isna(finished) else ""
        where = f"{run.source} ({run.mapping}{when})"
        out.extend(f"{where}: {line}" for line in run.signal.splitlines() if line)
    return out
