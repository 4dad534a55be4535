"""Data coming in: ``cdp import`` of a source system's file (its mapping format, catalog rules
files, signal lost by a mapping) and partner upserts (docs/import.md).

Modules:

- ``catalog_import``: Catalog rules through ``cdp import``: the whole file is checked before anything is written.
- ``column_signal``: Signal lost by a mapping: mapped columns that end up constant, collapsed or unused.
- ``mapping``: The mapping-file format of ``cdp import``: how a source system's rows become graph nodes.
- ``run``: Importing a source system's file into the graph (``cdp import``).
- ``upserts``: Batched upserts for partner systems (billing platforms, CRM, marketing tools).
"""

__all__ = [
    "catalog_import",
    "column_signal",
    "mapping",
    "run",
    "upserts",
]
