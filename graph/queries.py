"""Every Cypher statement of cdp, in one place.

Fixed statements are ``Query`` constants; statements that depend on the model
(schema, upserts, bulk loads, exports) or on a request (customer search) are
built by the functions below from ``graph.model`` declarations and a whitelist
of fields, never from user text: user values always travel as parameters.

``neo4j_statements()`` lists every Neo4j text the project can send, so CI can
check each one with Neo4j's own Cypher front-end (tests/graph/test_neo4j_cypher.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from graph.cypher import Backend, Query
from graph.model import ACCOUNT, CONTACT, CUSTOMER, MODEL, MONETARY_EVENT, SUBSCRIPTION, NodeType, Property, RelType

# --------------------------------------------------------------------------- reads

# LadybugDB 0.22 plans `WHERE n.id IN $ids` as a scan (11.7 ms at 20k customers,
# 24-31 ms before a traversal at 1M) but `{id: $id}` as a primary-key lookup
# (0.1-0.8 ms at 1M), so keyed reads carry a `ladybug_per_key` text the embedded
# store runs once per key for small batches; for a lone node `UNWIND ... {id: i}`
# is also a lookup (0.27 ms), so large batches of those use it. See docs/benchmarks.md.
CUSTOMERS_BY_IDS = Query(
    "customers_by_ids",
    "MATCH (c:Customer) WHERE c.id IN $ids RETURN c",
    ("ids",),
    ladybug="UNWIND $ids AS i MATCH (c:Customer {id: i}) RETURN c",
    ladybug_per_key="MATCH (c:Customer {id: $id}) RETURN c",
)

ACCOUNTS_BY_CUSTOMERS = Query(
    "accounts_by_customers",
    "MATCH (c:Customer)-[:HOLDS]->(a:Account) WHERE c.id IN $ids "
    "RETURN c.id AS owner, a ORDER BY a.opened_on, a.id",
    ("ids",),
    ladybug_per_key="MATCH (c:Customer {id: $id})-[:HOLDS]->(a:Account) "
    "RETURN c.id AS owner, a ORDER BY a.opened_on, a.id",
)

SUBSCRIPTIONS_BY_ACCOUNTS = Query(
    "subscriptions_by_accounts",
    "MATCH (a:Account)-[:HAS_SUBSCRIPTION]->(s:Subscription)-[:OF_PRODUCT]->(p:Product) "
    "WHERE a.id IN $ids RETURN a.id AS owner, s, p.id AS product_id ORDER BY s.since, s.id",
    ("ids",),
    ladybug_per_key="MATCH (a:Account {id: $id})-[:HAS_SUBSCRIPTION]->(s:Subscription)-[:OF_PRODUCT]->(p:Product) "
    "RETURN a.id AS owner, s, p.id AS product_id ORDER BY s.since, s.id",
)

PRODUCTS_BY_IDS = Query(
    "products_by_ids",
    "MATCH (p:Product) WHERE p.id IN $ids RETURN p",
    ("ids",),
    ladybug="UNWIND $ids AS i MATCH (p:Product {id: i}) RETURN p",
    ladybug_per_key="MATCH (p:Product {id: $id}) RETURN p",
)

ALL_PRODUCTS = Query(
    "all_products",
    "MATCH (p:Product) RETURN p ORDER BY p.id",
)

BUNDLE_COMPONENTS = Query(
    "bundle_components",
    "MATCH (b:Product)-[r:INCLUDES]->(p:Product) WHERE b.id IN $ids "
    "RETURN b.id AS owner, p.id AS product_id, r.quantity AS quantity, r.discount AS discount "
    "ORDER BY p.id",
    ("ids",),
    ladybug_per_key="MATCH (b:Product {id: $id})-[r:INCLUDES]->(p:Product) "
    "RETURN b.id AS owner, p.id AS product_id, r.quantity AS quantity, r.discount AS discount "
    "ORDER BY p.id",
)

SUBSCRIBER_COUNTS = Query(
    "subscriber_counts",
    "MATCH (s:Subscription)-[:OF_PRODUCT]->(p:Product) "
    "WHERE p.id IN $ids AND s.status = 'ACTIVE' "
    "RETURN p.id AS product_id, count(s) AS subscribers",
    ("ids",),
)

ALL_CHANNELS = Query(
    "all_channels",
    "MATCH (ch:Channel) RETURN ch ORDER BY ch.id",
)

CHANNEL_CONTACT_VOLUMES = Query(
    "channel_contact_volumes",
    "MATCH (k:Contact)-[:VIA]->(ch:Channel) WHERE ch.id IN $ids AND k.at >= $since "
    "RETURN ch.id AS channel_id, count(k) AS contacts",
    ("ids", "since"),
)

# Filters (since, kind, channel) and newest-first ordering are applied by the
# store in Python: on LadybugDB 0.22 adding them (or an OPTIONAL MATCH) to this
# traversal made the planner scan every contact (41 ms vs 1.7 ms at 20k customers).
CONTACTS_BY_CUSTOMERS = Query(
    "contacts_by_customers",
    "MATCH (c:Customer)-[:HAD_CONTACT]->(k:Contact)-[:VIA]->(ch:Channel) WHERE c.id IN $ids "
    "RETURN c.id AS owner, k, ch.id AS channel_id",
    ("ids",),
    ladybug_per_key="MATCH (c:Customer {id: $id})-[:HAD_CONTACT]->(k:Contact)-[:VIA]->(ch:Channel) "
    "RETURN c.id AS owner, k, ch.id AS channel_id",
)

PREFERRED_CHANNELS = Query(
    "preferred_channels",
    "MATCH (c:Customer)-[r:PREFERS]->(ch:Channel) WHERE c.id IN $ids "
    "RETURN c.id AS owner, ch.id AS channel_id, r.rank AS rank, r.source AS source, "
    "r.updated_at AS updated_at ORDER BY r.rank",
    ("ids",),
    ladybug_per_key="MATCH (c:Customer {id: $id})-[r:PREFERS]->(ch:Channel) "
    "RETURN c.id AS owner, ch.id AS channel_id, r.rank AS rank, r.source AS source, "
    "r.updated_at AS updated_at ORDER BY r.rank",
)

# As for contacts, the time filter and ordering are applied in Python.
MONETARY_EVENTS_BY_ACCOUNTS = Query(
    "monetary_events_by_accounts",
    "MATCH (a:Account)-[:HAS_EVENT]->(m:MonetaryEvent) WHERE a.id IN $ids RETURN a.id AS owner, m",
    ("ids",),
    ladybug_per_key="MATCH (a:Account {id: $id})-[:HAS_EVENT]->(m:MonetaryEvent) RETURN a.id AS owner, m",
)


@dataclass(frozen=True)
class ViewShape:
    """Which parts of the customer view one request selects: the customer row always, and
    accounts (with their subscriptions and/or monetary events), contacts (every contact with
    its ``channel_id``) and preferred channels when asked. ``customer_views`` compiles one
    shape into one statement."""

    accounts: bool = False
    subscriptions: bool = False
    events: bool = False
    contacts: bool = False
    preferences: bool = False


def _text_projection(var: str, node: NodeType, extra: str = "") -> str:
    """``var {...}``: the properties ``var`` has (like ``RETURN var``), with the dates and times of
    ``node`` as ISO text (null when unset): the driver decodes a string far faster than a temporal
    value (docs/benchmarks.md), and the store parses it back in one C call. Properties are read
    with ``var['name']``: ``var.name`` of a key no node has yet makes Neo4j attach a warning to
    every answer, which the driver logs."""
    parts = [".*"] + [f"{p.name}: toString({var}['{p.name}'])" for p in node.properties
                      if p.type in ("DATE", "TIMESTAMP")]
    return f"{var} {{{', '.join(parts)}{extra}}}"


_VIEW_CACHE: dict[ViewShape, Query] = {}


def customer_views(shape: ViewShape) -> Query:
    """The customer view of ``$ids`` in one Neo4j statement (one round trip for the selected parts):
    one record per known customer with ``c`` and, per ``shape``, ``accounts`` (each with
    ``subscriptions`` (with ``product_id``) and/or ``events``), ``contacts`` (with
    ``channel_id``) and ``preferences``; the same rows, in the same order, as
    ``CUSTOMERS_BY_IDS``, ``ACCOUNTS_BY_CUSTOMERS``, ``SUBSCRIPTIONS_BY_ACCOUNTS``,
    ``MONETARY_EVENTS_BY_ACCOUNTS``, ``CONTACTS_BY_CUSTOMERS`` and ``PREFERRED_CHANNELS``.
    Contacts and events come unordered (the store orders them as for those reads).
    Neo4j only (COLLECT subqueries); the embedded store composes those reads in process."""
    cached = _VIEW_CACHE.get(shape)
    if cached is not None:
        return cached

    returns = [_text_projection("c", CUSTOMER) + " AS c"]
    if shape.accounts:
        nested = ""
        if shape.subscriptions:
            nested += (", subscriptions: COLLECT { MATCH (a)-[:HAS_SUBSCRIPTION]->(s:Subscription)-[:OF_PRODUCT]->"
                       f"(p:Product) RETURN {_text_projection('s', SUBSCRIPTION, ', product_id: p.id')} "
                       "ORDER BY s.since, s.id }")
        if shape.events:
            nested += (", events: COLLECT { MATCH (a)-[:HAS_EVENT]->(m:MonetaryEvent) "
                       f"RETURN {_text_projection('m', MONETARY_EVENT)} }}")
        returns.append(f"COLLECT {{ MATCH (c)-[:HOLDS]->(a:Account) RETURN {_text_projection('a', ACCOUNT, nested)} "
                       "ORDER BY a.opened_on, a.id } AS accounts")
    if shape.contacts:
        returns.append("COLLECT { MATCH (c)-[:HAD_CONTACT]->(k:Contact)-[:VIA]->(ch:Channel) "
                       f"RETURN {_text_projection('k', CONTACT, ', channel_id: ch.id')} }} AS contacts")
    if shape.preferences:
        returns.append("COLLECT { MATCH (c)-[r:PREFERS]->(ch:Channel) RETURN {channel_id: ch.id, rank: r['rank'], "
                       "source: r['source'], updated_at: toString(r['updated_at'])} ORDER BY r.rank } AS preferences")
    flags = "".join(k[0] for k, v in vars(shape).items() if v) or "-"
    query = Query(f"customer_views_{flags}", "UNWIND $ids AS id MATCH (c:Customer {id: id}) RETURN "
                  + ", ".join(returns), ("ids",), ladybug="")
    _VIEW_CACHE[shape] = query
    return query


IDENTITIES_OF_CUSTOMERS = Query(
    "identities_of_customers",
    "MATCH (c:Customer)-[:HAS_IDENTITY]->(i:Identity) WHERE c.id IN $ids "
    "RETURN c.id AS owner, i ORDER BY i.linked_at, i.id",
    ("ids",),
    ladybug_per_key="MATCH (c:Customer {id: $id})-[:HAS_IDENTITY]->(i:Identity) "
    "RETURN c.id AS owner, i ORDER BY i.linked_at, i.id",
)

ATTRIBUTES_OF_CUSTOMERS = Query(
    "attributes_of_customers",
    "MATCH (c:Customer)-[:HAS_ATTRIBUTE]->(v:AttributeValue) WHERE c.id IN $ids RETURN c.id AS owner, v",
    ("ids",),
    ladybug_per_key="MATCH (c:Customer {id: $id})-[:HAS_ATTRIBUTE]->(v:AttributeValue) RETURN c.id AS owner, v",
)

CUSTOMER_OF_IDENTITY = Query(
    "customer_of_identity",
    "MATCH (c:Customer)-[:HAS_IDENTITY]->(i:Identity) WHERE i.id IN $ids RETURN c.id AS customer_id",
    ("ids",),
    ladybug_per_key="MATCH (c:Customer)-[:HAS_IDENTITY]->(i:Identity {id: $id}) RETURN c.id AS customer_id",
)

# --------------------------------------------------------------------------- privacy (cdp.privacy.erasure, cdp.privacy.customer_export)

#: Customers merged into any of ``$ids`` (status MERGED, ``merged_into`` set): an erasure
#: follows them, as they hold the same person's source records. A scan (``merged_into``
#: is not indexed); only erasures run it.
CUSTOMERS_MERGED_INTO = Query(
    "customers_merged_into",
    "MATCH (c:Customer) WHERE c.merged_into IN $ids RETURN c.id AS id, c.merged_into AS merged_into",
    ("ids",),
)

#: The customers among ``$ids`` whose status is ``$status``: imports and partner upserts
#: refuse rows naming an ERASED customer. A join like ``EXISTING_IDS`` on LadybugDB.
CUSTOMERS_WITH_STATUS = Query(
    "customers_with_status",
    "MATCH (c:Customer) WHERE c.id IN $ids AND c.status = $status RETURN c.id AS id",
    ("ids", "status"),
    ladybug="LOAD FROM $ids MATCH (c:Customer) WHERE c.id = key AND c.status = $status RETURN c.id AS id",
    ladybug_per_key="MATCH (c:Customer {id: $id}) WHERE c.status = $status RETURN c.id AS id",
    ladybug_tables=("ids",),
)

# --------------------------------------------------------------------------- API keys (cdp.security.api_keys)

#: The first statement of a key revocation: takes the write lock of every key of ``$role``
#: (a no-op write), so two revocations of that role, even from two servers on one Neo4j,
#: run one after the other and the second reads what the first committed
#: (``GraphStore.revoke_api_key``: the last admin key cannot be revoked).
LOCK_API_KEYS_OF_ROLE = Query(
    "lock_api_keys_of_role",
    "MATCH (k:ApiKey) WHERE k.role = $role SET k.role = $role",
    ("role",),
)

#: The keys of ``$role``, every property (read after the lock).
API_KEYS_OF_ROLE = Query(
    "api_keys_of_role",
    "MATCH (k:ApiKey) WHERE k.role = $role RETURN "
    + ", ".join(f"k.{p} AS {p}" for p in MODEL.node("ApiKey").property_names),
    ("role",),
)

#: Marks key ``$id`` revoked at ``$now`` unless it is revoked already (the first time stays).
REVOKE_API_KEY = Query(
    "revoke_api_key",
    "MATCH (k:ApiKey {id: $id}) WHERE k.revoked_at IS NULL SET k.revoked_at = $now",
    ("id", "now"),
)

_MEMBERSHIP = ("RETURN c.id AS owner, g.id AS campaign_id, g.name AS campaign_name, g.purpose AS purpose, "
               "g.status AS campaign_status, "
               + ", ".join(f"t.{p} AS {p}" for p in MODEL.relationship("TARGETED").property_names))
#: The campaign audiences a customer is in (``TARGETED``), with the campaign's name and
#: purpose and every property of the membership (cohort, offer, responses).
CAMPAIGNS_OF_CUSTOMERS = Query(
    "campaigns_of_customers",
    f"MATCH (g:Campaign)-[t:TARGETED]->(c:Customer) WHERE c.id IN $ids {_MEMBERSHIP}",
    ("ids",),
    ladybug_per_key=f"MATCH (g:Campaign)-[t:TARGETED]->(c:Customer {{id: $id}}) {_MEMBERSHIP}",
)

EXISTING_IDS = {
    node.label: Query(
        f"existing_{node.label.lower()}_ids",
        f"MATCH (n:{node.label}) WHERE n.id IN $ids RETURN n.id AS id",
        ("ids",),
        ladybug=f"LOAD FROM $ids MATCH (n:{node.label}) WHERE n.id = key RETURN n.id AS id",
        ladybug_per_key=f"MATCH (n:{node.label} {{id: $id}}) RETURN n.id AS id",
        ladybug_tables=("ids",),
    )
    for node in MODEL.nodes
}

# The stored properties of nodes by id, every property as a column (missing ones null),
# so both backends return the same row shape; keyed reads like EXISTING_IDS.
NODES_BY_IDS = {
    node.label: Query(
        f"{node.label.lower()}_nodes_by_ids",
        f"MATCH (n:{node.label}) WHERE n.id IN $ids RETURN {_props}",
        ("ids",),
        ladybug=f"LOAD FROM $ids MATCH (n:{node.label}) WHERE n.id = key RETURN {_props}",
        ladybug_per_key=f"MATCH (n:{node.label} {{id: $id}}) RETURN {_props}",
        ladybug_tables=("ids",),
    )
    for node in MODEL.nodes
    for _props in [", ".join(f"n.{p} AS {p}" for p in node.property_names)]
}

COUNT_NODES = {
    node.label: Query(f"count_{node.label.lower()}", f"MATCH (n:{node.label}) RETURN count(n) AS n")
    for node in MODEL.nodes
}

COUNT_RELATIONSHIPS = {
    rel.type: Query(
        f"count_{rel.type.lower()}",
        f"MATCH (:{rel.source})-[r:{rel.type}]->(:{rel.target}) RETURN count(r) AS n",
    )
    for rel in MODEL.relationships
}

DELETE_NODES = {
    node.label: Query(
        f"delete_{node.label.lower()}",
        f"MATCH (n:{node.label}) WHERE n.id IN $ids DETACH DELETE n",
        ("ids",),
    )
    for node in MODEL.nodes
}

UNLINK = {
    rel.type: Query(
        f"unlink_{rel.type.lower()}",
        f"MATCH (a:{rel.source} {{id: $from}})-[r:{rel.type}]->(b:{rel.target} {{id: $to}}) DELETE r",
        ("from", "to"),
    )
    for rel in MODEL.relationships
}

#: Neo4j: every pair of ``$rows`` (``from``, ``to``) unlinked in one statement (the embedded
#: store runs ``UNLINK`` per pair: two key lookups each, in process).
UNLINK_ROWS = {
    rel.type: Query(
        f"unlink_rows_{rel.type.lower()}", "", ("rows",),
        neo4j=f"UNWIND $rows AS r MATCH (a:{rel.source} {{id: r.from}})-[x:{rel.type}]->"
              f"(b:{rel.target} {{id: r.to}}) DELETE x",
    )
    for rel in MODEL.relationships
}

#: Rows a Neo4j wipe deletes per transaction: one transaction deleting a whole label of
#: millions of nodes would hold all of it in the server's heap.
NEO4J_WIPE_BATCH = 10_000

#: Delete every node of a label with its relationships. Neo4j deletes in transactions of
#: ``NEO4J_WIPE_BATCH`` nodes (``CALL { ... } IN TRANSACTIONS``, which must run in an
#: auto-commit transaction: ``Neo4jStore.wipe``).
WIPE = {
    node.label: Query(
        f"wipe_{node.label.lower()}", f"MATCH (n:{node.label}) DETACH DELETE n",
        neo4j=f"MATCH (n:{node.label}) CALL (n) {{ DETACH DELETE n }} IN TRANSACTIONS OF {NEO4J_WIPE_BATCH} ROWS",
    )
    for node in MODEL.nodes
}

#: Neo4j's marker of a bulk load under way (``Neo4jStore.bulk_load``): set before the first
#: batch, removed after the last, so a load that died half-way is known and can be run
#: again. It holds the load's ``plan`` (the tables and their row counts): a load of other
#: data cannot resume it. Not a model label: nothing else reads it.
NEO4J_BULK_LOAD_BEGIN = Query(
    "neo4j_bulk_load_begin", "", ("at", "plan", "load"),
    neo4j="MERGE (m:CdpBulkLoad {id: 'bulk_load'}) ON CREATE SET m.started_at = $at, m.plan = $plan, "
          "m.load = $load RETURN m.plan AS plan, m.load AS load",
)
NEO4J_BULK_LOAD_END = Query(
    "neo4j_bulk_load_end", "", neo4j="MATCH (m:CdpBulkLoad) DELETE m",
)
NEO4J_BULK_LOAD_PENDING = Query(
    "neo4j_bulk_load_pending", "", neo4j="MATCH (m:CdpBulkLoad) RETURN count(m) AS n",
)
#: One committed batch of a bulk load, created in the batch's own transaction: a load run
#: again skips the batches it finds (``id`` is ``<load>:<table>:<first row>``).
NEO4J_BULK_BATCH_DONE = Query(
    "neo4j_bulk_batch_done", "", ("id",), neo4j="CREATE (:CdpBulkBatch {id: $id})",
)
NEO4J_BULK_BATCHES_DONE = Query(
    "neo4j_bulk_batches_done", "", ("prefix",),
    neo4j="MATCH (b:CdpBulkBatch) WHERE b.id STARTS WITH $prefix RETURN collect(b.id) AS ids",
)
NEO4J_BULK_BATCHES_FORGET = Query(
    "neo4j_bulk_batches_forget", "",
    neo4j="MATCH (b:CdpBulkBatch) CALL (b) { DELETE b } IN TRANSACTIONS OF 10000 ROWS",
)
#: Two writers of one batch (two loads at once) cannot both commit it.
NEO4J_BULK_SCHEMA = Query(
    "neo4j_bulk_schema", "",
    neo4j="CREATE CONSTRAINT cdpbulkbatch_id_key IF NOT EXISTS FOR (b:CdpBulkBatch) REQUIRE b.id IS UNIQUE",
)

PING = Query("ping", "RETURN 1 AS ok")


# --------------------------------------------------------------------------- schema

def ladybug_table_info(table: str) -> Query:
    """The declared properties (``name``, ``type``) of one LadybugDB table."""
    return Query(f"ladybug_table_info_{table}", "", ladybug=f"CALL table_info('{table}') RETURN name, type")


def ladybug_add_property(table: str, name: str, type_: str) -> Query:
    """Add a property to an existing LadybugDB table (a store made by an older cdp)."""
    return Query(f"ladybug_add_{table}_{name}", "", ladybug=f"ALTER TABLE {table} ADD {name} {type_}")


def ladybug_show_tables() -> Query:
    """The tables of a LadybugDB database (``name``, ``type``)."""
    return Query("ladybug_show_tables", "", ladybug="CALL show_tables() RETURN name, type")


def ladybug_retype_statements(node: NodeType, rel: RelType, suffix: str) -> tuple[list[Query], list[Query]]:
    """Replacing a node table whose key changed type, in one transaction: statements creating
    ``<label><suffix>`` and ``<rel><suffix>`` (``rel`` ends at the node) in the model's
    schema, and statements dropping the old tables and renaming the new ones in their place."""
    cols = ", ".join(f"{p.name} {p.type}" for p in node.properties)
    rel_cols = "".join(f", {p.name} {p.type}" for p in rel.properties)
    new_node, new_rel = f"{node.label}{suffix}", f"{rel.type}{suffix}"
    create = [Query(f"ladybug_retype_{node.label}", "",
                    ladybug=f"CREATE NODE TABLE {new_node}({cols}, PRIMARY KEY({node.key}))"),
              Query(f"ladybug_retype_{rel.type}", "",
                    ladybug=f"CREATE REL TABLE {new_rel}(FROM {rel.source} TO {new_node}{rel_cols})")]
    swap = [Query(f"ladybug_drop_{rel.type}", "", ladybug=f"DROP TABLE {rel.type}"),
            Query(f"ladybug_drop_{node.label}", "", ladybug=f"DROP TABLE {node.label}"),
            Query(f"ladybug_rename_{node.label}", "", ladybug=f"ALTER TABLE {new_node} RENAME TO {node.label}"),
            Query(f"ladybug_rename_{rel.type}", "", ladybug=f"ALTER TABLE {new_rel} RENAME TO {rel.type}")]
    return create, swap


def ladybug_copy(table: str) -> Query:
    """``COPY`` an Arrow table (``$rows``) into a LadybugDB table, columns by position."""
    return Query(f"ladybug_copy_{table}", "", ladybug=f"COPY {table} FROM $rows")


#: Every value with its owner, as a store made before ``AttributeValue.id`` was INT64 holds them.
LEGACY_ATTRIBUTE_VALUES = Query(
    "legacy_attribute_values", "",
    ladybug="MATCH (v:AttributeValue) OPTIONAL MATCH (c:Customer)-[:HAS_ATTRIBUTE]->(v) "
            "RETURN c.id AS owner, v.id AS old_id, " + ", ".join(
                f"v.{p.name} AS {p.name}" for p in MODEL.node("AttributeValue").properties if p.name != "id"),
)


#: Values whose id is still text (written before ``AttributeValue.id`` was an integer), on Neo4j.
#: ``v.id >= ''`` holds for text ids only and is a seek on the key constraint's index
#: (``NodeUniqueIndexSeekByRange``): at every start-up it reads the text ids there are,
#: not every value (``toString(v.id) = v.id`` scanned all of them).
NEO4J_TEXT_VALUE_IDS = Query(
    "neo4j_text_value_ids",
    "MATCH (v:AttributeValue) WHERE v.id >= '' "
    "RETURN v.id AS old_id, v.identity_id AS identity_id, v.key AS key, v.observed_at AS observed_at",
)

#: Give those values their integer ids (``$rows``: ``old``, ``new``); links stay, being on the nodes.
NEO4J_RETYPE_VALUE_IDS = Query(
    "neo4j_retype_value_ids",
    "UNWIND $rows AS r MATCH (v:AttributeValue {id: r.old}) SET v.id = r.new",
    ("rows",),
)


def ladybug_schema_statements() -> list[Query]:
    """``CREATE NODE/REL TABLE IF NOT EXISTS`` statements for every model type."""
    out = []
    for node in MODEL.nodes:
        cols = ", ".join(f"{p.name} {p.type}" for p in node.properties)
        out.append(Query(
            f"ladybug_table_{node.label}",
            "",
            ladybug=f"CREATE NODE TABLE IF NOT EXISTS {node.label}({cols}, PRIMARY KEY({node.key}))",
        ))
    for rel in MODEL.relationships:
        cols = "".join(f", {p.name} {p.type}" for p in rel.properties)
        out.append(Query(
            f"ladybug_table_{rel.type}",
            "",
            ladybug=f"CREATE REL TABLE IF NOT EXISTS {rel.type}(FROM {rel.source} TO {rel.target}{cols})",
        ))
    return out


#: Wait (up to 300 s) until every index is online: a constraint or index just created is
#: populated in the background, and until then seeks fall back to scans and a
#: uniqueness check may not see rows being indexed.
NEO4J_AWAIT_INDEXES = Query("neo4j_await_indexes", "", neo4j="CALL db.awaitIndexes(300)")


def neo4j_schema_statements() -> list[Query]:
    """Uniqueness constraints on every node key and range indexes on indexed properties.

    Relationships need no constraint: a relationship ``MERGE`` between two matched nodes
    runs as Neo4j 5's ``LockingMerge`` (it locks both nodes and looks again before
    creating), so concurrent writes of one pair leave one relationship
    (tests/contract/test_store_contract.py)."""
    out = []
    for node in MODEL.nodes:
        low = node.label.lower()
        out.append(Query(
            f"neo4j_key_{low}",
            "",
            neo4j=f"CREATE CONSTRAINT {low}_{node.key}_key IF NOT EXISTS "
                  f"FOR (n:{node.label}) REQUIRE n.{node.key} IS UNIQUE",
        ))
        for prop in node.properties:
            if prop.indexed:
                out.append(Query(
                    f"neo4j_index_{low}_{prop.name}",
                    "",
                    neo4j=f"CREATE INDEX {low}_{prop.name} IF NOT EXISTS "
                          f"FOR (n:{node.label}) ON (n.{prop.name})",
                ))
    return out


# --------------------------------------------------------------------------- writes

def _ladybug_columns(names: tuple[str, ...]) -> dict[str, str]:
    """Map property names to neutral LOAD FROM column names (c0, c1, ...).

    LadybugDB binds ``LOAD FROM`` columns as variables; neutral names keep
    property names such as ``from`` or ``until`` clear of reserved words.
    """
    return {name: f"c{i}" for i, name in enumerate(names)}


def _prop(properties: tuple[Property, ...], name: str) -> Property | None:
    """The property ``name`` among ``properties`` (None for a key or an unknown name)."""
    return next((p for p in properties if p.name == name), None)


def upsert_nodes(node: NodeType, properties: tuple[str, ...]) -> Query:
    """Set ``properties`` (key excluded) on nodes of ``node`` by key.

    Neo4j MERGEs (another client may have deleted or created the node since the
    store's check) and reads ``$rows`` as a list of maps; LadybugDB (one writer)
    updates rows the store checked exist, reading ``$rows`` as an Arrow table
    whose columns are renamed with ``ladybug_load_columns``.
    """
    props = tuple(p for p in properties if p != node.key)
    set_neo = ", ".join(f"n.{p} = {_neo4j_value(_prop(node.properties, p), f'r.{p}')}" for p in props)
    neo = f"UNWIND $rows AS r MERGE (n:{node.label} {{{node.key}: r.{node.key}}})"
    if props:
        neo += f" SET {set_neo}"
    cols = _ladybug_columns((node.key, *props))
    set_lb = ", ".join(f"n.{p} = {cols[p]}" for p in props)
    # LadybugDB gets only rows the store checked exist (new ones go to ``create_nodes``),
    # so MATCH ... SET: ``LOAD FROM ... MERGE`` leaks buffer-pool pages in LadybugDB 0.22
    # (~1 MiB per statement, never freed, not even by a checkpoint: a 256 MiB pool was full
    # after ~220 one-row updates), while ``LOAD FROM ... MATCH ... SET`` does not.
    lb = f"LOAD FROM $rows MATCH (n:{node.label} {{{node.key}: {cols[node.key]}}})"
    lb += f" SET {set_lb}" if props else " RETURN count(n) AS matched"
    name = f"upsert_{node.label.lower()}_" + "_".join(sorted(props))
    return Query(name, "", ("rows",), neo4j=neo, ladybug=lb)


def create_nodes(node: NodeType, properties: tuple[str, ...]) -> Query:
    """Create ``node`` nodes the caller checked do not exist yet (same ``$rows`` as ``upsert_nodes``).

    Both backends ``CREATE`` (about twice as fast as ``MERGE`` on LadybugDB): a stored key
    fails the statement (LadybugDB's primary key, Neo4j's uniqueness constraint), which the
    store raises as ``KeyTaken``. Neo4j runs it for ``fresh`` ops only: other rows the
    store found new are MERGEd there (``upsert_nodes``), as another client may create
    the node between the check and the write.
    """
    props = tuple(p for p in properties if p != node.key)
    cols = _ladybug_columns((node.key, *props))
    assign = ", ".join(f"{p}: {cols[p]}" for p in (node.key, *props))
    neo_assign = ", ".join(f"{p}: {_neo4j_value(_prop(node.properties, p), f'r.{p}')}" for p in (node.key, *props))
    name = f"create_{node.label.lower()}_" + "_".join(sorted(props))
    return Query(name, "", ("rows",), neo4j=f"UNWIND $rows AS r CREATE (n:{node.label} {{{neo_assign}}})",
                 ladybug=f"LOAD FROM $rows CREATE (n:{node.label} {{{assign}}})")


def upsert_relationships(rel: RelType, properties: tuple[str, ...]) -> Query:
    """MATCH both endpoints by key and MERGE one ``rel`` between them, setting ``properties``.

    Rows whose endpoints do not exist write nothing; callers check endpoints first.
    """
    set_neo = ", ".join(f"x.{p} = {_neo4j_value(_prop(rel.properties, p), f'r.{p}')}" for p in properties)
    neo = (
        f"UNWIND $rows AS r MATCH (a:{rel.source} {{id: r.from}}) "
        f"MATCH (b:{rel.target} {{id: r.to}}) MERGE (a)-[x:{rel.type}]->(b)"
    )
    if properties:
        neo += f" SET {set_neo}"
    cols = _ladybug_columns(("from", "to", *properties))
    set_lb = ", ".join(f"x.{p} = {cols[p]}" for p in properties)
    # Two MATCH clauses, not one with a comma: LadybugDB 0.22 plans the comma form as a
    # cross product of both node sets and runs out of buffer pool at ~1,000 rows, while
    # this form looks each endpoint up by key (20,000 rows over 100,000 nodes: 0.26 s).
    # LadybugDB gets only pairs the store checked exist: MATCH ... SET (see upsert_nodes).
    lb = (
        f"LOAD FROM $rows MATCH (a:{rel.source} {{id: {cols['from']}}}) "
        f"MATCH (b:{rel.target} {{id: {cols['to']}}}) MATCH (a)-[x:{rel.type}]->(b)"
    )
    lb += f" SET {set_lb}" if properties else " RETURN count(x) AS matched"
    name = f"upsert_{rel.type.lower()}_" + "_".join(sorted(properties))
    return Query(name, "", ("rows",), neo4j=neo, ladybug=lb)


def create_relationships(rel: RelType, properties: tuple[str, ...]) -> Query:
    """Create ``rel`` relationships the caller checked do not exist yet (same ``$rows`` as
    ``upsert_relationships``): ``CREATE`` on LadybugDB, ``MERGE`` kept on Neo4j."""
    cols = _ladybug_columns(("from", "to", *properties))
    assign = ", ".join(f"{p}: {cols[p]}" for p in properties)
    lb = (
        f"LOAD FROM $rows MATCH (a:{rel.source} {{id: {cols['from']}}}) "
        f"MATCH (b:{rel.target} {{id: {cols['to']}}}) CREATE (a)-[x:{rel.type}{' {' + assign + '}' if assign else ''}]->(b)"
    )
    upsert = upsert_relationships(rel, properties)
    name = f"create_{rel.type.lower()}_" + "_".join(sorted(properties))
    return Query(name, "", ("rows",), neo4j=upsert.text("neo4j"), ladybug=lb)


def create_relationships_to_new_nodes(rel: RelType, properties: tuple[str, ...]) -> Query:
    """Create ``rel`` relationships each of which has an endpoint this transaction itself
    ``CREATE``d (a ``fresh`` node op): ``CREATE`` on both backends (same ``$rows`` as
    ``upsert_relationships``).

    Safe on Neo4j without ``MERGE``: no other transaction can see, let alone link, a node
    before this one commits, so the relationship cannot exist yet. It saves the ``MERGE``'s
    lock on both endpoints and its ``Expand(Into)`` check, a third of the statement's time
    in a first import (docs/benchmarks.md, issue 19).
    """
    neo_assign = ", ".join(f"{p}: {_neo4j_value(_prop(rel.properties, p), f'r.{p}')}" for p in properties)
    neo = (f"UNWIND $rows AS r MATCH (a:{rel.source} {{id: r.from}}) MATCH (b:{rel.target} {{id: r.to}}) "
           f"CREATE (a)-[x:{rel.type}{' {' + neo_assign + '}' if neo_assign else ''}]->(b)")
    lb = create_relationships(rel, properties).text("ladybug")  # CREATE there already
    name = f"create_new_{rel.type.lower()}_" + "_".join(sorted(properties))
    return Query(name, "", ("rows",), neo4j=neo, ladybug=lb)


def copy_nodes(node: NodeType, properties: tuple[str, ...]) -> Query:
    """LadybugDB only: ``COPY`` new ``node`` rows (same ``$rows`` as ``create_nodes``) inside a write.

    About 3x faster than ``LOAD FROM ... CREATE`` for large batches. The caller
    must know every row is new and that the transaction has not written this
    table before (see ``LadybugStore._create``). Neo4j has no such statement.
    """
    props = tuple(p for p in properties if p != node.key)
    columns = ", ".join(f"`{p}`" for p in (node.key, *props))
    return Query(f"copy_{node.label.lower()}_" + "_".join(sorted(props)), "", ("rows",),
                 ladybug=f"COPY {node.label}({columns}) FROM $rows")


def copy_relationships(rel: RelType, properties: tuple[str, ...]) -> Query:
    """LadybugDB only: ``COPY`` new ``rel`` rows (``from``, ``to``, ``properties``; as ``copy_nodes``)."""
    columns = f"({', '.join(f'`{p}`' for p in properties)})" if properties else ""
    return Query(f"copy_{rel.type.lower()}_" + "_".join(sorted(properties)), "", ("rows",),
                 ladybug=f"COPY {rel.type}{columns} FROM $rows")


def existing_relationships(rel: RelType) -> Query:
    """Pairs (``from``, ``to``) of ``rel`` whose source id is in ``$sources``."""
    return Query(
        f"existing_{rel.type.lower()}",
        f"MATCH (a:{rel.source})-[:{rel.type}]->(b:{rel.target}) WHERE a.id IN $sources "
        "RETURN a.id AS `from`, b.id AS `to`",
        ("sources",),
    )


def relationships_from(rel: RelType) -> Query:
    """Every ``rel`` leaving a node whose id is in ``$ids``: ``from``, ``to`` and its properties."""
    cols = "".join(f", x.{p} AS {p}" for p in rel.property_names)
    ret = f"RETURN a.id AS `from`, b.id AS `to`{cols}"
    return Query(
        f"{rel.type.lower()}_from_ids",
        f"MATCH (a:{rel.source})-[x:{rel.type}]->(b:{rel.target}) WHERE a.id IN $ids {ret}",
        ("ids",),
        ladybug=f"UNWIND $ids AS i MATCH (a:{rel.source} {{id: i}})-[x:{rel.type}]->(b:{rel.target}) {ret}",
        ladybug_per_key=f"MATCH (a:{rel.source} {{id: $id}})-[x:{rel.type}]->(b:{rel.target}) {ret}",
    )


def ladybug_load_columns(names: list[str]) -> list[str]:
    """Column names to give an Arrow table before an ``upsert_*`` LOAD FROM."""
    mapping = _ladybug_columns(tuple(names))
    return [mapping[n] for n in names]


def _neo4j_value(prop: Property | None, value: str) -> str:
    """The Neo4j expression storing ``value`` (``r.at``, ``$rows.at[i]``) as ``prop``'s type.

    Written dates and times travel as ISO text (``Neo4jStore._rows_param``,
    ``_bulk_columns``) and are parsed by the server (``date``, ``localdatetime``; both give
    null for null): the Python driver spends about 40 us packing one ``datetime``, a
    string costs it well under 1 us (docs/neo4j.md)."""
    if prop is None:
        return value
    if prop.type == "TIMESTAMP":
        return f"localdatetime({value})"
    if prop.type == "DATE":
        return f"date({value})"
    return value


def bulk_create_nodes(node: NodeType) -> Query:
    """Create nodes without MERGE, for loading into an empty store.

    LadybugDB uses ``COPY <table> FROM $rows`` (columns in declaration order).
    On Neo4j ``$rows`` is one batch as columns (a map of equally long lists, dates and
    times as ISO text: ``Neo4jStore.bulk_load``): one list per column packs and
    unpacks far cheaper than a map per row. Every row is ``CREATE``d: the key's
    constraint fails a batch that meets a stored key, and a load run again skips the
    batches it committed before (``NEO4J_BULK_BATCH_DONE``) rather than each row.
    """
    sets = ", ".join(f"n.{p.name} = {_neo4j_value(p, f'$rows.{p.name}[i]')}" for p in node.properties)
    return Query(
        f"bulk_create_{node.label.lower()}",
        "",
        ("rows",),
        neo4j=f"UNWIND range(0, size($rows.{node.key}) - 1) AS i CREATE (n:{node.label}) SET {sets}",
        ladybug=f"COPY {node.label} FROM $rows",
    )


def bulk_create_relationships(rel: RelType) -> Query:
    """Create relationships between existing nodes, for loading into an empty store.

    On Neo4j ``$rows`` is one batch as columns (``from``, ``to``, properties; see
    ``bulk_create_nodes``); both ends are found by their key's index."""
    neo = (
        f"UNWIND range(0, size($rows.`from`) - 1) AS i MATCH (a:{rel.source} {{id: $rows.`from`[i]}}) "
        f"MATCH (b:{rel.target} {{id: $rows.to[i]}}) CREATE (a)-[x:{rel.type}]->(b)"
    )
    if rel.properties:
        neo += " SET " + ", ".join(f"x.{p.name} = {_neo4j_value(p, f'$rows.{p.name}[i]')}" for p in rel.properties)
    return Query(
        f"bulk_create_{rel.type.lower()}",
        "",
        ("rows",),
        neo4j=neo,
        ladybug=f"COPY {rel.type} FROM $rows",
    )


def export_nodes(node: NodeType) -> Query:
    """Every node of ``node`` with all properties as columns, ordered by key."""
    cols = ", ".join(f"n.{p} AS {p}" for p in node.property_names)
    return Query(f"export_{node.label.lower()}", f"MATCH (n:{node.label}) RETURN {cols} ORDER BY n.{node.key}")


def export_relationships(rel: RelType) -> Query:
    """Every ``rel`` as rows of ``from``, ``to`` and its properties."""
    cols = "".join(f", x.{p} AS {p}" for p in rel.property_names)
    return Query(
        f"export_{rel.type.lower()}",
        f"MATCH (a:{rel.source})-[x:{rel.type}]->(b:{rel.target}) RETURN a.id AS `from`, b.id AS `to`{cols}",
    )


# --------------------------------------------------------------------------- customer search

#: Sort keys a client may ask for, mapped to the Cypher expression they sort by.
CUSTOMER_SORT_KEYS: dict[str, str] = {
    "ID": "c.id",
    "LAST_NAME": "c.last_name",
    "JOINED_ON": "c.joined_on",
    "CITY": "c.city",
    "MONTHLY_SPEND": "spend",
}


@dataclass(frozen=True)
class CustomerFilter:
    """Conditions on customers, all optional, combined with AND.

    Ranges are inclusive; ``None`` means "no condition". ``name_contains`` is
    matched case-insensitively against first, last and company name.
    """

    ids: tuple[str, ...] | None = None
    tiers: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None
    cities: tuple[str, ...] | None = None
    countries: tuple[str, ...] | None = None
    name_contains: str | None = None
    email: str | None = None
    phone: str | None = None
    joined_from: date | None = None
    joined_to: date | None = None
    holds_product: str | None = None
    holds_category: str | None = None
    account_type: str | None = None
    spend_min: float | None = None
    spend_max: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def needs_spend(self) -> bool:
        return self.spend_min is not None or self.spend_max is not None


_HOLDS_PRODUCT = (
    "EXISTS { MATCH (c)-[:HOLDS]->(:Account)-[:HAS_SUBSCRIPTION]->(hs:Subscription)"
    "-[:OF_PRODUCT]->(hp:Product) WHERE hp.id = $holds_product AND hs.status = 'ACTIVE' }"
)
_HOLDS_CATEGORY = (
    "EXISTS { MATCH (c)-[:HOLDS]->(:Account)-[:HAS_SUBSCRIPTION]->(cs:Subscription)"
    "-[:OF_PRODUCT]->(cp:Product) WHERE cp.category = $holds_category AND cs.status = 'ACTIVE' }"
)
_ACCOUNT_TYPE = (
    "EXISTS { MATCH (c)-[:HOLDS]->(ta:Account) WHERE ta.type = $account_type AND ta.status <> 'CLOSED' }"
)
# Monthly spend: active subscriptions' fees net of discount.
_SPEND = (
    "OPTIONAL MATCH (c)-[:HOLDS]->(:Account)-[:HAS_SUBSCRIPTION]->(ss:Subscription) "
    "WHERE ss.status = 'ACTIVE' "
    "WITH c, sum(coalesce(ss.monthly_fee, 0.0) * (1.0 - coalesce(ss.discount, 0.0))) AS spend"
)


def _customer_match(flt: CustomerFilter, with_spend: bool, keyset: str | None = None,
                    keyset_after_spend: bool = False) -> tuple[str, dict[str, Any]]:
    """The MATCH ... WHERE part shared by page and count queries, and its parameters.
    ``keyset``: a keyset page's cursor condition, on the customer (or, with
    ``keyset_after_spend``, on the computed ``spend``)."""
    conds: list[str] = [keyset] if keyset and not keyset_after_spend else []
    params: dict[str, Any] = {}

    def add(cond: str, **values: object) -> None:
        conds.append(cond)
        params.update(values)

    if flt.ids is not None:
        add("c.id IN $ids", ids=list(flt.ids))
    if flt.tiers is not None:
        add("c.tier IN $tiers", tiers=list(flt.tiers))
    if flt.statuses is not None:
        add("c.status IN $statuses", statuses=list(flt.statuses))
    if flt.cities is not None:
        add("c.city IN $cities", cities=list(flt.cities))
    if flt.countries is not None:
        add("c.country IN $countries", countries=list(flt.countries))
    if flt.name_contains:
        add(
            "(lower(coalesce(c.first_name, '')) CONTAINS $name OR lower(coalesce(c.last_name, '')) "
            "CONTAINS $name OR lower(coalesce(c.company_name, '')) CONTAINS $name)",
            name=flt.name_contains.lower(),
        )
    if flt.email is not None:
        add("c.email = $email", email=flt.email)
    if flt.phone is not None:
        add("c.phone = $phone", phone=flt.phone)
    if flt.joined_from is not None:
        add("c.joined_on >= $joined_from", joined_from=flt.joined_from)
    if flt.joined_to is not None:
        add("c.joined_on <= $joined_to", joined_to=flt.joined_to)
    if flt.holds_product is not None:
        add(_HOLDS_PRODUCT, holds_product=flt.holds_product)
    if flt.holds_category is not None:
        add(_HOLDS_CATEGORY, holds_category=flt.holds_category)
    if flt.account_type is not None:
        add(_ACCOUNT_TYPE, account_type=flt.account_type)
    text = "MATCH (c:Customer)"
    if conds:
        text += " WHERE " + " AND ".join(conds)
    if with_spend:
        text += " " + _SPEND
        spend_conds = [keyset] if keyset and keyset_after_spend else []
        if flt.spend_min is not None:
            spend_conds.append("spend >= $spend_min")
            params["spend_min"] = float(flt.spend_min)
        if flt.spend_max is not None:
            spend_conds.append("spend <= $spend_max")
            params["spend_max"] = float(flt.spend_max)
        if spend_conds:
            text += " WHERE " + " AND ".join(spend_conds)
    return text, params


def customer_page(flt: CustomerFilter, sort: str, descending: bool) -> tuple[Query, dict[str, Any]]:
    """Ids of one page of customers matching ``flt``, sorted by ``sort`` then id.

    Returns the query and its parameters except ``skip`` and ``limit``, which
    the caller adds. Raises KeyError for a sort key outside CUSTOMER_SORT_KEYS.
    """
    order = CUSTOMER_SORT_KEYS[sort]
    with_spend = flt.needs_spend or sort == "MONTHLY_SPEND"
    match, params = _customer_match(flt, with_spend)
    direction = " DESC" if descending else ""
    keys = f"{order}{direction}" if order == "c.id" else f"{order}{direction}, c.id{direction}"
    text = f"{match} RETURN c.id AS id ORDER BY {keys} SKIP $skip LIMIT $limit"
    names = tuple(sorted(params)) + ("skip", "limit")
    return Query(f"customer_page_{sort.lower()}", text, names), params


#: The keyset form of each sort key: nulls made comparable (``coalesce``) so a cursor on a row
#: without the value still orders and compares the same way on both backends (null first).
CUSTOMER_KEYSET_KEYS: dict[str, str] = {
    "ID": "c.id",
    "LAST_NAME": "coalesce(c.last_name, '')",
    "JOINED_ON": "coalesce(c.joined_on, date('0001-01-01'))",
    "CITY": "coalesce(c.city, '')",
    "MONTHLY_SPEND": "spend",
}


def customer_keyset_page(flt: CustomerFilter, sort: str, descending: bool, after_key: bool,
                         backward: bool) -> tuple[Query, dict[str, Any]]:
    """Ids and sort values of one keyset page of customers matching ``flt``, ordered by ``sort``
    then id, ``descending`` or not; read backward (reversed order) for ``last``/``before``.

    With ``after_key`` the page starts past the cursor ``($key_value, $key_id)`` in the reading
    direction (``$key_value`` is unused for the ID sort). Returns the query and its parameters
    except ``key_value``, ``key_id`` and ``limit``, which the caller adds. Rows: ``id``, ``k``.
    Raises KeyError for a sort key outside CUSTOMER_KEYSET_KEYS.
    """
    order = CUSTOMER_KEYSET_KEYS[sort]
    with_spend = flt.needs_spend or sort == "MONTHLY_SPEND"
    reverse = descending != backward
    op, direction = ("<", " DESC") if reverse else (">", "")
    keyset = None
    if after_key:
        keyset = (f"c.id {op} $key_id" if sort == "ID"
                  else f"({order} {op} $key_value OR ({order} = $key_value AND c.id {op} $key_id))")
    match, params = _customer_match(flt, with_spend, keyset, keyset_after_spend=sort == "MONTHLY_SPEND")
    keys = f"c.id{direction}" if sort == "ID" else f"{order}{direction}, c.id{direction}"
    text = f"{match} RETURN c.id AS id, {order} AS k ORDER BY {keys} LIMIT $limit"
    names = tuple(sorted(params)) + (("key_id",) if after_key else ()) + \
        (("key_value",) if after_key and sort != "ID" else ()) + ("limit",)
    name = f"customer_keyset_{sort.lower()}_{'desc' if reverse else 'asc'}{'_after' if after_key else ''}"
    return Query(name, text, names), params


def customer_count(flt: CustomerFilter) -> tuple[Query, dict[str, Any]]:
    """The number of customers matching ``flt``."""
    match, params = _customer_match(flt, flt.needs_spend)
    return Query("customer_count", f"{match} RETURN count(c) AS n", tuple(sorted(params))), params


# --------------------------------------------------------------------------- analytic projection

#: The fact tables of the analytic projection (``cdp.projection.tables``): for each, the
#: MATCH pattern binding the owning customer ``c``, and the columns returned.
#: Every row carries ``customer`` (the customer id) so rows group without joins.
PROJECTION_FACTS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "accounts": (
        "(c:Customer)-[:HOLDS]->(a:Account)",
        (("account", "a.id"), ("type", "a.type"), ("status", "a.status"), ("opened_on", "a.opened_on"),
         ("closed_on", "a.closed_on"), ("payment_method", "a.payment_method"),
         ("contract_type", "a.contract_type"), ("contract_end", "a.contract_end")),
    ),
    "subscriptions": (
        "(c:Customer)-[:HOLDS]->(a:Account)-[:HAS_SUBSCRIPTION]->(s:Subscription)-[:OF_PRODUCT]->(p:Product)",
        (("product", "p.id"), ("status", "s.status"),
         ("since", "s.since"), ("until", "s.until"), ("monthly_fee", "s.monthly_fee"),
         ("discount", "s.discount")),
    ),
    "contacts": (
        "(c:Customer)-[:HAD_CONTACT]->(k:Contact)-[:VIA]->(ch:Channel)",
        (("at", "k.at"), ("kind", "k.kind"), ("direction", "k.direction"),
         ("outcome", "k.outcome"), ("satisfaction", "k.satisfaction"), ("campaign", "k.campaign"),
         ("resolved_at", "k.resolved_at"), ("wave", "k.wave"), ("channel", "ch.id")),
    ),
    "events": (
        "(c:Customer)-[:HOLDS]->(a:Account)-[:HAS_EVENT]->(m:MonetaryEvent)",
        (("kind", "m.kind"), ("amount", "m.amount"), ("at", "m.at")),
    ),
    "offers": (
        "(c:Customer)-[:HAD_CONTACT]->(k:Contact)-[:ABOUT]->(p:Product)",
        (("product", "p.id"), ("at", "k.at"), ("kind", "k.kind"), ("outcome", "k.outcome")),
    ),
    "preferences": (
        "(c:Customer)-[r:PREFERS]->(ch:Channel)",
        (("channel", "ch.id"), ("rank", "r.rank")),
    ),
    "attributes": (
        "(c:Customer)-[:HAS_ATTRIBUTE]->(v:AttributeValue)",
        (("key", "v.key"), ("value", "v.value"), ("source", "v.source"),
         ("observed_at", "v.observed_at"), ("accuracy", "v.accuracy"),
         ("customer_maintained", "v.customer_maintained"), ("verified", "v.verified"),
         ("expires_at", "v.expires_at")),
    ),
}


