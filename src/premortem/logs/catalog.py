"""The template catalog: assigns template ids to records and keeps each template's statistics.

It wraps a `TemplateMiner` (the algorithm) and a `TemplateRepository` (where state is kept), so
the miner never knows about storage.

Three promises:

- **Bounded.** Statistics exist only for the templates the miner holds (at most its
  `max_templates`): when the miner evicts a template, its statistics go with it, and its row
  leaves the repository at the next flush.
- **Ids are never reused.** A new template is saved (its row and the id high-water mark) by
  `assign`, before the caller stores a record that carries its id. The miner's full state is
  still flushed only every few seconds; after a crash, `restore` takes back the templates saved
  since and never hands out an id below the high-water mark, so an id that was acknowledged
  names the same template before and after.
- **Safe to read from any thread, without waiting.** Each assignment publishes a new dict of
  the statistics (copy on write: a dict, once published, is never changed again), and readers
  iterate the last one published. A lock that readers shared with ingestion was not enough:
  under load the ingesting threads took it again before a waiting reader woke up.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Protocol

from premortem.counts import TemplateFields
from premortem.domain import LogRecord, Template
from premortem.logs.miner import PrefixTreeMiner

SAMPLES_PER_TEMPLATE = 5
_ORDER = itemgetter(0, 1)  # (-count, id): entries themselves are not comparable


class TemplateRepository(Protocol):
    def load_miner_state(self) -> bytes | None: ...

    def load_templates(self) -> list[Template]: ...

    def load_next_id(self) -> int:
        """The id high-water mark saved by `save_new` (1 when nothing was saved)."""
        ...

    def save_new(self, *, templates: Sequence[TemplateFields], next_id: int) -> None:
        """Insert (or replace) new templates and raise the id high-water mark, in one
        transaction."""
        ...

    def save(
        self,
        *,
        miner_state: bytes,
        templates: Sequence[TemplateFields],
        evicted: Iterable[int] = (),
    ) -> None:
        """Replace the miner state and the changed templates, delete the evicted ones."""
        ...


@dataclass(slots=True)
class _Stats:
    id: int
    service: str
    template: str
    count: int = 0
    first_seen_ns: int = 0
    last_seen_ns: int = 0
    samples: list[str] = field(default_factory=list)
    parameters: list[list[str]] = field(default_factory=list)

    def to_template(self) -> Template:
        return Template(
            id=self.id,
            service=self.service,
            template=self.template,
            count=self.count,
            first_seen_ns=self.first_seen_ns,
            last_seen_ns=self.last_seen_ns,
            samples=list(self.samples),
            parameters=[list(p) for p in self.parameters],
        )

    def copy(self) -> _Stats:
        # samples and parameters only ever grow by append, up to SAMPLES_PER_TEMPLATE, so a
        # shallow copy of the lists is a snapshot; a reader between the two appends sees one
        # sample more than parameters, which the cut evens out.
        samples, parameters = list(self.samples), list(self.parameters)
        if len(samples) != len(parameters):  # rare: cut, rather than copy twice every time
            kept = min(len(samples), len(parameters))
            samples, parameters = samples[:kept], parameters[:kept]
        return _Stats(
            self.id,
            self.service,
            self.template,
            self.count,
            self.first_seen_ns,
            self.last_seen_ns,
            samples,
            parameters,
        )

    @classmethod
    def of(cls, template: Template) -> _Stats:
        return cls(
            id=template.id,
            service=template.service,
            template=template.template,
            count=template.count,
            first_seen_ns=template.first_seen_ns,
            last_seen_ns=template.last_seen_ns,
            samples=list(template.samples),
            parameters=[list(p) for p in template.parameters],
        )


class TemplateCatalog:
    def __init__(
        self,
        miner: PrefixTreeMiner,
        repository: TemplateRepository | None = None,
        *,
        flush_interval_s: float = 5.0,
    ) -> None:
        self.miner = miner
        self._repository = repository
        self._flush_interval_ns = int(flush_interval_s * 1e9)
        self._stats: dict[int, _Stats] = {}
        self._dirty: set[int] = set()
        self._unsaved: dict[int, None] = {}  # new since the last save_new, in id order
        self._evicted: set[int] = set()  # rows to delete at the next flush
        self._saved_next_id = miner.next_id
        self._last_flush_ns = 0
        self._lock = threading.RLock()
        self._view: Mapping[int, _Stats] = {}  # published by assign, never changed afterwards
        self._flushing = threading.Lock()
        self._turn = threading.Condition()  # saves of new templates, in assignment order
        self._tickets = 0
        self._served = 0
        miner.on_evict = self._forget

    @classmethod
    def restore(
        cls, repository: TemplateRepository, *, max_templates: int, flush_interval_s: float = 5.0
    ) -> TemplateCatalog:
        state = repository.load_miner_state()
        miner = (
            PrefixTreeMiner.loads(state) if state else PrefixTreeMiner(max_templates=max_templates)
        )
        saved = sorted(repository.load_templates(), key=lambda tpl: tpl.id)
        catalog = cls(miner, repository, flush_interval_s=flush_interval_s)
        since_state = miner.next_id
        for template in saved:
            if template.id >= since_state:  # saved by `assign` after the state was flushed
                miner.adopt(template)
        miner.reserve(repository.load_next_id())
        catalog._saved_next_id = miner.next_id
        live = {tpl.id for tpl in miner.templates()}
        for template in saved:
            if template.id in live:
                catalog._stats[template.id] = _Stats.of(template)
            else:  # evicted before the crash, or by adopting: its row goes at the next flush
                catalog._evicted.add(template.id)
        catalog._view = dict(catalog._stats)
        return catalog

    def assign(self, records: Sequence[LogRecord]) -> None:
        """Give every record its template id, and count it.

        The templates this creates are saved before it returns, so the caller may store the
        records: none of their ids can be handed out again, even after a crash. Saves happen in
        the order of the assignments (a later batch may carry an earlier batch's new ids), and
        outside the catalog's lock, so readers never wait on the database.
        """
        with self._lock:
            self._assign(records)
            self._view = dict(self._stats)  # ~5,000 entries: a few dozen microseconds
            if self._repository is None:
                self._unsaved.clear()
                return
            unsaved = self._take_unsaved()
            ticket = self._tickets
            self._tickets += 1
        self._save_in_turn(ticket, unsaved)

    def _assign(self, records: Sequence[LogRecord]) -> None:
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
                    template_id,
                    service=record.service,
                    template=match.template,
                    first_seen_ns=record.time_ns,
                )
                if match.is_new:
                    self._unsaved[template_id] = None
            entry.template = match.template
            entry.count += 1
            time_ns = record.time_ns
            if not entry.first_seen_ns or time_ns < entry.first_seen_ns:
                entry.first_seen_ns = time_ns
            if time_ns > entry.last_seen_ns:
                entry.last_seen_ns = time_ns
            if len(entry.samples) < SAMPLES_PER_TEMPLATE:
                entry.samples.append(record.body)
                entry.parameters.append(list(match.parameters))
            dirty.add(template_id)

    def _take_unsaved(self) -> tuple[list[_Stats], int] | None:
        """The new templates and the id mark to save, or None when nothing moved."""
        next_id = self.miner.next_id
        # Ids of templates created and evicted within the batch are on records too: the mark
        # moves even when there is no new template left to save.
        if not self._unsaved and next_id <= self._saved_next_id:
            return None
        new = [self._stats[tid].copy() for tid in self._unsaved if tid in self._stats]
        self._unsaved.clear()
        self._saved_next_id = next_id
        return new, next_id

    def _save_in_turn(self, ticket: int, unsaved: tuple[list[_Stats], int] | None) -> None:
        assert self._repository is not None
        with self._turn:
            self._turn.wait_for(lambda: self._served == ticket)
            try:
                if unsaved is not None:
                    self._repository.save_new(templates=unsaved[0], next_id=unsaved[1])
                    with self._lock:
                        # Evicted while being saved (another batch, or a flush that had no row
                        # to delete yet): its row goes at the next flush, not never.
                        self._evicted.update(t.id for t in unsaved[0] if t.id not in self._stats)
            except BaseException:
                # The caller must not store its records now; the next batch saves these.
                with self._lock:
                    if unsaved is not None:
                        self._unsaved.update(dict.fromkeys(t.id for t in unsaved[0]))
                    self._saved_next_id = 0
                raise
            finally:
                self._served += 1
                self._turn.notify_all()

    def _forget(self, template_ids: list[int]) -> None:
        """The miner evicted these templates: drop their statistics now, their rows later."""
        for template_id in template_ids:
            self._stats.pop(template_id, None)
            self._dirty.discard(template_id)
            self._unsaved.pop(template_id, None)
            self._evicted.add(template_id)

    # ------------------------------------------------------------------ reads (any thread)

    def get(self, template_id: int) -> Template | None:
        entry = self._view.get(template_id)
        return entry.copy().to_template() if entry is not None else None

    def templates(self) -> list[Template]:
        return [entry.copy().to_template() for entry in self._view.values()]

    def page(
        self,
        *,
        service: str | None = None,
        contains: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Template], int]:
        """Templates by count (most first, then id), one page of them and how many match.

        Only the page is converted in full, from the last published view (see the module
        docstring): a list request never waits for ingestion, nor ingestion for it.
        """
        matching = [
            (-entry.count, tid, entry)
            for tid, entry in self._view.items()
            if (not service or entry.service == service)
            and (not contains or contains in entry.template)
        ]
        chosen = heapq.nsmallest(offset + limit, matching, key=_ORDER)[offset:]
        return [entry.copy().to_template() for _, _, entry in chosen], len(matching)

    def sizes(self) -> dict[str, int]:
        """What the catalog holds now, for /metrics: every count is bounded by the template cap
        (the miner's caches by their own limit)."""
        with self._lock:
            miner = self.miner.sizes()
            return {
                "templates": miner["templates"],
                "statistics": len(self._stats),
                "pending_deletes": len(self._evicted),
                "miner_groups": miner["groups"],
                "miner_cached": miner["cached"],
                "miner_tokens": miner["tokens"],
                "miner_services": miner["services"],
            }

    @property
    def evictions(self) -> int:
        return self.miner.evictions

    # ------------------------------------------------------------------ persistence

    def flush(self) -> None:
        if self._repository is None:
            return
        # Snapshot under the lock, write outside it: ingestion waits for the copy, not the disk.
        # Flushes are serialised, so an older snapshot never lands after a newer one.
        with self._flushing:
            with self._lock:
                changed = [self._stats[tid].copy() for tid in self._dirty if tid in self._stats]
                evicted = sorted(self._evicted)
                state = self.miner.dumps()
                self._dirty.clear()
                self._evicted.clear()
            try:
                self._repository.save(miner_state=state, templates=changed, evicted=evicted)
            except BaseException:
                with self._lock:  # try again at the next flush
                    self._dirty.update(t.id for t in changed if t.id in self._stats)
                    self._evicted.update(evicted)
                raise
            self._last_flush_ns = time.monotonic_ns()

    def flush_if_due(self, _now_ns: int) -> None:
        # Flushing is about durability of live state, so it follows the machine's own monotonic
        # time, not the (possibly replayed) record clock.
        due = time.monotonic_ns() - self._last_flush_ns >= self._flush_interval_ns
        if due and (self._dirty or self._evicted):
            self.flush()
