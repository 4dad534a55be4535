"""Converting a batch of source rows for ``cdp import``: values typed, keys checked, no store.

``convert_batch(mapping, batch, file)`` turns a ``SourceBatch`` into a ``ConvertedBatch``: one
Arrow table per mapped node and relationship, with a ``Reject`` (file, row, column, value,
reason) for each value that does not convert or breaks a write rule (``cdp.customers.write_rules``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp.ingest.mapping import Conversion, KeySpec, PropertyMapping, SourceMapping
from cdp.customers.write_rules import WriteRules, customer_column, id_problem, id_problems, \
    reserved_statuses, text_problem, text_problems
from graph.model import ARROW_TYPES, MODEL
from graph.observation_ids import text_ids
from cdp.ingest.read import Reject, SourceBatch

_CACHE_LIMIT = 500_000  # distinct parsed values kept per conversion between batches


@dataclass
class ConvertedBatch:
    """A batch after conversion: one model-typed table per entity label (``id`` then
    properties) and relationship type (``from``, ``to``, properties), one row per
    source row; ``rejected`` marks the rows with a problem, listed in ``rejects``.
    ``observed_at`` is each row's observation time (None: the time of import)."""

    file: str
    rows: np.ndarray
    nodes: dict[str, pa.Table]
    relationships: dict[str, pa.Table]
    rejected: np.ndarray
    rejects: list[Reject]
    observed_at: pa.Array | None = None
    key_columns: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Customer attributes (key -> one text value per row) when the mapping has ``[entity.attributes]``.
    attributes: dict[str, pa.Array] = field(default_factory=dict)


# --------------------------------------------------------------------------- converting

class Converters:
    """Column-wise conversion, with the parsed distinct values of each conversion cached between batches,
    and the value ``rules`` (``cdp.customers.write_rules``; None: the defaults) converted values must pass."""

    def __init__(self, rules: WriteRules | None = None) -> None:
        self._cache: dict[tuple, dict[str, tuple[Any, str | None]]] = {}
        self.rules = rules or WriteRules()

    def convert(self, conversion: Conversion, arrow_type: pa.DataType,
                values: pa.Array) -> tuple[pa.Array, np.ndarray, list[str]]:
        """Apply ``conversion`` to ``values``; return the converted array (type ``arrow_type``),
        the positions of the values that failed (null in the result) and the reasons."""
        none = np.empty(0, np.int64)
        if pa.types.is_null(values.type):
            return pa.nulls(len(values), arrow_type), none, []
        if not pa.types.is_string(values.type):
            typed = _typed(conversion, arrow_type, values)
            if typed is not None:
                return typed, none, []
            values = values.cast(pa.string())
        text = _empty_to_null(pc.utf8_trim_whitespace(values))
        kind = conversion.kind
        if kind in ("string", "upper", "lower") and conversion.vocabulary is None:
            if kind == "upper":
                text = pc.utf8_upper(text)
            elif kind == "lower":
                text = pc.utf8_lower(text)
            return text, none, []
        fast = _vectorized(conversion, arrow_type, text)
        if fast is not None:
            return fast, none, []
        # Everything else is parsed in Python, once per distinct value.
        cache = self._cache.setdefault(conversion.key, {})
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        distinct = pc.unique(text)
        parsed: list[Any] = []
        failed: dict[int, str] = {}
        for j, raw in enumerate(distinct.to_pylist()):
            if raw is None:
                parsed.append(None)
                continue
            hit = cache.get(raw)
            if hit is None:
                try:
                    hit = (conversion.parse(raw), None)
                except ValueError as exc:
                    hit = (None, str(exc))
                cache[raw] = hit
            parsed.append(hit[0])
            if hit[1] is not None:
                failed[j] = hit[1]
        index = pc.index_in(text, value_set=distinct)
        result = pa.array(parsed, type=arrow_type).take(index)
        if not failed:
            return result, none, []
        bad = pc.is_in(index, value_set=pa.array(list(failed), pa.int32()))
        positions = np.flatnonzero(pc.fill_null(bad, False).to_numpy(zero_copy_only=False))
        codes = index.to_numpy(zero_copy_only=False)
        return result, positions, [failed[int(codes[i])] for i in positions]


