"""``cdp keys create`` through a running server (``cdp.cli.server_keys``): with the development key,
the key is created by the real app served by uvicorn on a loopback port; a refusal comes back as
``InvalidInput`` with the server's message; no development key, a key the server does not know,
or no server at all answer None (the caller then reports the store's lock)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from cdp.app import build_app
from cdp.cli import server_keys
from cdp.errors import InvalidInput
from cdp.security.api_keys import KeyVerifier, create_key
from cdp.security.principal import Role
from cdp.settings import Settings
from graph.store import GraphStore


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(store: GraphStore, tmp_path: Path) -> Iterator[tuple[Settings, GraphStore]]:
    settings = Settings(db_path=tmp_path / "cdp.lbdb", audit_log=tmp_path / "audit.jsonl", port=free_port(),
                        heavy_budget=0.0)
    server = uvicorn.Server(uvicorn.Config(build_app(settings, store), host="127.0.0.1", port=settings.port,
                                           lifespan="on", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield settings, store
    finally:
        server.should_exit = True
        thread.join(30)


def test_a_key_is_created_by_the_server_holding_the_store(served: tuple[Settings, GraphStore]) -> None:
    settings, store = served
    _, dev_key = create_key(store, "development", "admin")
    settings.dev_key_path.write_text(dev_key + "\n")
    created = server_keys.create_key(settings, "dashboard", "analyst", ["metrics"], [], None, None)
    assert created is not None
    assert created["apiKey"]["role"].lower() == "analyst" and created["apiKey"]["name"] == "dashboard"
    principal = KeyVerifier(store, 0).verify(created["key"])  # a real key, stored by the server
    assert principal.role is Role.ANALYST and principal.has_scope("metrics")
    with pytest.raises(InvalidInput, match=f"the server at 127.0.0.1:{settings.port} refused: "):
        server_keys.create_key(settings, "x", "emperor", [], [], None, None)


def test_a_development_key_the_server_does_not_know_answers_none(served: tuple[Settings, GraphStore]) -> None:
    settings, _ = served
    settings.dev_key_path.write_text("cdp_000000000000_" + "A" * 43)
    assert server_keys.create_key(settings, "dashboard", "analyst", [], [], None, None) is None


def test_no_development_key_or_no_server_answers_none(tmp_path: Path) -> None:
    settings = Settings(db_path=tmp_path / "cdp.lbdb", port=free_port())
    assert server_keys.create_key(settings, "dashboard", "analyst", [], [], None, None) is None
    settings.dev_key_path.write_text("cdp_000000000000_" + "A" * 43)  # a key, but nothing listens there
    assert server_keys.create_key(settings, "dashboard", "analyst", [], [], None, None) is None
