"""The per-request context every resolver receives as ``info.context``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from collections.abc import Mapping
from typing import Any

from cdp.analytics.analytics import Analytics
from cdp.security.audit import AuditLog
from cdp.errors import require_analytics
from cdp.security.permissions import authorise_personal_use
from cdp.limits.jobs import Jobs
from cdp.security.principal import Principal, Role
from cdp.customers.profile import ProfilePolicy, load_policy
from cdp.settings import Settings
from graph.clock import utc_now, utc_today
from graph.store import GraphStore
from resolvers.loaders import Loaders


#: The principal of code running inside the server without a request (never from the network).
SYSTEM = Principal(id="system", role=Role.ADMIN, name="cdp itself")


@dataclass
class Context:
    """Store, settings and DataLoaders of one request.

    ``today`` is fixed per request so every derived figure of one response
    uses the same day.
    """

    store: GraphStore
    settings: Settings
    request: Any = None
    response: Any = None
    loaders: Loaders = field(init=False)
    today: date = field(default_factory=utc_today)
    policy: ProfilePolicy = field(default_factory=load_policy)
    #: The app's whole-population analytics (projection, segments, models); shared by requests.
    analytics: Analytics | None = None
    #: Who is calling (set from the request's credentials by ``cdp.security.authentication``).
    principal: Principal = field(default_factory=lambda: SYSTEM)
    #: Where audit records go (``cdp.security.audit``); None only in contexts built by tests without one.
    audit: AuditLog | None = None
    #: The app's background jobs (``cdp.limits.jobs``; ``trainModel``); None where there are none.
    jobs: Jobs | None = None
    #: Personal fields this request returned unmasked, per customer id (audited once per request).
    personal_reads: dict[str, set[str]] = field(default_factory=dict)
    #: Personal fields this request let shape an answer (filters, sorts, segment conditions).
    personal_uses: set[str] = field(default_factory=set)

    def ready_analytics(self) -> Analytics:
        """The app's analytics; ``ConfigurationError`` when this context has none
        (``cdp.errors.require_analytics``)."""
        return require_analytics(self.analytics)

    def authorise_personal_use(self, uses: Mapping[str, str]) -> None:
        """Raise ``Forbidden`` unless the principal may let every personal field of ``uses``
        (name -> argument path) shape an answer (``cdp.security.permissions.authorise_personal_use``);
        the fields used are audited with the request as a personal read."""
        self.personal_uses |= authorise_personal_use(self.principal, uses)

    def forget_reads(self) -> None:
        """Drop what this request's DataLoaders cached (call after a write)."""
        self.loaders = Loaders(self.store, self.analytics)

    @property
    def now(self) -> datetime:
        """The current time as the store keeps it (naive UTC)."""
        return utc_now()

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.store, self.analytics)
