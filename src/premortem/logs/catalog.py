"""The template catalog: assigns template ids to records and keeps each template's statistics.

It wraps a `TemplateMiner` (the algorithm) and a `TemplateRepository` (where state is kept), so
the miner never knows about storage. State is flushed every few seconds and on shutdown; on start
the miner is restored from its last saved state, so template ids stay stable across restarts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from premortem.domain import LogRecord, Template
from premortem.logs.miner import DrainMiner

SAMPLES_PER_TEMPLATE = 5


class TemplateRepository(Protocol):
    def load_miner_state(self) -> bytes | None: ...

    def load_templates(self) -> list[Template]: ...

    def save(self, *, miner_state: bytes, templates: Sequence[Template]) -> None: ...


@dataclass(slots=True)
class _Stats:
    service: str
    template: str
    count: int = 0
    first_seen_ns: int = 0
    last_seen_ns: int = 0
    samples: list[str] = field(default_factory=list)
    parameters: list[list[str]] = field(default_factory=list)

    def to_template(self, template_id: int) -> Template:
        return Template(
            id=template_id,
            service=self.service,
            template=self.template,
            count=self.count,
            first_seen_ns=self.first_seen_ns,
            last_seen_ns=self.last_seen_ns,
            samples=list(self.samples),
            parameters=[list(p) for p in self.parameters],
        )


class TemplateCatalog:
    def __init__(
        self,
        miner: DrainMiner,
        repository: TemplateRepository | None = None,
        *,
        flush_interval_s: float = 5.0,
    ) -> None:
        self.miner = miner
        self._repository = repository
        self._flush_interval_ns = int(flush_interval_s * 1e9)
        self._stats: dict[int, _Stats] = {}
        self._dirty: set[int] = set()
        self._last_flush_ns = 0

    @classmethod
    def restore(
        cls, repository: TemplateRepository, *, max_templates: int, flush_interval_s: float = 5.0
    ) -> TemplateCatalog:
        state = repository.load_miner_state()
        miner = DrainMiner.loads(state) if state else DrainMiner(max_templates=max_templates)
        catalog = cls(miner, repository, flush_interval_s=flush_interval_s)
        for template in repository.load_templates():
            catalog._stats[template.id] = _Stats(
                service=template.service,
                template=template.template,
                count=template.count,
                first_seen_ns=template.first_seen_ns,
                last_seen_ns=template.last_seen_ns,
                samples=list(template.samples),
                parameters=[list(p) for p in template.parameters],
            )
        return catalog

    def assign(self, records: Sequence[LogRecord]) -> None:
        """Give every record its template id, and count it."""
        add = self.miner.add
        stats = self._stats
        dirty = self._dirty
        for record in records:
            match = add(record.body, service=record.service)
            template_id = match.template_id
            record.template_id = template_id
            entry = stats.get(template_id)
            if entry is None:
                entry = stats[template_id] = _Stats(
                    service=record.service, template=match.template, first_seen_ns=record.time_ns
                )
            entry.template = match.template
            entry.count += 1
            entry.first_seen_ns = min(entry.first_seen_ns or record.time_ns, record.time_ns)
            entry.last_seen_ns = max(entry.last_seen_ns, record.time_ns)
            if len(entry.samples) < SAMPLES_PER_TEMPLATE:
                entry.samples.append(record.body)
                entry.parameters.append(list(match.parameters))
            dirty.add(template_id)

    def get(self, template_id: int) -> Template | None:
        entry = self._stats.get(template_id)
        return entry.to_template(template_id) if entry else None

    def templates(self) -> list[Template]:
        return [entry.to_template(tid) for tid, entry in self._stats.items()]

    @property
    def evictions(self) -> int:
        return self.miner.evictions

    def flush(self) -> None:
        if self._repository is None:
            return
        changed = [self._stats[tid].to_template(tid) for tid in self._dirty if tid in self._stats]
        self._repository.save(miner_state=self.miner.dumps(), templates=changed)
        self._dirty.clear()
        self._last_flush_ns = time.monotonic_ns()

    def flush_if_due(self, _now_ns: int) -> None:
        # Flushing is about durability of live state, so it follows the machine's own monotonic
        # time, not the (possibly replayed) record clock.
        if self._dirty and time.monotonic_ns() - self._last_flush_ns >= self._flush_interval_ns:
            self.flush()
