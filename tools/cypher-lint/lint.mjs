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
//   * syntax: the Cypher 5 grammar (a statement may opt into another version with a
//     "CYPHER 25" prefix), so LadybugDB-only clauses (COPY ... FROM, LOAD FROM,
//     CREATE NODE TABLE) are errors;
//   * semantics: Neo4j's semantic analysis (undefined variables, variables out of scope
//     after WITH/aggregation, a query ending in MATCH, bad MERGE/CREATE patterns, ...);
//   * parameters: dbSchema.parameters declares exactly the statement's "params", so a
//     $parameter not in that list is an error ("Parameter $x is not defined.");
//     params declared but unused are not reported here (the Python test compares them);
//   * functions/procedures: Neo4j's built-in functions and built-in procedures
//     (db.*, dbms.*, tx.*, cdc.*), taken from the registry dump the package ships as
//     `testData.mockSchema` (a real server's SHOW FUNCTIONS / SHOW PROCEDURES for
//     CYPHER 5 and CYPHER 25; its APOC and GDS entries are dropped, cdp installs no
//     plugins). An unknown function is an error (built-ins match case-insensitively, as
//     in Neo4j); a deprecated one (e.g. id()) is a warning. If a future package version
//     stops shipping that dump, functions and procedures are NOT checked and a notice
//     goes to stderr (tests/test_neo4j_cypher.py then fails on its unknown-function
//     case, so the gap cannot go unnoticed);
//   * one statement per text: a driver query is exactly one statement, so a text that
//     splits into several ("...; ...") is an error.
// Labels, relationship types and property keys are not checked (no graph schema given).
// Diagnostics of severity Error are errors; Warning/Information/Hint are warnings.
//
// Speed: Neo4j's semantic analysis (Java compiled to JS) costs ~0.3 ms per character
// (~8-10 s for cdp's ~125 statements on 2 CPUs). Results are therefore cached in
// node_modules/.cache/cypher-lint/results.json, keyed by a hash of this file,
// package-lock.json, the query and its params: a statement is linted again only when
// one of those changes, and `npm ci` (which empties node_modules) clears the cache.
// CYPHER_LINT_CACHE=0 disables the cache (read and write).

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const CACHE_FILE = join(HERE, 'node_modules', '.cache', 'cypher-lint', 'results.json');
const CACHE_MAX_ENTRIES = 5000;
const CYPHER_VERSIONS = ['CYPHER 5', 'CYPHER 25'];
const PLUGIN_NAMESPACES = ['apoc.', 'gds.'];
const ERROR = 1; // vscode-languageserver DiagnosticSeverity.Error

function fail(message) {
  process.stderr.write(`cypher-lint: ${message}\n`);
  process.exit(2);
}

// ------------------------------------------------------------------ input

function readInput() {
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
  return items;
}

// ------------------------------------------------------------------ cache

const cacheEnabled = process.env.CYPHER_LINT_CACHE !== '0';

function cacheSalt() {
  const h = createHash('sha256');
  h.update(readFileSync(fileURLToPath(import.meta.url)));
  try {
    h.update(readFileSync(join(HERE, 'package-lock.json')));
  } catch {
    h.update('no-lock');
  }
  return h.digest('hex');
}

function cacheKey(salt, { query, params }) {
  return createHash('sha256')
    .update(JSON.stringify([salt, query, [...params].sort()]))
    .digest('hex');
}

function loadCache() {
  if (!cacheEnabled) return {};
  try {
    const data = JSON.parse(readFileSync(CACHE_FILE, 'utf8'));
    return data && typeof data === 'object' && !Array.isArray(data) ? data : {};
  } catch {
    return {};
  }
}

function saveCache(cache) {
  if (!cacheEnabled) return;
  try {
    const keys = Object.keys(cache);
    const kept = Object.fromEntries(
      keys.slice(Math.max(0, keys.length - CACHE_MAX_ENTRIES)).map((k) => [k, cache[k]]),
    );
    mkdirSync(dirname(CACHE_FILE), { recursive: true });
    const tmp = `${CACHE_FILE}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(kept));
    renameSync(tmp, CACHE_FILE); // atomic: concurrent runs never see a torn file
  } catch (e) {
    process.stderr.write(`cypher-lint: cache not written (${e.message})\n`);
  }
}

// ------------------------------------------------------------------ linting

function isPlugin(name) {
  return PLUGIN_NAMESPACES.some((ns) => name.startsWith(ns));
}

/** Built-in functions and procedures per Cypher version, or null if the package ships none. */
function builtInRegistries(testData) {
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

async function makeLinter() {
  let ls;
  try {
    ls = await import('@neo4j-cypher/language-support');
  } catch (e) {
    fail(
      `cannot load @neo4j-cypher/language-support (${e.message}); ` +
        'run `make install` (npm ci --prefix tools/cypher-lint)',
    );
  }
  const { lintCypherQuery, parseStatementsStrs, testData } = ls;
  const registries = builtInRegistries(testData);
  if (!registries) {
    process.stderr.write(
      'cypher-lint: this @neo4j-cypher/language-support ships no built-in function list; ' +
        'unknown functions and procedures are NOT checked\n',
    );
  }

  const toFinding = (d) => ({
    message: d.message,
    line: d.range.start.line + 1,
    column: d.range.start.character + 1,
  });

  const dedupe = (findings) => {
    const seen = new Set();
    return findings.filter((f) => {
      const key = `${f.line}:${f.column}:${f.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  };

  return function lintOne({ query, params }) {
    const dbSchema = {
      defaultLanguage: 'CYPHER 5',
      parameters: Object.fromEntries(params.map((p) => [p, null])),
      ...(registries ?? {}),
    };
    const errors = [];
    const warnings = [];
    try {
      if (query.trim() === '') errors.push({ message: 'Empty statement.', line: 1, column: 1 });
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
    } catch (e) {
      errors.push({ message: `linter crashed: ${e?.stack ?? e}`, line: 1, column: 1 });
    }
    return { errors: dedupe(errors), warnings: dedupe(warnings) };
  };
}

// ------------------------------------------------------------------ main

const items = readInput();
const salt = cacheSalt();
const cache = loadCache();
let lintOne = null; // the package is loaded only if some statement is not cached
let fresh = 0;
const results = [];
for (const item of items) {
  const key = cacheKey(salt, item);
  let found = cache[key];
  if (!found) {
    lintOne ??= await makeLinter();
    found = lintOne(item);
    const crashed = found.errors.some((e) => e.message.startsWith('linter crashed'));
    if (!crashed) {
      delete cache[key];
      cache[key] = found;
      fresh += 1;
    }
  }
  results.push({ name: item.name, errors: found.errors, warnings: found.warnings });
}
if (fresh > 0) saveCache(cache);
process.stdout.write(JSON.stringify(results) + '\n');
