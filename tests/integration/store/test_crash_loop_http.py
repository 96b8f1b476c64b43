"""kill -9 in a loop while 4 clients ingest over HTTP, on SQLite and PostgreSQL (issue 13).

Each client sends batches of log records the way a shipper does: a batch answered 200 is
acknowledged; a batch whose request failed (the server died under it) is sent again once the
server is back, whether or not it had been stored. After five crashes and a last restart:
every acknowledged record is stored exactly once, no record is stored twice, and every template id
the server showed before a crash names the same template after it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from premortem_serving import PremortemProcess

pytestmark = pytest.mark.integration

CLIENTS = 4
BATCH = 20
CRASHES = 5
WORDS = ["".join(w) for w in itertools.product("bdfk", "aeiou", "lmr")][:48]  # no digits
BASE_NS = 1_780_000_000 * 10**9


class Server:
    """The server the clients talk to, and whether it is up (clients wait while it is not)."""

    def __init__(self, process: PremortemProcess) -> None:
        self.process, self.url = process, process.url
        self.up = threading.Event()

    def start(self) -> None:
        self.process.start()
        self.up.set()

    def kill_9(self) -> None:
        self.up.clear()
        self.process.kill_9()


@pytest.fixture
def server(database_url: str, premortem_process: Callable[..., PremortemProcess]) -> Server:
    return Server(premortem_process(database_url))


class Client(threading.Thread):
    """One shipper: numbered batches, each sent until it is answered 200."""

    def __init__(self, number: int, server: Server, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.number, self.server, self.stop = number, server, stop
        self.acknowledged: list[dict[str, object]] = []
        self.pending: list[dict[str, object]] | None = None  # sent, answer unknown
        self.sent_batches = 0
        self.lock = threading.Lock()

    def batch(self, index: int) -> list[dict[str, object]]:
        records = []
        for i in range(BATCH):
            serial = (self.number * 100_000 + index) * BATCH + i
            word = WORDS[(index * 7 + i * 3 + self.number) % len(WORDS)]
            records.append(
                {
                    "timestamp": BASE_NS + serial,
                    "body": f"{word} started on node {serial}",
                    "service": "crash-lab",
                    "severity_text": "INFO",
                }
            )
        return records

    def send(self, http: httpx.Client, records: list[dict[str, object]]) -> bool:
        self.server.up.wait()
        try:
            return http.post("/api/v1/logs", json=records).status_code == 200
        except httpx.HTTPError:
            return False

    def run(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=30) as http:
            index = 0
            while not self.stop.is_set():
                records = self.batch(index)
                with self.lock:
                    self.pending = records
                while not self.send(http, records):  # resent until acknowledged
                    if self.stop.is_set():
                        return
                    time.sleep(0.05)
                with self.lock:
                    self.pending = None
                    self.acknowledged.extend(records)
                    self.sent_batches += 1
                index += 1

    def acked(self) -> int:
        with self.lock:
            return self.sent_batches


def templates(url: str) -> dict[int, str]:
    items = httpx.get(f"{url}/api/v1/templates", params={"limit": 1000}, timeout=30).json()
    return {t["id"]: t["template"] for t in items["items"]}


def stored_logs(url: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with httpx.Client(base_url=url, timeout=60) as http:
        while True:
            page = http.get(
                "/api/v1/logs",
                params={"service": "crash-lab", "limit": 1000, "offset": len(rows)},
            ).json()
            rows.extend(page["items"])
            if not page["items"] or len(rows) >= page["total"]:
                return rows


def test_kill_9_in_a_loop_loses_and_doubles_nothing_and_keeps_template_ids(
    server: Server,
) -> None:
    stop = threading.Event()
    clients = [Client(k, server, stop) for k in range(CLIENTS)]
    server.start()
    for client in clients:
        client.start()
    seen_ids: dict[int, str] = {}
    try:
        for crash in range(CRASHES):
            target = sum(c.acked() for c in clients) + 40 + 20 * crash
            deadline = time.monotonic() + 120
            while sum(c.acked() for c in clients) < target:
                assert time.monotonic() < deadline, "clients made no progress"
                time.sleep(0.05)
            for template_id, text in templates(server.url).items():
                assert seen_ids.setdefault(template_id, text) == text, "an id changed template"
            server.kill_9()  # mid-flight: the clients are sending
            server.start()
        # the last batches sent before the end are acknowledged too
        target = sum(c.acked() for c in clients) + CLIENTS
        while sum(c.acked() for c in clients) < target:
            time.sleep(0.05)
    finally:
        stop.set()
        for client in clients:
            client.join(60)

    acknowledged = [r["body"] for c in clients for r in c.acknowledged]
    rows = stored_logs(server.url)
    bodies = [row["body"] for row in rows]
    assert len(bodies) == len(set(bodies)), "a record was stored twice"
    missing = set(acknowledged) - set(bodies)
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:3]}"
    # in-flight batches never answered are either fully stored or not at all: nothing else
    in_flight = {r["body"] for c in clients if c.pending for r in c.pending}
    assert set(bodies) - set(acknowledged) <= in_flight

    after = templates(server.url)
    for template_id, text in seen_ids.items():
        assert after.get(template_id) == text, f"template {template_id} changed after a crash"
    for row in rows:  # each stored record's id names its own template
        word = str(row["body"]).split()[0]
        assert after[int(row["template_id"])].startswith(f"{word} "), row  # type: ignore[call-overload]
    print(
        f"{len(acknowledged)} records acknowledged across {CRASHES} kill -9, "
        f"{len(rows)} stored, {len(seen_ids)} template ids checked"
    )
