"""Identity resolution: records about one person from several source systems become one
customer (matching rules in ``identity_rules.toml``; docs/identity.md). Applying a resolution
to the store is ``cdp.customers.customer_merge``.

Modules:

- ``resolution``: Identity resolution: records about one person from several source systems become one customer.
"""

__all__ = [
    "resolution",
]
