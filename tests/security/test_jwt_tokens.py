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


# Each case makes its token when it runs (a token made at collection could expire before a
# long suite reaches it): keyword arguments of ``token``, or a literal string.
@pytest.mark.parametrize(("bad", "says"), [
    ({"key": "another secret of the same length, or so"}, "invalid bearer token"),
    ({"exp": timedelta(minutes=-5)}, "expired"),
    ({"iss": "https://elsewhere"}, "invalid bearer token"),
    ({"aud": "another-service"}, "invalid bearer token"),
    ({"sub": None}, "invalid bearer token"),
    ({"exp": None}, "invalid bearer token"),
    ({"cdp_role": "root"}, "cdp_role: unknown role 'root'"),
    ({"cdp_role": None}, "cdp_role"),
    ({"algorithm": "HS512"}, "invalid bearer token"),  # a token cannot choose its algorithm
    ({"scope": 5}, "malformed token claim"),
    ("not.a.token", "invalid bearer token"),
])
def test_bad_tokens_are_refused_saying_why(bad: str | dict[str, object], says: str) -> None:
    if isinstance(bad, dict):
        claims = {k: datetime.now(UTC) + v if isinstance(v, timedelta) else v for k, v in bad.items()}
        bad = token(**claims)  # type: ignore[arg-type]  # key, algorithm: str; the rest: claims
    with pytest.raises(Unauthenticated) as caught:
        VERIFIER.verify(bad)
    assert says in str(caught.value)


def test_a_token_just_past_its_expiry_passes_within_the_leeway() -> None:
    assert VERIFIER.verify(token(exp=datetime.now(UTC) - timedelta(seconds=5))).role is Role.ANALYST


def test_an_unknown_algorithm_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="CDP_JWT_ALGORITHM"):
        JwtVerifier("https://idp", "cdp", KEY, algorithm="XYZ1")
