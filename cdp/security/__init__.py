"""Who is calling and what they may do: principals, API keys, JWT tokens, authentication,
the permission table, the audit log (docs/security.md).

Modules:

- ``api_keys``: API keys: created and revoked with ``cdp keys``, stored hashed as ``ApiKey`` nodes.
- ``audit``: The audit log: who wrote what, who read whose personal data, and when.
- ``authentication``: Authentication: every HTTP request but the open ones must carry a credential.
- ``jwt_tokens``: JWT bearer tokens from a configured issuer (an identity provider, an API gateway).
- ``permissions``: What each role may do: the one table of operation permissions and personal-data access.
- ``principal``: Who is calling: the ``Principal`` a verified credential stands for, and its ``Role``.
"""

__all__ = [
    "api_keys",
    "audit",
    "authentication",
    "jwt_tokens",
    "permissions",
    "principal",
]
