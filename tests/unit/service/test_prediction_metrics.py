"""The open predictions on GET /metrics (issue 17): two gauges per (mode, service), labels escaped
as the Prometheus text format wants, a series gone when its prediction closes or lapses."""

from __future__ import annotations

import doctest
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from premortem.alerting import AlertingService, MemoryAlertStore
from premortem.clock import Clock, ManualClock, StreamClocks
from premortem.domain import FailureMode, LogRecord, Prediction
from premortem.learn.model import TrainedModel
from premortem.learn.network import ModeNetwork
from premortem.learn.predictor import ObservedFailure
from premortem.learn.rows import IndicatorSet
from premortem.logs.miner import PrefixTreeMiner
from premortem.runtime import analysis as stages
from premortem.runtime.analysis import LivePredictions, PredictionStage
from premortem.service.metrics import ServiceMetrics
from premortem.store.models import StoredModel

S = 1_000_000_000
HOSTILE = 'pay"ments\\prod\nevil} 1\n# TYPE x counter'


def prediction(
    mode_id: str = "db_pool",
    service: str = "checkout",
    probability: float = 0.8,
    *,
    time_s: int = 100,
    lead_time_s: float | None = 42.0,
    **evidence: Any,
) -> Prediction:
    return Prediction(
        id=f"p-{mode_id}-{time_s}",
        time_ns=time_s * S,
        mode_id=mode_id,
        service=service,
        probability=probability,
        horizon_s=60,
        lead_time_s=lead_time_s,
        evidence={"mode_name": f"{mode_id} name", **evidence},
    )


def closing(mode_id: str = "db_pool", service: str = "checkout") -> Prediction:
    return prediction(mode_id, service, 0.0, time_s=130, closes="risk lowered")


def exposition(live: LivePredictions) -> str:
    metrics = ServiceMetrics()
    metrics.watch_predictions(live)
    return generate_latest(metrics.registry).decode()


