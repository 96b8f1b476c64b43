"""Commands that read what a server stored say where they looked, and do not create an empty
SQLite store where there is none (a trial's `backtest history`, run outside the server's
directory, created `./premortem.db` and answered "needs at least two stored test runs")."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from premortem.cli import app
from premortem.config import load_settings


@pytest.mark.parametrize("command", [["backtest", "history"], ["train"]])
def test_a_missing_sqlite_store_is_named_and_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    missing = tmp_path / "nowhere.db"
    monkeypatch.setenv("PREMORTEM_DATABASE_URL", f"sqlite:///{missing}")
    load_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, command)
    finally:
        load_settings.cache_clear()
    assert result.exit_code != 0  # `premortem`'s entry point prints the error as one line
    assert f"no premortem database at {missing}" in str(result.exception)
    assert not missing.exists()
