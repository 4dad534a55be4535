"""The ``cdp`` command as a new user meets it (issue 21 item 3), through the real command:
beside a running server, on a missing store, with a closed pipe, confirmations, help,
version, progress, exit statuses and the formats it prints."""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cdp.cli.commands import parser
from cdp.cli.exit_status import MEANING, ExitStatus
from cdp.settings import Settings
from tests.conftest import NEO4J_TEST_URI, make_store
from tests.cli.test_cli import ROOT, cdp

ISO_WITH_OFFSET = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")


def _embedded(tmp_path: Path, name: str = "cli.lbdb") -> dict[str, str]:
    return {"CDP_DB_PATH": str(tmp_path / name), "CDP_BUFFER_POOL_MB": "128",
            "CDP_AUDIT_LOG": str(tmp_path / "audit.jsonl")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_version_and_help_with_defaults_on_every_option() -> None:
    version = cdp("--version")
    assert version.returncode == 0 and re.fullmatch(r"cdp \d+\.\d+\.\d+\S*\n", version.stdout)
    # Every option of every command has help, and each one with a default shows it.
    settings = Settings()
    missing, undocumented = [], []

    def walk(p: argparse.ArgumentParser) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    walk(child)
                continue
            if isinstance(action, argparse._HelpAction):
                continue
            if not action.help:
                missing.append(f"{p.prog} {action.option_strings or action.dest}")
            elif action.default not in (None, False, argparse.SUPPRESS) and \
                    "default" not in p.formatter_class(p.prog)._get_help_string(action):
                undocumented.append(f"{p.prog} {action.option_strings or action.dest}")

    walk(parser(settings))
    assert missing == [] and undocumented == []
    shown = cdp("demo", "load", "--help")
    words = " ".join(shown.stdout.split())  # argparse wraps lines
    assert shown.returncode == 0 and "(default: 2,000)" in words and "(default: 42)" in words


def test_a_missing_store_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    env = _embedded(tmp_path)
    for command in (["stats"], ["keys", "list"], ["campaigns", "list"], ["privacy", "export", "C0000001"],
                    ["keys", "create", "--role", "admin", "--name", "me"], ["quality"]):
        done = cdp(*command, env=env)
        assert done.returncode == ExitStatus.STORE_UNAVAILABLE == 4, (command, done.stderr)
        assert "no store at" in done.stderr and "CDP_DB_PATH" in done.stderr and "`cdp init`" in done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""
        assert not (tmp_path / "cli.lbdb").exists()
    made = cdp("init", env=env)  # the commands that create a store do
    assert made.returncode == 0 and "created, empty" in made.stderr and (tmp_path / "cli.lbdb").exists()
    stats = cdp("stats", env=env)
    assert stats.returncode == 0 and dict(line.split() for line in stats.stdout.splitlines())["Customer"] == "0"
    assert "already there" in cdp("init", env=env).stderr


def _serve(env: dict[str, str], port: int, *options: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "cdp.cli", "serve", "--port", str(port), "--log-level", "warning",
                             *options],
                            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            pytest.fail(f"cdp serve exited early: {proc.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("cdp serve did not become ready within 180 s")
        time.sleep(0.3)


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def test_commands_beside_a_running_server(backend: str, tmp_path: Path) -> None:
    """Reads work beside ``cdp serve`` (the embedded store read-only, as it is); a command that
    changes a store the server holds fails with exit 4 naming the mutation to use instead;
    a second server on the port exits 5; a server nobody can use says how to get a key."""
    env = {**_store_env(backend, tmp_path), "CDP_DEMO_CUSTOMERS": "60"}
    port = _free_port()
    proc = _serve(env, port)
    try:
        stats = cdp("stats", env=env)
        assert stats.returncode == 0, stats.stderr
        assert dict(line.split() for line in stats.stdout.splitlines())["Customer"] == "60"
        campaigns = cdp("campaigns", "list", env=env)
        assert campaigns.returncode == 0 and "CMP-" in campaigns.stdout, campaigns.stderr
        exported = cdp("privacy", "export", "C0000001", env=env)
        assert exported.returncode == 0, exported.stderr
        assert json.loads(exported.stdout)["customer_id"] == "C0000001"
        assert cdp("keys", "list", env=env).returncode == 0
        assert cdp("resolve", "--dry-run", env=env).returncode == 0
        assert cdp("init", env=env).returncode == 0  # the store is there: init only looks
        create = cdp("keys", "create", "--role", "admin", "--name", "me", env=env)
        erase = cdp("privacy", "erase", "C0000002", "--yes", env=env)
        if backend == "ladybug":
            assert "reading it read-only" in stats.stderr
            assert create.returncode == ExitStatus.STORE_UNAVAILABLE, create.stderr
            assert "in use by process" in create.stderr and "createApiKey mutation" in create.stderr
            assert erase.returncode == ExitStatus.STORE_UNAVAILABLE and "eraseCustomer mutation" in erase.stderr
            assert "Traceback" not in create.stderr + erase.stderr
        else:  # a Neo4j server takes writes from every process
            assert create.returncode == 0 and create.stdout.startswith("cdp_"), create.stderr
            assert erase.returncode == 0, erase.stderr
        second = cdp("serve", "--no-demo", "--port", str(port), env=env)
        assert second.returncode == ExitStatus.PORT_IN_USE == 5
        assert f"127.0.0.1:{port} is in use" in second.stderr and "--port" in second.stderr
    finally:
        log = _stop(proc)
    assert "no usable API key" in log and "cdp keys create --role admin" in log and "--dev-key" in log


def test_keys_create_goes_through_a_server_started_with_dev_key(tmp_path: Path) -> None:
    """The embedded store is held, but ``cdp serve --dev-key`` left an admin key next to it:
    ``cdp keys create`` asks the server (createApiKey) and the new key works there."""
    port = _free_port()
    env = {**_embedded(tmp_path), "CDP_DEMO_CUSTOMERS": "40", "CDP_PORT": str(port)}
    proc = _serve(env, port, "--dev-key")
    try:
        made = cdp("keys", "create", "--role", "analyst", "--name", "desk", env=env)
        assert made.returncode == 0, made.stderr
        assert "through the server at" in made.stderr and made.stdout.startswith("cdp_")
        key = made.stdout.strip()
        answer = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ customers(first: 1) { totalCount } }"},
                            headers={"Authorization": f"Bearer {key}"}).json()
        assert answer["data"]["customers"]["totalCount"] == 40
        refused = cdp("keys", "create", "--role", "wizard", "--name", "x", env=env)
        assert refused.returncode == 2  # argparse knows the roles
        elsewhere = cdp("keys", "create", "--role", "analyst", "--name", "y", env={**env, "CDP_PORT": str(_free_port())})
        assert elsewhere.returncode == ExitStatus.STORE_UNAVAILABLE and "createApiKey" in elsewhere.stderr
    finally:
        _stop(proc)


