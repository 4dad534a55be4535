"""The mapping-file format of ``cdp import``: how a source system's rows become graph nodes.

A mapping is a TOML file with one ``[source]`` table, any number of ``[[entity]]``
tables (a node label filled from each row) and ``[[relationship]]`` tables (a
relationship between two nodes named by each row). ``load_mapping`` parses it
into the dataclasses below and validates it against ``graph.model.MODEL``
before any data is read or written; every problem is an ``InvalidInput`` whose
message starts with ``<file>, line <n>:``. docs/import.md is the reference.

The value rules live here too, so other entry points (GraphQL mutations) can
apply them: ``Conversion.parse`` turns one raw text value into a model value
or raises ``ValueError`` with the reason, and ``vocabulary(label, property)``
gives the values an enumerated property accepts.
"""

from __future__ import annotations

import codecs
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cdp.privacy.consent import STATUSES, parse_key
from cdp.errors import InvalidInput
from cdp.customers.profile import check_key
from cdp.customers.provenance import CONTACT_KEYS, PROFILE_KEYS
from cdp.customers.write_rules import check_source
from graph import model as m
from graph.clock import naive_utc
from graph.model import MODEL, Property

#: Conversions by name. ``string``, ``upper`` and ``lower`` strip whitespace.
CONVERSIONS = ("string", "upper", "lower", "enum", "int", "float", "bool", "date", "timestamp")

#: The conversions a property of each model type accepts; the first is the default.
CONVERSIONS_FOR_TYPE: dict[str, tuple[str, ...]] = {
    "STRING": ("string", "upper", "lower", "enum"),
    "INT64": ("int",),
    "DOUBLE": ("float",),
    "BOOL": ("bool",),
    "DATE": ("date",),
    "TIMESTAMP": ("timestamp",),
}

#: Enumerated properties and the values they accept (the model's ``*_VALUES``).
VOCABULARIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("Customer", "tier"): m.TIER_VALUES,
    ("Customer", "status"): m.CUSTOMER_STATUS_VALUES,
    ("Customer", "gender"): m.GENDER_VALUES,
    ("Account", "type"): m.ACCOUNT_TYPE_VALUES,
    ("Account", "status"): m.ACCOUNT_STATUS_VALUES,
    ("Account", "payment_method"): m.PAYMENT_METHOD_VALUES,
    ("Account", "contract_type"): m.CONTRACT_TYPE_VALUES,
    ("Product", "category"): m.PRODUCT_CATEGORY_VALUES,
    ("Product", "lifecycle"): m.PRODUCT_LIFECYCLE_VALUES,
    ("Subscription", "status"): m.SUBSCRIPTION_STATUS_VALUES,
    ("Channel", "kind"): m.CHANNEL_KIND_VALUES,
    ("Contact", "direction"): m.CONTACT_DIRECTION_VALUES,
    ("Contact", "kind"): m.CONTACT_KIND_VALUES,
    ("Contact", "outcome"): m.CONTACT_OUTCOME_VALUES,
    ("MonetaryEvent", "kind"): m.MONETARY_KIND_VALUES,
}

FORMATS = ("csv", "parquet", "jsonl")

#: The import report's item for mapped Customer attributes (``[entity.attributes]``).
ATTRIBUTES_ITEM = "Customer attributes"
TRUE_VALUES = ("true", "t", "yes", "y", "1")
FALSE_VALUES = ("false", "f", "no", "n", "0")
INT64_MAX = 2**63 - 1

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def vocabulary(label: str, prop: str) -> tuple[str, ...] | None:
    """The values the property ``prop`` of ``label`` (node or relationship) accepts; None if free."""
    return VOCABULARIES.get((label, prop))


