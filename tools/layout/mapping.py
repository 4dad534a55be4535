"""The move of issue 22: every flat ``cdp`` module, and every flat test file, to its package.

``MODULES`` maps an old module (``cdp.<name>``) to its new dotted path under ``cdp``;
``TESTS`` maps an old test file (``tests/<name>.py``) to the package folder it now lives in.
``tools/layout/rewrite.py`` reads both tables (and ``SYMBOLS``, for modules split in
several) to rewrite imports, dotted strings and paths across the repository.
"""

from __future__ import annotations

#: old module name under cdp -> new dotted path under cdp (a root module keeps its name)
MODULES: dict[str, str] = {
    # shared foundations, imported by every package
    "errors": "errors",
    "settings": "settings",
    "store": "store",
    # app: the web application, assembled in one place, and its pages
    "app": "app.application",
    "playground": "app.playground",
    "insights": "app.insights",
    # cli: the `cdp` command
    "cli": "cli.commands",
    "command_store": "cli.command_store",
    "exit_status": "cli.exit_status",
    "progress_report": "cli.progress_report",
    "server_keys": "cli.server_keys",
    "serve_workers": "cli.serve_workers",
    # ops: observing the running server
    "request_context": "ops.request_context",
    "request_log": "ops.request_log",
    "request_middleware": "ops.request_middleware",
    "metrics": "ops.metrics",
    "cancellation": "ops.cancellation",
    # limits: protecting it
    "limits": "limits.request_limits",
    "rate_limit": "limits.rate_limit",
    "fair_share": "limits.fair_share",
    "jobs": "limits.jobs",
    # transport: what arrives over HTTP
    "graphql_request": "transport.graphql_request",
    "persisted_queries": "transport.persisted_queries",
    "http_caching": "transport.http_caching",
    "cors": "transport.cors",
    "http_connection": "transport.http_connection",
    "pagination": "transport.pagination",
    "global_ids": "transport.global_ids",  # relay21's Relay global ids (on its branch at this writing)
    # security
    "principal": "security.principal",
    "api_keys": "security.api_keys",
    "jwt_tokens": "security.jwt_tokens",
    "authentication": "security.authentication",
    "permissions": "security.permissions",
    "audit": "security.audit",
    # formats: values written for people
    "display_format": "formats.display_format",
    "csv_export": "formats.csv_export",
    # projection: the graph as in-memory tables, and the feature frame
    "projection": "projection.tables",
    "features": "projection.features",
    # identity resolution
    "identity": "identity.resolution",
    # customers: the record, its profile and the rules of writing it
    "customers": "customers.rules",
    "provenance": "customers.provenance",
    "profile": "customers.profile",
    "write_rules": "customers.write_rules",
    "erased_customers": "customers.erased_customers",
    "customer_merge": "customers.customer_merge",
    "identity_links": "customers.identity_links",
    "quality": "customers.quality",
    # privacy
    "consent": "privacy.consent",
    "customer_export": "privacy.customer_export",
    "erasure": "privacy.erasure",
    # ingest: data coming in
    "ingest": "ingest.run",
    "mapping": "ingest.mapping",
    "catalog_import": "ingest.catalog_import",
    "column_signal": "ingest.column_signal",
    "upserts": "ingest.upserts",
    # models
    "scoring": "models.scoring",
    "churn": "models.churn",
    "lifetime_value": "models.lifetime_value",
    "propensity": "models.propensity",
    "repeat_purchase": "models.repeat_purchase",
    "model_card": "models.model_card",
    "churn_drivers": "models.churn_drivers",  # ins21's churn drivers (on its branch at this writing)
    # segments
    "segments": "segments.engine",
    # offers
    "catalog_rules": "offers.catalog_rules",
    "recommendations": "offers.recommendations",
    "collaborative": "offers.collaborative",
    "offer_responses": "offers.offer_responses",
    # outreach: who may be contacted, through which channel, when
    "contact_policy": "outreach.contact_policy",
    "channel_choice": "outreach.channel_choice",
    # campaigns
    "campaigns": "campaigns.campaigns",
    "campaign_report": "campaigns.campaign_report",
    "campaign_responses": "campaigns.campaign_responses",
    "campaign_simulation": "campaigns.campaign_simulation",
    "contact_lists": "campaigns.contact_lists",
    # relationship management
    "complaints": "relationship.complaints",
    "portfolio": "relationship.portfolio",
    "satisfaction": "relationship.satisfaction",
    # analytics: the per-app hub and value segmentation
    "analytics": "analytics.analytics",
    "value": "analytics.value",
    # demo data
    "demo": "demo.telecom",
    "sources_demo": "demo.source_records",
}
MAPPING = MODULES

