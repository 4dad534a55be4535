"""Offers: catalog rules, collaborative filtering, next-best offers, offer responses
(docs/recommendations.md).

Modules:

- ``catalog_rules``: Catalog rules for offers: which products a customer may be offered, and as what.
- ``collaborative``: Collaborative filtering on implicit feedback: who holds what predicts what else they take.
- ``offer_responses``: Recording how a customer answered an offer, so the next recommendations know.
- ``recommendations``: Next-best offer (and its channel and time) for one customer or many, on demand.
"""

__all__ = [
    "catalog_rules",
    "collaborative",
    "offer_responses",
    "recommendations",
]
