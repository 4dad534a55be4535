"""Reaching a customer: the contact policy (who may be contacted, through which channel,
when) and the next-best channel and time.

Modules:

- ``channel_choice``: Next-best channel and time: through which channel, and when, to reach a customer.
- ``contact_policy``: The contact policy: who may be contacted, through which channel, and when.
"""

__all__ = [
    "channel_choice",
    "contact_policy",
]
