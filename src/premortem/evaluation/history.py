"""Scoring what premortem said live against what failed live: stored predictions and failures.

The Backtest page, `GET /api/v1/backtest` and `premortem backtest history` (its `live` section)
all use `StoredHistoryBacktest.report(range)`: the predictions premortem *stored* in the range
(each was an alert: at or above the threshold in force when it was made — all but those that
closed one, `evidence.closes`, which are stored too) are laid on windows —
the stored test runs in the range, and the failures seen live outside them (`premortem.failures`,
failure/incident events) — and scored by the one scorer, `premortem.evaluation.scoring`, the same
that scores replayed backtests; beside them the naive baseline "alert on the first ERROR line".
An app can plug in another source as `app.state.backtest`.

Windows: a test run's is its stretch of logs (`premortem.runtime.training.run_windows_ns`), up
to its onset (`failure_time`, else the first failure seen live inside it, else its end); a
failure seen live outside every run gets the horizon before it (from the end of the window
before, at most).
Alerts outside every window are wrong alerts, one per burst (alerts less than a horizon apart).
Kinds, for the mode accuracy: a run's kind is its fault types, else its failure details' template;
a mode's, the most common kind of the runs it was learned from (`learn.suite_backtest`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from premortem.domain import Event, TestRun, datetime_to_ns, rfc3339_ns
from premortem.evaluation.scoring import (
    Alerts,
    RunOutcome,
    score,
    strongest_per_moment,
)
from premortem.failures import is_failure_event
from premortem.intervals import Intervals
from premortem.learn.episodes import scored_fault_ns
from premortem.learn.suite_backtest import common_kind, mode_kinds, run_kind
from premortem.ports import EventQuery, TestRunQuery
from premortem.runtime.assembly import Runtime
from premortem.runtime.training import run_windows_ns

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Failure:
    time_ns: int
    service: str
    kind: str


@dataclass(frozen=True, slots=True)
class LogSpan:
    """First and last record, and first ERROR record, of a stretch of logs (None: none)."""

    first_ns: int | None
    last_ns: int | None
    first_error_ns: int | None


LogSpanOf = Callable[[int, int, Sequence[str] | None], LogSpan]


@dataclass(slots=True)
class Scores:
    """One detector's numbers on the page: the scorer's metrics and what the charts draw."""

    alerts: int = 0
    right: int = 0
    false_alarms: int = 0
    failures: int = 0
    warned: int = 0
    lead_times_s: list[float] = field(default_factory=list)
    false_alarms_by_day: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)  # `scoring.score`'s report

    @classmethod
    def of(cls, metrics: dict[str, Any]) -> Scores:
        counts = metrics["counts"]
        return cls(
            alerts=counts["right_alerts"] + counts["wrong_alerts"],
            right=counts["right_alerts"],
            false_alarms=counts["wrong_alerts"],
            failures=counts["failed_runs"],
            warned=counts["right_alerts"],
            lead_times_s=list(metrics["lead_times_s"]),
            false_alarms_by_day=dict(metrics["false_alarms_by_day"]),
            metrics=metrics,
        )

    @property
    def precision(self) -> float | None:
        return self.metrics.get("precision")

    @property
    def recall(self) -> float | None:
        return self.metrics.get("recall")

    @property
    def median_lead_s(self) -> float | None:
        return self.metrics.get("median_lead_s")

    def to_json(self) -> dict[str, Any]:
        return {
            **self.metrics,
            "alerts": self.alerts,
            "right_alerts": self.right,
            "false_alarms": self.false_alarms,
            "failures": self.failures,
            "warned": self.warned,
        }


@dataclass(slots=True)
class BacktestReport:
    since_ns: int
    until_ns: int
    horizon_s: float
    model: Scores
    baseline: Scores
    model_name: str = "stored predictions"
    baseline_name: str = "first ERROR line per service"
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The report as `GET /api/v1/backtest` answers it (the Backtest page's numbers)."""
        return {
            "since": rfc3339_ns(self.since_ns),
            "until": rfc3339_ns(self.until_ns),
            "horizon_s": self.horizon_s,
            "model_name": self.model_name,
            "baseline_name": self.baseline_name,
            "model": self.model.to_json(),
            "baseline": self.baseline.to_json(),
            "notes": list(self.notes),
        }


