"""Scale-out (issue 14): `premortem serve` publishes to NATS JetStream, `premortem worker`
processes mine, store and analyse; PostgreSQL is the one store.

Against the real nats-server (127.0.0.1:4222; PREMORTEM_TEST_NATS_URL overrides) and PostgreSQL:
unreachable, the test fails, never skips. 200,000 records go through the server to two
workers; one worker is killed with SIGKILL mid-run and started again. Every record the server
answered 2xx for is stored exactly once, and the store holds what a single-process run (the
embedded default on SQLite, same model, same batches) finds: every record's template, the same
anomalies and the same predictions.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, text

from premortem.config import Settings
from premortem.domain import LogRecord
from premortem.examples import load_seed_example, load_seed_logs
from premortem.ingest import native
from premortem.learn.model import train
from premortem.runtime.assembly import build_runtime
from premortem.store.engine import make_engine, migrate
from premortem.store.models import SqlModelRepository
from premortem_serving import PremortemProcess, WorkerProcess

pytestmark = pytest.mark.integration

NATS_URL = os.environ.get("PREMORTEM_TEST_NATS_URL", "nats://127.0.0.1:4222")
RECORDS = 200_000
BATCH = 1000
SERVICES = [f"svc-{name}" for name in ("api", "auth", "cart", "db", "mail", "pay", "queue", "web")]
VERBS = ["GET", "POST", "PUT", "DELETE"]
BASE_NS = 1_790_000_000 * 10**9
SPACING_NS = 10_000_000  # 2,000 s of stream: evidence (300 s) expires between incidents
INCIDENT_EVERY, INCIDENT_AT, INCIDENT_LINES = 40_000, 20_000, 40


def _records() -> Iterator[dict[str, object]]:
    """Shipper-like lines, one service per batch (a shipper per source): a few shapes with
    varying ids, users and durations, and every 400 s an incident — a burst of a new error —
    that the detectors and the predictor see (twice before the kill, three times after)."""
    for n in range(RECORDS):
        service = SERVICES[(n // BATCH) % len(SERVICES)]
        shape = n % 5
        severity = "WARN" if shape == 4 else "INFO"
        if INCIDENT_AT <= n % INCIDENT_EVERY < INCIDENT_AT + INCIDENT_LINES:
            body = f"disk quota exceeded on volume vol-{n % 7} with {n % 30} retries left"
            severity = "ERROR"
        elif shape == 0:
            body = f"{VERBS[n % 4]} /v1/items/{n % 977} from user{n % 131} took {n % 89} ms"
        elif shape == 1:
            body = f"connection pool at {n % 40}/40 connections, {n % 7} waiting"
        elif shape == 2:
            body = f"cache miss for key session:{n:08x} in region r{n % 3}"
        elif shape == 3:
            body = f"worker {n % 16} finished job {n} in {n % 1000} ms with status ok"
        else:
            body = f"retrying upstream call to {SERVICES[(n + 3) % len(SERVICES)]} attempt {n % 4}"
        yield {
            "timestamp": BASE_NS + n * SPACING_NS,
            "service": service,
            "severity_text": severity,
            "body": body,
        }


def _batches() -> list[list[dict[str, object]]]:
    records = list(_records())
    return [records[i : i + BATCH] for i in range(0, len(records), BATCH)]


def _seed_model() -> bytes:
    """A learned model to predict with: the bundled seed example (its failure followed new
    warnings and errors, so the stream's WARN lines and incidents are evidence)."""
    runs = [stored.run for stored in load_seed_example()]
    return train(runs, {runs[0].test_id: load_seed_logs()}).dumps()


def _store_model(url: str, blob: bytes) -> None:
    engine = make_engine(url)
    try:
        migrate(engine)
        SqlModelRepository(engine).save(blob, kind="correlation-engine", summary={})
    finally:
        engine.dispose()


def _single_process(batches: list[list[dict[str, object]]], db: Path, model: bytes) -> str:
    """The embedded default (one process, SQLite) over the same batches with the same model;
    its database's URL."""
    url = f"sqlite:///{db}"
    _store_model(url, model)
    runtime = build_runtime(Settings(database_url=url))
    try:
        for batch in batches:
            records: list[LogRecord] = native.parse_logs(orjson.dumps(batch), now_ns=BASE_NS)
            runtime.pipeline.ingest_logs(records)
        runtime.pipeline.drain(timeout_s=600)
        # Quiet now: each source's stream time moves on with the wall clock and its last window
        # closes at the next tick, as the workers' did while the test waited for them.
        time.sleep(3.0)
        runtime.pipeline.drain(timeout_s=60)
    finally:
        runtime.stop()
    return url


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query))]
    finally:
        engine.dispose()


