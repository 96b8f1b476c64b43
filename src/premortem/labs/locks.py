"""Row locks held by transactions, as PostgreSQL's lock manager handles them, for the inventory
app's embedded SQLite (which only locks whole databases).

A statement that must update a row locked by another transaction really waits (on a condition
variable). Like PostgreSQL with `log_lock_waits = on`, a wait longer than `deadlock_timeout` is
logged at level `LOG` (with `DETAIL` and `STATEMENT` lines, one record), its end is logged with the
time waited, and a wait longer than `lock_timeout` cancels the statement (`ERROR`, SQLSTATE 55P03).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger("inventory.db")
DB_SERVICE = "inventory-db"


class LockTimeout(Exception):
    """The statement was cancelled because a lock wait exceeded `lock_timeout`."""


@dataclass(slots=True)
class Transaction:
    xid: int
    pid: int
    holds: set[str] = field(default_factory=set)


def pg(severity: str, message: str, **attrs: object) -> None:
    """Log one PostgreSQL-style record under the database's own service name."""
    level = {"ERROR": logging.ERROR, "WARNING": logging.WARNING}.get(severity, logging.INFO)
    extra = {"severity": severity, "service": DB_SERVICE, "attrs": attrs}
    log.log(level, "%s", message, extra=extra)


class RowLocks:
    def __init__(self, *, deadlock_timeout_s: float = 0.2, lock_timeout_s: float = 2.0) -> None:
        self.deadlock_timeout_s = deadlock_timeout_s
        self.lock_timeout_s = lock_timeout_s
        self._owners: dict[str, Transaction] = {}
        self._queue: dict[str, list[int]] = {}
        self._cond = threading.Condition()
        self._xids = itertools.count(7301)
        self._pids = itertools.count(41200)

    def begin(self) -> Transaction:
        return Transaction(next(self._xids), next(self._pids))

    def lock(self, txn: Transaction, row: str, statement: str) -> None:
        """Lock `row` for `txn`, waiting for its holder; raises LockTimeout after lock_timeout."""
        started = time.monotonic()
        reported = False
        held_by = 0
        with self._cond:
            while (holder := self._owners.get(row)) is not None and holder is not txn:
                held_by = holder.xid
                waited = time.monotonic() - started
                if waited >= self.lock_timeout_s:
                    self._cancel(txn, holder, row, statement)
                if not reported and waited >= self.deadlock_timeout_s:
                    reported = True
                    self._queue.setdefault(row, []).append(txn.pid)
                    self._still_waiting(txn, holder, row, statement, waited)
                deadline = self.deadlock_timeout_s if not reported else self.lock_timeout_s
                self._cond.wait(max(0.001, deadline - waited))
            self._owners[row] = txn
            txn.holds.add(row)
            if reported:
                self._queue[row].remove(txn.pid)
        if reported:
            pg(
                "LOG",
                f"process {txn.pid} acquired ShareLock on transaction {held_by} after "
                f"{(time.monotonic() - started) * 1000:.3f} ms\n"
                f'CONTEXT:  while updating tuple in relation "stock"\n'
                f"STATEMENT:  {statement}",
                pid=txn.pid,
            )

    def _still_waiting(
        self, txn: Transaction, holder: Transaction, row: str, statement: str, waited: float
    ) -> None:
        queue = " ".join(str(p) for p in self._queue.get(row, []))
        pg(
            "LOG",
            f"process {txn.pid} still waiting for ShareLock on transaction {holder.xid} after "
            f"{waited * 1000:.3f} ms\n"
            f"DETAIL:  Process holding the lock: {holder.pid}. Wait queue: {queue}.\n"
            f'CONTEXT:  while updating tuple in relation "stock"\n'
            f"STATEMENT:  {statement}",
            pid=txn.pid,
        )

    def _cancel(self, txn: Transaction, holder: Transaction, row: str, statement: str) -> None:
        if txn.pid in self._queue.get(row, []):
            self._queue[row].remove(txn.pid)
        pg(
            "ERROR",
            "canceling statement due to lock timeout\n"
            f'CONTEXT:  while updating tuple in relation "stock"\n'
            f"STATEMENT:  {statement}",
            pid=txn.pid,
            sql_state="55P03",
        )
        raise LockTimeout(f"lock timeout on {row} held by process {holder.pid}")

    def end(self, txn: Transaction) -> None:
        """Commit or roll back: every lock of the transaction is released."""
        with self._cond:
            for row in txn.holds:
                if self._owners.get(row) is txn:
                    del self._owners[row]
            txn.holds.clear()
            self._cond.notify_all()
