"""``cdp import`` of the benchmark's CRM export (a ';' CSV with provenance for every profile
key) run twice on each backend: the second run writes nothing (issue 19, item 5)."""

from __future__ import annotations

from pathlib import Path

from bench.import_csv import MAPPING, generate_csv
from cdp.ingest.run import import_file
from cdp.ingest.mapping import load_mapping
from graph.model import MODEL
from tests.conftest import make_store

ROWS = 300


def _stored(store) -> dict[str, list[dict]]:  # type: ignore[no-untyped-def]
    """Every node and relationship except the import runs' records, sorted."""
    out: dict[str, list[dict]] = {}
    for node in MODEL.nodes:
        if node.label != "ImportRun":
            out[node.label] = sorted(store.export_nodes(node.label).to_pylist(), key=lambda r: str(r[node.key]))
    for rel in MODEL.relationships:
        out[rel.type] = sorted(store.export_relationships(rel.type).to_pylist(), key=lambda r: (r["from"], r["to"]))
    return out


def test_a_csv_import_with_provenance_run_again_writes_nothing(backend: str, tmp_path: Path) -> None:
    data = tmp_path / "customers.csv"
    generate_csv(data, ROWS, seed=7)
    mapping_path = tmp_path / "crm.toml"
    mapping_path.write_text(MAPPING.replace("[source]\n", "[source]\nprovenance = true\n", 1))
    mapping = load_mapping(mapping_path)
    store = make_store(backend, tmp_path)
    try:
        first = import_file(store, mapping, data, batch_size=128)
        assert (first.read, first.rejected, first.created) == (ROWS, 0, ROWS)
        stored = _stored(store)
        assert len(stored["Customer"]) == ROWS and len(stored["Identity"]) == ROWS
        assert len(stored["AttributeValue"]) >= ROWS  # every customer's profile keys, observed once

        again = import_file(store, mapping, data, batch_size=128)
        assert (again.read, again.created, again.updated, again.unchanged) == (ROWS, 0, 0, ROWS)
        assert _stored(store) == stored
        assert store.counts()["ImportRun"] == 2
    finally:
        store.close()
