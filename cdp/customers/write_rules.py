"""The rules every value written by a partner (``upsert*`` mutations) or an import
(``cdp import``) must pass, and the defaults a new customer gets.

One module for both paths, so a value refused over the API is refused in a file too:

| what | rule |
|---|---|
| ids (keys and links) | non-empty, at most 200 characters, no control characters (NUL, newline, ...), no invisible or bidirectional formatting characters (right-to-left override, zero-width space, BOM, ...) |
| any other text | no control characters but tab, newline and carriage return, no bidirectional embedding, override or isolate characters |
| ``email`` | ``local@domain``: the local part of letters, digits and ``!#$%&'*+/=?^_`{}|~-`` in dot-separated runs (at most 64), a domain of two or more labels ending in a top-level domain of two or more characters, at most 254 in all; surrounding spaces dropped |
| ``phone`` | written as E.164 (``+31612345678``); national numbers (``06-12345678``) belong to ``Settings.phone_country_code``; anything that cannot be a number is refused (``cdp.identity.resolution.normalise_phone``, the rule identity resolution matches on) |
| ``birth_date`` | not in the future and at most ``OLDEST_AGE_YEARS`` years ago |
| ``country`` | an ISO 3166-1 alpha-2 code (``NL``); lower case is raised |
| source | 1-40 letters, digits or ``_``, not ``CUSTOMER`` (self-service's source); over the API also one the profile policy lists under ``[sources]`` |
| ``status`` (upserts and imports) | not ``MERGED`` or ``ERASED`` (``RESERVED_STATUSES``: only identity resolution and erasure set them), and not changed on a customer that is ``MERGED`` |
| new customers | ``status`` ``ACTIVE`` and ``tier`` ``CONSUMER`` unless given (``CUSTOMER_DEFAULTS``); neither can be cleared |

Scalar checks (``check_customer_value``, ``id_problem``, ``text_problem``) serve the
upserts; the column checks (``customer_column``, ``reserved_statuses``, ``id_problems``, ``text_problems``)
apply the same rules to an import's Arrow columns at about a second per million values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp.errors import InvalidInput
from cdp.identity.resolution import NATIONAL_NUMBER_DIGITS, normalise_phone, normalise_phones
from graph.clock import utc_now, utc_today

#: What a new customer gets when the writer does not say (docs/import.md, docs/errors.md).
CUSTOMER_DEFAULTS: dict[str, str] = {"status": "ACTIVE", "tier": "CONSUMER"}

#: Customer statuses only cdp itself sets, never a partner's upsert: ``MERGED`` (with
#: ``merged_into``) by identity resolution (``cdp.customers.customer_merge``), ``ERASED`` by
#: ``eraseCustomer`` (which also removes the personal data). The value says who sets it.
RESERVED_STATUSES: dict[str, str] = {
    "MERGED": "identity resolution, which also records merged_into and moves the customer's data",
    "ERASED": "eraseCustomer, which also removes the personal data",
}

#: Birth dates further back than this many years are refused (the oldest person on record lived 122).
OLDEST_AGE_YEARS = 130

MAX_ID_LENGTH = 200

#: Sources only cdp itself writes as: self-service values and consents (``cdp.customers.profile``).
RESERVED_SOURCES = ("CUSTOMER",)

#: ISO 3166-1 alpha-2 codes currently assigned (the public-domain iso3166.tab of the tz database).
COUNTRIES = frozenset((
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS "
    "BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE "
    "EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM "
    "HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC "
    "LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA "
    "NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW "
    "SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO "
    "TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW").split())

_BIDI = [(0x202A, 0x202E), (0x2066, 0x2069)]  # embeddings, overrides, isolates
#: Code points an id may not hold: controls (Cc), invisible and bidirectional formatting
#: characters (Cf), line and paragraph separators, surrogates.
_ID_FORBIDDEN = [(0x00, 0x1F), (0x7F, 0x9F), (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD),
                 (0x70F, 0x70F), (0x180E, 0x180E), (0x200B, 0x200F), (0x2028, 0x2029), *_BIDI,
                 (0x2060, 0x2064), (0x206A, 0x206F), (0xD800, 0xDFFF), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB)]
#: Code points free text may not hold: controls but tab, newline and carriage return, and the
#: bidirectional controls that reorder what follows (a name shown "reversed").
_TEXT_FORBIDDEN = [(0x00, 0x08), (0x0B, 0x0C), (0x0E, 0x1F), (0x7F, 0x9F), *_BIDI, (0xD800, 0xDFFF)]


def _char_class(ranges: Iterable[tuple[int, int]], arrow: bool) -> str:
    """A regex character class of ``ranges`` for Python's ``re`` or (``arrow``) RE2 in Arrow."""
    def one(cp: int) -> str:
        return f"\\x{{{cp:X}}}" if arrow else (f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}")
    ranges = [(lo, hi) for lo, hi in ranges if not (arrow and 0xD800 <= lo <= 0xDFFF)]  # not in UTF-8
    return "[" + "".join(one(lo) if lo == hi else f"{one(lo)}-{one(hi)}" for lo, hi in ranges) + "]"


