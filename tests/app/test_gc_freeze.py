"""The app moves what start-up built out of the garbage collector's reach while it serves
(full collections walked it all every ~10 s under load: ~100 ms stalls; docs/benchmarks.md),
and gives it back on shutdown."""

from __future__ import annotations

import gc
from cdp.settings import Settings
from graph.store import GraphStore
from tests.conftest import api_client, gql


def test_start_up_objects_are_frozen_while_serving(store: GraphStore) -> None:
    before = gc.get_freeze_count()
    with api_client(Settings(), store) as client:
        assert gc.get_freeze_count() > before + 10_000  # the schema, caches and modules at least
        assert gql(client, "{ __typename }") == {"data": {"__typename": "Query"}}
    assert gc.get_freeze_count() == 0
