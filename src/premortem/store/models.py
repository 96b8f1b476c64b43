"""SQL repository for trained models: each training stores a new version; the newest is served."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from premortem.clock import Clock, SystemClock
from premortem.ports import StoredModel
from premortem.store import tables as t
from premortem.store.engine import write_lock

__all__ = ["SqlModelRepository", "StoredModel"]
# Two processes on one SQLite file may number the same version: the loser numbers again.
_SAVE_ATTEMPTS = 5
_NUMBERING_LOCK = 0x7072656D6F6400  # "premod": PostgreSQL's advisory lock key for numbering


class SqlModelRepository:
    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self._clock = clock or SystemClock()

    def save(self, blob: bytes, *, kind: str, summary: dict[str, Any]) -> int:
        """Store a new version and return its number.

        Two processes may train at once (several `premortem serve` on one database): on
        PostgreSQL they number one at a time; on SQLite the one whose insert loses numbers
        again."""
        for attempt in range(_SAVE_ATTEMPTS):
            try:
                return self._save(blob, kind=kind, summary=summary)
            except IntegrityError:
                if attempt == _SAVE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _save(self, blob: bytes, *, kind: str, summary: dict[str, Any]) -> int:
        with write_lock(self.engine), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # One numbering at a time across processes (released at commit).
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (_NUMBERING_LOCK,))
            latest = conn.execute(select(func.max(t.models.c.version))).scalar()
            version = int(latest or 0) + 1
            conn.execute(
                insert(t.models),
                [
                    {
                        "version": version,
                        "created_ns": self._clock.now_ns(),
                        "kind": kind,
                        "blob": blob,
                        "summary": summary,
                    }
                ],
            )
        return version

    def latest_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(t.models.c.version))).scalar() or 0)

    def latest(self) -> StoredModel | None:
        c = t.models.c
        with self.engine.connect() as conn:
            row = conn.execute(select(t.models).order_by(c.version.desc()).limit(1)).first()
        if row is None:
            return None
        m = row._mapping
        return StoredModel(m["version"], m["created_ns"], m["kind"], bytes(m["blob"]), m["summary"])

    def history(self, limit: int = 20) -> list[StoredModel]:
        c = t.models.c
        stmt = select(c.version, c.created_ns, c.kind, c.summary).order_by(c.version.desc())
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.limit(limit))
            return [StoredModel(r.version, r.created_ns, r.kind, b"", r.summary) for r in rows]
