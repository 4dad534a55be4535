"""Personal data and the person's rights: consent, the export of everything held about a
person, erasure (docs/privacy.md).

Modules:

- ``consent``: Consent: the one definition of what a customer agreed to, per purpose and channel.
- ``customer_export``: Everything cdp holds about one person, as one JSON document (``exportCustomerData``, ``cdp privacy export``; docs/privacy.md).
- ``erasure``: Erasure: a person's personal data removed, the anonymised aggregates kept (``eraseCustomer``, ``cdp privacy erase``; docs/privacy.md).
"""

__all__ = [
    "consent",
    "customer_export",
    "erasure",
]
