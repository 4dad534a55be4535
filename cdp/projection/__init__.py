"""The analytic projection: the customer graph as in-memory tables, kept current with every
write, and the per-customer feature frame the models, segments and value analysis read
(docs/analytics.md).

Modules:

- ``features``: The per-customer feature frame: what the models, segments and value analysis see.
- ``tables``: The analytic projection: the customer graph as columnar tables in memory.
"""

__all__ = [
    "features",
    "tables",
]
