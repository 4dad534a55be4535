"""Tests of identity resolution (cdp.identity.resolution) and its test-data generator (cdp.demo.source_records):
normalisers (one value and vectorised), Jaro-Winkler, the rule file, every default
rule, the over-merge guards, determinism, and quality against planted truth."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdp.errors import InvalidInput
from cdp.identity.resolution import (
    INPUT_COLUMNS,
    MatchRules,
    jaro_winkler,
    jaro_winkler_pairs,
    load_rules,
    normalise_birth_date,
    normalise_birth_dates,
    normalise_email,
    normalise_emails,
    normalise_house_number,
    normalise_house_numbers,
    normalise_name,
    normalise_names,
    normalise_national_id,
    normalise_national_ids,
    normalise_phone,
    normalise_phones,
    normalise_postal_code,
    normalise_postal_codes,
    normalise_records,
    pair_quality,
    parse_rules,
    resolve,
)
from cdp.demo.source_records import SOURCES, generate_sources, persons_for_records

# --------------------------------------------------------------------------
# Normalisers
# --------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    "06-12345678", "+31 6 1234 5678", "0031612345678", "(06) 1234 5678", "+31 (0)6 1234 5678",
    "0612345678", "+31612345678", "06 12 34 56 78", "612345678", "31612345678", " 06.1234.5678 ",
])
def test_phone_variants_give_one_e164_number(raw: str) -> None:
    assert normalise_phone(raw) == "+31612345678"


@pytest.mark.parametrize("raw, expected", [
    ("020-1234567", "+31201234567"),
    ("(0172) 123456", "+31172123456"),
    ("+44 20 7946 0958", "+442079460958"),
    ("0044 20 7946 0958", "+442079460958"),
    ("0612345678", "+31612345678"),
    (612345678, "+31612345678"),
])
def test_phone_other_numbers(raw: object, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", [
    None, float("nan"), "", "   ", "unknown", "06-1234567x", "+31 6+12345678", "12345", "061234567",
    "06123456789", "+310612345678", "0000000000", "+1234567", "+1234567890123456",
])
def test_phone_that_cannot_be_a_number_is_none(raw: object) -> None:
    assert normalise_phone(raw) is None


def test_numbers_read_as_floats_are_read_as_whole_numbers() -> None:
    phones = pd.Series([612345678.0, np.nan, 6.5])
    assert normalise_phones(phones).tolist()[0] == "+31612345678" and normalise_phones(phones)[1:].isna().all()
    assert normalise_phone(612345678.0) == "+31612345678" and normalise_phone(6.5) is None
    assert normalise_national_ids(pd.Series([12345678.0])).tolist() == ["012345678"]


def test_phone_default_country_code() -> None:
    assert normalise_phone("030 1234567", default_country_code="49") == "+49301234567"
    assert normalise_phones(pd.Series(["030 1234567"]), default_country_code="49").tolist() == ["+49301234567"]


@pytest.mark.parametrize("raw, expected", [
    ("  Jan.Jansen@Example.COM ", "jan.jansen@example.com"),
    ("a@b", "a@b"),
    ("no-at-sign", None),
    ("two@at@signs", None),
    ("@example.com", None),
    ("jan@", None),
    ("jan jansen@example.com", None),
    (None, None),
])
def test_email(raw: object, expected: str | None) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("  Zoë  van der BERG-Smit ", "zoe van der berg smit"),
    ("Jan-Willem", "jan willem"),
    ("'s-Hertogenbosch", "s hertogenbosch"),
    ("van 't Hof", "van t hof"),
    ("O'Brien", "obrien"),
    ("Delta Logistiek B.V.", "delta logistiek bv"),
    ("FRANÇOISE", "francoise"),
    ("Łukasz Wiśniewski", "łukasz wisniewski"),
    ("Jørgensen", "jørgensen"),
    ("Ömer_Çelik", "omer celik"),
    ("...", None),
    (None, None),
])
def test_name(raw: object, expected: str | None) -> None:
    assert normalise_name(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("1234 ab", "1234AB"), ("1234AB", "1234AB"), ("1234-ab", "1234AB"), (" 1000 ", "1000"),
    ("D-10115", "D10115"), ("", None), (None, None),
])
def test_postal_code(raw: object, expected: str | None) -> None:
    assert normalise_postal_code(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("12", "12"), ("12A", "12-A"), ("12 a", "12-A"), ("12-A", "12-A"), ("7 bis", "7-BIS"),
    ("30-2", "30-2"), ("007", "7"), ("A", "A"), (" ", None), (None, None),
])
def test_house_number(raw: object, expected: str | None) -> None:
    assert normalise_house_number(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("1234.56.782", "123456782"), ("123 456 782", "123456782"), ("12345678", "012345678"),
    ("kvk-1234", "KVK1234"), ("000000000", None), ("", None), (None, None),
])
def test_national_id(raw: object, expected: str | None) -> None:
    assert normalise_national_id(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("1980-05-17", "1980-05-17"), ("17-05-1980", "1980-05-17"), ("17/05/1980", "1980-05-17"),
    ("17.5.1980", "1980-05-17"), ("19800517", "1980-05-17"), ("1980-05-17T08:30:00", "1980-05-17"),
    (datetime.date(1980, 5, 17), "1980-05-17"), (pd.Timestamp("1980-05-17 10:00"), "1980-05-17"),
    ("1980-02-30", None), ("1850-01-01", None), ("yesterday", None), (None, None), (pd.NaT, None),
])
def test_birth_date(raw: object, expected: str | None) -> None:
    assert normalise_birth_date(raw) == expected


def test_birth_dates_vectorised_over_dates_and_datetimes() -> None:
    dates = pd.Series([datetime.date(1980, 5, 17), None, "17-05-1980"], dtype=object)
    assert normalise_birth_dates(dates).tolist()[::2] == ["1980-05-17", "1980-05-17"]
    stamps = pd.Series(pd.to_datetime(["1980-05-17", None, "1800-01-01"]))
    out = normalise_birth_dates(stamps)
    assert out.iloc[0] == "1980-05-17" and out.iloc[1:].isna().all()


PAIRS = [
    (normalise_phone, normalise_phones),
    (normalise_email, normalise_emails),
    (normalise_name, normalise_names),
    (normalise_postal_code, normalise_postal_codes),
    (normalise_house_number, normalise_house_numbers),
    (normalise_national_id, normalise_national_ids),
    (normalise_birth_date, normalise_birth_dates),
]
TRICKY = [
    None, "", " ", "06-12345678", "+31 (0)6 1234 5678", "0031 6 1234 5678", "612345678", "+44 20 7946 0958",
    "Jan@Example.com ", "a b@c", "Zoë van der Berg", "O'Brien-Smit", "1234 ab", "12 a", "007", "7 bis",
    "1234.56.782", "12345678", "17-05-1980", "1980-05-17", "31/02/1980", "x", "@", "..", "ÆØÅ æøå",
]


@pytest.mark.parametrize("one, many", PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_vectorised_normalisers_agree_with_the_scalar_ones(one, many) -> None:  # type: ignore[no-untyped-def]
    series = pd.Series(TRICKY, dtype=object, index=range(100, 100 + len(TRICKY)))
    out = many(series)
    assert list(out.index) == list(series.index)
    assert [None if pd.isna(v) else v for v in out] == [one(v) for v in TRICKY]


TEXT = st.text(alphabet="0123456789+-() ./@aAbBzZéëÖøß' _\t", max_size=24)


@settings(max_examples=40, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=40))
def test_vectorised_normalisers_agree_on_random_text(values: list[str]) -> None:
    series = pd.Series(values, dtype=object)
    for one, many in PAIRS:
        assert [None if pd.isna(v) else v for v in many(series)] == [one(v) for v in values], one.__name__


def test_normalise_records_builds_name_and_address() -> None:
    records = pd.DataFrame({
        "source": ["A", "B", "C"], "source_key": ["1", "2", "3"],
        "first_name": ["Jan", None, None], "last_name": ["de Vries", None, None],
        "company_name": [None, "Delta B.V.", None],
        "street": ["Kerkstraat", "Dorpsstraat", None], "house_number": ["12a", "3", None],
        "postal_code": ["1234 ab", None, None], "city": ["Utrecht", "Ede", None],
    })
    out = normalise_records(records)
    assert out["name"].tolist()[:2] == ["jan de vries", "delta bv"]
    assert pd.isna(out["name"].iloc[2])
    assert out["address"].tolist()[:2] == ["1234AB 12-A", "dorpsstraat 3 ede"]
    assert out["phone"].isna().all()  # absent input columns are missing, not an error


# --------------------------------------------------------------------------
# Jaro-Winkler
# --------------------------------------------------------------------------


@pytest.mark.parametrize("a, b, expected", [
    ("martha", "marhta", 0.9611), ("dwayne", "duane", 0.84), ("dixon", "dicksonx", 0.8133),
    ("jan", "jan", 1.0), ("", "", 0.0), ("abc", "", 0.0), ("abc", "xyz", 0.0),
])
def test_jaro_winkler_known_values(a: str, b: str, expected: float) -> None:
    assert jaro_winkler(a, b) == pytest.approx(expected, abs=1e-4)
    assert jaro_winkler_pairs([a], [b])[0] == pytest.approx(expected, abs=1e-4)


NAMES = st.text(alphabet="abcdejnorsv ëø", max_size=14)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(NAMES, NAMES), min_size=1, max_size=60))
def test_jaro_winkler_pairs_equals_the_reference(pairs: list[tuple[str, str]]) -> None:
    left, right = [a for a, _ in pairs], [b for _, b in pairs]
    expected = [jaro_winkler(a, b) for a, b in pairs]
    assert jaro_winkler_pairs(left, right, chunk=7) == pytest.approx(expected, abs=1e-9)
    assert jaro_winkler_pairs(right, left) == pytest.approx(expected, abs=1e-9)  # symmetric


def test_jaro_winkler_pairs_rejects_unequal_lengths() -> None:
    with pytest.raises(ValueError):
        jaro_winkler_pairs(["a"], ["a", "b"])


# --------------------------------------------------------------------------
# Rule file
# --------------------------------------------------------------------------


def test_default_rules_load_and_cover_the_required_evidence() -> None:
    rules = load_rules()
    by_name = {r.name: r for r in rules.rules}
    assert set(by_name) == {"national_id", "customer_ref", "phone", "email", "name_birth_date", "name_address"}
    assert by_name["phone"].vetoes == ("national_id", "birth_date") and by_name["phone"].max_group_size == 5
    assert by_name["name_birth_date"].kind == "fuzzy" and by_name["name_birth_date"].threshold
    assert [r.confidence for r in rules.in_order()] == sorted((r.confidence for r in rules.rules), reverse=True)
    assert rules.default_country_code == "31"


GOOD_RULE = """
[[rules]]
name = "phone"
kind = "exact"
fields = ["phone"]
confidence = 0.9
"""


@pytest.mark.parametrize("text, problem", [
    ("[[rules]\nname = 1", "not valid TOML"),
    ("default_country_code = \"31\"", "no rules"),
    ("colour = 1\n" + GOOD_RULE, "unknown top-level key"),
    ("default_country_code = 31\n" + GOOD_RULE, "default_country_code"),
    (GOOD_RULE.replace('name = "phone"', ""), "needs a non-empty string 'name'"),
    (GOOD_RULE.replace('name = "phone"', 'name = "seed"'), "reserved"),
    (GOOD_RULE.replace('"exact"', '"maybe"'), "kind must be one of"),
    (GOOD_RULE.replace('["phone"]', '["shoe_size"]'), "unknown field(s) ['shoe_size']"),
    (GOOD_RULE.replace('["phone"]', '"phone"'), "fields must be a list"),
    (GOOD_RULE.replace('["phone"]', "[]"), "at least one field"),
    (GOOD_RULE.replace("0.9", "1.5"), "confidence must be a number in (0, 1]"),
    (GOOD_RULE.replace("0.9", "true"), "confidence must be a number in (0, 1]"),
    (GOOD_RULE + "colour = 1\n", "unknown key(s) ['colour']"),
    (GOOD_RULE + "max_group_size = 1\n", "max_group_size"),
    (GOOD_RULE + 'vetoes = ["email"]\n', "unknown field(s) ['email'] in vetoes"),
    (GOOD_RULE + "threshold = 0.9\n", "belong to fuzzy rules"),
    (GOOD_RULE + "block_prefix = 2\n", "block_prefix belongs to fuzzy rules"),
    (GOOD_RULE.replace('"exact"', '"fuzzy"'), "needs 'similar'"),
    (GOOD_RULE.replace('"exact"', '"fuzzy"') + 'similar = "name"\n', "threshold must be a number"),
    (GOOD_RULE.replace('["phone"]', '["customer_ref", "phone"]'), "customer_ref is matched on its own"),
    (GOOD_RULE + GOOD_RULE, "duplicate rule name(s) ['phone']"),
])
def test_bad_rule_files_are_refused_with_the_problem_named(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_rules(text, origin="my-rules.toml")
    assert problem in caught.value.message
    assert caught.value.message.startswith("my-rules.toml")


def test_missing_rule_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read match rules"):
        load_rules(tmp_path / "nope.toml")


def test_rule_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(GOOD_RULE)
    rules = load_rules(path)
    assert [r.name for r in rules.rules] == ["phone"] and rules.rules[0].max_group_size == 20


# --------------------------------------------------------------------------
# Resolving: each rule
# --------------------------------------------------------------------------


def frame(*rows: dict) -> pd.DataFrame:
    """Records from dicts; absent columns are missing."""
    return pd.DataFrame(list(rows), columns=list(INPUT_COLUMNS)).astype("str")


def outcome(records: pd.DataFrame, rules: MatchRules | None = None) -> pd.DataFrame:
    return resolve(records, rules).records.set_index("source_key")


def same_cluster(out: pd.DataFrame, *keys: str) -> bool:
    return out.loc[list(keys), "cluster_id"].nunique() == 1


def test_national_id_links_records_whatever_else_differs() -> None:
    out = outcome(frame(
        {"source": "BILLING", "source_key": "B1", "national_id": "1234.56.782", "first_name": "Jan",
         "last_name": "Jansen", "birth_date": "1980-05-17"},
        {"source": "CRM", "source_key": "C1", "national_id": "123456782", "first_name": "Johannes",
         "last_name": "Janssen", "birth_date": "17-05-1981"},
    ))
    assert same_cluster(out, "B1", "C1")
    assert out.loc["B1", "matched_by"] == "seed" and out.loc["B1", "confidence"] == 1.0
    assert out.loc["C1", "matched_by"] == "national_id" and out.loc["C1", "cluster_id"] == "BILLING:B1"


def test_customer_ref_links_bare_and_qualified_references() -> None:
    out = outcome(frame(
        {"source": "BILLING", "source_key": "B1", "first_name": "Jan", "last_name": "Jansen"},
        {"source": "CRM", "source_key": "C1", "customer_ref": "b1 ", "first_name": "J.", "last_name": "Jansen"},
        {"source": "SERVICE_DESK", "source_key": "S1", "customer_ref": "crm:C1", "last_name": "Jansen"},
        {"source": "BILLING", "source_key": "B2", "first_name": "Piet", "last_name": "Bakker"},
    ))
    assert same_cluster(out, "B1", "C1", "S1")
    assert out.loc["C1", "matched_by"] == "customer_ref" and out.loc["C1", "confidence"] == 0.98
    assert out.loc["B2", "cluster_id"] == "BILLING:B2"


def test_customer_ref_to_a_missing_key_links_the_records_citing_it() -> None:
    out = outcome(frame(
        {"source": "CRM", "source_key": "C1", "customer_ref": "B999"},
        {"source": "SERVICE_DESK", "source_key": "S1", "customer_ref": "B999"},
        {"source": "SERVICE_DESK", "source_key": "S2", "customer_ref": "B998"},
    ))
    assert same_cluster(out, "C1", "S1") and not same_cluster(out, "C1", "S2")


def test_bare_customer_ref_used_by_two_sources_is_ambiguous_and_ignored() -> None:
    out = outcome(frame(
        {"source": "BILLING", "source_key": "7", "first_name": "Jan", "last_name": "Jansen"},
        {"source": "CRM", "source_key": "7", "first_name": "Piet", "last_name": "Bakker"},
        {"source": "SERVICE_DESK", "source_key": "S1", "customer_ref": "7"},
        {"source": "SERVICE_DESK", "source_key": "S2", "customer_ref": "BILLING:7"},
    ))
    assert out.set_index("source").loc["SERVICE_DESK"].set_index("cluster_id").index.tolist() == [
        "SERVICE_DESK:S1", "BILLING:7"]


def test_phone_links_format_variants_of_one_number() -> None:
    out = outcome(frame(
        {"source": "BILLING", "source_key": "B1", "first_name": "Sanne", "last_name": "de Vries",
         "phone": "06-12345678"},
        {"source": "SERVICE_DESK", "source_key": "S1", "first_name": "SANNE", "last_name": "De Vries",
         "phone": "+31 (0)6 1234 5678"},
    ))
    assert same_cluster(out, "B1", "S1") and out.loc["S1", "matched_by"] == "phone"


def test_email_links_case_variants() -> None:
    out = outcome(frame(
        {"source": "BILLING", "source_key": "B1", "first_name": "Sanne", "last_name": "de Vries",
         "email": "Sanne.deVries@Example.com"},
        {"source": "CRM", "source_key": "C1", "first_name": "Sanne", "last_name": "de Vries",
         "email": " sanne.devries@example.com"},
    ))
    assert same_cluster(out, "B1", "C1") and out.loc["C1", "matched_by"] == "email"


def test_name_and_birth_date_links_a_typo() -> None:
    out = outcome(frame(
        {"source": "BILLING", "source_key": "B1", "first_name": "Marieke", "last_name": "Hoekstra",
         "birth_date": "1975-03-02"},
        {"source": "CRM", "source_key": "C1", "first_name": "Mareike", "last_name": "Hoekstra",
         "birth_date": "02-03-1975"},
        {"source": "CRM", "source_key": "C2", "first_name": "Marieke", "last_name": "Hoekstra",
         "birth_date": "03-02-1975"},
    ))
    assert same_cluster(out, "B1", "C1") and out.loc["C1", "matched_by"] == "name_birth_date"
    assert 0.85 * 0.9 <= out.loc["C1", "confidence"] < 0.85
    assert not same_cluster(out, "B1", "C2")  # another birth date: another person


def test_name_and_address_links_across_spellings_of_one_address() -> None:
    out = outcome(frame(
        {"source": "BILLING", "source_key": "B1", "first_name": "Gerrit", "last_name": "van Dijk",
         "postal_code": "3511 AB", "house_number": "12a"},
        {"source": "SERVICE_DESK", "source_key": "S1", "first_name": "Gerit", "last_name": "van Dijk",
         "postal_code": "3511ab", "house_number": "12-A"},
        {"source": "SERVICE_DESK", "source_key": "S2", "first_name": "Wilma", "last_name": "van Dijk",
         "postal_code": "3511ab", "house_number": "12-A"},
    ))
    assert same_cluster(out, "B1", "S1") and out.loc["S1", "matched_by"] == "name_address"
    assert not same_cluster(out, "B1", "S2")  # the partner at the same address


def test_businesses_match_on_company_name_and_address() -> None:
    out = outcome(frame(
        {"source": "BILLING", "source_key": "B1", "company_name": "Delta Logistiek B.V.",
         "postal_code": "1011 AA", "house_number": "1"},
        {"source": "CRM", "source_key": "C1", "company_name": "DELTA LOGISTIEK BV",
         "postal_code": "1011AA", "house_number": "1"},
    ))
    assert same_cluster(out, "B1", "C1")


# --------------------------------------------------------------------------
# Over-merge guards
# --------------------------------------------------------------------------


def test_shared_family_phone_does_not_merge_people_with_different_birth_dates() -> None:
    res = resolve(frame(
        {"source": "BILLING", "source_key": "B1", "first_name": "Jan", "last_name": "Jansen",
         "birth_date": "1960-01-01", "phone": "020-1234567", "email": "fam.jansen@example.com"},
        {"source": "CRM", "source_key": "C1", "first_name": "Jan", "last_name": "Jansen",
         "birth_date": "1990-06-30", "phone": "+31 20 123 4567", "email": "fam.jansen@example.com"},
    ))
    assert res.clusters == 2
    assert res.refused["phone: different birth_date"] == 1
    assert res.refused["email: different birth_date"] == 1


def test_shared_phone_does_not_merge_different_national_ids() -> None:
    res = resolve(frame(
        {"source": "BILLING", "source_key": "B1", "national_id": "111111110", "first_name": "Jan",
         "last_name": "Jansen", "phone": "0612345678"},
        {"source": "BILLING", "source_key": "B2", "national_id": "222222220", "first_name": "Jan",
         "last_name": "Jansen", "phone": "0612345678"},
    ))
    assert res.clusters == 2 and res.refused["phone: different national_id"] == 1


def test_twins_sharing_phone_and_birth_date_are_kept_apart_by_their_first_names() -> None:
    res = resolve(frame(
        {"source": "BILLING", "source_key": "B1", "first_name": "Lars", "last_name": "Jansen",
         "birth_date": "2001-04-04", "phone": "020-1234567"},
        {"source": "CRM", "source_key": "C1", "first_name": "Lisa", "last_name": "Jansen",
         "birth_date": "04-04-2001", "phone": "020-1234567"},
    ))
    assert res.clusters == 2 and res.refused["phone: names differ"] == 1


@pytest.mark.parametrize("sharing, linked", [(5, True), (6, False)])
def test_a_phone_on_too_many_records_is_no_evidence(sharing: int, linked: bool) -> None:
    records = frame(*({"source": "SERVICE_DESK", "source_key": f"S{i}", "first_name": "Anna",
                       "last_name": "Smit", "phone": "020 000 0000"} for i in range(sharing)))
    res = resolve(records)
    assert (res.clusters == 1) is linked
    assert ("phone: value shared by more than 5 records" in res.refused) is not linked


def test_clusters_with_different_birth_dates_are_not_joined_through_a_record_without_one() -> None:
    res = resolve(frame(
        {"source": "BILLING", "source_key": "B1", "first_name": "Eva", "last_name": "Bos",
         "birth_date": "1970-01-01", "phone": "0611111111"},
        {"source": "CRM", "source_key": "C1", "first_name": "Eva", "last_name": "Bos",
         "phone": "0611111111", "email": "eva.bos@example.com"},
        {"source": "SERVICE_DESK", "source_key": "S1", "first_name": "Eva", "last_name": "Bos",
         "birth_date": "1999-09-09", "email": "eva.bos@example.com"},
    ))
    out = res.records.set_index("source_key")
    assert same_cluster(out, "B1", "C1") and not same_cluster(out, "C1", "S1")
    assert res.refused["email: clusters disagree"] == 1


def test_rules_without_a_guard_can_be_configured() -> None:
    rules = parse_rules(GOOD_RULE)  # phone alone, no vetoes, no name check
    res = resolve(frame(
        {"source": "A", "source_key": "1", "first_name": "Jan", "birth_date": "1960-01-01", "phone": "0612345678"},
        {"source": "A", "source_key": "2", "first_name": "Piet", "birth_date": "1990-01-01", "phone": "0612345678"},
    ), rules)
    assert res.clusters == 1 and res.merges == {"phone": 1}


# --------------------------------------------------------------------------
# Input, output and determinism
# --------------------------------------------------------------------------


def test_output_has_one_row_per_record_in_input_order_with_its_index() -> None:
    records = frame(
        {"source": "CRM", "source_key": "C9", "phone": "0612345678", "first_name": "A", "last_name": "B"},
        {"source": "BILLING", "source_key": "B5"},
        {"source": "BILLING", "source_key": "B7", "phone": "06 1234 5678", "first_name": "A", "last_name": "B"},
    )
    records.index = [30, 10, 20]
    out = resolve(records).records
    assert list(out.columns) == ["source", "source_key", "cluster_id", "matched_by", "confidence"]
    assert list(out.index) == [30, 10, 20] and out["source_key"].tolist() == ["C9", "B5", "B7"]
    assert out["cluster_id"].tolist() == ["BILLING:B7", "BILLING:B5", "BILLING:B7"]
    assert out["matched_by"].tolist() == ["phone", "seed", "seed"]
    assert out["confidence"].between(0, 1).all()


@pytest.mark.parametrize("records, problem", [
    (pd.DataFrame({"source_key": ["1"]}), "'source' column"),
    (pd.DataFrame({"source": ["A"]}), "'source_key' column"),
    (pd.DataFrame({"source": ["A", "A"], "source_key": ["1", " 1"]}), "share a (source, source_key)"),
    (pd.DataFrame({"source": ["A", None], "source_key": ["1", "2"]}), "no source"),
    (pd.DataFrame({"source": ["A", "A"], "source_key": ["1", ""]}), "no source_key"),
])
def test_bad_input_is_refused(records: pd.DataFrame, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem.replace("(", r"\(").replace(")", r"\)")):
        resolve(records)


def test_empty_input_gives_empty_output() -> None:
    res = resolve(frame())
    assert len(res.records) == 0 and res.clusters == 0


@pytest.fixture(scope="module")
def generated():  # type: ignore[no-untyped-def]
    data = generate_sources(5000, seed=11)
    return data, resolve(data.records)


def test_resolution_does_not_depend_on_record_order(generated) -> None:  # type: ignore[no-untyped-def]
    data, res = generated
    shuffled = data.records.sample(frac=1.0, random_state=5)
    again = resolve(shuffled).records.loc[res.records.index]
    pd.testing.assert_frame_equal(again, res.records)


def test_cluster_id_is_the_smallest_source_and_key_of_the_cluster(generated) -> None:  # type: ignore[no-untyped-def]
    _, res = generated
    out = res.records
    smallest = (out.sort_values(["source", "source_key"]).groupby("cluster_id")[["source", "source_key"]]
                .first())
    assert (smallest["source"] + ":" + smallest["source_key"]).tolist() == smallest.index.tolist()
    seeds = out[out["matched_by"] == "seed"]
    assert len(seeds) == res.clusters and (seeds["confidence"] == 1.0).all()
    assert ((seeds["source"] + ":" + seeds["source_key"]) == seeds["cluster_id"]).all()


# --------------------------------------------------------------------------
# Quality on generated data
# --------------------------------------------------------------------------


def test_pair_quality_counts_pairs() -> None:
    q = pair_quality(["a", "a", "a", "b"], [1, 1, 2, 2])
    assert (q.found, q.correct, q.true) == (3, 1, 2)
    assert q.precision == pytest.approx(1 / 3) and q.recall == pytest.approx(0.5)
    assert pair_quality(["a", "b"], [1, 2]).precision == 1.0


def test_precision_and_recall_on_generated_sources(generated) -> None:  # type: ignore[no-untyped-def]
    data, res = generated
    quality = pair_quality(res.records["cluster_id"], data.truth["true_person_id"])
    assert quality.precision >= 0.99, quality
    assert quality.recall >= 0.95, quality
    assert set(res.records["matched_by"]) == {"seed", "national_id", "customer_ref", "phone", "email",
                                              "name_birth_date", "name_address"}


def test_traps_are_mostly_not_merged(generated) -> None:  # type: ignore[no-untyped-def]
    data, res = generated
    both = pd.concat([data.truth, res.records[["cluster_id"]]], axis=1)
    people = both.groupby("true_person_id").agg(cluster=("cluster_id", "first"), trap=("trap", "first"),
                                                 household=("household_id", "first"))
    for trap in ("twin", "namesake"):
        trapped = people[people["trap"] == trap]
        assert len(trapped) >= 10, trap
    # different people of one household (shared phone, e-mail, address) rarely share a cluster
    housemates = people.groupby("household").filter(lambda g: len(g) > 1)
    merged = housemates.groupby("household")["cluster"].nunique() < housemates.groupby("household").size()
    assert merged.mean() < 0.02


# --------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------


def test_generator_is_deterministic_and_seeded() -> None:
    a, b, c = generate_sources(300, seed=1), generate_sources(300, seed=1), generate_sources(300, seed=2)
    pd.testing.assert_frame_equal(a.records, b.records)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert not a.records.equals(c.records)


def test_generator_shape_and_truth(generated) -> None:  # type: ignore[no-untyped-def]
    data, _ = generated
    records, truth = data.records, data.truth
    assert list(records.columns) == list(INPUT_COLUMNS)
    assert set(records["source"]) == set(SOURCES)
    assert not records.duplicated(["source", "source_key"]).any()
    assert (truth[["source", "source_key"]].to_numpy() == records[["source", "source_key"]].to_numpy()).all()
    assert truth["true_person_id"].nunique() == len(data.persons) == 5000
    systems = truth.groupby("true_person_id")["source"].nunique()
    assert systems.between(1, 3).all() and (systems == 3).any()
    assert truth.duplicated(["true_person_id", "source"]).any()  # planted duplicates in one system
    assert 1.7 < len(records) / 5000 < 2.05
    assert abs(persons_for_records(len(records)) - 5000) < 150
    assert 0.04 < data.persons["business"].mean() < 0.1


def test_generator_plants_variants_and_conflicts(generated) -> None:  # type: ignore[no-untyped-def]
    data, _ = generated
    r = data.records
    assert r["phone"].str.startswith("+31 ").any() and r["phone"].str.startswith("06-").any()
    assert r["phone"].str.startswith("0031").any() and r["phone"].str.startswith("(0").any()
    assert r["email"].str.contains("[A-Z]", regex=True).any()
    assert r["birth_date"].str.fullmatch(r"\d\d-\d\d-\d{4}").any()
    assert r["national_id"].isna().any() and r["postal_code"].str.contains(" ").any()
    assert r["customer_ref"].str.startswith("BILLING:").any()
    # one person, several phone numbers (new phone) and addresses (moved)
    both = pd.concat([normalise_records(r)[["phone", "address"]], data.truth["true_person_id"]], axis=1)
    assert (both.groupby("true_person_id")["phone"].nunique() > 1).any()
    assert (both.groupby("true_person_id")["address"].nunique() > 1).any()
    # a household phone shared by different people
    shared = both.dropna(subset=["phone"]).groupby("phone")["true_person_id"].nunique()
    assert (shared > 1).any()


def test_generator_refuses_bad_sizes() -> None:
    for bad in (0, -1, 10**9, 2.5, True):
        with pytest.raises(InvalidInput):
            generate_sources(bad, seed=1)  # type: ignore[arg-type]


def test_generated_values_round_trip_through_the_normalisers(generated) -> None:  # type: ignore[no-untyped-def]
    data, _ = generated
    written = data.records["phone"].dropna()
    assert normalise_phones(written).notna().mean() > 0.99  # every format the generator writes is read back
    assert np.isclose(normalise_birth_dates(data.records["birth_date"].dropna()).notna().mean(), 1.0)
