"""The one settings object of cdp, read from the environment.

| variable | default | meaning |
|---|---|---|
| ``CDP_DB_PATH`` | ``data/cdp.lbdb`` | embedded store file |
| ``CDP_BUFFER_POOL_MB`` | ``2048`` | embedded store page cache |
| ``CDP_CHECKPOINT_MB`` | ``1024`` | embedded store WAL size that triggers a checkpoint |
| ``NEO4J_URI`` | unset | when set, use Neo4j instead of the embedded store: ``bolt://host:7687`` (one server), ``neo4j://host:7687`` (routing: a cluster), ``neo4j+s://...`` (TLS, e.g. Aura); docs/neo4j.md |
| ``NEO4J_USER`` / ``NEO4J_PASSWORD`` / ``NEO4J_DATABASE`` | ``neo4j`` / ``""`` / ``neo4j`` | Neo4j credentials |
| ``CDP_HOST`` / ``CDP_PORT`` | ``127.0.0.1`` / ``8000`` | where ``cdp serve`` listens |
| ``CDP_MAX_PAGE_SIZE`` | ``100`` | largest ``first`` a connection accepts |
| ``CDP_DEMO_CUSTOMERS`` / ``CDP_DEMO_SEED`` | ``2000`` / ``42`` | demo data loaded on first run |
| ``CDP_PROFILE_POLICY`` | packaged ``cdp/customers/profile_policy.toml`` | survivorship, staleness, self-service rules |
| ``CDP_CHANGE_FEED_POLL`` | ``1`` | on Neo4j, seconds between a server's reads of the change feed (other servers' writes reach its analytic projection within about this; ``0``: on every read); docs/neo4j.md |
| ``CDP_CHANGE_FEED_RETENTION`` | ``86400`` | on Neo4j, seconds change-feed entries are kept; a server idle for longer rebuilds its projection on its next read |
| ``CDP_MODEL_DIR`` | ``<CDP_DB_PATH>.models`` | where trained models and their cards are kept |
| ``CDP_COMPLAINT_SLA_HOURS`` | ``48`` | hours within which a complaint should be resolved (docs/relationship.md) |
| ``CDP_LOG_FORMAT`` | ``json`` | ``json`` (one object per line) or ``plain`` (for reading in a terminal); docs/operations.md |
| ``CDP_SHUTDOWN_GRACE_SECONDS`` | ``20`` | on SIGTERM, seconds in-flight requests may take to finish before the store is closed |
| ``NEO4J_CONNECT_TIMEOUT`` / ``NEO4J_MAX_RETRY_SECONDS`` | ``5`` / ``5`` | seconds to open a Neo4j connection / to retry a failed call before ``STORE_UNAVAILABLE`` |
| ``CDP_MAX_QUERY_DEPTH`` / ``CDP_MAX_ALIASES`` | ``15`` / ``30`` | deepest field nesting / aliases in one document (docs/limits.md) |
| ``CDP_MAX_QUERY_TOKENS`` / ``CDP_MAX_QUERY_COST`` | ``20000`` / ``100000`` | lexical tokens in one document / estimated cost of one operation |
| ``CDP_MAX_BODY_BYTES`` | ``2097152`` | largest HTTP request body (2 MiB) |
| ``CDP_REQUEST_TIMEOUT`` | ``300`` | seconds an operation may run before the client gets ``TIMEOUT`` |
| ``CDP_MAX_JSON_DEPTH`` | ``64`` | deepest nesting of objects and arrays in a request's JSON (body, variables, extensions) |
| ``CDP_HEADER_TIMEOUT`` / ``CDP_BODY_TIMEOUT`` | ``10`` / ``30`` | seconds a client has to send the request headers (from connecting or the previous answer) / the whole body (from the end of the headers); past them: 408 and the connection is closed |
| ``CDP_RATE_LIMIT`` / ``CDP_RATE_BURST`` | ``100`` / ``200`` | requests per second per credential (per address before authentication) and burst size; ``CDP_RATE_LIMIT=0`` turns rate limiting off |
| ``CDP_HEAVY_WORK`` | ``10`` | an operation whose estimated analytic work (customers scored; a whole-base computation counts 1000) reaches this runs in the heavy lane (docs/limits.md) |
| ``CDP_HEAVY_PER_CREDENTIAL`` | ``2`` | heavy operations (and, separately, unfinished jobs) one credential may have at once; more answer ``BUSY`` |
| ``CDP_HEAVY_BUDGET`` / ``CDP_HEAVY_BURST`` | ``0.25`` / ``5`` | seconds of heavy operations one credential may run per second on average / at once before ``RATE_LIMITED``; ``CDP_HEAVY_BUDGET=0`` turns it off |
| ``CDP_HEAVY_THREADS`` | ``2`` | worker threads the heavy lane may use at once, over every credential (cheap requests keep the rest) |
| ``CDP_AUDIT_LOG`` | ``<CDP_DB_PATH>.audit.jsonl`` | the audit log of writes and personal-data reads (docs/security.md) |
| ``CDP_API_KEY_CACHE_SECONDS`` | ``10`` | how long a server trusts a key it verified; a revocation by another process is seen within this time |
| ``CDP_JWT_ISSUER`` / ``CDP_JWT_AUDIENCE`` | unset / ``cdp`` | accept JWT bearer tokens from this issuer (``iss``) for this audience (``aud``) |
| ``CDP_JWT_KEY`` / ``CDP_JWT_KEY_FILE`` | unset | the issuer's verification key: an HMAC secret (HS256) or a PEM public key (RS256, ES256), inline or in a file |
| ``CDP_JWT_ALGORITHM`` | ``RS256`` | the one signature algorithm accepted (``HS256``, ``RS256``, ``ES256``, ...) |
| ``CDP_CORS_ORIGINS`` | unset (off) | browser origins allowed to call the API from their pages (CORS), comma-separated, each ``scheme://host[:port]``, or ``*`` for any; preflights are answered before authentication (docs/security.md) |
| ``CDP_CORS_MAX_AGE`` | ``600`` | seconds a browser may reuse a preflight's answer |
| ``CDP_PERSISTED_QUERY_CACHE_MB`` | ``16`` | query text the automatic persisted queries keep per process, least recently used first out (``cdp.transport.persisted_queries``) |
| ``CDP_GET_MAX_AGE`` | ``0`` | seconds a browser may reuse a successful ``GET`` query's answer without asking again (``Cache-Control: private``); ``0``: it revalidates each time (``ETag``, ``304``) |
| ``CDP_PHONE_COUNTRY_CODE`` | ``31`` | calling code of phone numbers written without one (``06-12345678``), for partner upserts and imports (``cdp.customers.write_rules``) |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from cdp.errors import ConfigurationError


@dataclass(frozen=True)
class Settings:
    """Everything configurable in cdp. Build with ``Settings.from_env()``."""

    db_path: Path = Path("data/cdp.lbdb")
    buffer_pool_mb: int = 2048
    checkpoint_mb: int = 1024
    neo4j_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: str = ""
    neo4j_database: str = "neo4j"
    host: str = "127.0.0.1"
    port: int = 8000
    max_page_size: int = 100
    demo_customers: int = 2000
    demo_seed: int = 42
    profile_policy_path: Path | None = None
    change_feed_poll: float = 1.0
    change_feed_retention: float = 86_400.0
    model_dir: Path | None = None
    churn_horizon_days: int = 90
    churn_cutoff_step_days: int = 30
    churn_cutoffs: int = 6
    prepaid_inactivity_days: int = 90
    rfm_recency_kinds: tuple[str, ...] = ("INVOICE", "PAYMENT", "PURCHASE", "TOP_UP")
    repeat_purchase_horizon_days: int = 730
    ltv_discount_rate: float = 0.08
    complaint_sla_hours: int = 48
    log_format: Literal["json", "plain"] = "json"
    shutdown_grace_seconds: int = 20
    neo4j_connect_timeout: int = 5
    neo4j_max_retry_seconds: int = 5
    max_query_depth: int = 15
    max_aliases: int = 30
    max_query_tokens: int = 20000
    max_query_cost: int = 100000
    max_body_bytes: int = 2 * 1024 * 1024
    request_timeout: float = 300.0
    max_json_depth: int = 64
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    rate_limit: float = 100.0
    rate_burst: int = 200
    heavy_work: int = 10
    heavy_per_credential: int = 2
    heavy_budget: float = 0.25
    heavy_burst: float = 5.0
    heavy_threads: int = 2
    audit_log: Path | None = None
    api_key_cache_seconds: float = 10.0
    jwt_issuer: str | None = None
    jwt_audience: str = "cdp"
    jwt_key: str | None = None
    jwt_algorithm: str = "RS256"
    phone_country_code: str = "31"
    cors_origins: tuple[str, ...] = ()
    cors_max_age: int = 600
    persisted_query_cache_mb: int = 16
    get_max_age: int = 0

    @property
    def backend(self) -> str:
        """``"neo4j"`` when ``NEO4J_URI`` is set, else ``"ladybug"``."""
        return "neo4j" if self.neo4j_uri else "ladybug"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``env`` (default ``os.environ``).

        Raises ``ConfigurationError`` naming the variable when a number is malformed.
        """
        env = os.environ if env is None else env

        def number(name: str, default: int) -> int:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = int(raw)
            except ValueError:
                raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
            if value <= 0:
                raise ConfigurationError(f"{name} must be positive, got {value}")
            return value

        def seconds(name: str, default: float, *, zero_ok: bool = False) -> float:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
            if not value >= 0 or (value == 0 and not zero_ok) or value == float("inf"):
                raise ConfigurationError(f"{name} must be {'' if zero_ok else 'positive and '}finite, got {raw}")
            return value

        return cls(
            db_path=Path(env.get("CDP_DB_PATH") or cls.db_path),
            buffer_pool_mb=number("CDP_BUFFER_POOL_MB", cls.buffer_pool_mb),
            neo4j_uri=env.get("NEO4J_URI") or None,
            neo4j_user=env.get("NEO4J_USER", cls.neo4j_user),
            neo4j_password=env.get("NEO4J_PASSWORD", cls.neo4j_password),
            neo4j_database=env.get("NEO4J_DATABASE", cls.neo4j_database),
            host=env.get("CDP_HOST", cls.host),
            port=number("CDP_PORT", cls.port),
            max_page_size=number("CDP_MAX_PAGE_SIZE", cls.max_page_size),
            checkpoint_mb=number("CDP_CHECKPOINT_MB", cls.checkpoint_mb),
            demo_customers=number("CDP_DEMO_CUSTOMERS", cls.demo_customers),
            demo_seed=number("CDP_DEMO_SEED", cls.demo_seed),
            profile_policy_path=Path(env["CDP_PROFILE_POLICY"]) if env.get("CDP_PROFILE_POLICY") else None,
            change_feed_poll=seconds("CDP_CHANGE_FEED_POLL", cls.change_feed_poll, zero_ok=True),
            change_feed_retention=seconds("CDP_CHANGE_FEED_RETENTION", cls.change_feed_retention),
            model_dir=Path(env["CDP_MODEL_DIR"]) if env.get("CDP_MODEL_DIR") else None,
            churn_horizon_days=number("CDP_CHURN_HORIZON_DAYS", cls.churn_horizon_days),
            churn_cutoff_step_days=number("CDP_CHURN_CUTOFF_STEP_DAYS", cls.churn_cutoff_step_days),
            churn_cutoffs=number("CDP_CHURN_CUTOFFS", cls.churn_cutoffs),
            prepaid_inactivity_days=number("CDP_PREPAID_INACTIVITY_DAYS", cls.prepaid_inactivity_days),
            rfm_recency_kinds=_monetary_kinds(env.get("CDP_RFM_RECENCY_KINDS"), cls.rfm_recency_kinds),
            repeat_purchase_horizon_days=number("CDP_REPEAT_PURCHASE_HORIZON_DAYS",
                                                cls.repeat_purchase_horizon_days),
            ltv_discount_rate=seconds("CDP_LTV_DISCOUNT_RATE", cls.ltv_discount_rate, zero_ok=True),
            complaint_sla_hours=number("CDP_COMPLAINT_SLA_HOURS", cls.complaint_sla_hours),
            log_format=_log_format(env.get("CDP_LOG_FORMAT") or cls.log_format),
            shutdown_grace_seconds=number("CDP_SHUTDOWN_GRACE_SECONDS", cls.shutdown_grace_seconds),
            neo4j_connect_timeout=number("NEO4J_CONNECT_TIMEOUT", cls.neo4j_connect_timeout),
            neo4j_max_retry_seconds=number("NEO4J_MAX_RETRY_SECONDS", cls.neo4j_max_retry_seconds),
            max_query_depth=number("CDP_MAX_QUERY_DEPTH", cls.max_query_depth),
            max_aliases=number("CDP_MAX_ALIASES", cls.max_aliases),
            max_query_tokens=number("CDP_MAX_QUERY_TOKENS", cls.max_query_tokens),
            max_query_cost=number("CDP_MAX_QUERY_COST", cls.max_query_cost),
            max_body_bytes=number("CDP_MAX_BODY_BYTES", cls.max_body_bytes),
            request_timeout=seconds("CDP_REQUEST_TIMEOUT", cls.request_timeout),
            max_json_depth=number("CDP_MAX_JSON_DEPTH", cls.max_json_depth),
            header_timeout=seconds("CDP_HEADER_TIMEOUT", cls.header_timeout),
            body_timeout=seconds("CDP_BODY_TIMEOUT", cls.body_timeout),
            rate_limit=seconds("CDP_RATE_LIMIT", cls.rate_limit, zero_ok=True),
            rate_burst=number("CDP_RATE_BURST", cls.rate_burst),
            heavy_work=number("CDP_HEAVY_WORK", cls.heavy_work),
            heavy_per_credential=number("CDP_HEAVY_PER_CREDENTIAL", cls.heavy_per_credential),
            heavy_budget=seconds("CDP_HEAVY_BUDGET", cls.heavy_budget, zero_ok=True),
            heavy_burst=seconds("CDP_HEAVY_BURST", cls.heavy_burst),
            heavy_threads=number("CDP_HEAVY_THREADS", cls.heavy_threads),
            audit_log=Path(env["CDP_AUDIT_LOG"]) if env.get("CDP_AUDIT_LOG") else None,
            api_key_cache_seconds=seconds("CDP_API_KEY_CACHE_SECONDS", cls.api_key_cache_seconds, zero_ok=True),
            jwt_issuer=env.get("CDP_JWT_ISSUER") or None,
            jwt_audience=env.get("CDP_JWT_AUDIENCE") or cls.jwt_audience,
            jwt_key=_jwt_key(env),
            jwt_algorithm=(env.get("CDP_JWT_ALGORITHM") or cls.jwt_algorithm).strip(),
            phone_country_code=(env.get("CDP_PHONE_COUNTRY_CODE") or cls.phone_country_code).strip().lstrip("+"),
            cors_origins=_origins(env.get("CDP_CORS_ORIGINS")),
            cors_max_age=number("CDP_CORS_MAX_AGE", cls.cors_max_age),
            persisted_query_cache_mb=number("CDP_PERSISTED_QUERY_CACHE_MB", cls.persisted_query_cache_mb),
            get_max_age=int(seconds("CDP_GET_MAX_AGE", cls.get_max_age, zero_ok=True)),
        ).checked()

    def checked(self) -> Settings:
        """These settings, after checks that span several variables. Raises ``ConfigurationError``."""
        if (self.jwt_issuer is None) != (self.jwt_key is None):
            raise ConfigurationError("JWT bearer tokens need both CDP_JWT_ISSUER and CDP_JWT_KEY (or "
                                     "CDP_JWT_KEY_FILE); set both or neither")
        if self.jwt_algorithm.lower() == "none":
            raise ConfigurationError("CDP_JWT_ALGORITHM must name a signature algorithm, not 'none'")
        if not (self.phone_country_code.isascii() and self.phone_country_code.isdigit()
                and 1 <= len(self.phone_country_code) <= 3 and not self.phone_country_code.startswith("0")):
            raise ConfigurationError(f"CDP_PHONE_COUNTRY_CODE must be a calling code of 1-3 digits such as 31, got "
                                     f"{self.phone_country_code!r}")
        return self

    @property
    def audit_log_path(self) -> Path:
        """The audit log file: ``audit_log``, or next to the embedded store file."""
        if self.audit_log is not None:
            return self.audit_log
        return self.db_path.with_name(self.db_path.name + ".audit.jsonl")

    @property
    def dev_key_path(self) -> Path:
        """Where ``cdp serve --dev-key`` keeps the development key it prints."""
        return self.db_path.with_name(self.db_path.name + ".dev-key")

    @property
    def models_path(self) -> Path:
        """Folder of trained models: ``model_dir``, or next to the embedded store file."""
        if self.model_dir is not None:
            return self.model_dir
        return self.db_path.with_name(self.db_path.name + ".models")

    def with_(self, **changes: object) -> Settings:
        """A copy with ``changes`` applied (used by the CLI's flags)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _jwt_key(env: Mapping[str, str]) -> str | None:
    """``CDP_JWT_KEY``, or the text of ``CDP_JWT_KEY_FILE``; raises ``ConfigurationError`` for an unreadable file."""
    if env.get("CDP_JWT_KEY"):
        return env["CDP_JWT_KEY"]
    path = env.get("CDP_JWT_KEY_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ConfigurationError(f"CDP_JWT_KEY_FILE {path}: {exc.strerror}") from None


def _monetary_kinds(raw: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list of monetary event kinds (``CDP_RFM_RECENCY_KINDS``);
    ``ConfigurationError`` naming the variable for an unknown kind."""
    from graph.model import MONETARY_KIND_VALUES  # deferred: the model loads pyarrow; settings load first, everywhere

    if raw is None or not raw.strip():
        return default
    kinds = tuple(k.strip().upper() for k in raw.split(",") if k.strip())
    unknown = [k for k in kinds if k not in MONETARY_KIND_VALUES]
    if unknown or not kinds:
        raise ConfigurationError(f"CDP_RFM_RECENCY_KINDS: unknown monetary event kind(s) {', '.join(unknown)}; "
                                 f"expected a comma-separated list of {', '.join(MONETARY_KIND_VALUES)}")
    return kinds


