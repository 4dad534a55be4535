"""The change feed: what every committed write touched, in commit order, for other processes.

On Neo4j several stateless servers share one database. Each keeps its own analytic
projection (``cdp.projection.tables``) and hears of its own writes through
``GraphStore.subscribe``; writes made by the other servers reach it through this feed.
Every committed write appends one *entry* in the same transaction: a sequence number
(dense and in commit order: one ``ChangeFeed`` counter node serialises the writers'
last statement, see ``graph.queries.CHANGE_FEED_APPEND``), the writing store object's
``origin`` and the write's ``graph.store.Changes`` as compact JSON (node ids per label,
``(from, to)`` pairs per relationship type, deletions). A follower reads the entries
after its position (``GraphStore.changes_since``) and feeds them to the same
incremental refresh its own writes go through. Entries older than the retention are
pruned by the writers; a follower that fell behind the oldest kept entry sees a gap
(``FeedRead.missed``) and rebuilds. See docs/neo4j.md#change-feed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from graph.store import Changes

#: A write touching more ids and pairs than this records "everything changed" instead
#: of the ids (followers rebuild, as they would for that many customers anyway): an entry
#: then stays under a few megabytes.
MAX_KEYS = 100_000

#: Writers prune old entries every this many sequence numbers, at most ``PRUNE_LIMIT`` at a time.
PRUNE_EVERY = 64
PRUNE_LIMIT = 2_000

#: Entries read per feed read; a follower reads again until it is caught up.
READ_LIMIT = 500


@dataclass(frozen=True)
class FeedEntry:
    """One committed write: its sequence number, the store object that wrote it, what it touched."""

    seq: int
    origin: str
    changes: Changes


@dataclass(frozen=True)
class FeedRead:
    """The feed after a position: its ``head`` (the last sequence number taken), the
    ``entries`` read (oldest first, at most ``READ_LIMIT``) and ``missed``: entries
    after the position are gone (pruned, or the feed was reset), so a follower must rebuild."""

    head: int
    entries: list[FeedEntry] = field(default_factory=list)
    missed: bool = False


def encode(changes: Changes) -> str:
    """``changes`` as the compact JSON an entry stores; "everything" when it names more than ``MAX_KEYS``."""
    size = sum(len(v) for v in changes.nodes.values()) + sum(len(v) for v in changes.relationships.values()) \
        + sum(len(v) for v in changes.deleted.values())
    if changes.everything or size > MAX_KEYS:
        return '{"all":true}'
    doc: dict[str, Any] = {}
    for key, part in (("n", changes.nodes), ("d", changes.deleted), ("c", changes.created)):
        kept = {name: sorted(ids, key=str) for name, ids in part.items() if ids}
        if kept:
            doc[key] = kept
    pairs = {name: sorted([list(p) for p in items], key=str) for name, items in changes.relationships.items() if items}
    if pairs:
        doc["r"] = pairs
    return json.dumps(doc, separators=(",", ":"))


def decode(text: str) -> Changes:
    """The ``Changes`` of an entry's JSON (``encode``). Raises ``ValueError`` for text that is not one."""
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("a change entry is a JSON object")
    return Changes(
        nodes={name: set(ids) for name, ids in doc.get("n", {}).items()},
        relationships={name: {(f, t) for f, t in pairs} for name, pairs in doc.get("r", {}).items()},
        deleted={name: set(ids) for name, ids in doc.get("d", {}).items()},
        created={name: set(ids) for name, ids in doc.get("c", {}).items()},
        everything=bool(doc.get("all", False)),
    )


def feed_read(after: int, head: int, rows: list[dict[str, Any]]) -> FeedRead:
    """A ``FeedRead`` from the head and entry maps ``graph.queries.CHANGE_FEED_READ`` returned."""
    entries = [FeedEntry(int(r["seq"]), str(r["origin"]), decode(r["changes"])) for r in rows]
    expected = after + 1
    missed = head < after or (head > after and (not entries or entries[0].seq != expected))
    if not missed:
        for entry in entries:
            if entry.seq != expected:  # numbers are dense: a hole means entries were pruned mid-read
                missed = True
                break
            expected += 1
    return FeedRead(head=head, entries=[] if missed else entries, missed=missed)
