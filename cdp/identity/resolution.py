"""Identity resolution: records about one person from several source systems become one customer.

Billing, CRM and the service desk each keep their own record of a customer, with
their own key, spelling and formats. :func:`resolve` decides which records
describe the same person (or business) and gives each group one ``cluster_id``.

How it works (details and measured quality in ``docs/identity.md``):

1. **Normalise** every comparable field (:func:`normalise_records`): phone
   numbers to E.164, e-mail addresses trimmed and lower-cased, names without
   accents, case or punctuation, postal codes and house numbers in one spelling,
   birth dates as ISO dates. Each normaliser exists for one value
   (``normalise_phone``) and for a pandas Series (``normalise_phones``); both give
   the same answers.
2. **Match rules** (:class:`MatchRules`, read from TOML by :func:`load_rules`)
   say which evidence links two records: *exact* rules need equal normalised
   fields (national id, a cross-referenced customer id, phone, e-mail), *fuzzy*
   rules need equal fields plus a similar name (Jaro-Winkler, :func:`jaro_winkler`).
3. **Blocking**: candidate pairs only come from records sharing a rule's key
   (and, for fuzzy rules, a short name prefix), so the work grows with the
   records rather than with their square.
4. **Guards** against over-merging: a value shared by more than
   ``max_group_size`` records is no evidence; ``vetoes`` fields (national id,
   birth date) must not hold different non-empty values, checked per pair and
   per cluster, so a shared family phone never merges parent and child; phone
   and e-mail links also need similar names (twins share almost everything).
5. **Clusters**: rules run from the most to the least confident; links join
   clusters as in union-find, and the smallest ``(source, source_key)`` of a
   cluster names it, so the output depends only on the set of records.

The module is pure pandas/numpy; nothing here touches a store.
"""

from __future__ import annotations

import datetime
import math
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cdp.errors import InvalidInput

__all__ = [
    "DEFAULT_RULES_PATH", "FIELDS", "INPUT_COLUMNS", "MatchRule", "MatchRules", "PairQuality",
    "Resolution", "jaro_winkler", "jaro_winkler_pairs", "load_rules", "normalise_birth_date",
    "normalise_birth_dates", "normalise_email", "normalise_emails", "normalise_house_number",
    "normalise_house_numbers", "normalise_name", "normalise_names", "normalise_national_id",
    "normalise_national_ids", "normalise_phone", "normalise_phones", "normalise_postal_code",
    "normalise_postal_codes", "normalise_records", "pair_quality", "parse_rules", "resolve",
]

DEFAULT_RULES_PATH = Path(__file__).with_name("identity_rules.toml")
"""The documented default rule file shipped next to this module."""

INPUT_COLUMNS = (
    "source", "source_key", "national_id", "customer_ref", "first_name", "last_name",
    "company_name", "birth_date", "email", "phone", "street", "house_number", "postal_code", "city",
)
"""Columns :func:`resolve` reads; only ``source`` and ``source_key`` are required."""

FIELDS = (
    "national_id", "customer_ref", "name", "first_name", "last_name", "birth_date", "email",
    "phone", "postal_code", "house_number", "street", "city", "address",
)
"""Normalised fields a match rule may compare (see :func:`normalise_records`)."""

NATIONAL_NUMBER_DIGITS = {"31": 9}
"""Digits after the country code of a valid number, for the countries where that is fixed."""


# --------------------------------------------------------------------------
# Normalisers: one value
# --------------------------------------------------------------------------


def _text(raw: object) -> str | None:
    """``raw`` as text (whole floats without ``.0``), or None for None, NaN and pandas' missing markers."""
    if raw is None or raw is pd.NA or raw is pd.NaT:
        return None
    if isinstance(raw, float):
        if math.isnan(raw):
            return None
        if raw.is_integer():  # a number column read as floats: 612345678.0
            return str(int(raw))
    return str(raw)


_PHONE_CHARS = re.compile(r"[0-9+()./ -]+")


def normalise_phone(raw: object, default_country_code: str = "31") -> str | None:
    """A phone number in E.164 (``+31612345678``), or None when ``raw`` cannot be one.

    Accepts the usual written forms: ``06-12345678``, ``+31 6 1234 5678``,
    ``+31 (0)6 1234 5678``, ``0031612345678``, ``(06) 1234 5678``, and a national
    number whose leading 0 a spreadsheet dropped (``612345678``). Numbers
    without ``+`` or ``00`` belong to ``default_country_code``. None for letters,
    a ``+`` inside the number, too few or too many digits (E.164 allows 8-15),
    and, for countries in :data:`NATIONAL_NUMBER_DIGITS`, the wrong length.
    """
    text = _text(raw)
    if text is None:
        return None
    text = text.strip().replace("(0)", "")
    if not _PHONE_CHARS.fullmatch(text) or "+" in text[1:]:
        return None
    digits = re.sub(r"[^0-9]", "", text)
    national = NATIONAL_NUMBER_DIGITS.get(default_country_code)
    if text.startswith("+"):
        number = digits
    elif digits.startswith("00"):
        number = digits[2:]
    elif digits.startswith("0"):
        number = default_country_code + digits[1:]
    elif national is not None and len(digits) == national:
        number = default_country_code + digits
    elif national is not None and len(digits) == len(default_country_code) + national \
            and digits.startswith(default_country_code):
        number = digits
    else:
        return None
    return "+" + number if _plausible_number(number) else None


def _plausible_number(number: str) -> bool:
    """True when the digits (country code first, no ``+``) can be an E.164 number."""
    if not 8 <= len(number) <= 15 or number.startswith("0"):
        return False
    for country, digits in NATIONAL_NUMBER_DIGITS.items():
        if number.startswith(country):
            rest = number[len(country):]
            return len(rest) == digits and not rest.startswith("0")
    return True


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+", re.ASCII)


def normalise_email(raw: object) -> str | None:
    """An e-mail address trimmed and lower-cased; None unless it is ``local@domain``.

    None when there is not exactly one ``@``, either side is empty, or the
    address contains white space.
    """
    text = _text(raw)
    if text is None:
        return None
    text = text.strip().lower()
    return text if _EMAIL.fullmatch(text) else None


_DROPPED_IN_NAMES = re.compile(r"['\u2019`\u00b4.]")


def normalise_name(raw: object) -> str | None:
    """A name in lower case without accents and punctuation, words separated by one space.

    ``"  Zoë  van der BERG-Smit "`` becomes ``"zoe van der berg smit"``;
    apostrophes and dots vanish (``"'s-Hertogenbosch"`` -> ``"s hertogenbosch"``,
    ``"B.V."`` -> ``"bv"``); other non-alphanumeric characters separate words.
    Letters without a decomposition (``ø``, ``ß``) are kept. None when nothing
    is left.
    """
    text = _text(raw)
    if text is None:
        return None
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Mn").lower()
    text = _DROPPED_IN_NAMES.sub("", text)
    text = " ".join("".join(c if c.isalnum() else " " for c in text).split())
    return text or None


