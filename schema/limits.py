"""Per-document limits: depth, aliases, tokens and estimated cost (docs/limits.md).

``QueryLimitsExtension`` reads the limits from the request context's settings and
adds one validation rule (``limits_rule``) and the parser's token limit. The
rule is one class per distinct set of limits, so strawberry's ``ValidationCache``
(keyed by document and rules) runs it once per distinct document text: a
repeated query pays nothing for it.

Cost estimate of an operation: every field costs 1 plus its children's cost
times its multiplier. The multiplier of a list field with a ``first`` argument
is that page size (a literal, the variable's default, else ``CDP_MAX_PAGE_SIZE``
when it comes from a variable); a connection (an object field with ``first``)
passes its page size on to its own list fields (``edges``); any other list
field multiplies by ``LIST_FACTOR``; other fields by 1. So page sizes multiply
along nested lists, as the rows a query can touch do. Introspection is costed
the same way (its lists are the schema's), but its nesting (``ofType`` chains)
does not count towards the depth limit.

The same walk estimates an operation's *work* (``DocumentMeasure.work``): the analytic
computations it asks for, in customers scored. A field of ``WORK`` adds its weight
times the multiplier of the lists above it: ``recommendations`` under
``customers(first: 100)`` is 100, ``valueSegmentation`` 1000 (a whole-base
computation). It decides which operations run in the heavy lane (``cdp.limits.fair_share``,
``schema.fair_share``, docs/limits.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef
from strawberry.extensions import SchemaExtension

from cdp.limits.request_limits import LimitExceeded, QueryTooComplex, QueryTooDeep, TooManyAliases
from cdp.transport.pagination import DEFAULT_PAGE_SIZE
from cdp.settings import Settings

#: Multiplier of a list field without a ``first`` argument (accounts, subscriptions, ...).
LIST_FACTOR = 10

#: Work of a computation over the whole analytic base (a segment evaluated, the value
#: tiers, training), in customers scored: it reads every customer's row at least once.
WHOLE_BASE = 1000

#: Analytic work per field ("Type.field" -> weight in customers scored). Per-customer
#: scores and offers weigh 1 (each is a lookup or a small ranking, costly by the page);
#: whole-base computations weigh ``WHOLE_BASE``. Store reads are not here: the cost
#: estimate bounds them. ``trainModel`` is not here: it only submits a job (``cdp.limits.jobs``).
WORK: dict[str, int] = {
    **{f"Customer.{name}": 1 for name in (
        "recommendations", "offerEligibility", "nextBestChannels", "segments", "value", "churnRisk",
        "lifetimeValue", "propensities")},
    **dict.fromkeys((
        "Query.valueSegmentation", "Query.previewSegment", "Query.segmentRecommendations", "Query.dataQuality",
        "Query.complaintStats", "Query.satisfactionByChannel", "Query.churnDrivers", "Segment.size", "Segment.share",
        "Segment.members", "Segment.profile", "Segment.contains", "Campaign.audience", "Campaign.report",
        "Mutation.launchCampaign", "Mutation.launchWave"), WHOLE_BASE),
}


@dataclass(frozen=True)
class QueryLimits:
    """The per-document limits in force (from ``Settings``)."""

    max_depth: int
    max_aliases: int
    max_tokens: int
    max_cost: int
    max_page_size: int

    @classmethod
    def of(cls, settings: Settings) -> QueryLimits:
        """The limits ``settings`` configure."""
        return cls(settings.max_query_depth, settings.max_aliases, settings.max_query_tokens,
                   settings.max_query_cost, settings.max_page_size)


@dataclass(frozen=True)
class DocumentMeasure:
    """What the limits look at in one document: deepest field, aliases, highest operation cost,
    and the highest analytic work of an operation (``WORK``)."""

    depth: int
    aliases: int
    cost: int
    work: int = 0


def _named(type_: Any) -> tuple[Any, bool]:
    """``(named type, is a list)`` of a field's output type."""
    is_list = False
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        is_list = is_list or isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return type_, is_list


