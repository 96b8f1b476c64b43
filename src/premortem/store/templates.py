"""SQL repository for log templates and the miner's saved state.

Three kinds of rows: the miner's state (saved every few seconds), one row per template the
miner holds (a template it evicts is deleted, so the table is as bounded as the miner), and the
id high-water mark (`next_template_id`), raised in the same transaction that saves a new
template, before any record carrying its id is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, delete, func, select

from premortem.clock import Clock, SystemClock
from premortem.counts import TemplateFields
from premortem.domain import Template
from premortem.errors import NotFound
from premortem.ports import Page
from premortem.store import tables as t
from premortem.store.engine import upsert, write_lock
from premortem.store.text import json_dumps

_TEMPLATE_FIELDS = "service, template, count, first_seen_ns, last_seen_ns, samples, parameters"
_SQLITE_UPSERT_TEMPLATES = (
    f"INSERT INTO templates (id, {_TEMPLATE_FIELDS}, evicted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{f} = excluded.{f}" for f in [*_TEMPLATE_FIELDS.split(", "), "evicted"])
)
MINER_STATE = "miner"
NEXT_ID = "next_template_id"
STATE_VERSION = 1
_CHUNK = 500
# Template ids are 32-bit columns: the one process's ids stay below 2**30; partition p's are
# [2**30 + p * 2**26, 2**30 + (p + 1) * 2**26) — 67 million ids each, for up to 16 partitions.
PARTITION_BASE = 1 << 30
PARTITION_SPAN = 1 << 26
MAX_PARTITIONS = 16


@dataclass(frozen=True, slots=True)
class TemplateScope:
    """Whose miner this repository saves: the one process's (the default: every template, state
    rows `miner` and `next_template_id`), or one bus partition's in scale-out, whose worker
    mines only that partition's services. A partition's ids come from its own range, so workers
    mining different partitions at once never hand out the same id, and its state rows carry the
    partition's suffix."""

    suffix: str = ""
    first_id: int = 1
    end_id: int | None = None

    @classmethod
    def partition(cls, partition: int) -> TemplateScope:
        if not 0 <= partition < MAX_PARTITIONS:
            raise ValueError(f"partition {partition} outside 0..{MAX_PARTITIONS - 1}")
        first = PARTITION_BASE + partition * PARTITION_SPAN
        return cls(f":p{partition}", first, first + PARTITION_SPAN)


