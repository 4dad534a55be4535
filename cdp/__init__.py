"""cdp: the domain and the application, one package per concept.

Shared by every package: ``errors`` (the one error hierarchy), ``settings`` (the one
settings object, from the environment), ``store`` (opening the configured graph store).
The packages, each importing only packages before it in this list (checked by
tests/layout/test_package_graph.py): ``formats``, ``projection``, ``identity``, ``ops``,
``limits``, ``customers``, ``security``, ``transport``, ``demo``, ``relationship``,
``privacy``, ``models``, ``outreach``, ``offers``, ``segments``, ``campaigns``,
``ingest``, ``analytics``; then the entry points that assemble them: ``app`` (the web
application, ``build_app``) and ``cli`` (the ``cdp`` command). docs/architecture.md has
the map and a "where do I put X" table.
"""