@dataclass(frozen=True, eq=False)
class Conversion:
    """How one raw text value becomes a model value.

    ``kind`` is one of ``CONVERSIONS``. ``format`` is a ``strptime`` format for
    dates and times (None: ISO 8601); ``timezone`` the zone of times without an
    offset (None: UTC); ``values`` the enum value map, keys upper-case;
    ``vocabulary`` the values a result must be one of; ``thousands`` a
    separator numbers may contain; ``true_values``/``false_values`` the
    lower-case words of a bool.
    """

    kind: str
    format: str | None = None
    timezone: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    vocabulary: tuple[str, ...] | None = None
    thousands: str | None = None
    true_values: tuple[str, ...] = TRUE_VALUES
    false_values: tuple[str, ...] = FALSE_VALUES

    @property
    def key(self) -> tuple:
        """A hashable identity: conversions with equal keys give equal results."""
        return (self.kind, self.format, self.timezone, tuple(sorted(self.values.items())), self.vocabulary,
                self.thousands, self.true_values, self.false_values)

    def parse(self, text: str) -> Any:
        """The model value of ``text``; None when ``text`` is empty after stripping whitespace.

        Returns ``str``, ``int``, ``float``, ``bool``, ``date`` or naive-UTC
        ``datetime``. Raises ``ValueError`` whose message is the reason.
        """
        text = text.strip()
        if not text:
            return None
        kind = self.kind
        if kind == "string":
            return self._in_vocabulary(text)
        if kind == "upper":
            return self._in_vocabulary(text.upper())
        if kind == "lower":
            return self._in_vocabulary(text.lower())
        if kind == "enum":
            return self._enum(text)
        if kind == "int":
            return self._int(text)
        if kind == "float":
            return self._float(text)
        if kind == "bool":
            word = text.lower()
            if word in self.true_values:
                return True
            if word in self.false_values:
                return False
            raise ValueError(f"not a yes/no value (expected one of {', '.join(self.true_values + self.false_values)})")
        if kind == "date":
            return self._date(text)
        if kind == "timestamp":
            return self._timestamp(text)
        raise ValueError(f"unknown conversion {kind!r}")

    def _in_vocabulary(self, value: str) -> str:
        if self.vocabulary is not None and value not in self.vocabulary:
            raise ValueError(f"not one of {', '.join(self.vocabulary)}")
        return value

    def _enum(self, text: str) -> str:
        key = text.upper()
        if key in self.values:
            return self.values[key]
        if self.vocabulary is not None and key in self.vocabulary:
            return key
        known = list(self.values) + [v for v in self.vocabulary or () if v not in self.values]
        raise ValueError(f"unknown value (expected one of {', '.join(known)})")

    def _digits(self, text: str) -> str:
        if self.thousands:
            text = text.replace(self.thousands, "")
        return text

    def _int(self, text: str) -> int:
        digits = self._digits(text)
        if not _INT.fullmatch(digits):
            raise ValueError("not a whole number")
        value = int(digits)
        if abs(value) > INT64_MAX:
            raise ValueError("whole number out of range")
        return value

    def _float(self, text: str) -> float:
        digits = self._digits(text)
        if "," in digits:
            if "." in digits or digits.count(",") > 1:
                raise ValueError("ambiguous number: both '.' and ',' (set thousands in the mapping)")
            digits = digits.replace(",", ".")  # decimal comma
        if not _FLOAT.fullmatch(digits):
            raise ValueError("not a number")
        return float(digits)

    def _date(self, text: str) -> date:
        try:
            if self.format is None:
                return date.fromisoformat(text)
            return datetime.strptime(text, self.format).date()
        except ValueError:
            raise ValueError(f"not a date in format {self.format or 'YYYY-MM-DD'}") from None

    def _timestamp(self, text: str) -> datetime:
        try:
            if self.format is None:
                value = datetime.fromisoformat(text)
            else:
                value = datetime.strptime(text, self.format)
        except ValueError:
            raise ValueError(f"not a date-time in format {self.format or 'ISO 8601'}") from None
        return naive_utc(value, self.timezone)


