"""Issue 11 through the API: `premortem replay logs` against a real server; stream time per
source (an older source replayed after a newer one keeps its windows); one alert threshold."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from premortem.clock import Clock
from premortem.commands.replay import read_log_files, replay_logs
from premortem.config import Settings
from premortem.domain import FailureMode, LogRecord, Prediction
from premortem.learn.model import TrainedModel
from premortem.learn.network import ModeNetwork
from premortem.learn.predictor import ObservedFailure
from premortem.learn.rows import IndicatorSet
from premortem.logs.miner import PrefixTreeMiner
from premortem.runtime.assembly import Runtime
from premortem.service.app import create_app

pytestmark = pytest.mark.e2e

S = 1_000_000_000
T0 = 1_700_000_000 * S
MODE = FailureMode(id="db_pool", name="DB pool exhaustion", severity="warning", service="db")


def docs(service: str, start_s: int, end_s: int) -> list[dict[str, object]]:
    return [
        {"timestamp": T0 + t * S, "service": service, "body": f"{service} request {t % 3} done"}
        for t in range(start_s, end_s)
    ]


def write(path: Path, items: list[dict[str, object]], *, gz: bool = False) -> Path:
    data = b"\n".join(orjson.dumps(item) for item in items)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


# --------------------------------------------------------------------------- per-source time


def test_an_old_source_replayed_after_a_newer_one_keeps_its_windows(
    client: TestClient, tmp_path: Path
) -> None:
    live = write(tmp_path / "live.jsonl", docs("live", 1000, 1030))
    assert replay_logs(client, read_log_files([live])) == 30
    runtime = runtime_of(client)
    runtime.pipeline.drain()

    # Older logs of another source, split over two files (one gzipped), out of order in each.
    first = write(tmp_path / "old-1.jsonl", docs("old", 10, 40)[::-1])
    second = write(tmp_path / "old-2.json.gz", docs("old", 40, 75), gz=True)
    assert replay_logs(client, read_log_files([first, second])) == 65
    runtime.pipeline.drain()

    assert runtime.analysis is not None
    assert runtime.analysis.analyzer.windows.late == 0, "no record was dropped as late"
    old = runtime.windows.list_windows("old", T0, T0 + 100 * S)
    assert [((w.start_ns - T0) // S, w.total) for w in old] == [
        (10, 10),
        (20, 10),
        (30, 10),
        (40, 10),
        (50, 10),
        (60, 10),
    ]
    assert runtime.stream_clocks.now_ns("old") < T0 + 100 * S < runtime.stream_clocks.now_ns("live")
    live_windows = runtime.windows.list_windows("live", T0, T0 + 2000 * S)
    assert [((w.start_ns - T0) // S, w.total) for w in live_windows] == [(1000, 10), (1010, 10)]


# --------------------------------------------------------------------------- the CLI, for real


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """`premortem serve` in its own process, on a fresh SQLite file."""
    port = free_port()
    env = {
        **os.environ,
        "PREMORTEM_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "PREMORTEM_PORT": str(port),
        "PREMORTEM_TOKENS": "secret=admin",
        "PREMORTEM_HOST": "127.0.0.1",
    }
    with (tmp_path / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "premortem.cli", "serve"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail((tmp_path / "server.log").read_text())
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def premortem(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "premortem.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_servers_pages_replay_as_it_stored_them(
    client_factory: Callable[..., TestClient], tmp_path: Path
) -> None:
    """A stack trace cut between two shipper batches: the live server kept the second part as a
    fragment. Its pages, replayed into a fresh server, are stored as they were, not folded."""
    head = {"timestamp": T0, "service": "api", "severity_text": "ERROR", "body": "order 7 failed"}
    frame = {
        "timestamp": T0 + S // 10,
        "service": "api",
        "body": "    at shop.Orders.place(Orders.java:41)",
    }
    rest = {"timestamp": T0 + S // 5, "service": "api", "body": "    at shop.Api.post(Api.java:12)"}
    with client_factory() as live:
        live.post("/api/v1/logs", json=[head, frame]).raise_for_status()
        live.post("/api/v1/logs", json=[rest]).raise_for_status()
        page = live.get("/api/v1/logs", params={"limit": 100}).json()
    kept = sorted(item["body"] for item in page["items"])
    assert len(kept) == 2, "the live server kept the cut-off part apart"
    saved = write(tmp_path / "pages.jsonl", [page])

    again = TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path / 'again.db'}")))
    with again:
        assert replay_logs(again, read_log_files([saved])) == 2
        replayed = again.get("/api/v1/logs", params={"limit": 100}).json()["items"]
    assert sorted(item["body"] for item in replayed) == kept


def test_the_replay_command_sends_every_file_in_time_order(server: str, tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", docs("api", 0, 40)[::2])
    b = write(tmp_path / "b.json.gz", docs("db", 0, 40)[1::2], gz=True)
    done = premortem(
        "replay", "logs", str(a), str(b), "--speed", "100", "--url", server, "--token", "secret"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("replayed 40 log record(s) from 2 file(s) to ")

    headers = {"Authorization": "Bearer secret"}
    stored = httpx.get(f"{server}/api/v1/logs", params={"limit": 100}, headers=headers).json()
    assert stored["total"] == 40


def test_the_replay_command_fails_with_one_line(server: str, tmp_path: Path) -> None:
    good = write(tmp_path / "good.jsonl", docs("api", 0, 3))
    refused = premortem(
        "replay", "logs", str(good), "--url", server, "--token", "wrong"
    )  # the server wants a token
    assert refused.returncode == 1
    assert refused.stderr.startswith("premortem: 401 from /api/v1/logs")
    assert refused.stderr.count("\n") == 1

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"service": "api"}\n')
    invalid = premortem("replay", "logs", str(bad), "--url", server, "--token", "secret")
    assert invalid.returncode == 1
    assert invalid.stderr == f"premortem: {bad}: not native log records at /body: is required\n"


# --------------------------------------------------------------------------- one threshold


class FixedPredictor:
    """Predicts 0.35 for db_pool on every "precursor" line, like the real predictor only at or
    above `min_probability`."""

    def __init__(self, model: TrainedModel, clock: Clock, *, min_probability: float | None) -> None:
        self.model = model
        # As the real one: the setting for every mode when given, else the mode's learned one.
        self.threshold = model.threshold_of(MODE.id) if min_probability is None else min_probability

    def observed_failures(self) -> list[ObservedFailure]:
        return []  # this fake never sees a failure's own lines

    def pass_time(self, now_ns: int) -> list[Prediction]:
        return []  # this fake holds no evidence that could expire

    def observe(self, records: Iterable[LogRecord]) -> list[Prediction]:
        return [
            Prediction(
                id=f"p-{r.time_ns}",
                time_ns=r.time_ns,
                mode_id=MODE.id,
                service="db",
                probability=0.35,
                horizon_s=300,
            )
            for r in records
            if "precursor" in r.body and self.threshold <= 0.35
        ]


def serve_model(
    client: TestClient, threshold: float, by_mode: dict[str, float] | None = None
) -> None:
    runtime = runtime_of(client)
    model = TrainedModel(
        modes=[MODE],
        miner=PrefixTreeMiner(),
        indicators=IndicatorSet([], set()),
        network=ModeNetwork([], []),
        alert_threshold=threshold,
        mode_thresholds=by_mode or {},
    )
    runtime.models.save(model.dumps(), kind="test", summary={"threshold": threshold})
    runtime.prediction.make_predictor = FixedPredictor
    runtime.prediction.reload()


def alerts_after_a_precursor(client: TestClient) -> list[dict[str, object]]:
    line = {"timestamp": T0, "service": "db", "body": "precursor: pool wait 900 ms"}
    assert client.post("/api/v1/logs", json=[line]).status_code == 200
    runtime_of(client).pipeline.drain()
    items: list[dict[str, object]] = client.get("/api/v1/alerts").json()["items"]
    return items


@pytest.mark.parametrize(
    ("setting", "fires", "source"),
    [
        (None, True, "learned by model v1"),
        ("0.4", False, "set by PREMORTEM_ALERT_THRESHOLD"),
    ],
)
def test_the_threshold_learned_in_training_is_the_one_used_live(
    client_factory: Callable[..., TestClient],
    monkeypatch: pytest.MonkeyPatch,
    setting: str | None,
    fires: bool,
    source: str,
) -> None:
    if setting is not None:
        monkeypatch.setenv("PREMORTEM_ALERT_THRESHOLD", setting)
    with client_factory() as client:
        serve_model(client, threshold=0.3)
        alerts = alerts_after_a_precursor(client)
        assert [a["labels"]["mode_id"] for a in alerts] == (["db_pool"] if fires else [])  # type: ignore[index]

        expected = 0.3 if setting is None else 0.4
        latest = client.get("/api/v1/models/latest").json()
        assert (latest["alert_threshold"], latest["alert_threshold_source"]) == (expected, source)
        listed = client.get("/api/v1/models").json()
        assert listed["alert_threshold_source"] == source

        page = client.get("/").text
        assert f"Alert threshold: <strong>{expected * 100:.0f}%</strong> ({source})" in page


@pytest.mark.parametrize(("own", "fires"), [(0.3, True), (0.6, False)])
def test_each_mode_alerts_at_its_own_learned_threshold(
    client_factory: Callable[..., TestClient], own: float, fires: bool
) -> None:
    with client_factory() as client:
        serve_model(client, threshold=0.5, by_mode={MODE.id: own, "fm-other": 0.25})
        alerts = alerts_after_a_precursor(client)
        assert [a["labels"]["mode_id"] for a in alerts] == (["db_pool"] if fires else [])  # type: ignore[index]
        latest = client.get("/api/v1/models/latest").json()
        assert latest["alert_threshold"] == 0.25, "the lowest in force"
        assert latest["alert_thresholds_by_mode"] == {MODE.id: own, "fm-other": 0.25}
        page = client.get("/").text
        assert f"Alert threshold: <strong>25–{own * 100:.0f}% (per mode)</strong>" in page


def test_without_a_model_the_threshold_says_so(client: TestClient) -> None:
    assert client.get("/api/v1/models/latest").status_code == 404
    listed = client.get("/api/v1/models").json()
    assert listed["alert_threshold_source"] == "default: no model yet"