def _email_pattern(arrow: bool) -> str:
    wide = _char_class([(0xA0, 0x10FFFF)], arrow)[1:-1]  # letters of other scripts (IDN, SMTPUTF8)
    atom = f"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~{wide}-]+"
    label = f"[A-Za-z0-9{wide}]([A-Za-z0-9{wide}-]*[A-Za-z0-9{wide}])?"
    tld = f"[A-Za-z{wide}][A-Za-z0-9{wide}-]*[A-Za-z0-9{wide}]"
    return f"^{atom}(\\.{atom})*@({label}\\.)+{tld}$"


_ID_BAD = re.compile(_char_class(_ID_FORBIDDEN, arrow=False))
_TEXT_BAD = re.compile(_char_class(_TEXT_FORBIDDEN, arrow=False))
_EMAIL = re.compile(_email_pattern(arrow=False))
_ID_BAD_ARROW = _char_class(_ID_FORBIDDEN, arrow=True)
_TEXT_BAD_ARROW = _char_class(_TEXT_FORBIDDEN, arrow=True)
_EMAIL_ARROW = _email_pattern(arrow=True)


@dataclass(frozen=True)
class WriteRules:
    """The settings the rules depend on: the calling code of national phone numbers
    (``Settings.phone_country_code``) and today's date (birth dates), from the one clock."""

    phone_country_code: str = "31"
    today: date = field(default_factory=utc_today)

    @classmethod
    def of(cls, settings: Any, now: datetime | None = None) -> WriteRules:
        """The rules for ``settings`` (a ``cdp.settings.Settings``) at ``now`` (naive UTC; None: now)."""
        today = (now or utc_now()).date()
        return cls(phone_country_code=settings.phone_country_code, today=today)

    @property
    def oldest_birth_date(self) -> date:
        return self.today - timedelta(days=round(365.25 * OLDEST_AGE_YEARS))


# --------------------------------------------------------------------------- one value

def _code_point(match: re.Match[str]) -> str:
    return f"U+{ord(match.group()):04X}"


