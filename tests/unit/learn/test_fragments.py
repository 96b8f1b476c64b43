"""A piece of a message cut between two shipper batches (`premortem.fragment`, see
ingest/multiline.py) is never learned from nor taken as evidence: logged just before every
failure, it must not become a trigger, and live it must not raise a prediction."""

from __future__ import annotations

import random
from dataclasses import replace

from premortem.clock import ManualClock
from premortem.domain import FRAGMENT_ATTRIBUTE, LogRecord
from premortem.learn import OnlinePredictor, train

from .test_manifestation import _run

NS = 1_000_000_000
PIECE = '           ^^^^^^^^^^^^^^^^\n  File "/srv/app.py", line 9, in f\nTimeoutError: timed out'


def _piece(at_ns: int) -> LogRecord:
    record = LogRecord(at_ns, PIECE, service="scheduler", attributes={FRAGMENT_ATTRIBUTE: True})
    return replace(record, id="")


def test_a_fragment_before_every_failure_is_no_trigger_and_raises_nothing() -> None:
    rng = random.Random(3)
    made = []
    for number in range(8):
        run, logs, failure_ns = _run(number, rng)
        if failure_ns is not None:  # the piece comes after the fault, 20 s before the failure
            logs = sorted([*logs, _piece(failure_ns - 20 * NS)], key=lambda r: r.time_ns)
        made.append((run, logs, failure_ns))
    model = train([r for r, _, _ in made[:6]], {r.test_id: logs for r, logs, _ in made[:6]})
    assert b"^^^^" not in model.dumps(), "the fragment is nowhere in the model"

    predictor = OnlinePredictor(model, ManualClock())
    assert predictor.observe([_piece(made[7][1][0].time_ns)]) == []
