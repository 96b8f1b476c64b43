"""The real rsyslog (Debian `rsyslog`) forwarding to `premortem serve --syslog-tcp/--syslog-udp`.

Each case starts its own `rsyslogd -n` on a temporary config (one TCP/UDP input on 127.0.0.1, no
imuxsock/imklog, its work directory in tmp_path), sends messages into it with util-linux
`logger`, and reads them back through `GET /api/v1/logs`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from premortem.ingest.fields import rfc3339_to_ns
from premortem_serving import PremortemProcess

pytestmark = pytest.mark.integration

RSYSLOGD = "/usr/sbin/rsyslogd"
LOGGER = "/usr/bin/logger"
WARNING = 13  # OpenTelemetry WARN
ERROR = 17

CONFIG = """\
global(workDirectory="{workdir}")
module(load="imtcp")
module(load="imudp")
input(type="imtcp" address="127.0.0.1" port="{tcp_in}" ruleset="forward")
input(type="imudp" address="127.0.0.1" port="{udp_in}" ruleset="forward")
# Only what arrives on the inputs is forwarded: rsyslogd's own messages stay out.
ruleset(name="forward") {{
  action(type="omfwd" target="127.0.0.1" port="{out_port}" protocol="{out_protocol}"
         {framing} template="{template}"
         action.resumeRetryCount="-1" action.resumeInterval="1")
}}
"""


@dataclass(frozen=True)
class Case:
    send: str  # how logger reaches rsyslog: tcp or udp
    format: str  # what logger writes: rfc3164 or rfc5424
    out: str  # how rsyslog forwards to premortem: tcp or udp
    framing: str  # TCP_Framing: octet-counted or traditional (LF)
    template: str


CASES = {
    "3164-tcp-octet-counted": Case(
        "tcp", "rfc3164", "tcp", "octet-counted", "RSYSLOG_TraditionalForwardFormat"
    ),
    "5424-tcp-octet-counted": Case(
        "tcp", "rfc5424", "tcp", "octet-counted", "RSYSLOG_SyslogProtocol23Format"
    ),
    "3164-tcp-lf": Case("udp", "rfc3164", "tcp", "traditional", "RSYSLOG_ForwardFormat"),
    "5424-udp": Case("udp", "rfc5424", "udp", "", "RSYSLOG_SyslogProtocol23Format"),
}


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], *, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Rsyslog:
    tcp_in: int
    udp_in: int
    log: Path


@pytest.fixture
def start_rsyslog(tmp_path: Path) -> Iterator[Callable[[Case, int], Rsyslog]]:
    """`start_rsyslog(case, premortem_port)`: rsyslogd forwarding its inputs there."""
    if not Path(RSYSLOGD).exists():
        pytest.fail(f"{RSYSLOGD} is required: apt-get install -y --no-install-recommends rsyslog")
    started: list[subprocess.Popen[bytes]] = []

    def start(case: Case, out_port: int) -> Rsyslog:
        workdir = tmp_path / "rsyslog"
        workdir.mkdir()
        daemon = Rsyslog(free_port(), free_port(socket.SOCK_DGRAM), workdir / "rsyslogd.log")
        framing = f'TCP_Framing="{case.framing}"' if case.out == "tcp" else ""
        config = workdir / "rsyslog.conf"
        config.write_text(
            CONFIG.format(
                workdir=workdir,
                tcp_in=daemon.tcp_in,
                udp_in=daemon.udp_in,
                out_port=out_port,
                out_protocol=case.out,
                framing=framing,
                template=case.template,
            )
        )
        check = subprocess.run(
            [RSYSLOGD, "-N1", "-f", str(config)], capture_output=True, text=True, timeout=30
        )
        assert check.returncode == 0, check.stdout + check.stderr
        with daemon.log.open("wb") as log:
            process = subprocess.Popen(
                [RSYSLOGD, "-n", "-f", str(config), "-i", str(workdir / "rsyslogd.pid")],
                stdout=log,
                stderr=log,
                cwd=workdir,
                env={**os.environ, "TZ": "UTC"},
            )
        started.append(process)
        # Both inputs open together: the TCP one answering means the UDP one listens too.
        wait_for(lambda: accepts(daemon.tcp_in), timeout_s=20, what="rsyslogd's input")
        assert process.poll() is None, daemon.log.read_text(errors="replace")
        return daemon

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def send(case: Case, port: int, priority: str, message: str) -> None:
    where = ["--server", "127.0.0.1", "--port", str(port), f"--{case.send}"]
    subprocess.run(
        [LOGGER, *where, f"--{case.format}", "-t", "app", "-p", priority, message],
        check=True,
        timeout=30,
        env={**os.environ, "TZ": "UTC"},
    )


def logs(server: PremortemProcess) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/v1/logs", params={"limit": 1000}, timeout=10)
    response.raise_for_status()
    page: dict[str, Any] = response.json()
    return page


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_rsyslog_forwards_every_message_once(
    case: Case,
    tmp_path: Path,
    premortem_process: Callable[..., PremortemProcess],
    start_rsyslog: Callable[[Case, int], Rsyslog],
) -> None:
    assert Path(LOGGER).exists(), f"{LOGGER} is required (util-linux)"
    syslog_port = free_port(socket.SOCK_DGRAM if case.out == "udp" else socket.SOCK_STREAM)
    server = premortem_process(f"sqlite:///{tmp_path / 'premortem.db'}")
    server.args = [f"--syslog-{case.out}", str(syslog_port)]
    server.start()
    rsyslog = start_rsyslog(case, syslog_port)
    port = rsyslog.tcp_in if case.send == "tcp" else rsyslog.udp_in

    # Distinct bodies: two equal lines in one second are one record (ids are content digests).
    sent = [
        ("user.warning", WARNING, f"{case.format} warning {i} via {case.out}") for i in range(5)
    ]
    sent.append(("user.err", ERROR, 'hostile %s %d {0} {{x}} [sd="x"] \\ done'))
    before_ns = time.time_ns()
    for priority, _, message in sent:
        send(case, port, priority, message)
    after_ns = time.time_ns()

    def arrived() -> dict[str, Any] | None:
        page = logs(server)
        return page if page["total"] >= len(sent) else None

    try:
        wait_for(arrived, timeout_s=30, what=f"{len(sent)} records")
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}: premortem has {logs(server)}\n--- rsyslogd\n"
            f"{rsyslog.log.read_text(errors='replace')}\n--- premortem\n{server.log}"
        ) from exc
    time.sleep(1)  # anything doubled or late would show now
    page = logs(server)
    assert page["total"] == len(sent), page

    items = sorted(page["items"], key=lambda item: (item["timestamp"], item["body"]))
    assert sorted(item["body"] for item in items) == sorted(message for *_, message in sent)
    expected = {message: number for _, number, message in sent}
    # logger writes the short host name into an RFC 3164 header, the whole one into RFC 5424's
    host = socket.gethostname()
    host = host.split(".")[0] if case.format == "rfc3164" else host
    # An RFC 3164 time has whole seconds and no zone (logger and rsyslogd run with TZ=UTC).
    earliest = before_ns // 1_000_000_000 * 1_000_000_000 - 1_000_000_000
    for item in items:
        assert item["service"] == "app", item
        assert item["resource"] == {"host.name": host}, item
        assert item["severity_number"] == expected[item["body"]], item
        assert item["attributes"]["syslog.facility"] == 1, item  # user
        moment = rfc3339_to_ns(item["timestamp"])
        assert earliest <= moment <= after_ns + 1_000_000_000, (item, before_ns, after_ns)


def test_a_postgresql_message_through_rsyslog_is_one_record(
    tmp_path: Path,
    premortem_process: Callable[..., PremortemProcess],
    start_rsyslog: Callable[[Case, int], Rsyslog],
) -> None:
    """PostgreSQL's syslog lines ("[seq-chunk] " prefix, ERROR at syslog warning), sent by the
    real logger through the real rsyslogd: the chunks of one message become one record with the
    message's own level (issue 11)."""
    case = CASES["5424-tcp-octet-counted"]
    syslog_port = free_port()
    server = premortem_process(f"sqlite:///{tmp_path / 'premortem.db'}")
    server.args = ["--syslog-tcp", str(syslog_port)]
    server.start()
    rsyslog = start_rsyslog(case, syslog_port)
    lines = tmp_path / "postgres.log"
    lines.write_text(
        "[7-1] ERROR:  deadlock detected\n"
        "[7-2] DETAIL:  Process 812 waits for ShareLock on transaction 1234.\n"
        "[7-3] STATEMENT:  UPDATE accounts SET balance = 0 WHERE id = 7\n"
    )
    where = ["--server", "127.0.0.1", "--port", str(rsyslog.tcp_in), "--tcp", "--rfc5424"]
    subprocess.run(
        [LOGGER, *where, "-t", "postgres", "--id=812", "-p", "local0.warning", "-f", str(lines)],
        check=True,
        timeout=30,
        env={**os.environ, "TZ": "UTC"},
    )
    page = wait_for(lambda: logs(server)["total"] and logs(server), timeout_s=30, what="records")
    time.sleep(1)  # a chunk stored on its own would show now
    page = logs(server)
    assert page["total"] == 1, page
    (record,) = page["items"]
    assert record["body"].split("\n") == [
        "ERROR:  deadlock detected",
        "DETAIL:  Process 812 waits for ShareLock on transaction 1234.",
        "STATEMENT:  UPDATE accounts SET balance = 0 WHERE id = 7",
    ]
    assert record["severity_number"] == 17 and record["attributes"]["syslog.severity"] == "warning"
    assert record["attributes"]["syslog.procid"] == "812"
