"""NUL and lone surrogates: stored as U+FFFD on SQLite and PostgreSQL alike, never an error.

PostgreSQL refuses both (issue 13, item 2); a batch holding one used to fail whole with a 500.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from premortem.domain import Event, FailureMode, LogRecord, TestRun
from premortem.ports import EventQuery, LogQuery, StoredTestRun, TestRunQuery
from premortem.store.inputs import SqlInputStore
from premortem.store.modes import SqlModeRepository

pytestmark = pytest.mark.integration

T0 = 1_714_564_800_000_000_000
R = "\ufffd"


def test_logs_with_nul_are_stored_with_the_replacement_character(sql_engine: Engine) -> None:
    store = SqlInputStore(sql_engine)
    records = [
        LogRecord(
            time_ns=T0,
            body="a\x00b",
            service="svc\x00",
            severity_text="ERR\x00",
            attributes={"k\x00": "v\x00", "nested": {"x": ["\x00", "\ud800"]}},
            resource={"host": "h\x00"},
        ),
        LogRecord(time_ns=T0 + 1, body="lone \ud800 surrogate", service="svc\x00"),
    ]
    assert store.add_logs(records) == 2
    assert store.add_logs(records) == 0  # ids come from the text as sent: a re-send is recognised
    page = store.list_logs(LogQuery(service="svc\x00", newest_first=False))
    assert page.total == 2
    first, second = page.items
    assert (first.body, first.service, first.severity_text) == (f"a{R}b", f"svc{R}", f"ERR{R}")
    assert first.attributes == {f"k{R}": f"v{R}", "nested": {"x": [R, R]}}
    assert first.resource == {"host": f"h{R}"}
    assert second.body == f"lone {R} surrogate"
    assert store.list_logs(LogQuery(text="a\x00b")).total == 1  # a query sees what is stored


def test_events_and_test_runs_with_nul(sql_engine: Engine) -> None:
    store = SqlInputStore(sql_engine)
    event = Event(
        time_ns=T0,
        type="deploy\x00",
        source="ci\x00",
        subject="s\x00",
        service="api\x00",
        attributes={"a\x00": "b\ud800"},
        data={"text": "x\x00y", "list": ["\x00"]},
    )
    assert store.add_events([event]) == 1
    stored = store.list_events(EventQuery(type="deploy\x00")).items
    assert [(e.type, e.source, e.service) for e in stored] == [(f"deploy{R}", f"ci{R}", f"api{R}")]
    assert stored[0].data == {"text": f"x{R}y", "list": [R]}
    assert stored[0].attributes == {f"a{R}": f"b{R}"}

    doc: dict[str, object] = {"test_id": "run\x00", "timestamp": "2024-05-01T12:00:00Z"}
    doc |= {"notes": "\x00", "service": "svc\x00", "injected_faults": [{"type": "cpu\x00hog"}]}
    run = StoredTestRun(TestRun.model_validate(doc), doc)
    assert store.add_test_runs([run]) == 1
    got = store.get_test_run("run\x00")
    assert got.doc["notes"] == R and got.run.test_id == f"run{R}"
    assert store.list_test_runs(TestRunQuery(fault_type="cpu\x00hog")).total == 1


def test_any_repository_binds_storable_text(sql_engine: Engine) -> None:
    modes = SqlModeRepository(sql_engine)
    mode = FailureMode(
        id="m\x00", name="pool\x00", manifestation={"k": "\x00", "s": "\ud800"}, service="db"
    )
    modes.save_mode(mode, change="created\x00")
    got = modes.get_mode("m\x00")
    assert got.id == f"m{R}" and got.name == f"pool{R}"
    assert got.manifestation == {"k": R, "s": R}
