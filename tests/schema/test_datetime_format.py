"""One DateTime format everywhere (schema/scalars.py, docs/api-changes.md): every instant the
API answers, as a DateTime field, inside a JSON document or in a String, is ISO 8601 in UTC
with the explicit offset ``+00:00``; inputs with any offset, or none (UTC), mean the same instant.

The main queries run through the real HTTP endpoint on the demo store (and a churn model
trained through the API, for model cards and scores); every string of every answer that starts
like a time is checked, so a time written elsewhere than the scalar (a JSON blob, a String
field) is caught too.
"""

from __future__ import annotations

import re

import pytest

from cdp.settings import Settings
from tests.conftest import api_client, gql, train_model

#: A time as the API writes it: seconds, fractional seconds only when there are any, +00:00.
ONE_FORMAT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?\+00:00")
#: A date with a time (T or space separated) in any format, anywhere in a string (a JSON
#: document's value, a note such as `liftNote`, a campaign name): the whole written time.
LOOKS_LIKE_A_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?")

CUSTOMER = """query($id: ID!) { customer(id: $id) {
  id updatedAt lastContactAt
  accounts { id monetaryEvents(first: 5) { edges { node { at } } } }
  contacts(first: 10) { edges { node { at resolvedAt } } }
  monetaryHistory(first: 10) { totalCount edges { node { at } } }
  preferredChannels { updatedAt }
  identities { linkedAt }
  profile { provenance { observedAt expiresAt } }
  consents { recordedAt expiresAt }
  consentHistory { recordedAt expiresAt }
  nextBestChannels(first: 3) { channel bestTime }
  churnRisk { probability }
  segments { createdAt updatedAt }
} }"""

MAIN = """{
  valueSegmentation { computedAt }
  reports: campaigns(first: 100) { edges { node { id name report { at liftNote } } } }
  dataQuality { generatedAt }
  campaigns(first: 100) { edges { node { id createdAt updatedAt launchedAt startsAt endsAt
    waves { launchedAt dueAt } } } }
  segments(first: 100) { edges { node { createdAt updatedAt } } }
  complaints(first: 20) { edges { node { openedAt resolvedAt } } }
  complaintStats { asOf }
  auditLog(first: 20) { edges { node { at } } }
  apiKeys { createdAt expiresAt revokedAt }
  models { name trainedAt parameters { name value } }
  contactPolicy { definition }
}"""


def _strings(value: object, path: str = "") -> list[tuple[str, str]]:
    """Every string in a decoded JSON answer, with its path."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in _strings(v, f"{path}[{i}]")]
    return []


def _times(body: dict) -> list[tuple[str, str]]:
    assert "errors" not in body, body["errors"]
    return [(p, m.group(0)) for p, s in _strings(body["data"]) for m in LOOKS_LIKE_A_TIME.finditer(s)]


def _bad(times: list[tuple[str, str]]) -> list[str]:
    return [f"{p} = {s!r}" for p, s in times if not ONE_FORMAT.fullmatch(s)]


@pytest.fixture(scope="module")
def http(demo_store, tmp_path_factory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("datetimes")
    with api_client(Settings(audit_log=home / "audit.jsonl", model_dir=home / "models"), demo_store) as c:
        job = train_model(c, "churn", "name trainedAt")
        assert job["status"] == "SUCCEEDED", job
        yield c


def test_every_time_in_the_main_answers_has_the_one_format(http) -> None:  # type: ignore[no-untyped-def]
    ids = [e["node"]["id"] for e in gql(http, "{ customers(first: 8) { edges { node { id } } } }")
           ["data"]["customers"]["edges"]]
    times = _times(gql(http, MAIN))
    for customer_id in ids:
        times += _times(gql(http, CUSTOMER, {"id": customer_id}))
        export = gql(http, "query($id: ID!) { exportCustomerData(customerId: $id) }", {"id": customer_id})
        times += _times(export)  # a JSON document: its times are strings inside it
    fields = {re.sub(r"\[\d+\]", "", p).rsplit(".", 1)[-1] for p, _ in times}
    # the answers did hold times of many kinds (a test over empty answers would prove nothing)
    assert {"updatedAt", "at", "computedAt", "generatedAt", "trainedAt", "createdAt", "openedAt"} <= fields, fields
    assert len(times) > 100, len(times)
    assert not _bad(times), "times not in the one format:\n  " + "\n  ".join(_bad(times)[:40])


def test_inputs_with_any_offset_or_none_mean_the_same_instant(http) -> None:  # type: ignore[no-untyped-def]
    query = "query($since: DateTime) { channels { id contactVolume(since: $since) } }"
    same = ["2025-06-01T12:00:00Z", "2025-06-01T12:00:00+00:00", "2025-06-01T14:00:00+02:00",
            "2025-06-01T07:00:00-05:00", "2025-06-01T12:00:00"]
    answers = [gql(http, query, {"since": s})["data"]["channels"] for s in same]
    assert all(a == answers[0] for a in answers), answers
    later = gql(http, query, {"since": "2025-06-01T12:00:00+01:00"})["data"]["channels"]  # 11:00 UTC: an hour more
    assert sum(c["contactVolume"] for c in later) >= sum(c["contactVolume"] for c in answers[0])
    bad = gql(http, query, {"since": "yesterday"})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", bad


def test_the_sdl_states_the_format() -> None:
    from schema import sdl

    text = sdl()
    scalar = text[:text.index("scalar DateTime")].rsplit('"""', 2)[-2]
    assert "+00:00" in scalar and "offset" in scalar, scalar
    assert "computedAt: DateTime!" in text and "bestTime: DateTime" in text


def test_the_checker_refuses_other_formats() -> None:
    for wrong in ("2026-12-07T15:54:00", "2026-12-07 15:54:00", "2026-12-07T15:54:00Z",
                  "2026-12-07T16:54:00+01:00", "2026-12-07T15:54+00:00", "closes on 2026-12-07 15:54 (interim)"):
        assert _bad(_times({"data": {"x": wrong}})), wrong
    assert not _bad(_times({"data": {"x": "2026-12-07T15:54:00+00:00", "y": "at 2026-12-07T15:54:00.123456+00:00."}}))
