"""What a GraphQL request over HTTP must be, checked before GraphQL runs
(``cdp.transport.graphql_request``): each refusal is typed, with its code and HTTP status."""

from __future__ import annotations

import pytest

from cdp.transport.graphql_request import BadRequest, JsonTooDeep, UnreadableText, decode_json


def test_a_json_body_is_decoded() -> None:
    assert decode_json(b'{"query": "{ channels { id } }", "variables": {"n": [1, 2]}}', 8, "") == {
        "query": "{ channels { id } }", "variables": {"n": [1, 2]}}


def test_not_utf8_and_not_json_are_bad_requests() -> None:
    with pytest.raises(BadRequest, match="not valid UTF-8") as not_utf8:
        decode_json(b'{"query": "\xff"}', 8, "")
    assert (not_utf8.value.code, not_utf8.value.status) == ("BAD_REQUEST", 400)
    with pytest.raises(BadRequest, match="not valid JSON"):
        decode_json(b'{"query": ', 8, "")
    with pytest.raises(BadRequest, match="`variables` is not valid JSON"):
        decode_json("NaN", 8, "variables")  # not JSON, though Python's parser takes it


def test_nesting_past_the_limit_is_json_too_deep_with_the_limit() -> None:
    decode_json("[" * 8 + "]" * 8, 8, "")
    with pytest.raises(JsonTooDeep) as deep:
        decode_json("[" * 9 + "]" * 9, 8, "")
    assert deep.value.code == "JSON_TOO_DEEP"
    assert deep.value.extensions == {"limit": 8}


def test_a_lone_surrogate_is_unreadable_text() -> None:
    with pytest.raises(UnreadableText) as lone:
        decode_json(b'{"query": "{ a }", "variables": {"name": "\\ud800"}}', 8, "")
    assert lone.value.code == "BAD_USER_INPUT"
    decode_json(b'{"query": "\\ud83d\\ude00"}', 8, "")  # a pair is a character: accepted
