"""A predictor restored from its state (a scale-out checkpoint) predicts what the one that was
never stopped predicts; one started afresh does not (the evidence it held is gone)."""

from __future__ import annotations

from premortem.clock import ManualClock
from premortem.domain import LogRecord, Prediction
from premortem.examples import load_seed_example, load_seed_logs
from premortem.learn.model import TrainedModel, train
from premortem.learn.predictor import OnlinePredictor

SECOND = 10**9


def _stream() -> list[LogRecord]:
    """Steady lines, a warning that stays, and every 400 s a burst of a new error."""
    out = []
    for n in range(4000):
        t = n * SECOND // 2
        if n % 800 == 400:
            body, severity = f"disk quota exceeded on volume vol-{n % 7}", 17
        elif n % 5 == 4:
            body, severity = f"retrying upstream call attempt {n % 4}", 13
        else:
            body, severity = f"GET /v1/items/{n % 97} took {n % 89} ms", 9
        out.append(LogRecord(time_ns=t, body=body, service="api", severity_number=severity))
    return out


def _model() -> TrainedModel:
    runs = [stored.run for stored in load_seed_example()]
    return TrainedModel.loads(train(runs, {runs[0].test_id: load_seed_logs()}).dumps())


def _opened(predictions: list[Prediction]) -> list[str]:
    return [p.id for p in predictions if "closes" not in p.evidence]


def test_a_restored_predictor_goes_on_as_the_uninterrupted_one() -> None:
    model, stream = _model(), _stream()
    half = len(stream) // 2 + 3  # within an incident's evidence window
    kept = OnlinePredictor(model, ManualClock(0))
    before = kept.observe(stream[:half])
    restored = OnlinePredictor(model, ManualClock(0))
    restored.restore(kept.state())
    afresh = OnlinePredictor(model, ManualClock(0))

    expected = _opened(kept.observe(stream[half:]))
    assert _opened(before) and expected, "the stream must make the model predict"
    assert _opened(restored.observe(stream[half:])) == expected
    assert _opened(afresh.observe(stream[half:])) != expected


def test_state_holds_hostile_text() -> None:
    """Syslog bytes that are not UTF-8 arrive as lone surrogates: a line with them is evidence
    and its template is learned, and the state still round-trips."""
    model = _model()
    kept = OnlinePredictor(model, ManualClock(0))
    line = "disk \udc80\udcff quota exceeded on vol-\udc81"
    kept.observe([LogRecord(time_ns=SECOND, body=line, service="api\udc80", severity_number=17)])
    restored = OnlinePredictor(model, ManualClock(0))
    restored.restore(kept.state())
    assert restored.state() == kept.state()
    assert line in restored.state().decode("ascii").encode().decode("unicode_escape")
