"""Every code docs/errors.md lists is produced, with the extensions the document promises.

The cheap ones are produced here, through the real HTTP endpoint on an app over a real store
(both backends), one case each: the code, the HTTP status, and ``extensions.field`` /
``extensions.limit`` where docs/errors.md names them. Codes that need a slow or staged
situation (timeouts, rate limits, a store that goes away, a server shutting down) are
produced by the test files named in ``ELSEWHERE``; this test checks those files exist and
assert the code. A code added to docs/errors.md without either fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from cdp.settings import Settings
from tests.conftest import api_client, with_key

ROOT = Path(__file__).resolve().parents[2]
ERRORS_MD = (ROOT / "docs" / "errors.md").read_text()

#: code -> the test file that produces it (and asserts the code).
ELSEWHERE = {
    "TOO_MANY_TOKENS": "tests/limits/test_limits.py",
    "QUERY_TOO_DEEP": "tests/limits/test_limits.py",
    "TOO_MANY_ALIASES": "tests/limits/test_limits.py",
    "QUERY_TOO_COMPLEX": "tests/limits/test_limits.py",
    "REQUEST_TOO_LARGE": "tests/transport/test_transport.py",
    "TIMEOUT": "tests/limits/test_limits.py",
    "HEADER_TIMEOUT": "tests/transport/test_transport.py",
    "BODY_TIMEOUT": "tests/transport/test_transport.py",
    "RATE_LIMITED": "tests/limits/test_limits.py",
    "BUSY": "tests/limits/test_fair_share.py",
    "STORE_UNAVAILABLE": "tests/schema/test_errors_masked.py",
    "SHUTTING_DOWN": "tests/offers/test_recommendations_catalogue.py",
    "AUDIT_UNAVAILABLE": "tests/security/test_security.py",
    "INTERNAL_SERVER_ERROR": "tests/schema/test_errors_masked.py",
    "PERSISTED_QUERY_NOT_FOUND": "tests/app/test_browser_clients.py",
    "PORT_IN_USE": "tests/cli/test_cli_usability.py",  # CLI exit statuses (docs/cli.md)
    "NOT_CONFIRMED": "tests/cli/test_cli_usability.py",
}


def documented_codes() -> set[str]:
    """The codes of the "## Codes" table (``A`` / ``B`` rows give both)."""
    table = ERRORS_MD.split("## Codes", 1)[1].split("\n\n", 2)[1]
    codes: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            codes |= set(re.findall(r"`([A-Z_]+)`", line.split("|")[1]))
    return codes


def test_the_codes_table_is_read() -> None:
    codes = documented_codes()
    assert {"BAD_USER_INPUT", "PAGE_TOO_LARGE", "MODEL_NOT_TRAINED", "HEADER_TIMEOUT", "BODY_TIMEOUT"} <= codes
    assert len(codes) >= 30


def test_codes_produced_elsewhere_are_asserted_there() -> None:
    for code, path in ELSEWHERE.items():
        text = (ROOT / path).read_text()
        ast.parse(text)
        asserted = (f'"{code}"', f"'{code}'", f"ExitStatus.{code}")  # CLI codes are exit statuses
        assert any(a in text for a in asserted), f"{path} does not assert {code}"


#: Packages whose modules may raise an error of the hierarchy (walked recursively, so a module
#: moved into a sub-package is still found).
PACKAGES = ("graph", "cdp", "resolvers", "schema")
#: Abstract bases of the hierarchy: their ``code`` is never an answer, so nothing may raise them.
ABSTRACT = ("CdpError", "LimitExceeded")


def _modules() -> list:  # type: ignore[type-arg]
    import importlib
    import pkgutil

    found = []
    for name in PACKAGES:
        package = importlib.import_module(name)
        found.append(package)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
            found.append(importlib.import_module(info.name))
    return found


def raisable_codes() -> dict[str, list[str]]:
    """Every ``extensions.code`` the code can answer: the ``code`` of each concrete class of the
    error hierarchy (``graph.errors.CdpError`` and its subclasses, wherever they are defined) and
    the codes ``schema.errors.error_code`` gives errors raised by graphql-core itself. Maps each
    code to where it comes from."""
    import inspect

    from graph.errors import CdpError
    from schema import errors as schema_errors

    _modules()  # every subclass is defined once its module is imported
    codes: dict[str, list[str]] = {}
    pending = [CdpError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__name__ not in ABSTRACT:
            codes.setdefault(cls.code, []).append(f"{cls.__module__}.{cls.__qualname__}")
    source = ast.parse(inspect.getsource(schema_errors.error_code))
    for node in ast.walk(source):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            codes.setdefault(node.value.value, []).append("schema.errors.error_code")
    return codes


def test_abstract_errors_are_never_raised() -> None:
    # a bare CdpError would answer the undocumented code CDP_ERROR; raise the concrete class instead
    offenders = []
    for module in _modules():
        path = getattr(module, "__file__", None)
        if not path:
            continue
        for node in ast.walk(ast.parse(Path(path).read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in ABSTRACT:
                    offenders.append(f"{module.__name__}:{node.lineno} {name}(...)")
    assert not offenders, "abstract errors constructed: " + ", ".join(offenders)


def test_docs_list_exactly_the_codes_the_code_can_raise() -> None:
    raisable = raisable_codes()
    documented = documented_codes()
    undocumented = {code: raisable[code] for code in sorted(set(raisable) - documented)}
    unraisable = sorted(documented - set(raisable))
    assert not undocumented, f"codes the code can raise that docs/errors.md does not list: {undocumented}"
    assert not unraisable, f"codes docs/errors.md lists that nothing raises: {unraisable}"


def _deep(n: int) -> dict:
    value: dict = {}
    for _ in range(n):
        value = {"a": value}
    return value


@pytest.fixture
def http(store, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = Settings(audit_log=tmp_path / "audit.jsonl", model_dir=tmp_path / "models")
    with api_client(settings, store) as client:
        yield client, store, settings


def test_every_documented_code_is_produced_with_its_extensions(http) -> None:  # type: ignore[no-untyped-def]
    client, store, settings = http
    produced: dict[str, dict] = {}

    def post(query: str, status: int = 200, **kwargs) -> dict:  # type: ignore[no-untyped-def]
        response = client.post("/graphql", json={"query": query, **kwargs})
        assert response.status_code == status, response.text
        return response.json()["errors"][0]

    def record(error: dict, code: str, **extensions: object) -> None:
        assert error["extensions"]["code"] == code, error
        for key, value in extensions.items():
            assert error["extensions"].get(key) == value, (code, key, error)
        produced[code] = error["extensions"]

    record(post("{ customers(first: "), "GRAPHQL_PARSE_FAILED")
    record(post("{ noSuchField }"), "GRAPHQL_VALIDATION_FAILED")
    bad = client.post("/graphql", content=b"not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    record(bad.json()["errors"][0], "BAD_REQUEST")
    record(post("{ __typename }", 400, variables=_deep(200)), "JSON_TOO_DEEP", limit=settings.max_json_depth)
    record(post("query A { __typename }", 400, operationName="B"), "OPERATION_RESOLUTION_FAILURE",
           field="operationName")
    put = client.put("/graphql", json={"query": "{ __typename }"})
    assert put.status_code == 405 and "Allow" in put.headers
    record(put.json()["errors"][0], "METHOD_NOT_ALLOWED")
    text = client.post("/graphql", content=b"{ __typename }", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    record(text.json()["errors"][0], "UNSUPPORTED_MEDIA_TYPE")
    record(post("{ customers(first: -1) { totalCount } }"), "BAD_USER_INPUT", field="first")
    record(post('mutation { updateSegment(id: "SEG-none", name: "x") { id } }'), "NOT_FOUND", field="id")
    missing = client.get("/no/such/path")
    assert missing.status_code == 404
    record(missing.json()["errors"][0], "NOT_FOUND")
    create = 'mutation { createSegment(name: "Twice", definition: {all: []}) { id } }'
    assert "errors" not in client.post("/graphql", json={"query": create}).json()
    record(post(create), "CONFLICT")
    # One cause, one code: an untrained model in a segment condition as on a customer's score.
    record(post('{ previewSegment(definition: {score: {name: "churn_risk", op: GT, value: 0.5}}) { size } }'),
           "MODEL_NOT_TRAINED", field="definition.score.name")
    too_many = settings.max_page_size + 1
    record(post(f"{{ customers(first: {too_many}) {{ totalCount }} }}"), "PAGE_TOO_LARGE",
           field="first", limit=settings.max_page_size)
    anonymous = client.post("/graphql", json={"query": "{ __typename }"}, headers={"Authorization": ""})
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    record(anonymous.json()["errors"][0], "UNAUTHENTICATED")
    partner = with_key(client, store, "partner", operations=["upsertCustomers"])
    refused = client.post("/graphql", json={"query": "{ segments { totalCount } }"}, headers=partner)
    record(refused.json()["errors"][0], "FORBIDDEN", field="segments")

    from cdp.errors import ConfigurationError
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"CDP_MAX_PAGE_SIZE": "many"})
    assert caught.value.code == "CONFIGURATION_ERROR"
    produced["CONFIGURATION_ERROR"] = {"code": caught.value.code}

    from graph.errors import StoreError
    produced["STORE_ERROR"] = {"code": StoreError("x").code}  # the code of the store's refusals

    missing_codes = documented_codes() - set(produced) - set(ELSEWHERE)
    assert not missing_codes, f"documented in docs/errors.md but produced nowhere: {sorted(missing_codes)}"
    assert not set(produced) - documented_codes(), "a code produced here is missing from docs/errors.md"
