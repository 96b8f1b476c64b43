"""The window store on SQLite and PostgreSQL, including a long backlog written at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from premortem.counts import make_window
from premortem.store.engine import make_engine, migrate
from premortem.store.tables_windows import SqlWindowRepository

pytestmark = pytest.mark.integration
S = 1_000_000_000


@pytest.fixture(params=["sqlite", "postgresql"])
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlWindowRepository]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'w.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    engine = make_engine(url)
    migrate(engine)
    yield SqlWindowRepository(engine)
    engine.dispose()


def test_a_backlog_of_windows_is_stored_and_replaced(repository: SqlWindowRepository) -> None:
    windows = [
        make_window(
            "api",
            i * 10 * S,
            (i + 1) * 10 * S,
            total=3,
            errors=1,
            by_template={7: 2, 8: 1},
            by_severity={"INFO": 2, "ERROR": 1},
        )
        for i in range(2000)
    ]
    assert repository.add(windows) == 2000
    assert repository.add(windows[:10]) == 10  # the same windows again replace, not duplicate
    series = repository.series(7, 0, 100 * S)
    assert [p.count for p in series] == [2] * 10
    stored = repository.list_windows("api", 0, 30 * S)
    assert [w.by_template for w in stored] == [{7: 2, 8: 1}] * 3