def normalise_postal_code(raw: object) -> str | None:
    """A postal code in capitals without spaces or dashes (``"1234 ab"`` -> ``"1234AB"``).

    Foreign codes keep their digits and letters. None when nothing is left.
    """
    text = _text(raw)
    if text is None:
        return None
    text = re.sub(r"[^0-9A-Za-z]", "", text).upper()
    return text or None


def normalise_house_number(raw: object) -> str | None:
    """A house number as ``number`` or ``number-ADDITION``: ``"12 a"``, ``"12A"`` and ``"12-A"`` give ``"12-A"``.

    The addition keeps its letters and digits in capitals (``"7 bis"`` ->
    ``"7-BIS"``, ``"30-2"`` -> ``"30-2"``). Text without a leading number is
    kept as its capitalised letters and digits. None when nothing is left.
    """
    text = _text(raw)
    if text is None:
        return None
    text = text.strip()
    match = re.fullmatch(r"([0-9]+)(.*)", text, re.DOTALL)
    if match is None:
        return re.sub(r"[^0-9A-Za-z]", "", text).upper() or None
    number = match.group(1).lstrip("0") or "0"
    addition = re.sub(r"[^0-9A-Za-z]", "", match.group(2)).upper()
    return f"{number}-{addition}" if addition else number


def normalise_national_id(raw: object) -> str | None:
    """A national id (BSN, or another registry number) in capitals without separators.

    ``"1234.56.782"`` -> ``"123456782"``; an all-digit id of 8 digits gets back
    the leading zero spreadsheets drop. None for empty ids and placeholders made
    of zeros only.
    """
    text = _text(raw)
    if text is None:
        return None
    text = re.sub(r"[^0-9A-Za-z]", "", text).upper()
    if text.isascii() and text.isdigit() and len(text) == 8:
        text = "0" + text
    if not text or set(text) == {"0"}:
        return None
    return text


_DATE_FORMATS = (
    (re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"), (0, 1, 2)),
    (re.compile(r"([0-9]{1,2})[-/.]([0-9]{1,2})[-/.]([0-9]{4})"), (2, 1, 0)),
    (re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})"), (0, 1, 2)),
)


def normalise_birth_date(raw: object) -> str | None:
    """A birth date as ``YYYY-MM-DD``, or None when ``raw`` is not a date from 1900 to 2099.

    Accepts ``date``/``datetime``/``Timestamp`` objects and text in ISO
    (``1980-05-17``, time part ignored), European day-first (``17-05-1980``,
    ``17/05/1980``, ``17.05.1980``) or compact (``19800517``) form.
    """
    if isinstance(raw, datetime.date):  # datetime and Timestamp are dates too
        if raw is pd.NaT:
            return None
        day = raw if not isinstance(raw, datetime.datetime) else raw.date()
        return day.isoformat() if 1900 <= day.year <= 2099 else None
    text = _text(raw)
    if text is None:
        return None
    text = text.strip().split("T")[0].split(" ")[0]
    for pattern, (y, m, d) in _DATE_FORMATS:
        match = pattern.fullmatch(text)
        if match:
            parts = match.groups()
            try:
                day = datetime.date(int(parts[y]), int(parts[m]), int(parts[d]))
            except ValueError:
                return None
            return day.isoformat() if 1900 <= day.year <= 2099 else None
    return None


# --------------------------------------------------------------------------
# Normalisers: a whole Series (pandas string kernels; same answers as above)
# --------------------------------------------------------------------------


def _as_text(values: pd.Series) -> pd.Series:
    """``values`` as a pandas string Series: missing stays missing, whole numbers lose any ``.0``."""
    if isinstance(values.dtype, pd.StringDtype):
        return values
    if pd.api.types.is_float_dtype(values.dtype):
        whole = (values == np.floor(values)).to_numpy()
        wholes = values.where(whole).astype("Int64").astype("str")
        return values.astype("str").mask(whole, wholes)
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("Int64").astype("str")
    return values.astype("str")


def _missing(index: pd.Index) -> pd.Series:
    """An all-missing string Series with this index."""
    return pd.Series(pd.array([None] * len(index), dtype="str"), index=index)


