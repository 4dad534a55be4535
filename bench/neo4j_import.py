"""cdp's demo data into a fresh Neo4j home with ``neo4j-admin database import full`` (offline).

The side-by-side view benchmark needs the same graph in Neo4j and in the embedded store at
1,000,000 customers (about 60M rows). Through the driver (``GraphStore.bulk_load``) that
takes from 10 minutes to hours on a 2-core machine; Neo4j's own offline importer writes the
store files directly from CSV at several hundred thousand rows per second. The importer
ships with the Neo4j jars ``tools/neo4j`` already has (``neo4j-import-tool``), so nothing new
is installed.

``import_demo(data, home)`` writes every node and relationship table of a ``DemoData`` as
headerless CSV plus a header file typed from ``graph.model.MODEL`` (``DATE`` as ``date``,
``TIMESTAMP`` as ``localdatetime``: what the driver stores for Python ``date`` and naive
``datetime``), runs the importer into ``<home>/data/databases/neo4j`` and returns the rows and
seconds. Unset values become absent properties, as ``bulk_load``'s ``SET n.p = null`` leaves
them. The caller then starts ``LocalNeo4j`` on ``home``; cdp's store creates its constraints
and indexes when it first opens (``ensure_schema``), as on any existing graph.

Raises ``RuntimeError`` when the importer fails (its output tail in the message).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parent.parent
NEO4J_TOOLS = ROOT / "tools" / "neo4j" / "target"

#: The importer's type of each model property type.
_IMPORT_TYPES = {"STRING": "string", "INT64": "long", "DOUBLE": "double", "BOOL": "boolean",
                 "DATE": "date", "TIMESTAMP": "localdatetime"}


def _csv_column(column: pa.ChunkedArray, type_: str) -> pa.ChunkedArray:
    """``column`` as the importer reads it: timestamps as ISO text with a ``T``."""
    if type_ == "TIMESTAMP":
        return pc.replace_substring(column.cast(pa.string()), " ", "T", max_replacements=1)
    return column


def _write(table: pa.Table, header: list[str], folder: Path, name: str) -> str:
    """Write ``table`` (columns in ``header`` order) as ``name``-header.csv and ``name``.csv;
    return the importer's file argument."""
    head = folder / f"{name}-header.csv"
    body = folder / f"{name}.csv"
    head.write_text(",".join(header) + "\n")
    pacsv.write_csv(table, body, pacsv.WriteOptions(include_header=False, batch_size=65536))
    return f"{head},{body}"


def write_csv(data: Any, folder: Path) -> tuple[list[str], int]:
    """The importer's ``--nodes`` / ``--relationships`` arguments for ``data`` written under
    ``folder``, and the rows written."""
    from graph.model import MODEL

    folder.mkdir(parents=True, exist_ok=True)
    args: list[str] = []
    rows = 0
    for label, table in data.nodes.items():
        if table.num_rows == 0:
            continue
        node = MODEL.node(label)
        columns = [table.column(node.key)]  # the id space; stored again, typed, below
        header = [f":ID({label})"]
        for p in node.properties:
            columns.append(_csv_column(table.column(p.name), p.type))
            header.append(f"{p.name}:{_IMPORT_TYPES[p.type]}")
        out = pa.table(columns, names=[f"c{i}" for i in range(len(columns))])
        args.append(f"--nodes={label}={_write(out, header, folder, label)}")
        rows += table.num_rows
    for rel_type, table in data.relationships.items():
        if table.num_rows == 0:
            continue
        rel = MODEL.relationship(rel_type)
        columns = [table.column("from"), table.column("to")]
        header = [f":START_ID({rel.source})", f":END_ID({rel.target})"]
        for p in rel.properties:
            columns.append(_csv_column(table.column(p.name), p.type))
            header.append(f"{p.name}:{_IMPORT_TYPES[p.type]}")
        out = pa.table(columns, names=[f"c{i}" for i in range(len(columns))])
        args.append(f"--relationships={rel_type}={_write(out, header, folder, rel_type)}")
        rows += table.num_rows
    return args, rows


def import_demo(data: Any, home: Path, heap: str = "1g", off_heap: str = "2G") -> dict:
    """Import ``data`` into a fresh Neo4j ``home`` (no database there yet); rows and seconds.

    Raises ``RuntimeError`` when the importer fails."""
    started = time.perf_counter()
    csv_dir = home / "import-csv"
    args, rows = write_csv(data, csv_dir)
    written = time.perf_counter() - started
    (home / "conf").mkdir(parents=True, exist_ok=True)
    (home / "conf" / "neo4j.conf").touch()
    env = dict(os.environ, NEO4J_HOME=str(home), NEO4J_CONF=str(home / "conf"))
    cmd = ["java", f"-Xmx{heap}", "-cp", f"{NEO4J_TOOLS / 'classes'}{os.pathsep}{NEO4J_TOOLS / 'lib'}/*",
           "org.neo4j.cli.AdminTool", "database", "import", "full", "neo4j", "--threads=2",
           f"--max-off-heap-memory={off_heap}", "--multiline-fields=true", "--skip-duplicate-nodes=false",
           f"--report-file={home / 'import.report'}",  # else written into the working directory
           *args]
    log = home / "import.log"
    with open(log, "w") as out:
        done = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if done.returncode != 0 or "IMPORT DONE" not in log.read_text():
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise RuntimeError(f"neo4j-admin import failed (exit {done.returncode}):\n{tail}")
    for f in csv_dir.iterdir():
        f.unlink()
    csv_dir.rmdir()
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 2), "csv_seconds": round(written, 2),
            "rows_per_second": round(rows / max(seconds, 1e-9)), "how": "neo4j-admin database import full"}
