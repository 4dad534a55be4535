"""Caching headers of ``GET`` answers, and ``304`` for a tag the client holds
(``cdp.transport.http_caching``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from cdp.transport.http_caching import CREDENTIAL_HEADERS, cache_get_answer, entity_tag


def _request(if_none_match: str | None = None) -> Request:
    headers = [(b"if-none-match", if_none_match.encode())] if if_none_match else []
    return Request({"type": "http", "method": "GET", "path": "/graphql", "headers": headers, "query_string": b""})


def test_an_answer_gets_a_private_max_age_a_strong_tag_and_varies_by_credential() -> None:
    answer = cache_get_answer(_request(), JSONResponse({"data": {"x": 1}}), 30, failed=False)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "private, max-age=30"
    assert answer.headers["etag"] == entity_tag(bytes(answer.body))
    assert answer.headers["etag"].startswith('"') and len(answer.headers["etag"]) == 34
    assert answer.headers["vary"] == CREDENTIAL_HEADERS


def test_a_held_tag_is_answered_304_weak_or_strong() -> None:
    tag = entity_tag(JSONResponse({"data": {"x": 1}}).body)
    for header in (tag, f"W/{tag}", f'"other", {tag}'):
        answer = cache_get_answer(_request(header), JSONResponse({"data": {"x": 1}}), 30, failed=False)
        assert answer.status_code == 304
        assert answer.body == b""
    changed = cache_get_answer(_request(tag), JSONResponse({"data": {"x": 2}}), 30, failed=False)
    assert changed.status_code == 200


def test_an_answer_with_errors_is_not_stored_and_max_age_0_revalidates() -> None:
    failed = cache_get_answer(_request(), JSONResponse({"errors": []}), 30, failed=True)
    assert failed.headers["cache-control"] == "no-store"
    assert "etag" not in failed.headers
    fresh = cache_get_answer(_request(), JSONResponse({"data": {}}), 0, failed=False)
    assert fresh.headers["cache-control"] == "private, no-cache"
