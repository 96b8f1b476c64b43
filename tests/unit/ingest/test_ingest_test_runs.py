"""Test-run formats: Chaos Toolkit, Litmus, k6, Locust; and simulation runs."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from premortem.errors import IngestError
from premortem.ingest import TEST_RUN_FORMATS, chaostoolkit, k6, litmus, locust, simulation
from premortem.learn.episodes import fault_start_ns, scored_fault_ns

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ingest"
NOW = 1_714_564_800_000_000_000


def _journal() -> dict[str, Any]:
    journal: dict[str, Any] = orjson.loads((FIXTURES / "ctk-journal-deviated.json").read_bytes())
    return journal


def test_registry_names() -> None:
    assert set(TEST_RUN_FORMATS) == {
        "native",
        "chaostoolkit",
        "litmus",
        "chaosmesh",
        "k6",
        "locust",
    }


# --------------------------------------------------------------------------- Chaos Toolkit


def test_chaostoolkit_deviated_journal() -> None:
    [parsed] = TEST_RUN_FORMATS["chaostoolkit"](
        (FIXTURES / "ctk-journal-deviated.json").read_bytes(), now_ns=NOW
    )
    run, doc = parsed
    assert run.test_id == "checkout-survives-database-latency-20261128T040156Z"
    assert run.failed and run.actual_outcome == "steady state deviated"
    assert [(f.type, f.model_extra["name"]) for f in run.injected_faults] == [  # type: ignore[index]
        ("db_latency", "inject-db-latency"),
        ("process_kill", "kill-worker"),
    ]
    assert run.injected_faults[0].start is not None
    # The after-probe's end is when the test noticed, not when the system failed: premortem finds
    # the onset in the run's logs; the probe's end is kept.
    assert run.failure_time is None
    assert doc["failure_detected_at"] == "2026-11-28T04:01:56.596222Z"
    assert "health-endpoint-ok" in str(run.failure_details)
    assert (run.service, run.environment) == ("checkout", "staging")
    assert run.parameters == {"concurrent_users": 50}
    assert doc["rollbacks"] == [
        {"name": "remove-db-latency", "module": "os.path", "func": "exists", "status": "succeeded"}
    ]
    assert doc["tags"] == ["service:checkout", "env:staging"] and doc["deviated"] is True
    assert orjson.loads(orjson.dumps(doc)) == doc  # JSON-safe, storable as is


def _naive(journal: dict[str, Any]) -> dict[str, Any]:
    """The same journal as older chaoslib wrote it: naive UTC times."""
    text = orjson.dumps(journal).decode().replace("+00:00", "")
    result: dict[str, Any] = orjson.loads(text)
    return result


def test_chaostoolkit_naive_times_are_utc() -> None:
    aware = chaostoolkit.parse(_journal())[0].run
    naive = chaostoolkit.parse(_naive(_journal()))[0].run
    assert aware.timestamp == naive.timestamp
    assert aware.injected_faults[0].start == naive.injected_faults[0].start


def test_chaostoolkit_passing_run() -> None:
    journal = _journal()
    journal["deviated"] = False
    journal["steady_states"]["after"]["steady_state_met"] = True
    for probe in journal["steady_states"]["after"]["probes"]:
        probe["tolerance_met"] = True
    run = chaostoolkit.parse(journal)[0].run
    assert not run.failed and run.failure_time is None


def test_chaostoolkit_before_hypothesis_failed() -> None:
    journal = _journal()
    journal.update(status="failed", deviated=False, run=[])
    journal["steady_states"]["before"]["steady_state_met"] = False
    run = chaostoolkit.parse(journal)[0].run
    assert run.failed and run.actual_outcome == "steady state not met before the method"
    assert run.failure_time is not None, "failing before the method: the failure came first"


def test_chaostoolkit_notifications() -> None:
    journal = _journal()
    completed = {"name": "run-completed", "payload": journal, "phase": "run", "ts": 1.5}
    [parsed] = chaostoolkit.parse(orjson.dumps(completed))
    assert parsed.run.failed
    started = {"name": "run-started", "payload": journal["experiment"], "phase": "run", "ts": 1.0}
    assert chaostoolkit.parse(started) == []
    assert chaostoolkit.journal_from_notification(started) is None


@pytest.mark.parametrize(
    ("name", "provider", "expected"),
    [
        ("inject-db-latency", {}, "db_latency"),
        ("slow-queries", {"func": "add_delay"}, "db_latency"),
        ("x", {"module": "chaosdemo.actions", "func": "add_latency"}, "network_latency"),
        ("burn", {"func": "cpu_burn"}, "cpu_hog"),
        ("kill-worker-3", {}, "process_kill"),
        ("leak-connections", {}, "connection_leak"),
        ("traffic-spike", {}, "load_spike"),
        ("ramp", {"url": "http://svc/admin/load"}, "load_spike"),
        ("Restart Service", {}, "restart_service"),
        ("slow-down-consumers", {}, "slow_down_consumers"),  # slow is no network latency
    ],
)
def test_chaostoolkit_fault_types(name: str, provider: dict[str, Any], expected: str) -> None:
    assert chaostoolkit.fault_type(name, provider) == expected


def test_chaostoolkit_fault_arguments() -> None:
    journal = _journal()
    journal["run"][0]["activity"]["provider"]["arguments"] = {
        "target": "database",
        "latency_ms": 200,
        "duration": 30,
    }
    fault = chaostoolkit.parse(journal)[0].run.injected_faults[0]
    assert (fault.target, fault.value, fault.unit, fault.duration) == ("database", 200, "ms", 30)


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (lambda j: j.pop("experiment"), "/experiment"),
        (lambda j: j["experiment"].pop("title"), "/experiment/title"),
        (lambda j: j.update(experiment={}), "/experiment/title"),
        (lambda j: j.update(start="yesterday"), "/start"),
        (lambda j: j.update(start=None), "/start"),
        (lambda j: j.update(run={}), "/run"),
        (lambda j: j["run"][1].update(start="x"), "/run/1/start"),
    ],
)
def test_chaostoolkit_errors(change: Any, pointer: str) -> None:
    journal = _journal()
    change(journal)
    with pytest.raises(IngestError) as info:
        chaostoolkit.parse(orjson.dumps(journal))
    assert info.value.pointer == pointer


def test_chaostoolkit_list_error_is_indexed() -> None:
    broken = copy.deepcopy(_journal())
    broken["end"] = "later"
    with pytest.raises(IngestError) as info:
        chaostoolkit.parse([_journal(), broken])
    assert info.value.pointer == "/1/end"


def test_chaostoolkit_names_every_error() -> None:
    first = copy.deepcopy(_journal())
    first["experiment"].pop("title")
    first["start"] = "yesterday"
    second = copy.deepcopy(_journal())
    second["end"] = "later"
    with pytest.raises(IngestError) as info:
        chaostoolkit.parse([first, second])
    assert [e.pointer for e in info.value.errors] == ["/0/experiment/title", "/0/start", "/1/end"]


# --------------------------------------------------------------------------- Litmus


def test_litmus_chaosresult() -> None:
    [parsed] = litmus.parse((FIXTURES / "litmus-chaosresult.json").read_bytes(), now_ns=NOW)
    run = parsed.run
    assert run.test_id == "litmus-prod-checkout-chaos-pod-network-latency-3f2a9c1e"
    assert run.failed and run.fault_types == ["network_latency"] and run.service == "checkout"
    assert "p99 above 500ms" in str(run.failure_details)
    # What the probes measured is an outcome (results), never a load condition (parameters).
    assert run.parameters == {} and parsed.doc["results"] == {"probe_success_percentage": 50}


def _chaosresult() -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads((FIXTURES / "litmus-chaosresult.json").read_bytes())
    return doc


def test_litmus_annotations_say_what_the_object_cannot() -> None:
    doc = _chaosresult()
    doc["metadata"]["annotations"] = {
        "premortem.dev/ended-at": "2024-05-01T12:01:30Z",
        "premortem.dev/services": "checkout, payments",
        "litmuschaos.io/other": "kept out",
    }
    run = litmus.parse(doc, now_ns=NOW)[0].run
    assert run.ended_at is not None and run.ended_at.isoformat().startswith("2024-05-01T12:01:30")
    assert run.services == ["checkout", "payments"]


def test_litmus_fault_start_annotation_times_the_fault_and_scoring_falls_back_to_the_start() -> (
    None
):
    # A ChaosResult says which experiment ran, not when it injected: without a start, trial 19's
    # failures 35-64 s after their faults never counted as delayed (2 of 6 did, Chaos Mesh's).
    doc = _chaosresult()
    bare = litmus.parse(doc, now_ns=NOW)[0].run
    assert [f.start for f in bare.injected_faults] == [None]
    assert scored_fault_ns(bare) == int(bare.timestamp.timestamp() * 1e9)
    doc["metadata"]["annotations"] = {"premortem.dev/fault-start": "2024-05-01T12:00:20Z"}
    timed = litmus.parse(doc, now_ns=NOW)[0].run
    assert scored_fault_ns(timed) == fault_start_ns(timed)
    assert (
        fault_start_ns(timed)
        == int(datetime(2024, 5, 1, 12, 0, 20, tzinfo=UTC).timestamp()) * 10**9
    )


@pytest.mark.parametrize(
    ("change", "pointer", "says"),
    [
        # A native field next to spec was dropped without a word; now it says where it goes.
        (lambda d: d.update(ended_at="2024-05-01T12:01:30Z"), "/ended_at", "premortem.dev/ended-at"),
        (lambda d: d["metadata"].update(annotations={"premortem.dev/ended_at": "x"}),
         "/metadata/annotations/premortem.dev~1ended_at", "premortem.dev/ended-at"),
        (lambda d: d["metadata"].update(annotations={"premortem.dev/duration-s": "long"}),
         "/metadata/annotations/premortem.dev~1duration-s", "seconds"),
    ],
)  # fmt: skip
def test_litmus_refuses_fields_it_would_drop(change: Any, pointer: str, says: str) -> None:
    doc = _chaosresult()
    change(doc)
    with pytest.raises(IngestError) as info:
        litmus.parse(doc, now_ns=NOW)
    assert info.value.pointer == pointer
    assert says in info.value.message


def test_litmus_result_service_from_its_target_or_app_label() -> None:
    doc = _chaosresult()
    doc["metadata"]["labels"] = {"app.kubernetes.io/name": "search-api"}
    assert litmus.parse(doc, now_ns=NOW)[0].run.service == "search-api"
    doc["status"]["history"]["targets"] = [{"name": "search-indexer", "kind": "deployment"}]
    assert litmus.parse(doc, now_ns=NOW)[0].run.service == "search-indexer"


def test_litmus_result_sent_with_its_engine_completes_the_engine_run() -> None:
    engine = orjson.loads((FIXTURES / "litmus-chaosengine.json").read_bytes())
    result = _chaosresult()
    result["status"]["experimentStatus"]["verdict"] = "Fail"
    latency, cpu = litmus.parse({"kind": "List", "items": [engine, result]}, now_ns=NOW)
    # One run per experiment (not a third for the result), under the engine's id, with the
    # engine's fault values and the result's outcome.
    assert latency.run.test_id == "litmus-prod-checkout-chaos-pod-network-latency-9b8c7d6e"
    assert latency.run.injected_faults[0].value == 2000 and latency.run.service == "checkout"
    assert "p99 above 500ms" in str(latency.run.failure_details)
    assert latency.doc["results"] == {"probe_success_percentage": 50}
    assert cpu.run.test_id.endswith("pod-cpu-hog-9b8c7d6e") and not cpu.run.failed


def test_litmus_engine_of_one_experiment_runs_for_its_chaos_duration() -> None:
    engine = orjson.loads((FIXTURES / "litmus-chaosengine.json").read_bytes())
    assert all(p.run.duration_s is None for p in litmus.parse(engine, now_ns=NOW))
    engine["spec"]["experiments"] = engine["spec"]["experiments"][:1]
    [only] = litmus.parse(engine, now_ns=NOW)
    assert only.run.duration_s == 60


def test_litmus_awaited_has_no_outcome_yet() -> None:
    doc = orjson.loads((FIXTURES / "litmus-chaosresult.json").read_bytes())
    doc["status"]["experimentStatus"].update(verdict="Awaited", probeSuccessPercentage="Awaited")
    run = litmus.parse(doc, now_ns=NOW)[0].run
    assert run.actual_outcome is None and not run.failed


def test_litmus_chaosengine() -> None:
    latency, cpu = litmus.parse((FIXTURES / "litmus-chaosengine.json").read_bytes(), now_ns=NOW)
    fault = latency.run.injected_faults[0]
    assert (fault.type, fault.value, fault.unit, fault.duration, fault.target) == (
        "network_latency",
        2000,
        "ms",
        60,
        "checkout",
    )
    assert latency.run.failed and latency.run.failure_time is None  # the logs say when
    assert latency.doc["failure_detected_at"] is not None
    assert not cpu.run.failed and cpu.run.injected_faults[0].unit == "cores"


@pytest.mark.parametrize(
    ("doc", "pointer"),
    [
        ({"kind": "Pod"}, "/kind"),
        ({"kind": "ChaosResult", "metadata": {}}, "/metadata/name"),
        ({"kind": "ChaosResult", "metadata": {"name": "x", "creationTimestamp": "nope"}},
         "/metadata/creationTimestamp"),
        ({"kind": "List", "items": [{"kind": "ChaosEngine", "metadata": {"name": "e"},
          "spec": {"experiments": [{"spec": {}}]}}]}, "/items/0/spec/experiments/0/name"),
        ([{"kind": "ChaosResult", "metadata": {"name": "x"}, "status": []}], "/0/status"),
    ],
)  # fmt: skip
def test_litmus_errors(doc: Any, pointer: str) -> None:
    with pytest.raises(IngestError) as info:
        litmus.parse(orjson.dumps(doc), now_ns=NOW)
    assert info.value.pointer == pointer


# --------------------------------------------------------------------------- k6


def test_k6_summary() -> None:
    [parsed] = k6.parse((FIXTURES / "k6-summary.json").read_bytes(), now_ns=NOW)
    run = parsed.run
    assert (run.test_id, run.service) == ("k6-checkout-1", "checkout")
    assert run.failed and "http_req_duration p(95)<500" in str(run.actual_outcome)
    # the load given is a parameter; what the run measured is its results, never a load condition
    assert run.parameters == {"concurrent_users": 10, "duration_s": 30.018}
    results = parsed.doc["results"]
    assert results["request_rate"] == 9.99 and results["error_rate"] == 0.01
    assert parsed.doc["thresholds"] == {
        "http_req_duration: p(95)<500": False,
        "http_req_failed: rate<0.05": True,
    }


def test_k6_without_setup_data_uses_content_id_and_now() -> None:
    doc = orjson.loads((FIXTURES / "k6-summary.json").read_bytes())
    del doc["setup_data"]
    doc["metrics"]["http_req_duration"]["thresholds"]["p(95)<500"]["ok"] = True
    first = k6.parse(doc, now_ns=NOW)[0].run
    assert first.test_id.startswith("k6-") and not first.failed
    assert first.test_id == k6.parse(orjson.dumps(doc), now_ns=NOW)[0].run.test_id


@pytest.mark.parametrize(
    ("doc", "pointer"),
    [
        ({}, "/metrics"),
        ({"metrics": {"x": 1}}, "/metrics/x"),
        ({"metrics": {"x": {"values": []}}}, "/metrics/x/values"),
        ({"metrics": {"x": {"values": {}, "thresholds": []}}}, "/metrics/x/thresholds"),
        ({"metrics": {}, "setup_data": {"timestamp": "when"}}, "/setup_data/timestamp"),
    ],
)
def test_k6_errors(doc: Any, pointer: str) -> None:
    with pytest.raises(IngestError) as info:
        k6.parse(orjson.dumps(doc), now_ns=NOW)
    assert info.value.pointer == pointer


# --------------------------------------------------------------------------- Locust


def test_locust_csv() -> None:
    stats = (FIXTURES / "locust_stats.csv").read_bytes()
    failures = (FIXTURES / "locust_failures.csv").read_bytes()
    [parsed] = locust.parse(stats, now_ns=NOW, failures=failures)
    run = parsed.run
    assert run.failed and run.actual_outcome == "12 of 1000 requests failed (1.2%)"
    assert run.failure_details == "GET /checkout: ConnectionError('pool exhausted') x12"
    assert run.parameters == {}  # measured, not given: results, never a load condition
    assert parsed.doc["results"]["response_time_p99_ms"] == 1400
    assert parsed.doc["results"]["failed_requests"] == 12
    assert run.timestamp.timestamp() == NOW / 1e9
    assert len(parsed.doc["endpoints"]) == 2


def test_locust_json_wrapper_and_pass() -> None:
    stats = (FIXTURES / "locust_stats.csv").read_text().replace(",12,", ",0,")
    body = {"stats": stats, "test_id": "load-1", "service": "checkout",
            "timestamp": "2024-05-01T12:00:00Z"}  # fmt: skip
    run = locust.parse(orjson.dumps(body), now_ns=0)[0].run
    assert (run.test_id, run.service, run.failed) == ("load-1", "checkout", False)


def test_the_locust_wrapper_carries_the_fault_the_run_injected() -> None:
    """CSV files cannot say which fault a run injected, or when: the wrapper takes the native
    run's fields (a trial's `injected_faults` and `ended_at` were dropped without a word)."""
    body = {
        "stats": (FIXTURES / "locust_stats.csv").read_text(), "test_id": "lock-1",
        "timestamp": "2024-05-01T12:00:00Z", "ended_at": "2024-05-01T12:01:10Z",
        "parameters": {"users": 6},
        "injected_faults": [{"type": "db_lock_contention", "start": "2024-05-01T12:00:10Z"}],
    }  # fmt: skip
    run = locust.parse(orjson.dumps(body), now_ns=0)[0].run
    assert [f.type for f in run.injected_faults] == ["db_lock_contention"]
    assert run.ended_at is not None and run.parameters == {"users": 6}
    with pytest.raises(IngestError) as info:
        locust.parse(orjson.dumps({**body, "dry_run": 1}), now_ns=0)
    assert info.value.pointer == "/dry_run" and "unknown key" in info.value.message


@pytest.mark.parametrize(
    ("stats", "pointer"),
    [
        ("Type,Name\nGET,/x\n", "/stats/0"),
        ("Type,Name,Request Count,Failure Count\nGET,/x,1,0\n", "/stats"),
        ("Type,Name,Request Count,Failure Count\n,Aggregated,lots,0\n", "/stats/1/Request Count"),
    ],
)
def test_locust_errors(stats: str, pointer: str) -> None:
    with pytest.raises(IngestError) as info:
        locust.parse(stats, now_ns=NOW)
    assert info.value.pointer == pointer


def test_locust_wrapper_needs_stats() -> None:
    with pytest.raises(IngestError) as info:
        locust.parse(b'{"failures": ""}', now_ns=NOW)
    assert info.value.pointer == "/stats"


@pytest.mark.parametrize("more", [{}, {"ended_at": "2024-05-01T12:01:10Z"}])
def test_the_locust_wrapper_needs_the_runs_start(more: dict[str, str]) -> None:
    # Without it a trial's run was stored as starting when it was posted, after its own fault
    # (or refused over `ended_at` with no pointer).
    body = {"stats": (FIXTURES / "locust_stats.csv").read_text(), "test_id": "x", **more}
    with pytest.raises(IngestError) as info:
        locust.parse(orjson.dumps(body), now_ns=NOW)
    assert info.value.pointer == "/timestamp" and "when the run started" in info.value.message
    run = locust.parse(orjson.dumps({**body, "timestamp": "2024-05-01T12:00:00Z"}), now_ns=0)
    assert run[0].doc["results"]["failures_per_s"] == 0.2  # per second, not a share


# --------------------------------------------------------------------------- simulation


def test_simulation_fixture() -> None:
    [run] = simulation.parse((FIXTURES / "simulation-run.json").read_bytes())
    assert run.simulation_id == "pool-sim-001"
    series = run.series_named("pool_utilisation")
    assert series is not None and series.values[-1] == 1.0


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (lambda d: d.pop("model"), "/model"),
        (lambda d: d.update(started_at="soon"), "/started_at"),
        (lambda d: d["series"][1].update(values=[1]), "/series/1"),
        (lambda d: d["series"][0]["values"].__setitem__(2, "x"), "/series/0/values/2"),
        (lambda d: d["events"][0].update(time=-1), "/events/0/time"),
        (lambda d: d.update(unknown=1), "/unknown"),
    ],
)
def test_simulation_errors(change: Any, pointer: str) -> None:
    doc = orjson.loads((FIXTURES / "simulation-run.json").read_bytes())
    change(doc)
    with pytest.raises(IngestError) as info:
        simulation.parse(orjson.dumps(doc))
    assert info.value.pointer == pointer
    with pytest.raises(IngestError) as in_batch:
        simulation.parse(orjson.dumps([doc]))
    assert in_batch.value.pointer == "/0" + pointer


def test_a_failing_http_probe_is_described_by_its_status_and_body_not_its_headers() -> None:
    import json as _json

    from premortem.ingest import chaostoolkit

    journal = _json.loads(
        (
            Path(__file__).parents[2] / "fixtures" / "ingest" / "ctk-journal-deviated.json"
        ).read_text()
    )
    probe = journal["steady_states"]["after"]["probes"][0]
    probe["output"] = {
        "status": 503,
        "headers": {"Server": "BaseHTTP/0.6", "Date": "Sat, 28 Nov 2026 04:00:00 GMT"},
        "body": '{"error": "connection pool exhausted"}',
    }
    details = chaostoolkit.parse(_json.dumps(journal).encode())[0].run.failure_details
    assert isinstance(details, str)
    assert "status 503" in details and "connection pool exhausted" in details
    assert "BaseHTTP" not in details