def _on_distinct(values: pd.Series, normalise_texts: Any) -> pd.Series:
    """Apply a Series normaliser to the distinct values only, then spread the results back.

    Names, cities and streets repeat a lot; normalising each distinct text once
    is several times faster on real data.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if len(uniques) == 0:
        return _missing(values.index)
    done = normalise_texts(pd.Series(uniques, dtype="str"))
    out = done.iloc[np.where(codes < 0, 0, codes)].where(codes >= 0, None)
    out.index = values.index
    return out


def normalise_phones(values: pd.Series, default_country_code: str = "31") -> pd.Series:
    """:func:`normalise_phone` over a Series (string kernels; about 1 s per million)."""
    text = _as_text(values).str.strip().str.replace("(0)", "", regex=False)
    ok = text.str.fullmatch(r"[0-9+()./ -]+").fillna(False) & ~text.str.slice(1).str.contains(
        "+", regex=False).fillna(True)
    digits = text.str.replace(r"[^0-9]", "", regex=True)
    national = NATIONAL_NUMBER_DIGITS.get(default_country_code)
    plus = text.str.startswith("+").fillna(False)
    intl = digits.str.startswith("00").fillna(False)
    trunk = digits.str.startswith("0").fillna(False)
    length = digits.str.len().fillna(0).astype(int)
    number = pd.Series(pd.array([None] * len(text), dtype="str"), index=text.index)
    if national is not None:
        with_code = (length == len(default_country_code) + national) & digits.str.startswith(
            default_country_code).fillna(False)
        number = number.mask(with_code, digits)
        number = number.mask(length == national, default_country_code + digits)
    number = number.mask(trunk, default_country_code + digits.str.slice(1))
    number = number.mask(intl, digits.str.slice(2))
    number = number.mask(plus, digits)
    number = number.where(ok)
    return number.where(_plausible_numbers(number), None).radd("+")


def _plausible_numbers(number: pd.Series) -> pd.Series:
    """:func:`_plausible_number` over a Series (False where missing)."""
    length = number.str.len()
    ok = length.between(8, 15).fillna(False) & ~number.str.startswith("0").fillna(True)
    for country, digits in NATIONAL_NUMBER_DIGITS.items():
        ours = number.str.startswith(country).fillna(False)
        rest = number.str.slice(len(country))
        ok &= ~ours | ((rest.str.len() == digits) & ~rest.str.startswith("0")).fillna(False)
    return ok


def normalise_emails(values: pd.Series) -> pd.Series:
    """:func:`normalise_email` over a Series."""
    text = _as_text(values).str.strip().str.lower()
    return text.where(text.str.fullmatch(r"[^@\s]+@[^@\s]+").fillna(False), None)


def _names(text: pd.Series) -> pd.Series:
    text = text.str.normalize("NFKD").str.replace(r"\p{Mn}+", "", regex=True).str.lower()
    text = text.str.replace(r"['\x{2019}`\x{00b4}.]", "", regex=True)
    text = text.str.replace(r"[^\p{L}\p{N}]+", " ", regex=True).str.strip()
    return text.where(text.str.len() > 0, None)


def normalise_names(values: pd.Series) -> pd.Series:
    """:func:`normalise_name` over a Series (each distinct value normalised once)."""
    return _on_distinct(_as_text(values), _names)


def normalise_postal_codes(values: pd.Series) -> pd.Series:
    """:func:`normalise_postal_code` over a Series."""
    text = _as_text(values).str.replace(r"[^0-9A-Za-z]", "", regex=True).str.upper()
    return text.where(text.str.len() > 0, None)


def _house_numbers(text: pd.Series) -> pd.Series:
    text = text.str.strip()
    parts = text.str.extract(r"(?s)^([0-9]+)(.*)$")
    number = parts[0].str.replace(r"^0+", "", regex=True)
    number = number.where(number.str.len() > 0, "0")
    addition = parts[1].str.replace(r"[^0-9A-Za-z]", "", regex=True).str.upper()
    joined = number.where(addition.str.len() == 0, number + "-" + addition)
    other = text.str.replace(r"[^0-9A-Za-z]", "", regex=True).str.upper()
    out = joined.where(parts[0].notna(), other)
    return out.where(out.str.len() > 0, None)


def normalise_house_numbers(values: pd.Series) -> pd.Series:
    """:func:`normalise_house_number` over a Series."""
    return _on_distinct(_as_text(values), _house_numbers)


def normalise_national_ids(values: pd.Series) -> pd.Series:
    """:func:`normalise_national_id` over a Series."""
    text = _as_text(values).str.replace(r"[^0-9A-Za-z]", "", regex=True).str.upper()
    text = text.mask((text.str.len() == 8) & text.str.fullmatch(r"[0-9]+").fillna(False), "0" + text)
    return text.where(text.str.len().gt(0) & ~text.str.fullmatch("0+").fillna(True), None)


def normalise_birth_dates(values: pd.Series) -> pd.Series:
    """:func:`normalise_birth_date` over a Series of text, dates or datetimes."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = pd.Series(values, copy=False)
        out = stamps.dt.strftime("%Y-%m-%d").astype("str")
        return out.where(stamps.dt.year.between(1900, 2099).fillna(False), None)
    if values.dtype == object and values.map(lambda v: isinstance(v, datetime.date)).any():
        return _on_distinct(values.map(lambda v: v.isoformat() if isinstance(v, datetime.date) else v)
                            .astype("str"), _birth_dates)
    return _on_distinct(_as_text(values), _birth_dates)


def _birth_dates(text: pd.Series) -> pd.Series:
    text = text.str.strip().str.replace(r"[T ].*$", "", regex=True)
    ymd = pd.DataFrame(index=text.index, columns=["y", "m", "d"], dtype="str")
    for pattern, (y, m, d) in _DATE_FORMATS:
        parts = text.str.extract("^" + pattern.pattern + "$")
        todo = ymd["y"].isna() & parts[0].notna()
        for name, col in zip(("y", "m", "d"), (y, m, d)):
            ymd.loc[todo, name] = parts.loc[todo, col]
    nums = ymd.apply(pd.to_numeric, errors="coerce")
    stamps = pd.to_datetime(
        pd.DataFrame({"year": nums["y"], "month": nums["m"], "day": nums["d"]}), errors="coerce")
    out = stamps.dt.strftime("%Y-%m-%d").astype("str")
    return out.where(stamps.dt.year.between(1900, 2099).fillna(False), None)


def _references(refs: pd.Series) -> pd.Series:
    """Customer references in capitals without white space (``"billing: b 12"`` -> ``"BILLING:B12"``)."""
    text = _as_text(refs).str.replace(r"\s+", "", regex=True).str.upper()
    return text.where(text.str.len() > 0, None)


def normalise_records(records: pd.DataFrame, default_country_code: str = "31") -> pd.DataFrame:
    """The normalised comparison fields of ``records`` (same index), one column per :data:`FIELDS`.

    ``name`` is the company name for organisations, else ``first_name last_name``;
    ``address`` is ``postal_code house_number`` when both are known, else
    ``street house_number city`` when those are. Input columns that are absent
    count as missing everywhere. Missing values are missing (never ``""``).
    """
    def column(name: str) -> pd.Series:
        return records[name] if name in records.columns else _missing(records.index)

    out = pd.DataFrame(index=records.index)
    out["national_id"] = normalise_national_ids(column("national_id"))
    out["customer_ref"] = _references(column("customer_ref"))
    first = normalise_names(column("first_name"))
    last = normalise_names(column("last_name"))
    company = normalise_names(column("company_name"))
    person = (first.fillna("") + " " + last.fillna("")).str.strip()
    out["name"] = company.fillna(person.where(person.str.len() > 0, None))
    out["first_name"] = first
    out["last_name"] = last
    out["birth_date"] = normalise_birth_dates(column("birth_date"))
    out["email"] = normalise_emails(column("email"))
    out["phone"] = normalise_phones(column("phone"), default_country_code)
    out["postal_code"] = normalise_postal_codes(column("postal_code"))
    out["house_number"] = normalise_house_numbers(column("house_number"))
    out["street"] = normalise_names(column("street"))
    out["city"] = normalise_names(column("city"))
    by_postcode = out["postal_code"] + " " + out["house_number"]
    by_street = out["street"] + " " + out["house_number"] + " " + out["city"]
    out["address"] = by_postcode.fillna(by_street)
    return out


# --------------------------------------------------------------------------
# Jaro-Winkler similarity
# --------------------------------------------------------------------------


def jaro_winkler(a: str, b: str, prefix_weight: float = 0.1) -> float:
    """Jaro-Winkler similarity of two strings, 0 (nothing alike) to 1 (equal).

    The classic definition: characters match within half the longer length
    minus one; half the out-of-order matches are transpositions (rounded down);
    a common prefix of up to 4 characters raises Jaro scores above 0.7.
    This is the reference for :func:`jaro_winkler_pairs`.
    """
    if a == b:
        return 1.0 if a else 0.0
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0.0
    window = max(max(la, lb) // 2 - 1, 0)
    hit_a, taken_b = [False] * la, [False] * lb
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(lb, i + window + 1)):
            if not taken_b[j] and b[j] == ch:
                hit_a[i] = taken_b[j] = True
                break
    m = sum(hit_a)
    if not m:
        return 0.0
    in_a = [c for c, hit in zip(a, hit_a) if hit]
    in_b = [c for c, hit in zip(b, taken_b) if hit]
    t = sum(x != y for x, y in zip(in_a, in_b)) // 2
    jaro = (m / la + m / lb + (m - t) / m) / 3
    if jaro <= 0.7:
        return jaro
    prefix = 0
    for x, y in zip(a[:4], b[:4]):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * prefix_weight * (1 - jaro)


