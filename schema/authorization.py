"""Authorisation in the GraphQL layer: operations per role, own-data-only customers,
masked personal fields, and the audit records of writes and personal-data reads.

``Authorization`` (a schema extension) runs before execution:

- every root field of the operation (fragments included; ``@skip`` ignored, so it
  fails closed) must be allowed to the principal (``cdp.security.permissions.check_operation``);
- a ``customer`` principal may only pass its own id as ``customerId`` (or as the
  ``id`` of ``customer``) and may not list other customers (``Segment.members``,
  ``Segment.contains``);
- (filtering, sorting and segment conditions on personal fields are authorised where they
  are evaluated, by ``cdp.security.permissions.authorise_personal_use`` through
  ``Context.authorise_personal_use``: saved definitions are only known then).

A refusal is one ``FORBIDDEN`` error and nothing runs; it is audited (``denied``).
After execution it appends the audit records: one ``write`` per mutation (with the
customer ids its arguments name and its outcome) and one ``read_personal`` when
personal fields were returned unmasked or shaped the answer (a filter, sort or segment
condition on them: ``Context.personal_uses``).

``PersonalData`` / ``PersonalValue`` (field extensions) mask personal fields the
principal may not see (``cdp.security.permissions.personal_access``, ``mask``); for partners
with the scope the customer's ``DATA_SHARING`` consent decides.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_operation_ast,
    visit,
)
from graphql.execution.values import get_argument_values, get_variable_values
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.types import ExecutionResult

from cdp.transport import global_ids
from cdp.errors import CdpError, Forbidden
from cdp.security.permissions import (
    DATA_SHARING,
    NODE_OPERATIONS,
    PERSONAL_ATTRIBUTE_KEYS,
    Access,
    check_customer,
    check_operation,
    mask,
    personal_access,
)
from cdp.security.principal import Principal, Role
from schema.errors import error_code

log = logging.getLogger("cdp.security.audit")

#: Argument names that carry the customer an operation is about.
CUSTOMER_ARGUMENTS = ("customerId",)
#: Fields that list customers other than the caller: closed to ``customer`` principals.
OTHER_CUSTOMERS = frozenset({("Segment", "members"), ("Segment", "contains"), ("SegmentPreview", "members")})
#: Root fields a customer principal may use without naming a customer (catalogue reads).
CATALOGUE_READS = frozenset({"product", "products", "channels"})


def _root_fields(operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]) -> Iterator[FieldNode]:
    """Root-level fields of ``operation``, through inline fragments and fragment spreads."""
    stack = list(operation.selection_set.selections)
    seen: set[str] = set()
    while stack:
        node = stack.pop()
        if isinstance(node, FieldNode):
            yield node
        elif isinstance(node, InlineFragmentNode):
            stack.extend(node.selection_set.selections)
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
            seen.add(node.name.value)
            fragment = fragments.get(node.name.value)
            if fragment is not None:
                stack.extend(fragment.selection_set.selections)


def _customer_ids(value: Any, out: set[str], key: str | None = None) -> None:
    """Collect customer ids from argument values: ``customerId`` anywhere in them."""
    if isinstance(value, dict):
        for k, v in value.items():
            _customer_ids(v, out, k)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _customer_ids(v, out, key)
    elif key in ("customerId", "customer_id") and value is not None:
        out.add(str(value))


def _check_nodes(principal: Principal, arguments: dict) -> set[str]:
    """Check each global id of a ``node`` / ``nodes`` call as its type's typed root field
    (``NODE_OPERATIONS``); return the customer ids they name. Malformed ids are left to
    execution (BAD_USER_INPUT); accounts and contacts are checked against their owner there."""
    given = arguments.get("ids") if "ids" in arguments else [arguments.get("id")]
    customers: set[str] = set()
    for global_id in given or ():
        try:
            type_name, domain_id = global_ids.decode(str(global_id))
        except CdpError:
            continue
        check_operation(principal, NODE_OPERATIONS[type_name])
        if type_name == "Customer":
            check_customer(principal, domain_id, field="id")
            customers.add(domain_id)
    return customers


class _OtherCustomers(Visitor):
    """Finds a field in ``OTHER_CUSTOMERS`` anywhere in a document."""

    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.found: str | None = None

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        parent = self.type_info.get_parent_type()
        if parent is not None and (parent.name, node.name.value) in OTHER_CUSTOMERS:
            self.found = f"{parent.name}.{node.name.value}"


class Authorization(SchemaExtension):
    """Checks the operation against the principal before it runs; audits it afterwards."""

    def on_execute(self) -> Iterator[None]:
        ec = self.execution_context
        ctx = ec.context
        principal: Principal = ctx.principal
        operation_names: list[str] = []
        customers: set[str] = set()
        try:
            self._check(principal, operation_names, customers)
        except CdpError as exc:
            self._audit(ctx, "denied", operation_names or ["?"], customers, exc.code)
            ec.result = ExecutionResult(data=None, errors=[GraphQLError(exc.message, original_error=exc)])
        is_write = ec.result is None and bool(operation_names) and ec.operation_type.value == "mutation"
        if is_write:
            try:  # no write without its audit record: when the log cannot be written, nothing runs
                self._audit(ctx, "write", operation_names, customers, "started")
            except CdpError as exc:
                ec.result = ExecutionResult(data=None, errors=[GraphQLError(exc.message, original_error=exc)])
                is_write = False
        ran = ec.result is None
        yield
        if ec.result is None or not operation_names:
            return
        try:
            errors = ec.result.errors or []
            if is_write:
                self._audit(ctx, "write", operation_names, customers, error_code(errors[0]) if errors else "ok")
            refused = sorted({e.original_error.field or "?" for e in errors if isinstance(e.original_error, Forbidden)})
            if refused and ran:  # refused where it was evaluated (a personal field in a condition)
                self._audit(ctx, "denied", operation_names, customers, "FORBIDDEN", set(refused))
            if ctx.personal_reads or ctx.personal_uses:
                fields = set().union(ctx.personal_uses, *ctx.personal_reads.values())
                self._audit(ctx, "read_personal", operation_names, set(ctx.personal_reads), "ok", fields)
        except CdpError:
            log.exception("audit record lost after %s", " ".join(operation_names))
        ctx.personal_reads.clear()
        ctx.personal_uses.clear()

    @staticmethod
    def _audit(ctx: Any, action: str, operations: list[str], customers: set[str], outcome: str,
               fields: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        if ctx.audit is not None:
            ctx.audit.record(ctx.principal, action, " ".join(operations), customers=customers, fields=fields,
                             outcome=outcome)

    def _check(self, principal: Principal, names: list[str], customers: set[str]) -> None:
        """Raise ``Forbidden`` when the operation is not allowed. Fills ``names`` with its root
        fields and ``customers`` with the customer ids its arguments name, as far as it got."""
        ec = self.execution_context
        document = ec.graphql_document
        if document is None:
            return
        operation = get_operation_ast(document, ec.operation_name)
        if operation is None:
            return
        graphql_schema = ec.schema._schema
        root_type = graphql_schema.get_root_type(operation.operation)
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        variables = get_variable_values(graphql_schema, operation.variable_definitions or (), ec.variables or {})
        for node in _root_fields(operation, fragments):
            name = node.name.value
            if name.startswith("__"):
                continue
            names.append(name)
            check_operation(principal, name)
            definition = root_type.fields.get(name) if root_type is not None else None
            if definition is None or isinstance(variables, list):
                continue  # validation (unknown field) or execution (bad variables) will refuse it
            try:
                arguments = get_argument_values(definition, node, variables)
            except GraphQLError:
                continue  # execution will refuse it
            ids: set[str] = set()
            _customer_ids(arguments, ids)
            if name == "customer" and "id" in arguments:
                ids.add(str(arguments["id"]))
            if name in ("node", "nodes"):
                ids |= _check_nodes(principal, arguments)
            if name == "upsertCustomers":
                ids.update(str(item["id"]) for item in arguments.get("items", ()) if item.get("id"))
            if principal.role is Role.CUSTOMER and name not in CATALOGUE_READS and name not in ("node", "nodes"):
                for customer_id in ids or {None}:  # type: ignore[arg-type]
                    check_customer(principal, customer_id)
            customers |= ids
        if principal.role is Role.CUSTOMER:
            type_info = TypeInfo(graphql_schema)
            finder = _OtherCustomers(type_info)
            visit(document, TypeInfoVisitor(type_info, finder))
            if finder.found:
                raise Forbidden(f"a customer credential may not read {finder.found}", field=finder.found)



# --------------------------------------------------------------------------- personal fields


def _note_read(ctx: Any, customer_id: str | None, field: str) -> None:
    ctx.personal_reads.setdefault(customer_id or "?", set()).add(field)


async def _data_sharing_granted(ctx: Any, customer_id: str) -> bool:
    """True when the customer currently consents to ``DATA_SHARING`` (``cdp.privacy.consent``)."""
    from cdp.privacy.consent import granted

    values = await ctx.loaders.attribute_values.load(customer_id)
    return granted(values, DATA_SHARING, ctx.now)


async def _after_consent(ctx: Any, field: str, value: Any, customer_id: str) -> Any:
    if await _data_sharing_granted(ctx, customer_id):
        _note_read(ctx, customer_id, field)
        return value
    return mask(field, value)


def guard(ctx: Any, field: str, value: Any, customer_id: str | None) -> Any:
    """``value`` of personal ``field`` as ``ctx.principal`` may see it (maybe an awaitable).

    Unmasked values are noted in ``ctx.personal_reads`` for the audit log.
    """
    if value is None:
        return None
    access = personal_access(ctx.principal, field, customer_id)
    if access is Access.FULL:
        _note_read(ctx, customer_id, field)
        return value
    if access is Access.NEEDS_CONSENT and customer_id is not None:
        return _after_consent(ctx, field, value, customer_id)
    return mask(field, value)


class PersonalData(FieldExtension):
    """Masks a personal field of a type whose ``customer_id`` (or ``id``) names its customer."""

    def __init__(self, field: str) -> None:
        self.field = field

    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        customer_id = getattr(source, "customer_id", None) or getattr(source, "id", None)
        return guard(info.context, self.field, next_(source, info, **kwargs), customer_id)


class PersonalValue(FieldExtension):
    """Masks an attribute value whose ``key`` is a personal attribute (``AttributeValue.value``)."""

    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        value = next_(source, info, **kwargs)
        key = getattr(source, "key", None)
        if key not in PERSONAL_ATTRIBUTE_KEYS:
            return value
        return guard(info.context, key, value, getattr(source, "customer_id", None))
