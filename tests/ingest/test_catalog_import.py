"""A catalog rules file is checked whole against the store before anything is written
(``cdp.ingest.catalog_import``), on each backend: the stages read and convert it, ``check``
finds the problems on their rows."""

from __future__ import annotations

from pathlib import Path

from cdp.ingest.catalog_import import check, refusal, writes_rules
from cdp.ingest.convert import convert_batch
from cdp.ingest.mapping import load_mapping
from cdp.ingest.read import open_source
from graph.store import GraphStore, node_op

ROOT = Path(__file__).resolve().parents[2]
REQUIRES = ROOT / "examples" / "mappings" / "catalog_requires.toml"


def _converted(path: Path):  # type: ignore[no-untyped-def]
    mapping = load_mapping(REQUIRES)
    source = open_source(mapping, path, batch_size=100)
    try:
        (batch,) = list(source)
    finally:
        source.close()
    return mapping, convert_batch(mapping, batch, str(path))


def test_rules_naming_unknown_products_or_going_round_are_found_on_their_rows(store: GraphStore,
                                                                             tmp_path: Path) -> None:
    store.write([node_op("Product", [{"id": p, "name": p, "category": "TV"} for p in ("P-A", "P-B", "P-C")])])
    path = tmp_path / "requires.csv"
    path.write_text("product,requires\nP-A,P-B\nP-B,P-C\nP-C,P-A\nP-A,P-NOPE\n")
    mapping, converted = _converted(path)
    assert writes_rules(mapping)
    assert not writes_rules(load_mapping(ROOT / "examples" / "mappings" / "billing.toml"))

    problems = check(store, mapping, converted)
    rows = {p.row: p.reason for p in problems}
    assert "P-NOPE" in rows[5]  # the unknown product, on its own row (the header is row 1)
    assert any("cycle" in reason.lower() for reason in rows.values())  # P-A -> P-B -> P-C -> P-A
    failure = refusal(problems, str(tmp_path / "rejects.csv"))
    assert failure.code == "BAD_USER_INPUT" and str(path) in failure.message
    assert store.nodes("Product", ["P-NOPE"]) == {}


def test_a_sound_file_has_no_problem(store: GraphStore, tmp_path: Path) -> None:
    store.write([node_op("Product", [{"id": p, "name": p, "category": "TV"} for p in ("P-A", "P-B")])])
    path = tmp_path / "requires.csv"
    path.write_text("product,requires\nP-A,P-B\n")
    mapping, converted = _converted(path)
    assert check(store, mapping, converted) == []
