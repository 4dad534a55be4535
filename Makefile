# The two commands of the README: `make serve` and `make test`.
# Everything the project needs is installed from here (PyPI and npm), so a
# clean clone on a fresh machine works.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.cdp-installed
NPM    ?= npm
NPMFLAGS := --no-audit --no-fund --loglevel=error

GRAPHIQL_MODULES := tools/graphiql/node_modules/.package-lock.json
CYPHERLINT_MODULES := tools/cypher-lint/node_modules/.package-lock.json
GRAPHIQL_ASSETS := cdp/static/graphiql/vendor/graphiql.min.js

.PHONY: install browser serve test lint typecheck neo4j neo4j-build bench bench-small bench-import bench-identity bench-analytics bench-campaigns bench-fair-share bench-lane-switch bench-view bench-neo4j bench-import-neo4j bench-recommend bench-models bench-keyset loadtest wrk-tool clean help

help:
	@echo "make serve   - install, load demo data on first run, serve http://127.0.0.1:8000/graphql"
	@echo "make test    - install, lint, type-check and run the whole test suite (both stores: embedded and a local Neo4j)"
	@echo "make lint    - ruff over the code, tests, benches and tools ([tool.ruff] in pyproject.toml)"
	@echo "make typecheck - mypy over cdp, graph, resolvers and schema; graph/ strict ([tool.mypy])"
	@echo "make neo4j   - run a local Neo4j 5.26 on bolt://127.0.0.1:7687 for development"
	@echo "make bench   - run the benchmarks (1,000,000 customers; long) and print figures"
	@echo "make bench-view - cdp's customer view against the Neo4j GraphQL Library on the same local Neo4j (about 10 minutes; VIEW_CUSTOMERS=1000000 for 1M)"
	@echo "make bench-models - churn, lifetime value and basket recommendations on public data sets beside baselines (about 17 minutes)"
	@echo "make loadtest - 50 clients of mixed reads and writes, then kill-and-re-run convergence (about 5 minutes)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test,bench]"
	touch $@

$(GRAPHIQL_MODULES): tools/graphiql/package-lock.json
	@command -v $(NPM) >/dev/null || { echo "npm is required (Debian: apt-get install -y nodejs npm)"; exit 1; }
	$(NPM) ci --prefix tools/graphiql $(NPMFLAGS)

$(GRAPHIQL_ASSETS): $(GRAPHIQL_MODULES) tools/graphiql/vendor.py | $(STAMP)
	$(BIN)/python tools/graphiql/vendor.py

$(CYPHERLINT_MODULES): tools/cypher-lint/package-lock.json
	@command -v $(NPM) >/dev/null || { echo "npm is required (Debian: apt-get install -y nodejs npm)"; exit 1; }
	$(NPM) ci --prefix tools/cypher-lint $(NPMFLAGS)

install: $(STAMP) $(GRAPHIQL_ASSETS) $(CYPHERLINT_MODULES)

# Debian's chromium, for the real-browser tests of the playground (tests/app/test_playground_browser.py).
# Installed as root, or with sudo when that needs no password; otherwise those tests are skipped
# (CI sets CDP_REQUIRE_BROWSER=1, so there a missing browser fails the run).
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then echo "*** no apt-get: install chromium yourself for the browser tests ***"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "*** chromium missing and neither root nor sudo: the browser tests are SKIPPED (apt-get install chromium) ***"; exit 0; fi; \
	APT="$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get"; \
	$$APT install -y -q chromium >/dev/null 2>&1 || { $$APT update -q >/dev/null && \
		$$APT install -y -q chromium >/dev/null; } || echo "*** apt-get install chromium failed: the browser tests are SKIPPED ***"

serve: install
	$(BIN)/cdp serve --dev-key

# Static checks, offline from the venv; each fails the build (and so `make test`) on any finding.
LINT_PATHS := cdp graph resolvers schema tests bench tools
lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)

typecheck: $(STAMP)
	$(BIN)/mypy

# The whole suite runs on both stores: the embedded one always, and Neo4j 5.26 (tools/neo4j,
# built from Maven Central and started on a free loopback port for the run) when Java and Maven
# are present. CI sets CDP_REQUIRE_NEO4J=1 so that a Neo4j that cannot start fails the run.
test: install browser lint typecheck
	@if command -v java >/dev/null && command -v mvn >/dev/null; then \
		$(BIN)/python tools/neo4j/local.py build && \
		$(BIN)/python tools/neo4j/local.py run -- $(BIN)/python -m pytest -q; \
	elif [ -n "$$CDP_REQUIRE_NEO4J" ]; then \
		echo "CDP_REQUIRE_NEO4J is set but java/mvn are missing: cannot run the Neo4j half"; exit 1; \
	else \
		echo "*** java or mvn not found: the Neo4j half of the suite is SKIPPED (embedded store only) ***"; \
		$(BIN)/python -m pytest -q; \
	fi

# Build the local Neo4j launcher (Maven Central; cached in ~/.m2 and tools/neo4j/target).
neo4j-build:
	@command -v java >/dev/null && command -v mvn >/dev/null || { echo "java and mvn are needed (OpenJDK 17, Maven 3.8)"; exit 1; }
	$(PYTHON) tools/neo4j/local.py build

# A local Neo4j for development on bolt://127.0.0.1:7687 (data in data/neo4j); point cdp at it
# with NEO4J_URI=bolt://127.0.0.1:7687 (docs/neo4j.md).
neo4j: neo4j-build
	$(PYTHON) tools/neo4j/local.py serve

