"""Scoring what premortem said live against what failed live: stored predictions and failures.

The Backtest page and `premortem backtest history` (its `live` section) both use
`StoredHistoryBacktest.report(range)`: it scores the predictions premortem *stored* in the range
(each was an alert: at or above the threshold in force when it was made) against the failures
stored in it — failed test runs, incident/failure events, and the failures premortem saw itself
(`premortem.failures`) — next to the naive baseline "alert on the first ERROR line of a service"
scored the same way. An app can plug in another source as `app.state.backtest`.

Scoring, for both detectors: an alert episode is the first alert of a (mode, service) after a
quiet horizon; it is right when a failure of its service (any service, when it names none) has its
onset within the horizon after it, else a false alarm. Recall is the share of failures with a right
alert before them; lead time is onset minus the first right alert.

Replayed backtests (`premortem.learn.backtest`) score per test run instead; both report false
alarms per day with `premortem.evaluation.false_alarms_per_day`'s definition where they can.
"""

from __future__ import annotations

import statistics
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import func, select

from premortem.domain import ERROR_SEVERITY, datetime_to_ns, rfc3339_ns
from premortem.evaluation.calibration import Forecast, calibration_report
from premortem.failures import is_failure_event
from premortem.ports import EventQuery, TestRunQuery
from premortem.runtime import Runtime
from premortem.store import tables as t

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Alarm:
    time_ns: int
    service: str
    key: str
    probability: float = 1.0  # what it said; the baseline asserts its failure


@dataclass(frozen=True, slots=True)
class Failure:
    time_ns: int
    service: str
    what: str