def _templates_of(url: str) -> dict[str, str]:
    rows = _rows(
        url,
        "SELECT logs.id, templates.template FROM logs "
        "JOIN templates ON templates.id = logs.template_id",
    )
    return {str(i): str(t) for i, t in rows}


def _anomalies_of(url: str) -> set[tuple[object, ...]]:
    """Every anomaly as (time, service, detector, score, template text, record ids): template
    ids (and a window anomaly's id, made from its template's) differ between one process and
    the partitions' ranges; their text does not."""
    rows = _rows(
        url,
        "SELECT anomalies.time_ns, anomalies.service, anomalies.detector, anomalies.score, "
        "templates.template, anomalies.evidence FROM anomalies "
        "LEFT JOIN templates ON templates.id = anomalies.template_id",
    )
    return {
        (int(t), s, d, round(float(sc), 6), tpl, _record_ids(evidence))
        for t, s, d, sc, tpl, evidence in rows
    }


def _record_ids(evidence: object) -> str:
    doc = orjson.loads(evidence) if isinstance(evidence, str | bytes) else evidence
    return ",".join(doc.get("record_ids", [])) if isinstance(doc, dict) else ""


def _predictions_of(url: str) -> set[tuple[object, ...]]:
    rows = _rows(url, "SELECT id, time_ns, mode_id, probability FROM predictions")
    return {(i, int(t), m, round(float(p), 4)) for i, t, m, p in rows}


def _count(url: str) -> tuple[int, int]:
    ((total, distinct),) = _rows(url, "SELECT count(*), count(DISTINCT id) FROM logs")
    return int(total), int(distinct)


TOLD_ALERTS = "SELECT id FROM alerts WHERE notified"


