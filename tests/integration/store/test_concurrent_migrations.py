"""Processes started together on a fresh database all migrate it (`serve` and two workers, as
docs/scaling.md runs them): each must find the schema made, none may fail. A trial's worker
exited on a UniqueViolation creating `alembic_version` next to another process."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import inspect

from premortem.store.engine import make_engine

MIGRATE = "import sys; from premortem.store.engine import make_engine, migrate; " \
    "migrate(make_engine(sys.argv[1]))"  # fmt: skip


def test_processes_migrating_one_fresh_database_at_once_all_succeed(database_url: str) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    failures = []
    for process in processes:
        _, err = process.communicate(timeout=120)
        if process.returncode != 0:
            failures.append(err.decode()[-600:])
    assert not failures, failures
    engine = make_engine(database_url)
    try:
        assert "logs" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