JW_MAX_CHARS = 40
"""Strings are compared on their first this many characters by :func:`jaro_winkler_pairs`."""


def _encode(values: Sequence[str] | np.ndarray, width: int) -> np.ndarray:
    """Strings as a (n, width) matrix of code points, zero-padded (and cut at ``width``)."""
    arr = np.asarray(values, dtype=f"<U{width}")
    return arr.view(np.uint32).reshape(len(arr), width)


def jaro_winkler_pairs(left: Sequence[str] | np.ndarray, right: Sequence[str] | np.ndarray,
                       prefix_weight: float = 0.1, chunk: int = 65_536) -> np.ndarray:
    """Jaro-Winkler similarity of ``left[i]`` and ``right[i]`` for every i, vectorised.

    Same values as :func:`jaro_winkler` for strings up to :data:`JW_MAX_CHARS`
    characters (longer ones are compared on that prefix). About a million pairs
    of names per few seconds; pairs are processed in chunks of ``chunk`` sorted
    by length so that short names do not pay for long ones. Raises
    ``ValueError`` when the sequences differ in length.
    """
    left = np.asarray(left, dtype=object)
    right = np.asarray(right, dtype=object)
    if left.shape != right.shape:
        raise ValueError("left and right must have the same length")
    n = len(left)
    out = np.zeros(n, dtype=np.float64)
    if n == 0:
        return out
    len_l = np.fromiter((len(s) for s in left), dtype=np.int64, count=n)
    len_r = np.fromiter((len(s) for s in right), dtype=np.int64, count=n)
    order = np.argsort(np.maximum(len_l, len_r), kind="stable")
    for start in range(0, n, chunk):
        rows = order[start:start + chunk]
        width = int(min(max(len_l[rows].max(), len_r[rows].max(), 1), JW_MAX_CHARS))
        out[rows] = _jaro_winkler_encoded(_encode(left[rows], width), _encode(right[rows], width),
                                          prefix_weight)
    return out


