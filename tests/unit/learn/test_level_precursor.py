"""A level in a warning line tells a fault that breaks the system from one it absorbs.

A volume fills under a fault. In runs that fail it climbs from 80 % to full, then writes fail; in
runs whose fill is capped (a harmless fault) it stays at 80-82 %. Both log the same warning
("volume /data is N% full"), so the line alone cannot tell them apart: only its number can.
Trained on both, the model learns the number as an indicator (learn/metric_signals.py, levels),
warns the failing run ahead and stays silent on the capped one; without levels it alerts on
both. An order number that only grows, logged only under the fault, is not taken for a level,
whichever order the runs came in; the real level is taken even when every capped fill came
before the failures.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from premortem.clock import ManualClock
from premortem.domain import InjectedFault, LogRecord, Prediction, TestRun
from premortem.learn import OnlinePredictor, TrainedModel, metric_signals, train

S = 1_000_000_000
START = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
RUN_S = 240
FAULT_S = 40
FAILURE_S = 150
FAILURE_LINE = "ERROR ledger write failed: [Errno 28] No space left on device"


def _run(index: int, kind: str) -> tuple[TestRun, list[LogRecord]]:
    start = START + timedelta(seconds=index * RUN_S)
    start_ns = int(start.timestamp()) * S
    fails = kind == "fail"
    run = TestRun(
        test_id=f"vol-{index:02d}",
        timestamp=start,
        ended_at=start + timedelta(seconds=RUN_S - 1),
        expected_outcome="pass",
        actual_outcome="fail" if fails else "pass",
        failure_details=FAILURE_LINE if fails else None,
        injected_faults=[InjectedFault(type="disk_fill", start=FAULT_S)] if kind != "pass" else [],
        service="orders",
    )
    end_s = FAILURE_S + 10 if fails else RUN_S
    records = [
        LogRecord(start_ns + s * S, f"INFO order {index * 1000 + s} settled in {20 + s % 7} ms",
                  "orders", 9, "INFO")
        for s in range(0, end_s, 2)
    ]  # fmt: skip
    if kind != "pass":
        for s in range(FAULT_S + 10, end_s, 2):
            climb = (s - FAULT_S - 10) / (FAILURE_S - FAULT_S - 10)
            share = 80 + (20 * climb if fails else 2 * min(climb * 4, 1.0))
            line = f"WARNING volume /data is {share:.0f}% full ({share * 0.08:.1f} of 8.0 MiB used)"
            records.append(LogRecord(start_ns + s * S, line, "orders", 13, "WARNING"))
            if s % 10 == 0:  # only under the fault, and its number only grows
                waited = f"WARNING order {index * 1000 + s} waited for the ledger"
                records.append(LogRecord(start_ns + s * S + 1, waited, "orders", 13, "WARNING"))
    if fails:
        records += [
            LogRecord(start_ns + (FAILURE_S + k) * S, FAILURE_LINE, "orders", 17, "ERROR")
            for k in range(0, 10, 2)
        ]
    return run, sorted(records, key=lambda r: r.time_ns)


# The last two training runs fail after the last run without a failure: a number that only grows
# exceeds everything before it in them, as a real level would.
HISTORY = [
    "harmless",
    "fail",
    "pass",
    "fail",
    "harmless",
    "pass",
    "fail",
    "harmless",
    "fail",
    "fail",
]


# A suite that runs its harmless faults first: no run without a failure comes after one, so only
# the level's falling back between runs (82 % capped, then 80 % again) shows it is no counter.
HARMLESS_FIRST = ["pass", "harmless", "harmless", "pass", "harmless"] + ["fail"] * 4


def _trained(history_kinds: list[str] = HISTORY) -> TrainedModel:
    history = [_run(i, kind) for i, kind in enumerate(history_kinds)]
    return train([run for run, _ in history], {run.test_id: records for run, records in history})


def _alerts(model: TrainedModel, records: list[LogRecord]) -> list[Prediction]:
    clock = ManualClock()
    predictor = OnlinePredictor(model, clock)
    said: list[Prediction] = []
    for record in records:
        clock.set(record.time_ns)
        said += predictor.observe([record])
    return [p for p in said if "closes" not in p.evidence]


@pytest.mark.parametrize("history", [HISTORY, HARMLESS_FIRST], ids=["mixed", "harmless-first"])
def test_the_level_in_a_warning_line_warns_of_the_fill_that_breaks_and_not_the_capped_one(
    history: list[str],
) -> None:
    model = _trained(history)
    levels = {
        name: series_id
        for name, (series_id, _) in model.indicators.metric_thresholds.items()
        if series_id.startswith("level:")
    }
    assert len(levels) >= 1, model.indicators.names
    template_ids = {int(s[len("level:") : s.index("#")]) for s in levels.values()}
    texts = {t.id: t.template for t in model.miner.templates()}
    assert all("volume" in texts[t] for t in template_ids), [texts[t] for t in template_ids]

    _, failing = _run(20, "fail")
    said = _alerts(model, failing)
    assert said, "the failing fill was not warned"
    lead_s = (failing[0].time_ns + FAILURE_S * S - said[0].time_ns) / S
    assert lead_s >= 10, f"warned only {lead_s:.0f} s ahead"
    assert any(name.startswith("level:") for name in said[0].evidence["indicators"])
    ids = said[0].evidence["record_ids"]
    assert len(ids) == len(set(ids)), "a line that fired two indicators is one record"

    _, capped = _run(21, "harmless")
    assert _alerts(model, capped) == [], "the capped fill was alerted"


def test_without_levels_the_capped_fill_is_alerted_like_the_real_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The anchor: the warning line alone cannot tell the two apart."""
    monkeypatch.setattr(metric_signals, "MAX_LEVEL_INDICATORS", 0)
    model = _trained()
    assert not any(n.startswith("level:") for n in model.indicators.names)
    _, capped = _run(21, "harmless")
    _, failing = _run(20, "fail")
    assert _alerts(model, failing) and _alerts(model, capped)