@dataclass(slots=True)
class Scores:
    alerts: int = 0
    right: int = 0
    false_alarms: int = 0
    failures: int = 0
    warned: int = 0
    lead_times_s: list[float] = field(default_factory=list)
    false_alarms_by_day: dict[str, int] = field(default_factory=dict)
    forecasts: list[Forecast] = field(default_factory=list)  # each alert: p, and whether right

    @property
    def precision(self) -> float | None:
        return self.right / self.alerts if self.alerts else None

    @property
    def recall(self) -> float | None:
        return self.warned / self.failures if self.failures else None

    @property
    def median_lead_s(self) -> float | None:
        return statistics.median(self.lead_times_s) if self.lead_times_s else None

    def to_json(self) -> dict[str, Any]:
        return {
            "alerts": self.alerts,
            "right_alerts": self.right,
            "false_alarms": self.false_alarms,
            "failures": self.failures,
            "warned": self.warned,
            "precision": _rounded(self.precision),
            "recall": _rounded(self.recall),
            "median_lead_s": _rounded(self.median_lead_s),
            "lead_times_s": [round(x, 3) for x in sorted(self.lead_times_s)],
            "false_alarms_by_day": dict(sorted(self.false_alarms_by_day.items())),
            **calibration_report(self.forecasts),
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


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


def episodes(alarms: Sequence[Alarm], horizon_ns: int) -> list[Alarm]:
    """The first alarm of each key after a quiet horizon."""
    last: dict[str, int] = {}
    first: list[Alarm] = []
    for alarm in sorted(alarms, key=lambda a: a.time_ns):
        previous = last.get(alarm.key)
        if previous is None or alarm.time_ns - previous > horizon_ns:
            first.append(alarm)
        last[alarm.key] = alarm.time_ns
    return first


def _by_service(times: Sequence[tuple[int, str]]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {"": []}
    for time_ns, service in times:
        grouped.setdefault(service, []).append(time_ns)
        if service:
            grouped[""].append(time_ns)  # "" holds every time: alarms naming no service see all
    return {k: sorted(v) for k, v in grouped.items()}


def _first_in(times: list[int], low: int, high: int) -> int | None:
    index = bisect_left(times, low)
    return times[index] if index < len(times) and times[index] <= high else None


def score(alarms: Sequence[Alarm], failures: Sequence[Failure], horizon_ns: int) -> Scores:
    """Sorted lists and bisection: O((alarms + failures) log n), fast enough for a page."""
    scores = Scores(alerts=len(alarms), failures=len(failures))
    failure_times = _by_service([(f.time_ns, f.service) for f in failures])
    for alarm in alarms:
        times = failure_times.get(alarm.service, [])
        if _first_in(times, alarm.time_ns, alarm.time_ns + horizon_ns) is not None:
            scores.right += 1
            scores.forecasts.append(Forecast(alarm.probability, True))
            continue
        scores.false_alarms += 1
        scores.forecasts.append(Forecast(alarm.probability, False))
        day = datetime.fromtimestamp(alarm.time_ns / NS, tz=UTC).strftime("%Y-%m-%d")
        scores.false_alarms_by_day[day] = scores.false_alarms_by_day.get(day, 0) + 1
    alarm_times = _by_service([(a.time_ns, a.service) for a in alarms])
    anywhere = sorted(a.time_ns for a in alarms if not a.service)
    for failure in failures:
        low = failure.time_ns - horizon_ns
        candidates = [
            first
            for times in (alarm_times.get(failure.service, []) if failure.service else [], anywhere)
            if (first := _first_in(times, low, failure.time_ns)) is not None
        ]
        if candidates:
            scores.warned += 1
            scores.lead_times_s.append((failure.time_ns - min(candidates)) / NS)
    return scores


class StoredHistoryBacktest:
    def __init__(self, runtime: Runtime, *, threshold: float = 0.0) -> None:
        self.runtime = runtime
        # Stored predictions were alerts when made; a higher bar shows what it would have cut.
        self.threshold = threshold

    def report(self, *, since_ns: int, until_ns: int, service: str | None) -> BacktestReport:
        horizon_s = self.runtime.settings.horizon_s
        horizon_ns = int(horizon_s * NS)
        failures = self._failures(since_ns, until_ns, service)
        model = episodes(self._predictions(since_ns, until_ns, service), horizon_ns)
        baseline = self._first_errors(since_ns, until_ns, service, horizon_ns)
        return BacktestReport(
            since_ns=since_ns,
            until_ns=until_ns,
            horizon_s=horizon_s,
            model=score(model, failures, horizon_ns),
            baseline=score(baseline, failures, horizon_ns),
            notes=[
                "An alert is a stored prediction (each was at or above the threshold in force "
                f"when made, and ≥ {self.threshold:.2f}); "
                f"the horizon is {horizon_s:.0f} s."
            ],
        )

    def _predictions(self, since_ns: int, until_ns: int, service: str | None) -> list[Alarm]:
        page = self.runtime.predictions.list_predictions(
            service=service,
            since_ns=since_ns,
            until_ns=until_ns,
            min_probability=self.threshold,
            limit=20_000,
        )
        return [
            Alarm(p.time_ns, p.service, f"{p.mode_id}|{p.service}", p.probability)
            for p in page.items
        ]

    def _failures(self, since_ns: int, until_ns: int, service: str | None) -> list[Failure]:
        store = self.runtime.pipeline.store
        runs = store.list_test_runs(
            TestRunQuery(
                outcome="fail", service=service, since_ns=since_ns, until_ns=until_ns, limit=5000
            )
        ).items
        found = [
            Failure(datetime_to_ns(s.run.onset), s.run.service or "", s.run.test_id) for s in runs
        ]
        events = store.list_events(
            EventQuery(service=service, since_ns=since_ns, until_ns=until_ns, limit=5000)
        ).items
        found += [Failure(e.time_ns, e.service, e.type) for e in events if is_failure_event(e.type)]
        return found

    def _first_errors(
        self, since_ns: int, until_ns: int, service: str | None, horizon_ns: int
    ) -> list[Alarm]:
        """One alarm per service and horizon-wide slot with an ERROR line: one grouped scan."""
        c = t.logs.c
        slot = ((c.time_ns - since_ns) // horizon_ns).label("slot")
        stmt = (
            select(c.service, slot, func.min(c.time_ns))
            .where(c.time_ns >= since_ns, c.time_ns < until_ns, c.severity_number >= ERROR_SEVERITY)
            .group_by(c.service, slot)
        )
        if service:
            stmt = stmt.where(c.service == service)
        with self.runtime.engine.connect() as conn:
            alarms = [Alarm(int(first), name, name) for name, _, first in conn.execute(stmt)]
        return episodes(alarms, horizon_ns)