def _jaro_winkler_encoded(a: np.ndarray, b: np.ndarray, prefix_weight: float) -> np.ndarray:
    """Jaro-Winkler of the rows of two zero-padded code-point matrices of equal shape."""
    n, width = a.shape
    la = (a != 0).sum(axis=1)
    lb = (b != 0).sum(axis=1)
    window = np.maximum(np.maximum(la, lb) // 2 - 1, 0)
    wmax = int(window.max())
    hit_a = np.zeros((n, width), dtype=bool)
    taken_b = np.zeros((n, width), dtype=bool)
    for i in range(int(la.max())):
        lo, hi = max(0, i - wmax), min(width, i + wmax + 1)
        pos = np.arange(lo, hi)
        cand = b[:, lo:hi] == a[:, i:i + 1]
        cand &= ~taken_b[:, lo:hi]
        cand &= np.abs(pos - i)[None, :] <= window[:, None]
        cand &= (la > i)[:, None]
        rows = np.flatnonzero(cand.any(axis=1))
        if len(rows):
            cols = lo + cand[rows].argmax(axis=1)
            taken_b[rows, cols] = True
            hit_a[rows, i] = True
    m = hit_a.sum(axis=1)
    in_a = np.take_along_axis(a, np.argsort(~hit_a, axis=1, kind="stable"), axis=1)
    in_b = np.take_along_axis(b, np.argsort(~taken_b, axis=1, kind="stable"), axis=1)
    t = ((in_a != in_b) & (np.arange(width)[None, :] < m[:, None])).sum(axis=1) // 2
    with np.errstate(divide="ignore", invalid="ignore"):
        jaro = np.where(m > 0, (m / np.maximum(la, 1) + m / np.maximum(lb, 1)
                                + (m - t) / np.maximum(m, 1)) / 3, 0.0)
    p = min(4, width)
    same = (a[:, :p] == b[:, :p]) & (np.arange(p)[None, :] < np.minimum(la, lb)[:, None])
    prefix = np.cumprod(same, axis=1).sum(axis=1)
    jw = np.where(jaro > 0.7, jaro + prefix * prefix_weight * (1 - jaro), jaro)
    equal = (la == lb) & (a == b).all(axis=1) & (la > 0)
    return np.where(equal, 1.0, jw)


# --------------------------------------------------------------------------
# Match rules
# --------------------------------------------------------------------------

RULE_KINDS = ("exact", "fuzzy")
VETO_FIELDS = ("national_id", "birth_date")
"""Fields a rule may name in ``vetoes``: values one person has only one of."""


@dataclass(frozen=True)
class MatchRule:
    """One kind of evidence that two records describe the same person.

    ``fields`` must be equal and non-empty in both records (they are also the
    blocking key). A ``fuzzy`` rule further needs the ``similar`` field's
    Jaro-Winkler similarity to reach ``threshold``; its link confidence is
    ``confidence * similarity``. ``vetoes`` fields must not hold different
    non-empty values (pair and cluster); ``name_similarity`` (exact rules) asks
    for similar names too; a key value shared by more than ``max_group_size``
    records is ignored; ``block_prefix`` (fuzzy rules) narrows blocks by the
    first characters of the ``similar`` value and, in a second pass, of its last
    word (0: block on ``fields`` only).
    """

    name: str
    kind: str
    fields: tuple[str, ...]
    confidence: float
    threshold: float | None = None
    similar: str | None = None
    vetoes: tuple[str, ...] = ()
    name_similarity: float | None = None
    max_group_size: int = 20
    block_prefix: int = 0
    description: str = ""

    @property
    def pairwise(self) -> bool:
        """True when every pair in a group must be checked (a guard looks at pairs)."""
        return self.kind == "fuzzy" or bool(self.vetoes) or self.name_similarity is not None


@dataclass(frozen=True)
class MatchRules:
    """The rules :func:`resolve` applies, and how phone numbers without a country code are read."""

    rules: tuple[MatchRule, ...]
    default_country_code: str = "31"

    def in_order(self) -> tuple[MatchRule, ...]:
        """The rules from most to least confident (file order among equals)."""
        return tuple(sorted(self.rules, key=lambda r: -r.confidence))

    @classmethod
    def default(cls) -> MatchRules:
        """The rules of :data:`DEFAULT_RULES_PATH`."""
        return load_rules(DEFAULT_RULES_PATH)


_RULE_KEYS = {"name", "kind", "fields", "confidence", "threshold", "similar", "vetoes",
              "name_similarity", "max_group_size", "block_prefix", "description"}


def load_rules(path: str | Path | None = None) -> MatchRules:
    """Read match rules from a TOML file (the default rules when ``path`` is None).

    Raises ``InvalidInput`` when the file cannot be read or the rules are
    malformed; the message names the file, the rule and the problem.
    """
    path = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read match rules {path}: {exc.strerror or exc}", field="rules") from exc
    return parse_rules(text, origin=str(path))


def parse_rules(text: str, origin: str = "<rules>") -> MatchRules:
    """Match rules from TOML text (format in ``cdp/identity/identity_rules.toml``).

    Raises ``InvalidInput`` for a TOML syntax error, an unknown or missing key,
    a wrong type, an unknown field, a kind other than exact/fuzzy, a
    confidence or threshold outside (0, 1], or duplicate rule names.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{origin}: not valid TOML: {exc}", field="rules") from exc
    unknown = set(doc) - {"default_country_code", "rules"}
    if unknown:
        raise InvalidInput(f"{origin}: unknown top-level key(s) {sorted(unknown)}; "
                           "expected default_country_code and [[rules]]", field="rules")
    country = doc.get("default_country_code", "31")
    if not isinstance(country, str) or not country.isdigit() or not 1 <= len(country) <= 3:
        raise InvalidInput(f"{origin}: default_country_code must be 1-3 digits as a string, got {country!r}",
                           field="rules")
    tables = doc.get("rules")
    if not isinstance(tables, list) or not tables:
        raise InvalidInput(f"{origin}: no rules; add at least one [[rules]] table", field="rules")
    rules = tuple(_rule(t, i, origin) for i, t in enumerate(tables, start=1))
    names = [r.name for r in rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInput(f"{origin}: duplicate rule name(s) {duplicates}", field="rules")
    return MatchRules(rules=rules, default_country_code=country)


def _rule(table: Any, position: int, origin: str) -> MatchRule:
    """One validated rule from its TOML table (``position`` counts from 1, for messages)."""
    if not isinstance(table, dict):
        raise InvalidInput(f"{origin}: rules[{position}] must be a table", field="rules")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{origin}: rules[{position}] needs a non-empty string 'name'", field="rules")
    if name == "seed":
        raise InvalidInput(f"{origin}: rule name 'seed' is reserved", field="rules")
    where = f"{origin}: rule {name!r}"

    def fail(problem: str) -> InvalidInput:
        return InvalidInput(f"{where}: {problem}", field="rules")

    unknown = set(table) - _RULE_KEYS
    if unknown:
        raise fail(f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_RULE_KEYS)}")
    kind = table.get("kind")
    if kind not in RULE_KINDS:
        raise fail(f"kind must be one of {list(RULE_KINDS)}, got {kind!r}")
    fields = _field_list(table.get("fields"), "fields", FIELDS, fail)
    if not fields:
        raise fail("fields must name at least one field")
    vetoes = _field_list(table.get("vetoes", []), "vetoes", VETO_FIELDS, fail)
    confidence = _fraction(table.get("confidence"), "confidence", fail)
    similar = table.get("similar")
    threshold = table.get("threshold")
    if kind == "fuzzy":
        if similar not in FIELDS:
            raise fail(f"a fuzzy rule needs 'similar', one of {list(FIELDS)}; got {similar!r}")
        threshold = _fraction(threshold, "threshold", fail)
    else:
        if similar is not None or threshold is not None:
            raise fail("'similar' and 'threshold' belong to fuzzy rules; use name_similarity on exact rules")
    if "customer_ref" in fields and (kind != "exact" or len(fields) != 1):
        raise fail("customer_ref is matched on its own, by an exact rule with fields = ['customer_ref']")
    name_similarity = table.get("name_similarity")
    if name_similarity is not None:
        if kind == "fuzzy":
            raise fail("name_similarity belongs to exact rules; a fuzzy rule has 'threshold'")
        name_similarity = _fraction(name_similarity, "name_similarity", fail)
    max_group_size = table.get("max_group_size", 20)
    if not isinstance(max_group_size, int) or isinstance(max_group_size, bool) or not 2 <= max_group_size <= 1000:
        raise fail(f"max_group_size must be an integer from 2 to 1000, got {max_group_size!r}")
    block_prefix = table.get("block_prefix", 0)
    if not isinstance(block_prefix, int) or isinstance(block_prefix, bool) or not 0 <= block_prefix <= 10:
        raise fail(f"block_prefix must be an integer from 0 to 10, got {block_prefix!r}")
    if block_prefix and kind != "fuzzy":
        raise fail("block_prefix belongs to fuzzy rules")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise fail("description must be a string")
    return MatchRule(name=name, kind=kind, fields=fields, confidence=confidence, threshold=threshold,
                     similar=similar, vetoes=vetoes, name_similarity=name_similarity,
                     max_group_size=max_group_size, block_prefix=block_prefix, description=description)


def _field_list(value: Any, key: str, allowed: tuple[str, ...], fail: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(f"{key} must be a list of field names, got {value!r}")
    unknown = [v for v in value if v not in allowed]
    if unknown:
        raise fail(f"unknown field(s) {unknown} in {key}; allowed: {list(allowed)}")
    if len(set(value)) != len(value):
        raise fail(f"{key} names a field twice")
    return tuple(value)


def _fraction(value: Any, key: str, fail: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise fail(f"{key} must be a number in (0, 1], got {value!r}")
    return float(value)


# --------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """What :func:`resolve` decided.

    ``records``: one row per input record, in input order and with the input's
    index: ``source``, ``source_key``, ``cluster_id`` (``"SOURCE:key"`` of the
    cluster's smallest ``(source, source_key)``), ``matched_by`` (``"seed"`` for
    that record, else the strongest rule that linked the record to another one
    of its cluster) and ``confidence`` (1.0 for seeds, else that link's
    confidence). ``merges``: per rule, how many links joined two clusters.
    ``refused``: per ``"rule: reason"``, candidate links a guard refused.
    """

    records: pd.DataFrame
    merges: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)

    @property
    def clusters(self) -> int:
        """Number of distinct customers found."""
        return int(self.records["cluster_id"].nunique())


def resolve(records: pd.DataFrame, rules: MatchRules | None = None) -> Resolution:
    """Group ``records`` (see :data:`INPUT_COLUMNS`) into customers by ``rules`` (default rules if None).

    The answer depends only on the set of records, not their order. Raises
    ``InvalidInput`` when ``source`` or ``source_key`` is missing, empty, or
    a ``(source, source_key)`` occurs twice.
    """
    rules = rules if rules is not None else MatchRules.default()
    source, key = _checked_keys(records)
    order = pd.DataFrame({"s": source.to_numpy(), "k": key.to_numpy()}).sort_values(["s", "k"]).index.to_numpy()
    normalised = normalise_records(records, rules.default_country_code).iloc[order].reset_index(drop=True)
    profile = _Profile(normalised, source.iloc[order], key.iloc[order])
    del normalised
    clusters = _Clusters(len(records))
    ranked = rules.in_order()
    merges: dict[str, int] = {}
    refused: dict[str, int] = {}
    for rank, rule in enumerate(ranked):
        u, v, conf = _candidate_links(rule, profile, clusters, refused)
        merges[rule.name] = clusters.link(u, v, conf, rank, [profile.codes(f) for f in rule.vetoes],
                                          refused, rule.name)
    out = _assignments(clusters, profile, ranked, order)
    out.insert(0, "source", source.to_numpy())
    out.insert(1, "source_key", key.to_numpy())
    out.index = records.index
    return Resolution(records=out, merges=merges, refused=refused)


def _assignments(clusters: _Clusters, profile: _Profile, ranked: tuple[MatchRule, ...],
                 order: np.ndarray) -> pd.DataFrame:
    """``cluster_id``, ``matched_by`` and ``confidence`` per record, back in input order.

    ``order[i]`` is the input position of the i-th record in (source, key) order.
    """
    root = clusters.labels
    is_seed = root == np.arange(len(root))
    rule_names = pd.Series([r.name for r in ranked] + ["seed"], dtype="str")
    matched = np.where(is_seed, len(ranked), clusters.rule)
    confidence = np.where(is_seed, 1.0, clusters.confidence)
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    return pd.DataFrame({
        "cluster_id": (profile.sources + ":" + profile.keys).iloc[root[back]].to_numpy(),
        "matched_by": rule_names.iloc[matched[back]].to_numpy(),
        "confidence": np.round(confidence[back], 4),
    })


def _checked_keys(records: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """``source`` and ``source_key`` as text; ``InvalidInput`` if absent, empty or not unique."""
    if not isinstance(records, pd.DataFrame):
        raise InvalidInput("records must be a pandas DataFrame", field="records")
    for column in ("source", "source_key"):
        if column not in records.columns:
            raise InvalidInput(f"records need a {column!r} column", field=column)
    source = _as_text(records["source"]).str.strip()
    key = _as_text(records["source_key"]).str.strip()
    for column, values in (("source", source), ("source_key", key)):
        empty = values.isna() | (values.str.len() == 0)
        if empty.any():
            raise InvalidInput(f"{int(empty.sum())} record(s) have no {column} "
                               f"(first at index {records.index[np.argmax(empty.to_numpy())]!r})", field=column)
    twice = pd.DataFrame({"s": source, "k": key}).duplicated(keep=False)
    if twice.any():
        first = records.index[np.argmax(twice.to_numpy())]
        raise InvalidInput(f"{int(twice.sum())} records share a (source, source_key); e.g. "
                           f"{source[first]!r}, {key[first]!r}", field="source_key")
    return source, key


class _Profile:
    """Normalised fields of the records (sorted by source, key) with cached integer codes."""

    def __init__(self, normalised: pd.DataFrame, sources: pd.Series, keys: pd.Series) -> None:
        self.fields = normalised
        self.sources = sources.reset_index(drop=True)
        self.keys = keys.reset_index(drop=True)
        self.n = len(normalised)
        self._codes: dict[str, np.ndarray] = {}
        self._distinct: dict[str, np.ndarray] = {}

    def codes(self, name: str) -> np.ndarray:
        """An int64 code per record for field ``name``: equal values, equal codes; -1 when missing."""
        if name not in self._codes:
            codes, uniques = pd.factorize(self.fields[name], use_na_sentinel=True)
            self._codes[name] = codes.astype(np.int64)
            self._distinct[name] = np.asarray(uniques, dtype=object)
        return self._codes[name]

    def distinct(self, name: str) -> np.ndarray:
        """The distinct values of ``name``, indexed by :meth:`codes`."""
        self.codes(name)
        return self._distinct[name]

    def similarity(self, name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Similarity of field ``name`` between records u[i] and v[i], 0 to 1 (0 when either is missing).

        Jaro-Winkler of the values, except for ``name`` (see :meth:`name_similarity`).
        """
        if name == "name":
            return self.name_similarity(u, v)
        return self.jaro_winkler(name, u, v)

    def name_similarity(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """How alike the names of records u[i] and v[i] are.

        When both records have a first and a last name: the mean of the two
        names' Jaro-Winkler similarities (so a shared first name cannot make
        "mehmet bos" look like "mehmet blom", nor a shared last name twins look
        alike). Otherwise (businesses, half-known names) that of the whole names.
        """
        first, last = self.codes("first_name"), self.codes("last_name")
        split = (first[u] >= 0) & (first[v] >= 0) & (last[u] >= 0) & (last[v] >= 0)
        sim = self.jaro_winkler("name", u, v)
        if split.any():
            us, vs = u[split], v[split]
            sim[split] = (self.jaro_winkler("first_name", us, vs) + self.jaro_winkler("last_name", us, vs)) / 2
        return sim

    def jaro_winkler(self, name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Jaro-Winkler of field ``name`` between records u[i] and v[i] (0 when either is missing).

        Each distinct pair of values is compared once.
        """
        cu, cv = self.codes(name)[u], self.codes(name)[v]
        sim = np.zeros(len(u))
        known = (cu >= 0) & (cv >= 0)
        sim[known & (cu == cv)] = 1.0
        todo = np.flatnonzero(known & (cu != cv))
        if len(todo):
            lo, hi = np.minimum(cu[todo], cv[todo]), np.maximum(cu[todo], cv[todo])
            pairs, inverse = np.unique(lo * (len(self.distinct(name)) + 1) + hi, return_inverse=True)
            width = len(self.distinct(name)) + 1
            values = self.distinct(name)
            sims = jaro_winkler_pairs(values[pairs // width], values[pairs % width])
            sim[todo] = sims[inverse]
        return sim

    def key(self, fields: Iterable[str]) -> np.ndarray:
        """A code per record for the combination of ``fields`` (-1 when any is missing)."""
        return _combine([self.codes(f) for f in fields])


def _combine(codes: list[np.ndarray]) -> np.ndarray:
    """One code per row for a tuple of code columns; -1 where any column is -1."""
    out = codes[0].copy()
    for more in codes[1:]:
        valid = (out >= 0) & (more >= 0)
        joined = out[valid] * (int(more.max(initial=0)) + 1) + more[valid]
        out = np.full(len(out), -1, dtype=np.int64)
        out[valid] = np.unique(joined, return_inverse=True)[1]
    return out


def _candidate_links(rule: MatchRule, profile: _Profile, clusters: _Clusters,
                     refused: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of records ``rule`` links (u < v, not yet in one cluster) and each link's confidence.

    Pair-level guards (vetoes, name similarity, fuzzy threshold) are applied
    here; cluster-level vetoes in :meth:`_Clusters.link`.
    """
    if rule.fields == ("customer_ref",):
        members, groups = _reference_groups(profile)
    else:
        groups = profile.key(rule.fields)
        members = np.flatnonzero(groups >= 0)
        groups = groups[members]
    if rule.kind == "fuzzy":
        u, v = _fuzzy_blocks(rule, profile, members, groups, refused)
    else:
        u, v = _pairs_in_groups(members, groups, rule, refused, star=not rule.pairwise)
    u, v = clusters.apart(u, v)
    conf = np.full(len(u), rule.confidence)
    if rule.kind == "fuzzy":
        sim = profile.similarity(rule.similar or "name", u, v)
        ok = sim >= (rule.threshold or 1.0)
        u, v, conf = u[ok], v[ok], rule.confidence * sim[ok]
    for veto in rule.vetoes:
        cu, cv = profile.codes(veto)[u], profile.codes(veto)[v]
        ok = (cu < 0) | (cv < 0) | (cu == cv)
        _count(refused, f"{rule.name}: different {veto}", int((~ok).sum()))
        u, v, conf = u[ok], v[ok], conf[ok]
    if rule.name_similarity is not None:
        ok = profile.name_similarity(u, v) >= rule.name_similarity
        _count(refused, f"{rule.name}: names differ", int((~ok).sum()))
        u, v, conf = u[ok], v[ok], conf[ok]
    return u, v, conf


def _count(counter: dict[str, int], what: str, n: int) -> None:
    if n:
        counter[what] = counter.get(what, 0) + n


def _reference_groups(profile: _Profile) -> tuple[np.ndarray, np.ndarray]:
    """Records grouped by the customer id they are known by: their own, or one they refer to.

    A reference is ``SOURCE:KEY`` or a bare key. A bare key is looked up among
    all records' keys; when exactly one source uses it, it means that record.
    References to keys nobody has still group the records that share them; a
    bare key used by several sources is ambiguous and ignored. Returns
    (record, group) membership rows; a record's own key only counts when
    someone refers to it.
    """
    refs = profile.fields["customer_ref"]
    referring = np.flatnonzero(refs.notna().to_numpy())
    if not len(referring):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    sources = profile.sources.str.upper()
    keys = _references(profile.keys)
    ref = refs.iloc[referring].reset_index(drop=True)
    parts = ref.str.extract(r"^([^:]+):(.+)$")
    qualified = parts[0].isin(sources.unique()).to_numpy()
    bare = ref.where(~qualified, None)
    cited_keys = _among(keys, bare.dropna())
    owners = pd.DataFrame({"key": keys[cited_keys], "source": sources[cited_keys]}).drop_duplicates()
    per_key = owners.groupby("key")["source"].agg(["first", "size"]).reindex(bare)
    one_owner = (per_key["size"] == 1).to_numpy()
    nobody = per_key["size"].isna().to_numpy()
    token = (parts[0] + ":" + parts[1]).where(qualified, None)
    owner = per_key["first"].astype("str").reset_index(drop=True)
    token = token.mask(~qualified & one_owner, owner + ":" + bare)
    token = token.mask(~qualified & nobody, "?:" + bare)
    usable = token.notna().to_numpy()
    referring, token = referring[usable], token[usable].reset_index(drop=True)
    own = sources + ":" + keys
    cited = np.flatnonzero(_among(own, token))
    codes, _ = pd.factorize(pd.concat([token, own.iloc[cited]], ignore_index=True))
    return np.concatenate([referring, cited]).astype(np.int64), codes.astype(np.int64)


def _among(values: pd.Series, candidates: pd.Series) -> np.ndarray:
    """For each of ``values``, whether it occurs among ``candidates`` (a fast ``isin`` for strings)."""
    codes, _ = pd.factorize(pd.concat([values, candidates], ignore_index=True))
    return np.isin(codes[: len(values)], codes[len(values):])


def _group_sizes(groups: np.ndarray) -> np.ndarray:
    """For each membership row, how many rows share its group."""
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    return counts[inverse]


def _pairs_in_groups(members: np.ndarray, groups: np.ndarray, rule: MatchRule, refused: dict[str, int],
                     star: bool) -> tuple[np.ndarray, np.ndarray]:
    """Record pairs (u < v) sharing a group of 2 to ``rule.max_group_size`` distinct records.

    ``star``: link every record to its group's first record only (enough when
    no guard looks at pairs); otherwise every pair in the group.
    """
    if len(members) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    rows = pd.DataFrame({"g": groups, "r": members}).drop_duplicates().sort_values(["g", "r"])
    g, r = rows["g"].to_numpy(), rows["r"].to_numpy()
    size = _group_sizes(g)
    crowded = size > rule.max_group_size
    _count(refused, f"{rule.name}: value shared by more than {rule.max_group_size} records",
           int(len(np.unique(g[crowded]))))
    keep = (size >= 2) & ~crowded
    g, r = g[keep], r[keep]
    if len(g) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if star:
        first = np.r_[True, g[1:] != g[:-1]]
        head = r[first][np.cumsum(first) - 1]
        return head[~first], r[~first]
    us, vs = [], []
    for d in range(1, int(size[keep].max())):
        same = g[:-d] == g[d:]
        us.append(r[:-d][same])
        vs.append(r[d:][same])
    return np.concatenate(us), np.concatenate(vs)


def _fuzzy_blocks(rule: MatchRule, profile: _Profile, members: np.ndarray, groups: np.ndarray,
                  refused: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs of a fuzzy rule: same ``fields`` and, per pass, the same name prefix.

    With ``block_prefix`` k, pass one blocks on the first k characters of the
    ``similar`` value, pass two on the first k of its last word (so one typo
    rarely hides a pair from both passes). Pairs found twice count once.
    """
    similar = rule.similar or "name"
    codes = profile.codes(similar)[members]
    known = codes >= 0
    members, groups, codes = members[known], groups[known], codes[known]
    if rule.block_prefix == 0:
        passes = [groups]
    else:
        k = rule.block_prefix
        text = pd.Series(profile.distinct(similar), dtype="str")
        heads = pd.factorize(text.str.slice(0, k))[0].astype(np.int64)
        tails = pd.factorize(text.str.replace(r"^.* ", "", regex=True).str.slice(0, k))[0].astype(np.int64)
        passes = [_combine([groups, heads[codes]]), _combine([groups, tails[codes]])]
    us, vs = [], []
    for block in passes:
        u, v = _pairs_in_groups(members, block, rule, refused, star=False)
        us.append(u)
        vs.append(v)
    u, v = np.concatenate(us), np.concatenate(vs)
    pairs = np.unique(u * profile.n + v)
    return pairs // profile.n, pairs % profile.n


class _Clusters:
    """Union-find over record positions, with each record's first accepted link.

    ``labels[i]`` is the root of record i's cluster, always the cluster's
    smallest position (records are sorted by source and key, so that is the
    seed). Kept fully compressed between rules.
    """

    def __init__(self, n: int) -> None:
        self.labels = np.arange(n, dtype=np.int64)
        self.rule = np.full(n, -1, dtype=np.int64)
        self.confidence = np.zeros(n, dtype=np.float64)

    def apart(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The pairs whose records are not (yet) in the same cluster."""
        keep = self.labels[u] != self.labels[v]
        return u[keep], v[keep]

    def link(self, u: np.ndarray, v: np.ndarray, conf: np.ndarray, rank: int,
             vetoes: list[np.ndarray], refused: dict[str, int], rule_name: str) -> int:
        """Join the clusters of u[i] and v[i], strongest links first; returns how many joins happened.

        With ``vetoes`` (code arrays per veto field) a join is refused when the
        two clusters hold disjoint non-empty sets of a veto field's values.
        """
        order = np.lexsort((v, u, -conf))
        u, v, conf = u[order], v[order], conf[order]
        ru, rv = self.labels[u], self.labels[v]
        keep = ru != rv
        u, v, conf, ru, rv = u[keep], v[keep], conf[keep], ru[keep], rv[keep]
        if len(u) == 0:
            return 0
        if vetoes:
            accepted, joins = self._link_guarded(ru, rv, vetoes)
            _count(refused, f"{rule_name}: clusters disagree", int((~accepted).sum()))
        else:
            self.labels = _merged_labels(self.labels, ru, rv)
            accepted, joins = np.ones(len(u), dtype=bool), None
        ends = np.concatenate([u[accepted], v[accepted]])
        confs = np.concatenate([conf[accepted], conf[accepted]])
        fresh = self.rule[ends] < 0
        ends, confs = ends[fresh][::-1], confs[fresh][::-1]  # last write wins: reversed = strongest
        self.rule[ends] = rank
        self.confidence[ends] = confs
        if joins is None:
            return int(len(np.unique(np.concatenate([ru, rv])))) - int(len(np.unique(self.labels[ru])))
        return joins

    def _link_guarded(self, ru: np.ndarray, rv: np.ndarray,
                      vetoes: list[np.ndarray]) -> tuple[np.ndarray, int]:
        """Join root pairs in order unless a veto field conflicts; (accepted mask, joins)."""
        values = [self._cluster_values(codes) for codes in vetoes]
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            path = []
            while x in parent:
                path.append(x)
                x = parent[x]
            for p in path:
                parent[p] = x
            return x

        accepted = np.zeros(len(ru), dtype=bool)
        joins = 0
        for i, (a, b) in enumerate(zip(ru.tolist(), rv.tolist())):
            a, b = find(a), find(b)
            if a == b:
                accepted[i] = True
                continue
            if any(_disagree(vals.get(a), vals.get(b)) for vals in values):
                continue
            lo, hi = (a, b) if a < b else (b, a)
            parent[hi] = lo
            for vals in values:
                vals[lo] = _union(vals.get(lo), vals.pop(hi, None))
            accepted[i] = True
            joins += 1
        if parent:
            mapping = np.arange(len(self.labels), dtype=np.int64)
            roots = np.fromiter(parent.keys(), dtype=np.int64, count=len(parent))
            mapping[roots] = [find(int(r)) for r in roots]
            self.labels = mapping[self.labels]
        return accepted, joins

    def _cluster_values(self, codes: np.ndarray) -> dict[int, Any]:
        """Root -> the cluster's value code (int), set of codes (frozenset), for clusters with any."""
        known = codes >= 0
        pairs = pd.DataFrame({"root": self.labels[known], "code": codes[known]}).drop_duplicates()
        counts = pairs["root"].value_counts()
        single = pairs[pairs["root"].map(counts) == 1]
        out: dict[int, Any] = dict(zip(single["root"].tolist(), single["code"].tolist()))
        several = pairs[pairs["root"].map(counts) > 1]
        for root, group in several.groupby("root")["code"]:
            out[int(root)] = frozenset(group.tolist())
        return out


def _disagree(a: Any, b: Any) -> bool:
    """True when two clusters' values of a veto field (int, frozenset or None) cannot be one person's."""
    if a is None or b is None:
        return False
    if isinstance(a, int) and isinstance(b, int):
        return a != b
    sa = a if isinstance(a, frozenset) else frozenset((a,))
    sb = b if isinstance(b, frozenset) else frozenset((b,))
    return sa.isdisjoint(sb)


def _union(a: Any, b: Any) -> Any:
    """The values of a veto field of two joined clusters."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    sa = a if isinstance(a, frozenset) else frozenset((a,))
    sb = b if isinstance(b, frozenset) else frozenset((b,))
    return sa | sb


def _merged_labels(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cluster labels after joining roots a[i] and b[i] (each new root is the smallest member)."""
    parent = np.arange(len(labels), dtype=np.int64)
    while True:
        pa, pb = parent[a], parent[b]
        if np.array_equal(pa, pb):
            break
        low = np.minimum(pa, pb)
        np.minimum.at(parent, pa, low)
        np.minimum.at(parent, pb, low)
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return parent[labels]


# --------------------------------------------------------------------------
# Quality against a known truth
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PairQuality:
    """Pairwise quality of a clustering: of all record pairs put together (``found``),
    how many are truly one person (``correct``), out of all true pairs (``true``)."""

    precision: float
    recall: float
    found: int
    correct: int
    true: int


def _pairs(codes: np.ndarray) -> int:
    counts = np.bincount(codes).astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def pair_quality(cluster_ids: Sequence[Any] | pd.Series, true_ids: Sequence[Any] | pd.Series) -> PairQuality:
    """Pairwise precision and recall of ``cluster_ids`` against ``true_ids`` (aligned by position).

    Precision is 1.0 when nothing was merged, recall 1.0 when nothing should
    have been. Raises ``ValueError`` when the lengths differ.
    """
    found_codes = pd.factorize(np.asarray(cluster_ids, dtype=object))[0]
    true_codes = pd.factorize(np.asarray(true_ids, dtype=object))[0]
    if len(found_codes) != len(true_codes):
        raise ValueError("cluster_ids and true_ids must have the same length")
    both = pd.factorize(found_codes.astype(np.int64) * (int(true_codes.max(initial=0)) + 1) + true_codes)[0]
    found, true, correct = _pairs(found_codes), _pairs(true_codes), _pairs(both)
    return PairQuality(precision=correct / found if found else 1.0, recall=correct / true if true else 1.0,
                       found=found, correct=correct, true=true)