class BacktestSource(Protocol):
    def report(self, *, since_ns: int, until_ns: int, service: str | None) -> BacktestReport: ...


class LiveWindows:
    """The windows of a range: stored test runs, and failures seen live outside them."""

    def __init__(
        self,
        runs: Sequence[TestRun],
        failures: Sequence[Failure],
        *,
        since_ns: int,
        until_ns: int,
        horizon_ns: int,
    ) -> None:
        self.horizon_ns = horizon_ns
        self.since_ns, self.until_ns = since_ns, until_ns
        spans = run_windows_ns(runs)
        self.runs = sorted(runs, key=lambda r: (spans[r.test_id][0], r.test_id))
        self.spans = {k: (a, min(b, until_ns)) for k, (a, b) in spans.items()}
        self.failures = failures

    def outcomes(
        self,
        model: Sequence[tuple[int, str, float]],
        baseline: Sequence[tuple[int, str]],
        *,
        logs: LogSpanOf,
        service: str | None,
        baseline_kind: str,
    ) -> list[RunOutcome]:
        windows = self._run_windows(logs, service, baseline_kind) + self._failure_windows()
        windows.sort(key=lambda w: (w[1], w[0].run_id))
        taken = Intervals([(begin, cut) for _, begin, cut in windows])
        model = sorted(model)
        times = [when for when, _, _ in model]
        for outcome, begin, cut in windows:
            for when, kind, p in model[bisect_left(times, begin) : bisect_left(times, cut)]:
                outcome.model.add(when, kind, p)
        out = [outcome for outcome, _, _ in windows]
        out += self._bursts([a for a in model if not taken.holds(a[0])], "model")
        errors = [(when, baseline_kind, 1.0) for when, _ in baseline if not taken.holds(when)]
        out += self._bursts(errors, "baseline")
        out.append(self._rest(logs, service, taken))
        return out

    def _run_windows(
        self, logs: LogSpanOf, service: str | None, baseline_kind: str
    ) -> list[tuple[RunOutcome, int, int]]:
        out = []
        for run in self.runs:
            begin, end = self.spans[run.test_id]
            onset = self._onset(run, begin, end) if run.failed else None
            cut = onset if onset is not None else end
            services = (
                run.services if run.services is not None else ([service] if service else None)
            )
            span = logs(begin, cut, services)
            outcome = RunOutcome(
                run.test_id,
                run.failed,
                bool(run.injected_faults),
                run_kind(run) if run.failed else None,
                onset,
                scored_fault_ns(run),
                Alerts(),
                Alerts(),
                watched_ns=_watched(span),
                horizon_ns=self.horizon_ns,
            )
            if span.first_error_ns is not None:
                outcome.baseline.add(span.first_error_ns, baseline_kind, 1.0)
            out.append((outcome, begin, cut))
        return out

    def _onset(self, run: TestRun, begin: int, end: int) -> int:
        if run.failure_time is not None:
            return datetime_to_ns(run.failure_time)
        seen = [f.time_ns for f in self.failures if begin <= f.time_ns < end]
        return seen[0] if seen else end  # unknown: alerts up to the run's end count

    def _failure_windows(self) -> list[tuple[RunOutcome, int, int]]:
        """A failure seen outside every test run: the horizon before it, after the window before."""
        runs = Intervals(list(self.spans.values()))
        out: list[tuple[RunOutcome, int, int]] = []
        previous_end = self.since_ns
        for failure in self.failures:
            if runs.holds(failure.time_ns):
                continue
            begin = max(
                failure.time_ns - self.horizon_ns, previous_end, runs.end_before(failure.time_ns)
            )
            outcome = _live(
                f"live failure {rfc3339_ns(failure.time_ns)}",
                self.horizon_ns,
                failed=(failure.kind, failure.time_ns),
            )
            out.append((outcome, begin, failure.time_ns))
            previous_end = failure.time_ns
        return out

    def _bursts(self, alerts: Sequence[tuple[int, str, float]], which: str) -> list[RunOutcome]:
        """Alerts outside every window, grouped into bursts (gaps under a horizon): each burst
        is a live stretch that did not fail, its first alert a wrong one."""
        out: list[RunOutcome] = []
        last = None
        for when, kind, p in sorted(alerts):
            if last is None or when - last > self.horizon_ns:
                out.append(_live(f"live {rfc3339_ns(when)}", self.horizon_ns))
            getattr(out[-1], which).add(when, kind, p)
            last = when
        return out

    def _rest(self, logs: LogSpanOf, service: str | None, taken: Intervals) -> RunOutcome:
        """The watched time outside every window (for false alarms per day)."""
        span = logs(self.since_ns, self.until_ns, [service] if service else None)
        inside = sum(max(0, cut - begin) for begin, cut in taken.spans)
        rest = max(0, _watched(span) - inside)
        return _live("live, outside test runs", self.horizon_ns, watched_ns=rest)