@pytest.mark.parametrize("history", [HISTORY, HARMLESS_FIRST], ids=["mixed", "harmless-first"])
def test_a_number_that_only_grows_is_not_a_level(history: list[str]) -> None:
    model = _trained(history)
    texts = {t.id: t.template for t in model.miner.templates()}
    for series_id, _ in model.indicators.metric_thresholds.values():
        if series_id.startswith("level:"):
            assert "waited for the ledger" not in texts[int(series_id[6 : series_id.index("#")])]


def test_the_lead_an_alert_quotes_is_the_alert_lead_seen_in_training() -> None:
    """The volume warning starts 100 s before the failure, but premortem alerts only once the
    level passes what capped fills reach: the lead it quotes is that of its alerts in training,
    not that of the warning's first line (a trial's disk alerts quoted 25 s and came 6 s ahead)."""
    model = _trained()
    _, failing = _run(20, "fail")
    said = _alerts(model, failing)
    real_lead_s = (failing[0].time_ns + FAILURE_S * S - said[0].time_ns) / S
    mode = model.mode(said[0].mode_id)
    assert mode is not None
    first_line_leads = mode.expected_lead_times_s(said[0].fired_template_ids)
    assert min(first_line_leads) >= FAILURE_S - FAULT_S - 10 - 2  # the warning's first line
    quoted = said[0].evidence["lead_times_s"]
    assert quoted == model.alert_leads_s[said[0].mode_id] and len(quoted) == HISTORY.count("fail")
    assert said[0].lead_time_s is not None
    assert abs(said[0].lead_time_s - real_lead_s) <= 5, (said[0].lead_time_s, real_lead_s)
    assert said[0].lead_time_s < min(first_line_leads) / 2


@pytest.mark.parametrize(
    ("line", "levels"),
    [
        # A count out of a whole says how far along it is: both its numbers (two trials'
        # "19/20 connections in use" and "attempt 2/6" were no level at all).
        ("redis pool: 19/20 connections in use", [19.0, 20.0]),
        ("reconnecting, attempt 2/6", [2.0, 6.0]),
        ("volume 81% full, 350ms to flush", [81.0, 350.0]),
        # a path, a date, an address, an id: none
        ("GET /v1/2 on 12/06/2026 from 10.0.1.2 for w3", []),
        ("10:00:05 db:5432 refused", []),  # a time, a port
        # a JSON logger's line shipped as text: its members' values (a trial's lock waits in
        # `"durationMs":2874` were no level); a clock among them is no level either, later
        # (`_went_down`)
        ('{"level":40,"msg":"slow transaction","durationMs":2874,"ok":false}', [40.0, 2874.0]),
        ('{"queueWaitMs": 1366.5, "id": "o-17"}', [1366.5]),
    ],
)
def test_the_numbers_a_warning_line_reports(line: str, levels: list[float]) -> None:
    from premortem.learn.timeline import level_series

    assert [value for _, value in level_series(7, line)] == levels


def _structured(records: list[LogRecord]) -> list[LogRecord]:
    """The same runs as a structured logger writes them (pino, zap, slog): the message fixed,
    its numbers in fields — the fill, and an order id that only grows."""
    out = []
    for r in records:
        if r.body.startswith("WARNING volume"):
            share = float(r.body.split(" is ")[1].split("%")[0])
            attributes: dict[str, object] = {"fillPct": share, "usedMiB": round(share * 0.08, 1)}
            out.append(
                LogRecord(
                    r.time_ns, "volume filling up", "orders", 13, "WARN", attributes=attributes
                )
            )
        elif r.body.startswith("WARNING order"):
            order = int(r.body.split()[2])
            waited = LogRecord(
                r.time_ns,
                "order waited for the ledger",
                "orders",
                13,
                "WARN",
                attributes={"orderId": order},
            )
            out.append(waited)
        else:
            out.append(r)
    return out


def test_a_structured_loggers_fields_are_levels_too() -> None:
    """A trial's JSON logs carried the deciding numbers in fields (`durationMs`); the fill
    in a field tells the breaking fault from the capped one as the number in the text does,
    and an id field is no level."""
    history = [_run(i, kind) for i, kind in enumerate(HISTORY)]
    model = train(
        [run for run, _ in history], {run.test_id: _structured(recs) for run, recs in history}
    )
    levels = [s for s, _ in model.indicators.metric_thresholds.values() if s.startswith("level:")]
    assert levels and all(s.endswith(("#fillPct", "#usedMiB")) for s in levels), levels

    _, failing = _run(20, "fail")
    said = _alerts(model, _structured(failing))
    assert said, "the failing fill was not warned"
    assert (failing[0].time_ns + FAILURE_S * S - said[0].time_ns) / S >= 10
    _, capped = _run(21, "harmless")
    assert _alerts(model, _structured(capped)) == [], "the capped fill was alerted"