class Notifications:
    """A webhook receiver on 127.0.0.1, as docs/alerting.md asks receivers to be: it drops a
    batch whose `Idempotency-Key` it took already (delivery is at-least-once, and a worker
    taking over the prediction role tells again what came after its checkpoint, under the same
    keys). `seen`: every alert notification taken, as (fingerprint, event); `keys`: each
    delivery's key, repeats included."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.keys: list[str] = []
        self.fired: set[str] = set()  # ids of the alerts told as firing
        seen, keys, fired, lock = self.seen, self.keys, self.fired, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers["Idempotency-Key"]
                with lock:
                    if key not in keys:
                        seen.extend((a["fingerprint"], body["event"]) for a in body["alerts"])
                        if body["event"] == "firing":
                            fired.update(a["id"] for a in body["alerts"])
                    keys.append(key)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def told_twice(self) -> list[str]:
        """Alerts told as firing again while they were firing (no resolve in between)."""
        firing: set[str] = set()
        twice = []
        for fingerprint, event in list(self.seen):
            if event == "firing":
                if fingerprint in firing:
                    twice.append(fingerprint)
                firing.add(fingerprint)
            elif event == "resolved":
                firing.discard(fingerprint)
        return twice

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def notifications() -> Iterator[Notifications]:
    receiver = Notifications()
    yield receiver
    receiver.close()


@pytest.fixture
def scaleout_env(fresh_postgres_url: str) -> dict[str, str]:
    return {
        "PREMORTEM_DATABASE_URL": fresh_postgres_url,
        "PREMORTEM_BUS_URL": NATS_URL,
        "PREMORTEM_BUS_NAME": f"t{uuid.uuid4().hex[:12]}",
        "PREMORTEM_BUS_PARTITIONS": "4",
        "PREMORTEM_BUS_ACK_WAIT_S": "3",
    }


@pytest.fixture
def workers(tmp_path: Path, scaleout_env: dict[str, str]) -> Iterator[list[WorkerProcess]]:
    made = [WorkerProcess(tmp_path, scaleout_env, n) for n in range(2)]
    yield made
    for worker in made:
        worker.stop()


def test_two_workers_one_killed_store_every_record_once_and_find_what_one_process_finds(
    tmp_path: Path,
    scaleout_env: dict[str, str],
    notifications: Notifications,
    premortem_process: Callable[..., PremortemProcess],
) -> None:
    # Every process notifies the same webhook: one notification per alert, whoever holds the
    # prediction role when (the role's new holder reloads the firing alerts from the store).
    scaleout_env["PREMORTEM_NOTIFY__WEBHOOK_URLS"] = orjson.dumps([notifications.url]).decode()
    workers = [WorkerProcess(tmp_path, scaleout_env, n) for n in range(2)]
    try:
        _two_workers_one_killed(tmp_path, scaleout_env, workers, premortem_process)
    finally:
        for worker in workers:
            worker.stop()
    assert any(event == "firing" for _, event in notifications.seen), notifications.seen
    assert not notifications.told_twice(), notifications.seen
    # Nothing told is lost with the killed holder: every alert the store says was told, was.
    told = {str(i) for (i,) in _rows(scaleout_env["PREMORTEM_DATABASE_URL"], TOLD_ALERTS)}
    assert told <= notifications.fired, (told - notifications.fired, notifications.seen)


def _two_workers_one_killed(
    tmp_path: Path,
    scaleout_env: dict[str, str],
    workers: list[WorkerProcess],
    premortem_process: Callable[..., PremortemProcess],
) -> None:
    batches = _batches()
    model = _seed_model()
    _store_model(scaleout_env["PREMORTEM_DATABASE_URL"], model)
    server = premortem_process(scaleout_env["PREMORTEM_DATABASE_URL"], **scaleout_env)
    server.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.wait_ready()

    accepted: list[int] = []
    halfway = threading.Event()

    def ship() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for n, batch in enumerate(batches):
                answer = client.post("/api/v1/logs", json=batch)
                assert answer.status_code == 200, answer.text
                assert answer.json()["accepted"] == len(batch)
                accepted.append(len(batch))
                if n == len(batches) // 2:
                    halfway.set()

    shipper = threading.Thread(target=ship)
    shipper.start()
    assert halfway.wait(300), "the server did not take half the records"
    url = scaleout_env["PREMORTEM_DATABASE_URL"]
    deadline = time.monotonic() + 300
    while _count(url)[0] < RECORDS // 2:  # the workers have analysed half: state worth losing
        assert time.monotonic() < deadline, f"the workers are stuck: {workers[0].log}"
        time.sleep(0.2)
    # The worker with the prediction role: it held partitions and that role, and likely messages
    # not acknowledged yet (a prediction role started afresh here predicts again at the next
    # warning line: the predictions below differ without its checkpoint).
    victim = next((w for w in workers if "and predicts" in w.log), workers[0])
    victim.kill_9()
    time.sleep(1.0)
    victim.start()
    shipper.join(600)
    assert sum(accepted) == RECORDS

    deadline = time.monotonic() + 300
    while (counted := _count(url))[0] < RECORDS:
        assert time.monotonic() < deadline, f"{counted} of {RECORDS} stored: {workers[1].log}"
        time.sleep(1.0)
    time.sleep(2 * float(scaleout_env["PREMORTEM_BUS_ACK_WAIT_S"]))  # redeliveries land too
    assert _count(url) == (RECORDS, RECORDS)

    # Nothing is left for the workers, and the server's /metrics says so.
    # (A partition or role that changed owner is acknowledged after its new owner waited for
    # the redeliveries and checkpointed: lag comes back to 0 within a few ack waits.)
    deadline = time.monotonic() + 60
    while "premortem_analysis_lag_records 0.0" not in (
        metrics := httpx.get(f"{server.url}/metrics").text
    ):
        assert time.monotonic() < deadline, metrics
        time.sleep(0.5)

    # Any server process serves the templates the workers mined, from the store.
    listed = httpx.get(f"{server.url}/api/v1/templates", params={"limit": 500}).json()
    assert listed["total"] >= len(SERVICES) * 5
    one = listed["items"][0]
    shown = httpx.get(f"{server.url}/api/v1/templates/{one['id']}").json()
    assert (shown["service"], shown["template"]) == (one["service"], one["template"])

    single = _single_process(batches, tmp_path / "single.db", model)
    single_templates = _templates_of(single)
    assert len(single_templates) == RECORDS
    assert _templates_of(url) == single_templates
    # The killed worker's partitions and, if it held it, the prediction role went on from
    # their checkpoints: nothing found twice, nothing missed, nothing found differently.
    single_anomalies = _anomalies_of(single)
    assert {a[2] for a in single_anomalies} >= {"new_template"}, single_anomalies
    assert _anomalies_of(url) == single_anomalies
    single_predictions = _predictions_of(single)
    assert len(single_predictions) >= 2, single_predictions
    assert _predictions_of(url) == single_predictions


def test_a_partition_handed_over_goes_on_from_its_checkpoint(
    tmp_path: Path,
    scaleout_env: dict[str, str],
    premortem_process: Callable[..., PremortemProcess],
) -> None:
    """One worker analyses the first half and stops; another, started after, analyses the
    rest: it restores the partitions' analyzers and the predictor from their checkpoints, so the
    store holds what one uninterrupted process finds (a worker starting afresh would warm its
    detectors up again, and miss anomalies and predictions the single process makes)."""
    batches = _batches()
    half = len(batches) // 2
    model = _seed_model()
    url = scaleout_env["PREMORTEM_DATABASE_URL"]
    _store_model(url, model)
    server = premortem_process(url, **scaleout_env)
    server.start()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for number, part in enumerate((batches[:half], batches[half:])):
            worker = WorkerProcess(tmp_path, scaleout_env, number)
            worker.start()
            try:
                worker.wait_ready()
                for batch in part:
                    assert client.post("/api/v1/logs", json=batch).status_code == 200
                deadline = time.monotonic() + 300
                while "premortem_analysis_lag_records 0.0" not in client.get("/metrics").text:
                    assert time.monotonic() < deadline, worker.log
                    time.sleep(0.5)
            finally:
                worker.stop()  # gives its partitions back: checkpointed, acknowledged
            # what it owned, as it changed, on its standard error (a trial could not tell)
            assert "worker took the prediction role" in worker.log, worker.log
            assert "worker gave back partition 0" in worker.log, worker.log

    single = _single_process(batches, tmp_path / "single.db", model)
    assert _templates_of(url) == _templates_of(single)
    assert _anomalies_of(url) == _anomalies_of(single)
    assert _predictions_of(url) == _predictions_of(single)


class Shipper(threading.Thread):
    """Sends numbered batches until each is answered 200 (a batch whose answer was lost is sent
    again): what a log shipper does while the server is killed under it."""

    def __init__(self, number: int, url: str, up: threading.Event, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.number, self.url, self.up, self.stop = number, url, up, stop
        self.acknowledged: list[str] = []
        self.in_flight: list[str] = []

    def batch(self, index: int) -> list[dict[str, object]]:
        base = (self.number * 1_000_000 + index) * 50
        return [
            {
                "timestamp": BASE_NS + (base + i) * 1_000_000,
                "service": SERVICES[(base + i) % len(SERVICES)],
                "body": f"shipper {self.number} line {base + i} for user{i % 17}",
            }
            for i in range(50)
        ]

    def run(self) -> None:
        index = 0
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self.stop.is_set():
                batch = self.batch(index)
                self.in_flight = [str(r["body"]) for r in batch]
                while not self.stop.is_set():
                    self.up.wait(60)
                    try:
                        if http.post("/api/v1/logs", json=batch).status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.05)
                else:
                    return
                self.acknowledged += self.in_flight
                self.in_flight = []
                index += 1


def test_kill_9_of_the_server_loses_nothing_it_acknowledged_and_stores_nothing_twice(
    scaleout_env: dict[str, str],
    workers: list[WorkerProcess],
    premortem_process: Callable[..., PremortemProcess],
) -> None:
    url = scaleout_env["PREMORTEM_DATABASE_URL"]
    server = premortem_process(url, **scaleout_env)
    server.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.wait_ready()
    up, stop = threading.Event(), threading.Event()
    up.set()
    shippers = [Shipper(n, server.url, up, stop) for n in range(2)]
    for shipper in shippers:
        shipper.start()
    try:
        for _ in range(3):
            target = sum(len(s.acknowledged) for s in shippers) + 2000
            deadline = time.monotonic() + 120
            while sum(len(s.acknowledged) for s in shippers) < target:
                assert time.monotonic() < deadline, f"no progress: {server.log}"
                time.sleep(0.05)
            up.clear()
            server.kill_9()  # mid-flight: both shippers are sending
            server.start()
            up.set()
    finally:
        stop.set()
        for shipper in shippers:
            shipper.join(60)

    acknowledged = {line for s in shippers for line in s.acknowledged}
    in_flight = {line for s in shippers for line in s.in_flight}
    engine = create_engine(url)
    deadline = time.monotonic() + 120
    try:
        while True:
            with engine.connect() as conn:
                bodies = [str(b) for (b,) in conn.execute(text("SELECT body FROM logs"))]
            if acknowledged <= set(bodies) or time.monotonic() > deadline:
                break
            time.sleep(1.0)
    finally:
        engine.dispose()
    assert len(bodies) == len(set(bodies)), "a record was stored twice"
    missing = acknowledged - set(bodies)
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:3]}"
    # A batch never answered may be stored in part (its partitions are published one by one).
    assert set(bodies) - acknowledged <= in_flight
