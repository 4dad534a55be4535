"""Rule segments: condition trees over the analytic projection, evaluated for the whole
population, and saved segments (docs/segments.md).

Modules:

- ``engine``: Rule segments: condition trees over the analytic projection, and saved segments.
"""

__all__ = [
    "engine",
]
