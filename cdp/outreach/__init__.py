"""Reaching a customer: the contact policy (who may be contacted, through which channel,
when) and the next-best channel and time.

Modules:

- ``channel_choice``: Next-best channel and time: through which channel, and when, to reach a customer.
- ``contact_policy``: The contact policy: who may be contacted, through which channel, and when.
- ``contact_windows``: When a channel may be used: the operator's contact window per channel, and a customer's quiet hours. The contact policy (``contact_policy``) and the next-best channel and time (``channel_choice``) both read them.
"""

__all__ = [
    "channel_choice",
    "contact_policy",
    "contact_windows",
]