@dataclass(frozen=True, eq=False)
class PropertyMapping:
    """One model property filled from one source column.

    ``column`` is None when the property always takes ``default``. ``default``
    (a model value) replaces an empty value; a ``required`` property still
    empty after that rejects the row. ``line`` is where the mapping declares it.
    """

    name: str
    column: str | None
    conversion: Conversion
    default: Any = None
    required: bool = False
    line: int | None = None


@dataclass(frozen=True)
class KeySpec:
    """How a row names a node: its ``columns`` joined by ``separator``, after ``prefix``."""

    columns: tuple[str, ...]
    prefix: str = ""
    separator: str = "-"
    line: int | None = None


@dataclass(frozen=True, eq=False)
class EntityMapping:
    """A node label filled from each row: its key and mapped properties.

    ``attributes`` (Customer only) are custom profile attributes and consent
    statements (``consent_<purpose>``, ``consent_<channel>``, ...): each non-empty
    value becomes an ``AttributeValue`` with the source's provenance, not a property.
    """

    label: str
    key: KeySpec
    properties: tuple[PropertyMapping, ...]
    line: int | None = None
    attributes: tuple[PropertyMapping, ...] = ()


@dataclass(frozen=True)
class Endpoint:
    """One end of a mapped relationship: a node label and how a row names the node."""

    label: str
    key: KeySpec


@dataclass(frozen=True, eq=False)
class RelationshipMapping:
    """A relationship type filled from each row, between ``source`` and ``target``."""

    type: str
    source: Endpoint
    target: Endpoint
    properties: tuple[PropertyMapping, ...]
    line: int | None = None


@dataclass(frozen=True)
class CsvOptions:
    """How to read a CSV file: one-character ``delimiter`` and ``quote``, text ``encoding``."""

    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf-8"


@dataclass(frozen=True, eq=False)
class ObservedAt:
    """When the source observed each record: a ``column`` (read with ``conversion``) or a ``fixed`` time."""

    column: str | None = None
    fixed: datetime | None = None
    conversion: Conversion = field(default_factory=lambda: Conversion("timestamp"))
    line: int | None = None


@dataclass(frozen=True, eq=False)
class SourceSpec:
    """The source system: ``name``, ``trust`` (0..1), file ``format`` (None: from the extension),
    and the Customer properties whose values are recorded with provenance."""

    name: str
    trust: float = 1.0
    format: str | None = None
    observed_at: ObservedAt | None = None
    csv: CsvOptions = CsvOptions()
    #: Customer properties recorded as observations with provenance (``cdp.customers.provenance``).
    provenance: tuple[str, ...] = ()


@dataclass(frozen=True)
class ColumnRef:
    """A source column the mapping reads, the mapping ``line`` that names it, and ``what`` reads it."""

    column: str
    line: int | None
    what: str


@dataclass(frozen=True, eq=False)
class SourceMapping:
    """A whole mapping file, validated against the model."""

    path: str
    source: SourceSpec
    entities: tuple[EntityMapping, ...]
    relationships: tuple[RelationshipMapping, ...]

    def column_refs(self) -> list[ColumnRef]:
        """Every source column read, with where the mapping names it, in file order."""
        refs: list[ColumnRef] = []
        observed = self.source.observed_at
        if observed and observed.column:
            refs.append(ColumnRef(observed.column, observed.line, "source.observed_at"))
        for entity in self.entities:
            refs += [ColumnRef(c, entity.key.line, f"{entity.label} key") for c in entity.key.columns]
            refs += [ColumnRef(p.column, p.line, f"{entity.label}.{p.name}") for p in entity.properties if p.column]
            refs += [ColumnRef(p.column, p.line, f"{entity.label} attribute {p.name}") for p in entity.attributes
                     if p.column]
        for rel in self.relationships:
            for end, name in ((rel.source, "from"), (rel.target, "to")):
                refs += [ColumnRef(c, end.key.line, f"{rel.type} {name}") for c in end.key.columns]
            refs += [ColumnRef(p.column, p.line, f"{rel.type}.{p.name}") for p in rel.properties if p.column]
        return refs

    def columns(self) -> list[str]:
        """The distinct source columns the mapping reads, in file order."""
        return list(dict.fromkeys(ref.column for ref in self.column_refs()))

    def missing_columns(self, available: Collection[str]) -> list[ColumnRef]:
        """The column references (first per column) that ``available`` lacks."""
        seen: dict[str, ColumnRef] = {}
        for ref in self.column_refs():
            if ref.column not in available:
                seen.setdefault(ref.column, ref)
        return list(seen.values())

    def check_columns(self, available: Collection[str], data_file: str) -> None:
        """Raise ``InvalidInput`` naming the mapping line when a column read is not in ``available``."""
        missing = self.missing_columns(available)
        if not missing:
            return
        first = missing[0]
        where = f"{self.path}, line {first.line}" if first.line else self.path
        more = f" (also missing: {', '.join(r.column for r in missing[1:])})" if len(missing) > 1 else ""
        raise InvalidInput(
            f"{where}: {first.what} reads column {first.column!r}, which {data_file} does not have{more}; "
            f"its columns are: {', '.join(available)}", field=first.column)

    def names(self) -> list[str]:
        """Entity labels then relationship types, in mapping order (the report's rows)."""
        attributes = [ATTRIBUTES_ITEM] if any(e.attributes for e in self.entities) else []
        return [e.label for e in self.entities] + attributes + [r.type for r in self.relationships]