def samples(text: str, name: str) -> dict[tuple[str, str, str], float]:
    """The samples of one metric, parsed back the way a Prometheus client library reads them."""
    return {
        (s.labels["mode"], s.labels["service"], s.labels["mode_name"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_each_open_prediction_is_a_probability_and_a_lead_time_with_help_and_type() -> None:
    live = LivePredictions()
    live.update([prediction(), prediction("queue", "orders", 0.55, lead_time_s=None)])
    text = exposition(live)

    assert "# HELP premortem_failure_probability " in text
    assert "# TYPE premortem_failure_probability gauge" in text
    assert "# HELP premortem_expected_lead_seconds " in text
    assert "# TYPE premortem_expected_lead_seconds gauge" in text
    assert (
        'premortem_failure_probability{mode="db_pool",mode_name="db_pool name",'
        'service="checkout"} 0.8' in text
    )
    assert samples(text, "premortem_failure_probability") == {
        ("db_pool", "checkout", "db_pool name"): 0.8,
        ("queue", "orders", "queue name"): 0.55,
    }
    # An unknown lead time is no sample, not a zero that would read "failing now".
    assert samples(text, "premortem_expected_lead_seconds") == {
        ("db_pool", "checkout", "db_pool name"): 42.0
    }


def test_hostile_label_values_are_escaped_and_read_back_as_they_were() -> None:
    live = LivePredictions()
    live.update([prediction(HOSTILE, HOSTILE, 0.7), prediction("surrogate", "svc\ud800")])
    text = exposition(live)

    escaped = 'pay\\"ments\\\\prod\\nevil} 1\\n# TYPE x counter'
    assert f'mode="{escaped}"' in text and f'service="{escaped}"' in text
    assert "\n# TYPE x counter" not in text, "no line forged by a label value"
    assert samples(text, "premortem_failure_probability") == {
        (HOSTILE, HOSTILE, f"{HOSTILE} name"): 0.7,
        ("surrogate", "svc\ufffd", "surrogate name"): 0.8,  # UTF-8 cannot carry a lone one
    }


def test_a_closing_prediction_removes_its_series_and_only_its_own() -> None:
    live = LivePredictions()
    live.update([prediction(), prediction(service="payments")])
    live.update([prediction(probability=0.9, time_s=110)])  # the latest one counts
    assert samples(exposition(live), "premortem_failure_probability") == {
        ("db_pool", "checkout", "db_pool name"): 0.9,
        ("db_pool", "payments", "db_pool name"): 0.8,
    }

    live.update([closing()])
    text = exposition(live)
    assert samples(text, "premortem_failure_probability") == {
        ("db_pool", "payments", "db_pool name"): 0.8
    }
    assert 'service="checkout"' not in text
    live.update([closing(service="payments")])
    text = exposition(live)
    assert samples(text, "premortem_failure_probability") == {}
    assert "# TYPE premortem_failure_probability gauge" in text, "the family stays described"


def test_a_prediction_lapses_when_its_horizon_passed_on_its_own_source() -> None:
    live = LivePredictions()
    live.update([prediction(time_s=100)], source="a")
    live.update([prediction(service="payments", time_s=100)], source="b")
    now = {"a": 161 * S, "b": 150 * S}
    assert live.lapse(lambda source: now.get(source, 0)) == 1
    assert [(p.service, p.source) for p in live.snapshot()] == [("payments", "b")]


def test_the_map_is_bounded_and_forgets_the_least_recently_updated_first() -> None:
    live = LivePredictions(max_entries=2)
    live.update([prediction("a"), prediction("b")])
    live.update([prediction("a", probability=0.6)])  # a is fresher than b now
    live.update([prediction("c")])
    assert sorted(p.mode_id for p in live.snapshot()) == ["a", "c"]
    assert (len(live), live.evicted) == (2, 1)
    assert "premortem_live_prediction_evictions_total 1.0" in exposition(live)


def test_the_live_map_is_counted_with_the_other_bounded_maps() -> None:
    metrics = ServiceMetrics()
    metrics.observe_sizes({"live_predictions": 3}, evictions=0)
    assert 'premortem_bounded_entries{map="live_predictions"} 3.0' in (
        generate_latest(metrics.registry).decode()
    )


def test_the_doctests_of_the_stages_pass() -> None:
    result = doctest.testmod(stages)
    assert result.attempted and not result.failed


# --------------------------------------------------------------------------- the stage


MODE = FailureMode(id="db_pool", name="DB pool exhaustion", service="checkout")


class Models:
    def __init__(self) -> None:
        model = TrainedModel(
            modes=[MODE],
            miner=PrefixTreeMiner(),
            indicators=IndicatorSet([], set()),
            network=ModeNetwork([], []),
        )
        self.stored = StoredModel(1, 0, "test", model.dumps(), {})

    def latest_version(self) -> int:
        return self.stored.version

    def latest(self) -> StoredModel | None:
        return self.stored


class ScriptedPredictor:
    """Answers a line "open p" with a prediction at p, and a line "close" with its closing."""

    def __init__(self, model: TrainedModel, clock: Clock, *, min_probability: float | None) -> None:
        self.model = model

    def observe(self, records: Iterable[LogRecord]) -> list[Prediction]:
        out = []
        for record in records:
            time_s = record.time_ns // S
            if record.body.startswith("open"):
                p = float(record.body.split()[1])
                out.append(prediction(probability=p, time_s=time_s))
            elif record.body == "close":
                out.append(prediction(probability=0.0, time_s=time_s, closes="evidence expired"))
        return out

    def observed_failures(self) -> list[ObservedFailure]:
        return []

    def pass_time(self, now_ns: int) -> list[Prediction]:
        return []  # this fake holds no evidence that could expire


class Stored:
    def __init__(self) -> None:
        self.items: list[Prediction] = []

    def add_predictions(self, predictions: Sequence[Prediction]) -> int:
        self.items.extend(predictions)
        return len(predictions)


def test_the_prediction_stage_keeps_the_open_predictions_for_the_scrapes() -> None:
    mono = ManualClock(0)
    clocks = StreamClocks(mono)
    alerting = AlertingService(
        MemoryAlertStore(), routes=[], modes={MODE.id: MODE}.get, clock=clocks.newest()
    )
    stage = PredictionStage(
        Models(),
        predictions=Stored(),
        alerting=alerting,
        clocks=clocks,
        alert_threshold=0.5,
        predictor=ScriptedPredictor,
    )

    def logged(time_s: int, body: str) -> None:
        stage.on_logs([LogRecord(time_ns=time_s * S, body=body, service="checkout")])

    logged(100, "open 0.7")
    logged(101, "open 0.9")
    assert [(p.mode_id, p.probability, p.source) for p in stage.live.snapshot()] == [
        ("db_pool", 0.9, "checkout")
    ]
    logged(102, "close")
    assert stage.live.snapshot() == []

    logged(200, "open 0.8")
    mono.advance(60)
    stage.on_tick(0)
    assert len(stage.live) == 1, "within its horizon on its source's time"
    mono.advance(1.5)
    stage.on_tick(0)
    assert len(stage.live) == 0, "the horizon passed with nothing new: it lapsed"
