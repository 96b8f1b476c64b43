"""Who owns what among several worker processes: leases held as PostgreSQL advisory locks.

A worker owns a bus partition (or the prediction role) while it holds that name's session-level
advisory lock on a connection of its own. The lock goes with the connection: a worker that
exits, crashes or is killed with SIGKILL loses its leases as soon as PostgreSQL sees its
connection close, and another worker takes them at its next try. Nothing to expire, no clock.

On SQLite the leases are this process's own (`premortem worker` refuses SQLite: two workers
could not see each other's).
"""

from __future__ import annotations

import contextlib
from hashlib import blake2b

from sqlalchemy import Connection, Engine, text

# Advisory lock keys are one 64-bit space per database: premortem's live under this tag.
_TAG = b"premortem-lease:"


def lease_key(name: str) -> int:
    """The lock key of a lease name: a signed 64-bit digest, the same in every process."""
    digest = blake2b(_TAG + name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Leases:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._conn: Connection | None = None
        self._held: set[str] = set()

    def held(self) -> frozenset[str]:
        return frozenset(self._held)

    def try_take(self, name: str) -> bool:
        """Take the lease if nobody holds it; True when this process holds it (now or before)."""
        if name in self._held:
            return True
        if self._postgres:
            taken = bool(
                self._connection()
                .execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": lease_key(name)})
                .scalar()
            )
            if not taken:
                return False
        self._held.add(name)
        return True

    def release(self, name: str) -> None:
        if name not in self._held:
            return
        self._held.discard(name)
        if self._postgres and self._conn is not None:
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lease_key(name)})

    def holders(self, names: list[str]) -> int:
        """How many of these leases anybody holds now (this process included)."""
        if not self._postgres:
            return len(self._held.intersection(names))
        # pg_locks shows a bigint advisory key as two 32-bit halves (classid high, objid low).
        halves = [((k >> 32) & 0xFFFF_FFFF, k & 0xFFFF_FFFF) for k in map(lease_key, names)]
        query = text(
            "SELECT classid::bigint, objid::bigint FROM pg_locks "
            "WHERE locktype = 'advisory' AND objsubid = 1 AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        held = {(int(a), int(b)) for a, b in self._connection().execute(query)}
        return sum(1 for pair in halves if pair in held)

    def alive(self) -> bool:
        """Whether the leases are still held: False when the lock connection was lost (then
        every lease is gone and must be taken again)."""
        if not self._postgres or self._conn is None:
            return True
        try:
            self._conn.execute(text("SELECT 1"))
        except Exception:  # the connection is gone, and with it every advisory lock
            self._drop()
            return False
        return True

    def release_all(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
            finally:
                self._drop()
        self._held.clear()

    def _connection(self) -> Connection:
        if self._conn is None:
            # Autocommit: a lock taken outside a transaction is the session's until released.
            self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._held.clear()
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to give back
                conn.close()
