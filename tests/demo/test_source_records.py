"""The seeded generator of source records (``cdp.demo.source_records``): deterministic, in the columns
identity resolution reads, with the truth aligned record by record and the planted traps present."""

from __future__ import annotations

import pytest

from cdp.demo.source_records import RECORDS_PER_PERSON, SOURCES, generate_sources, persons_for_records
from cdp.errors import InvalidInput
from cdp.identity.resolution import INPUT_COLUMNS

PERSONS = 2_000


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    return generate_sources(PERSONS, seed=11)


def test_the_same_persons_and_seed_give_the_same_data(data) -> None:  # type: ignore[no-untyped-def]
    again = generate_sources(PERSONS, seed=11)
    assert again.records.equals(data.records) and again.truth.equals(data.truth)
    assert not generate_sources(PERSONS, seed=12).records.equals(data.records)


def test_records_and_truth_line_up(data) -> None:  # type: ignore[no-untyped-def]
    records, truth = data.records, data.truth
    assert list(records.columns) == list(INPUT_COLUMNS)
    assert len(records) == len(truth)
    assert (records["source"].to_numpy() == truth["source"].to_numpy()).all()
    assert (records["source_key"].to_numpy() == truth["source_key"].to_numpy()).all()
    assert set(records["source"]) == set(SOURCES)
    assert not records.duplicated(["source", "source_key"]).any()  # keys are unique per source
    assert len(data.persons) == PERSONS
    # Every person is in at least one system, and some in more: duplicates to find.
    per_person = truth.groupby("true_person_id").size()
    assert per_person.nunique() > 1 and len(per_person) == PERSONS
    assert abs(len(records) / PERSONS - RECORDS_PER_PERSON) < 0.1


def test_the_planted_traps_are_there(data) -> None:  # type: ignore[no-untyped-def]
    truth, records = data.truth, data.records
    assert {"twin", "namesake"} <= set(truth["trap"])
    business = truth["business"].to_numpy()
    assert 0.02 < business.mean() < 0.15
    assert records.loc[business, "company_name"].notna().all()
    assert records.loc[business, "birth_date"].isna().all()


def test_persons_for_records_and_the_bounds() -> None:
    assert persons_for_records(1_875) == 1_000 and persons_for_records(0) == 1
    for bad in (0, -5, True, 2.5):
        with pytest.raises(InvalidInput) as caught:
            generate_sources(bad)  # type: ignore[arg-type]
        assert caught.value.field == "persons"
