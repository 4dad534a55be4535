"""The customer record: its derived figures, observations with provenance, the profile with
survivorship, the rules every written value passes, merges and their reversal, data quality.

Modules:

- ``customer_merge``: Applying identity resolution to the store: customers that are one person become one.
- ``erased_customers``: The rule every write about one customer shares: the customer exists and was not erased.
- ``identity_links``: Links between source identities and customers: reversing a wrong merge.
- ``profile``: The customer profile: attribute values with provenance and survivorship.
- ``provenance``: Observations with provenance, from a batch of customer rows of one source.
- ``quality``: The data-quality report: completeness, staleness, conflicts, unmerged duplicates, rejects.
- ``rules``: Customer-level domain rules: derived figures and search criteria.
- ``write_rules``: The rules every value written by a partner (``upsert*`` mutations) or an import (``cdp import``) must pass, and the defaults a new customer gets.
"""

__all__ = [
    "customer_merge",
    "erased_customers",
    "identity_links",
    "profile",
    "provenance",
    "quality",
    "rules",
    "write_rules",
]