#: How a node of each label hangs off its customer, for finding the customers a
#: write touched (``GraphStore.owners``). Products and channels are catalogue.
_OWNER_PATTERNS = {
    "Account": "(c:Customer)-[:HOLDS]->(n:Account)",
    "Subscription": "(c:Customer)-[:HOLDS]->(:Account)-[:HAS_SUBSCRIPTION]->(n:Subscription)",
    "Contact": "(c:Customer)-[:HAD_CONTACT]->(n:Contact)",
    "MonetaryEvent": "(c:Customer)-[:HOLDS]->(:Account)-[:HAS_EVENT]->(n:MonetaryEvent)",
    "Identity": "(c:Customer)-[:HAS_IDENTITY]->(n:Identity)",
    "AttributeValue": "(c:Customer)-[:HAS_ATTRIBUTE]->(n:AttributeValue)",
}

OWNERS = {
    label: Query(
        f"owners_of_{label.lower()}",
        f"MATCH {pattern} WHERE n.id IN $ids RETURN DISTINCT c.id AS customer",
        ("ids",),
        ladybug_per_key=f"MATCH {pattern.replace(f'(n:{label})', f'(n:{label} {{id: $id}})')} "
                        "RETURN DISTINCT c.id AS customer",
    )
    for label, pattern in _OWNER_PATTERNS.items()
}


