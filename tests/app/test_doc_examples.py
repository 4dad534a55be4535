"""Every GraphQL example of README.md and docs/*.md runs on the demo data, through the real
HTTP endpoint, on both stores, and shows something where its text says there is something.

What is run: every fenced ```graphql block (each operation of a block in turn: a block may
hold several, e.g. a mutation and the query that reads its result) and the GraphQL of every
``curl ... /graphql ... -d '{"query": ...}'`` example of a ```sh block.

Where: one fresh store per document, loaded with the demo data (``cdp.demo.telecom.generate``, the
conftest's size and seed) generated **as of today**, so examples about "the last 90 days"
see the demo's recent activity whatever day the suite runs. The blocks of a document run in
the document's order, as a reader would follow them: a mutation's effect is what the next
example reads (``createSegment`` then ``segment(id)``; ``trainModel`` then the scores), and
one document's writes (an erasure, a consent) never reach another's examples.

Annotations: HTML comments (invisible on GitHub) on the lines right before a block, one per line:

``<!-- expect: nonempty PATH -->``
    the value at PATH is a non-empty list, a non-zero number, true or a non-empty string.
    PATH is dotted from ``data`` of any operation of the block run so far
    (``data.previewSegment.members.edges``); ``[i]`` indexes a list.
``<!-- substitute: "TEXT" = PATH -->``
    before an operation runs, every ``TEXT`` in it (a placeholder such as ``CMP-...``) is
    replaced by the value at PATH of an earlier operation of the document.
``<!-- substitute: "TEXT" = PATH -> ROWPATH -->``
    the same with a download: the value at PATH is a path of the server (a contact list),
    fetched with the same credential and read as JSON lines; ROWPATH (``[0].customer_id``)
    picks the value in that list of rows.
``<!-- variables: NAME = PATH -->``
    the operation's ``$NAME`` is the value at PATH of an earlier operation of the document.
``<!-- poll: PATH = VALUE -->``
    the operation that answers PATH is repeated (up to 10 minutes) until its value is VALUE
    (a job: ``data.job.status = SUCCEEDED``), and must reach it.

Without annotations a block must still answer without ``errors``. A 429 (the heavy lane's
budget, docs/limits.md) is retried after its ``Retry-After``, as a client would. A comment of this form
that is not followed by a block, or with an unknown keyword, fails the test.
"""

from __future__ import annotations

import datetime
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from graphql import parse

from cdp.settings import Settings
from tests.conftest import BACKENDS, DEMO_CUSTOMERS, api_client, make_store

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ANNOTATION = re.compile(r"<!--\s*(expect|substitute|variables|poll)\s*:\s*(.*?)\s*-->")
ANY_ANNOTATION = re.compile(r"<!--\s*([a-z]+)\s*:.*?-->")
FENCE = re.compile(r"^```(\w*)\s*$")
CURL_QUERY = re.compile(r"""-d\s+'(\{.*?\})'""", re.S)


@dataclass
class Example:
    """One runnable block: where it is, its operations (GraphQL sources) and its annotations."""

    document: str
    line: int
    operations: list[str]
    annotations: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.document}:{self.line}"


def operations_of(source: str) -> list[str]:
    """The operations of a GraphQL block, each as its own source text (comments kept)."""
    document = parse(source)
    return [source[d.loc.start:d.loc.end] for d in document.definitions]  # type: ignore[union-attr]


def curl_operations(block: str) -> list[str]:
    """The GraphQL of the curl examples of a shell block that post to /graphql."""
    text = block.replace("\\\n", " ")
    if "curl" not in text or "/graphql" not in text:
        return []
    return [json.loads(body)["query"] for body in CURL_QUERY.findall(text)]


def examples(path: Path) -> list[Example]:
    """The runnable examples of a Markdown file, in order, with the annotations right before them.
    Fails on an annotation not followed by a block and on an unknown annotation keyword."""
    lines = path.read_text().splitlines()
    out: list[Example] = []
    pending: list[tuple[str, str]] = []
    pending_line = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            block = "\n".join(lines[i + 1:end])
            language = fence.group(1)
            ops = operations_of(block) if language == "graphql" else curl_operations(block) if language == "sh" else []
            if ops:
                out.append(Example(path.name, i + 1, ops, pending))
            else:
                assert not pending, f"{path.name}:{pending_line}: annotations before a block with no GraphQL"
            pending = []
            i = end + 1
            continue
        found = ANY_ANNOTATION.search(line)
        if found and found.group(1) in ("expect", "substitute", "variables", "poll"):
            match = ANNOTATION.search(line)
            assert match, f"{path.name}:{i + 1}: malformed annotation {line!r}"
            pending.append((match.group(1), match.group(2)))
            pending_line = i + 1
        elif line.strip() and pending:
            raise AssertionError(f"{path.name}:{pending_line}: annotations not right before a block")
        i += 1
    assert not pending, f"{path.name}:{pending_line}: annotations at the end, before no block"
    return out


