"""Every Neo4j statement of cdp, checked by Neo4j's own Cypher front-end.

No Neo4j server runs in CI, so each text of ``graph.queries.neo4j_statements()`` goes
through ``tools/cypher-lint/lint.mjs``, which runs the pinned npm package
``@neo4j-cypher/language-support`` (Neo4j's parser and semantic analysis compiled to
JavaScript) with only the statement's declared ``params`` as known parameters and
Neo4j's built-in functions and procedures as the known ones. It checks syntax (Cypher 5),
semantics (undefined or out-of-scope variables, aggregation scope, type conflicts, ...),
undeclared ``$parameters``, unknown functions/procedures and one statement per text.
Labels, relationship types and property names are not checked.

The linter needs ``node`` and ``tools/cypher-lint/node_modules`` (``make install``
runs ``npm ci --prefix tools/cypher-lint``); without them these tests fail, unless
``CDP_SKIP_CYPHER_LINT=1`` is set, which skips them. Linter warnings (deprecations)
do not fail a test; they are reported as ``CypherLintWarning``.

lint.mjs caches results per (query, params, lint.mjs, package-lock.json) under
tools/cypher-lint/node_modules/.cache, so only changed statements are linted again
(a full uncached run takes ~10 s of CPU). The known-bad/known-good cases below always
run uncached, so every run proves the installed front-end really works.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from collections import Counter
from pathlib import Path

import pytest

from graph.cypher import Query
from graph.queries import neo4j_statements

ROOT = Path(__file__).resolve().parents[2]
LINT_DIR = ROOT / "tools" / "cypher-lint"
LINT_SCRIPT = LINT_DIR / "lint.mjs"
LINT_PACKAGE = LINT_DIR / "node_modules" / "@neo4j-cypher" / "language-support" / "package.json"
SKIP_ENV = "CDP_SKIP_CYPHER_LINT"


class CypherLintWarning(UserWarning):
    """A warning (e.g. a deprecation) Neo4j's front-end reports on a cdp statement."""


def _unique_ids(names: list[str]) -> list[str]:
    """Test ids from statement names; a repeated name gets ``-2``, ``-3``, ..."""
    seen: Counter[str] = Counter()
    ids = []
    for name in names:
        seen[name] += 1
        ids.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return ids


STATEMENTS: list[Query] = neo4j_statements()
STATEMENT_IDS = _unique_ids([q.name for q in STATEMENTS])


def require_linter() -> str:
    """Return the path of ``node``; skip if CDP_SKIP_CYPHER_LINT=1, else fail if the
    linter cannot run."""
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: Neo4j Cypher linter skipped")
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "`node` is not on PATH (install Node.js 20 or newer)"
    elif not LINT_PACKAGE.is_file():
        problem = f"{LINT_PACKAGE.parent.relative_to(ROOT)} is not installed"
    if problem:
        pytest.fail(
            f"The Neo4j Cypher linter cannot run: {problem}. Run `make install` (it runs "
            f"`npm ci --prefix tools/cypher-lint`), or set {SKIP_ENV}=1 to skip these tests.",
            pytrace=False,
        )
    assert node is not None
    return node


def run_linter(items: list[dict], *, cache: bool = True) -> list[dict]:
    """Lint ``items`` ({name, query, params}) in one node process; return its results."""
    node = require_linter()
    env = dict(os.environ)
    if not cache:
        env["CYPHER_LINT_CACHE"] = "0"
    done = subprocess.run(
        [node, str(LINT_SCRIPT)], input=json.dumps(items), capture_output=True, text=True,
        cwd=LINT_DIR, env=env, timeout=600,
    )
    if done.returncode != 0:
        pytest.fail(f"lint.mjs exited {done.returncode}:\n{done.stderr}", pytrace=False)
    results = json.loads(done.stdout)
    assert [r["name"] for r in results] == [i["name"] for i in items], "lint.mjs lost statements"
    return results


def _where(finding: dict) -> str:
    return f"{finding['message']} (line {finding['line']}, column {finding['column']})"


# --------------------------------------------------------------------------- cdp's statements

@pytest.fixture(scope="module")
def statement_results() -> list[dict]:
    """Linter results for STATEMENTS, in order (one node run for the whole module)."""
    items = [{"name": q.name, "query": q.text("neo4j"), "params": list(q.params)} for q in STATEMENTS]
    return run_linter(items)


@pytest.mark.parametrize("index", range(len(STATEMENTS)), ids=STATEMENT_IDS)
def test_neo4j_statement_passes_neo4j_front_end(index: int, request: pytest.FixtureRequest) -> None:
    require_linter()  # before the fixture, so a missing linter is a failure, not a setup error
    result = request.getfixturevalue("statement_results")[index]
    query = STATEMENTS[index]
    text = query.text("neo4j")
    for w in result["warnings"]:
        warnings.warn(CypherLintWarning(f"{query.name}: {_where(w)}\n  {text}"), stacklevel=1)
    if result["errors"]:
        listing = "\n".join(f"  - {_where(e)}" for e in result["errors"])
        pytest.fail(
            f"Neo4j's Cypher front-end rejects statement {query.name!r} "
            f"(params {list(query.params)}):\n{listing}\n  query: {text}",
            pytrace=False,
        )


