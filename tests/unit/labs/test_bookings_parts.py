"""The bookings lab's parts without its processes: its runs become native documents about
bookings-api, and its PostgreSQL server's stderr, shipped line by line as the lab ships it,
reaches premortem as one record per message with the level the line names."""

from __future__ import annotations

import json
from pathlib import Path

from premortem.ingest.native import parse_logs
from premortem.labs.bookings_lab import BOOKINGS, FAULTS
from premortem.labs.postgres import STAMP
from premortem.labs.runner import RunResult, native_document, plan_suite
from premortem.labs.shipping import NativeLogShipper

SECOND = 1_000_000_000

# What the lab's PostgreSQL 15 wrote under lock contention (pids and times from one run).
STDERR = """\
2026-12-05 22:24:20.477 UTC [4343] LOG:  process 4343 still waiting for ShareLock on transaction 1045 after 200.106 ms
2026-12-05 22:24:20.477 UTC [4343] DETAIL:  Process holding the lock: 5536. Wait queue: 4343, 4347.
2026-12-05 22:24:20.477 UTC [4343] CONTEXT:  while locking tuple (0,67) in relation "events"
2026-12-05 22:24:20.477 UTC [4343] STATEMENT:  SELECT seats_sold FROM events WHERE id = $1 FOR UPDATE
2026-12-05 22:24:25.948 UTC [4345] ERROR:  canceling statement due to lock timeout
2026-12-05 22:24:25.948 UTC [4345] CONTEXT:  while locking tuple (0,173) in relation "events"
2026-12-05 22:24:25.948 UTC [4345] STATEMENT:  SELECT seats_sold FROM events WHERE id = $1 FOR UPDATE
"""


def test_a_bookings_suite_plans_both_faults_and_its_runs_are_about_bookings_api() -> None:
    plans = plan_suite(runs_per_fault=2, fault_free=1, seed=3, system=BOOKINGS, pace=2)
    assert sorted(p.fault or "" for p in plans) == ["", *sorted([*FAULTS] * 2)]
    assert all(p.test_id.startswith("bookings-s3-") for p in plans)
    leak = next(p for p in plans if p.fault == "connection_leak")
    result = RunResult(leak, 100 * SECOND, fault_ns=104 * SECOND, ended_ns=120 * SECOND)
    result.failed_probes, result.probes = 3, 30
    doc = native_document(result, seed=3)
    assert doc["service"] == "bookings-api"
    assert doc["actual_outcome"] == "3 of 30 booking probes failed"
    (fault,) = doc["injected_faults"]
    assert (fault["type"], fault["target"], fault["leaks_per_s"]) == (
        "connection_leak",
        "bookings-api",
        0.35,
    ), "a slower pace leaks more slowly"


def test_postgresql_stderr_shipped_line_by_line_is_one_record_per_message(tmp_path: Path) -> None:
    shipper = NativeLogShipper("bookings-db", path=tmp_path / "db.jsonl", flush_interval_s=60)
    for line in STDERR.splitlines():
        stamp = STAMP.match(line)
        assert stamp is not None
        shipper.raw(line, f"{stamp[1]}T{stamp[2]}Z")
    shipper.close()
    sent = [json.loads(line) for line in (tmp_path / "db.jsonl").read_text().splitlines()]
    assert len(sent) == 7 and not any("severity_text" in r for r in sent)
    records = parse_logs(json.dumps(sent), now_ns=0)
    assert [(r.severity_text, r.body.count("\n")) for r in records] == [("INFO", 3), ("ERROR", 2)]
    assert records[0].time_ns == 1796509460477000000
    assert "still waiting for ShareLock" in records[0].body.splitlines()[0]
