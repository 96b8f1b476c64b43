from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from premortem.config import Settings
from premortem.service.app import create_app


@pytest.fixture(autouse=True)
def _test_client_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """TestClient sends `Host: testserver`: allowed here the way an operator would, by configuration
    (the server answers only the hosts it knows, see docs/security.md)."""
    monkeypatch.setenv("PREMORTEM_ALLOWED_HOSTS", "testserver")


def make_client(tmp_path: Path, **overrides: object) -> TestClient:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", **overrides)  # type: ignore[arg-type]
    return TestClient(create_app(settings))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as test_client:
        yield test_client


@pytest.fixture
def client_factory(tmp_path: Path) -> Callable[..., TestClient]:
    """Build a client with settings overridden (use it as a context manager)."""
    return lambda **overrides: make_client(tmp_path, **overrides)
