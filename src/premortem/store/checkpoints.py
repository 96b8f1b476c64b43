"""Analysis checkpoints in the store (`ports.CheckpointStore`): one row per name, replaced.

A scale-out worker saves the analysis state of each partition it owns (and the prediction
role's) with the stream position it covers; the next owner restores it (runtime/worker.py).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Engine, LargeBinary, String, Table, select

from premortem.clock import Clock, SystemClock
from premortem.ports import Checkpoint
from premortem.store.engine import upsert, write_lock
from premortem.store.tables import metadata

analysis_checkpoints = Table(
    "analysis_checkpoints",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("position", BigInteger, nullable=False, autoincrement=False),
    Column("state", LargeBinary, nullable=False),
    Column("saved_ns", BigInteger, nullable=False, autoincrement=False),
)


class SqlCheckpoints:
    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self._clock = clock or SystemClock()

    def save(self, name: str, position: int, state: bytes) -> None:
        row = {"name": name, "position": position, "state": state, "saved_ns": self._clock.now_ns()}
        with write_lock(self.engine), self.engine.begin() as conn:
            upsert(conn, analysis_checkpoints, [row])

    def load(self, name: str) -> Checkpoint | None:
        c = analysis_checkpoints.c
        with self.engine.connect() as conn:
            row = conn.execute(select(c.position, c.state).where(c.name == name)).one_or_none()
        return None if row is None else Checkpoint(int(row.position), bytes(row.state))
