"""Store fixtures: the same test on SQLite and on PostgreSQL (never skipped: see tests/conftest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from premortem.store.engine import make_engine, migrate


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind: a SQLite file, a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
def sql_engine(database_url: str) -> Iterator[Engine]:
    """A migrated, empty database of each kind."""
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()
