"""AlertStore: the alert repository on SQLite or PostgreSQL (tables in tables_alerting.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from premortem.alerting.model import (
    Alert,
    AlertQuery,
    AlertState,
    DeliveryRecord,
    Feedback,
    FeedbackKind,
    Matcher,
    Silence,
)
from premortem.errors import NotFound, StoreError
from premortem.ports import Page
from premortem.store.engine import upsert, write_lock
from premortem.store.tables_alerting import (
    alert_dead_letters,
    alert_feedback,
    alert_notifications,
    alert_silences,
    alerts,
)


class AlertStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A write transaction (on SQLite behind this process's write lock)."""
        try:
            with write_lock(self.engine), self.engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise StoreError(f"alert store: {type(exc).__name__}: {exc}") from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise StoreError(f"alert store: {type(exc).__name__}: {exc}") from exc

    # ----------------------------------------------------------------------- alerts

    def save_alert(self, alert: Alert) -> None:
        with self._tx() as connection:
            upsert(connection, alerts, [_alert_row(alert)])

    def get_alert(self, alert_id: str) -> Alert:
        with self._read() as connection:
            row = connection.execute(select(alerts).where(alerts.c.id == alert_id)).first()
        if row is None:
            raise NotFound(f"alert {alert_id} not found")
        return _alert(row._mapping)

    def list_alerts(self, query: AlertQuery) -> Page[Alert]:
        conditions = []
        if query.state is not None:
            conditions.append(alerts.c.state == query.state.value)
        if query.mode_id is not None:
            conditions.append(alerts.c.mode_id == query.mode_id)
        if query.service is not None:
            conditions.append(alerts.c.service == query.service)
        if query.until_ns is not None:
            conditions.append(alerts.c.started_ns < query.until_ns)
        if query.since_ns is not None:
            still_open = alerts.c.resolved_ns.is_(None)
            conditions.append(still_open | (alerts.c.resolved_ns >= query.since_ns))
        selected = select(alerts).where(*conditions)
        counted = select(func.count()).select_from(alerts).where(*conditions)
        ordered = selected.order_by(alerts.c.started_ns.desc(), alerts.c.id.desc())
        with self._read() as connection:
            total = connection.execute(counted).scalar_one()
            rows = connection.execute(ordered.limit(query.limit).offset(query.offset)).all()
        return Page(items=[_alert(r._mapping) for r in rows], total=total)

    def firing_alerts(self) -> list[Alert]:
        with self._read() as connection:
            rows = connection.execute(
                select(alerts).where(alerts.c.state == AlertState.FIRING.value)
            ).all()
        return [_alert(r._mapping) for r in rows]

    def set_acknowledged(self, alert_id: str, acknowledged: bool) -> Alert:
        with self._tx() as connection:
            statement = update(alerts).where(alerts.c.id == alert_id)
            result = connection.execute(statement.values(acknowledged=acknowledged))
        if result.rowcount == 0:
            raise NotFound(f"alert {alert_id} not found")
        return self.get_alert(alert_id)

    # ----------------------------------------------------------------------- silences

    def add_silence(self, silence: Silence) -> None:
        row = {
            "id": silence.id,
            "matchers": [m.to_json() for m in silence.matchers],
            "starts_ns": silence.starts_ns,
            "ends_ns": silence.ends_ns,
            "created_by": silence.created_by,
            "comment": silence.comment,
        }
        with self._tx() as connection:
            upsert(connection, alert_silences, [row])

    def get_silence(self, silence_id: str) -> Silence:
        with self._read() as connection:
            row = connection.execute(
                select(alert_silences).where(alert_silences.c.id == silence_id)
            ).first()
        if row is None:
            raise NotFound(f"silence {silence_id} not found")
        return _silence(row._mapping)

    def list_silences(self, *, active_at_ns: int | None = None) -> list[Silence]:
        statement = select(alert_silences)
        if active_at_ns is not None:
            statement = statement.where(
                alert_silences.c.starts_ns <= active_at_ns, alert_silences.c.ends_ns > active_at_ns
            )
        statement = statement.order_by(
            alert_silences.c.starts_ns.desc(), alert_silences.c.id.desc()
        )
        with self._read() as connection:
            rows = connection.execute(statement).all()
        return [_silence(r._mapping) for r in rows]

    def expire_silence(self, silence_id: str, now_ns: int) -> Silence:
        with self._tx() as connection:
            connection.execute(
                update(alert_silences)
                .where(alert_silences.c.id == silence_id, alert_silences.c.ends_ns > now_ns)
                .values(ends_ns=now_ns)
            )
        return self.get_silence(silence_id)

    # ----------------------------------------------------------------------- feedback

    def add_feedback(self, feedback: Feedback) -> None:
        row = {
            "id": feedback.id,
            "alert_id": feedback.alert_id,
            "kind": feedback.kind.value,
            "comment": feedback.comment,
            "time_ns": feedback.time_ns,
        }
        with self._tx() as connection:
            exists = connection.execute(select(alerts.c.id).where(alerts.c.id == feedback.alert_id))
            if exists.first() is None:
                raise NotFound(f"alert {feedback.alert_id} not found")
            upsert(connection, alert_feedback, [row])

    def list_feedback(self, alert_id: str | None = None) -> list[Feedback]:
        statement = select(alert_feedback).order_by(alert_feedback.c.time_ns, alert_feedback.c.id)
        if alert_id is not None:
            statement = statement.where(alert_feedback.c.alert_id == alert_id)
        with self._read() as connection:
            rows = connection.execute(statement).all()
        return [
            Feedback(r.id, r.alert_id, FeedbackKind(r.kind), r.time_ns, r.comment) for r in rows
        ]

    # ----------------------------------------------------------------------- deliveries

    def record_delivery(self, record: DeliveryRecord) -> None:
        rows = [
            {
                "batch_id": record.batch_id,
                "route": record.route,
                "alert_id": alert_id,
                "event": record.event,
                "status": record.status,
                "attempts": record.attempts,
                "time_ns": record.time_ns,
                "error": record.error,
            }
            for alert_id in record.alert_ids
        ]
        with self._tx() as connection:
            upsert(connection, alert_notifications, rows)
            if record.status == "dead":
                upsert(connection, alert_dead_letters, [_dead_letter_row(record)])

    def list_deliveries(self, *, alert_id: str | None = None) -> list[DeliveryRecord]:
        statement = select(alert_notifications).order_by(
            alert_notifications.c.time_ns,
            alert_notifications.c.batch_id,
            alert_notifications.c.alert_id,
        )
        if alert_id is not None:  # whole batches that carried the alert
            batches = select(alert_notifications.c.batch_id).where(
                alert_notifications.c.alert_id == alert_id
            )
            statement = statement.where(alert_notifications.c.batch_id.in_(batches))
        with self._read() as connection:
            rows = connection.execute(statement).all()
        grouped: dict[tuple[str, str], DeliveryRecord] = {}
        for r in rows:
            key = (r.batch_id, r.route)
            previous = grouped.get(key)
            ids = (*previous.alert_ids, r.alert_id) if previous else (r.alert_id,)
            grouped[key] = DeliveryRecord(
                r.batch_id, r.route, r.event, ids, r.status, r.attempts, r.time_ns, r.error
            )
        return list(grouped.values())

    def dead_letters(self) -> list[DeliveryRecord]:
        statement = select(alert_dead_letters).order_by(alert_dead_letters.c.time_ns)
        with self._read() as connection:
            rows = connection.execute(statement).all()
        return [
            DeliveryRecord(
                r.batch_id,
                r.route,
                r.event,
                tuple(r.alert_ids),
                "dead",
                r.attempts,
                r.time_ns,
                r.error,
                r.payload,
            )
            for r in rows
        ]