def load_mapping(path: str | Path) -> SourceMapping:
    """Read and validate the mapping file ``path``.

    Raises ``InvalidInput`` naming the file (and the line, for anything in it)
    when the file cannot be read, is not valid TOML, or does not fit the model.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read mapping file {path}: {exc}") from None
    return parse_mapping(text, str(path))


def parse_mapping(text: str, path: str = "<mapping>") -> SourceMapping:
    """Parse and validate mapping ``text``; ``path`` names it in error messages (see ``load_mapping``)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: not valid TOML: {exc}") from None
    return _Parser(path, text).mapping(raw)


# --------------------------------------------------------------------------- parsing

class _Lines:
    """Line numbers of the keys and tables of a TOML text, by key path.

    A path is a tuple of keys and array indexes, e.g. ``("entity", 0,
    "columns", "tier")``. Keys inside an inline table share its line.
    """

    _ARRAY = re.compile(r"\[\[\s*(.+?)\s*\]\]")
    _TABLE = re.compile(r"\[\s*(.+?)\s*\]")
    _KEY = re.compile(r"""((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple, int] = {}
        counts: dict[tuple, int] = {}
        current: tuple = ()
        in_string: str | None = None
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if in_string:  # inside a multi-line string
                if line.count(in_string) % 2:
                    in_string = None
                continue
            if not line or line.startswith("#"):
                continue
            if match := self._ARRAY.fullmatch(line.split("#")[0].strip()):
                parts = _split_key(match.group(1))
                table = (*self._resolve(parts[:-1], counts), parts[-1])
                counts[table] = counts.get(table, 0) + 1
                current = (*table, counts[table] - 1)
                self._lines.setdefault(table, number)
                self._lines[current] = number
            elif match := self._TABLE.fullmatch(line.split("#")[0].strip()):
                current = self._resolve(_split_key(match.group(1)), counts)
                self._lines[current] = number
            elif match := self._KEY.match(line):
                self._lines.setdefault((*current, *_split_key(match.group(1))), number)
                for quote in ('"""', "'''"):
                    if line.count(quote) % 2:
                        in_string = quote

    @staticmethod
    def _resolve(parts: list[str], counts: dict[tuple, int]) -> tuple:
        out: list[Any] = []
        for part in parts:
            out.append(part)
            if tuple(out) in counts:
                out.append(counts[tuple(out)] - 1)
        return tuple(out)

    def line(self, path: tuple) -> int | None:
        """The line of ``path``, or of its nearest enclosing key; None if unknown."""
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None


def _split_key(key: str) -> list[str]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', key)
    return [a or b or c for a, b, c in parts]


class _Parser:
    """Turns the decoded TOML of one mapping file into a ``SourceMapping``."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = _Lines(text)

    # ------------------------------------------------------------ helpers

    def fail(self, where: tuple, message: str) -> NoReturn:
        line = self.lines.line(where)
        prefix = f"{self.path}, line {line}" if line else self.path
        raise InvalidInput(f"{prefix}: {message}", field=".".join(str(p) for p in where) or None)

    def line(self, where: tuple) -> int | None:
        return self.lines.line(where)

    def table(self, value: Any, where: tuple, what: str, allowed: tuple[str, ...] | None,
              required: tuple[str, ...] = ()) -> dict[str, Any]:
        """``value`` checked to be a table with only ``allowed`` keys (None: any) and every ``required`` one."""
        if not isinstance(value, dict):
            self.fail(where, f"{what} must be a table")
        for key in value:
            if allowed is not None and key not in allowed:
                self.fail((*where, key), f"unknown key {key!r} in {what} (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in value:
                self.fail(where, f"{what} needs {key!r}")
        return value

    def text(self, value: Any, where: tuple, what: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(where, f"{what} must be a non-empty string")
        return value.strip()

    # ------------------------------------------------------------ the file

    def mapping(self, raw: dict[str, Any]) -> SourceMapping:
        self.table(raw, (), "the mapping", ("source", "entity", "relationship"), ("source",))
        source = self.source(raw["source"])
        entities_raw = raw.get("entity", [])
        rels_raw = raw.get("relationship", [])
        for name, value in (("entity", entities_raw), ("relationship", rels_raw)):
            if not isinstance(value, list):
                self.fail((name,), f"{name} must be an array of tables: write [[{name}]]")
        if not entities_raw and not rels_raw:
            self.fail((), "the mapping needs at least one [[entity]] or [[relationship]]")
        entities: list[EntityMapping] = []
        for i, item in enumerate(entities_raw):
            entity = self.entity(item, ("entity", i))
            if any(e.label == entity.label for e in entities):
                self.fail(("entity", i, "label"), f"entity {entity.label} is mapped twice; map it once")
            entities.append(entity)
        rels: list[RelationshipMapping] = []
        for i, item in enumerate(rels_raw):
            rel = self.relationship(item, ("relationship", i), entities)
            if any(r.type == rel.type for r in rels):
                self.fail(("relationship", i, "type"), f"relationship {rel.type} is mapped twice; map it once")
            rels.append(rel)
        return SourceMapping(self.path, source, tuple(entities), tuple(rels))

    def source(self, raw: Any) -> SourceSpec:
        where = ("source",)
        t = self.table(raw, where, "[source]", ("name", "trust", "observed_at", "format", "csv", "provenance"),
                       ("name",))
        name = self.text(t["name"], (*where, "name"), "source.name")
        try:
            check_source(name)
        except InvalidInput as exc:
            self.fail((*where, "name"), f"source.name: {exc.message}")
        trust = t.get("trust", 1.0)
        if isinstance(trust, bool) or not isinstance(trust, int | float) or not 0 <= trust <= 1:
            self.fail((*where, "trust"), f"source.trust must be a number from 0 to 1, got {trust!r}")
        fmt = t.get("format")
        if fmt is not None and fmt not in FORMATS:
            self.fail((*where, "format"), f"source.format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        observed = self.observed_at(t["observed_at"], (*where, "observed_at")) if "observed_at" in t else None
        csv = self.csv(t["csv"], (*where, "csv")) if "csv" in t else CsvOptions()
        provenance = t.get("provenance", list(CONTACT_KEYS))
        if provenance is True:
            keys: tuple[str, ...] = PROFILE_KEYS
        elif provenance is False:
            keys = ()
        elif isinstance(provenance, list) and all(k in PROFILE_KEYS for k in provenance):
            keys = tuple(provenance)
        else:
            self.fail((*where, "provenance"), "source.provenance must be true (all), false (none) or a list of "
                                              f"Customer properties from {', '.join(PROFILE_KEYS)}")
        return SourceSpec(name, float(trust), fmt, observed, csv, keys)

    def observed_at(self, raw: Any, where: tuple) -> ObservedAt:
        line = self.line(where)
        if isinstance(raw, datetime):
            return ObservedAt(fixed=naive_utc(raw), line=line)
        if isinstance(raw, date):
            return ObservedAt(fixed=datetime(raw.year, raw.month, raw.day), line=line)
        if isinstance(raw, str):
            text = self.text(raw, where, "source.observed_at")
            try:
                return ObservedAt(fixed=naive_utc(datetime.fromisoformat(text)), line=line)
            except ValueError:
                return ObservedAt(column=text, line=line)  # not a time: a column name
        t = self.table(raw, where, "source.observed_at", ("column", "format", "timezone"), ("column",))
        column = self.text(t["column"], (*where, "column"), "source.observed_at.column")
        return ObservedAt(column=column, conversion=self.conversion("timestamp", t, where, None, "observed_at"),
                          line=line)

    def csv(self, raw: Any, where: tuple) -> CsvOptions:
        t = self.table(raw, where, "[source.csv]", ("delimiter", "quote", "encoding"))
        out = CsvOptions()
        for key in ("delimiter", "quote"):
            value = t.get(key, getattr(out, key))
            if not isinstance(value, str) or len(value) != 1 or value in "\r\n":
                self.fail((*where, key), f"source.csv.{key} must be one character, got {value!r}")
        encoding = t.get("encoding", out.encoding)
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError):
            self.fail((*where, "encoding"), f"unknown encoding {encoding!r}")
        return CsvOptions(t.get("delimiter", out.delimiter), t.get("quote", out.quote), encoding)

    # ------------------------------------------------------------ entities and relationships

    def entity(self, raw: Any, where: tuple) -> EntityMapping:
        t = self.table(raw, where, "[[entity]]", ("label", "key", "key_prefix", "key_separator", "columns",
                                                  "attributes"), ("label", "key"))
        label = self.text(t["label"], (*where, "label"), "entity.label")
        try:
            node = MODEL.node(label)
        except KeyError:
            self.fail((*where, "label"), f"unknown entity {label!r} (the model has: "
                                         f"{', '.join(n.label for n in MODEL.nodes)})")
        key = self.key(t, where, f"{label} key")
        props = self.properties(t.get("columns", {}), (*where, "columns"), label, node.properties, node.key)
        attributes = self.attributes(t["attributes"], (*where, "attributes"), label) if "attributes" in t else ()
        return EntityMapping(label, key, props, self.line(where), attributes)

    def attributes(self, raw: Any, where: tuple, label: str) -> tuple[PropertyMapping, ...]:
        """``[entity.attributes]``: attribute key -> column spec (text; consent keys take a status)."""
        if label != "Customer":
            self.fail(where, f"attributes belong to customers: {label} has none (map them under the "
                             "Customer entity)")
        t = self.table(raw, where, "Customer attributes", None)
        out = []
        for name, spec in t.items():
            try:
                check_key(name)
            except InvalidInput as exc:
                self.fail((*where, name), str(exc))
            if name in PROFILE_KEYS or name in MODEL.node("Customer").property_names:
                self.fail((*where, name), f"{name} is a Customer property: map it under [entity.columns]")
            consent = parse_key(name) is not None
            out.append(self.property(spec, (*where, name), "Customer attribute",
                                     Property(name, "STRING"), vocab=STATUSES if consent else None))
        return tuple(out)

    def key(self, t: dict[str, Any], where: tuple, what: str) -> KeySpec:
        raw = t["key"]
        columns = [raw] if isinstance(raw, str) else raw
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) and c.strip() for c in columns):
            self.fail((*where, "key"), f"{what} must be a column name or a list of column names")
        prefix = t.get("key_prefix", "")
        separator = t.get("key_separator", "-")
        for name, value in (("key_prefix", prefix), ("key_separator", separator)):
            if not isinstance(value, str):
                self.fail((*where, name), f"{name} must be a string")
        return KeySpec(tuple(c.strip() for c in columns), prefix, separator, self.line((*where, "key")))

    def relationship(self, raw: Any, where: tuple, entities: list[EntityMapping]) -> RelationshipMapping:
        t = self.table(raw, where, "[[relationship]]", ("type", "from", "to", "columns"), ("type", "from", "to"))
        name = self.text(t["type"], (*where, "type"), "relationship.type")
        try:
            rel = MODEL.relationship(name)
        except KeyError:
            self.fail((*where, "type"), f"unknown relationship {name!r} (the model has: "
                                        f"{', '.join(r.type for r in MODEL.relationships)})")
        source = self.endpoint(t["from"], (*where, "from"), rel.type, rel.source, entities)
        target = self.endpoint(t["to"], (*where, "to"), rel.type, rel.target, entities)
        props = self.properties(t.get("columns", {}), (*where, "columns"), rel.type, rel.properties, None)
        return RelationshipMapping(rel.type, source, target, props, self.line(where))

    def endpoint(self, raw: Any, where: tuple, rel_type: str, label: str,
                 entities: list[EntityMapping]) -> Endpoint:
        side = where[-1]
        t = {"label": raw} if isinstance(raw, str) else self.table(
            raw, where, f"{rel_type} {side}", ("label", "key", "key_prefix", "key_separator"))
        given = t.get("label", label)
        if given != label:
            rel = MODEL.relationship(rel_type)
            self.fail((*where, "label"), f"{rel_type} goes from {rel.source} to {rel.target}; "
                                         f"'{side}' names {given!r}")
        if "key" in t:
            return Endpoint(label, self.key(t, where, f"{rel_type} {side} key"))
        for key in ("key_prefix", "key_separator"):
            if key in t:
                self.fail((*where, key), f"{key} needs a key in {rel_type} {side}")
        entity = next((e for e in entities if e.label == label), None)
        if entity is None:
            self.fail(where, f"{rel_type} {side}: no [[entity]] maps {label}; give its key, "
                             f"e.g. {side} = {{ label = \"{label}\", key = \"<column>\" }}")
        return Endpoint(label, entity.key)

    def properties(self, raw: Any, where: tuple, owner: str, declared: tuple[Property, ...],
                   key: str | None) -> tuple[PropertyMapping, ...]:
        if isinstance(raw, dict) and key in raw:
            self.fail((*where, key), f"{owner}.{key} is the node key: set it with key = \"<column>\"")
        t = self.table(raw, where, f"{owner} columns", tuple(p.name for p in declared if p.name != key))
        out = []
        for name, spec in t.items():
            prop = next(p for p in declared if p.name == name)
            out.append(self.property(spec, (*where, name), owner, prop))
        return tuple(out)

    def property(self, spec: Any, where: tuple, owner: str, prop: Property,
                 vocab: tuple[str, ...] | None = None) -> PropertyMapping:
        """One column spec; ``vocab`` gives the values a property outside ``VOCABULARIES`` accepts."""
        what = f"{owner} {prop.name}" if owner.endswith(" attribute") else f"{owner}.{prop.name}"
        if isinstance(spec, str):
            spec = {"column": spec}
        t = self.table(spec, where, what, ("column", "convert", "format", "timezone", "values", "thousands",
                                           "true", "false", "default", "required"))
        allowed = CONVERSIONS_FOR_TYPE[prop.type]
        vocab = vocab or vocabulary(owner, prop.name)
        kind = t.get("convert", "enum" if vocab else allowed[0])
        if kind not in CONVERSIONS:
            self.fail((*where, "convert"), f"{what}: unknown conversion {kind!r} (known: {', '.join(CONVERSIONS)})")
        if kind not in allowed:
            self.fail((*where, "convert"), f"{what} is {prop.type}; conversion {kind!r} does not fit "
                                           f"(use {' or '.join(allowed)})")
        conversion = self.conversion(kind, t, where, vocab, what)
        column = t.get("column")
        if column is not None:
            column = self.text(column, (*where, "column"), f"{what} column")
        required = t.get("required", False)
        if not isinstance(required, bool):
            self.fail((*where, "required"), f"{what}: required must be true or false")
        default = self.default(t["default"], (*where, "default"), conversion, prop, what) if "default" in t else None
        if column is None and default is None:
            self.fail(where, f"{what} needs a column (or a default)")
        return PropertyMapping(prop.name, column, conversion, default, required, self.line(where))

    def conversion(self, kind: str, t: dict[str, Any], where: tuple, vocab: tuple[str, ...] | None,
                   what: str) -> Conversion:
        options = {"format": ("date", "timestamp"), "timezone": ("timestamp",), "values": ("enum",),
                   "thousands": ("int", "float"), "true": ("bool",), "false": ("bool",)}
        for option, kinds in options.items():
            if option in t and kind not in kinds:
                self.fail((*where, option), f"{what}: {option!r} applies to {' and '.join(kinds)} conversions, "
                                            f"not {kind}")
        fmt = t.get("format")
        if fmt is not None:
            probe = datetime(2001, 2, 3, 4, 5, 6)
            try:
                if not isinstance(fmt, str) or "%" not in fmt:
                    raise ValueError
                datetime.strptime(probe.strftime(fmt), fmt)
            except ValueError:
                self.fail((*where, "format"), f"{what}: {fmt!r} is not a strptime format such as '%d-%m-%Y'")
        zone = t.get("timezone")
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError, TypeError):
                self.fail((*where, "timezone"), f"{what}: unknown time zone {zone!r} (e.g. 'Europe/Amsterdam')")
        values: dict[str, str] = {}
        if kind == "enum":
            raw = t.get("values", {})
            if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
                self.fail((*where, "values"), f"{what}: values must map source values to model values")
            for source_value, target in raw.items():
                if vocab is not None and target not in vocab:
                    self.fail((*where, "values"), f"{what}: {source_value} = {target!r} is not in the vocabulary "
                                                  f"({', '.join(vocab)})")
                key = source_value.strip().upper()
                if key in values:
                    self.fail((*where, "values"), f"{what}: source value {source_value!r} is mapped twice "
                                                  "(values match ignoring case)")
                values[key] = target
            if vocab is None and not values:
                self.fail(where, f"{what} has no vocabulary, so an enum conversion needs values")
        flags = {}
        for option in ("true", "false"):
            if option in t:
                words = t[option]
                if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words):
                    self.fail((*where, option), f"{what}: {option} must be a list of words")
                flags[f"{option}_values"] = tuple(w.strip().lower() for w in words)
        thousands = t.get("thousands")
        if thousands is not None and (not isinstance(thousands, str) or len(thousands) != 1):
            self.fail((*where, "thousands"), f"{what}: thousands must be one character such as '.'")
        return Conversion(kind, fmt, zone, values, vocab, thousands, **flags)

    def default(self, raw: Any, where: tuple, conversion: Conversion, prop: Property, what: str) -> Any:
        if isinstance(raw, str):
            try:
                value = conversion.parse(raw)
            except ValueError as exc:
                self.fail(where, f"{what}: default {raw!r}: {exc}")
            if value is None:
                self.fail(where, f"{what}: default must not be empty")
            return value
        typed = {
            "INT64": isinstance(raw, int) and not isinstance(raw, bool),
            "DOUBLE": isinstance(raw, int | float) and not isinstance(raw, bool),
            "BOOL": isinstance(raw, bool),
            "DATE": isinstance(raw, date) and not isinstance(raw, datetime),
            "TIMESTAMP": isinstance(raw, datetime),
        }
        if not typed.get(prop.type, False):
            self.fail(where, f"{what} is {prop.type}; default {raw!r} does not fit")
        if prop.type == "DOUBLE":
            return float(raw)
        if prop.type == "TIMESTAMP":
            return naive_utc(raw, conversion.timezone)
        return raw