def _origins(raw: str | None) -> tuple[str, ...]:
    """``CDP_CORS_ORIGINS`` checked: ``*``, or origins ``scheme://host[:port]`` (no path, no
    trailing slash: browsers send the origin exactly so). Raises ``ConfigurationError``."""
    from urllib.parse import urlsplit

    if raw is None or not raw.strip():
        return ()
    origins = tuple(o.strip() for o in raw.split(",") if o.strip())
    if "*" in origins:
        if len(origins) > 1:
            raise ConfigurationError("CDP_CORS_ORIGINS is either * (any origin) or a list of origins, not both")
        return origins
    for origin in origins:
        parts = urlsplit(origin)
        if (parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query
                or parts.fragment or parts.username or parts.password):
            raise ConfigurationError(f"CDP_CORS_ORIGINS: {origin!r} is not an origin such as "
                                     "https://app.example.com or http://localhost:3000 (scheme, host, "
                                     "optional port; no path)")
    return origins


def _log_format(raw: str) -> Literal["json", "plain"]:
    """``CDP_LOG_FORMAT`` checked: ``json`` or ``plain``; raises ``ConfigurationError`` otherwise."""
    value = raw.strip().lower()
    if value == "json":
        return "json"
    if value == "plain":
        return "plain"
    raise ConfigurationError(f"CDP_LOG_FORMAT must be json or plain, got {raw!r}")