def _alert_row(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "fingerprint": alert.fingerprint,
        "mode_id": alert.mode_id,
        "service": alert.service,
        "state": alert.state.value,
        "acknowledged": alert.acknowledged,
        "notified": alert.notified,
        "probability": alert.probability,
        "horizon_s": alert.horizon_s,
        "labels": alert.labels,
        "doc": alert.doc,
        "started_ns": alert.started_ns,
        "updated_ns": alert.updated_ns,
        "last_seen_ns": alert.last_seen_ns,
        "resolved_ns": alert.resolved_ns,
    }


def _alert(row: Mapping[Any, Any]) -> Alert:
    return Alert(
        id=row["id"],
        fingerprint=row["fingerprint"],
        labels=dict(row["labels"]),
        state=AlertState(row["state"]),
        probability=row["probability"],
        started_ns=row["started_ns"],
        updated_ns=row["updated_ns"],
        last_seen_ns=row["last_seen_ns"],
        horizon_s=row["horizon_s"],
        doc=dict(row["doc"]),
        resolved_ns=row["resolved_ns"],
        acknowledged=bool(row["acknowledged"]),
        notified=bool(row["notified"]),
    )


def _silence(row: Mapping[Any, Any]) -> Silence:
    matchers = tuple(Matcher(m["name"], m["value"], bool(m["is_regex"])) for m in row["matchers"])
    return Silence(
        row["id"], matchers, row["starts_ns"], row["ends_ns"], row["created_by"], row["comment"]
    )


def _dead_letter_row(record: DeliveryRecord) -> dict[str, Any]:
    return {
        "batch_id": record.batch_id,
        "route": record.route,
        "event": record.event,
        "alert_ids": list(record.alert_ids),
        "attempts": record.attempts,
        "time_ns": record.time_ns,
        "error": record.error,
        "payload": record.payload,
    }
