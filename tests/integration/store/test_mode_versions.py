"""Two writers saving the same failure mode at once (two trainings, a training and an edit)
number its versions without a gap or a clash, on SQLite and PostgreSQL (issue 13: overlapping
trainings on PostgreSQL failed with UniqueViolation on failure_mode_versions)."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from premortem.domain import FailureMode, Source
from premortem.store.modes import SqlModeRepository

SAVES = 15


def test_concurrent_saves_of_one_mode_get_consecutive_versions(sql_engine: Engine) -> None:
    repository = SqlModeRepository(sql_engine)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        start.wait()
        try:
            for i in range(SAVES):
                mode = FailureMode(id="fm-race", name=f"{name} {i}", source=Source.MANUAL)
                repository.save_mode(mode, change=name)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("training", "edit")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, repr(errors[0])
    versions = sorted(v.version for v in repository.versions("fm-race"))
    assert versions == list(range(1, 2 * SAVES + 1))
    assert repository.get_mode("fm-race").version == 2 * SAVES