def lookup(results: dict[str, Any], path: str) -> Any:
    """The value at a dotted PATH (``data.a.b[0].c``) of the merged results; KeyError if absent."""
    assert path.startswith("data."), f"paths start at data: {path}"
    value: Any = results
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path[len("data."):]):
        if part.startswith("["):
            value = value[int(part[1:-1])]
        else:
            if not isinstance(value, dict) or part not in value:
                raise KeyError(f"{path}: no {part!r} in the results")
            value = value[part]
    return value


def resolve(client, seen: dict[str, Any], path: str) -> Any:  # type: ignore[no-untyped-def]
    """The value of a substitution: at PATH, or ``PATH -> ROWPATH`` in the JSON lines downloaded
    from the server path found at PATH."""
    path, _, rows = path.partition("->")
    value = lookup(seen, path.strip())
    if not rows:
        return value
    download = client.get(value)
    assert download.status_code == 200, f"GET {value}: {download.status_code} {download.text[:300]}"
    lines = [json.loads(line) for line in download.text.splitlines() if line.strip()]
    return lookup({"rows": lines}, "data.rows" + rows.strip())


def nonempty(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return bool(value)


def post(client, source: str, variables: dict[str, Any]):  # type: ignore[no-untyped-def]
    """POST one operation as a client following docs/errors.md does: a 429 (RATE_LIMITED, BUSY:
    the heavy lane's budget, spent by the first projection build on a slow store) is retried
    after its ``Retry-After``, up to five times."""
    for _ in range(5):
        response = client.post("/graphql", json={"query": source, "variables": variables})
        if response.status_code != 429:
            return response
        time.sleep(min(int(response.headers.get("Retry-After", "1")), 30))
    return response


def run_document(client, document: list[Example]) -> None:  # type: ignore[no-untyped-def]
    """Run the examples of one document in order (see the module docstring)."""
    seen: dict[str, Any] = {}  # top-level fields of every answer so far
    for example in document:
        block: dict[str, Any] = {}
        for source in example.operations:
            variables: dict[str, Any] = {}
            for keyword, text in example.annotations:
                if keyword == "substitute":
                    placeholder, path = (p.strip() for p in text.split("=", 1))
                    if json.loads(placeholder) in source:
                        source = source.replace(json.loads(placeholder), str(resolve(client, seen, path)))
                elif keyword == "variables":
                    name, path = (p.strip() for p in text.split("=", 1))
                    if f"${name}" in source:
                        variables[name] = lookup(seen, path)
            polls = [text for keyword, text in example.annotations if keyword == "poll"]
            deadline = time.monotonic() + 600
            while True:
                response = post(client, source, variables)
                assert response.status_code == 200, f"{example}: {response.text}"
                body = response.json()
                assert "errors" not in body, f"{example}: {' '.join(source.split())[:200]}\n{json.dumps(body)[:2000]}"
                answer = body["data"]
                waiting = []
                for poll in polls:
                    path, wanted = (p.strip() for p in poll.split("=", 1))
                    top = path.split(".")[1].split("[")[0]
                    if top in answer and str(lookup({**answer}, path)) != wanted:
                        waiting.append((path, wanted, lookup(answer, path)))
                if not waiting:
                    break
                assert time.monotonic() < deadline, f"{example}: still {waiting}"
                time.sleep(0.2)
            block.update(answer)
            seen.update(answer)
        for keyword, text in example.annotations:
            if keyword == "expect":
                kind, _, path = text.partition(" ")
                assert kind == "nonempty", f"{example}: unknown expectation {text!r}"
                value = lookup(block, path.strip())
                assert nonempty(value), f"{example}: {path} is empty: {json.dumps(value)[:500]}"


ALL = {path.relative_to(ROOT).as_posix(): examples(path) for path in DOCUMENTS}
RUNNABLE = {name: found for name, found in ALL.items() if found}


def test_the_examples_are_found() -> None:
    """The extraction sees the documents' examples (a broken fence would hide them)."""
    assert sum(len(found) for found in ALL.values()) >= 25
    assert {"README.md", "docs/segments.md", "docs/campaigns.md"} <= set(RUNNABLE)
    readme = [op for example in RUNNABLE["README.md"] for op in example.operations]
    assert any("customers(first: 3)" in op for op in readme), "the curl example's query is run"


@pytest.fixture(scope="module")
def demo_today():  # type: ignore[no-untyped-def]
    """The conftest's demo data (size and seed), generated as of today (UTC)."""
    from cdp.demo import telecom as demo

    return demo.generate(DEMO_CUSTOMERS, seed=7, as_of=datetime.datetime.now(datetime.timezone.utc).date())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(RUNNABLE))
def test_every_example_runs_on_the_demo_data(name: str, backend: str, demo_today, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = make_store(backend, tmp_path)
    try:
        store.bulk_load(demo_today.nodes, demo_today.relationships)
        settings = Settings(audit_log=tmp_path / "audit.jsonl", model_dir=tmp_path / "models")
        with api_client(settings, store) as client:
            run_document(client, RUNNABLE[name])
    finally:
        if backend == "neo4j":
            store.wipe()
        store.close()