#: Extra conditions per fact: profile values of Customer properties are already
#: projected as customer columns, so only custom attributes are read.
PROJECTION_FILTERS: dict[str, str] = {
    "attributes": "NOT v.key IN [" + ", ".join(f"'{p}'" for p in MODEL.node("Customer").property_names) + "]",
}


# Neo4j's projection reads are columnar: one record of ``collect()`` lists per slice of
# customers. ``collect`` drops nulls, which would misalign the columns, so each absent
# value is encoded as a value of its column's type that the data cannot hold, and
# times travel as ISO strings (decoding a driver temporal costs 5-14 us; Arrow parses
# strings in C). ``graph.neo4j_store`` decodes them back to nulls.

#: The encoded absent value of a text column (a NUL character).
ABSENT_TEXT = "\x00"
#: The encoded absent value of an integer column (the smallest 64-bit integer).
ABSENT_INT = -(2 ** 63)
#: The encoded absent value of a boolean column (sent as an integer, 1 or 0).
ABSENT_BOOL = -1


def neo4j_column(expr: str, type_: str) -> str:
    """The Cypher expression collected for ``expr`` of model type ``type_`` in a columnar read:
    text with absent values as NUL, integers as the smallest int64, doubles as NaN, booleans
    as 1/0/-1, dates and times as ISO text or the empty string."""
    if type_ == "STRING":
        return f"coalesce({expr}, '\\u0000')"
    if type_ == "INT64":
        return f"coalesce({expr}, -9223372036854775807 - 1)"
    if type_ == "DOUBLE":
        return f"coalesce(toFloat({expr}), 0.0 / 0.0)"
    if type_ == "BOOL":
        return f"coalesce(toInteger({expr}), -1)"
    if type_ in ("DATE", "TIMESTAMP"):
        return f"coalesce(toString({expr}), '')"
    raise ValueError(f"no columnar encoding for type {type_}")


