"""`premortem replay logs --metrics FILE`: a held-out replay sends the metric samples with the
logs, in one time order, and the server stores the very series it was sent live (a trial's
logs-only replay missed the failures its model warned of through a queue-depth gauge)."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from premortem.cli import app as cli
from premortem.commands.ingest import IngestFailed
from premortem.config import Settings
from premortem.service.app import create_app

pytestmark = pytest.mark.e2e
S = 1_000_000_000
T0 = 1_796_700_000 * S
LABELS = {"service": "publisher", "instance": "7c12f1ce", "queue": "mail"}


def _write(path: Path, docs: list[dict[str, object]]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(d) for d in docs) + b"\n")
    return path


def test_logs_and_metric_samples_replay_in_one_time_order(tmp_path: Path) -> None:
    logs = _write(
        tmp_path / "logs.jsonl",
        [{"timestamp": T0 + t * S, "service": "publisher", "body": f"tick {t}"} for t in (0, 2, 4)],
    )
    samples = _write(
        tmp_path / "metrics.jsonl",
        [
            {"metric": "queue_depth", "labels": LABELS, "timestamp": T0 + 1 * S, "value": 5},
            # The shape GET /api/v1/series answers with: a server's series, exported.
            {"metric": "queue_depth", "labels": LABELS, "points": [[T0 + 3 * S, 40]]},
        ],
    )
    with TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}"))) as app:
        order: list[str] = []
        real_client = httpx.Client

        def client(**kwargs: object) -> httpx.Client:
            def forward(request: httpx.Request) -> httpx.Response:
                order.append(request.url.path)
                answer = app.request(
                    request.method,
                    request.url.path,
                    content=request.content,
                    headers=dict(request.headers),
                )
                return httpx.Response(answer.status_code, content=answer.content)

            return real_client(transport=httpx.MockTransport(forward), **kwargs)  # type: ignore[arg-type]

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(httpx, "Client", client)
            result = CliRunner().invoke(
                cli, ["replay", "logs", str(logs), "--metrics", str(samples)]
            )
        assert result.exit_code == 0, result.output
        assert "3 log record(s) and 2 metric sample(s)" in result.output
        assert order == ["/api/v1/logs", "/v1/metrics"] * 2 + ["/api/v1/logs"]
        stored = app.get("/api/v1/series", params={"metric": "queue_depth"}).json()
    (series,) = stored["items"]
    assert series["labels"] == LABELS  # the very series a live OTLP exporter made
    assert series["points"] == [[T0 + 1 * S, 5.0], [T0 + 3 * S, 40.0]]


def test_a_bad_sample_is_one_line_naming_the_file(tmp_path: Path) -> None:
    logs = _write(tmp_path / "logs.jsonl", [{"timestamp": T0, "body": "x"}])
    samples = _write(tmp_path / "m.jsonl", [{"metric": "q", "timestamp": T0, "value": "high"}])
    result = CliRunner().invoke(cli, ["replay", "logs", str(logs), "--metrics", str(samples)])
    assert result.exit_code != 0
    assert isinstance(result.exception, IngestFailed)  # `premortem` prints it as one line
    message = str(result.exception)
    assert "m.jsonl at /0: a sample needs a numeric `value`" in message and "\n" not in message
