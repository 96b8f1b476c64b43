"""A metric precursor, not a log line, raises a correct early alert (learn/metric_signals.py).

A pool leaks under a fault: its usage climbs for a minute, then requests fail. The logs say
nothing new until the failure (the same access lines throughout, then the failure line), so only
the metric can warn. Trained on twelve runs, the model learns the usage series as an indicator;
replaying two held-out runs (samples and lines in time order), it alerts for the failure's mode
before the failure line, and a held-out run under the same fault that recovers is not alerted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from premortem.clock import ManualClock
from premortem.domain import InjectedFault, LogRecord, MetricSeries, Prediction, TestRun
from premortem.learn import OnlinePredictor, TrainedModel, train

S = 1_000_000_000
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RUN_S = 300
FAULT_S = 60
FAILURE_S = 150  # the pool runs out 90 s after the fault
FAILURE_LINE = "ERROR request failed: could not acquire connection within 5000 ms"
LABELS = {"service": "orders", "pool": "primary"}


def _run(index: int, *, fails: bool, faulty: bool) -> tuple[TestRun, list[LogRecord], MetricSeries]:
    start = START + timedelta(seconds=index * RUN_S)
    start_ns = int(start.timestamp()) * S
    run = TestRun(
        test_id=f"pool-{index:02d}",
        timestamp=start,
        ended_at=start + timedelta(seconds=RUN_S - 1),
        expected_outcome="pass",
        actual_outcome="fail" if fails else "pass",
        failure_details=FAILURE_LINE if fails else None,
        injected_faults=[InjectedFault(type="connection_leak", start=FAULT_S)] if faulty else [],
        service="orders",
    )
    end_s = FAILURE_S + 20 if fails else RUN_S - 1
    records = [
        LogRecord(start_ns + s * S, f"INFO GET /orders/{s % 17} 200 in {20 + s % 5} ms", "orders",
                  9, "INFO")
        for s in range(0, end_s, 2)
    ]  # fmt: skip
    if fails:
        records += [
            LogRecord(start_ns + (FAILURE_S + k) * S, FAILURE_LINE, "orders", 17, "ERROR")
            for k in range(0, 20, 2)
        ]
    points = []
    for s in range(0, RUN_S, 5):
        usage = 0.30 + 0.05 * ((s // 5 + index) % 4)  # 0.30-0.45 in normal operation
        if faulty and s >= FAULT_S:
            climb = (s - FAULT_S) / (FAILURE_S - FAULT_S)
            usage = min(1.0, usage + (0.7 if fails else 0.2) * min(climb, 1.0))
        points.append((start_ns + s * S, round(usage, 3)))
    return (
        run,
        sorted(records, key=lambda r: r.time_ns),
        MetricSeries("db_pool_usage", LABELS, points),
    )


def _suite(kinds: list[str], first: int) -> list[tuple[TestRun, list[LogRecord], MetricSeries]]:
    return [
        _run(first + i, fails=kind == "fail", faulty=kind in ("fail", "recovers"))
        for i, kind in enumerate(kinds)
    ]


def _trained() -> TrainedModel:
    history = _suite(["fail", "pass", "recovers", "fail", "pass", "fail"] * 2, 0)
    return train(
        [run for run, _, _ in history],
        {run.test_id: records for run, records, _ in history},
        series={run.test_id: [series] for run, _, series in history},
    )


def _replay(
    model: TrainedModel, run: TestRun, records: list[LogRecord], series: MetricSeries
) -> list[Prediction]:
    """Lines and samples in time order, one second at a time, as a live server sees them."""
    clock = ManualClock()
    predictor = OnlinePredictor(model, clock)
    said: list[Prediction] = []
    start = records[0].time_ns
    for second in range(RUN_S):
        low, high = start + second * S, start + (second + 1) * S
        clock.set(high)
        said += predictor.observe([r for r in records if low <= r.time_ns < high])
        points = [(t, v) for t, v in series.points if low <= t < high]
        said += predictor.observe_series([MetricSeries(series.metric, series.labels, points)])
    return [p for p in said if "closes" not in p.evidence]


def test_a_rising_pool_metric_warns_before_the_failure_the_logs_only_show_at_the_end() -> None:
    model = _trained()
    name = "metric:db_pool_usage{pool=primary,service=orders}"
    assert name in model.indicators.names
    series_id, above = model.indicators.metric_thresholds[name]
    assert series_id == MetricSeries("db_pool_usage", LABELS).id
    # Above the highest level of the runs that did not fail (0.65, where a fault was absorbed).
    assert 0.65 < above < 0.75

    failing, recovering = _suite(["fail", "recovers"], 40)
    said = _replay(model, *failing)
    assert said, "the rising metric raised no alert"
    first = said[0]
    failure_ns = failing[1][0].time_ns + FAILURE_S * S
    lead_s = (failure_ns - first.time_ns) / S
    assert lead_s >= 10, f"warned only {lead_s:.0f} s ahead"
    assert first.evidence["indicators"] == [name]
    assert first.evidence["template_ids"] == [] and first.evidence["record_ids"] == []
    assert "db_pool_usage" in first.evidence["samples"][0]["line"]
    (mode,) = model.modes  # the one failure of the history, named after its line
    assert first.mode_id == mode.id and "acquire connection" in mode.name

    assert _replay(model, *recovering) == [], "a fault the pool absorbed was alerted"


def test_without_the_metric_the_same_history_gives_no_early_warning() -> None:
    """The anchor: trained on the logs alone, nothing precedes the failure line."""
    history = _suite(["fail", "pass", "recovers", "fail", "pass", "fail"] * 2, 0)
    model = train(
        [run for run, _, _ in history], {run.test_id: records for run, records, _ in history}
    )
    run, records, series = _suite(["fail"], 40)[0]
    failure_ns = records[0].time_ns + FAILURE_S * S
    early = [p for p in _replay(model, run, records, series) if p.time_ns < failure_ns]
    assert early == []
