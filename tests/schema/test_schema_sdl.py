"""The committed SDL is the API contract: it must match the code."""

from __future__ import annotations

from schema import SDL_PATH, sdl


def test_committed_sdl_matches_the_schema() -> None:
    committed = SDL_PATH.read_text()
    assert committed == sdl(), (
        "schema/schema.graphql is out of date: run `.venv/bin/cdp schema export --out schema/schema.graphql` "
        "and review the diff (it is the public API contract)")


def test_sdl_exposes_the_unified_view() -> None:
    from graphql import build_schema

    # read through graphql-core: with descriptions on arguments the printer spreads a field over lines
    built = build_schema(sdl())
    query, customer_type = built.query_type, built.type_map["Customer"]

    def signature(owner, name: str) -> str:  # type: ignore[no-untyped-def]
        field = owner.fields[name]
        args = ", ".join(f"{a}: {arg.type}" for a, arg in field.args.items())
        return f"{name}({args}): {field.type}" if args else f"{name}: {field.type}"

    assert signature(query, "customer") == "customer(id: ID!): Customer"
    assert signature(query, "product") == "product(id: ID!): Product"
    assert signature(query, "channels") == "channels: [Channel!]!"
    assert "customers" in query.fields
    assert signature(built.type_map["CustomerConnection"], "totalCount") == "totalCount: Int!"
    assert signature(built.type_map["CustomerConnection"], "pageInfo") == "pageInfo: PageInfo!"
    assert signature(built.type_map["Product"], "subscriberCount") == "subscriberCount: Int!"
    assert signature(built.type_map["Channel"], "contactVolume") == "contactVolume(since: DateTime): Int!"
    assert "accounts" in customer_type.fields


def test_sdl_names_its_root_types_explicitly() -> None:
    from graphql import build_schema

    text = sdl()
    assert text.startswith("schema {\n  query: Query\n  mutation: Mutation\n}\n"), text[:80]
    built = build_schema(text)  # a tool that reads only the SDL sees the same roots
    assert built.query_type.name == "Query"
    assert built.mutation_type.name == "Mutation"
    assert built.subscription_type is None


def test_no_type_shadows_a_root_operation_name() -> None:
    from schema import schema

    # a domain type named Query, Mutation or Subscription would be read as that root by tools
    # that ignore the schema block, and would block a future subscription root
    names = set(schema._schema.type_map)
    roots = {"Query": schema._schema.query_type, "Mutation": schema._schema.mutation_type,
             "Subscription": schema._schema.subscription_type}
    for name, root in roots.items():
        if name in names:
            assert root is not None and root.name == name, f"domain type {name} shadows a root operation type"


def _undescribed() -> list[str]:
    """Every type, field, input field, argument and enum value of the built schema without a
    description, as a path: ``Type``, ``Type.field``, ``Type.field(argument)``, ``Enum.VALUE``."""
    from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

    from schema import schema

    def blank(text: str | None) -> bool:
        return not (text or "").strip()

    missing = []
    for name, kind in sorted(schema._schema.type_map.items()):
        if name.startswith("__"):  # introspection types come with graphql-core's own descriptions
            continue
        if blank(kind.description):
            missing.append(name)
        if isinstance(kind, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for field_name, field in kind.fields.items():
                if blank(field.description):
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if blank(arg.description):
                        missing.append(f"{name}.{field_name}({arg_name})")
        if isinstance(kind, GraphQLEnumType):
            missing += [f"{name}.{value}" for value, item in kind.values.items() if blank(item.description)]
    missing += [f"@{d.name}" for d in schema._schema.directives if blank(d.description)]
    return missing


def test_every_type_field_argument_and_enum_value_is_described() -> None:
    missing = _undescribed()
    assert not missing, (f"{len(missing)} schema elements have no description (say what it is, its unit or "
                         "format, what null means, who may read it):\n  " + "\n  ".join(missing))


def test_descriptions_reach_the_committed_sdl() -> None:
    from graphql import build_schema

    built = build_schema(SDL_PATH.read_text())
    customer = built.type_map["Customer"]
    assert customer.fields["email"].description and "masked" in customer.fields["email"].description
    assert built.type_map["Tier"].values["KEY_ACCOUNT"].description
    assert built.type_map["Query"].fields["customers"].args["first"].description
