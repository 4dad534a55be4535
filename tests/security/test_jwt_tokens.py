"""JWT bearer tokens (``cdp.security.jwt_tokens``): a real token of the configured issuer becomes
its principal; anything else is refused as ``Unauthenticated`` saying what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from cdp.errors import ConfigurationError, Unauthenticated
from cdp.security.jwt_tokens import JwtVerifier
from cdp.security.principal import Role

KEY = "a shared secret long enough for HS256 tokens"
VERIFIER = JwtVerifier("https://idp", "cdp", KEY, algorithm="HS256")


def token(key: str = KEY, algorithm: str = "HS256", **claims: object) -> str:
    body: dict[str, object] = {"iss": "https://idp", "aud": "cdp", "sub": "u1",
                               "exp": datetime.now(UTC) + timedelta(minutes=5), "cdp_role": "analyst"}
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm)


def test_a_valid_token_becomes_its_principal_with_scopes() -> None:
    principal = VERIFIER.verify(token(scope="personal_data metrics", name="Ann"))
    assert principal.id == "jwt:https://idp:u1"
    assert principal.role is Role.ANALYST
    assert principal.name == "Ann"
    assert principal.scopes == frozenset({"personal_data", "metrics"})
    assert principal.operations == frozenset() and principal.customer_id is None


def test_partners_get_their_operations_and_customers_their_id() -> None:
    partner = VERIFIER.verify(token(cdp_role="PARTNER", cdp_operations=["upsertCustomers", "upsertAccounts"]))
    assert partner.role is Role.PARTNER
    assert partner.operations == frozenset({"upsertCustomers", "upsertAccounts"})
    assert VERIFIER.verify(token(cdp_role="customer", cdp_customer_id="C42")).customer_id == "C42"
    assert VERIFIER.verify(token(cdp_role="customer", sub="C7")).customer_id == "C7"  # default: the subject
    # Operations only mean something for partners.
    assert VERIFIER.verify(token(cdp_operations="upsertCustomers")).operations == frozenset()


@pytest.mark.parametrize(("bad", "says"), [
    (token(key="another secret of the same length, or so"), "invalid bearer token"),
    (token(exp=datetime.now(UTC) - timedelta(minutes=5)), "expired"),
    (token(iss="https://elsewhere"), "invalid bearer token"),
    (token(aud="another-service"), "invalid bearer token"),
    (token(sub=None), "invalid bearer token"),
    (token(exp=None), "invalid bearer token"),
    (token(cdp_role="root"), "cdp_role: unknown role 'root'"),
    (token(cdp_role=None), "cdp_role"),
    (token(algorithm="HS512"), "invalid bearer token"),  # a token cannot choose its algorithm
    (token(scope=5), "malformed token claim"),
    ("not.a.token", "invalid bearer token"),
])
def test_bad_tokens_are_refused_saying_why(bad: str, says: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        VERIFIER.verify(bad)
    assert says in str(caught.value)


def test_a_token_just_past_its_expiry_passes_within_the_leeway() -> None:
    assert VERIFIER.verify(token(exp=datetime.now(UTC) - timedelta(seconds=5))).role is Role.ANALYST


def test_an_unknown_algorithm_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="CDP_JWT_ALGORITHM"):
        JwtVerifier("https://idp", "cdp", KEY, algorithm="XYZ1")
