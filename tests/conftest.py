"""Shared fixtures. Integration tests need PostgreSQL: when it is unreachable they fail, never skip."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from premortem_serving import PremortemProcess

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _schema_url() -> Iterator[str]:
    base = os.environ.get("PREMORTEM_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    schema = f"pm_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # pragma: no cover - the message is the point
        pytest.fail(f"PostgreSQL is required for integration tests and is unreachable: {exc}")
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose connections use a fresh schema of their own, dropped afterwards."""
    yield from _schema_url()


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """Like `postgres_url`, but a new, empty schema for this one test."""
    yield from _schema_url()


@pytest.fixture
def premortem_process(tmp_path: Path) -> Iterator[Callable[..., PremortemProcess]]:
    """`premortem_process(database_url, **env)`: a server not yet started; stopped at the end."""
    made: list[PremortemProcess] = []

    def make(database_url: str, **env: str) -> PremortemProcess:
        server = PremortemProcess(tmp_path, {"PREMORTEM_DATABASE_URL": database_url, **env})
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()