#: modules split along their stages: the module an old one moved to -> the modules that took
#: some of its names (``rewrite.py`` reads which names from those modules' top level)
SPLITS: dict[str, list[str]] = {
    "ingest.run": ["ingest.read", "ingest.convert", "ingest.write"],
    "segments.engine": ["segments.definition", "segments.evaluation"],
}

#: names a package's ``__init__`` keeps at the package path in text (``cdp.cli:main`` in
#: pyproject.toml, ``python -m cdp.cli``, ``cdp.app.build_app`` in the README): left as they are
KEEP: dict[str, set[str]] = {"cli": {"main", ""}, "app": {"build_app"}}

#: old test file stem (``tests/<stem>.py``) -> the folder under tests/ it moves to
TESTS: dict[str, str] = {
    # the assembled app through HTTP
    "test_api": "app", "test_playground": "app", "test_playground_browser": "app",
    "test_browser_clients": "app", "test_gc_freeze": "app", "test_doc_examples": "app",
    # the GraphQL contract (schema/)
    "test_schema_sdl": "schema", "test_document_cache": "schema", "test_errors_masked": "schema",
    "test_error_codes_documented": "schema", "test_fuzz_graphql": "schema",
    # the store (graph/)
    "test_ladybug_concurrency": "graph", "test_ladybug_keyed": "graph", "test_ladybug_memory": "graph",
    "test_neo4j_cypher": "graph", "test_observation_ids": "graph", "test_neo4j_import": "graph",
    "test_change_feed": "graph",
    "test_view_prefetch": "resolvers",
    "test_cli": "cli", "test_cli_usability": "cli", "test_serve_workers": "cli",
    "test_operations": "ops",
    "test_limits": "limits", "test_fair_share": "limits",
    "test_transport": "transport", "test_cors_browser": "transport",
    "test_security": "security", "test_personal_data_rule": "security",
    "test_display_format": "formats", "test_csv_export": "formats",
    "test_projection": "projection", "test_features": "projection", "test_neo4j_projection": "projection",
    "test_identity": "identity", "test_resolve": "identity",
    "test_profile": "customers", "test_quality": "customers", "test_write_rules": "customers",
    "test_privacy": "privacy", "test_training_consent": "privacy",
    "test_import": "ingest", "test_import_attributes": "ingest", "test_import_csv_rerun": "ingest",
    "test_import_kill": "ingest", "test_import_provenance": "ingest", "test_column_signal": "ingest",
    "test_partner_api": "ingest",
    "test_scoring": "models", "test_repeat_purchase": "models", "test_cdnow": "models",
    "test_mlc_churn": "models", "test_wa_churn": "models", "test_point_in_time": "models",
    "test_segments": "segments", "test_customer_segments": "segments",
    "test_recommendations": "offers", "test_recommendations_catalogue": "offers",
    "test_catalog_rules": "offers", "test_movielens": "offers",
    "test_channel_choice": "outreach",
    "test_campaigns": "campaigns", "test_campaign_cli": "campaigns", "test_campaign_report": "campaigns",
    "test_relationship": "relationship",
    "test_value": "analytics",
    "test_demo": "demo",
    # tests other branches add in the flat layout (at this writing)
    "test_analytics_required": "analytics", "test_clock": "graph", "test_write_batch": "graph",
    "test_relay": "schema", "test_datetime_format": "schema", "test_error_field_paths": "schema",
    "test_pagination": "transport",  # relay21: the paging rules in memory
    "test_instacart": "offers",
}
