"""API keys: created and revoked with ``cdp keys``, stored hashed as ``ApiKey`` nodes.

A key reads ``cdp_<id>_<secret>``: ``id`` (12 hex digits) names the ``ApiKey`` node,
``secret`` (32 random bytes, URL-safe base64) is shown once at creation and only its
SHA-256 is stored. A secret this long cannot be guessed, so a fast hash is enough
(password hashes such as bcrypt exist for low-entropy secrets) and checking a key
costs microseconds. Keys are sent as ``Authorization: Bearer <key>`` or ``X-API-Key``.

``KeyVerifier`` caches verified keys for ``cache_seconds`` (``CDP_API_KEY_CACHE_SECONDS``):
a revocation is seen at once by the process that made it and within that time by
other server processes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cdp.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from cdp.security.permissions import PARTNER_OPERATIONS, PERSONAL_ATTRIBUTE_KEYS
from cdp.security.principal import METRICS_SCOPE, PERSONAL_DATA_SCOPE, PERSONAL_FIELD_SCOPE_PREFIX, Principal, Role
from graph.clock import utc_now
from graph.store import GraphStore

KEY_PREFIX = "cdp"
_KEY = re.compile(r"cdp_([0-9a-f]{12})_([A-Za-z0-9_\-]{43})")
LABEL = "ApiKey"


@dataclass(frozen=True)
class ApiKey:
    """One stored API key (never its secret)."""

    id: str
    name: str
    role: Role
    scopes: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()
    customer_id: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def principal(self) -> Principal:
        """The principal requests made with this key act as."""
        return Principal(id=f"key:{self.id}", role=self.role, name=self.name, scopes=frozenset(self.scopes),
                         operations=frozenset(self.operations), customer_id=self.customer_id)

    def usable_at(self, now: datetime) -> bool:
        """Neither revoked nor expired at ``now`` (naive UTC)."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    @classmethod
    def from_row(cls, row: dict) -> ApiKey:
        return cls(id=row["id"], name=row.get("name") or "", role=Role.parse(row.get("role") or ""),
                   scopes=tuple((row.get("scopes") or "").split()),
                   operations=tuple((row.get("operations") or "").split()),
                   customer_id=row.get("customer_id") or None, created_at=row.get("created_at"),
                   expires_at=row.get("expires_at"), revoked_at=row.get("revoked_at"))


def _now() -> datetime:
    """Now, to the second: the precision key times are stored and shown with."""
    return utc_now().replace(microsecond=0)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_key(text: str) -> tuple[str, str]:
    """``(key id, secret)`` of a key's text. Raises ``Unauthenticated`` when it is not shaped like a cdp key."""
    match = _KEY.fullmatch(text.strip())
    if match is None:
        raise Unauthenticated("malformed API key: expected cdp_<12 hex digits>_<43 characters>")
    return match.group(1), match.group(2)


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """``scopes`` checked against the known ones (``personal_data``, ``personal:<field>``, ``metrics``)."""
    out = []
    for scope in scopes:
        field = scope.removeprefix(PERSONAL_FIELD_SCOPE_PREFIX)
        if scope not in (PERSONAL_DATA_SCOPE, METRICS_SCOPE) and not (
                scope.startswith(PERSONAL_FIELD_SCOPE_PREFIX) and field in PERSONAL_ATTRIBUTE_KEYS):
            raise InvalidInput(f"unknown scope {scope!r}: expected {PERSONAL_DATA_SCOPE}, {METRICS_SCOPE} or "
                               f"{PERSONAL_FIELD_SCOPE_PREFIX}<one of {', '.join(sorted(PERSONAL_ATTRIBUTE_KEYS))}>",
                               field="scopes")
        out.append(scope)
    return tuple(dict.fromkeys(out))


