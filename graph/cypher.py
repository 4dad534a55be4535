"""The ``Query`` type: one named Cypher statement with its per-backend text.

Every Cypher string of the project is a ``Query`` held in ``graph/queries.py``
(fixed statements) or produced by the builders in that module (schema
statements and upserts generated from the model, customer-filter queries).
Where the LadybugDB and Neo4j dialects differ, the two texts sit side by side
in the same ``Query`` so a reader sees the difference in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Backend = Literal["ladybug", "neo4j"]

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Query:
    """A named Cypher statement.

    ``cypher`` is the text both backends run unless ``neo4j`` or ``ladybug``
    gives a dialect-specific text. ``params`` names every ``$parameter`` the
    statement expects; the Neo4j linter checks the text against it.

    ``ladybug_per_key`` is, for a read keyed by ``$ids``, the same read for one
    key bound as ``$id``: LadybugDB 0.22 plans ``WHERE n.id IN $ids`` before a
    traversal as a scan of the whole table (24-31 ms at 1M customers) but
    ``{id: $id}`` as a primary-key lookup (0.15-0.8 ms), so the embedded store
    runs small batches one key at a time (``LadybugStore._fetch_keyed``).
    """

    name: str
    cypher: str
    params: tuple[str, ...] = ()
    neo4j: str | None = None
    ladybug: str | None = None
    ladybug_per_key: str | None = None
    #: Parameters the LadybugDB text reads as a table (``LOAD FROM $name``): the
    #: embedded backend passes a list of keys as a one-column Arrow table ``key``.
    #: A join with a ``LOAD FROM`` table finds 10,000 ids among 1M in 32 ms where
    #: ``UNWIND`` takes 180 ms and ``IN $ids`` compares the list with every row.
    ladybug_tables: tuple[str, ...] = ()
    #: The Neo4j text returns one record whose values are whole columns (``collect(...)``
    #: lists, absent values encoded as ``graph.queries.neo4j_column`` says): decoding one
    #: list per column costs a fraction of decoding one record per row (docs/neo4j.md).
    neo4j_columns: bool = False

    def text(self, backend: Backend) -> str:
        """Return the statement text for ``backend``."""
        override = self.neo4j if backend == "neo4j" else self.ladybug
        return override if override is not None else self.cypher

    def used_params(self, backend: Backend) -> set[str]:
        """Return the ``$parameters`` the text for ``backend`` refers to."""
        return set(_PARAM.findall(self.text(backend)))
