"""A metric precursor through the public API, as a user wires it: test runs, their logs and the
remote-written pool metric go in, `POST /api/v1/train` learns the metric as a precursor, and live
samples rising past it raise an alert for the failure's mode before its line is logged; the
failure line comes only at the end (tests/pool_leak_suite.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pool_leak_suite import FAILURE_S, RUN_S, S, leak_suite
from premortem.domain import LogRecord, MetricSeries, TestRun
from premortem.runtime.backtesting import backtest_history
from prom_write import write_body

pytestmark = pytest.mark.e2e


def _logs(records: list[LogRecord]) -> list[dict[str, object]]:
    return [
        {"timestamp": r.time_ns, "service": r.service, "severity_text": r.severity_text,
         "body": r.body}
        for r in records
    ]  # fmt: skip


def _write(client: TestClient, *many: MetricSeries) -> None:
    body = write_body(
        [
            ({"__name__": s.metric, **s.labels}, [(t // 1_000_000, v) for t, v in s.points])
            for s in many
        ]
    )
    answer = client.post(
        "/api/v1/write", content=body, headers={"Content-Type": "application/x-protobuf"}
    )
    assert answer.status_code == 204, answer.text


def _post_run(client: TestClient, run: TestRun) -> None:
    answer = client.post("/api/v1/test-runs", content=run.model_dump_json(exclude_none=True))
    assert answer.status_code in (200, 201), answer.text


Suite = list[tuple[TestRun, list[LogRecord], MetricSeries]]


def _post_suite(client: TestClient, suite: Suite) -> Suite:
    """Each run posted with its logs and samples, and stored."""
    for run, records, series in suite:
        _post_run(client, run)
        assert client.post("/api/v1/logs", json=_logs(records)).status_code == 200
        _write(client, series)
    client.app.state.pipeline.drain()  # type: ignore[attr-defined]
    return suite


def _history() -> Suite:
    """Twelve runs to learn from."""
    return leak_suite(["fail", "pass", "recovers", "fail", "pass", "fail"] * 2, 0)


def _post_history_and_later(client: TestClient) -> tuple[Suite, Suite]:
    """Twelve runs to learn from and three later ones (a failure, an absorbed fault, a failure),
    each posted with its logs and samples, and stored."""
    history, later = _history(), leak_suite(["fail", "recovers", "fail"], 40)
    _post_suite(client, history + later)
    return history, later


def test_remote_written_metric_learned_as_precursor_alerts_before_the_failure(
    client: TestClient,
) -> None:
    pipeline = client.app.state.pipeline  # type: ignore[attr-defined]
    _post_suite(client, _history())
    trained = client.post("/api/v1/train")
    assert trained.status_code == 200, trained.text
    modes = client.get("/api/v1/failure-modes").json()["items"]
    assert len(modes) == 1
    # The metric is no trigger of the mode's document; the model's summary and the mode page
    # say it is watched for the mode.
    summary = client.get("/api/v1/models/latest").json()["summary"]
    (signal,) = summary["signals"][modes[0]["id"]]
    assert signal["kind"] == "metric" and "db_pool_usage" in signal["what"]
    page = client.get(f"/modes/{modes[0]['id']}").text
    assert "Metric and level precursors" in page and "db_pool_usage{pool=primary" in page

    # Live, later: lines and samples second by second, as they happen.
    _run, records, series = leak_suite(["fail"], 40)[0]
    start = records[0].time_ns
    alerted_at = None
    for second in range(RUN_S):
        low, high = start + second * S, start + (second + 1) * S
        lines = [r for r in records if low <= r.time_ns < high]
        if lines:
            client.post("/api/v1/logs", json=_logs(lines))
        points = [(t, v) for t, v in series.points if low <= t < high]
        if points:  # one scrape: a replica pool as busy as the primary, stamped alike
            replica = MetricSeries(series.metric, {**series.labels, "pool": "replica"}, points)
            _write(client, MetricSeries(series.metric, series.labels, points), replica)
        pipeline.drain()
        alerts = client.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
        if alerts:
            alerted_at = second
            break
    assert alerted_at is not None, "no alert from the rising metric"
    assert FAILURE_S - alerted_at >= 10, f"alerted {FAILURE_S - alerted_at} s before the failure"
    (alert,) = alerts
    assert alert["mode_id"] == modes[0]["id"]
    assert "db_pool_usage" in str(alert)  # the evidence names the metric that fired
    failed = [
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("premortem_analysis_failures_total")
    ]
    assert failed == ["premortem_analysis_failures_total 0.0"]
    samples = [
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith('premortem_ingested_records_total{kind="metric_sample"}')
    ]
    assert samples and float(samples[0].split()[-1]) > 0, "stored samples are counted"


def test_backtest_history_replays_the_metric_samples_as_the_server_saw_them(
    client: TestClient,
) -> None:
    """`premortem backtest history` trains and replays runs with their remote-written samples, as
    the server does: the pool's climb warns the held-out failure ahead, and the run whose pool
    absorbed the fault is not alerted. Without the samples (the replay of logs alone, as before)
    the same range has no early warning: only the metric can give one."""
    _, later = _post_history_and_later(client)
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    since = int(later[0][0].timestamp.timestamp()) * S
    store = runtime.pipeline.store

    report = backtest_history(
        store, since_ns=since, series=runtime.trainer.series, facts=runtime.overview
    )
    model = report["model"]
    assert model["n_test_runs"] == 3
    assert model["counts"]["right_alerts"] == 2 and model["counts"]["wrong_alerts"] == 0
    assert min(model["lead_times_s"]) >= 10
    assert model["harmless_alerted_share"] == 0

    logs_only = backtest_history(store, since_ns=since, facts=runtime.overview)["model"]
    assert logs_only["counts"]["right_alerts"] == 0 or max(logs_only["lead_times_s"]) < 10


def test_train_until_holds_the_later_runs_out(client: TestClient) -> None:
    """`POST /api/v1/train?until=T` learns from the runs that started before T only (a user's
    hold-out, replayed against the model afterwards), and retires nothing learned from the rest."""
    history, later = _post_history_and_later(client)
    until = later[0][0].timestamp.isoformat().replace("+00:00", "Z")
    held_out = client.post("/api/v1/train", params={"until": until})
    assert held_out.status_code == 200, held_out.text
    assert held_out.json()["stats"]["runs"] == len(history)
    everything = client.post("/api/v1/train").json()
    assert everything["stats"]["runs"] == len(history) + len(later)
    assert everything["retired"] == 0
    bad = client.post("/api/v1/train", params={"until": "yesterday"})
    assert bad.status_code in (400, 422)
    assert bad.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("resent", ["later part", "whole recording"])
def test_lines_and_samples_already_received_are_predicted_on_when_sent_again(
    client: TestClient, resent: str
) -> None:
    """A recording sent whole, then a training held to its earlier part (`?until=`), then its
    later part sent again (`premortem replay logs`): the model predicts on it as when it is first
    sent after training — the failures warned ahead, the absorbed fault not alerted. Before, the
    stream's time stayed at the newest line already received, so every alert of the replay
    resolved only there and covered every later run. Sending the whole recording again gives the
    same: the part it was trained on is not predicted on (it opened an alert per warning line)."""
    history, later = _post_history_and_later(client)
    pipeline = client.app.state.pipeline  # type: ignore[attr-defined]
    until = later[0][0].timestamp.isoformat().replace("+00:00", "Z")
    trained = client.post("/api/v1/train", params={"until": until})
    assert trained.status_code == 200, trained.text
    assert trained.json()["stats"]["trained_until_ns"] == int(later[0][0].timestamp.timestamp()) * S

    again = (history if resent == "whole recording" else []) + later
    for _run, records, series in again:  # sent again in time order, ten seconds at a time
        start = int(_run.timestamp.timestamp()) * S
        for low in range(start, start + RUN_S * S, 10 * S):
            high = low + 10 * S
            lines = [r for r in records if low <= r.time_ns < high]
            if lines:
                assert client.post("/api/v1/logs", json=_logs(lines)).status_code == 200
            points = [(t, v) for t, v in series.points if low <= t < high]
            if points:
                _write(client, MetricSeries(series.metric, series.labels, points))
            pipeline.drain()

    alerts = client.get("/api/v1/alerts", params={"limit": 100}).json()["items"]
    for index, (run, _records, _series) in enumerate(later):
        start = int(run.timestamp.timestamp()) * S
        end = start + RUN_S * S
        inside = [a for a in alerts if a["started_ns"] < end and (a["resolved_ns"] or end) > start]
        if run.actual_outcome == "fail":
            failure = start + FAILURE_S * S
            early = [a for a in inside if start <= a["started_ns"] <= failure - 10 * S]
            assert early, f"later run {index}: no alert ≥ 10 s before its failure"
        else:
            spans = [(a["started_at"], a["resolved_at"]) for a in inside]
            assert not inside, f"the absorbed fault (run {index}) was alerted: {spans}"
    trained_on = int(later[0][0].timestamp.timestamp()) * S
    assert [a["started_at"] for a in alerts if a["started_ns"] < trained_on] == []


def test_what_a_plain_training_learned_from_is_not_predicted_on_when_sent_again(
    client: TestClient,
) -> None:
    """`POST /api/v1/train` on everything, then the same lines and samples arrive again (a
    shipper restarted without its position file): the new model raised an alert inside a
    trained run and stored the trained failures as seen live (a trial). Now nothing of it is
    predicted on, and the next run, live, is warned as before."""
    pipeline = client.app.state.pipeline  # type: ignore[attr-defined]
    history = _post_suite(client, _history())
    trained = client.post("/api/v1/train")
    assert trained.status_code == 200, trained.text
    newest = max(t for _run, _records, series in history for t, _ in series.points)
    learned = trained.json()["stats"]["learned_until_ns"]  # per source
    assert max(learned.values()) == newest + 1, "its newest sample"

    for _run, records, series in history:
        assert client.post("/api/v1/logs", json=_logs(records)).status_code == 200
        _write(client, series)
        pipeline.drain()
    assert client.get("/api/v1/alerts").json()["items"] == []
    assert client.get("/api/v1/failures").json()["items"] == []

    _run, records, series = leak_suite(["fail"], 40)[0]
    for second in range(RUN_S):
        low, high = records[0].time_ns + second * S, records[0].time_ns + (second + 1) * S
        lines = [r for r in records if low <= r.time_ns < high]
        if lines:
            client.post("/api/v1/logs", json=_logs(lines))
        points = [(t, v) for t, v in series.points if low <= t < high]
        if points:
            _write(client, MetricSeries(series.metric, series.labels, points))
        pipeline.drain()
    alerts = client.get("/api/v1/alerts").json()["items"]
    assert alerts and all(a["started_ns"] >= records[0].time_ns for a in alerts)
