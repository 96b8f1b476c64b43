"""Backtest: replay held-out runs in time order through the online predictor.

The predictor sees only log records and, where the runs have them, their metric samples (no
fault activation, no outcome), in time order as a server receives them; each run becomes a
`RunOutcome` scored by the one scorer, `premortem.evaluation.scoring.score` (its docstring defines
right and wrong alerts, the warned share, precision, lead time, mode accuracy, false alarms per day
and calibration). The naive baseline "alert on the first ERROR line" is replayed beside it, its
mode being the most common failure kind of the training runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from premortem.clock import ManualClock
from premortem.domain import ERROR_SEVERITY, LogRecord, MetricSeries, TestRun
from premortem.evaluation.scoring import Alerts, RunOutcome, strongest_per_moment
from premortem.learn.episodes import scored_fault_ns
from premortem.learn.model import TrainedModel
from premortem.learn.onset import onset_in_records
from premortem.learn.predictor import ObservedFailure, OnlinePredictor
from premortem.learn.run_end import RunEnd

BATCH = 512


@dataclass(slots=True)
class ReplayRun:
    run: TestRun
    records: Callable[[], list[LogRecord]]
    kind: str | None = None  # the failure kind of a failed run, for mode accuracy
    series: Callable[[], list[MetricSeries]] | None = None  # its remote-written samples


def replay(
    model: TrainedModel,
    runs: Iterable[ReplayRun],
    *,
    kind_of_mode: Callable[[str], str],
    baseline_kind: str,
    progress: Callable[[str, int], None] | None = None,
) -> list[RunOutcome]:
    """Replay each run (in the order given) with a manual clock; one predictor for all runs."""
    clock = ManualClock()
    predictor = OnlinePredictor(model, clock)
    outcomes = []
    for item in runs:
        predictor.reset()
        records = sorted(item.records(), key=lambda r: r.time_ns)
        onset = onset_in_records(
            item.run, records, miner=model.miner, healthy=model.indicators.healthy
        )
        if onset is not None:
            records = [r for r in records if r.time_ns < onset]
        scrapes = _scrapes(item.series() if item.series else [], until_ns=onset)
        outcome = RunOutcome(
            item.run.test_id,
            item.run.failed,
            bool(item.run.injected_faults),
            item.kind,
            onset,
            scored_fault_ns(item.run),
            Alerts(),
            Alerts(),
            len(records),
            records[-1].time_ns - records[0].time_ns if records else 0,
            int(predictor.horizon_s * 1e9),
        )
        _replay_one(predictor, clock, _steps(records, scrapes), outcome, kind_of_mode)
        first_error = next((r for r in records if r.severity_number >= ERROR_SEVERITY), None)
        if first_error is not None:
            outcome.baseline.add(first_error.time_ns, baseline_kind, 1.0)
        outcomes.append(outcome)
        if progress is not None:
            progress(item.run.test_id, len(records))
    return outcomes


@dataclass(slots=True)
class StreamForecasts:
    """What a server running `model` would have stored on this stream: every prediction that
    alerts (time, mode id, probability; not those that close one) and the failures it saw."""

    alerts: list[tuple[int, str, float]]
    failures: list[ObservedFailure]


def forecast_stream(
    model: TrainedModel,
    records: Iterable[LogRecord],
    series: Sequence[MetricSeries] = (),
    *,
    run_ends: Iterable[RunEnd] = (),
    progress: Callable[[int, int], None] | None = None,
) -> StreamForecasts:
    """Replay one stretch of time as one live stream (records and samples in time order, no
    reset anywhere; each of `run_ends` ends its run's incident, as a server told the runs does).
    `records` come in time order, ties by id (as the store lists them), and are read as they
    come: a long range is never held in memory. `progress(time_ns, records so far)` after each
    batch."""
    clock = ManualClock()
    predictor = OnlinePredictor(model, clock)
    predictor.end_runs(run_ends)
    out = StreamForecasts([], [])
    done = 0
    for lines, scrape in _steps(records, _scrapes(series, until_ns=None)):
        if lines:
            clock.set(lines[-1].time_ns)
            said = predictor.observe(lines)
            done += len(lines)
        else:
            clock.set(scrape[0].points[0][0])
            said = predictor.observe_series(scrape)
        out.alerts += [(p.time_ns, p.mode_id, p.probability) for p in said if not p.closing]
        out.failures += predictor.observed_failures()
        if progress is not None and lines:
            progress(lines[-1].time_ns, done)
    return out


# One step of a replay: a batch of lines, or one scrape of samples (the other one empty).
Step = tuple[Sequence[LogRecord], Sequence[MetricSeries]]


def _replay_one(
    predictor: OnlinePredictor,
    clock: ManualClock,
    steps: Iterable[Step],
    outcome: RunOutcome,
    kind_of_mode: Callable[[str], str],
) -> None:
    for lines, scrape in steps:
        if lines:
            clock.set(lines[-1].time_ns)
            said = predictor.observe(lines)
        else:
            clock.set(scrape[0].points[0][0])
            said = predictor.observe_series(scrape)
        alerting = [
            (p.time_ns, p.mode_id, p.probability)
            for p in said
            if p.probability >= predictor.threshold_of(p.mode_id)
        ]
        for when, mode_id, probability in strongest_per_moment(alerting):
            outcome.model.add(when, kind_of_mode(mode_id), probability)


def _scrapes(series: Sequence[MetricSeries], *, until_ns: int | None) -> list[list[MetricSeries]]:
    """The samples before `until_ns` grouped by time, as remote-write sends a scrape: each
    group holds one point of every series stamped at that time (by series id, for a stable
    order)."""
    at: dict[int, list[MetricSeries]] = {}
    for s in sorted(series, key=lambda s: s.id):
        for t, value in s.points:
            if until_ns is None or t < until_ns:
                at.setdefault(t, []).append(MetricSeries(s.metric, s.labels, [(t, value)]))
    return [at[t] for t in sorted(at)]


def _steps(
    records: Iterable[LogRecord], scrapes: Sequence[Sequence[MetricSeries]]
) -> Iterator[Step]:
    """Records (in time order) in batches of at most BATCH, each cut where a scrape falls among
    its lines, and the scrapes in between: the order a server receives them in."""
    batch: list[LogRecord] = []
    next_scrape = 0
    for record in records:
        while next_scrape < len(scrapes) and scrapes[next_scrape][0].points[0][0] < record.time_ns:
            if batch:
                yield batch, ()
                batch = []
            yield (), scrapes[next_scrape]
            next_scrape += 1
        batch.append(record)
        if len(batch) == BATCH:
            yield batch, ()
            batch = []
    if batch:
        yield batch, ()
    for scrape in scrapes[next_scrape:]:
        yield (), scrape
