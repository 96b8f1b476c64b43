from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from premortem.alerting import (
    AlertPolicy,
    AlertQuery,
    AlertState,
    InhibitRule,
    Matcher,
    ModePolicy,
)

if TYPE_CHECKING:
    from tests.unit.alerting.conftest import Rig


def test_fires_once_for_repeated_predictions(rig: Rig) -> None:
    for _ in range(5):
        rig.submit(0.8)
        rig.clock.advance(10)
    assert [e for e, _ in rig.webhook.events()] == ["firing"]
    assert rig.store.list_alerts(AlertQuery()).total == 1


def test_below_threshold_never_fires(rig: Rig) -> None:
    rig.submit(0.49)
    assert rig.webhook.batches == [] and rig.store.list_alerts(AlertQuery()).total == 0


def test_material_change_updates_without_paging_again(rig: Rig) -> None:
    rig.submit(0.55)
    rig.submit(0.62)  # moved 0.07: not material
    alert = rig.store.list_alerts(AlertQuery()).items[0]
    assert alert.probability == 0.55
    rig.submit(0.66)  # moved 0.11 within the same band: updated
    alert = rig.store.get_alert(alert.id)
    assert alert.probability == 0.66
    assert [e for e, _ in rig.webhook.events()] == ["firing"]
    assert [e for e, _ in rig.alertmanager.events()] == ["firing", "updated"]


def test_the_alert_keeps_the_forecast_it_started_with(rig: Rig) -> None:
    """Backtests score an alert as the forecast made when it started, whatever came later."""
    rig.submit(0.55)
    rig.submit(0.95)
    (alert,) = rig.store.list_alerts(AlertQuery()).items
    assert alert.probability == 0.95
    assert alert.to_json()["probability_at_start"] == 0.55


def test_a_prediction_and_its_close_in_one_batch_resolve_the_alert(rig: Rig) -> None:
    """A failure logged within the same ingest batch as its warning (a shipper's batch, a
    replay): the close comes right behind the prediction, and must find its alert firing."""
    opened = rig.predict(0.8)
    rig.clock.advance(5)
    closed = rig.predict(0.0, evidence={"closes": "failure manifested"})
    rig.service.submit([opened, closed])
    rig.service.drain()
    (alert,) = rig.store.list_alerts(AlertQuery()).items
    assert alert.state is AlertState.RESOLVED
    assert [e for e, _ in rig.webhook.events()] == ["firing", "resolved"]


def test_the_next_incident_in_the_same_batch_is_a_new_alert(rig: Rig) -> None:
    """One ingest batch can hold an incident's failure and the next incident's warning (a replay
    sends a thousand records, a minute of logs): the second alert is new, with its own start,
    not the first one fired again."""
    first = rig.predict(0.8)
    rig.service.submit([first])
    rig.clock.advance(5)
    closed = rig.predict(0.0, evidence={"closes": "failure manifested"})
    rig.clock.advance(20)
    second = rig.predict(0.8)
    rig.service.submit([closed, second])
    rig.service.drain()
    alerts = sorted(rig.store.list_alerts(AlertQuery()).items, key=lambda a: a.started_ns)
    assert [(a.state, a.started_ns) for a in alerts] == [
        (AlertState.RESOLVED, first.time_ns),
        (AlertState.FIRING, second.time_ns),
    ]
    assert [e for e, _ in rig.webhook.events()] == ["firing", "resolved", "firing"]


def test_new_evidence_template_is_a_material_change(rig: Rig) -> None:
    rig.submit(0.6, evidence={"templates": [{"template_id": 1, "template": "slow <*>"}]})
    rig.submit(0.6, evidence={"templates": [{"template_id": 2, "template": "retry <*>"}]})
    assert [e for e, _ in rig.alertmanager.events()] == ["firing", "updated"]


def test_escalation_renotifies_on_band_up(rig: Rig) -> None:
    rig.submit(0.55)
    rig.submit(0.75)
    rig.submit(0.95)
    assert [e for e, _ in rig.webhook.events()] == ["firing", "escalated", "escalated"]
    ids = {a for _, a in rig.webhook.events()}
    assert len(ids) == 1, "escalation keeps the alert's identity"


def test_severity_escalation_ends_the_old_label_set(make_rig: Callable[..., Rig]) -> None:
    policy = AlertPolicy(modes={"db_pool": ModePolicy(severity="warning")})
    rig = make_rig(policy=policy)
    rig.submit(0.6)
    rig.service.policy.modes["db_pool"] = ModePolicy(severity="critical")
    rig.submit(0.6)
    batch = rig.alertmanager.batches[-1]
    assert batch.event.value == "escalated"
    assert batch.alerts[0].labels["severity"] == "critical"
    assert batch.alerts[0].previous_labels is not None
    assert batch.alerts[0].previous_labels["severity"] == "warning"


def test_resolves_below_threshold_with_hysteresis(rig: Rig) -> None:
    rig.submit(0.6)
    rig.submit(0.45)  # inside the hysteresis band: still firing
    assert rig.store.firing_alerts()
    rig.submit(0.35)
    assert not rig.store.firing_alerts()
    assert [e for e, _ in rig.webhook.events()] == ["firing", "resolved"]
    alert = rig.store.list_alerts(AlertQuery()).items[0]
    assert alert.state is AlertState.RESOLVED and alert.resolved_ns == rig.clock.now_ns()


def test_resolves_when_evidence_clears_after_horizon(rig: Rig) -> None:
    rig.submit(0.7, horizon_s=120)
    rig.clock.advance(100)
    rig.service.tick()
    rig.service.drain()
    assert rig.store.firing_alerts()
    rig.clock.advance(30)
    rig.service.tick()
    rig.service.drain()
    assert not rig.store.firing_alerts()
    assert [e for e, _ in rig.webhook.events()] == ["firing", "resolved"]


