"""Shared fixtures: real stores (embedded always, Neo4j when CDP_TEST_NEO4J_URI is set, as
``make test`` does with the local Neo4j of tools/neo4j),
demo data, and an HTTP client on the real ASGI app.

Two Neo4j servers serve a run (``tools/neo4j/local.py run`` starts both): the one of
``CDP_TEST_NEO4J_URI`` is wiped by every test that takes an empty store, and the one of
``CDP_TEST_NEO4J_DEMO_URI`` holds the session's shared demo data (``demo_store``,
``client``), loaded once. Neo4j Community has one user database per server, so they
cannot share one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# One OpenMP thread for scikit-learn's trees in tests: on a 2-core machine whose cores are
# busy with the test servers, OpenMP's spinning threads made one gradient-boosting fit
# 20-40 times slower (19.8 s against 0.49 s measured), and training requests hit their
# timeout. Set before scikit-learn is imported; subprocesses (cdp serve, cdp train) inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from cdp.settings import Settings
from graph.store import GraphStore

NEO4J_TEST_URI = os.environ.get("CDP_TEST_NEO4J_URI", "")
NEO4J_DEMO_URI = os.environ.get("CDP_TEST_NEO4J_DEMO_URI", "")
if os.environ.get("CDP_REQUIRE_NEO4J") and not (NEO4J_TEST_URI and NEO4J_DEMO_URI):
    raise RuntimeError("CDP_REQUIRE_NEO4J is set but no Neo4j runs (CDP_TEST_NEO4J_URI or "
                       "CDP_TEST_NEO4J_DEMO_URI unset): run `make test`")
BACKENDS = ["ladybug"] + (["neo4j"] if NEO4J_TEST_URI else [])
#: Backends of the shared demo store (Neo4j needs its own server: see the module docstring).
DEMO_BACKENDS = ["ladybug"] + (["neo4j"] if NEO4J_DEMO_URI else [])


def make_store(backend: str, tmp_path: Path, wipe: bool = True) -> GraphStore:
    """A fresh, empty store of ``backend`` (``wipe=False``: on Neo4j, another store object on
    the test server's data as it is, like a second server; the embedded file is locked by
    its one opener)."""
    if backend == "ladybug":
        from graph.ladybug_store import LadybugStore

        return LadybugStore(tmp_path / "store.lbdb", buffer_pool_mb=256)
    from graph.neo4j_store import Neo4jStore

    store = Neo4jStore(NEO4J_TEST_URI, "neo4j", "", "neo4j")
    if wipe:
        store.wipe()
    return store


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty store, once per available backend."""
    s = make_store(request.param, tmp_path)
    yield s
    if request.param == "neo4j":
        s.wipe()
    s.close()


DEMO_CUSTOMERS = 300


@pytest.fixture(scope="session")
def demo_data():  # type: ignore[no-untyped-def]
    """Seeded demo data for a few hundred customers (generated once per run)."""
    from cdp.demo import telecom as demo

    return demo.generate(DEMO_CUSTOMERS, seed=7)


@pytest.fixture(scope="session", params=DEMO_BACKENDS)
def demo_store(request: pytest.FixtureRequest, demo_data,  # type: ignore[no-untyped-def]
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphStore]:
    """A store holding ``demo_data`` (shared, read-only by convention), once per backend:
    embedded, and Neo4j on the demo server (wiped, then bulk-loaded once per session)."""
    if request.param == "ladybug":
        from graph.ladybug_store import LadybugStore

        s: GraphStore = LadybugStore(tmp_path_factory.mktemp("demo") / "demo.lbdb", buffer_pool_mb=256)
    else:
        from graph.neo4j_store import Neo4jStore

        s = Neo4jStore(NEO4J_DEMO_URI, "neo4j", "", "neo4j")
        s.wipe()
    s.bulk_load(demo_data.nodes, demo_data.relationships)
    yield s
    s.close()


def api_client(settings: Settings, store: GraphStore | None = None, role: str = "admin", **key_options):  # type: ignore[no-untyped-def]
    """A ``TestClient`` on the real app (``cdp.app.build_app(settings, store)``) that sends a
    real API key of ``role``, created in the app's store (``key_options``: scopes, operations,
    customer_id). Use it as a context manager, like ``TestClient``."""
    from starlette.testclient import TestClient

    from cdp.security.api_keys import create_key
    from cdp.app import build_app

    if settings.audit_log is None:  # never the default next to data/cdp.lbdb
        import tempfile

        settings = settings.with_(audit_log=Path(tempfile.mkdtemp(prefix="cdp-audit-")) / "audit.jsonl")
    if settings.heavy_budget == Settings.heavy_budget:
        # The heavy lane's budget counts wall-clock seconds, so on a loaded machine (CI, a
        # busy laptop) it would answer RATE_LIMITED at random. Tests of the budget set their own.
        settings = settings.with_(heavy_budget=0.0)
    app = build_app(settings, store)
    client = TestClient(app)
    _, key = create_key(app.state.store, f"test {role}", role, **key_options)
    client.headers["Authorization"] = f"Bearer {key}"
    return client


