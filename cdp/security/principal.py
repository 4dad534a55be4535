"""Who is calling: the ``Principal`` a verified credential stands for, and its ``Role``.

A principal comes from an API key (``cdp.security.api_keys``) or a JWT bearer token
(``cdp.security.jwt_tokens``); the CLI acts as the ``cli`` principal, an admin. What a
principal may do is decided in ``cdp.security.permissions`` (docs/security.md).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from enum import StrEnum

#: Scope that lets a principal read personal data (every personal field).
PERSONAL_DATA_SCOPE = "personal_data"
#: Prefix of a scope that lets a principal read one personal field, e.g. ``personal:email``.
PERSONAL_FIELD_SCOPE_PREFIX = "personal:"
#: Scope that lets a principal scrape ``/metrics`` (admins may always).
METRICS_SCOPE = "metrics"


class Role(StrEnum):
    """What kind of caller a credential belongs to."""

    ADMIN = "admin"  # operators: everything, including keys, erasure and policies
    ANALYST = "analyst"  # segments, models, campaigns; personal data masked unless scoped
    APP = "app"  # front ends (service desk, self-service back end): customer view and service writes
    PARTNER = "partner"  # billing platforms, marketing tools: only the operations their key names
    CUSTOMER = "customer"  # self-service: only their own profile

    @classmethod
    def parse(cls, raw: str) -> Role:
        """``raw`` as a role (case-insensitive). Raises ``ValueError`` naming the valid roles."""
        try:
            return cls(raw.strip().lower())
        except ValueError:
            raise ValueError(f"unknown role {raw!r}: expected one of {', '.join(r.value for r in cls)}") from None


@dataclass(frozen=True)
class Principal:
    """A verified caller.

    ``id`` is stable per credential (``key:<key id>``, ``jwt:<issuer>:<subject>``,
    ``cli:<user>``): audit records and rate limits are keyed by it.
    ``operations`` (partners only) names the root fields the caller may use;
    ``customer_id`` (customers only) is the one customer it may reach.
    """

    id: str
    role: Role
    name: str = ""
    scopes: frozenset[str] = field(default_factory=frozenset)
    operations: frozenset[str] = field(default_factory=frozenset)
    customer_id: str | None = None

    def has_scope(self, scope: str) -> bool:
        """True when the principal was granted ``scope`` (admins hold every scope)."""
        return self.role is Role.ADMIN or scope in self.scopes


def cli_principal() -> Principal:
    """The principal of a command run on the server's machine (``cdp ...``): an admin,
    named after the operating-system user for the audit log."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in some containers (no passwd entry, no LOGNAME)
        user = "unknown"
    return Principal(id=f"cli:{user}", role=Role.ADMIN, name=f"cdp CLI ({user})")
