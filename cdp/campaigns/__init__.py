"""Campaigns: audiences in waves under the contact policy, contact lists for the channel
systems, responses, the performance report, simulations (docs/campaigns.md).

Modules:

- ``campaign_report``: The performance report of a campaign: per wave, per channel and in total, and the lift against the control group with 95% confidence intervals (issue 6, item 5).
- ``campaign_responses``: Reading campaign responses from a file (the channel systems' or sales feed's export).
- ``campaign_simulation``: Simulated campaigns with a known true uplift, run through the real campaign engine.
- ``campaigns``: Campaigns: offers to a target audience in ordered waves, under the contact policy.
- ``contact_lists``: A launched wave's contact list for the channel systems, as CSV or JSON Lines.
"""

__all__ = [
    "campaign_report",
    "campaign_responses",
    "campaign_simulation",
    "campaigns",
    "contact_lists",
]
