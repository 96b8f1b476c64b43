"""`ports.CheckpointStore`: the in-memory twin, SQLite and PostgreSQL keep one checkpoint per
name, replaced by the next save."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from premortem.ports import Checkpoint, CheckpointStore
from premortem.store.checkpoints import SqlCheckpoints
from premortem.store.engine import make_engine, migrate
from premortem.testing import MemoryCheckpoints

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def checkpoints(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CheckpointStore]:
    if request.param == "memory":
        yield MemoryCheckpoints()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    engine = make_engine(url)
    migrate(engine)
    yield SqlCheckpoints(engine)
    engine.dispose()


def test_one_checkpoint_per_name_replaced_by_the_next(checkpoints: CheckpointStore) -> None:
    assert checkpoints.load("premortem:logs-0") is None
    checkpoints.save("premortem:logs-0", 7, b"\x00state\xff")
    checkpoints.save("premortem:predict", 2**40, b"")
    assert checkpoints.load("premortem:logs-0") == Checkpoint(7, b"\x00state\xff")
    checkpoints.save("premortem:logs-0", 9, b"newer")
    assert checkpoints.load("premortem:logs-0") == Checkpoint(9, b"newer")
    assert checkpoints.load("premortem:predict") == Checkpoint(2**40, b"")