class _Measurer:
    """Walks one document; fragments are measured once per (fragment, type) and reused."""

    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode],
                 max_page_size: int) -> None:
        self.schema = schema
        self.fragments = fragments
        self.max_page_size = max_page_size
        self.variable_defaults: dict[str, int] = {}
        self._memo: dict[str, tuple[int, int, int]] = {}
        self._open: set[str] = set()

    def operation(self, op: OperationDefinitionNode) -> tuple[int, int, int]:
        """``(depth, cost, work)`` of an operation."""
        self.variable_defaults = {
            d.variable.name.value: int(d.default_value.value)
            for d in op.variable_definitions or ()
            if isinstance(d.default_value, IntValueNode)
        }
        self._memo = {}  # a fragment's cost can depend on the operation's variable defaults
        root = self.schema.get_root_type(op.operation)
        return self.selection(op.selection_set, root) if root else (0, 0, 0)

    def _page_size(self, node: FieldNode, field: Any) -> int:
        # a keyset connection pages with `first` or `last` (cdp.transport.pagination); without either
        # (their defaults are null) it answers DEFAULT_PAGE_SIZE items
        for name in ("first", "last"):
            value = next((a.value for a in node.arguments or () if a.name.value == name), None)
            if isinstance(value, IntValueNode):
                return max(0, int(value.value))
            if isinstance(value, VariableNode):
                return self.variable_defaults.get(value.name.value, self.max_page_size)
        default = field.args["first"].default_value
        return default if isinstance(default, int) else DEFAULT_PAGE_SIZE

    def selection(self, selection_set: SelectionSetNode | None, parent: Any,
                  page: int | None = None) -> tuple[int, int, int]:
        """``(depth, cost, work)`` of a selection set on ``parent``; ``page`` is the page size of a
        connection ``parent`` (its list fields' multiplier). Unknown fields are skipped."""
        if selection_set is None or parent is None:
            return 0, 0, 0
        depth = cost = work = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                name = node.name.value
                if name == "__typename":
                    depth, cost = max(depth, 1), cost + 1
                    continue
                field: GraphQLField | None
                if name == "__schema":
                    field = SchemaMetaFieldDef
                elif name == "__type":
                    field = TypeMetaFieldDef
                else:
                    field = getattr(parent, "fields", {}).get(name)
                if field is None:  # reported by graphql's own rules
                    continue
                named, is_list = _named(field.type)
                child_page = None
                if "first" in field.args and is_list:
                    multiplier = self._page_size(node, field)
                elif "first" in field.args:
                    multiplier, child_page = 1, self._page_size(node, field)
                elif is_list:
                    multiplier = page if page is not None else LIST_FACTOR
                else:
                    multiplier = 1
                child_depth, child_cost, child_work = self.selection(node.selection_set, named, child_page)
                if name.startswith("__") or named.name.startswith("__"):
                    child_depth = 0  # introspection: bounded by the schema, costed below
                depth = max(depth, 1 + child_depth)
                cost += 1 + multiplier * child_cost
                work += WORK.get(f"{getattr(parent, 'name', '')}.{name}", 0) + multiplier * child_work
            elif isinstance(node, InlineFragmentNode):
                on = self.schema.get_type(node.type_condition.name.value) if node.type_condition else parent
                d, c, w = self.selection(node.selection_set, on, page)
                depth, cost, work = max(depth, d), cost + c, work + w
            elif isinstance(node, FragmentSpreadNode):
                d, c, w = self.fragment(node.name.value)
                depth, cost, work = max(depth, d), cost + c, work + w
        return depth, cost, work

    def fragment(self, name: str) -> tuple[int, int, int]:
        """``(depth, cost, work)`` of a named fragment; 0 for unknown or cyclic ones (graphql reports them)."""
        if name in self._memo:
            return self._memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self._open:
            return 0, 0, 0
        self._open.add(name)
        try:
            measure = self.selection(definition.selection_set,
                                     self.schema.get_type(definition.type_condition.name.value))
        finally:
            self._open.discard(name)
        self._memo[name] = measure
        return measure


def _count_aliases(node: Any) -> int:
    """Aliased fields written in the document (each written field once)."""
    count = 0
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, FieldNode) and current.alias is not None:
            count += 1
        selection_set = getattr(current, "selection_set", None)
        if selection_set is not None:
            stack.extend(selection_set.selections)
    return count


def measure(document: Any, schema: GraphQLSchema, max_page_size: int) -> DocumentMeasure:
    """Depth, aliases, the highest operation cost and work of a parsed ``document``."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    measurer = _Measurer(schema, fragments, max_page_size)
    depth = cost = work = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            d, c, w = measurer.operation(definition)
            depth, cost, work = max(depth, d), max(cost, c), max(work, w)
    aliases = sum(_count_aliases(d) for d in document.definitions)
    return DocumentMeasure(depth, aliases, cost, work)


def operation_work(document: Any, schema: GraphQLSchema, operation_name: str | None, max_page_size: int) -> int:
    """The analytic work (``WORK``) of the operation of ``document`` that runs (by ``operation_name``;
    the only one when None); 0 when there is no such operation (graphql reports it)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)
                  and (operation_name is None or (d.name is not None and d.name.value == operation_name))]
    if len(operations) != 1:
        return 0
    return _Measurer(schema, fragments, max_page_size).operation(operations[0])[2]


def _refusal(error: LimitExceeded, limit: int, value: int) -> GraphQLError:
    return GraphQLError(error.message, original_error=error, extensions={"limit": limit, "value": value})


@lru_cache(maxsize=16)
def limits_rule(limits: QueryLimits) -> type[ValidationRule]:
    """The validation rule enforcing ``limits`` (one class per distinct limits, so caches can key on it)."""

    class LimitsRule(ValidationRule):
        def enter_document(self, node: Any, *_: Any) -> Any:
            m = measure(node, self.context.schema, limits.max_page_size)
            if m.depth > limits.max_depth:
                self.report_error(_refusal(QueryTooDeep(
                    f"the query nests fields {m.depth} levels deep; at most {limits.max_depth} are allowed"),
                    limits.max_depth, m.depth))
            if m.aliases > limits.max_aliases:
                self.report_error(_refusal(TooManyAliases(
                    f"the query uses {m.aliases} aliases; at most {limits.max_aliases} are allowed"),
                    limits.max_aliases, m.aliases))
            if m.cost > limits.max_cost:
                self.report_error(_refusal(QueryTooComplex(
                    f"the query's estimated cost is {m.cost}; at most {limits.max_cost} is allowed "
                    "(page sizes multiply along nested lists: ask for smaller pages or fewer nested lists)"),
                    limits.max_cost, m.cost))
            return self.BREAK

    return LimitsRule


class QueryLimitsExtension(SchemaExtension):
    """Applies the context's ``settings`` limits to each operation (defaults without a cdp context)."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        settings = getattr(context.context, "settings", None)
        limits = QueryLimits.of(settings if isinstance(settings, Settings) else Settings())
        context.parse_options["max_tokens"] = limits.max_tokens
        context.validation_rules = (*context.validation_rules, limits_rule(limits))
        yield
