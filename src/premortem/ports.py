"""The roles premortem's stages talk to. Each has an in-memory twin in `premortem.testing`.

One conformance suite per role runs against every implementation (tests/integration/store for the
store: the twin, SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from premortem.domain import (
    Event,
    FailureMode,
    LogRecord,
    MetricSeries,
    Prediction,
    SimulationRun,
    TestRun,
)

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
    newest_first: bool = True
    received_since_ns: int | None = None  # sent (or sent again) at or after this wall-clock time


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

    def metric_names(self, *, limit: int = 100, offset: int = 0) -> Page[tuple[str, int]]: ...

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

    def delete_test_run(self, test_id: str) -> None:
        """Forget a test run sent by mistake (NotFound if there is none); its logs stay."""
        ...

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


@dataclass(slots=True)
class ModeVersion:
    """One saved version of a failure mode: every save keeps the document it stored."""

    version: int
    changed_ns: int
    change: str
    mode: FailureMode


class ModeRepository(Protocol):
    """The failure-mode database. Every save is a new version (previous + 1), kept in the
    history, also when two writers save the same mode at once."""

    def list_modes(
        self,
        *,
        service: str | None = None,
        source: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[FailureMode]:
        """Ordered by name, then id."""
        ...

    def all_modes(self) -> list[FailureMode]:
        """Ordered by id."""
        ...

    def get_mode(self, mode_id: str) -> FailureMode:
        """Raises `errors.NotFound` when there is none."""
        ...

    def find_mode(self, mode_id: str) -> FailureMode | None: ...

    def save_mode(self, mode: FailureMode, *, change: str) -> FailureMode:
        """Stores the next version (its `version` and `updated_at` set here) and returns it."""
        ...

    def delete_mode(self, mode_id: str) -> None:
        """Raises `errors.NotFound` when there is none; the version history stays."""
        ...

    def versions(self, mode_id: str) -> list[ModeVersion]:
        """Newest first."""
        ...


class PredictionStore(Protocol):
    """Predictions made live: idempotent on the prediction id."""

    def add_predictions(self, predictions: Sequence[Prediction]) -> int:
        """How many were new."""
        ...

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
        """Newest first (ties by id); `until_ns` is exclusive."""
        ...

    def latest_per_mode(self, *, service: str | None = None) -> list[Prediction]:
        """The newest prediction(s) of every mode, ordered by mode id, then id."""
        ...

    def probability_points(
        self,
        mode_ids: Sequence[str],
        *,
        since_ns: int,
        until_ns: int,
        service: str | None = None,
        per_mode: int = 300,
    ) -> dict[str, list[tuple[int, float]]]:
        """(time, probability) per mode in [since, until), oldest first, the last `per_mode`."""
        ...


@dataclass(slots=True)
class StoredModel:
    version: int
    created_ns: int
    kind: str
    blob: bytes
    summary: dict[str, Any]


class ModelRepository(Protocol):
    """Trained models: each save is the next version (also when two trainings save at once);
    the newest is served."""

    def save(self, blob: bytes, *, kind: str, summary: dict[str, Any]) -> int: ...

    def latest_version(self) -> int:
        """0 when nothing was saved."""
        ...

    def latest(self) -> StoredModel | None: ...

    def history(self, limit: int = 20) -> list[StoredModel]:
        """Newest first, without the blobs (`blob` is empty)."""
        ...


@dataclass(frozen=True, slots=True)
class Checkpoint:
    position: int  # the last stream position the state covers
    state: bytes


class CheckpointStore(Protocol):
    """Analysis state saved under a name with the stream position it covers (scale-out)."""

    def save(self, name: str, position: int, state: bytes) -> None:
        """Replaces the name's checkpoint."""
        ...

    def load(self, name: str) -> Checkpoint | None: ...