def _neo4j_collect(head: str, columns: list[tuple[str, str, str]]) -> str:
    """``head`` (MATCH ... WHERE ...) returning one record of ``collect`` lists, one per
    ``(name, expression, model type)``."""
    return f"{head} RETURN " + ", ".join(f"collect({neo4j_column(expr, t)}) AS {name}" for name, expr, t in columns)


_PATTERN_NODE = re.compile(r"\((\w+):(\w+)")
_PATTERN_REL = re.compile(r"\[(\w+):(\w+)\]")


def projection_columns(name: str) -> list[tuple[str, str, str]]:
    """``(column, Cypher expression, model type)`` of projection table ``name`` (``"customers"``
    or a fact of ``PROJECTION_FACTS``); facts start with ``customer``. KeyError for an unknown name."""
    if name == "customers":
        return [(p.name, f"c.{p.name}", p.type) for p in MODEL.node("Customer").properties]
    pattern, columns = PROJECTION_FACTS[name]
    kinds: dict[str, Any] = {var: MODEL.node(label) for var, label in _PATTERN_NODE.findall(pattern)}
    kinds.update({var: MODEL.relationship(t) for var, t in _PATTERN_REL.findall(pattern)})
    out = [("customer", "c.id", "STRING")]
    for column, expr in columns:
        var, prop = expr.split(".")
        owner = kinds[var]
        type_ = "STRING" if prop == "id" else next(p.type for p in owner.properties if p.name == prop)
        out.append((column, expr, type_))
    return out


