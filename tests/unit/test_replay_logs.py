"""`premortem replay logs`: files merged in record-time order, paced by record time / speed."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import orjson
import pytest

from premortem.commands.ingest import IngestFailed
from premortem.commands.replay import (
    TimedDoc,
    paced_batches,
    read_log_file,
    read_log_files,
    replay_logs,
)

S = 1_000_000_000
T0 = 1_700_000_000 * S


def doc(t_s: float, body: str, service: str = "api") -> dict[str, object]:
    return {"timestamp": T0 + int(t_s * S), "service": service, "body": body}


def write_lines(path: Path, docs: list[dict[str, object]]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(d) for d in docs) + b"\n")
    return path


def test_files_merge_in_record_time_order_stably(tmp_path: Path) -> None:
    first = write_lines(tmp_path / "a.jsonl", [doc(3, "a3"), doc(1, "a1"), doc(2, "a2-first")])
    second = tmp_path / "b.json.gz"  # a JSON array, gzipped, with RFC 3339 times
    second.write_bytes(
        gzip.compress(
            orjson.dumps(
                [
                    {"timestamp": "2023-11-14T22:13:22Z", "service": "db", "body": "b2-second"},
                    {"timestamp": "2023-11-14T22:13:20.5Z", "service": "db", "body": "b0.5"},
                ]
            )
        )
    )
    merged = read_log_files([first, second])
    assert [r.doc["body"] for r in merged] == ["b0.5", "a1", "a2-first", "b2-second", "a3"]
    assert merged[0].time_ns == T0 + S // 2


def test_a_record_without_a_time_keeps_its_place_in_its_file(tmp_path: Path) -> None:
    file = write_lines(
        tmp_path / "x.jsonl",
        [{"body": "header"}, doc(5, "five"), {"body": "continued"}, doc(6, "six")],
    )
    records = read_log_file(file)
    assert [r.time_ns for r in records] == [T0 + 5 * S, T0 + 5 * S, T0 + 5 * S, T0 + 6 * S]
    assert records[2].doc == {"body": "continued", "timestamp": T0 + 5 * S}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"body": "ok"}\n{"body": ', "not native log records"),
        (b'[{"service": "api"}]', "at /0/body"),
        (b"\x1f\x8bnot really gzip", "not a readable gzip file"),
    ],
)
def test_bad_input_is_one_line_naming_the_file(
    tmp_path: Path, content: bytes, message: str
) -> None:
    file = tmp_path / "bad.json"
    file.write_bytes(content)
    with pytest.raises(IngestFailed, match=message) as failure:
        read_log_file(file)
    assert str(file) in str(failure.value) and "\n" not in str(failure.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(IngestFailed, match="no such file"):
        read_log_files([tmp_path / "missing.jsonl"])


def timed(*seconds: float) -> list[TimedDoc]:
    return [TimedDoc(T0 + int(s * S), doc(s, f"at {s}")) for s in seconds]


def test_as_fast_as_possible_sends_full_batches_at_once() -> None:
    batches = list(paced_batches(timed(*range(2500)), size=1000))
    assert [(due, len(batch)) for due, batch in batches] == [(0.0, 1000), (0.0, 1000), (0.0, 500)]


def test_speed_paces_batches_by_record_time() -> None:
    records = timed(0, 0.1, 0.2, 10, 10.05, 30)
    real_time = [(due, len(b)) for due, b in paced_batches(records, speed=1)]
    assert real_time == [(0.0, 3), (10.0, 2), (30.0, 1)]
    ten_times = [(due, len(b)) for due, b in paced_batches(records, speed=10)]
    assert ten_times == [(0.0, 3), (1.0, 2), (3.0, 1)]  # ten times faster


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def recording_client(status: int = 200) -> tuple[httpx.Client, list[list[dict[str, object]]]]:
    bodies: list[list[dict[str, object]]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        bodies.append(orjson.loads(request.content))
        if status >= 400:
            return httpx.Response(status, json={"detail": "body too large"})
        return httpx.Response(200, json={"accepted": len(bodies[-1])})

    client = httpx.Client(transport=httpx.MockTransport(handle), base_url="http://premortem")
    return client, bodies


def test_replay_sleeps_until_each_batch_is_due_and_sends_the_records_in_order() -> None:
    clock = FakeTime()
    client, bodies = recording_client()
    sent = replay_logs(
        client,
        timed(0, 1, 1, 4),
        speed=2,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    assert sent == 4
    assert clock.slept == [0.5, 1.5]  # due at 0, 0.5 and 2 s
    assert [[d["body"] for d in body] for body in bodies] == [["at 0"], ["at 1", "at 1"], ["at 4"]]


def test_an_http_error_stops_the_replay_with_one_line() -> None:
    client, _ = recording_client(status=413)
    with pytest.raises(IngestFailed) as failure:
        replay_logs(client, timed(0, 1))
    assert str(failure.value) == "413 from /api/v1/logs: body too large (after 0 of 2 records)"


def test_since_and_until_send_the_held_out_part_only(tmp_path: Path) -> None:
    """`--since` the time a model was trained `until`: the part it was trained on stays home."""
    from typer.testing import CliRunner

    from premortem.cli import app

    path = write_lines(tmp_path / "a.jsonl", [doc(t, f"line {t}") for t in range(10)])
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.extend(d["body"] for d in orjson.loads(request.content))
        return httpx.Response(200, json={"accepted": 1})

    real_client = httpx.Client

    def client(**kwargs: object) -> httpx.Client:
        return real_client(transport=httpx.MockTransport(handler), **kwargs)  # type: ignore[arg-type]

    since = "2023-11-14T22:13:24Z"  # T0 + 4 s
    until = "2023-11-14T22:13:27.5Z"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpx, "Client", client)
        result = CliRunner().invoke(
            app, ["replay", "logs", str(path), "--since", since, "--until", until]
        )
    assert result.exit_code == 0, result.output
    assert sent == ["line 4", "line 5", "line 6", "line 7"]
    assert "replayed 4 log record(s)" in result.output


def test_a_traceback_stamped_when_read_stays_with_its_record(tmp_path: Path) -> None:
    """A tailer stamps continuation lines with the time it read them (docs/ingest.md): later
    than the service's next line. Sorted by time alone, the traceback went to that next line."""
    lines = [
        doc(0.1, "2026-12-07T10:00:00.100 ERROR gateway - request A failed upstream"),
        doc(0.9, "Traceback (most recent call last):"),
        doc(0.9, '  File "gw.py", line 19, in do_POST'),
        doc(0.9, "TimeoutError: timed out"),
        doc(0.5, "2026-12-07T10:00:00.500 INFO gateway - served B in 40 ms"),
    ]
    merged = read_log_files([write_lines(tmp_path / "tb.jsonl", lines)])
    heads = [r.doc["body"].split("\n")[0] for r in merged]
    assert [h.split(" - ")[1] for h in heads] == ["request A failed upstream", "served B in 40 ms"]
    assert merged[0].doc["body"].endswith("TimeoutError: timed out")
    assert merged[0].time_ns == T0 + S // 10
    assert "\n" not in merged[1].doc["body"]


