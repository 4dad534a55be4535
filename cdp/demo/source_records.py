"""Seeded generator of person records from three source systems, with planted duplicates and the truth.

``generate_sources(persons, seed)`` invents ``persons`` true customers (people
and some businesses) and writes the records BILLING, CRM and SERVICE_DESK hold
about them, in the columns :func:`cdp.identity.resolution.resolve` reads. The truth says
which true person every record is about, so identity resolution can be scored
(:func:`cdp.identity.resolution.pair_quality`). The same ``persons`` and ``seed`` always
give the same data; everything is vectorised with numpy and pandas string
kernels (1,000,000 records take well under a minute on two cores).

What is planted (rates are per record unless stated):

* Each person is in 1-3 systems (billing 85%, CRM 55%, service desk 35%; at
  least one) and sometimes twice in one system (3-8%, a duplicate account).
* People live in households of 1-4 sharing an address; half the households
  of two or more share a landline, a quarter a family e-mail address, used in
  some of their records instead of their own: different people, same phone.
* Twins (6% of households of three or more): same birth date, last name,
  address and household phone, different first names and national ids.
* Namesakes (2% of people): the first and last name of another person, with
  their own birth date and address.
* 7% of customers are businesses: company name (legal form written ``B.V.``,
  ``BV`` or left out), chamber of commerce number, office phone, no birth date.
* Variants of one value: phone formats (``06-12345678``, ``+31 6 1234 5678``,
  ``0031612345678``, ``(06) 1234 5678``, ...), upper/lower case names and
  e-mail addresses, postal codes with and without space, house number
  additions (``12A``, ``12 a``, ``12-A``), date formats per system.
* Errors and conflicts: typos in names (swapped, dropped, doubled or wrong
  letter: 2% billing, 4% CRM, 8% service desk), missing fields (national id
  mostly only in billing), an old address in some records of the 12% of
  households that moved, an old mobile number for 8% of people, day and month
  swapped in 0.5% of CRM and service-desk birth dates, a service-desk
  placeholder phone and e-mail shared by hundreds of walk-in records, and
  cross-references (``customer_ref``) that are bare keys, qualified keys
  (``BILLING:B10000042``), dangling (a closed account) or, rarely, wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdp.demo.telecom import (
    CITIES,
    COMPANY_SECTORS,
    COMPANY_WORDS,
    FEMALE_NAMES,
    LAST_NAMES,
    MALE_NAMES,
    POSTCODE_LETTERS,
    STREETS,
)
from cdp.errors import InvalidInput
from cdp.identity.resolution import INPUT_COLUMNS, normalise_names

__all__ = ["RECORDS_PER_PERSON", "SOURCES", "SourceData", "generate_sources", "persons_for_records"]

SOURCES = ("BILLING", "CRM", "SERVICE_DESK")
KEY_PREFIX = {"BILLING": "B", "CRM": "CRM-", "SERVICE_DESK": "SD"}
KEY_BASE = {"BILLING": 10_000_000, "CRM": 1_000_000, "SERVICE_DESK": 5_000_000}
MAX_PERSONS = 5_000_000
RECORDS_PER_PERSON = 1.875
"""Average records per true person (measured over 100,000 persons; varies by under 1%)."""

MORE_FEMALE_NAMES = (
    "Zoë", "Chloë", "Noëlle", "Renée", "Inès", "Mirjam", "Ayşe", "Özlem", "Agnieszka", "Katarzyna",
    "Inês", "Sofía", "Hélène", "Lieke", "Roos", "Merel", "Floor", "Isabel", "Naomi", "Amira",
    "Hanna", "Elif", "Zeynep", "Marta", "Claudia", "Françoise", "Aoife", "Demi", "Romy", "Jasmijn",
)
MORE_MALE_NAMES = (
    "Noël", "André", "René", "José", "João", "Jürgen", "Søren", "Łukasz", "Piotr", "Mehmet",
    "Ömer", "Emre", "Said", "Karim", "Luuk", "Gijs", "Joris", "Wouter", "Arjen", "Pieter",
    "Maarten", "Hendrik", "Thomas", "Julien", "François", "Matteo", "Giovanni", "Diego", "Sven", "Olaf",
)
MORE_LAST_NAMES = (
    "Müller", "Schmidt", "Schäfer", "Dubois", "Lefèvre", "Claes", "Goossens", "Wouters", "Nowak",
    "Kowalski", "Wiśniewski", "Öztürk", "Çelik", "Şahin", "Demir", "Silva", "Santos", "Ferreira",
    "Rossi", "García", "Fernández", "O'Brien", "Nielsen", "Jørgensen", "van 't Hof", "ten Brink",
    "Verbeek", "Kuipers", "Bosman", "Hermans", "Schipper", "Ramdin", "Boateng", "Nguyen", "Tan",
    "Yıldız", "Bouzid", "Benali", "Kramer", "Postma", "Zwart", "Timmermans", "Groen", "Sanders",
    "Koning", "van Wijk", "Kuiper", "Veenstra", "Hoogland", "Lammers", "Wijnands", "Kloosterman",
)
AREA_CODES = {
    "Amsterdam": "20", "Rotterdam": "10", "Den Haag": "70", "Utrecht": "30", "Eindhoven": "40",
    "Groningen": "50", "Tilburg": "13", "Almere": "36", "Breda": "76", "Nijmegen": "24",
    "Apeldoorn": "55", "Arnhem": "26", "Haarlem": "23", "Enschede": "53", "Amersfoort": "33",
    "Zaandam": "75", "'s-Hertogenbosch": "73", "Hoofddorp": "23", "Zwolle": "38", "Leiden": "71",
    "Maastricht": "43", "Dordrecht": "78", "Zoetermeer": "79", "Ede": "318", "Alphen aan den Rijn": "172",
    "Alkmaar": "72", "Emmen": "591", "Delft": "15", "Venlo": "77", "Deventer": "570", "Leeuwarden": "58",
}
"""Dutch landline area codes (without the trunk 0) of the cities of ``cdp.demo.telecom.CITIES``."""
LEGAL_FORMS = (" B.V.", " BV", " V.O.F.", "")
PERSONAL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example", "post.example")

PLACEHOLDER_PHONE = "020 000 0000"
PLACEHOLDER_EMAIL = "geen@example.com"


@dataclass
class SourceData:
    """Generated source records and the truth about them.

    ``records``: the input of :func:`cdp.identity.resolution.resolve` (columns
    :data:`cdp.identity.resolution.INPUT_COLUMNS`, text with missing values). ``truth``:
    one row per record, same order: ``source``, ``source_key``,
    ``true_person_id``, ``household_id``, ``business`` (bool) and ``trap``
    (``"twin"``, ``"namesake"`` or ``""``). ``persons``: one row per true
    person with the clean values the records were derived from.
    """

    records: pd.DataFrame
    truth: pd.DataFrame
    persons: pd.DataFrame

    def __repr__(self) -> str:
        counts = self.records["source"].value_counts().to_dict()
        return f"SourceData(persons={len(self.persons)}, records={len(self.records)}, {counts})"


def persons_for_records(records: int) -> int:
    """How many persons to generate for about ``records`` source records."""
    return max(1, round(records / RECORDS_PER_PERSON))


def generate_sources(persons: int, seed: int = 7) -> SourceData:
    """Source records from BILLING, CRM and SERVICE_DESK about ``persons`` true customers.

    Deterministic for the same ``persons`` and ``seed``. Raises ``InvalidInput``
    when ``persons`` is not between 1 and :data:`MAX_PERSONS`.
    """
    if not isinstance(persons, int) or isinstance(persons, bool) or not 1 <= persons <= MAX_PERSONS:
        raise InvalidInput(f"persons must be an integer from 1 to {MAX_PERSONS:,}", field="persons")
    rng = np.random.default_rng(seed)
    people = _people(persons, rng)
    memberships = _memberships(people, rng)
    records, truth = _records(people, memberships, rng)
    return SourceData(records=records, truth=truth, persons=people)


# --------------------------------------------------------------------------
# True persons
# --------------------------------------------------------------------------


def _text(values: np.ndarray | list[str]) -> pd.Series:
    """A pandas string Series (Arrow-backed) of ``values``."""
    return pd.Series(np.asarray(values, dtype=object), dtype="str")


def _unique_numbers(n: int, low: int, span: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct integers in [low, low + span), scattered by an affine permutation."""
    multiplier = 1_000_003  # prime, coprime with the spans used here (products of 2, 3 and 5)
    offset = int(rng.integers(0, span))
    return low + (np.arange(n, dtype=np.int64) * multiplier + offset) % span