#: Every customer id (the projection's row order and slice bounds), as a column.
CUSTOMER_IDS = Query("customer_ids", "MATCH (c:Customer) RETURN c.id AS id",
                     neo4j="MATCH (c:Customer) RETURN collect(c.id) AS id", neo4j_columns=True)


def projection_customers(keyed: bool, sliced: bool = False) -> Query:
    """Every customer (or those in ``$ids``, or ``sliced``: with ids from ``$lo`` to ``$hi``)
    with all properties as columns."""
    node = MODEL.node("Customer")
    cols = ", ".join(f"c.{p} AS {p}" for p in node.property_names)
    where = " WHERE c.id IN $ids" if keyed else " WHERE c.id >= $lo AND c.id <= $hi" if sliced else ""
    return Query(
        f"projection_customers{'_keyed' if keyed else '_sliced' if sliced else ''}",
        f"MATCH (c:Customer){where} RETURN {cols}",
        ("ids",) if keyed else ("lo", "hi") if sliced else (),
        ladybug_per_key=f"MATCH (c:Customer {{id: $id}}) RETURN {cols}" if keyed else None,
        neo4j=_neo4j_collect(f"MATCH (c:Customer){where}", projection_columns("customers")),
        neo4j_columns=True,
    )


def projection_fact(fact: str, keyed: bool) -> Query:
    """The rows of one projection fact table (``PROJECTION_FACTS``) for the
    customers with ids from ``$lo`` to ``$hi`` or (``keyed``) for those in
    ``$ids``. Raises KeyError for an unknown fact."""
    pattern, columns = PROJECTION_FACTS[fact]
    cols = ", ".join(["c.id AS customer"] + [f"{expr} AS {name}" for name, expr in columns])
    extra = f" AND {PROJECTION_FILTERS[fact]}" if fact in PROJECTION_FILTERS else ""
    if not keyed:
        # Read in slices of customers ($lo..$hi inclusive): one pass over 5M contacts
        # with their channels fills a 2 GiB LadybugDB buffer pool; slices do not.
        head = f"MATCH {pattern} WHERE c.id >= $lo AND c.id <= $hi{extra}"
        return Query(f"projection_{fact}", f"{head} RETURN {cols}", ("lo", "hi"),
                     neo4j=_neo4j_collect(head, projection_columns(fact)), neo4j_columns=True)
    where = f" WHERE {PROJECTION_FILTERS[fact]}" if fact in PROJECTION_FILTERS else ""
    head = f"MATCH {pattern} WHERE c.id IN $ids{extra}"
    return Query(
        f"projection_{fact}_keyed", f"{head} RETURN {cols}", ("ids",),
        ladybug_per_key=f"MATCH {pattern.replace('(c:Customer)', '(c:Customer {id: $id})', 1)}{where} RETURN {cols}",
        neo4j=_neo4j_collect(head, projection_columns(fact)), neo4j_columns=True,
    )


