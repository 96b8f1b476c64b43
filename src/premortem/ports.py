"""The roles premortem's stages talk to. Each has an in-memory twin in `premortem.testing`.

One conformance suite per role runs against every implementation (tests/integration/store for the
store: the twin, SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from premortem.domain import Event, LogRecord, MetricSeries, SimulationRun, TestRun

T = TypeVar("T")


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int


@dataclass(slots=True)
class TestRunQuery:
    __test__ = False
    fault_type: str | None = None
    outcome: str | None = None
    service: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    limit: int = 100
    offset: int = 0


@dataclass(slots=True)
class LogQuery:
    service: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    text: str | None = None
    template_id: int | None = None
    min_severity: int | None = None
    limit: int = 100
    offset: int = 0
    newest_first: bool = True
    ids: tuple[str, ...] | None = None  # only these records (an alert's evidence)


@dataclass(slots=True)
class EventQuery:
    service: str | None = None
    type: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    limit: int = 100
    offset: int = 0
    source: str | None = None
    external_id: str | None = None  # the producer's id (CloudEvents `id`), with or without source


@dataclass(slots=True)
class SimulationQuery:
    service: str | None = None
    model: str | None = None
    limit: int = 100
    offset: int = 0


@dataclass(slots=True)
class SeriesQuery:
    metric: str
    since_ns: int | None = None
    until_ns: int | None = None
    limit: int = 100
    offset: int = 0


class SeriesStore(Protocol):
    """Metric series (Prometheus remote-write): idempotent by series and time."""

    def add_series(self, series: Sequence[MetricSeries]) -> int: ...

    def list_series(self, query: SeriesQuery) -> Page[MetricSeries]: ...

    def series_between(self, since_ns: int, until_ns: int) -> list[MetricSeries]: ...


class StoredTestRun(NamedTuple):
    """A test run with the document exactly as it was sent (what every test-run parser returns)."""

    run: TestRun
    doc: dict[str, Any]


class InputStore(Protocol):
    """Where ingested inputs are kept. Writes are idempotent on the record id and all-or-nothing."""

    def add_test_runs(self, runs: Sequence[StoredTestRun]) -> int: ...

    def get_test_run(self, test_id: str) -> StoredTestRun: ...

    def list_test_runs(self, query: TestRunQuery) -> Page[StoredTestRun]: ...

    def add_simulations(self, runs: Sequence[SimulationRun]) -> int: ...

    def get_simulation(self, simulation_id: str) -> SimulationRun: ...

    def list_simulations(self, query: SimulationQuery) -> Page[SimulationRun]: ...

    def add_logs(self, records: Sequence[LogRecord]) -> int: ...

    def list_logs(self, query: LogQuery) -> Page[LogRecord]: ...

    def add_events(self, events: Sequence[Event]) -> int: ...

    def list_events(self, query: EventQuery) -> Page[Event]: ...

    def counts(self) -> dict[str, int]:
        """Rows per kind of record; used by health checks and by tests of all-or-nothing writes."""
        ...
