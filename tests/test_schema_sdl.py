"""The committed SDL is the API contract: it must match the code."""

from __future__ import annotations

from schema import SDL_PATH, sdl


def test_committed_sdl_matches_the_schema() -> None:
    committed = SDL_PATH.read_text()
    assert committed == sdl(), (
        "schema/schema.graphql is out of date: run `.venv/bin/cdp schema export --out schema/schema.graphql` "
        "and review the diff (it is the public API contract)")


def test_sdl_exposes_the_unified_view() -> None:
    text = sdl()
    for needle in ("customer(id: ID!): Customer", "customers(", "totalCount: Int!", "pageInfo: PageInfo!",
                   "product(id: ID!): Product", "channels: [Channel!]!", "subscriberCount: Int!",
                   "contactVolume(since: DateTime = null): Int!"):
        assert needle in text, needle


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
