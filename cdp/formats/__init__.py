"""Values written for people: numbers and times in the CLI, CSV files safe in a spreadsheet.

Modules:

- ``csv_export``: CSV files cdp writes (campaign contact lists, import rejects files), safe to open in a spreadsheet.
- ``display_format``: How the CLI writes times and numbers for people (docs/cli.md).
"""

__all__ = [
    "csv_export",
    "display_format",
]
