"""Rule segments: condition trees over the analytic projection, evaluated for the whole
population, and saved segments (docs/segments.md).

Modules:

- ``definition``: A segment's definition: the condition tree (``AllOf``, ``AnyOf``, ``Not`` and the conditions) and its parser.
- ``engine``: The segment engine: rule segments evaluated over the analytic projection, and saved segments.
- ``evaluation``: Evaluating a segment's condition tree on the whole population at once, vectorised.
"""

__all__ = [
    "definition",
    "engine",
    "evaluation",
]