def _scored_from_note(asked_ns: int, since_ns: int, live_from: int | None) -> list[str]:
    if live_from is None or since_ns <= asked_ns:
        return []
    return [
        f"Scored from {rfc3339_ns(since_ns)}, where the first model's live stream begins: "
        "runs before it were trained on or came before any model, not forecast."
    ]


def _live(
    name: str, horizon_ns: int, *, failed: tuple[str, int] | None = None, watched_ns: int = 0
) -> RunOutcome:
    """A stretch of live time that is no test run: a failure seen live (`failed`: its kind and
    onset), or alerts and watched time outside every window."""
    kind, onset = failed if failed is not None else (None, None)
    return RunOutcome(
        name,
        failed is not None,
        failed is not None,
        kind,
        onset,
        None,
        Alerts(),
        Alerts(),
        watched_ns=watched_ns,
        horizon_ns=horizon_ns,
        live=True,
    )


def _watched(span: LogSpan) -> int:
    if span.first_ns is None or span.last_ns is None:
        return 0
    return int(span.last_ns) - int(span.first_ns)


class LogFacts(Protocol):
    """What scoring a range asks of the stored logs (`store.overview.SqlOverview`)."""

    def log_span(
        self, since_ns: int, until_ns: int, services: Sequence[str] | None
    ) -> tuple[int | None, int | None, int | None]:
        """(first, last, first ERROR) record times in [since, until) of these services."""
        ...

    def first_errors(
        self, since_ns: int, until_ns: int, service: str | None, slot_ns: int
    ) -> list[tuple[int, str]]:
        """The first ERROR line per service and `slot_ns`-wide slot, as (time, service)."""
        ...


def failures_of(events: Iterable[Event], kinds: Mapping[str, str]) -> list[Failure]:
    """The failures among stored events: failure/incident events and those premortem saw
    itself (`premortem.failures`), each with the kind of the mode it names."""
    out = []
    for e in events:
        if is_failure_event(e.type):
            mode_id = str(e.attributes.get("mode_id") or "")
            out.append(Failure(e.time_ns, e.service, kinds.get(mode_id, mode_id or e.type)))
    return sorted(out, key=lambda f: f.time_ns)


