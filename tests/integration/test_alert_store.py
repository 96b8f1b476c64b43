"""One conformance suite for the alert repository: the in-memory twin, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from premortem.alerting import (
    Alert,
    AlertQuery,
    AlertRepository,
    AlertState,
    Feedback,
    FeedbackKind,
    Matcher,
    MemoryAlertStore,
    Silence,
    feedback_for_training,
)
from premortem.alerting.model import DeliveryRecord
from premortem.errors import NotFound
from premortem.store.alerts import AlertStore
from premortem.store.engine import make_engine, migrate

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AlertRepository]:
    if request.param == "memory":
        yield MemoryAlertStore()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'alerts.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    migrate(engine)
    if request.param == "postgresql":
        with engine.begin() as conn:
            for table in (
                "alerts",
                "alert_silences",
                "alert_feedback",
                "alert_notifications",
                "alert_dead_letters",
            ):
                conn.exec_driver_sql(f"DELETE FROM {table}")
    yield AlertStore(engine)
    engine.dispose()


def alert(
    n: int, *, mode: str = "db_pool", service: str = "checkout", firing: bool = True
) -> Alert:
    return Alert(
        id=f"a{n}",
        fingerprint=f"fp-{mode}-{service}",
        labels={
            "alertname": "FailureModePredicted",
            "mode_id": mode,
            "service": service,
            "severity": "warning",
        },
        state=AlertState.FIRING if firing else AlertState.RESOLVED,
        probability=0.5 + n / 100,
        started_ns=T0 + n * S,
        updated_ns=T0 + n * S,
        last_seen_ns=T0 + n * S,
        horizon_s=600.0,
        doc={
            "mode": {"id": mode, "name": "x"},
            "evidence": {
                "templates": [
                    {
                        "template": "<script>alert(1)</script> \x1b[31m",
                        "samples": ["line\nwith newline"],
                    }
                ]
            },
        },
        resolved_ns=None if firing else T0 + (n + 5) * S,
    )


def test_save_is_idempotent_and_round_trips(store: AlertRepository) -> None:
    original = alert(1)
    store.save_alert(original)
    store.save_alert(original)
    loaded = store.get_alert("a1")
    assert loaded.labels == original.labels and loaded.doc == original.doc, "raw content kept"
    assert loaded.state is AlertState.FIRING and loaded.probability == original.probability
    original.notified = True
    original.state = AlertState.RESOLVED
    original.resolved_ns = T0 + 9 * S
    store.save_alert(original)
    again = store.get_alert("a1")
    assert again.notified and again.state is AlertState.RESOLVED and again.resolved_ns == T0 + 9 * S
    with pytest.raises(NotFound):
        store.get_alert("nope")


def test_list_filters_pages_and_orders_newest_first(store: AlertRepository) -> None:
    store.save_alert(alert(1, firing=False))
    store.save_alert(alert(2, mode="disk_full"))
    store.save_alert(alert(3, service="payments"))
    page = store.list_alerts(AlertQuery(limit=2))
    assert page.total == 3 and [a.id for a in page.items] == ["a3", "a2"]
    assert [a.id for a in store.list_alerts(AlertQuery(offset=2)).items] == ["a1"]
    assert [a.id for a in store.list_alerts(AlertQuery(state=AlertState.RESOLVED)).items] == ["a1"]
    assert [a.id for a in store.list_alerts(AlertQuery(mode_id="disk_full")).items] == ["a2"]
    assert [a.id for a in store.list_alerts(AlertQuery(service="payments")).items] == ["a3"]
    assert [a.id for a in store.list_alerts(AlertQuery(until_ns=T0 + 2 * S)).items] == ["a1"]
    # a1 resolved at T0+6s: not overlapping a window that starts later
    since = [a.id for a in store.list_alerts(AlertQuery(since_ns=T0 + 7 * S)).items]
    assert since == ["a3", "a2"]
    assert {a.id for a in store.firing_alerts()} == {"a2", "a3"}


def test_acknowledge(store: AlertRepository) -> None:
    store.save_alert(alert(1))
    assert store.set_acknowledged("a1", True).acknowledged
    assert store.get_alert("a1").acknowledged
    with pytest.raises(NotFound):
        store.set_acknowledged("nope", True)


def test_silences_activate_and_expire(store: AlertRepository) -> None:
    matchers = (Matcher("service", "check.*", is_regex=True), Matcher("mode_id", "db_pool"))
    store.add_silence(Silence("s1", matchers, T0, T0 + 60 * S, "ops", "maintenance"))
    store.add_silence(Silence("s2", (Matcher("service", "x"),), T0 + 100 * S, T0 + 200 * S))
    assert store.get_silence("s1").matchers == matchers
    assert [s.id for s in store.list_silences()] == ["s2", "s1"]
    assert [s.id for s in store.list_silences(active_at_ns=T0 + S)] == ["s1"]
    expired = store.expire_silence("s1", T0 + 10 * S)
    assert expired.ends_ns == T0 + 10 * S
    assert store.expire_silence("s1", T0 + 20 * S).ends_ns == T0 + 10 * S
    assert store.list_silences(active_at_ns=T0 + 11 * S) == []
    with pytest.raises(NotFound):
        store.expire_silence("nope", T0)


def test_feedback_is_stored_and_feeds_training(store: AlertRepository) -> None:
    store.save_alert(alert(1))
    store.save_alert(alert(2, mode="disk_full"))
    store.add_feedback(Feedback("f1", "a1", FeedbackKind.FALSE_ALARM, T0 + 10 * S))
    store.add_feedback(Feedback("f2", "a1", FeedbackKind.PREVENTED, T0 + 20 * S, "scaled pool"))
    store.add_feedback(Feedback("f2", "a1", FeedbackKind.PREVENTED, T0 + 20 * S, "scaled pool"))
    store.add_feedback(Feedback("f3", "a2", FeedbackKind.CONFIRMED, T0 + 30 * S))
    assert [f.id for f in store.list_feedback("a1")] == ["f1", "f2"]
    assert store.list_feedback("a1")[1].comment == "scaled pool"
    assert feedback_for_training(store) == [
        ("db_pool", T0 + S, "prevented"),
        ("disk_full", T0 + 2 * S, "confirmed"),
    ]
    with pytest.raises(NotFound):
        store.add_feedback(Feedback("f4", "nope", FeedbackKind.CONFIRMED, T0))


def test_deliveries_and_dead_letters(store: AlertRepository) -> None:
    ok = DeliveryRecord("b1", "webhook-0", "firing", ("a1", "a2"), "delivered", 3, T0)
    dead = DeliveryRecord(
        "b2",
        "webhook-0",
        "resolved",
        ("a1",),
        "dead",
        5,
        T0 + S,
        "HTTP 500",
        {"alerts": [{"id": "a1"}]},
    )
    store.record_delivery(ok)
    store.record_delivery(dead)
    assert [(r.batch_id, r.status) for r in store.list_deliveries(alert_id="a1")] == [
        ("b1", "delivered"),
        ("b2", "dead"),
    ]
    assert store.list_deliveries(alert_id="a2")[0].alert_ids == ("a1", "a2")
    letters = store.dead_letters()
    assert len(letters) == 1
    assert letters[0].payload == {"alerts": [{"id": "a1"}]} and letters[0].error == "HTTP 500"
