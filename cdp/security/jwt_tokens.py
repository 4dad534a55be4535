"""JWT bearer tokens from a configured issuer (an identity provider, an API gateway).

Enabled by ``CDP_JWT_ISSUER`` and ``CDP_JWT_KEY`` (or ``CDP_JWT_KEY_FILE``); one
algorithm is accepted (``CDP_JWT_ALGORITHM``, default RS256), so a token cannot
choose a weaker one. A token must carry ``iss`` (the issuer), ``aud``
(``CDP_JWT_AUDIENCE``), ``sub``, ``exp`` and cdp's claims:

| claim | meaning |
|---|---|
| ``cdp_role`` | ``admin``, ``analyst``, ``app``, ``partner`` or ``customer`` (required) |
| ``scope`` | space-separated scopes, as in OAuth 2 (``personal_data``, ``personal:email``, ``metrics``) |
| ``cdp_operations`` | partners: the operations they may use (a list or space-separated) |
| ``cdp_customer_id`` | customers: their customer id (default: ``sub``) |

The principal's id is ``jwt:<issuer>:<subject>``.
"""

from __future__ import annotations

from collections.abc import Iterable

import jwt

from cdp.errors import ConfigurationError, Unauthenticated
from cdp.security.principal import Principal, Role

#: Seconds of clock difference tolerated on ``exp`` / ``nbf`` / ``iat``.
LEEWAY_SECONDS = 30


def _words(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, Iterable):
        return tuple(str(v) for v in value)
    raise Unauthenticated("malformed token claim: expected a string or a list")


class JwtVerifier:
    """Verifies tokens of one issuer, signed with one algorithm and key."""

    def __init__(self, issuer: str, audience: str, key: str, algorithm: str = "RS256") -> None:
        if algorithm not in jwt.algorithms.get_default_algorithms():
            raise ConfigurationError(f"CDP_JWT_ALGORITHM {algorithm!r} is not supported")
        self.issuer = issuer
        self.audience = audience
        self.key = key
        self.algorithm = algorithm

    def verify(self, token: str) -> Principal:
        """The principal ``token`` stands for. Raises ``Unauthenticated`` saying what is wrong
        (bad signature, expired, wrong issuer or audience, missing or bad claim)."""
        try:
            claims = jwt.decode(token, self.key, algorithms=[self.algorithm], audience=self.audience,
                                issuer=self.issuer, leeway=LEEWAY_SECONDS,
                                options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the bearer token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid bearer token: {exc}") from None
        try:
            role = Role.parse(str(claims.get("cdp_role", "")))
        except ValueError as exc:
            raise Unauthenticated(f"invalid bearer token: cdp_role: {exc}") from None
        subject = str(claims["sub"])
        customer_id = None
        if role is Role.CUSTOMER:
            customer_id = str(claims.get("cdp_customer_id") or subject)
        operations = _words(claims.get("cdp_operations")) if role is Role.PARTNER else ()
        return Principal(id=f"jwt:{self.issuer}:{subject}", role=role, name=str(claims.get("name") or subject),
                         scopes=frozenset(_words(claims.get("scope"))), operations=frozenset(operations),
                         customer_id=customer_id)
