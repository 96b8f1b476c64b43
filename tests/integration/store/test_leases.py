"""Worker leases (store/leases.py): PostgreSQL advisory locks held by a connection of their own."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, create_engine

from premortem.store.engine import make_engine
from premortem.store.leases import Leases, lease_key

pytestmark = pytest.mark.integration


def _names() -> list[str]:
    tag = uuid.uuid4().hex[:8]  # advisory locks are per database, shared by every test schema
    return [f"{tag}:logs-{n}" for n in range(3)]


@pytest.fixture
def pg(fresh_postgres_url: str) -> Engine:
    return make_engine(fresh_postgres_url)


def test_one_holder_at_a_time_and_the_count_of_holders(pg: Engine) -> None:
    names = _names()
    first, second = Leases(pg), Leases(pg)
    try:
        assert first.try_take(names[0]) and first.try_take(names[0])  # held: taken again
        assert not second.try_take(names[0])
        assert second.try_take(names[1])
        assert first.holders(names) == second.holders(names) == 2
        first.release(names[0])
        assert second.try_take(names[0])
        assert first.holders(names) == 2 and first.held() == frozenset()
    finally:
        first.release_all()
        second.release_all()


def test_a_lost_connection_frees_every_lease(pg: Engine, fresh_postgres_url: str) -> None:
    names = _names()
    dying, other = Leases(pg), Leases(pg)
    try:
        assert dying.try_take(names[0]) and dying.try_take(names[1])
        assert not other.try_take(names[0])
        # What a SIGKILLed worker's connection does: it ends; PostgreSQL drops its locks.
        admin = create_engine(fresh_postgres_url)
        with admin.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                f"AND objid = {lease_key(names[0]) & 0xFFFF_FFFF} AND objsubid = 1"
            )
            conn.commit()
        admin.dispose()
        assert not dying.alive() and dying.held() == frozenset()
        assert other.try_take(names[0]) and other.try_take(names[1])
    finally:
        dying.release_all()
        other.release_all()


def test_sqlite_has_one_process_so_every_lease_is_its_own(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/one.db")
    leases = Leases(engine)
    assert leases.try_take("a") and leases.holders(["a", "b"]) == 1 and leases.alive()
    leases.release("a")
    assert leases.held() == frozenset()
