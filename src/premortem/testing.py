"""In-memory twins of premortem's ports, for unit tests and for replays that need no database.

They follow the same contract as the SQL implementations; the conformance suites in
tests/integration run against both.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from premortem.clock import Clock, SystemClock
from premortem.domain import (
    Event,
    FailureMode,
    LogRecord,
    Prediction,
    SimulationRun,
    datetime_to_ns,
    ns_to_datetime,
)
from premortem.errors import NotFound
from premortem.ports import (
    Checkpoint,
    EventQuery,
    LogQuery,
    ModeVersion,
    Page,
    SimulationQuery,
    StoredModel,
    StoredTestRun,
    TestRunQuery,
)

T = TypeVar("T")


def _in_range(time_ns: int, since_ns: int | None, until_ns: int | None) -> bool:
    return (since_ns is None or time_ns >= since_ns) and (until_ns is None or time_ns < until_ns)


def _page(items: Iterable[T], *, key: Callable[[T], Any], limit: int, offset: int) -> Page[T]:
    ordered = sorted(items, key=key)
    return Page(copy.deepcopy(ordered[offset : offset + limit]), len(ordered))


class MemoryInputStore:
    def __init__(self) -> None:
        self._test_runs: dict[str, StoredTestRun] = {}
        self._received: dict[str, int] = {}  # per test run: when it was last sent (wall clock)
        self._simulations: dict[str, SimulationRun] = {}
        self._logs: dict[str, LogRecord] = {}
        self._events: dict[str, Event] = {}

    def add_test_runs(self, runs: Sequence[StoredTestRun]) -> int:
        received = time.time_ns()
        for stored in runs:  # sent twice in one batch: the last counts
            self._test_runs[stored.run.test_id] = copy.deepcopy(stored)
            self._received[stored.run.test_id] = received
        return len({stored.run.test_id for stored in runs})

    def get_test_run(self, test_id: str) -> StoredTestRun:
        if test_id not in self._test_runs:
            raise NotFound(f"no test run with id {test_id!r}")
        return copy.deepcopy(self._test_runs[test_id])

    def delete_test_run(self, test_id: str) -> None:
        if self._test_runs.pop(test_id, None) is None:
            raise NotFound(f"no test run with id {test_id!r}")
        self._received.pop(test_id, None)

    def list_test_runs(self, query: TestRunQuery) -> Page[StoredTestRun]:
        def keep(stored: StoredTestRun) -> bool:
            run = stored.run
            return (
                (not query.fault_type or query.fault_type in run.fault_types)
                and (not query.outcome or run.outcome == query.outcome)
                and (not query.service or (run.service or "") == query.service)
                and _in_range(datetime_to_ns(run.timestamp), query.since_ns, query.until_ns)
                and (
                    query.received_since_ns is None
                    or self._received[run.test_id] >= query.received_since_ns
                )
            )

        return _page(
            filter(keep, self._test_runs.values()),
            key=lambda s: (
                -datetime_to_ns(s.run.timestamp)
                if query.newest_first
                else datetime_to_ns(s.run.timestamp),
                s.run.test_id,
            ),
            limit=query.limit,
            offset=query.offset,
        )

    def add_simulations(self, runs: Sequence[SimulationRun]) -> int:
        for run in runs:
            self._simulations[run.simulation_id] = run.model_copy(deep=True)
        return len({run.simulation_id for run in runs})

    def get_simulation(self, simulation_id: str) -> SimulationRun:
        if simulation_id not in self._simulations:
            raise NotFound(f"no simulation with id {simulation_id!r}")
        return self._simulations[simulation_id].model_copy(deep=True)

    def list_simulations(self, query: SimulationQuery) -> Page[SimulationRun]:
        def keep(run: SimulationRun) -> bool:
            return (not query.service or (run.service or "") == query.service) and (
                not query.model or run.model == query.model
            )

        return _page(
            filter(keep, self._simulations.values()),
            key=lambda r: (-datetime_to_ns(r.started_at), r.simulation_id),
            limit=query.limit,
            offset=query.offset,
        )

    def add_logs(self, records: Sequence[LogRecord]) -> int:
        new = {r.id: copy.deepcopy(r) for r in records if r.id not in self._logs}
        self._logs.update(new)
        return len(new)

    def list_logs(self, query: LogQuery) -> Page[LogRecord]:
        def keep(r: LogRecord) -> bool:
            return (
                (not query.service or r.service == query.service)
                and (query.template_id is None or r.template_id == query.template_id)
                and (query.ids is None or r.id in query.ids)
                and (query.min_severity is None or r.severity_number >= query.min_severity)
                and (not query.text or query.text in r.body)
                and _in_range(r.time_ns, query.since_ns, query.until_ns)
            )

        sign = -1 if query.newest_first else 1
        return _page(
            filter(keep, self._logs.values()),
            key=lambda r: (sign * r.time_ns, r.id),
            limit=query.limit,
            offset=query.offset,
        )

    def add_events(self, events: Sequence[Event]) -> int:
        new = {e.id: copy.deepcopy(e) for e in events if e.id not in self._events}
        self._events.update(new)
        return len(new)

    def list_events(self, query: EventQuery) -> Page[Event]:
        def keep(e: Event) -> bool:
            return (
                (not query.service or e.service == query.service)
                and (not query.type or e.type == query.type)
                and (not query.source or e.source == query.source)
                and (not query.external_id or e.external_id == query.external_id)
                and _in_range(e.time_ns, query.since_ns, query.until_ns)
            )

        return _page(
            filter(keep, self._events.values()),
            key=lambda e: (-e.time_ns, e.id),
            limit=query.limit,
            offset=query.offset,
        )

    def counts(self) -> dict[str, int]:
        return {
            "test_runs": len(self._test_runs),
            "simulations": len(self._simulations),
            "logs": len(self._logs),
            "events": len(self._events),
        }


class MemoryModeRepository:
    """`ports.ModeRepository` in memory (the twin of `store.modes.SqlModeRepository`)."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._modes: dict[str, FailureMode] = {}
        self._versions: dict[str, list[ModeVersion]] = {}

    def list_modes(
        self,
        *,
        service: str | None = None,
        source: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[FailureMode]:
        with self._lock:
            found = [
                m
                for m in self._modes.values()
                if (not service or m.service == service)
                and (not source or m.source.value == source)
            ]
        return _page(found, key=lambda m: (m.name, m.id), limit=limit, offset=offset)

    def all_modes(self) -> list[FailureMode]:
        with self._lock:
            return [self._modes[k].model_copy(deep=True) for k in sorted(self._modes)]

    def get_mode(self, mode_id: str) -> FailureMode:
        found = self.find_mode(mode_id)
        if found is None:
            raise NotFound(f"no failure mode with id {mode_id!r}")
        return found

    def find_mode(self, mode_id: str) -> FailureMode | None:
        with self._lock:
            mode = self._modes.get(mode_id)
            return mode.model_copy(deep=True) if mode is not None else None

    def save_mode(self, mode: FailureMode, *, change: str) -> FailureMode:
        now = self._clock.now_ns()
        with self._lock:
            history = self._versions.get(mode.id, [])
            numbered = mode.model_copy(
                update={
                    "version": (history[-1].version if history else 0) + 1,
                    "updated_at": ns_to_datetime(now),
                },
            )
            # Kept as the SQL store keeps it (the JSON document, read back): a copy of its own.
            saved = FailureMode.model_validate(numbered.model_dump(mode="json"))
            self._modes[mode.id] = saved
            self._versions.setdefault(mode.id, []).append(
                ModeVersion(saved.version, now, change[:256], saved.model_copy(deep=True))
            )
            return saved.model_copy(deep=True)

    def delete_mode(self, mode_id: str) -> None:
        with self._lock:
            if self._modes.pop(mode_id, None) is None:
                raise NotFound(f"no failure mode with id {mode_id!r}")

    def versions(self, mode_id: str) -> list[ModeVersion]:
        with self._lock:
            kept = list(self._versions.get(mode_id, ()))
        return [copy.deepcopy(v) for v in sorted(kept, key=lambda v: -v.version)]


class MemoryPredictionStore:
    """`ports.PredictionStore` in memory (the twin of `store.modes.SqlPredictionRepository`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._predictions: dict[str, Prediction] = {}

    def add_predictions(self, predictions: Sequence[Prediction]) -> int:
        with self._lock:
            new = {p.id: p for p in predictions if p.id not in self._predictions}
            self._predictions.update({k: p.model_copy(deep=True) for k, p in new.items()})
            return len(new)

    def list_predictions(
        self,
        *,
        mode_id: str | None = None,
        service: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        min_probability: float | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[Prediction]:
        with self._lock:
            found = [
                p
                for p in self._predictions.values()
                if (not mode_id or p.mode_id == mode_id)
                and (not service or p.service == service)
                and _in_range(p.time_ns, since_ns, until_ns)
                and (min_probability is None or p.probability >= min_probability)
            ]
        return _page(found, key=lambda p: (-p.time_ns, p.id), limit=limit, offset=offset)

    def latest_per_mode(self, *, service: str | None = None) -> list[Prediction]:
        with self._lock:
            everything = list(self._predictions.values())
        newest: dict[str, int] = {}
        for p in everything:
            if not service or p.service == service:
                newest[p.mode_id] = max(newest.get(p.mode_id, p.time_ns), p.time_ns)
        found = [p for p in everything if newest.get(p.mode_id) == p.time_ns]
        return [p.model_copy(deep=True) for p in sorted(found, key=lambda p: (p.mode_id, p.id))]

    def probability_points(
        self,
        mode_ids: Sequence[str],
        *,
        since_ns: int,
        until_ns: int,
        service: str | None = None,
        per_mode: int = 300,
    ) -> dict[str, list[tuple[int, float]]]:
        if not mode_ids:
            return {}
        wanted = set(mode_ids)
        with self._lock:
            found = sorted(
                (p.mode_id, p.time_ns, p.probability)
                for p in self._predictions.values()
                if p.mode_id in wanted
                and since_ns <= p.time_ns < until_ns
                and (not service or p.service == service)
            )
        points: dict[str, list[tuple[int, float]]] = {m: [] for m in mode_ids}
        for mode_id, time_ns, probability in found:
            points[mode_id].append((time_ns, probability))
        return {m: p[-per_mode:] for m, p in points.items()}


class MemoryModelRepository:
    """`ports.ModelRepository` in memory (the twin of `store.models.SqlModelRepository`)."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._models: list[StoredModel] = []

    def save(self, blob: bytes, *, kind: str, summary: dict[str, Any]) -> int:
        with self._lock:
            version = len(self._models) + 1
            self._models.append(
                StoredModel(
                    version, self._clock.now_ns(), kind, bytes(blob), copy.deepcopy(summary)
                )
            )
            return version

    def latest_version(self) -> int:
        with self._lock:
            return len(self._models)

    def latest(self) -> StoredModel | None:
        with self._lock:
            return copy.deepcopy(self._models[-1]) if self._models else None

    def history(self, limit: int = 20) -> list[StoredModel]:
        with self._lock:
            newest = self._models[::-1][:limit]
        return [
            StoredModel(m.version, m.created_ns, m.kind, b"", copy.deepcopy(m.summary))
            for m in newest
        ]


class MemoryCheckpoints:
    """`ports.CheckpointStore` in memory (the twin of `store.checkpoints.SqlCheckpoints`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._saved: dict[str, Checkpoint] = {}

    def save(self, name: str, position: int, state: bytes) -> None:
        with self._lock:
            self._saved[name] = Checkpoint(position, bytes(state))

    def load(self, name: str) -> Checkpoint | None:
        with self._lock:
            return self._saved.get(name)
