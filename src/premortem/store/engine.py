"""Engine factory and migrations. SQLite runs in WAL mode; PostgreSQL through psycopg 3."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from premortem.errors import ConfigError
from premortem.store import text as storable
from premortem.store.leases import lease_key

MIGRATIONS = Path(__file__).parent / "migrations"


def _json_loads(value: str | bytes | float) -> Any:
    # SQLite gives a JSON column numeric affinity: a document that is a bare number (a CloudEvent's
    # `"data": 1`) comes back as that number, not as JSON text.
    return value if isinstance(value, int | float) else orjson.loads(value)


def stored_database(url: str) -> str:
    """Where a command that reads what a server stored will look (for its messages; no
    password). A SQLite file that is not there is refused: opening it would create an empty
    store, and the command would report that nothing was stored."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        path = parsed.database or ""
        if path and path != ":memory:" and not Path(path).exists():
            raise ConfigError(
                f"no premortem database at {Path(path).resolve()}: run this where `premortem "
                "serve` keeps it, or set PREMORTEM_DATABASE_URL to the server's"
            )
        return str(Path(path).resolve()) if path else url
    return parsed.render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    """An engine for `url`; on every database it binds text as `store.text` says (no NUL)."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            json_serializer=storable.json_dumps,
            json_deserializer=_json_loads,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(
            url,
            json_serializer=storable.json_dumps,
            json_deserializer=_json_loads,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=10,
        )
    storable.install(engine)
    return engine


_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def ping(engine: Engine) -> None:
    """`SELECT 1`: raises whatever the driver raises when the database does not answer."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")


def write_lock(engine: Engine) -> AbstractContextManager[object]:
    """Serialise this process's writes to a SQLite file.

    SQLite has one writer at a time; a second writer otherwise waits in SQLite's busy handler,
    which sleeps in steps of up to 100 ms. Waiting on a Python lock instead hands over the moment
    the first commit is done. PostgreSQL needs no lock.
    """
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _LOCKS_LOCK:
        lock = _WRITE_LOCKS.get(engine)
        if lock is None:
            lock = _WRITE_LOCKS[engine] = threading.Lock()
    return lock


def insert_new(engine: Engine, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert the rows whose primary key is not stored yet, in one transaction; how many were new.

    This is what makes re-sent batches idempotent on every record kind."""
    if not rows:
        return 0
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
    with write_lock(engine), engine.begin() as conn:
        return len(conn.execute(stmt, list(rows)).all())


def upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert the rows, or overwrite the stored ones with the same primary key, in key order.

    One statement instead of delete-then-insert: two writers saving the same key at once (the
    request path's new templates and the periodic flush) would otherwise both find nothing to
    delete and the second insert would fail on PostgreSQL; key order keeps two of them from
    deadlocking."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    changes = {name: stmt.excluded[name] for name in rows[0] if name not in keys}
    ordered = sorted(rows, key=lambda row: tuple(row[k] for k in keys))
    conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=changes), ordered)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # First, so that the rest waits for a lock too: processes started together on a fresh
    # database switch it to WAL at once, and one found it locked (a CI run).
    cursor.execute("PRAGMA busy_timeout=30000")
    # WAL lets the dashboard read while ingestion writes; NORMAL sync is durable across app
    # crashes (only an OS crash can lose the last transactions), and is what makes ingest fast.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # A bigger page cache and fewer, larger WAL checkpoints roughly double the insert rate of
    # log batches (measured with bench/ingest.py); the WAL file may grow to ~40 MB between them.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


# One PostgreSQL advisory lock for migrations, whatever the deployment: `serve` and workers
# started together on a fresh database all migrate, and without it two of them created
# `alembic_version` at once and one exited (a UniqueViolation).
MIGRATION_LOCK = lease_key("schema-migrations")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migrations (idempotent). Feature packages add migrations that
    branch from 0001, so there may be several heads: all are applied. On PostgreSQL the processes
    that start together take turns (a transaction-scoped advisory lock): the first migrates, the
    others then find the schema current. On SQLite the migration takes the write lock before it
    reads the schema (`BEGIN IMMEDIATE`; the driver would begin only at the first write)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
