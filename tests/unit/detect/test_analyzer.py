"""The analysis stage: quiet on steady logs, loud on planted anomalies, stable ids."""

from __future__ import annotations

import random
from collections import Counter

from premortem.detect.analyzer import Analyzer, AnalyzerConfig
from premortem.domain import Anomaly, LogRecord

S = 1_000_000_000
T0 = 1_700_000_000 * S
CONFIG = AnalyzerConfig(warmup_records=200, warmup_s=60, sequence_warmup=200)
SCRIPT = (10, 11, 12, 13)  # each request: received, queried, responded, closed


def steady(seconds: int, *, start_s: int = 0, seed: int = 1) -> list[LogRecord]:
    """Two services, ~20 records/s each: request sessions, background chatter, 1% errors."""
    rng = random.Random(seed)
    records: list[LogRecord] = []
    for second in range(start_s, start_s + seconds):
        for service in ("api", "db"):
            for i in range(rng.randint(17, 23)):
                records.append(_one(rng, service, T0 + second * S + i * S // 25, second, i))
    records.sort(key=lambda r: r.time_ns)
    return records


def _one(rng: random.Random, service: str, time_ns: int, second: int, i: int) -> LogRecord:
    if i < 8:  # two requests a second, four steps each
        request, step = f"{second}-{i // 4}", i % 4
        return record(time_ns, SCRIPT[step], service, body=f"req-{request} step {step}")
    if rng.random() < 0.01:
        return record(time_ns, 3, service, body="timeout talking to cache", severity=17)
    return record(time_ns, rng.choice((1, 1, 1, 2)), service, body="heartbeat ok")


def record(
    time_ns: int, template: int, service: str = "api", *, body: str = "x", severity: int = 9
) -> LogRecord:
    return LogRecord(
        time_ns=time_ns,
        body=body,
        service=service,
        template_id=template,
        severity_number=severity,
        attributes={"request_id": body.split()[0]} if body.startswith("req-") else {},
    )


def run(records: list[LogRecord], analyzer: Analyzer | None = None) -> list[Anomaly]:
    analyzer = analyzer or Analyzer(CONFIG)
    found: list[Anomaly] = []
    for i in range(0, len(records), 100):
        found += analyzer.observe(records[i : i + 100])
    return found


def test_steady_logs_give_no_anomalies() -> None:
    analyzer = Analyzer(CONFIG)
    assert run(steady(900), analyzer) == []
    assert analyzer.tick(T0 + 905 * S) == []


def _warm() -> Analyzer:
    analyzer = Analyzer(CONFIG)
    run(steady(300), analyzer)
    return analyzer


def test_new_template_is_reported_once_with_evidence() -> None:
    analyzer = _warm()
    odd = [record(T0 + 300 * S + k, 42, body="disk /dev/sda1 full") for k in range(3)]
    [anomaly] = analyzer.observe(odd)
    assert anomaly.detector == "new_template" and anomaly.template_id == 42
    assert anomaly.evidence["sample"] == "disk /dev/sda1 full"
    assert anomaly.evidence["record_ids"] == [odd[0].id]


def test_rare_template_is_reported() -> None:
    analyzer = Analyzer(AnalyzerConfig(warmup_records=200, warmup_s=60, rare_bits=10))
    rare = record(T0 + 150 * S, 50, body="slow query")
    run([*steady(150), rare, *steady(150, start_s=151)], analyzer)
    found = analyzer.observe([record(T0 + 302 * S, 50, body="slow query again")])
    assert [a.detector for a in found] == ["rare_template"]


def test_burst_drop_and_error_ratio_are_reported_when_windows_close() -> None:
    analyzer = _warm()
    burst = [record(T0 + 300 * S + k * S // 100, 2, "db") for k in range(80)]
    errors = [record(T0 + 300 * S + k * S // 10, 3, "db", severity=17) for k in range(40)]
    found = run([*steady(10, start_s=300), *burst, *errors], analyzer)
    found += analyzer.tick(T0 + 310 * S)
    detectors = Counter((a.detector, a.service, a.template_id) for a in found)
    assert detectors[("rate_burst", "db", 2)] == 1
    assert detectors[("error_ratio", "db", None)] == 1
    assert all(service == "db" for _, service, _ in detectors)
    # then "api" goes silent: its windows close on the clock and its rates drop
    found = analyzer.tick(T0 + 330 * S)
    assert ("rate_drop", "api", None) in {(a.detector, a.service, a.template_id) for a in found}


def test_unexpected_step_in_a_session_is_reported() -> None:
    analyzer = _warm()
    t = T0 + 300 * S
    skipped = [record(t, 10, body="req-x step 0"), record(t + 1, 13, body="req-x step 3")]
    [anomaly] = analyzer.observe(skipped)
    assert anomaly.detector == "unexpected_next"
    assert anomaly.evidence["session"] == "req-x" and anomaly.evidence["context"][-1] == 10


def test_ids_are_stable_across_reprocessing() -> None:
    planted = [record(T0 + 300 * S, 42, body="boom")]
    first = run([*steady(300), *planted])
    second = run([*steady(300), *planted])
    assert [a.id for a in first] == [a.id for a in second]
    assert len(first) == 1


def test_closed_windows_are_handed_over_once() -> None:
    analyzer = Analyzer(CONFIG)
    run(steady(35), analyzer)
    closed = analyzer.closed_windows()
    assert sorted({(w.service, (w.start_ns - T0) // S) for w in closed}) == [
        (s, t) for s in ("api", "db") for t in (0, 10, 20)
    ]
    assert analyzer.closed_windows() == []


def test_a_flood_of_new_templates_is_reported_as_one_past_the_cap() -> None:
    """A deploy that changes every log format shows thousands of new templates at once: the first
    ones are reported, then one anomaly says there were more, and the window stays quiet."""
    analyzer = _warm()
    cap = CONFIG.max_new_templates_per_window
    flood = [record(T0 + 300 * S + k, 1000 + k, body=f"format {k} changed") for k in range(500)]
    found = analyzer.observe(flood)
    assert [a.template_id for a in found] == [1000 + k for k in range(cap + 1)]
    assert all(a.detector == "new_template" for a in found)
    assert "more_than" not in found[cap - 1].evidence
    assert found[cap].evidence["more_than"] == cap
    assert found[cap].summary.startswith(f"New templates: more than {cap} in one window of api")
    # the next window reports new templates one by one again
    later = [record(T0 + 311 * S + k, 5000 + k, body=f"other {k}") for k in range(3)]
    new = [a.template_id for a in analyzer.observe(later) if a.detector == "new_template"]
    assert new == [5000, 5001, 5002]
