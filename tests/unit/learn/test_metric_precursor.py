"""A metric precursor, not a log line, raises a correct early alert (learn/metric_signals.py).

A pool leaks under a fault (tests/pool_leak_suite.py): its usage climbs, then requests fail; the
logs say nothing new until the failure line, so only the metric can warn. Trained on twelve runs,
the model learns the usage series as an indicator; replaying two held-out runs (samples and lines
in time order), it alerts for the failure's mode before the failure line, and a held-out run
under the same fault that recovers is not alerted.
"""

from __future__ import annotations

from pool_leak_suite import FAILURE_S, LABELS, RUN_S, S, leak_suite
from premortem.clock import ManualClock
from premortem.domain import LogRecord, MetricSeries, Prediction, TestRun
from premortem.learn import OnlinePredictor, TrainedModel, train
from premortem.learn.metric_signals import signal_id, workload_of


def _trained() -> TrainedModel:
    history = leak_suite(["fail", "pass", "recovers", "fail", "pass", "fail"] * 2, 0)
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
        # One scrape stamps every series alike, and values tie (a replica pool as busy as the
        # primary): the samples are ordered without ever comparing two series.
        replica = MetricSeries(series.metric, {**series.labels, "pool": "replica"}, points)
        said += predictor.observe_series(
            [MetricSeries(series.metric, series.labels, points), replica]
        )
    return [p for p in said if "closes" not in p.evidence]


def test_a_rising_pool_metric_warns_before_the_failure_the_logs_only_show_at_the_end() -> None:
    model = _trained()
    name = "metric:db_pool_usage{pool=primary,service=orders}"
    assert name in model.indicators.names
    series_id, above = model.indicators.metric_thresholds[name]
    assert series_id == signal_id(MetricSeries("db_pool_usage", LABELS))
    # Above the highest level of the runs that did not fail (0.65, where a fault was absorbed).
    assert 0.65 < above < 0.75

    failing, recovering = leak_suite(["fail", "recovers"], 40)
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
    history = leak_suite(["fail", "pass", "recovers", "fail", "pass", "fail"] * 2, 0)
    model = train(
        [run for run, _, _ in history], {run.test_id: records for run, records, _ in history}
    )
    run, records, series = leak_suite(["fail"], 40)[0]
    failure_ns = records[0].time_ns + FAILURE_S * S
    early = [p for p in _replay(model, run, records, series) if p.time_ns < failure_ns]
    assert early == []


def test_a_signal_learned_on_one_process_fires_on_the_next() -> None:
    """The OpenTelemetry SDK labels every series with its process's random
    `service.instance.id` (`instance`): a signal learned on one process start must fire on the
    next one's series, or it never fires again after a restart (a trial's learned signal did)."""
    history = leak_suite(["fail", "pass", "recovers", "fail", "pass", "fail"] * 2, 0)

    def of_process(series: MetricSeries, process: str) -> MetricSeries:
        return MetricSeries(series.metric, {**series.labels, "instance": process}, series.points)

    model = train(
        [run for run, _, _ in history],
        {run.test_id: records for run, records, _ in history},
        series={run.test_id: [of_process(s, f"p{n}")] for n, (run, _, s) in enumerate(history)},
    )
    assert "metric:db_pool_usage{pool=primary,service=orders}" in model.indicators.names
    run, records, series = leak_suite(["fail"], 40)[0]
    said = _replay(model, run, records, of_process(series, "restarted"))
    assert said and said[0].time_ns < records[0].time_ns + FAILURE_S * S


def test_a_signal_learned_on_one_pod_fires_on_the_next_pod_of_its_deployment() -> None:
    """cAdvisor and kube-state-metrics label a series with its pod, whose name a redeploy
    changes (`orders-866bd68c97-xcqfx` → `orders-5f55b6cf68-qmx8k`): a signal learned on one
    pod fires on its successor's series (a trial on the Nezha TrainTicket data learned pod
    signals that never fired the next day), and a StatefulSet's stable `db-0` stays itself."""
    history = leak_suite(["fail", "pass", "recovers", "fail", "pass", "fail"] * 2, 0)

    def of_pod(series: MetricSeries, pod: str) -> MetricSeries:
        return MetricSeries(series.metric, {**series.labels, "pod": pod}, series.points)

    model = train(
        [run for run, _, _ in history],
        {run.test_id: records for run, records, _ in history},
        series={run.test_id: [of_pod(s, "orders-866bd68c97-xcqfx")] for run, _, s in history},
    )
    assert "metric:db_pool_usage{pod=orders,pool=primary,service=orders}" in model.indicators.names
    run, records, series = leak_suite(["fail"], 40)[0]
    said = _replay(model, run, records, of_pod(series, "orders-5f55b6cf68-qmx8k"))
    assert said and said[0].time_ns < records[0].time_ns + FAILURE_S * S
    assert workload_of("db-0") == "db-0" and workload_of("fluentd-x7k2p") == "fluentd"


def test_normal_time_between_runs_widens_the_normal_range() -> None:
    """Samples of normal time outside every run (`normal_series`) set the normal range with
    the runs' own: an everyday excursion to 0.8 between runs is no sign of failure, so the
    threshold rises above it (with one sample a minute, a run's normal part held one or two
    points and a trial's series fired on every excursion), and the leak that climbs to 1.0
    still warns ahead."""
    history = leak_suite(["fail", "pass", "recovers", "fail", "pass", "fail"] * 2, 0)
    excursion = MetricSeries("db_pool_usage", LABELS, [(0, 0.5), (S, 0.8), (2 * S, 0.4)])
    model = train(
        [run for run, _, _ in history],
        {run.test_id: records for run, records, _ in history},
        series={run.test_id: [series] for run, _, series in history},
        normal_series=[excursion],
    )
    name = "metric:db_pool_usage{pool=primary,service=orders}"
    _, above = model.indicators.metric_thresholds[name]
    assert above > 0.8
    failing = leak_suite(["fail"], 40)[0]
    said = _replay(model, *failing)
    assert said and said[0].time_ns <= failing[1][0].time_ns + (FAILURE_S - 10) * S