def id_problem(value: Any, what: str = "id") -> str | None:
    """Why ``value`` cannot be an id (None when it can)."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_LENGTH:
        return f"{what} must be a non-empty string of at most {MAX_ID_LENGTH} characters"
    bad = _ID_BAD.search(value)
    if bad:
        return f"{what} must not contain control, invisible or bidirectional formatting characters " \
               f"(found {_code_point(bad)})"
    return None


def text_problem(value: Any, what: str) -> str | None:
    """Why text ``value`` cannot be stored (None when it can, or is not text)."""
    if isinstance(value, str):
        bad = _TEXT_BAD.search(value)
        if bad:
            return f"{what} must not contain control or bidirectional override characters (found {_code_point(bad)})"
    return None


def email(value: str, rules: WriteRules) -> str:
    """``value`` trimmed; ``ValueError`` unless it is an e-mail address."""
    text = value.strip()
    if len(text) > 254 or len(text.split("@")[0]) > 64 or not _EMAIL.match(text) or _ID_BAD.search(text):
        raise ValueError(f"{_quoted(value)} is not an e-mail address (expected name@example.com)")
    return text


def phone(value: str, rules: WriteRules) -> str:
    """``value`` in E.164; ``ValueError`` when it cannot be a phone number."""
    number = normalise_phone(value, rules.phone_country_code)
    if number is None:
        raise ValueError(f"{_quoted(value)} is not a phone number (expected E.164 such as +31612345678, or a "
                         f"national number of country code +{rules.phone_country_code})")
    return number


def country(value: str, rules: WriteRules) -> str:
    """``value`` as an upper-case ISO 3166-1 alpha-2 code; ``ValueError`` when it is none."""
    code = value.strip().upper()
    if code not in COUNTRIES:
        raise ValueError(f"{_quoted(value)} is not an ISO 3166-1 alpha-2 country code (such as NL, BE, DE)")
    return code


def birth_date(value: date, rules: WriteRules) -> date:
    """``value`` when it is a plausible birth date; ``ValueError`` when in the future or too long ago."""
    if value > rules.today:
        raise ValueError(f"birth date {value.isoformat()} is in the future")
    if value < rules.oldest_birth_date:
        raise ValueError(f"birth date {value.isoformat()} is more than {OLDEST_AGE_YEARS} years ago")
    return value


#: Customer properties with a rule of their own: property -> check (value -> normalised value).
CUSTOMER_CHECKS: dict[str, Callable[[Any, WriteRules], Any]] = {
    "email": email, "phone": phone, "country": country, "birth_date": birth_date,
}


def check_customer_value(name: str, value: Any, rules: WriteRules) -> Any:
    """The value to store for Customer property ``name``; ``ValueError`` (the reason) when refused.

    None passes (it clears the property), except for ``status`` and ``tier``, which
    cannot be cleared.
    """
    if value is None:
        if name in CUSTOMER_DEFAULTS:
            raise ValueError(f"{name} cannot be cleared (leave it out to keep it; new customers get "
                             f"{CUSTOMER_DEFAULTS[name]})")
        return None
    check = CUSTOMER_CHECKS.get(name)
    return check(value, rules) if check else value


def check_source(source: Any, known: Iterable[str] | None = None) -> str:
    """``source`` upper-cased; ``InvalidInput`` (field ``source``) when it is malformed, reserved,
    or (``known`` given: the profile policy's sources) not one of ``known``."""
    if not isinstance(source, str) or not source or len(source) > 40 or not all(
            ch.isascii() and (ch.isalnum() or ch == "_") for ch in source):
        raise InvalidInput(f"source must be 1-40 letters, digits or _, got {source!r}", field="source")
    name = source.upper()
    if name in RESERVED_SOURCES:
        raise InvalidInput(f"source {name} is reserved for what customers enter themselves", field="source")
    if known is not None:
        names = sorted(k for k in known if k not in RESERVED_SOURCES)
        if name not in names:
            raise InvalidInput(f"unknown source {name}: expected one of {', '.join(names)} (the profile "
                               "policy's [sources])", field="source")
    return name


def _quoted(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --------------------------------------------------------------------------- whole columns (imports)

def _positions(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))


def id_problems(values: pa.Array) -> np.ndarray:
    """Positions of the text ``values`` holding a character ids may not (see ``id_problem``)."""
    return _positions(pc.match_substring_regex(values, _ID_BAD_ARROW))


def text_problems(values: pa.Array) -> np.ndarray:
    """Positions of the text ``values`` holding a character text may not (see ``text_problem``)."""
    return _positions(pc.match_substring_regex(values, _TEXT_BAD_ARROW))


def reserved_statuses(values: pa.Array) -> tuple[np.ndarray, list[str]]:
    """Positions of the customer ``status`` values only cdp itself sets (``RESERVED_STATUSES``)
    and a reason for each: an import, like a partner's upsert, may not set them."""
    bad = _positions(pc.is_in(values, value_set=pa.array(sorted(RESERVED_STATUSES), values.type)))
    return bad, [f"status {values[int(i)].as_py()} is set only by {RESERVED_STATUSES[values[int(i)].as_py()]}; "
                 "an import cannot set it" for i in bad]


def customer_column(name: str, values: pa.Array, rules: WriteRules) -> tuple[pa.Array, np.ndarray, list[str]]:
    """Customer property ``name``'s rule over a column: the normalised values (refused ones
    null), the positions refused and a reason for each. Columns without a rule pass as they are."""
    none = np.empty(0, np.int64)
    if name not in CUSTOMER_CHECKS or values.null_count == len(values):
        return values, none, []
    if name == "email":
        text = pc.utf8_trim_whitespace(values)
        ok = pc.and_(pc.match_substring_regex(text, _EMAIL_ARROW),
                     pc.invert(pc.match_substring_regex(text, _ID_BAD_ARROW)))
        ok = pc.and_(ok, pc.less_equal(pc.utf8_length(text), 254))
        ok = pc.and_(ok, pc.match_substring_regex(text, "^[^@]{1,64}@"))
        out = text
    elif name == "phone":
        out = _phones(values, rules.phone_country_code)
        ok = pc.is_valid(out)
    elif name == "country":
        out = pc.utf8_upper(pc.utf8_trim_whitespace(values))
        ok = pc.is_in(out, value_set=pa.array(sorted(COUNTRIES)))
    else:  # birth_date
        days = values.cast(pa.date32())
        ok = pc.and_(pc.less_equal(days, pa.scalar(rules.today, pa.date32())),
                     pc.greater_equal(days, pa.scalar(rules.oldest_birth_date, pa.date32())))
        out = values
    bad = np.flatnonzero(np.asarray(pc.and_(pc.is_valid(values), pc.invert(pc.fill_null(ok, False)))
                                    .to_numpy(zero_copy_only=False), bool))
    if not len(bad):
        return out, none, []
    reasons = []
    for i in bad:
        try:
            CUSTOMER_CHECKS[name](values[int(i)].as_py(), rules)
            reasons.append(f"not accepted as {name}")  # the column rule is stricter than the scalar one
        except ValueError as exc:
            reasons.append(str(exc))
    keep = np.ones(len(values), bool)
    keep[bad] = False
    return pc.if_else(pa.array(keep), out, pa.nulls(len(values), out.type)), bad, reasons


def _phones(values: pa.Array, calling_code: str) -> pa.Array:
    """``cdp.identity.resolution.normalise_phones`` over an Arrow column (None where refused). Numbers
    already in E.164 that ``normalise_phone`` keeps as they are (most of a clean export)
    are recognised by one regular expression; only the others go through the normaliser,
    which takes about ten times as long."""
    e164 = pc.match_substring_regex(values, r"^\+[1-9][0-9]{7,14}$")
    for code, digits in NATIONAL_NUMBER_DIGITS.items():  # countries whose numbers have a fixed length
        theirs = pc.starts_with(values, "+" + code)
        fits = pc.match_substring_regex(values, rf"^\+{code}[1-9][0-9]{{{digits - 1}}}$")
        e164 = pc.and_(e164, pc.or_(pc.invert(theirs), fits))
    e164 = pc.fill_null(e164, False)
    rest = pc.and_(pc.is_valid(values), pc.invert(e164))
    if not pc.any(rest).as_py():
        return values
    others = values.filter(rest)
    numbers = normalise_phones(others.to_pandas(), calling_code)
    normalised = pa.array(numbers.astype(object).where(numbers.notna(), None), pa.string())
    return pc.replace_with_mask(values, rest, normalised)
