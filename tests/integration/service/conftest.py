"""The app on each database: API tests here run on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from premortem.config import Settings
from premortem.service.app import create_app


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'api.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    app = create_app(Settings(database_url=url))
    # localhost: a host the server answers by default (TestClient would send "testserver").
    with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as test_client:
        yield test_client