def score_range(
    runs: Sequence[TestRun],
    failures: Sequence[Failure],
    alerts: Sequence[tuple[int, str, float]],
    facts: LogFacts,
    *,
    since_ns: int,
    until_ns: int,
    horizon_ns: int,
    service: str | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The scorer's report for the model's `alerts` (time, mode kind, probability) and for the
    first-ERROR-line baseline over a range: its test runs and failures as windows
    (`LiveWindows`). What the Backtest page scores stored predictions with, and what
    `backtest history` scores its replay with."""
    windows = LiveWindows(
        runs, failures, since_ns=since_ns, until_ns=until_ns, horizon_ns=horizon_ns
    )
    outcomes = windows.outcomes(
        strongest_per_moment(alerts),
        facts.first_errors(since_ns, until_ns, service, horizon_ns),
        logs=lambda begin, end, services: LogSpan(*facts.log_span(begin, end, services)),
        service=service,
        baseline_kind=common_kind(r for r in runs if r.failed),
    )
    return score(outcomes, "model"), score(outcomes, "baseline")


class StoredHistoryBacktest:
    """What premortem said live in a range, scored window by window by the one scorer
    (`premortem.evaluation.scoring`): each stored test run in the range is a window (its
    `run_windows_ns` stretch, up to its onset), each failure seen live outside a run is one (the
    horizon before it), and alerts outside every window are wrong alerts, one per burst."""

    def __init__(self, runtime: Runtime, *, threshold: float = 0.0) -> None:
        self.runtime = runtime
        # Stored predictions were alerts when made; a higher bar shows what it would have cut.
        self.threshold = threshold

    def report(self, *, since_ns: int, until_ns: int, service: str | None) -> BacktestReport:
        horizon_s = self.runtime.settings.horizon_s
        horizon_ns = int(horizon_s * NS)
        store = self.runtime.pipeline.store
        asked_since_ns = since_ns
        live_from = self._live_from_ns()
        if live_from is not None:
            # Before the first model's live stream nothing could be forecast: those runs were
            # trained on (or came before any model), and scoring them counts every failure
            # there as missed.
            since_ns = min(max(since_ns, live_from), until_ns)
        runs = [
            s.run
            for s in store.list_test_runs(
                TestRunQuery(service=service, since_ns=since_ns, until_ns=until_ns, limit=5000)
            ).items
        ]
        kinds = mode_kinds(
            {m.id: m.evidence.test_runs for m in self.runtime.modes.all_modes()},
            self._evidence_runs(runs),
        )
        events = store.list_events(
            EventQuery(service=service, since_ns=since_ns, until_ns=until_ns, limit=5000)
        ).items
        model, baseline = score_range(
            runs,
            failures_of(events, kinds),
            self._predictions(since_ns, until_ns, service, kinds),
            self.runtime.overview,
            since_ns=since_ns,
            until_ns=until_ns,
            horizon_ns=horizon_ns,
            service=service,
        )
        return BacktestReport(
            since_ns=since_ns,
            until_ns=until_ns,
            horizon_s=horizon_s,
            model=Scores.of(model),
            baseline=Scores.of(baseline),
            notes=[
                "An alert is a stored prediction that does not close one (each was at or above "
                f"the threshold in force when made, and ≥ {self.threshold:.2f}); "
                f"the horizon is {horizon_s:.0f} s.",
                *_scored_from_note(asked_since_ns, since_ns, live_from),
            ],
        )

    def _live_from_ns(self) -> int | None:
        """Where the first model's live stream began (`live_from_ns` in its summary: the runs
        it did not train on start there; a model saved before that key was recorded counts
        from when it was saved); None while no model exists."""
        starts = [
            int(m.summary.get("live_from_ns") or m.created_ns)
            for m in self.runtime.models.history(limit=1_000_000)
        ]
        return min(starts) if starts else None

    def _evidence_runs(self, runs: Sequence[TestRun]) -> list[TestRun]:
        """The runs in range and every run a stored mode was learned from (their kinds)."""
        store = self.runtime.pipeline.store
        return [
            s.run for s in store.list_test_runs(TestRunQuery(outcome="fail", limit=5000)).items
        ] + list(runs)

    def _predictions(
        self, since_ns: int, until_ns: int, service: str | None, kinds: dict[str, str]
    ) -> list[tuple[int, str, float]]:
        page = self.runtime.predictions.list_predictions(
            service=service,
            since_ns=since_ns,
            until_ns=until_ns,
            min_probability=self.threshold,
            limit=20_000,
        )
        return [
            (p.time_ns, kinds.get(p.mode_id, p.mode_id), p.probability)
            for p in page.items
            if "closes" not in p.evidence  # stored to say it closed, not an alert
        ]
