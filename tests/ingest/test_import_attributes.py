"""Custom attributes and consent statements imported from a source file (``[entity.attributes]``).

Through the real mapping parser, ``cdp.ingest.run.import_file`` and the embedded store: values
land as attribute values with the source's provenance, consents count for the contact
policy, a bad status rejects the row (file, row, column), a re-import adds nothing, a
later file that changes a value adds one observation, and bad mappings fail naming the line."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from cdp.privacy import consent
from cdp.errors import InvalidInput
from cdp.ingest.run import import_file
from cdp.ingest.mapping import ATTRIBUTES_ITEM, load_mapping, parse_mapping
from graph.store import GraphStore
from tests.conftest import BACKENDS, make_store

MAPPING = """\
[source]
name = "CRM"
trust = 0.9
observed_at = "modified"
provenance = false

[[entity]]
label = "Customer"
key = "klantnr"
[entity.columns]
last_name = "naam"
[entity.attributes]
consent_email_marketing = { column = "optin_email", values = { J = "GRANTED", N = "DENIED", I = "REVOKED" } }
consent_profiling = { column = "profilering", values = { J = "GRANTED", N = "DENIED" } }
loyalty_level = { column = "loyaliteit", convert = "lower" }
"""

HEADER = ["klantnr", "naam", "optin_email", "profilering", "loyaliteit", "modified"]
ROWS = [
    ["C1", "Jansen", "J", "J", "GOLD", "2026-03-01T10:00:00"],
    ["C2", "de Vries", "N", "", "Silver", "2026-03-01T10:00:00"],
    ["C3", "Bakker", "misschien", "J", "", "2026-03-01T10:00:00"],
    ["C4", "Visser", "", "N", "", "2026-03-02T09:30:00"],
]
NOW = datetime(2026, 6, 1)


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    s = make_store(request.param, tmp_path)
    yield s
    s.close()


def _values(store: GraphStore, customer: str) -> list[dict]:
    return store.attribute_values_of_customers([customer]).get(customer, [])


def test_attributes_and_consents_are_imported_with_provenance(tmp_path: Path, store: GraphStore) -> None:
    mapping_path = tmp_path / "crm.toml"
    mapping_path.write_text(MAPPING)
    mapping = load_mapping(mapping_path)
    data = _write(tmp_path / "crm.csv", ROWS)
    rejects = tmp_path / "rejects.csv"

    report = import_file(store, mapping, data, rejects_path=rejects)

    assert report.read == 4 and report.rejected == 1
    assert report.items[ATTRIBUTES_ITEM].created == 6  # C1: 3, C2: 2, C4: 1
    bad = list(csv.DictReader(rejects.open()))
    assert [(r["row"], r["column"], r["value"]) for r in bad] == [("4", "optin_email", "misschien")]
    assert "consent_email_marketing" in bad[0]["reason"]
    assert store.existing_ids("Customer", ["C1", "C2", "C3", "C4"]) == {"C1", "C2", "C4"}

    values = {v["key"]: v for v in _values(store, "C1")}
    assert {k: v["value"] for k, v in values.items()} == {
        "consent_email_marketing": "GRANTED", "consent_profiling": "GRANTED", "loyalty_level": "gold"}
    assert all(v["source"] == "CRM" and v["accuracy"] == 0.9 and v["identity_id"] == "CRM:C1"
               and v["observed_at"] == datetime(2026, 3, 1, 10) for v in values.values())
    # the identity the values name exists, although provenance of properties is off
    assert [i["id"] for i in store.identities_of_customers(["C1"])["C1"]] == ["CRM:C1"]

    # the consents are the ones the contact policy and the models read
    said = {(c.purpose, c.channel): c.status for c in consent.current(_values(store, "C2"), NOW)}
    assert said == {("MARKETING", "EMAIL"): "DENIED"}
    assert consent.granted(_values(store, "C1"), "PROFILING", NOW)
    refused = {(c.purpose, c.channel): c.status for c in consent.current(_values(store, "C4"), NOW)}
    assert refused == {("PROFILING", None): "DENIED"}


def test_reimport_adds_nothing_and_a_change_adds_one_observation(tmp_path: Path, store: GraphStore) -> None:
    mapping_path = tmp_path / "crm.toml"
    mapping_path.write_text(MAPPING)
    mapping = load_mapping(mapping_path)
    data = _write(tmp_path / "crm.csv", ROWS)
    import_file(store, mapping, data, rejects_path=tmp_path / "r.csv")
    first = store.counts()

    again = import_file(store, mapping, data, rejects_path=tmp_path / "r.csv")
    assert again.items[ATTRIBUTES_ITEM].created == 0 and again.items[ATTRIBUTES_ITEM].unchanged == 6
    assert {**store.counts(), "ImportRun": 0} == {**first, "ImportRun": 0}

    # a later export: C1 withdraws marketing by e-mail; the same values at a new time add nothing
    later = [["C1", "Jansen", "I", "J", "gold", "2026-05-01T08:00:00"],
             ["C2", "de Vries", "N", "", "silver", "2026-05-01T08:00:00"]]
    changed = import_file(store, mapping, _write(tmp_path / "crm2.csv", later), rejects_path=tmp_path / "r.csv")
    assert changed.items[ATTRIBUTES_ITEM].created == 1
    assert store.counts()["AttributeValue"] == first["AttributeValue"] + 1
    history = sorted((v["observed_at"], v["value"]) for v in _values(store, "C1") if v["key"] == "consent_email_marketing")
    assert history == [(datetime(2026, 3, 1, 10), "GRANTED"), (datetime(2026, 5, 1, 8), "REVOKED")]
    said = {(c.purpose, c.channel): c.status for c in consent.current(_values(store, "C1"), NOW)}
    assert said[("MARKETING", "EMAIL")] == "REVOKED"


def test_attribute_mapping_parses() -> None:
    mapping = parse_mapping(MAPPING)
    assert [a.name for a in mapping.entities[0].attributes] == ["consent_email_marketing", "consent_profiling",
                                                                 "loyalty_level"]
    assert mapping.names() == ["Customer", ATTRIBUTES_ITEM]
    assert "optin_email" in mapping.columns()


@pytest.mark.parametrize("replace, line, words", [
    ('loyalty_level = { column = "loyaliteit", convert = "lower" }', 15, "a Customer property"),
    ('consent_profiling = { column = "profilering", values = { J = "GRANTED", N = "DENIED" } }', 14,
     "not in the vocabulary"),
    ('loyalty_level = { column = "loyaliteit", convert = "lower" }', 15, "must be 1-64 letters"),
    ('loyalty_level = { column = "loyaliteit", convert = "lower" }', 15, "conversion 'int' does not fit"),
])
def test_bad_attribute_mappings_name_the_line(replace: str, line: int, words: str) -> None:
    bad = {
        "a Customer property": 'email = "loyaliteit"',
        "not in the vocabulary": 'consent_profiling = { column = "profilering", values = { J = "YES" } }',
        "must be 1-64 letters": '"loyalty-level" = "loyaliteit"',
        "conversion 'int' does not fit": 'loyalty_level = { column = "loyaliteit", convert = "int" }',
    }[words]
    with pytest.raises(InvalidInput) as error:
        parse_mapping(MAPPING.replace(replace, bad), "crm.toml")
    assert f"crm.toml, line {line}" in str(error.value) and words in str(error.value)


def test_attributes_belong_to_customers() -> None:
    text = """\
[source]
name = "BILLING"
[[entity]]
label = "Account"
key = "acc"
[entity.attributes]
dunning_level = "dunning"
"""
    with pytest.raises(InvalidInput, match="attributes belong to customers"):
        parse_mapping(text, "billing.toml")