def projection_queries() -> list[Query]:
    """Every projection query, for the linter."""
    out = [projection_customers(False), projection_customers(True), projection_customers(False, True),
           CUSTOMER_IDS, *OWNERS.values()]
    for fact in PROJECTION_FACTS:
        out += [projection_fact(fact, False), projection_fact(fact, True)]
    return out


# --------------------------------------------------------------------------- campaigns

#: The contacts a campaign made (optionally of one wave), with their customer and
#: channel: one traversal from the campaign node (wave contact lists, reports). ``$wave``
#: is -1 for every wave: LadybugDB types a null parameter as BOOL, so ``$wave IS NULL`` fails.
CAMPAIGN_CONTACT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("contact", "k.id"), ("customer", "cu.id"), ("channel", "ch.id"), ("at", "k.at"), ("wave", "k.wave"),
    ("cost", "k.cost"), ("offer", "k.offer"), ("outcome", "k.outcome"),
)
_CAMPAIGN_CONTACT_RETURN = ", ".join(f"{expr} AS {name}" for name, expr in CAMPAIGN_CONTACT_COLUMNS)
CAMPAIGN_CONTACTS = Query(
    "campaign_contacts",
    "MATCH (g:Campaign {id: $id})-[:SENT]->(k:Contact)-[:VIA]->(ch:Channel) "
    "MATCH (cu:Customer)-[:HAD_CONTACT]->(k) "
    f"WHERE $wave < 0 OR k.wave = $wave RETURN {_CAMPAIGN_CONTACT_RETURN}",
    ("id", "wave"),
)

