"""Whole-population analytics of one running app: the ``Analytics`` object that owns the
projection and the services built on it, and value segmentation (docs/analytics.md).

Modules:

- ``analytics``: Whole-population analytics of one running app, in one object.
- ``value``: Value segmentation: who brings the revenue, how recently and often they pay, and which behavioural groups the base falls into.
"""

__all__ = [
    "analytics",
    "value",
]
