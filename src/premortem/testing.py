"""In-memory twins of premortem's ports, for unit tests and for replays that need no database.

They follow the same contract as the SQL implementations; the conformance suites in
tests/integration run against both.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from premortem.domain import Event, LogRecord, SimulationRun, datetime_to_ns
from premortem.errors import NotFound
from premortem.ports import (
    EventQuery,
    LogQuery,
    Page,
    SimulationQuery,
    StoredTestRun,
    TestRunQuery,
)

T = TypeVar("T")


def _in_range(time_ns: int, since_ns: int | None, until_ns: int | None) -> bool:
    return (since_ns is None or time_ns >= since_ns) and (until_ns is None or time_ns < until_ns)


def _page(
    items: Iterable[T], *, key: Callable[[T], tuple[int, str]], limit: int, offset: int
) -> Page[T]:
    ordered = sorted(items, key=key)
    return Page(copy.deepcopy(ordered[offset : offset + limit]), len(ordered))


class MemoryInputStore:
    def __init__(self) -> None:
        self._test_runs: dict[str, StoredTestRun] = {}
        self._simulations: dict[str, SimulationRun] = {}
        self._logs: dict[str, LogRecord] = {}
        self._events: dict[str, Event] = {}

    def add_test_runs(self, runs: Sequence[StoredTestRun]) -> int:
        for stored in runs:
            self._test_runs[stored.run.test_id] = copy.deepcopy(stored)
        return len(runs)

    def get_test_run(self, test_id: str) -> StoredTestRun:
        if test_id not in self._test_runs:
            raise NotFound(f"no test run with id {test_id!r}")
        return copy.deepcopy(self._test_runs[test_id])

    def list_test_runs(self, query: TestRunQuery) -> Page[StoredTestRun]:
        def keep(stored: StoredTestRun) -> bool:
            run = stored.run
            return (
                (not query.fault_type or query.fault_type in run.fault_types)
                and (not query.outcome or run.outcome == query.outcome)
                and (not query.service or (run.service or "") == query.service)
                and _in_range(datetime_to_ns(run.timestamp), query.since_ns, query.until_ns)
            )

        return _page(
            filter(keep, self._test_runs.values()),
            key=lambda s: (-datetime_to_ns(s.run.timestamp), s.run.test_id),
            limit=query.limit,
            offset=query.offset,
        )

    def add_simulations(self, runs: Sequence[SimulationRun]) -> int:
        for run in runs:
            self._simulations[run.simulation_id] = run.model_copy(deep=True)
        return len(runs)

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
