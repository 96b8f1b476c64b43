"""One conformance suite for the input store: the in-memory twin, SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from premortem.domain import Event, LogRecord, Series, SimulationRun, TestRun
from premortem.errors import NotFound
from premortem.ports import (
    EventQuery,
    InputStore,
    LogQuery,
    SimulationQuery,
    StoredTestRun,
    TestRunQuery,
)
from premortem.store.engine import make_engine, migrate
from premortem.store.inputs import SqlInputStore
from premortem.testing import MemoryInputStore

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000_000_000
SECOND = 1_000_000_000


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InputStore]:
    if request.param == "memory":
        yield MemoryInputStore()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    migrate(engine)
    sql = SqlInputStore(engine)
    if request.param == "postgresql":
        with engine.begin() as conn:
            for table in ("test_run_faults", "test_runs", "simulations", "logs", "events"):
                conn.exec_driver_sql(f"DELETE FROM {table}")
    yield sql
    engine.dispose()


def run(test_id: str, *, minute: int, failed: bool, faults: list[str]) -> StoredTestRun:
    doc = {
        "test_id": test_id,
        "timestamp": f"2024-05-01T12:{minute:02d}:00Z",
        "parameters": {"request_rate": 100 * (minute + 1)},
        "injected_faults": [{"type": f, "duration": 30} for f in faults],
        "expected_outcome": "healthy",
        "actual_outcome": "degraded" if failed else "healthy",
        "service": "checkout",
        "custom_label": {"kept": True},
    }
    return StoredTestRun(TestRun.model_validate(doc), doc)


def test_test_runs_round_trip_and_filter(store: InputStore) -> None:
    runs = [
        run("a", minute=0, failed=True, faults=["network_latency", "cpu_hog"]),
        run("b", minute=1, failed=False, faults=["cpu_hog"]),
        run("c", minute=2, failed=True, faults=["process_kill"]),
    ]
    assert store.add_test_runs(runs) == 3
    assert store.get_test_run("a").doc == runs[0].doc
    assert store.get_test_run("a").run.failed
    cpu = store.list_test_runs(TestRunQuery(fault_type="cpu_hog"))
    assert sorted(s.run.test_id for s in cpu.items) == ["a", "b"] and cpu.total == 2
    failed = store.list_test_runs(TestRunQuery(outcome="fail"))
    assert [s.run.test_id for s in failed.items] == ["c", "a"]
    since = datetime(2024, 5, 1, 12, 1, tzinfo=UTC).timestamp() * 1e9
    later = store.list_test_runs(TestRunQuery(since_ns=int(since)))
    assert {s.run.test_id for s in later.items} == {"b", "c"}
    page = store.list_test_runs(TestRunQuery(limit=1, offset=1))
    assert page.total == 3 and [s.run.test_id for s in page.items] == ["b"]
    oldest = store.list_test_runs(TestRunQuery(limit=2, newest_first=False))
    assert [s.run.test_id for s in oldest.items] == ["a", "b"]
    sent_at = time.time_ns()
    store.add_test_runs([run("b", minute=1, failed=True, faults=["cpu_hog"])])
    again = store.list_test_runs(TestRunQuery(received_since_ns=sent_at))
    assert [s.run.test_id for s in again.items] == ["b"], "only what was sent since"


def test_resending_a_test_run_replaces_it(store: InputStore) -> None:
    store.add_test_runs([run("a", minute=0, failed=True, faults=["cpu_hog"])])
    store.add_test_runs([run("a", minute=0, failed=False, faults=["process_kill"])])
    assert store.counts()["test_runs"] == 1
    assert store.list_test_runs(TestRunQuery(fault_type="cpu_hog")).total == 0
    assert not store.get_test_run("a").run.failed


def test_a_deleted_run_is_gone_with_its_faults(store: InputStore) -> None:
    store.add_test_runs([run("a", minute=0, failed=True, faults=["cpu_hog"])])
    store.add_test_runs([run("b", minute=1, failed=False, faults=[])])
    store.delete_test_run("a")
    assert [s.run.test_id for s in store.list_test_runs(TestRunQuery()).items] == ["b"]
    assert store.list_test_runs(TestRunQuery(fault_type="cpu_hog")).total == 0
    with pytest.raises(NotFound):
        store.get_test_run("a")
    with pytest.raises(NotFound):
        store.delete_test_run("a")


def test_a_run_sent_twice_in_one_batch_keeps_the_last(store: InputStore) -> None:
    first = run("a", minute=0, failed=True, faults=["cpu_hog", "latency"])
    last = run("a", minute=0, failed=False, faults=["process_kill"])
    assert store.add_test_runs([first, last]) == 1
    assert not store.get_test_run("a").run.failed
    assert store.list_test_runs(TestRunQuery(fault_type="process_kill")).total == 1
    assert store.list_test_runs(TestRunQuery(fault_type="latency")).total == 0


def test_two_writers_of_one_run_take_turns(store: InputStore) -> None:
    """Two requests resending the same run at once (a retry while the first is in flight): both
    succeed and one run with its faults stays (delete-then-insert failed on PostgreSQL)."""
    import threading

    failures: list[BaseException] = []
    barrier = threading.Barrier(2)

    def send(faults: list[str]) -> None:
        for _ in range(20):
            barrier.wait()
            try:
                store.add_test_runs([run("a", minute=0, failed=True, faults=faults)])
            except BaseException as exc:
                failures.append(exc)

    threads = [
        threading.Thread(target=send, args=(faults,))
        for faults in (["cpu_hog", "latency"], ["cpu_hog", "latency"])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[0]
    assert store.counts()["test_runs"] == 1
    assert store.list_test_runs(TestRunQuery(fault_type="latency")).total == 1


def test_missing_records_raise_not_found(store: InputStore) -> None:
    with pytest.raises(NotFound):
        store.get_test_run("nope")
    with pytest.raises(NotFound):
        store.get_simulation("nope")


def test_logs_are_idempotent_and_filtered(store: InputStore) -> None:
    records = [
        LogRecord(time_ns=T0 + i * SECOND, body=f"request {i} ok", service="api", template_id=1)
        for i in range(10)
    ]
    records.append(
        LogRecord(
            time_ns=T0 + 5 * SECOND,
            body="db <timeout> 100% 'quoted'",
            service="db",
            severity_number=17,
            severity_text="ERROR",
            attributes={"k": "v"},
            trace_id="5b8efff798038103d269b633813fc60c",
        )
    )
    assert store.add_logs(records) == 11
    assert store.add_logs(records) == 0  # a re-sent batch is not stored twice
    assert store.counts()["logs"] == 11
    api = store.list_logs(LogQuery(service="api", limit=3))
    assert api.total == 10 and [r.body for r in api.items] == [f"request {i} ok" for i in (9, 8, 7)]
    window = store.list_logs(LogQuery(since_ns=T0 + 2 * SECOND, until_ns=T0 + 4 * SECOND))
    assert window.total == 2
    text = store.list_logs(LogQuery(text="100%"))
    assert [r.body for r in text.items] == ["db <timeout> 100% 'quoted'"]
    assert text.items[0].attributes == {"k": "v"} and text.items[0].is_error
    assert store.list_logs(LogQuery(text="100_")).total == 0  # wildcards are literal
    assert store.list_logs(LogQuery(min_severity=17)).total == 1
    assert store.list_logs(LogQuery(template_id=1)).total == 10


def test_a_batch_partly_stored_before_keeps_what_is_new(store: InputStore) -> None:
    """A retry that overlaps what was stored (and a record twice in one batch) is kept once."""
    first = [
        LogRecord(time_ns=T0 + i * SECOND, body=f"job {i} done", service="w") for i in range(4)
    ]
    assert store.add_logs(first) == 4
    later = [
        LogRecord(time_ns=T0 + i * SECOND, body=f"job {i} done", service="w") for i in range(2, 7)
    ]
    assert store.add_logs([*later, later[-1]]) == 3
    assert store.counts()["logs"] == 7
    assert store.add_logs(first[:1] + later[-1:]) == 0


def test_events_round_trip(store: InputStore) -> None:
    events = [
        Event(time_ns=T0, type="deploy", source="/ci", service="api", data={"version": "1.2"}),
        Event(time_ns=T0 + SECOND, type="config_change", source="/ci", service="api"),
        Event(time_ns=T0 + 2 * SECOND, type="k8s.BackOff", source="kubelet", service="db"),
    ]
    assert store.add_events(events) == 3
    assert store.add_events(events[:1]) == 0
    api = store.list_events(EventQuery(service="api"))
    assert [e.type for e in api.items] == ["config_change", "deploy"]
    assert api.items[1].data == {"version": "1.2"}
    assert store.list_events(EventQuery(type="k8s.BackOff")).total == 1


def test_simulations_round_trip(store: InputStore) -> None:
    sim = SimulationRun(
        simulation_id="sim-1",
        model="connection_pool",
        parameters={"pool_size": 10},
        started_at=datetime(2024, 5, 1, tzinfo=UTC),
        service="api",
        series=[
            Series(name="pool_utilisation", unit="ratio", timestamps=[0, 1], values=[0.5, 0.95])
        ],
    )
    assert store.add_simulations([sim]) == 1
    assert store.get_simulation("sim-1") == sim
    assert store.list_simulations(SimulationQuery(service="api")).total == 1
    assert store.list_simulations(SimulationQuery(model="other")).total == 0
