"""Relationship management: complaints, account managers' portfolios, satisfaction over time.

Modules:

- ``complaints``: Complaints: tracked from open to resolved, with resolution times and SLA figures.
- ``portfolio``: Account managers and their portfolios.
- ``satisfaction``: Satisfaction over time: monthly mean scores per customer, per portfolio and per channel.
"""

__all__ = [
    "complaints",
    "portfolio",
    "satisfaction",
]
