"""A consumer's progress (runtime/worker.py): after a takeover JetStream redelivers in the order
the ack waits ran out, not in stream order; nothing the checkpoint covers or this process
analysed is analysed again, and nothing else is skipped."""

from __future__ import annotations

from dataclasses import dataclass

from premortem.runtime.worker import Progress


@dataclass
class _Message:
    position: int
    id: str = ""
    subject: str = ""
    data: bytes = b""
    deliveries: int = 1

    async def ack(self) -> None:
        return None

    async def nak(self) -> None:
        return None


def test_redeliveries_out_of_order_are_analysed_once_each() -> None:
    progress = Progress(covered=10, restored=10)
    analysed = []
    # The dead owner's messages 11-15 come back 13, 14, 15 first (their ack waits ran out
    # first), then 11 and 12 (redelivered once already, so due later), then 13 again.
    for position in (9, 13, 14, 15, 11, 12, 13, 16):
        message = _Message(position)
        if progress.is_new(message):
            progress.analysed(message)
            analysed.append(position)
        progress.unacknowledged.append(message)
    assert analysed == [13, 14, 15, 11, 12, 16]
    assert progress.moved and progress.position == 16
    progress.saved()
    assert (progress.covered, progress.done, progress.unacknowledged) == (16, set(), [])
    assert not progress.is_new(_Message(16)) and progress.is_new(_Message(17))


def test_a_partition_taken_and_given_back_untouched_has_not_moved() -> None:
    assert not Progress(covered=7, restored=7).moved
    assert Progress().moved  # nothing restored: a first checkpoint is worth saving


def test_a_prediction_checkpoint_holds_the_predictor_and_the_alerts() -> None:
    from premortem.runtime.worker import _pack_prediction, _unpack_prediction

    predictor, alerts = b'{"model_version": 3}\n{"fired": {}}', b'{"active": []}'
    assert _unpack_prediction(_pack_prediction(predictor, alerts)) == (predictor, alerts)
    # A checkpoint saved before the alerts went in: the predictor's state, no alerts.
    assert _unpack_prediction(predictor) == (predictor, None)
