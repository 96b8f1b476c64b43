"""The inventory lab's parts without its processes: row locks really wait and log like
PostgreSQL, the cache runs out of memory as a heap would, and runs become native documents."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from premortem.ingest.native import parse_test_runs
from premortem.labs.cache import MIB, OutOfMemory, PriceCache
from premortem.labs.inventory import Inventory, Supplier
from premortem.labs.locks import LockTimeout, RowLocks
from premortem.labs.runner import (
    FAULTS,
    PlannedRun,
    RunResult,
    fault_body,
    native_document,
    plan_suite,
)

SECOND = 1_000_000_000


def test_a_held_row_makes_the_next_statement_wait_and_the_wait_is_logged_as_postgresql_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    locks = RowLocks(deadlock_timeout_s=0.05, lock_timeout_s=2.0)
    holder = locks.begin()
    locks.lock(holder, "SKU-0001", "restock")
    threading.Timer(0.2, locks.end, args=(holder,)).start()
    waiter = locks.begin()
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="inventory.db"):
        locks.lock(waiter, "SKU-0001", "UPDATE stock SET reserved = reserved + 1")
    locks.end(waiter)
    assert time.monotonic() - started >= 0.15
    severities = [getattr(r, "severity", "") for r in caplog.records]
    assert severities == ["LOG", "LOG"]
    waiting, acquired = (r.getMessage() for r in caplog.records)
    assert "still waiting for ShareLock" in waiting and "\nDETAIL:  Process holding" in waiting
    assert "\nSTATEMENT:  UPDATE stock" in waiting
    assert f"acquired ShareLock on transaction {holder.xid}" in acquired


def test_a_wait_longer_than_the_lock_timeout_cancels_the_statement(
    caplog: pytest.LogCaptureFixture,
) -> None:
    locks = RowLocks(deadlock_timeout_s=0.02, lock_timeout_s=0.1)
    locks.lock(locks.begin(), "SKU-0002", "restock")
    with caplog.at_level(logging.INFO, logger="inventory.db"), pytest.raises(LockTimeout):
        locks.lock(locks.begin(), "SKU-0002", "UPDATE stock")
    last = caplog.records[-1]
    assert getattr(last, "severity", "") == "ERROR"
    assert last.getMessage().startswith("canceling statement due to lock timeout")


def test_the_cache_evicts_within_its_budget_and_fails_allocations_past_the_heap_limit() -> None:
    cache = PriceCache(heap_limit_bytes=4 * MIB, budget_bytes=1 * MIB)
    for n in range(64):
        cache.put(f"k{n}", 64 * 1024)
    assert cache.used_bytes <= 1 * MIB
    cache.evicting = False
    with pytest.raises(OutOfMemory):
        for n in range(100):
            cache.put(f"leak{n}", 256 * 1024)
    with pytest.raises(OutOfMemory):  # replacing an entry allocates before the old one is freed
        cache.put("leak0", 256 * 1024)
    assert cache.drop_all() > 0 and cache.used_bytes == 0


def test_a_suite_plan_is_seeded_and_holds_every_fault_and_the_fault_free_runs() -> None:
    plan = plan_suite(runs_per_fault=2, fault_free=3, seed=7)
    assert plan == plan_suite(runs_per_fault=2, fault_free=3, seed=7)
    kinds = [p.fault for p in plan]
    assert all(kinds.count(f) == 2 for f in FAULTS) and kinds.count(None) == 3
    assert all(3.0 <= p.offset_s <= 6.0 for p in plan)
    assert len({p.test_id for p in plan}) == len(plan)


def test_a_failed_run_is_a_native_test_run_without_failure_time() -> None:
    start = 1_800_000_000 * SECOND
    result = RunResult(
        PlannedRun("lab-1", "lock_contention", 4.0, 14.0),
        started_ns=start,
        fault_ns=start + 4 * SECOND,
        failure_ns=start + 11 * SECOND,
        failure_seen="probe POST /api/checkout answered 503: could not reserve stock",
        ended_ns=start + 15 * SECOND,
        probes=30,
        failed_probes=2,
    )
    doc = native_document(result, seed=1)
    assert "failure_time" not in doc
    (parsed,) = parse_test_runs(doc)
    run = parsed.run
    assert run.failed and run.failure_time is None
    assert doc["duration_s"] == 15.0 and "duration_s" not in run.parameters
    assert [f.type for f in run.injected_faults] == ["lock_contention"]
    assert run.injected_faults[0].target == "inventory-db"
    assert doc["failure_details"] == result.failure_seen


def test_a_fault_free_run_passes() -> None:
    start = 1_800_000_000 * SECOND
    result = RunResult(PlannedRun("lab-2", None, 4.0, 14.0), start, ended_ns=start + 14 * SECOND)
    (parsed,) = parse_test_runs(native_document(result, seed=1))
    assert not parsed.run.failed and not parsed.run.injected_faults


def test_a_slower_pace_slows_every_ramp_and_moves_faults_further_into_their_runs() -> None:
    plan = plan_suite(runs_per_fault=2, fault_free=2, seed=7, pace=10)
    assert all(9.0 <= p.offset_s <= 18.0 and p.pace == 10 for p in plan)
    assert all(36.0 <= p.length_s <= 48.0 for p in plan)
    lock = fault_body(FAULTS["lock_contention"], 10)
    assert lock == {"hold_s": 0.3, "ramp_s_per_s": 0.035, "rows": 8}
    assert fault_body(FAULTS["slow_dependency"], 10)["ramp_ms_per_s"] == 11
    assert fault_body(FAULTS["memory_pressure"], 10) == {"mib_per_s": 0.5}
    assert fault_body(FAULTS["memory_pressure"], 1) == {"mib_per_s": 5}  # pace 1: as it was
    result = RunResult(PlannedRun("lab-1", "memory_pressure", 12.0, 40.0, pace=10), 0, 10)
    assert native_document(result, seed=1)["injected_faults"][0]["mib_per_s"] == 0.5
    with pytest.raises(ValueError, match="pace"):
        plan_suite(runs_per_fault=1, fault_free=1, seed=7, pace=0.5)


def test_a_clients_mistake_is_rejected_with_an_error_line_and_no_work(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = Inventory(tmp_path / "inventory.db", Supplier("http://127.0.0.1:9"))  # never called
    with caplog.at_level(logging.ERROR, logger="com.acme.inventory"):
        assert app.checkout("SKU-0003", 0)[0] == 422
        assert app.checkout("SKU-9999", 1)[0] == 404
    assert [r.getMessage() for r in caplog.records] == [
        "checkout rejected: quantity 0 is not valid (sku=SKU-0003)",
        "checkout rejected: unknown sku SKU-9999 (sku=SKU-9999)",
    ]
