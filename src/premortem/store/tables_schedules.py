"""Tables of the scheduler: what to run when, and each run's outcome."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from premortem.store.tables import Id, Json, Ns, metadata

schedules = Table(
    "schedules",
    metadata,
    Column("id", Id, primary_key=True),
    Column("doc", Json, nullable=False),
    Column("created_ns", Ns, nullable=False),
)

schedule_runs = Table(
    "schedule_runs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("schedule_id", Id, nullable=False),
    Column("started_ns", Ns, nullable=False),
    Column("finished_ns", Ns),
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("outputs", Json),
    Column("attempt", Integer, nullable=False, default=1),
    Index("ix_schedule_runs_schedule_started", "schedule_id", "started_ns"),
)