def test_pages_of_the_logs_api_replay_as_their_records(tmp_path: Path) -> None:
    """Logs a server received over OTLP, Loki or syslog, read back with `GET /api/v1/logs`
    (newest first, as it pages), replay in record-time order with their stored fields."""
    stored = [
        {**doc(2, "second"), "id": "b", "template_id": "t2", "observed_timestamp": T0 + 3 * S},
        {**doc(1, "first"), "id": "a", "template_id": "t1", "resource": {"service.name": "api"}},
    ]
    pages = tmp_path / "pages.jsonl"
    pages.write_bytes(
        orjson.dumps({"items": stored[:1], "total": 3})
        + b"\n"
        + orjson.dumps({"items": stored[1:], "total": 3})
        + b"\n"
        + orjson.dumps(doc(0, "a native record beside them"))
    )

    replayed = read_log_files([pages])

    assert [r.doc["body"] for r in replayed] == ["a native record beside them", "first", "second"]
    assert [r.doc.get("id") for r in replayed] == [None, "a", "b"]  # sent again: stored once


def test_a_page_with_a_bad_record_names_the_file(tmp_path: Path) -> None:
    page = tmp_path / "page.json"
    page.write_bytes(orjson.dumps({"items": [doc(1, "ok"), {"service": "api"}], "total": 2}))

    with pytest.raises(IngestFailed, match=r"page\.json: not native log records at /1/body"):
        read_log_file(page)