def test_a_new_episode_after_resolve_is_a_new_alert(rig: Rig) -> None:
    rig.submit(0.7)
    rig.submit(0.1)
    rig.clock.advance(60)
    rig.submit(0.7)
    events = rig.webhook.events()
    assert [e for e, _ in events] == ["firing", "resolved", "firing"]
    assert events[0][1] != events[2][1]


def test_silence_mutes_matching_alerts_until_it_expires(rig: Rig) -> None:
    rig.service.add_silence(
        [Matcher("service", "check.*", is_regex=True)], ends_ns=rig.clock.now_ns() + int(300e9)
    )
    rig.submit(0.8)
    rig.submit(0.8, mode="disk_full")
    assert rig.webhook.batches == [] and rig.alertmanager.batches == []
    assert len(rig.store.firing_alerts()) == 2, "muted alerts are still tracked"
    rig.clock.advance(301)
    rig.submit(0.8)  # nothing new to say, but the mute has lifted: told at the next tick
    assert rig.webhook.batches == []
    rig.service.tick()
    rig.service.drain()
    assert [e for e, _ in rig.webhook.events()] == ["firing", "firing"]
    rig.service.tick()
    rig.service.drain()
    assert len(rig.webhook.events()) == 2


def test_resolve_of_a_never_told_alert_stays_quiet(rig: Rig) -> None:
    rig.service.add_silence([Matcher("mode_id", "db_pool")], ends_ns=rig.clock.now_ns() + 10**12)
    rig.submit(0.8)
    rig.submit(0.1)
    assert rig.webhook.batches == []


def test_expired_silence_no_longer_mutes(rig: Rig) -> None:
    silence = rig.service.add_silence(
        [Matcher("mode_id", "db_pool")], ends_ns=rig.clock.now_ns() + 10**12
    )
    rig.service.expire_silence(silence.id)
    rig.clock.advance(1)
    rig.submit(0.8)
    assert [e for e, _ in rig.webhook.events()] == ["firing"]


def test_inhibition_mutes_lesser_alert_on_same_scope(make_rig: Callable[..., Rig]) -> None:
    rule = InhibitRule(
        source=(Matcher("severity", "critical"),), target=(Matcher("severity", "warning"),)
    )
    rig = make_rig(inhibit_rules=[rule])
    rig.submit(0.9, mode="disk_full")
    rig.submit(0.9, mode="db_pool")
    rig.submit(0.9, mode="db_pool", service="payments")  # other scope: not inhibited
    told = [(b.alerts[0].mode_id, b.alerts[0].service) for b in rig.webhook.batches]
    assert told == [("disk_full", "checkout"), ("db_pool", "payments")]


def test_minimum_lead_time_policy(make_rig: Callable[..., Rig]) -> None:
    policy = AlertPolicy(modes={"disk_full": ModePolicy(min_lead_time_s=120)})
    rig = make_rig(policy=policy)
    rig.submit(0.9, mode="disk_full", lead_time_s=30)
    assert rig.webhook.batches == []
    rig.submit(0.9, mode="disk_full", lead_time_s=300)
    assert len(rig.webhook.batches) == 1


def test_per_mode_threshold(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(policy=AlertPolicy(modes={"db_pool": ModePolicy(threshold=0.8)}))
    rig.submit(0.7)
    assert rig.webhook.batches == []
    rig.submit(0.85)
    assert len(rig.webhook.batches) == 1


def test_acknowledged_survives_later_updates(rig: Rig) -> None:
    rig.submit(0.55)
    alert_id = rig.store.firing_alerts()[0].id
    rig.service.acknowledge(alert_id)
    rig.submit(0.95)
    assert rig.store.get_alert(alert_id).acknowledged


def test_alertmanager_route_gets_resends_while_firing(rig: Rig) -> None:
    rig.submit(0.8)
    for _ in range(3):
        rig.clock.advance(30)
        rig.submit(0.8)
        rig.service.tick()
        rig.service.drain()
    assert [e for e, _ in rig.alertmanager.events()] == ["firing", "resend"]
    assert [e for e, _ in rig.webhook.events()] == ["firing"]


def test_submit_never_waits_on_notifiers(rig: Rig) -> None:
    rig.service.submit([rig.predict(0.9)])
    assert rig.webhook.batches == [] and rig.service.dispatcher.pending() == 2
    rig.service.drain()
    assert len(rig.webhook.batches) == 1


def test_restart_keeps_firing_alerts(rig: Rig) -> None:
    from premortem.alerting import AlertingService

    rig.submit(0.8)
    again = AlertingService(
        rig.store, routes=[], modes=rig.service.modes, clock=rig.clock, sleep=lambda _s: None
    )
    assert again.submit([rig.predict(0.8)]) == []
    assert len(again.submit([rig.predict(0.1)])) == 1


def test_a_closing_prediction_resolves_its_alert_inside_the_hysteresis(rig: Rig) -> None:
    rig.submit(0.8)
    rig.clock.advance(5)
    # Expired evidence took the risk to 0.45: inside the hysteresis band, but the predictor
    # says the prediction is closed, so the alert resolves now, not a horizon later.
    rig.submit(0.45, evidence={"closes": "evidence expired"})
    assert [e for e, _ in rig.webhook.events()] == ["firing", "resolved"]
    assert rig.store.list_alerts(AlertQuery()).items[0].state is AlertState.RESOLVED


def test_a_closing_prediction_never_opens_an_alert(rig: Rig) -> None:
    rig.submit(0.0, evidence={"closes": "failure manifested"})
    assert rig.store.list_alerts(AlertQuery()).total == 0