def _digits(values: np.ndarray, width: int) -> pd.Series:
    """Integers as zero-padded text of ``width`` digits."""
    return _text(values.astype(str)).str.zfill(width)


def _households(consumers: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Household number and rank in the household (0 = first adult) of each consumer."""
    sizes = rng.choice([1, 2, 3, 4], size=consumers, p=[0.45, 0.33, 0.13, 0.09])
    ends = np.cumsum(sizes)
    sizes = sizes[: int(np.searchsorted(ends, consumers)) + 1]
    household = np.repeat(np.arange(len(sizes)), sizes)[:consumers]
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    rank = np.arange(consumers) - starts[household]
    return household, rank


def _people(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """The true persons: identity, household, contact data and the traps between them."""
    business = rng.random(n) < 0.07
    consumers = np.flatnonzero(~business)
    household = np.empty(n, dtype=np.int64)
    rank = np.zeros(n, dtype=np.int64)
    h, r = _households(len(consumers), rng)
    household[consumers], rank[consumers] = h, r
    household[business] = h.max(initial=-1) + 1 + np.arange(business.sum())
    head = pd.Series(np.arange(n)).groupby(household).transform("first").to_numpy()
    size = np.bincount(household)[household]

    female = np.array(FEMALE_NAMES + MORE_FEMALE_NAMES, dtype=object)
    male = np.array(MALE_NAMES + MORE_MALE_NAMES, dtype=object)
    last_names = np.array(LAST_NAMES + MORE_LAST_NAMES, dtype=object)
    is_female = rng.random(n) < 0.5
    first = np.where(is_female, female[rng.integers(0, len(female), n)], male[rng.integers(0, len(male), n)])
    last = last_names[rng.integers(0, len(last_names), n)]
    own_name = (rank == 1) & (rng.random(n) < 0.35)
    last = np.where((rank > 0) & ~own_name, last[head], last)

    start = np.datetime64("1940-01-01")
    head_days = rng.integers(0, (np.datetime64("2004-12-31") - start).astype(int), n)
    born = start + head_days[head]
    born = np.where(rank == 1, born + rng.normal(0, 4 * 365, n).astype(int), born)
    born = np.where(rank >= 2, born + rng.integers(22 * 365, 38 * 365, n), born)
    youngest = np.datetime64("2007-12-31")  # customers are adults
    too_young = born > youngest
    born = np.where(too_young, youngest - rng.integers(0, 12 * 365, n), born).astype("datetime64[D]")
    trap = np.full(n, "", dtype=object)
    twin = (rank == 3) & (rng.random(n) < 0.12)  # ~6% of households of three or more
    born[twin] = born[np.flatnonzero(twin) - 1]
    same_first = twin & (first == first[np.maximum(np.arange(n) - 1, 0)])
    first[same_first] = np.where(is_female[same_first], female[0], male[0])
    first[same_first & (first == first[np.maximum(np.arange(n) - 1, 0)])] = female[1]
    trap[twin] = "twin"
    trap[np.flatnonzero(twin) - 1] = "twin"

    namesake = ~business & (rng.random(n) < 0.02)
    model = rng.choice(consumers, size=int(namesake.sum()))
    first[namesake], last[namesake] = first[model], last[model]
    trap[namesake & (trap == "")] = "namesake"

    company = _company_names(int(business.sum()), rng)
    national = np.where(business, _digits(_unique_numbers(n, 10_000_000, 90_000_000, rng), 8),
                        _digits(_unique_numbers(n, 100_000_000, 900_000_000, rng), 9))
    # numpy's stubs leave None out of ArrayLike; in an object array it is the missing value
    first = np.where(business, None, first)  # type: ignore[call-overload]
    last = np.where(business, None, last)  # type: ignore[call-overload]
    company_name = np.full(n, None, dtype=object)
    company_name[business] = company
    born_text = pd.Series(born).dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    born_text[business] = None

    people = pd.DataFrame({
        "person_id": np.arange(n, dtype=np.int64),
        "household_id": household,
        "household_rank": rank,
        "household_size": size,
        "business": business,
        "trap": trap,
        "first_name": _text(first),
        "last_name": _text(last),
        "company_name": _text(company_name),
        "birth_date": _text(born_text),
        "national_id": _text(national),
    })
    _add_addresses(people, rng)
    _add_phones(people, rng)
    _add_emails(people, rng)
    return people


def _company_names(n: int, rng: np.random.Generator) -> np.ndarray:
    """Business names such as "Delta Logistiek", "Jansen Bouw" or "Rijn Amstel Advies"."""
    words = np.array(COMPANY_WORDS, dtype=object)
    sectors = np.array(COMPANY_SECTORS, dtype=object)
    surnames = np.array(LAST_NAMES + MORE_LAST_NAMES, dtype=object)
    style = rng.integers(0, 3, n)
    w1, w2 = words[rng.integers(0, len(words), n)], words[rng.integers(0, len(words), n)]
    sector = sectors[rng.integers(0, len(sectors), n)]
    surname = surnames[rng.integers(0, len(surnames), n)]
    capitalised = _text(surname).str.slice(0, 1).str.upper() + _text(surname).str.slice(1)
    return np.select([style == 0, style == 1], [w1 + " " + sector, capitalised.to_numpy(dtype=object) + " " + sector],
                     w1 + " " + w2 + " " + sector)


def _add_addresses(people: pd.DataFrame, rng: np.random.Generator) -> None:
    """Household addresses (current and, for 12% of households, the previous one)."""
    households = int(people["household_id"].max()) + 1
    weights = np.array([c[1] for c in CITIES], dtype=float)

    def addresses(tag: str) -> None:
        city = rng.choice(len(CITIES), size=households, p=weights / weights.sum())
        low = np.array([c[2] for c in CITIES])[city]
        high = np.array([c[3] for c in CITIES])[city]
        digits = low + (rng.random(households) * (high - low + 1)).astype(int)
        letters = np.array(POSTCODE_LETTERS, dtype=object)
        postcode = (_text(digits.astype(str)) + " " + _text(letters[rng.integers(0, len(letters), households)])
                    + _text(letters[rng.integers(0, len(letters), households)]))
        number = rng.integers(1, 300, households).astype(str)
        addition = np.array(["", "", "", "", "", "", "", "A", "B", "-1", "-2", " bis"], dtype=object)
        number = _text(number) + _text(addition[rng.integers(0, len(addition), households)])
        street = np.array(STREETS, dtype=object)[rng.integers(0, len(STREETS), households)]
        by_household = people["household_id"].to_numpy()
        people[f"{tag}postal_code"] = postcode.to_numpy(dtype=object)[by_household]
        people[f"{tag}house_number"] = number.to_numpy(dtype=object)[by_household]
        people[f"{tag}street"] = street[by_household]
        people[f"{tag}city"] = np.array([c[0] for c in CITIES], dtype=object)[city][by_household]
        people[f"{tag}area_code"] = np.array([AREA_CODES.get(c[0], "88") for c in CITIES],
                                              dtype=object)[city][by_household]

    addresses("")
    addresses("old_")
    moved = rng.random(households) < 0.12
    people["moved"] = moved[people["household_id"].to_numpy()]
    for column in ("postal_code", "house_number", "street", "city"):
        people[column] = people[column].astype("str")
        people[f"old_{column}"] = people[f"old_{column}"].astype("str").where(people["moved"], None)


def _add_phones(people: pd.DataFrame, rng: np.random.Generator) -> None:
    """Personal mobiles (8% with an older number too), household landlines, business lines.

    Numbers are national significant numbers (9 digits, no trunk 0).
    """
    n = len(people)
    mobile = "6" + _digits(_unique_numbers(n, 10_000_000, 90_000_000, rng), 8)
    old = "6" + _digits(_unique_numbers(n, 10_000_000, 90_000_000, rng) + 0, 8).str[::-1]
    people["mobile"] = mobile.where(~people["business"].to_numpy(), None).to_numpy(dtype=object)
    people["old_mobile"] = old.where((rng.random(n) < 0.08) & ~people["business"].to_numpy(), None
                                     ).to_numpy(dtype=object)
    households = int(people["household_id"].max()) + 1
    area = people["area_code"].astype("str")
    subscriber = _digits(_unique_numbers(households, 0, 10**8, rng), 8)
    by_household = people["household_id"].to_numpy()
    line = (area + subscriber.to_numpy(dtype=object)[by_household]).str.slice(0, 9)
    size = people["household_size"].to_numpy()
    has_line = rng.random(households)[by_household] < np.where(size > 1, 0.5, 0.1)
    has_line |= people["business"].to_numpy()
    people["landline"] = line.where(has_line, None).to_numpy(dtype=object)
    for column in ("mobile", "old_mobile", "landline"):
        people[column] = people[column].astype("str")


_ASCII_LETTERS = str.maketrans({"ø": "o", "ß": "ss", "ł": "l", "ı": "i", "æ": "ae", "đ": "d"})


def _mailbox(names: pd.Series) -> pd.Series:
    """Names as they appear in e-mail addresses: ASCII lower case without spaces."""
    return normalise_names(names).str.translate(_ASCII_LETTERS).str.replace(" ", "", regex=False)


def _add_emails(people: pd.DataFrame, rng: np.random.Generator) -> None:
    """Personal e-mail addresses (90% of people), family addresses, business addresses."""
    n = len(people)
    first = _mailbox(people["first_name"])
    last = _mailbox(people["last_name"])
    style = rng.integers(0, 4, n)
    local = np.select(
        [style == 0, style == 1, style == 2],
        [(first + "." + last).to_numpy(dtype=object), (first.str.slice(0, 1) + last).to_numpy(dtype=object),
         (first + last).to_numpy(dtype=object)],
        (first + "_" + last).to_numpy(dtype=object))
    domain = np.array(PERSONAL_DOMAINS, dtype=object)[rng.integers(0, len(PERSONAL_DOMAINS), n)]
    address = _text(local) + "@" + _text(domain)
    clash = address.groupby(address).cumcount().to_numpy()
    address = address.where(clash == 0, _text(local) + (clash + 1).astype(str) + "@" + _text(domain))
    business = people["business"].to_numpy()
    company = _mailbox(people["company_name"])
    office = "info@" + company + ".example"
    again = office.groupby(office).cumcount()
    office = office.where(again == 0, "info@" + company + (again + 1).astype(str) + ".example")
    address = address.where(~business, office)
    people["email"] = address.where(business | (rng.random(n) < 0.9), None).astype("str")

    households = int(people["household_id"].max()) + 1
    by_household = people["household_id"].to_numpy()
    head_last = last.groupby(by_household).transform("first")
    family = "fam." + head_last + (by_household % 1000).astype(str) + "@" + _text(domain)
    shared = rng.random(households)[by_household] < 0.25
    shared &= people["household_size"].to_numpy() > 1
    people["family_email"] = family.where(shared, None).astype("str")


# --------------------------------------------------------------------------
# Source records
# --------------------------------------------------------------------------


def _memberships(people: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One row per source record to write: person, source and whether it is a duplicate."""
    n = len(people)
    business = people["business"].to_numpy()
    chances = {"BILLING": np.where(business, 0.95, 0.85), "CRM": np.where(business, 0.6, 0.55),
               "SERVICE_DESK": np.where(business, 0.3, 0.35)}
    member = {s: rng.random(n) < p for s, p in chances.items()}
    member["BILLING"] |= ~(member["BILLING"] | member["CRM"] | member["SERVICE_DESK"])
    duplicate_rate = {"BILLING": 0.03, "CRM": 0.07, "SERVICE_DESK": 0.08}
    frames = []
    for source in SOURCES:
        who = np.flatnonzero(member[source])
        copies = 1 + (rng.random(len(who)) < duplicate_rate[source])
        person = np.repeat(who, copies)
        frames.append(pd.DataFrame({
            "person": person,
            "source": source,
            "duplicate": np.r_[False, person[1:] == person[:-1]] if len(person) else np.zeros(0, bool),
        }))
    rows = pd.concat(frames, ignore_index=True)
    for source in SOURCES:  # keys in a scattered order: key order says nothing about the person
        mine = (rows["source"] == source).to_numpy()
        numbers = KEY_BASE[source] + rng.permutation(int(mine.sum()))
        rows.loc[mine, "source_key"] = (KEY_PREFIX[source] + _text(numbers.astype(str))).to_numpy(dtype=object)
    return rows


def _pick(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    return rng.random(n) < p


def _records(people: pd.DataFrame, rows: pd.DataFrame,
             rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The records (resolve's input columns) and their truth, in a seeded shuffled order."""
    m = len(rows)
    who = rows["person"].to_numpy()
    src = rows["source"].to_numpy()
    billing, crm, desk = (src == "BILLING"), (src == "CRM"), (src == "SERVICE_DESK")
    person = people.iloc[who].reset_index(drop=True)
    business = person["business"].to_numpy()

    def rate(b: float, c: float, d: float) -> np.ndarray:
        return np.select([billing, crm], [b, c], d)

    def present(b: float, c: float, d: float) -> np.ndarray:
        return rng.random(m) < rate(b, c, d)

    out = pd.DataFrame({"source": _text(src), "source_key": rows["source_key"].astype("str")})

    national = person["national_id"].where(
        present(0.93, 0.35, 0.05) | (business & present(0.9, 0.6, 0.2)), None)
    dotted = national.str.slice(0, 4) + "." + national.str.slice(4, 6) + "." + national.str.slice(6)
    national = national.mask(_pick(rng, m, 0.1) & (national.str.len() == 9).fillna(False), dotted)
    out["national_id"] = national

    out["customer_ref"] = _customer_refs(rows, rng)

    first = person["first_name"].copy()
    last = person["last_name"].copy()
    company = _company_variants(person["company_name"], rng)
    typo_rate = rate(0.02, 0.04, 0.08)
    first = _typos(first, rng.random(m) < typo_rate, rng)
    last = _typos(last, rng.random(m) < typo_rate / 2, rng)
    company = _typos(company, rng.random(m) < typo_rate / 2, rng)
    case = rng.random(m)
    first = first.mask(case < 0.04, first.str.upper()).mask((case >= 0.04) & (case < 0.08), first.str.lower())
    last = last.mask(case < 0.04, last.str.upper())
    out["first_name"], out["last_name"], out["company_name"] = first, last, company

    out["birth_date"] = _birth_dates(person["birth_date"], billing, crm, present(0.9, 0.7, 0.35), rng)

    email = person["email"]
    family = person["family_email"]
    email = email.mask(family.notna() & _pick(rng, m, 0.5), family)
    email = _email_variants(email.where(present(0.7, 0.9, 0.65), None), rng)
    placeholder = desk & _pick(rng, m, 0.003)
    out["email"] = email.mask(placeholder, PLACEHOLDER_EMAIL)

    use_old = person["old_mobile"].notna() & _pick(rng, m, 0.4)
    number = person["mobile"].mask(use_old, person["old_mobile"])
    number = number.mask(person["landline"].notna() & (business | _pick(rng, m, 0.25)), person["landline"])
    phone = _phone_variants(number.where(present(0.85, 0.8, 0.95), None), rng)
    out["phone"] = phone.mask(placeholder & _pick(rng, m, 0.7), PLACEHOLDER_PHONE)

    old_address = person["moved"].to_numpy() & _pick(rng, m, 0.35)
    has_address = present(0.99, 0.85, 0.4)
    for column in ("street", "house_number", "postal_code", "city"):
        value = person[column].mask(old_address, person[f"old_{column}"])
        out[column] = value.where(has_address, None)
    out["postal_code"] = _postal_variants(out["postal_code"].where(_pick(rng, m, 0.97), None), rng)
    out["house_number"] = _house_number_variants(out["house_number"], rng)
    out["city"] = out["city"].mask(_pick(rng, m, 0.1), out["city"].str.upper())

    truth = pd.DataFrame({
        "source": out["source"], "source_key": out["source_key"],
        "true_person_id": who.astype(np.int64), "household_id": person["household_id"].to_numpy(),
        "business": business, "trap": person["trap"].astype("str"),
    })
    shuffle = rng.permutation(m)
    out = out.iloc[shuffle].reset_index(drop=True)[list(INPUT_COLUMNS)]
    for column in INPUT_COLUMNS:
        out[column] = out[column].astype("str")
    return out, truth.iloc[shuffle].reset_index(drop=True)


def _customer_refs(rows: pd.DataFrame, rng: np.random.Generator) -> pd.Series:
    """Cross-references: CRM and service-desk records citing the person's billing (or CRM) key.

    Mostly bare keys, 20% qualified (``BILLING:B10000042``); people without a
    billing record sometimes cite a closed account (a key nobody has); 0.1% of
    references point at a random other billing record.
    """
    m = len(rows)
    src = rows["source"].to_numpy()
    firsts = rows.drop_duplicates(["person", "source"]).set_index(["source", "person"])["source_key"]
    billing_key = firsts.xs("BILLING").reindex(rows["person"]).to_numpy(dtype=object)
    crm_key = firsts.xs("CRM").reindex(rows["person"]).to_numpy(dtype=object)
    closed = ("B" + _text((90_000_000 + rows["person"].to_numpy()).astype(str))).to_numpy(dtype=object)
    pick = rng.random(m)
    cites_billing = ((src == "CRM") & (pick < 0.55)) | ((src == "SERVICE_DESK") & (pick < 0.25))
    cites_crm = (src == "SERVICE_DESK") & (pick >= 0.25) & (pick < 0.40)
    # numpy's stubs read a None there as the one-argument form (indices), not an object value
    target: np.ndarray = np.where(cites_billing, billing_key, None)  # type: ignore[assignment]
    target = np.where(cites_crm, crm_key, target)
    lost = cites_billing & pd.isna(billing_key) & (rng.random(m) < 0.3)
    target = np.where(lost, closed, target)
    all_billing = rows.loc[src == "BILLING", "source_key"].to_numpy(dtype=object)
    wrong = pd.notna(target) & (rng.random(m) < 0.001) & (len(all_billing) > 0)
    if wrong.any():
        target[wrong] = all_billing[rng.integers(0, len(all_billing), int(wrong.sum()))]
    ref = _text(target)
    owner = np.where(pd.Series(target).astype("str").str.startswith("CRM").fillna(False), "CRM:", "BILLING:")
    return ref.mask(_pick(rng, m, 0.2), _text(owner) + ref)


_NEIGHBOURS = str.maketrans("abcdefghijklmnopqrstuvwxyz", "sqvsrgfjukjlnmilwtadyvqzth")


def _typo(text: str, kind: int, where: float) -> str:
    """``text`` with one typing error: swapped, dropped, doubled or mistyped letter."""
    if len(text) < 3:
        return text
    i = min(int(where * (len(text) - 1)), len(text) - 2)
    if kind == 0:
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    if kind == 1:
        return text[:i] + text[i + 1:]
    if kind == 2:
        return text[:i] + text[i] + text[i:]
    return text[:i] + text[i].translate(_NEIGHBOURS) + text[i + 1:]


def _typos(values: pd.Series, where: np.ndarray, rng: np.random.Generator) -> pd.Series:
    """``values`` with a typo in the rows of ``where`` (missing values stay missing)."""
    rows = np.flatnonzero(where & values.notna().to_numpy())
    if not len(rows):
        return values
    kinds = rng.integers(0, 4, len(rows))
    spots = rng.random(len(rows))
    changed = [_typo(t, k, s) for t, k, s in zip(values.iloc[rows].tolist(), kinds.tolist(), spots.tolist())]
    out = values.to_numpy(dtype=object, na_value=None).copy()
    out[rows] = changed
    return _text(out)


def _company_variants(names: pd.Series, rng: np.random.Generator) -> pd.Series:
    """Company names with their legal form written one of several ways (or not at all)."""
    forms = np.array(LEGAL_FORMS, dtype=object)
    chosen = forms[rng.integers(0, len(forms), len(names))]
    return (names + _text(chosen)).where(names.notna(), None)


def _birth_dates(iso: pd.Series, billing: np.ndarray, crm: np.ndarray, present: np.ndarray,
                 rng: np.random.Generator) -> pd.Series:
    """Birth dates as each system writes them: ISO (billing), 17-05-1980 (CRM), 17/05/1980 or ISO (desk).

    0.5% of CRM and service-desk dates have day and month swapped (where that
    is still a date).
    """
    y, mo, d = iso.str.slice(0, 4), iso.str.slice(5, 7), iso.str.slice(8, 10)
    swap = ~billing & _pick(rng, len(iso), 0.005) & (d.astype(float) <= 12).fillna(False).to_numpy()
    mo, d = mo.mask(swap, d), d.mask(swap, mo)
    dutch = d + "-" + mo + "-" + y
    slashed = d + "/" + mo + "/" + y
    written = np.where(billing, (y + "-" + mo + "-" + d).to_numpy(dtype=object),
                       np.where(crm, dutch.to_numpy(dtype=object),
                                np.where(rng.random(len(iso)) < 0.5, slashed.to_numpy(dtype=object),
                                         (y + "-" + mo + "-" + d).to_numpy(dtype=object))))
    return _text(written).where(present & iso.notna().to_numpy(), None)


def _email_variants(email: pd.Series, rng: np.random.Generator) -> pd.Series:
    """E-mail addresses in upper, title case or with stray spaces, as people type them."""
    pick = rng.random(len(email))
    title = email.str.slice(0, 1).str.upper() + email.str.slice(1)
    email = email.mask(pick < 0.1, title).mask((pick >= 0.1) & (pick < 0.13), email.str.upper())
    return email.mask((pick >= 0.13) & (pick < 0.16), " " + email + " ")


def _phone_variants(nsn: pd.Series, rng: np.random.Generator) -> pd.Series:
    """Phone numbers (national significant numbers) written in one of nine usual ways."""
    mobile = nsn.str.startswith("6").fillna(False)
    three = nsn.str.slice(0, 3).isin([c for c in AREA_CODES.values() if len(c) == 3])
    area = nsn.str.slice(0, 1).where(mobile, nsn.str.slice(0, 2).where(~three, nsn.str.slice(0, 3)))
    rest = _after(nsn, area)
    styles = [
        "0" + nsn,
        "0" + area + "-" + rest,
        "+31 " + area + " " + rest.str.slice(0, 4) + " " + rest.str.slice(4),
        "0031" + nsn,
        "(0" + area + ") " + rest,
        "+31" + nsn,
        "+31 (0)" + area + " " + rest,
        "0" + area + " " + rest.str.slice(0, 2) + " " + rest.str.slice(2, 4) + " " + rest.str.slice(4),
        nsn,
    ]
    weights = np.array([0.25, 0.2, 0.15, 0.05, 0.08, 0.12, 0.05, 0.08, 0.02])
    choice = rng.choice(len(styles), size=len(nsn), p=weights)
    written = np.select([choice == i for i in range(len(styles))],  # type: ignore[call-overload]
                        [s.to_numpy(dtype=object, na_value=None) for s in styles], None)  # None: see np.where above
    return _text(written).where(nsn.notna(), None)


def _after(text: pd.Series, head: pd.Series) -> pd.Series:
    """``text`` without its first ``len(head)`` characters, row by row (head lengths 1 to 3)."""
    length = head.str.len().fillna(0).to_numpy()
    out = text.str.slice(1)
    out = out.mask(length == 2, text.str.slice(2))
    return out.mask(length == 3, text.str.slice(3))


def _postal_variants(codes: pd.Series, rng: np.random.Generator) -> pd.Series:
    """Postal codes as ``1234 AB``, ``1234AB``, ``1234ab`` or ``1234-AB``."""
    pick = rng.random(len(codes))
    compact = codes.str.replace(" ", "", regex=False)
    codes = codes.mask(pick < 0.3, compact).mask((pick >= 0.3) & (pick < 0.4), compact.str.lower())
    return codes.mask((pick >= 0.4) & (pick < 0.45), codes.str.replace(" ", "-", regex=False))


def _house_number_variants(numbers: pd.Series, rng: np.random.Generator) -> pd.Series:
    """House number additions written ``12A``, ``12 a`` or ``12-A``."""
    pick = rng.random(len(numbers))
    letter = numbers.str.fullmatch(r"[0-9]+[AB]").fillna(False)
    spaced = numbers.str.slice(0, -1) + " " + numbers.str.slice(-1).str.lower()
    dashed = numbers.str.slice(0, -1) + "-" + numbers.str.slice(-1)
    return numbers.mask(letter & (pick < 0.3), spaced).mask(letter & (pick >= 0.3) & (pick < 0.5), dashed)
