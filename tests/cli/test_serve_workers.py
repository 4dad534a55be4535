"""``cdp serve --workers N``: refused for the embedded store; each worker enforces 1/N of the rate limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp.errors import ConfigurationError
from cdp.cli.serve_workers import worker_environment
from cdp.settings import Settings
from tests.cli.test_cli import cdp


def test_workers_are_refused_for_the_embedded_store(tmp_path: Path) -> None:
    done = cdp("serve", "--no-demo", "--workers", "2", "--port", "1", env={"CDP_DB_PATH": str(tmp_path / "x.lbdb")})
    assert done.returncode == 2
    assert "--workers 2 needs the Neo4j store" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.lbdb").exists()  # refused before the store was opened
    with pytest.raises(ConfigurationError, match="one process only"):
        worker_environment(Settings(db_path=tmp_path / "x.lbdb"), 2)


def test_each_worker_enforces_its_share_of_the_rate_limit() -> None:
    settings = Settings(neo4j_uri="bolt://127.0.0.1:1", rate_limit=100.0, rate_burst=201)
    env = worker_environment(settings, 2)
    shared = Settings.from_env({**env, "NEO4J_URI": "bolt://127.0.0.1:1"})
    assert shared.rate_limit * 2 == pytest.approx(100.0) and shared.rate_burst * 2 <= 201
    assert worker_environment(settings, 1000)["CDP_RATE_BURST"] == "1"  # never 0: every worker admits a request
    assert worker_environment(settings.with_(rate_limit=0.0), 4) == {}  # rate limiting off stays off
