"""Opening the configured graph store.

``open_store(settings)`` is the only place that chooses a backend: Neo4j when
``NEO4J_URI`` is set, otherwise the embedded LadybugDB file at ``CDP_DB_PATH``.
"""

from __future__ import annotations

from cdp.settings import Settings
from graph.store import GraphStore


def open_store(settings: Settings, read_only: bool = False, lazy: bool = False) -> GraphStore:
    """Open (and create the schema of) the store ``settings`` selects.

    Raises ``StoreUnavailable`` when the store cannot be opened or reached, except
    for a Neo4j server with ``lazy`` (the API server): then calls raise it until
    the server answers (the embedded file is always opened at once).
    """
    if settings.neo4j_uri:
        from graph.neo4j_store import Neo4jStore  # deferred: only the backend configured is loaded

        return Neo4jStore(
            settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password, settings.neo4j_database,
            connect_timeout=settings.neo4j_connect_timeout, max_retry_seconds=settings.neo4j_max_retry_seconds,
            lazy=lazy, change_retention_seconds=settings.change_feed_retention,
        )
    from graph.ladybug_store import LadybugStore  # deferred: only the backend configured is loaded

    return LadybugStore(settings.db_path, settings.buffer_pool_mb, read_only=read_only,
                        checkpoint_mb=settings.checkpoint_mb)
