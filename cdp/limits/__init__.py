"""Limits that protect the API: request limits, rate limits per credential, the heavy lane's
fair share, background jobs (docs/limits.md).

Modules:

- ``fair_share``: Fair share of the server between credentials: the heavy lane (docs/limits.md, "Lanes").
- ``jobs``: Background jobs: long work (training) runs after its request has been answered.
- ``rate_limit``: Rate limits per credential: one token bucket per principal, refused with HTTP 429.
- ``request_limits``: Request limits that protect the API from abusive or runaway requests.
"""

__all__ = [
    "fair_share",
    "jobs",
    "rate_limit",
    "request_limits",
]
