"""How a command opens the embedded store (``cdp.cli.command_store``): a missing store is
named with what to do, and only the commands that create one create it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp.cli.command_store import open_for
from cdp.errors import StoreMissing
from cdp.settings import Settings


def test_a_missing_store_is_named_with_the_way_out_unless_the_command_creates_it(tmp_path: Path) -> None:
    settings = Settings(db_path=tmp_path / "cdp.lbdb", neo4j_uri="")
    for access in ("read", "write"):
        with pytest.raises(StoreMissing) as missing:
            open_for(settings, access, command="cdp quality")
        assert str(tmp_path / "cdp.lbdb") in missing.value.message
        assert "`cdp quality` does not create one" in missing.value.message
        assert "cdp init" in missing.value.message
    assert not settings.db_path.exists()

    store = open_for(settings, "create", command="cdp init")
    try:
        assert settings.db_path.exists()
        assert store.customers(["C1"]) == {}
    finally:
        store.close()
    reopened = open_for(settings, "write", command="cdp import")  # there now: opened, not refused
    reopened.close()