# wrk (Debian) drives the HTTP load; without it bench/ falls back to a slower Python client.
wrk-tool:
	@command -v wrk >/dev/null || (apt-get install -y -q wrk >/dev/null 2>&1 || \
		echo "wrk not installed (apt-get install wrk); using the Python load client")

bench: install wrk-tool
	$(BIN)/python bench/run.py --customers 1000000
	$(BIN)/python bench/import_csv.py --rows 1000000
	$(BIN)/python bench/identity.py --records 1000000
	$(BIN)/python bench/analytics.py --customers 1000000
	$(BIN)/python bench/campaigns.py --customers 1000000

# issue 27: cdp's customer view against the Neo4j GraphQL Library 7.6.3 (npm, pinned in
# bench/neo4j-graphql/package-lock.json) on the same local Neo4j 5.26 and demo graph (2,000 customers;
# `make bench-view VIEW_CUSTOMERS=1000000` for 1M, imported into Neo4j with neo4j-admin), and cdp on
# its embedded store; 1 and 16 connections, 20 s each (docs/benchmarks.md).
VIEW_CUSTOMERS ?= 2000
bench-view: install wrk-tool neo4j-build
	$(BIN)/python bench/view_vs_neo4j_graphql.py --customers $(VIEW_CUSTOMERS) --duration 20

bench-small: install wrk-tool
	$(BIN)/python bench/run.py --customers 20000 --duration 10

# cdp import of a generated 1,000,000-row customer CSV into a fresh store (docs/import.md).
bench-import: install
	$(BIN)/python bench/import_csv.py --rows 1000000

# identity resolution over 1,000,000 generated source records (docs/identity.md).
bench-identity: install
	$(BIN)/python bench/identity.py --records 1000000

# projection, refresh, value segmentation, segment previews and scores at 1,000,000 customers (docs/analytics.md).
bench-analytics: install
	$(BIN)/python bench/analytics.py --customers 1000000

# issue 20: models on public data through cdp import + the API, beside baselines on the same
# split (docs/models.md): mlc_churn and wa_churn held out, CDNOW lifetime value vs lifetimes,
# Instacart basket recommendations vs popularity and item-kNN (docs/recommendations.md).
bench-models: install
	OMP_NUM_THREADS=1 $(BIN)/python bench/mlc_churn.py --held-out
	OMP_NUM_THREADS=1 $(BIN)/python bench/wa_churn.py
	OMP_NUM_THREADS=1 $(BIN)/python bench/cdnow.py
	OMP_NUM_THREADS=1 $(BIN)/python bench/instacart.py

# issue 19: the same demo data in a fresh local Neo4j and LadybugDB, side by side: first bulk load,
# projection build, segment preview, next-best offer (docs/benchmarks.md; long: the Neo4j load dominates).
BENCH_NEO4J_CUSTOMERS ?= 1000000
bench-neo4j: install neo4j-build
	CDP_NEO4J_HEAP=4g CDP_NEO4J_PAGECACHE_MB=6144 $(BIN)/python tools/neo4j/local.py run -- \
		$(BIN)/python bench/neo4j.py --customers $(BENCH_NEO4J_CUSTOMERS) --one-reader

# issue 19: cdp import of a generated customer CSV (provenance on) into a fresh local Neo4j, run twice.
BENCH_NEO4J_IMPORT_ROWS ?= 1000000
bench-import-neo4j: install neo4j-build
	CDP_NEO4J_HEAP=4g CDP_NEO4J_PAGECACHE_MB=2048 $(BIN)/python tools/neo4j/local.py run -- \
		$(BIN)/python bench/import_csv.py --rows $(BENCH_NEO4J_IMPORT_ROWS) --neo4j

# recommendations on big catalogues: first request and one customer's offers at 1,000 customers x
# 20,000 products and 1,000,000 customers x 500 products (docs/recommendations.md, docs/benchmarks.md).
bench-recommend: install
	$(BIN)/python bench/recommend_catalogue.py --customers 1000 --products 20000
	$(BIN)/python bench/recommend_catalogue.py --customers 1000000 --products 500

# issue 21: deep customer pages, the keyset read against the offset read it replaced, 200,000 customers on the
# embedded store (docs/benchmarks.md, docs/api.md); about a minute.
bench-keyset: install
	$(BIN)/python bench/keyset_paging.py --customers 200000

# campaign audience through the full contact policy and a 100,000-contact wave launch at 1,000,000 customers
# (on a copy of the bench-analytics store; docs/benchmarks.md).
bench-campaigns: install
	$(BIN)/python bench/campaigns.py --customers 1000000

# issue 18: while one key keeps 30 of the heaviest allowed queries in flight, another key's { __typename } and
# customer view latency against idle (docs/limits.md "Lanes", docs/benchmarks.md); about 3 minutes.
bench-fair-share: install
	$(BIN)/python bench/fair_share.py --customers 2000 --duration 15 --cycles 3

# issue 18: the heavy lane kept busy in one process, the customer view's latency with Python's switch
# interval alternating between 5 and 0.5 ms every 5 views (docs/benchmarks.md); about 2 minutes.
bench-lane-switch: install
	$(BIN)/python bench/lane_switch_interval.py --customers 2000 --views 600 --intervals 0.005 0.0005

# issue 7: 50 clients of mixed reads and writes for 2 minutes on loopback, every acknowledged write read
# back; then cdp import and a partner's upserts to cdp serve killed mid-way and re-run (docs/benchmarks.md).
loadtest: install browser
	$(BIN)/python bench/loadtest.py --clients 50 --duration 120; status=$$?; \
	$(BIN)/python bench/import_kill.py && exit $$status

clean:
	rm -rf $(VENV) tools/graphiql/node_modules tools/cypher-lint/node_modules cdp/static/graphiql/vendor