def with_key(client, store: GraphStore, role: str, **key_options):  # type: ignore[no-untyped-def]
    """A copy of ``client``'s headers with a new key of ``role`` (for role tests on one app)."""
    from cdp.security.api_keys import create_key

    _, key = create_key(store, f"test {role}", role, **key_options)
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="session")
def client(demo_store: GraphStore, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """An HTTP client on the real app over ``demo_store``, authenticated as an admin."""
    audit = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    with api_client(Settings(audit_log=audit), demo_store) as c:
        yield c


def gql(client, query: str, variables: dict | None = None) -> dict:  # type: ignore[no-untyped-def]
    """POST a GraphQL query and return the decoded JSON body (status must be 200)."""
    response = client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    return response.json()


def train_model(client, name: str, fields: str = "name", headers: dict | None = None) -> dict:  # type: ignore[no-untyped-def]
    """Train model ``name`` through the API as a client does: submit ``trainModel`` (a job),
    poll ``job(id)`` until it is finished. Out: the finished job (``status``, ``progress``,
    ``error``, and ``models { <fields> }``). Fails the test when the submission is refused."""
    import time

    submitted = client.post("/graphql", json={"query": "mutation($n: String!) { trainModel(name: $n) { id status } }",
                                              "variables": {"n": name}}, headers=headers)
    assert submitted.status_code == 200 and "errors" not in submitted.json(), submitted.text
    job_id = submitted.json()["data"]["trainModel"]["id"]
    query = ("query($id: ID!) { job(id: $id) { id kind status progress error { code message } "
             f"models {{ {fields} }} }} }}")
    deadline = time.monotonic() + 600
    while True:
        job = gql(client, query, {"id": job_id})["data"]["job"] if headers is None else client.post(
            "/graphql", json={"query": query, "variables": {"id": job_id}}, headers=headers).json()["data"]["job"]
        assert job is not None, f"job {job_id} vanished"
        if job["status"] in ("SUCCEEDED", "FAILED") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def _wipes_neo4j(item: pytest.Item) -> bool:
    """Whether ``item`` takes a function-scoped store fixture on Neo4j (wiped for the test)."""
    spec = getattr(item, "callspec", None)
    if spec is None:
        return False
    for name, value in spec.params.items():
        if isinstance(value, str) and value == "neo4j":
            defs = item._fixtureinfo.name2fixturedefs.get(name)  # type: ignore[attr-defined]
            if defs and defs[-1].scope == "function":
                return True
    return False


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Within each stretch of one module's tests, run the tests that wipe the Neo4j test server
    (function-scoped stores) before those on a module-scoped Neo4j store: that store's data
    lives on the same server and would be wiped under the tests that share it. Stable
    otherwise, so pytest's grouping by session-scoped parameters is kept."""
    out: list[pytest.Item] = []
    start = 0
    while start < len(items):
        end = start
        while end < len(items) and items[end].module is items[start].module:  # type: ignore[attr-defined]
            end += 1
        run = items[start:end]
        out += [i for i in run if _wipes_neo4j(i)] + [i for i in run if not _wipes_neo4j(i)]
        start = end
    items[:] = out


class CliStore:
    """An empty store of one backend and the settings that point ``cdp`` at it (the CLI in a
    subprocess or in-process, ``cdp serve``): on Neo4j the wiped test server, embedded a file.

    ``env``: the environment variables (``NEO4J_URI`` empty for the embedded store, so a
    developer's own setting cannot redirect a test); ``path``: ``CDP_DB_PATH``, the embedded
    file, and on both backends the folder the models and the audit log default next to.
    """

    def __init__(self, backend: str, folder: Path, buffer_pool_mb: int = 256) -> None:
        self.backend = backend
        self.path = folder / "cli.lbdb"
        self.buffer_pool_mb = buffer_pool_mb
        self.env = {"CDP_DB_PATH": str(self.path), "CDP_BUFFER_POOL_MB": str(buffer_pool_mb),
                    "NEO4J_URI": NEO4J_TEST_URI if backend == "neo4j" else ""}
        if backend == "neo4j":
            make_store("neo4j", folder).close()  # wiped

    def open(self) -> GraphStore:
        """A store object on it. Close it before the CLI runs on the embedded store: the file
        is locked by its one opener (Neo4j has no such limit)."""
        if self.backend == "ladybug":
            from graph.ladybug_store import LadybugStore

            return LadybugStore(self.path, buffer_pool_mb=self.buffer_pool_mb)
        return make_store("neo4j", self.path.parent, wipe=False)

    def settings(self, **changes: object) -> Settings:
        """``Settings`` as ``cdp`` reads them from ``env`` (plus ``changes``)."""
        return Settings.from_env({**os.environ, **self.env}).with_(**changes)

    def setenv(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Put ``env`` into this process's environment, for ``cdp.cli.main`` run in-process."""
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)


@pytest.fixture
def cli_store(backend: str, tmp_path: Path) -> Iterator[CliStore]:
    """An empty store for the ``cdp`` command or for a test that opens it again (a restart),
    once per available backend (Neo4j: wiped before and after)."""
    target = CliStore(backend, tmp_path)
    yield target
    if backend == "neo4j":
        make_store("neo4j", tmp_path).close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each available backend's name, for tests that open stores with ``make_store``."""
    return str(request.param)