def create_key(store: GraphStore, name: str, role: Role | str, *, scopes: Sequence[str] = (),
               operations: Sequence[str] = (), customer_id: str | None = None,
               expires_at: datetime | None = None, now: datetime | None = None) -> tuple[ApiKey, str]:
    """Create and store a key. Out: the stored key and its full text (shown once, never stored).

    Raises ``InvalidInput`` when: the name is empty; a scope is unknown; a partner key names
    no operation or one partners may not be granted; operations are given for another role;
    a customer key has no customer id or one that does not exist; ``expires_at`` is past.
    """
    role = Role.parse(role) if isinstance(role, str) else role
    now = now or _now()
    if not name.strip():
        raise InvalidInput("a key needs a name saying who holds it", field="name")
    scopes = check_scopes(scopes)
    operations = tuple(dict.fromkeys(operations))
    if role is Role.PARTNER:
        if not operations:
            raise InvalidInput("a partner key must name the operations it may use (--operations)",
                               field="operations")
        unknown = [op for op in operations if op not in PARTNER_OPERATIONS]
        if unknown:
            raise InvalidInput(f"partners may not be granted {', '.join(unknown)}; grantable: "
                               f"{', '.join(sorted(PARTNER_OPERATIONS))}", field="operations")
    elif operations:
        raise InvalidInput("only partner keys name operations; other roles have fixed permissions",
                           field="operations")
    if role is Role.CUSTOMER:
        if not customer_id:
            raise InvalidInput("a customer key needs the customer's id (--customer)", field="customerId")
        if not store.customers([customer_id]):
            raise NotFound(f"unknown customer {customer_id!r}", field="customerId")
    elif customer_id:
        raise InvalidInput("only customer keys are bound to a customer", field="customerId")
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at is in the past", field="expires_at")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(id=key_id, name=name.strip(), role=role, scopes=scopes, operations=operations,
                 customer_id=customer_id or None, created_at=now, expires_at=expires_at)
    store.upsert_nodes(LABEL, [{
        "id": key_id, "name": key.name, "role": role.value, "scopes": " ".join(scopes),
        "operations": " ".join(operations), "customer_id": key.customer_id, "secret_hash": _hash(secret),
        "created_at": now, "expires_at": expires_at, "revoked_at": None}])
    return key, f"{KEY_PREFIX}_{key_id}_{secret}"


def list_keys(store: GraphStore) -> list[ApiKey]:
    """Every stored key (revoked ones too), oldest first."""
    rows = store.export_nodes(LABEL).to_pylist()
    return sorted((ApiKey.from_row(r) for r in rows), key=lambda k: (k.created_at or datetime.min, k.id))


#: One revocation at a time in this process (the embedded store runs one write transaction
#: at a time); across processes the store's transaction serialises them (``revoke_key``).
_REVOKING = threading.Lock()


def revoke_key(store: GraphStore, key_id: str, now: datetime | None = None, *,
               allow_last_admin: bool = False) -> ApiKey:
    """Revoke ``key_id`` (a key id or a whole key). Revoking twice keeps the first time.

    The last usable admin key is not revoked unless ``allow_last_admin`` (``cdp keys revoke
    --last-admin``): without an admin key nobody can manage keys through the API until
    someone with the store's files makes a new one. The check and the revocation are one
    transaction of the store that first locks every admin key
    (``GraphStore.revoke_api_key``), so it holds for servers sharing one Neo4j too: two
    admins revoking the last two admin keys at once, on two servers, revoke one. Raises
    ``NotFound`` for an unknown key, ``Conflict`` for the last admin key.
    """
    if key_id.startswith(KEY_PREFIX + "_"):
        key_id = parse_key(key_id)[0]
    now = now or _now()
    with _REVOKING:
        row, refused = store.revoke_api_key(key_id, now, None if allow_last_admin else Role.ADMIN.value,
                                            lambda r, at: ApiKey.from_row(r).usable_at(at))
    if row is None:
        raise NotFound(f"no API key {key_id!r}", field="key")
    if refused:
        raise Conflict(f"API key {key_id} is the last active admin key: revoking it would leave nobody able "
                       "to manage keys through the API. Create another admin key first (createApiKey or "
                       "`cdp keys create --role admin`), or revoke it with `cdp keys revoke --last-admin`",
                       field="id")
    return ApiKey.from_row(row)


class KeyVerifier:
    """Turns a key's text into its ``Principal``; caches stored keys for ``cache_seconds``."""

    def __init__(self, store: GraphStore, cache_seconds: float = 10.0) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, dict | None]] = {}
        self._lock = threading.Lock()

    def verify(self, text: str, now: datetime | None = None) -> Principal:
        """The principal of key ``text``. Raises ``Unauthenticated`` when the key is malformed,
        unknown, wrong, revoked or expired (the message says which, never the stored hash)."""
        key_id, secret = parse_key(text)
        row = self._row(key_id)
        if row is None or not hmac.compare_digest(row.get("secret_hash") or "", _hash(secret)):
            raise Unauthenticated("unknown API key")
        key = ApiKey.from_row(row)
        if key.revoked_at is not None:
            raise Unauthenticated(f"API key {key_id} was revoked")
        if not key.usable_at(now or utc_now()):
            raise Unauthenticated(f"API key {key_id} has expired")
        return key.principal()

    def is_fresh(self, key_id: str) -> bool:
        """True when ``key_id`` is cached and young enough to verify without reading the store."""
        cached = self._cache.get(key_id)
        return cached is not None and time.monotonic() - cached[0] < self.cache_seconds

    def forget(self, key_id: str | None = None) -> None:
        """Drop one cached key (or all) so the next use reads the store again."""
        with self._lock:
            if key_id is None:
                self._cache.clear()
            else:
                self._cache.pop(key_id, None)

    def _row(self, key_id: str) -> dict | None:
        clock = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None and clock - cached[0] < self.cache_seconds:
            return cached[1]
        row = self.store.nodes(LABEL, [key_id]).get(key_id)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key_id] = (clock, row)
        return row
