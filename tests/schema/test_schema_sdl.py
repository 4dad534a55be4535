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