def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    env = _embedded(tmp_path)
    assert cdp("init", env=env).returncode == 0
    piped = subprocess.run("set -o pipefail; " + f"{sys.executable} -m cdp.cli stats | head -1",
                           shell=True, executable="/bin/bash", cwd=ROOT, env={**os.environ, **env},
                           capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and len(piped.stdout.splitlines()) == 1 and piped.stderr == ""
    # The reader gone before anything is written: the write fails, the command still ends quietly.
    proc = subprocess.Popen([sys.executable, "-m", "cdp.cli", "stats"], cwd=ROOT, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and "Traceback" not in err and "BrokenPipe" not in err


def _answer(args: list[str], env: dict[str, str], answer: str) -> tuple[int, str]:
    """Run ``cdp args`` with a terminal as standard input and type ``answer``; its status and stderr."""
    main, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cdp.cli", *args], cwd=ROOT, env={**os.environ, **env},
                            stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(terminal)
    os.write(main, answer.encode() + b"\n")
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        os.close(main)
    return proc.returncode, err


def _store_env(backend: str, tmp_path: Path) -> dict[str, str]:
    """Settings for an empty store of ``backend`` (Neo4j: the test server, wiped)."""
    env = _embedded(tmp_path)
    if backend == "neo4j":
        make_store("neo4j", tmp_path).close()
        env["NEO4J_URI"] = NEO4J_TEST_URI
    return env


def test_irreversible_commands_ask_or_take_yes(backend: str, tmp_path: Path) -> None:
    env = _store_env(backend, tmp_path)
    assert cdp("demo", "load", "--customers", "30", env=env).returncode == 0
    no_terminal = cdp("privacy", "erase", "C0000001", env=env)
    assert no_terminal.returncode == ExitStatus.NOT_CONFIRMED and "add --yes" in no_terminal.stderr
    status, err = _answer(["privacy", "erase", "C0000001"], env, "n")
    assert status == ExitStatus.NOT_CONFIRMED and "cannot be undone" in err and "nothing was changed" in err
    kept = json.loads(cdp("privacy", "export", "C0000001", env=env).stdout)
    status, err = _answer(["privacy", "erase", "C0000001"], env, "y")
    assert status == 0 and "erased C0000001" in err
    erased = json.loads(cdp("privacy", "export", "C0000001", env=env).stdout)
    assert erased != kept
    made = cdp("keys", "create", "--role", "analyst", "--name", "desk", env=env)
    key_id = re.search(r"key (\w+) for", made.stderr).group(1)
    refused = cdp("keys", "revoke", key_id, env=env)
    assert refused.returncode == ExitStatus.NOT_CONFIRMED and "active" in cdp("keys", "list", env=env).stdout
    revoked = cdp("keys", "revoke", key_id, "--yes", env=env)
    assert revoked.returncode == 0 and ISO_WITH_OFFSET.search(revoked.stderr)
    listed = cdp("keys", "list", env=env).stdout
    assert "revoked" in listed and ISO_WITH_OFFSET.search(listed)


def test_long_commands_report_progress_on_stderr(backend: str, tmp_path: Path) -> None:
    env = _store_env(backend, tmp_path)
    load = cdp("demo", "load", "--customers", "40", env=env)
    assert load.returncode == 0
    assert "cdp: generating 40 demo customers: customers generated" in load.stderr
    assert "cdp: loading: Customer loaded" in load.stderr and "cdp: loaded " in load.stderr
    resolve = cdp("resolve", "--dry-run", env=env)
    assert resolve.returncode == 0
    assert "cdp: resolve: reading source records" in resolve.stderr and "cdp: resolve: matching" in resolve.stderr
    quality = cdp("quality", env=env)
    assert quality.returncode == 0 and ISO_WITH_OFFSET.search(quality.stdout.splitlines()[0])
    assert ISO_WITH_OFFSET.search(cdp("quality", "--json", env=env).stdout)


def test_the_exit_status_table_in_docs_is_the_code() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| [^|]*\| (.+) \|$", text, re.M))
    assert {int(code): meaning for code, meaning in rows.items()} == {s.value: m for s, m in MEANING.items()}
    assert "docs/cli.md" in (ROOT / "README.md").read_text()
