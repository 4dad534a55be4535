#!/usr/bin/env node
// Lint Neo4j Cypher statements with Neo4j's own Cypher front-end
// (@neo4j-cypher/language-support, pinned in package.json / package-lock.json).
//
// stdin : JSON array  [{"name": str, "query": str, "params": [str, ...]}, ...]
// stdout: JSON array  [{"name": str,
//                       "errors":   [{"message": str, "line": int, "column": int}],
//                       "warnings": [{"message": str, "line": int, "column": int}]}, ...]
//         in input order; line and column are 1-based.
// exit  : 0 whenever every statement was linted, whatever the findings (the caller
//         decides); 2 on bad input or if the linter cannot be loaded.
//
// What is checked, per statement:
//   * syntax: the Cypher 5 grammar (the statement may opt into another version with a
//     "CYPHER 25" prefix), so LadybugDB-only clauses (COPY ... FROM, LOAD FROM,
//     CREATE NODE TABLE) are errors;
//   * semantics: Neo4j's semantic analysis (undefined variables, variables out of scope
//     after WITH/aggregation, a query ending in MATCH, bad MERGE/CREATE patterns, ...);
//   * parameters: dbSchema.parameters declares exactly the statement's "params", so a
//     $parameter not in that list is an error ("Parameter $x is not defined.");
//     params declared but unused are not reported here (the Python test compares them);
//   * functions/procedures: Neo4j's built-in function list and built-in procedures
//     (db.*, dbms.*, tx.*, cdc.*), taken from the registry dump the package ships as
//     `testData.mockSchema` (a real server's SHOW FUNCTIONS / SHOW PROCEDURES, APOC and
//     GDS entries dropped since cdp installs no plugins). An unknown function is an
//     error; calls to deprecated ones (e.g. id()) are warnings. If a future package
//     version stops shipping that dump, functions and procedures are NOT checked and a
//     notice goes to stderr (tests/test_neo4j_cypher.py then fails on its
//     unknown-function case, so the gap cannot go unnoticed);
//   * one statement per query: drivers send exactly one statement, so a text that
//     splits into several statements ("...; ...") is an error.
// Labels, relationship types and property keys are not checked (no schema given).
// Diagnostics of severity Error are errors; Warning/Information/Hint are warnings.

import { readFileSync } from 'node:fs';

let ls;
try {
  ls = await import('@neo4j-cypher/language-support');
} catch (e) {
  process.stderr.write(
    `cypher-lint: cannot load @neo4j-cypher/language-support (${e.message}); ` +
      'run `make install` (npm ci --prefix tools/cypher-lint)\n',
  );
  process.exit(2);
}
const { lintCypherQuery, parseStatementsStrs, testData } = ls;

const CYPHER_VERSIONS = ['CYPHER 5', 'CYPHER 25'];
const PLUGIN_NAMESPACES = ['apoc.', 'gds.'];
const ERROR = 1; // vscode-languageserver DiagnosticSeverity.Error

function isPlugin(name) {
  return PLUGIN_NAMESPACES.some((ns) => name.startsWith(ns));
}

/** Built-in functions and procedures per Cypher version, or null if the package ships none. */
function builtInRegistries() {
  const mock = testData?.mockSchema;
  if (!mock?.functions?.['CYPHER 5'] || !mock?.procedures?.['CYPHER 5']) return null;
  const functions = {};
  const procedures = {};
  for (const version of CYPHER_VERSIONS) {
    functions[version] = Object.fromEntries(
      Object.entries(mock.functions[version] ?? {}).filter(
        ([name, fn]) => fn.isBuiltIn && !isPlugin(name),
      ),
    );
    procedures[version] = Object.fromEntries(
      Object.entries(mock.procedures[version] ?? {}).filter(([name]) => !isPlugin(name)),
    );
  }
  return { functions, procedures };
}

function fail(message) {
  process.stderr.write(`cypher-lint: ${message}\n`);
  process.exit(2);
}

let items;
try {
  items = JSON.parse(readFileSync(0, 'utf8'));
} catch (e) {
  fail(`stdin is not JSON: ${e.message}`);
}
if (!Array.isArray(items)) fail('stdin must be a JSON array of {name, query, params}');
items.forEach((it, i) => {
  if (
    typeof it?.name !== 'string' ||
    typeof it?.query !== 'string' ||
    !Array.isArray(it?.params) ||
    !it.params.every((p) => typeof p === 'string')
  ) {
    fail(`item ${i} must be {"name": string, "query": string, "params": [string, ...]}`);
  }
});

const registries = builtInRegistries();
if (!registries) {
  process.stderr.write(
    'cypher-lint: this @neo4j-cypher/language-support ships no built-in function list; ' +
      'unknown functions and procedures are NOT checked\n',
  );
}

function toFinding(d) {
  return {
    message: d.message,
    line: d.range.start.line + 1,
    column: d.range.start.character + 1,
  };
}

function dedupe(findings) {
  const seen = new Set();
  return findings.filter((f) => {
    const key = `${f.line}:${f.column}:${f.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function lintOne({ name, query, params }) {
  const dbSchema = {
    defaultLanguage: 'CYPHER 5',
    parameters: Object.fromEntries(params.map((p) => [p, null])),
    ...(registries ?? {}),
  };
  const errors = [];
  const warnings = [];
  try {
    const { diagnostics } = lintCypherQuery(query, dbSchema, { consoleCommandsEnabled: false });
    for (const d of diagnostics) (d.severity === ERROR ? errors : warnings).push(toFinding(d));
    const statements = parseStatementsStrs(query).filter((s) => s.trim() !== '');
    if (statements.length > 1) {
      errors.push({
        message: `The text holds ${statements.length} statements; a Neo4j driver query must be exactly one.`,
        line: 1,
        column: 1,
      });
    }
    if (query.trim() === '') errors.push({ message: 'Empty statement.', line: 1, column: 1 });
  } catch (e) {
    errors.push({ message: `linter crashed: ${e?.stack ?? e}`, line: 1, column: 1 });
  }
  return { name, errors: dedupe(errors), warnings: dedupe(warnings) };
}

process.stdout.write(JSON.stringify(items.map(lintOne)) + '\n');