class SqlTemplateRepository:
    def __init__(
        self, engine: Engine, *, clock: Clock | None = None, scope: TemplateScope | None = None
    ) -> None:
        self.engine = engine
        self._clock = clock or SystemClock()
        self.scope = scope or TemplateScope()

    def load_miner_state(self) -> bytes | None:
        return self._load_state(MINER_STATE)

    def load_templates(self) -> list[Template]:
        c = t.templates.c
        where: list[ColumnElement[bool]] = [c.evicted.is_(False)]
        if self.scope.end_id is not None:
            where += [c.id >= self.scope.first_id, c.id < self.scope.end_id]
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.templates).where(*where))
            return [_template(row) for row in rows.mappings()]

    def load_next_id(self) -> int:
        mark = self._load_state(NEXT_ID)
        return max(int(mark.decode()), self.scope.first_id) if mark else self.scope.first_id

    def _load_state(self, name: str) -> bytes | None:
        with self.engine.connect() as conn:
            state = conn.execute(
                select(t.miner_state.c.state).where(
                    t.miner_state.c.name == name + self.scope.suffix
                )
            ).scalar()
        return bytes(state) if state is not None else None

    def save_new(self, *, templates: Sequence[TemplateFields], next_id: int) -> None:
        """Insert (or replace) new templates and raise the id high-water mark, in one
        transaction."""
        with write_lock(self.engine), self.engine.begin() as conn:
            self._replace_state(conn, NEXT_ID, str(next_id).encode())
            self._replace_templates(conn, templates)

    def save(
        self,
        *,
        miner_state: bytes,
        templates: Sequence[TemplateFields],
        evicted: Iterable[int] = (),
    ) -> None:
        """Replace the saved miner state and the changed templates and delete the evicted ones,
        in one transaction."""
        gone = list(evicted)
        with write_lock(self.engine), self.engine.begin() as conn:
            self._replace_state(conn, MINER_STATE, miner_state)
            self._replace_templates(conn, templates)
            for start in range(0, len(gone), _CHUNK):
                chunk = gone[start : start + _CHUNK]
                conn.execute(delete(t.templates).where(t.templates.c.id.in_(chunk)))

    def _replace_state(self, conn: Connection, name: str, state: bytes) -> None:
        row = {
            "name": name + self.scope.suffix,
            "version": STATE_VERSION,
            "state": state,
            "saved_ns": self._clock.now_ns(),
        }
        upsert(conn, t.miner_state, [row])

    @staticmethod
    def _replace_templates(conn: Connection, templates: Sequence[TemplateFields]) -> None:
        if conn.dialect.name != "sqlite":
            upsert(conn, t.templates, [_row(tpl) for tpl in templates])
            return
        # Under many distinct templates every batch saves about as many as it has lines: bound
        # straight to the driver, in key order as `upsert` does, the save costs about half the
        # Core statement's (the catalog in-process, many-templates lines: 47.5 -> 40.3 us a line).
        rows = sorted(
            (
                tpl.id,
                tpl.service,
                tpl.template,
                tpl.count,
                tpl.first_seen_ns,
                tpl.last_seen_ns,
                json_dumps(tpl.samples),
                json_dumps(tpl.parameters),
            )
            for tpl in templates
        )
        if rows:
            conn.exec_driver_sql(_SQLITE_UPSERT_TEMPLATES, rows)

    def list_templates(
        self, *, service: str | None = None, limit: int = 100, offset: int = 0
    ) -> Page[Template]:
        c = t.templates.c
        where = [c.service == service] if service else []
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(t.templates).where(*where))
            rows = conn.execute(
                select(t.templates)
                .where(*where)
                .order_by(c.count.desc(), c.id)
                .limit(limit)
                .offset(offset)
            )
            return Page([_template(r) for r in rows.mappings()], int(total.scalar_one()))

    def busiest(
        self, *, service: str | None, text: str | None, limit: int, offset: int
    ) -> tuple[list[Template], int]:
        """Held templates by count, with the total: sorted and paged in SQL (the catalog flushes
        them every few seconds) instead of copying every live template per request."""
        c = t.templates.c
        where: list[ColumnElement[bool]] = [c.evicted.is_(False)]
        if service:
            where.append(c.service == service)
        if text:
            where.append(c.template.contains(text, autoescape=True))
        columns = (c.id, c.service, c.template, c.count, c.first_seen_ns, c.last_seen_ns)
        with self.engine.connect() as conn:
            total = int(conn.execute(select(func.count()).where(*where)).scalar_one())
            rows = conn.execute(
                select(*columns)
                .where(*where)
                .order_by(c.count.desc(), c.id)
                .limit(limit)
                .offset(offset)
            )
            found = [_template(r) for r in rows.mappings()]
        return found, total

    def texts(self, ids: Sequence[int]) -> dict[int, str]:
        """The stored text of each template id (evicted ones included: an old anomaly still names
        its template)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        c = t.templates.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.id, c.template).where(c.id.in_(wanted)))
            return {int(r.id): str(r.template) for r in rows}

    def get_template(self, template_id: int) -> Template:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.templates).where(t.templates.c.id == template_id)).first()
        if row is None:
            raise NotFound(f"no template with id {template_id}")
        return _template(row._mapping)


def _row(tpl: TemplateFields) -> dict[str, Any]:
    return {
        "id": tpl.id,
        "service": tpl.service,
        "template": tpl.template,
        "count": tpl.count,
        "first_seen_ns": tpl.first_seen_ns,
        "last_seen_ns": tpl.last_seen_ns,
        "samples": tpl.samples,
        "parameters": tpl.parameters,
        "evicted": False,
    }


def _template(row: Any) -> Template:
    return Template(
        id=row["id"],
        service=row["service"],
        template=row["template"],
        count=row["count"],
        first_seen_ns=row["first_seen_ns"],
        last_seen_ns=row["last_seen_ns"],
        samples=row.get("samples") or [],  # pages' lists read neither
        parameters=row.get("parameters") or [],
    )