# --------------------------------------------------------------------------- change feed (Neo4j)
#
# Every committed write on Neo4j appends one ChangeEntry in its own transaction
# (graph.change_feed; docs/neo4j.md#change-feed). The sequence number comes from one
# ChangeFeed counter node: ``SET f.seq = f.seq + 1`` takes that node's write lock
# before reading it, so concurrent writers queue on it until the holder commits and
# numbers are dense and in commit order (a rolled-back write takes its number with it).
# These labels are not in graph.model: the feed is bookkeeping, not customer data,
# and ``wipe`` leaves it (it appends an entry saying "everything changed").

CHANGE_FEED_SCHEMA = [
    Query("neo4j_key_changefeed", "",
          neo4j="CREATE CONSTRAINT changefeed_id_key IF NOT EXISTS FOR (f:ChangeFeed) REQUIRE f.id IS UNIQUE"),
    Query("neo4j_key_changeentry", "",
          neo4j="CREATE CONSTRAINT changeentry_seq_key IF NOT EXISTS FOR (e:ChangeEntry) REQUIRE e.seq IS UNIQUE"),
    Query("neo4j_index_changeentry_at", "",
          neo4j="CREATE INDEX changeentry_at IF NOT EXISTS FOR (e:ChangeEntry) ON (e.at)"),
]

