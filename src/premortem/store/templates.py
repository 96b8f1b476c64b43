"""SQL repository for log templates and the miner's saved state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select

from premortem.clock import Clock, SystemClock
from premortem.domain import Template
from premortem.errors import NotFound
from premortem.ports import Page
from premortem.store import tables as t

MINER_STATE = "miner"
STATE_VERSION = 1


class SqlTemplateRepository:
    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self._clock = clock or SystemClock()

    def load_miner_state(self) -> bytes | None:
        with self.engine.connect() as conn:
            state = conn.execute(
                select(t.miner_state.c.state).where(t.miner_state.c.name == MINER_STATE)
            ).scalar()
        return bytes(state) if state is not None else None

    def load_templates(self) -> list[Template]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.templates).where(t.templates.c.evicted.is_(False)))
            return [_template(row) for row in rows.mappings()]

    def save(self, *, miner_state: bytes, templates: Sequence[Template]) -> None:
        """Replace the saved miner state and the changed templates in one transaction."""
        ids = [tpl.id for tpl in templates]
        rows = [
            {
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
            for tpl in templates
        ]
        state_row = {
            "name": MINER_STATE,
            "version": STATE_VERSION,
            "state": miner_state,
            "saved_ns": self._clock.now_ns(),
        }
        with self.engine.begin() as conn:
            conn.execute(delete(t.miner_state).where(t.miner_state.c.name == MINER_STATE))
            conn.execute(insert(t.miner_state), [state_row])
            for start in range(0, len(ids), 500):
                conn.execute(
                    delete(t.templates).where(t.templates.c.id.in_(ids[start : start + 500]))
                )
            if rows:
                conn.execute(insert(t.templates), rows)

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

    def get_template(self, template_id: int) -> Template:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.templates).where(t.templates.c.id == template_id)).first()
        if row is None:
            raise NotFound(f"no template with id {template_id}")
        return _template(row._mapping)


def _template(row: Any) -> Template:
    return Template(
        id=row["id"],
        service=row["service"],
        template=row["template"],
        count=row["count"],
        first_seen_ns=row["first_seen_ns"],
        last_seen_ns=row["last_seen_ns"],
        samples=row["samples"] or [],
        parameters=row["parameters"] or [],
    )
