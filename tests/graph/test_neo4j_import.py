"""The benchmark's offline Neo4j import (``bench/neo4j_import.py``) gives the graph ``bulk_load`` gives.

Imports a small seeded demo graph with neo4j-admin into a fresh Neo4j home, starts that
Neo4j (``tools/neo4j``), opens cdp's store on it and compares every node and relationship
table with the embedded store loaded from the same tables by ``GraphStore.bulk_load``.
Runs only where the Neo4j tests run (``CDP_TEST_NEO4J_URI`` set, Java present).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from cdp.settings import Settings
from cdp.store import open_store
from graph.ladybug_store import LadybugStore
from graph.model import MODEL

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not os.environ.get("CDP_TEST_NEO4J_URI"),
                                reason="needs the local Neo4j (tools/neo4j/local.py run)")


def test_the_imported_graph_is_the_bulk_loaded_one(tmp_path: Path) -> None:
    from bench import neo4j_import
    from cdp.demo import telecom as demo

    sys.path.insert(0, str(ROOT / "tools" / "neo4j"))
    try:
        import local as neo4j_local  # tools/neo4j/local.py
    finally:
        sys.path.pop(0)

    data = demo.generate(30, seed=5)
    report = neo4j_import.import_demo(data, tmp_path / "neo4j", heap="512m", off_heap="512M")
    assert report["rows"] == data.row_count()
    embedded = LadybugStore(tmp_path / "embedded.lbdb", 128)
    embedded.bulk_load(data.nodes, data.relationships)
    server = neo4j_local.LocalNeo4j(tmp_path / "neo4j", neo4j_local.free_port(), heap="512m", page_cache_mb="64")
    server.start()
    try:
        imported = open_store(Settings(neo4j_uri=server.uri))
        try:
            assert imported.export_nodes("Customer").num_rows == 30
            for label in ("Customer", "Account", "Subscription", "Product", "Contact", "MonetaryEvent",
                          "Identity", "AttributeValue", "Campaign"):
                assert imported.export_nodes(label).equals(embedded.export_nodes(label)), label
            for rel in MODEL.relationships:
                if data.relationships[rel.type].num_rows:
                    mine = imported.export_relationships(rel.type).sort_by([("from", "ascending"), ("to", "ascending")])
                    theirs = embedded.export_relationships(rel.type).sort_by([("from", "ascending"), ("to", "ascending")])
                    assert mine.equals(theirs), rel.type
        finally:
            imported.close()
    finally:
        server.stop()
        embedded.close()
