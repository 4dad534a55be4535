"""Relay global ids (``cdp.transport.global_ids``): encode, decode, and the typed refusal of
anything that is not a global id of this API."""

from __future__ import annotations

import base64

import pytest

from cdp.errors import InvalidInput
from cdp.transport import global_ids


def test_a_global_id_is_the_base64_of_type_and_domain_id_and_decodes_back() -> None:
    encoded = global_ids.encode("Customer", "C123")
    assert base64.b64decode(encoded).decode() == "Customer:C123"
    assert global_ids.decode(encoded) == ("Customer", "C123")


def test_a_domain_id_holding_a_colon_survives_the_round_trip() -> None:
    assert global_ids.decode(global_ids.encode("Contact", "K:1:2")) == ("Contact", "K:1:2")


@pytest.mark.parametrize("bad", [
    "not base64!",
    base64.b64encode(b"Customer").decode(),          # no separator
    base64.b64encode(b"Customer:").decode(),         # no domain id
    base64.b64encode(b"Invoice:I1").decode(),        # a type without a global id
    base64.b64encode(b"\xff\xfe:x").decode(),        # not text
])
def test_anything_else_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        global_ids.decode(bad, field="where.customer")
    assert caught.value.field == "where.customer"
    assert caught.value.code == "BAD_USER_INPUT"
    assert "where.customer is not a global id" in str(caught.value)
