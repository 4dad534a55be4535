"""Data coming in: ``cdp import`` of a source system's file (its mapping format, catalog rules
files, signal lost by a mapping) and partner upserts (docs/import.md).

Modules:

- ``catalog_import``: Catalog rules through ``cdp import``: the whole file is checked before anything is written.
- ``column_signal``: Signal lost by a mapping: mapped columns that end up constant, collapsed or unused.
- ``convert``: Converting a batch of source rows for ``cdp import``: values typed, keys checked, no store.
- ``mapping``: The mapping-file format of ``cdp import``: how a source system's rows become graph nodes.
- ``read``: Reading a source file for ``cdp import``: CSV, Parquet or JSON Lines, in batches of rows.
- ``run``: Importing a source system's file into the graph (``cdp import``).
- ``upserts``: Batched upserts for partner systems (billing platforms, CRM, marketing tools).
- ``write``: Writing a converted batch for ``cdp import``: endpoints checked, only changes written, in one ``GraphStore.write``.
"""

__all__ = [
    "catalog_import",
    "column_signal",
    "convert",
    "mapping",
    "read",
    "run",
    "upserts",
    "write",
]
