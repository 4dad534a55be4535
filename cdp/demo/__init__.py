"""Seeded demo data: a telecom customer graph, and person records from three source systems
with planted duplicates (README.md, docs/identity.md).

Modules:

- ``source_records``: Seeded generator of person records from three source systems, with planted duplicates and the truth.
- ``telecom``: Seeded generator of realistic telecom demo data for the customer graph.
"""

__all__ = [
    "source_records",
    "telecom",
]
