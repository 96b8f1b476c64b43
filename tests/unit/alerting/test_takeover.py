"""A process taking over alerting from one that died (scale-out's prediction role,
runtime/worker.py): it goes on from the dead one's checkpoint, delivers what that one had queued
and not sent, and what it tells again is told under the same batch id (Idempotency-Key)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from premortem.alerting.memory import RecordingNotifier

if TYPE_CHECKING:
    from tests.unit.alerting.conftest import Rig


def _told(notifier: RecordingNotifier) -> list[tuple[str, str]]:
    return [(b.event.value, b.id) for b in notifier.batches]


def test_a_batch_is_named_by_what_it_tells_not_when(make_rig: Callable[..., Rig]) -> None:
    first, second = make_rig(), make_rig()
    opened = first.predict(0.8)
    first.clock.advance(5)
    closed = first.predict(0.0, evidence={"closes": "failure manifested"})
    for rig in (first, second):
        rig.service.submit([opened])
        rig.clock.advance(3600)  # told an hour apart: the same ids
        rig.service.submit([closed])
        rig.service.drain()
    assert _told(first.webhook) == _told(second.webhook)
    assert [e for e, _ in _told(first.webhook)] == ["firing", "resolved"]


def test_each_resend_has_an_id_of_its_own(rig: Rig) -> None:
    rig.submit(0.8)
    for _ in range(2):
        rig.clock.advance(61)
        rig.service.tick()
        rig.service.drain()
    resends = [i for e, i in _told(rig.alertmanager) if e == "resend"]
    assert len(resends) == 2 and resends[0] != resends[1]


def test_the_next_holder_delivers_what_the_dead_one_had_queued(
    make_rig: Callable[..., Rig],
) -> None:
    dead, next_holder = make_rig(), make_rig()
    dead.service.submit([dead.predict(0.8)])  # queued; the process dies before delivering
    checkpoint = dead.service.snapshot()
    assert dead.webhook.batches == []
    next_holder.service.restore(checkpoint)
    next_holder.service.drain()
    dead.service.drain()  # what the dead one would have sent, to compare
    assert _told(next_holder.webhook) == _told(dead.webhook)
    assert [e for e, _ in _told(next_holder.webhook)] == ["firing"]
    # It knows the alert fires: the same mode again is not a second firing.
    next_holder.service.submit([next_holder.predict(0.8)])
    next_holder.service.drain()
    assert len(next_holder.webhook.batches) == 1


def test_what_is_told_again_after_the_checkpoint_has_the_same_ids(
    make_rig: Callable[..., Rig],
) -> None:
    """The records after the checkpoint are analysed again by the next holder: it meets the
    alerts as they were at the checkpoint, and tells what the dead one told, as it told it."""
    dead, next_holder = make_rig(), make_rig()
    opened = dead.predict(0.8)
    dead.clock.advance(5)
    closed = dead.predict(0.0, evidence={"closes": "failure manifested"})
    dead.clock.advance(20)
    reopened = dead.predict(0.9)
    dead.service.submit([opened])
    dead.service.drain()
    checkpoint = dead.service.snapshot()
    dead.service.submit([closed, reopened])  # told, then the process dies
    dead.service.drain()
    next_holder.service.restore(checkpoint)
    next_holder.service.submit([closed, reopened])
    next_holder.service.drain()
    assert _told(next_holder.webhook) == _told(dead.webhook)[1:]
    assert [e for e, _ in _told(dead.webhook)] == ["firing", "resolved", "firing"]


def test_a_snapshot_without_alerts_restores_none(make_rig: Callable[..., Rig]) -> None:
    dead, next_holder = make_rig(), make_rig()
    next_holder.submit(0.8)
    next_holder.service.restore(dead.service.snapshot())
    assert next_holder.service.active.all() == []