@pytest.mark.parametrize("index", range(len(STATEMENTS)), ids=STATEMENT_IDS)
def test_neo4j_statement_declares_exactly_the_params_it_uses(index: int) -> None:
    query = STATEMENTS[index]
    used, declared = query.used_params("neo4j"), set(query.params)
    assert used == declared, (
        f"{query.name}: used but not declared {sorted(used - declared)}, "
        f"declared but not used {sorted(declared - used)}\n  query: {query.text('neo4j')}"
    )


def test_neo4j_statements_are_listed() -> None:
    assert len(STATEMENTS) > 50, "neo4j_statements() lost most statements"
    assert all(q.text("neo4j").strip() for q in STATEMENTS)


# --------------------------------------------------------------------------- the harness is real

#: (id, query, declared params, substring of the error the linter must report)
KNOWN_BAD = [
    ("syntax_error", "MATCH (c:Customer WHERE c.id IN $ids RETURN c", ["ids"], "Invalid input"),
    ("undefined_variable", "MATCH (c:Customer) RETURN d", [], "Variable `d` not defined"),
    ("undeclared_parameter", "MATCH (c:Customer) WHERE c.id IN $idz RETURN c", ["ids"],
     "Parameter $idz is not defined"),
    ("ladybug_copy", "COPY Customer FROM $rows", ["rows"], "Invalid input 'COPY'"),
    ("ladybug_load_from", "LOAD FROM $rows MERGE (n:Customer {id: c0}) ON CREATE SET n.email = c1",
     ["rows"], "Invalid input 'FROM'"),
    ("ladybug_node_table", "CREATE NODE TABLE IF NOT EXISTS Customer(id STRING, PRIMARY KEY(id))", [],
     "Invalid input 'TABLE'"),
    ("unknown_function", "RETURN nosuchfunction(1) AS x", [],
     "Function nosuchfunction is not present in the database"),
    ("plugin_procedure", "CALL apoc.help('x')", [], "Procedure apoc.help is not present in the database"),
    ("aggregation_scope", "MATCH (n:Customer) RETURN n.city AS city, count(*) AS total ORDER BY n.tier", [],
     "not possible to access variables declared before the WITH/RETURN"),
    ("type_conflict", "MATCH (a)-[r]->(b) MATCH (r) RETURN r", [], "Type mismatch"),
    ("ends_with_match", "MATCH (n:Customer)", [], "Query cannot conclude with MATCH"),
    ("two_statements", "RETURN 1 AS a; RETURN 2 AS b", [], "a Neo4j driver query must be exactly one"),
]

KNOWN_GOOD = [
    ("clean", "MATCH (c:Customer) WHERE c.id IN $ids RETURN c", ["ids"]),
    ("builtin_procedure", "CALL db.labels() YIELD label RETURN label", []),
    ("builtin_function_any_case", "RETURN toUpper('a') AS a, TOLOWER('B') AS b, count(*) AS n", []),
]

#: A deprecated function: a warning, not an error.
DEPRECATED = ("deprecated_function", "MATCH (n:Customer) RETURN id(n) AS i", [])


@pytest.fixture(scope="module")
def harness_results() -> dict[str, dict]:
    """Linter results for the known cases, uncached so the front-end really runs."""
    cases = [(i, q, p) for i, q, p, _ in KNOWN_BAD] + KNOWN_GOOD + [DEPRECATED]
    items = [{"name": i, "query": q, "params": p} for i, q, p in cases]
    return {r["name"]: r for r in run_linter(items, cache=False)}


@pytest.mark.parametrize(("name", "query", "params", "expected"), KNOWN_BAD, ids=[c[0] for c in KNOWN_BAD])
def test_linter_rejects_known_bad_query(name: str, query: str, params: list[str], expected: str,
                                        request: pytest.FixtureRequest) -> None:
    require_linter()
    errors = request.getfixturevalue("harness_results")[name]["errors"]
    assert any(expected in e["message"] for e in errors), (
        f"expected an error containing {expected!r} for {query!r}, got {errors}"
    )
    assert all(isinstance(e["line"], int) and isinstance(e["column"], int) for e in errors)


@pytest.mark.parametrize(("name", "query", "params"), KNOWN_GOOD, ids=[c[0] for c in KNOWN_GOOD])
def test_linter_accepts_known_good_query(name: str, query: str, params: list[str],
                                         request: pytest.FixtureRequest) -> None:
    require_linter()
    result = request.getfixturevalue("harness_results")[name]
    assert result["errors"] == [] and result["warnings"] == [], result


def test_linter_reports_deprecation_as_warning_not_error(request: pytest.FixtureRequest) -> None:
    require_linter()
    result = request.getfixturevalue("harness_results")[DEPRECATED[0]]
    assert result["errors"] == []
    assert any("deprecated" in w["message"] for w in result["warnings"]), result