#: Take the next sequence number and record one write's changes under it (inside the write).
CHANGE_FEED_APPEND = Query(
    "change_feed_append", "",
    ("origin", "changes"),
    neo4j="MERGE (f:ChangeFeed {id: 'cdp'}) ON CREATE SET f.seq = 0 "
          "SET f.seq = f.seq + 1 "
          "CREATE (e:ChangeEntry {seq: f.seq, at: timestamp(), origin: $origin, changes: $changes}) "
          "RETURN e.seq AS seq",
)

#: The feed's head and up to ``$limit`` entries after ``$after``, oldest first.
CHANGE_FEED_READ = Query(
    "change_feed_read", "",
    ("after", "limit"),
    neo4j="OPTIONAL MATCH (f:ChangeFeed {id: 'cdp'}) "
          "RETURN coalesce(f.seq, 0) AS head, COLLECT { MATCH (e:ChangeEntry) WHERE e.seq > $after "
          "RETURN e {.seq, .origin, .changes} AS entry ORDER BY e.seq LIMIT $limit } AS entries",
)

#: The feed's last sequence number (0 before the first write).
CHANGE_FEED_HEAD = Query(
    "change_feed_head", "",
    neo4j="OPTIONAL MATCH (f:ChangeFeed {id: 'cdp'}) RETURN coalesce(f.seq, 0) AS head",
)

#: Delete up to ``$limit`` entries older than ``$keep_ms`` milliseconds.
CHANGE_FEED_PRUNE = Query(
    "change_feed_prune", "",
    ("keep_ms", "limit"),
    neo4j="MATCH (e:ChangeEntry) WHERE e.at < timestamp() - $keep_ms "
          "WITH e ORDER BY e.at LIMIT $limit DELETE e",
)


# --------------------------------------------------------------------------- inventory

def fixed_queries() -> list[Query]:
    """Every fixed (not model-generated) query constant in this module."""
    fixed = [
        CUSTOMERS_BY_IDS, ACCOUNTS_BY_CUSTOMERS, SUBSCRIPTIONS_BY_ACCOUNTS, PRODUCTS_BY_IDS,
        ALL_PRODUCTS, BUNDLE_COMPONENTS, SUBSCRIBER_COUNTS, ALL_CHANNELS, CHANNEL_CONTACT_VOLUMES,
        CONTACTS_BY_CUSTOMERS, PREFERRED_CHANNELS, MONETARY_EVENTS_BY_ACCOUNTS, PING,
        IDENTITIES_OF_CUSTOMERS, ATTRIBUTES_OF_CUSTOMERS, CUSTOMER_OF_IDENTITY, CAMPAIGN_CONTACTS,
        CUSTOMERS_MERGED_INTO, CAMPAIGNS_OF_CUSTOMERS, CUSTOMERS_WITH_STATUS,
        LOCK_API_KEYS_OF_ROLE, API_KEYS_OF_ROLE, REVOKE_API_KEY,
    ]
    fixed += [*CHANGE_FEED_SCHEMA, CHANGE_FEED_APPEND, CHANGE_FEED_READ, CHANGE_FEED_HEAD, CHANGE_FEED_PRUNE]
    fixed += [NEO4J_TEXT_VALUE_IDS, NEO4J_RETYPE_VALUE_IDS, NEO4J_AWAIT_INDEXES,
              NEO4J_BULK_LOAD_BEGIN, NEO4J_BULK_LOAD_END, NEO4J_BULK_LOAD_PENDING, NEO4J_BULK_BATCH_DONE,
              NEO4J_BULK_BATCHES_DONE, NEO4J_BULK_BATCHES_FORGET, NEO4J_BULK_SCHEMA]
    fixed += list(UNLINK.values()) + list(UNLINK_ROWS.values())
    fixed += list(EXISTING_IDS.values()) + list(NODES_BY_IDS.values()) + list(COUNT_NODES.values())
    fixed += list(COUNT_RELATIONSHIPS.values()) + list(DELETE_NODES.values()) + list(WIPE.values())
    return fixed


def statements(backend: Backend) -> list[Query]:
    """Every statement cdp can send to ``backend``, including one variant of
    each generated family (all properties for upserts; every customer filter
    condition at once, for each sort key) so the linter sees each clause."""
    out = fixed_queries() + projection_queries()
    out += neo4j_schema_statements() if backend == "neo4j" else ladybug_schema_statements()
    for node in MODEL.nodes:
        out += [upsert_nodes(node, node.property_names), create_nodes(node, node.property_names),
                bulk_create_nodes(node), export_nodes(node)]
    for rel in MODEL.relationships:
        out += [upsert_relationships(rel, rel.property_names), create_relationships(rel, rel.property_names),
                create_relationships_to_new_nodes(rel, rel.property_names),
                bulk_create_relationships(rel),
                export_relationships(rel), existing_relationships(rel), relationships_from(rel)]
    everything = CustomerFilter(
        ids=("x",), tiers=("CONSUMER",), statuses=("ACTIVE",), cities=("x",), countries=("x",),
        name_contains="x", email="x", phone="x", joined_from=date(2000, 1, 1),
        joined_to=date(2030, 1, 1), holds_product="x", holds_category="TV",
        account_type="PREPAID", spend_min=0.0, spend_max=1.0,
    )
    for sort in CUSTOMER_SORT_KEYS:
        out.append(customer_page(everything, sort, True)[0])
        out.append(customer_page(CustomerFilter(), sort, False)[0])
        for after_key in (False, True):
            out.append(customer_keyset_page(everything, sort, True, after_key, False)[0])
            out.append(customer_keyset_page(CustomerFilter(), sort, False, after_key, True)[0])
    out.append(customer_count(everything)[0])
    out.append(customer_count(CustomerFilter())[0])
    out.append(customer_views(ViewShape(True, True, True, True, True)))
    out.append(customer_views(ViewShape()))
    return [q for q in out if q.text(backend)]


def neo4j_statements() -> list[Query]:
    """Every Neo4j statement text of the project, for the Cypher linter."""
    return statements("neo4j")