def _vectorized(conversion: Conversion, arrow_type: pa.DataType, text: pa.Array) -> pa.Array | None:
    """The whole column converted by Arrow when every value is plain (ISO dates and times,
    plain numbers); None when any value needs the per-value path (or is bad).

    Arrow's parsers are strict (no 31 February, no hour 25), so a value they
    accept is one ``Conversion.parse`` accepts with the same result.
    """
    kind = conversion.kind
    try:
        if kind == "int" and not conversion.thousands:
            return text.cast(pa.int64())
        if kind == "float" and not conversion.thousands:
            values = text.cast(pa.float64())
            return values if pc.all(pc.is_finite(values)).as_py() is not False else None
        if kind == "date" and conversion.format is None:
            return text.cast(pa.date32())
        if kind == "timestamp" and conversion.format is None:
            try:  # every value has an offset (or Z)
                return text.cast(pa.timestamp("us", tz="UTC")).cast(arrow_type)
            except pa.ArrowInvalid:
                values = text.cast(pa.timestamp("us"))  # no value has one
                if conversion.timezone:
                    values = pc.assume_timezone(values, conversion.timezone).cast(arrow_type)
                return values
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return None


def _empty_to_null(text: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _typed(conversion: Conversion, arrow_type: pa.DataType, values: pa.Array) -> pa.Array | None:
    """``values`` cast directly when their Arrow type already fits the conversion (Parquet); else None."""
    t = values.type
    kind = conversion.kind
    try:
        if kind == "int" and pa.types.is_integer(t):
            return values.cast(arrow_type)
        if kind == "float" and (pa.types.is_integer(t) or pa.types.is_floating(t)):
            return values.cast(arrow_type)
        if kind == "bool" and pa.types.is_boolean(t):
            return values
        if kind == "date" and (pa.types.is_date(t) or pa.types.is_timestamp(t)):
            return values.cast(arrow_type)
        if kind == "timestamp" and pa.types.is_date(t):
            return values.cast(arrow_type)
        if kind == "timestamp" and pa.types.is_timestamp(t):
            if t.tz is None and conversion.timezone:
                values = pc.assume_timezone(values, conversion.timezone)
            return values.cast(arrow_type)  # aware times keep their UTC instant
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # e.g. out of range: convert value by value to say which
    return None


class _Problems:
    """The problems found in one batch, and which rows they reject."""

    def __init__(self, file: str, rows: np.ndarray, table: pa.Table) -> None:
        self.file = file
        self.rows = rows
        self.table = table
        self.rejected = np.zeros(len(rows), dtype=bool)
        self.list: list[Reject] = []
        self._seen: set[tuple[int, str, str]] = set()

    def add(self, positions: Sequence[int] | np.ndarray, column: str, reasons: Sequence[str] | str,
            item: str) -> None:
        """Reject the rows at ``positions`` (indexes in the batch) for ``reasons`` (one, or one per row);
        the rejects quote the source ``column``'s value. A repeated (row, column, reason) is kept once."""
        source = self.table.column(column) if column in self.table.column_names else None
        for k, i in enumerate(positions):
            reason = reasons if isinstance(reasons, str) else reasons[k]
            if (int(i), column, reason) in self._seen:
                continue
            self._seen.add((int(i), column, reason))
            raw = source[int(i)].as_py() if source is not None else None
            value = "" if raw is None else str(raw)
            self.rejected[i] = True
            self.list.append(Reject(self.file, int(self.rows[i]), column, value, reason, item))


def convert_batch(mapping: SourceMapping, batch: SourceBatch, file: str,
                  converters: Converters | None = None) -> ConvertedBatch:
    """Convert every row of ``batch`` to model values (no store access).

    Returns one table per entity and relationship with a row per source row;
    rows with a bad value, an empty key or an empty required value are marked
    rejected and described in ``rejects`` (one ``Reject`` per problem).
    """
    converters = converters or Converters()
    table = batch.table
    n = len(batch.rows)
    problems = _Problems(file, batch.rows, table)

    def column(name: str) -> pa.Array:
        if name not in table.column_names:
            return pa.nulls(n, pa.string())
        values = table.column(name)
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values

    keys: dict[KeySpec, pa.Array] = {}
    converted: dict[tuple, tuple[pa.Array, np.ndarray, list[str]]] = {}

    def convert(name: str, conversion: Conversion, arrow_type: pa.DataType) -> tuple[pa.Array, np.ndarray, list[str]]:
        memo = (name, conversion.key, arrow_type)  # a column read twice the same way is converted once
        if memo not in converted:
            converted[memo] = converters.convert(conversion, arrow_type, column(name))
        return converted[memo]

    def key(spec: KeySpec, item: str) -> pa.Array:
        if spec not in keys:
            parts = []
            for name in spec.columns:
                values = column(name)
                if not pa.types.is_string(values.type):
                    values = values.cast(pa.string())
                values = _empty_to_null(pc.utf8_trim_whitespace(values))
                empty = np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))
                problems.add(empty, name, "key is empty", item)
                bad = id_problems(values)
                problems.add(bad, name, [str(id_problem(values[int(i)].as_py(), "key")) for i in bad], item)
                parts.append(values)
            value = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, spec.separator)
            if spec.prefix:
                value = pc.binary_join_element_wise(pa.scalar(spec.prefix), value, "")
            keys[spec] = value
        return keys[spec]

    def properties(item: str, props: Sequence[PropertyMapping], types: Mapping[str, str],
                   customer: bool = False) -> dict[str, pa.Array]:
        out = {}
        for p in props:
            arrow_type = ARROW_TYPES[types[p.name]]
            if p.column is None:
                values = pa.nulls(n, arrow_type)
            else:
                values, bad, reasons = convert(p.column, p.conversion, arrow_type)
                problems.add(bad, p.column, [f"{item}.{p.name}: {r}" for r in reasons], item)
            if p.default is not None:
                values = pc.fill_null(values, pa.scalar(p.default, arrow_type))
            if pa.types.is_string(arrow_type) and values.null_count < len(values):
                bad = text_problems(values)
                problems.add(bad, p.column or "", [f"{item}.{p.name}: {text_problem(values[int(i)].as_py(), 'text')}"
                                                   for i in bad], item)
            if customer:  # the rules partner upserts follow too (cdp.customers.write_rules)
                values, bad, reasons = customer_column(p.name, values, converters.rules)
                problems.add(bad, p.column or "", [f"{item}.{p.name}: {r}" for r in reasons], item)
                if p.name == "status":  # MERGED / ERASED: only identity resolution and erasure set them
                    bad, reasons = reserved_statuses(values)
                    problems.add(bad, p.column or "", [f"{item}.status: {r}" for r in reasons], item)
            if p.required:
                empty = np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))
                problems.add(empty, p.column or "", f"{item}.{p.name}: required value is empty", item)
            out[p.name] = values
        return out

    observed = mapping.source.observed_at
    observed_at = None
    if observed is not None and observed.column:
        observed_at, bad, reasons = convert(observed.column, observed.conversion, pa.timestamp("us"))
        problems.add(bad, observed.column, [f"observed_at: {r}" for r in reasons], "")
    elif observed is not None:
        observed_at = pa.array([observed.fixed] * n, pa.timestamp("us"))

    nodes: dict[str, pa.Table] = {}
    key_columns: dict[str, dict[str, str]] = {}
    attributes: dict[str, pa.Array] = {}
    for entity in mapping.entities:
        node = MODEL.node(entity.label)
        types = {p.name: p.type for p in node.properties}
        ids = _typed_keys(key(entity.key, entity.label), node.key_type)
        nodes[entity.label] = pa.table({node.key: ids, **properties(entity.label, entity.properties, types,
                                                                    customer=entity.label == "Customer")})
        if entity.attributes:
            attributes = properties(entity.label, entity.attributes, {a.name: "STRING" for a in entity.attributes})
    rels: dict[str, pa.Table] = {}
    for rel in mapping.relationships:
        declared = MODEL.relationship(rel.type)
        types = {p.name: p.type for p in declared.properties}
        ends = declared.endpoint_schema()
        sources = _typed_keys(key(rel.source.key, rel.type), ends.field("from").type)
        targets = _typed_keys(key(rel.target.key, rel.type), ends.field("to").type)
        rels[rel.type] = pa.table({"from": sources, "to": targets, **properties(rel.type, rel.properties, types)})
        key_columns[rel.type] = {"from": "+".join(rel.source.key.columns), "to": "+".join(rel.target.key.columns)}
    return ConvertedBatch(file, batch.rows, nodes, rels, problems.rejected, problems.list, observed_at, key_columns,
                          attributes)


def _typed_keys(keys: pa.Array, key_type: pa.DataType) -> pa.Array:
    """Mapped keys (text) as the label's key type: ``AttributeValue`` keys are integers, so
    their key text is hashed (``graph.observation_ids.text_ids``)."""
    return text_ids(keys) if pa.types.is_integer(key_type) else keys
