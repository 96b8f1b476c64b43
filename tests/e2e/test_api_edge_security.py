"""The HTTP edge (issue 13): no shell from the API, only known hosts, no cross-site writes, no
unbounded or unauthenticated bodies read. Each test drives the real app; the body tests use a real
uvicorn server and a raw socket, because only a real server can be sent a body that never comes."""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from pydantic import ValidationError

from premortem.config import Settings
from premortem.service.app import create_app

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"
ADMIN = {"authorization": "Bearer adm1n"}
TOKENS = "adm1n=admin,r3ad=read"
TRAIN = {"name": "nightly", "kind": "train", "interval_s": 3600}


def is_problem(response: Any, status: int) -> bool:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    return bool(body["status"] == status and body["detail"])


def command_schedule(marker: Path, name: str = "touch marker") -> dict[str, object]:
    script = f"open({str(marker)!r}, 'w').write('ran')"
    return {
        "name": name,
        "kind": "command",
        "interval_s": 3600,
        "command": [sys.executable, "-c", script],
    }


# ------------------------------------------------------------------ 1. command schedules


def test_command_schedules_are_refused_by_default(client: TestClient, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    response = client.post("/api/v1/schedules", json=command_schedule(marker))
    assert is_problem(response, 403)
    assert "PREMORTEM_ALLOW_COMMAND_SCHEDULES" in response.json()["detail"]
    assert client.get("/api/v1/schedules").json()["total"] == 0
    assert client.post("/api/v1/schedules", json=TRAIN).status_code == 201  # other kinds still run


def test_an_open_server_refuses_command_schedules_even_when_allowed(
    client_factory: Callable[..., TestClient], tmp_path: Path
) -> None:
    with client_factory(allow_command_schedules=sys.executable) as client:
        response = client.post("/api/v1/schedules", json=command_schedule(tmp_path / "ran"))
        assert is_problem(response, 403)
        assert "PREMORTEM_TOKENS" in response.json()["detail"]


def test_only_allow_listed_executables_run_and_never_a_shell(
    client_factory: Callable[..., TestClient], tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    with client_factory(tokens=TOKENS, allow_command_schedules=sys.executable) as client:
        posted = client.post("/api/v1/schedules", json=command_schedule(marker), headers=ADMIN)
        assert posted.status_code == 201, posted.text
        run = client.post("/api/v1/schedules/touch-marker/run", headers=ADMIN).json()
        assert marker.read_text() == "ran", run
        shell = {**command_schedule(marker, "shell"), "command": ["/bin/sh", "-c", "id"]}
        response = client.post("/api/v1/schedules", json=shell, headers=ADMIN)
        assert is_problem(response, 403)
        assert "'/bin/sh' is not an allowed executable" in response.json()["detail"]
    with pytest.raises(ValidationError, match="never run through a shell"):
        Settings(allow_command_schedules="chaos,/usr/bin/bash")
    with pytest.raises(ValidationError, match="never run through a shell"):
        Settings(allow_command_schedules=["env"])


def test_a_stored_command_schedule_never_runs_once_commands_are_disallowed(
    client_factory: Callable[..., TestClient], tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    with client_factory(tokens=TOKENS, allow_command_schedules=[sys.executable]) as client:
        posted = client.post("/api/v1/schedules", json=command_schedule(marker), headers=ADMIN)
        assert posted.status_code == 201
    # Restarted on the same database without the allow-list: the schedule is still stored.
    with client_factory(tokens=TOKENS) as client:
        response = client.post("/api/v1/schedules/touch-marker/run", headers=ADMIN)
        assert is_problem(response, 403)
        runs = client.app.state.runtime.scheduler.run_due()  # type: ignore[attr-defined]
        assert [(r.schedule_id, r.status) for r in runs] == [("touch-marker", "failed")]
        assert "disabled" in runs[0].detail
    assert not marker.exists()


# ------------------------------------------------------------------ 2. Host allow-list


def test_only_the_bound_address_localhost_and_configured_hosts_are_answered(
    client_factory: Callable[..., TestClient],
) -> None:
    with client_factory(allowed_hosts=[]) as client:
        assert is_problem(client.get("/api/v1/logs"), 400)  # Host: testserver is not configured
        for host in ("127.0.0.1:8080", "localhost", "LOCALHOST:80", "[::1]:8080", "127.0.0.1"):
            assert client.get("/api/v1/logs", headers={"host": host}).status_code == 200, host
        for host in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example", ""):
            response = client.get("/api/v1/logs", headers={"host": host})
            assert is_problem(response, 400), host
        assert client.get("/", headers={"host": "evil.example"}).status_code == 400
        # Health probes (e.g. Kubernetes, which sends the pod IP) still answer.
        assert client.get("/healthz", headers={"host": "10.1.2.3:8080"}).status_code == 200
    with client_factory(
        allowed_hosts="pm.example.com", host="10.0.0.5", public_url="https://premortem.example"
    ) as client:
        for host in ("pm.example.com", "10.0.0.5:8080", "premortem.example", "localhost"):
            assert client.get("/api/v1/logs", headers={"host": host}).status_code == 200, host
        assert client.get("/api/v1/logs", headers={"host": "evil.example"}).status_code == 400
    with client_factory(allowed_hosts="*") as client:
        assert client.get("/api/v1/logs", headers={"host": "anything.example"}).status_code == 200


def test_a_client_with_its_own_token_is_answered_by_any_name(
    client_factory: Callable[..., TestClient],
) -> None:
    """Rebinding borrows a browser's ambient access; Prometheus scraping the pod IP or a shipper
    using the server's address presents a token of its own (review of issue 13)."""
    with client_factory(tokens=TOKENS, allowed_hosts=[]) as client:
        by_ip = {"host": "10.1.2.3:8080"}
        assert client.get("/api/v1/logs", headers={**by_ip, **ADMIN}).status_code == 200
        assert client.get("/metrics", headers={**by_ip, **ADMIN}).status_code == 200
        assert is_problem(client.get("/api/v1/logs", headers=by_ip), 400)  # no token: no
        wrong = {"authorization": "Bearer nope"}
        assert is_problem(client.get("/api/v1/logs", headers={**by_ip, **wrong}), 401)
    with client_factory(allowed_hosts=[]) as client:  # an open server: every request is ambient
        bearer = {"host": "10.1.2.3:8080", "authorization": "Bearer x"}
        assert is_problem(client.get("/api/v1/logs", headers=bearer), 400)


# ------------------------------------------------------------------ 3. Origin check


def test_cross_site_writes_are_refused_in_open_mode(client: TestClient) -> None:
    evil = {"origin": "https://evil.example"}
    assert is_problem(client.post("/api/v1/schedules", json=TRAIN, headers=evil), 403)
    assert is_problem(client.post("/api/v1/train", headers=evil), 403)
    assert is_problem(client.delete("/api/v1/schedules/nightly", headers=evil), 403)
    assert is_problem(client.post("/api/v1/schedules", json=TRAIN, headers={"origin": "null"}), 403)
    cross = {"sec-fetch-site": "cross-site"}
    assert is_problem(client.post("/api/v1/schedules", json=TRAIN, headers=cross), 403)
    assert client.get("/api/v1/schedules").json()["total"] == 0
    # The server's own pages, and clients that send no Origin (curl, shippers), still write.
    own = {"origin": "http://testserver", "sec-fetch-site": "same-origin"}
    assert client.post("/api/v1/schedules", json=TRAIN, headers=own).status_code == 201
    assert client.post("/api/v1/schedules", json=TRAIN).status_code == 201
    assert client.get("/api/v1/logs", headers=evil).status_code == 200  # reads are not writes


def test_cookie_writes_need_the_same_origin_bearer_writes_do_not(
    client_factory: Callable[..., TestClient],
) -> None:
    evil = {"origin": "https://evil.example"}
    with client_factory(tokens=TOKENS) as client:
        client.cookies.set("premortem_token", "adm1n")
        response = client.post("/api/v1/schedules", json=TRAIN, headers=evil)
        assert is_problem(response, 403)
        own = {"origin": "http://testserver"}
        assert client.post("/api/v1/schedules", json=TRAIN, headers=own).status_code == 201
        client.cookies.clear()
        response = client.post("/api/v1/schedules", json=TRAIN, headers={**evil, **ADMIN})
        assert response.status_code == 201, response.text


def test_dashboard_forms_behind_a_proxy_count_the_public_url_as_this_site(
    client_factory: Callable[..., TestClient],
) -> None:
    """The dashboard's form posts follow the guard's rule: the public URL's origin is this site,
    whatever Host the proxy sends (review of issue 13)."""
    public = {"origin": "https://pm.example.com"}
    with client_factory(tokens=TOKENS, public_url="https://pm.example.com") as client:
        client.cookies.set("premortem_token", "adm1n")
        sent = client.post("/alerts/missing/ack", headers=public, follow_redirects=False)
        assert sent.status_code != 403, sent.text
        evil = client.post(
            "/alerts/missing/ack",
            headers={"origin": "https://evil.example"},
            follow_redirects=False,
        )
        assert evil.status_code == 403


# ------------------------------------------------------------------ 4. safelisted content types


LINE = json.dumps({"body": "connection pool exhausted", "service": "checkout"})


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ],
)
def test_open_mode_refuses_browser_form_content_types_on_json_routes(
    client: TestClient, content_type: str
) -> None:
    headers = {"content-type": content_type}
    assert is_problem(client.post("/api/v1/logs", content=LINE, headers=headers), 415)
    assert is_problem(client.post("/api/v1/events", content="{}", headers=headers), 415)
    assert is_problem(client.post("/api/v1/train", content="", headers=headers), 415)
    assert is_problem(client.post("/loki/api/v1/push", content="{}", headers=headers), 415)
    assert client.get("/api/v1/logs").json()["total"] == 0


def test_shippers_content_types_are_still_ingested(
    client: TestClient, client_factory: Callable[..., TestClient]
) -> None:
    for content_type in ("application/json", "application/x-ndjson", "application/jsonl"):
        response = client.post("/api/v1/logs", content=LINE, headers={"content-type": content_type})
        assert response.status_code == 200, (content_type, response.text)
    otlp = client.post("/v1/logs", content=b"", headers={"content-type": "application/x-protobuf"})
    assert otlp.status_code == 200, otlp.text
    # The login form is a form on purpose.
    login = client.post("/login", data={"token": "x"}, follow_redirects=False)
    assert login.status_code == 303
    # With tokens a text/plain batch needs a bearer token a browser cannot attach cross-site.
    with client_factory(tokens="ing=ingest") as tokened:
        headers = {"content-type": "text/plain", "authorization": "Bearer ing"}
        assert tokened.post("/api/v1/logs", content=LINE, headers=headers).status_code == 200


# ------------------------------------------------------------------ 5. body limit, auth first


def test_model_routes_have_a_smaller_body_limit_than_ingest(
    client_factory: Callable[..., TestClient],
) -> None:
    with client_factory(max_api_body_bytes=4096, max_body_bytes=64 * 1024) as client:
        padded = {**TRAIN, "name": "x" * 100, "params": {"pad": "y" * 10_000}}
        response = client.post("/api/v1/schedules", json=padded)
        assert is_problem(response, 413)
        assert client.get("/api/v1/schedules").json()["total"] == 0
        lines = [
            json.dumps({"body": f"request {i} served", "service": "checkout"}) for i in range(200)
        ]
        batch = "\n".join(
            lines
        )  # ~10 kB: an ingest batch, over the API limit, under the ingest one
        response = client.post(
            "/api/v1/logs", content=batch, headers={"content-type": "application/x-ndjson"}
        )
        assert response.status_code == 200 and response.json()["stored"] == 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(settings: Settings) -> Iterator[int]:
    port = _free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def status_of(port: int, head: str, body: bytes = b"", *, wait_s: float = 5.0) -> tuple[int, str]:
    """Send a request whose Content-Length may promise more than `body`; the status and headers
    of the answer, which must come within `wait_s` (a server that waits for the body fails)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            pytest.fail(f"no answer within {wait_s}s: the server is waiting for the body")
    head_text = answer.split(b"\r\n\r\n")[0].decode()
    return int(head_text.split()[1]), head_text.lower()


def post_head(port: int, path: str, length: int, *extra: str) -> str:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        *extra,
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def tokened_server(tmp_path: Path) -> Iterator[int]:
    database_url = f"sqlite:///{tmp_path / 'edge.db'}"
    settings = Settings(database_url=database_url, tokens=TOKENS, body_timeout_s=0.5)
    with served(settings) as port:
        yield port


BIG = 200 * 1024 * 1024


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/silences",
        "/api/v1/failure-modes",
        "/api/v1/schedules",
        "/api/v1/what-if",
        "/api/v1/alerts/a1/ack",
        "/api/v1/alerts/a1/feedback",
        "/api/v1/logs",
    ],
)
def test_the_token_is_checked_before_the_body_is_read(tokened_server: int, path: str) -> None:
    # 200 MB promised, none sent: the answer must come without reading (or waiting for) it.
    status, head = status_of(tokened_server, post_head(tokened_server, path, BIG))
    assert status == 401 and PROBLEM in head
    wrong = post_head(tokened_server, path, BIG, "Authorization: Bearer wrong")
    assert status_of(tokened_server, wrong)[0] == 401


def test_a_token_without_the_scope_is_refused_before_the_body_is_read(tokened_server: int) -> None:
    head = post_head(tokened_server, "/api/v1/silences", BIG, "Authorization: Bearer r3ad")
    assert status_of(tokened_server, head)[0] == 403


def test_an_oversize_content_length_is_refused_before_the_body_is_read(
    tokened_server: int,
) -> None:
    for path in ("/api/v1/silences", "/api/v1/logs"):
        head = post_head(tokened_server, path, BIG, "Authorization: Bearer adm1n")
        status, headers = status_of(tokened_server, head)
        assert status == 413 and PROBLEM in headers


def test_a_body_shorter_than_its_content_length_times_out(tokened_server: int) -> None:
    for path in ("/api/v1/silences", "/api/v1/logs"):
        head = post_head(tokened_server, path, 100, "Authorization: Bearer adm1n")
        started = time.monotonic()
        status, headers = status_of(tokened_server, head, b'{"matchers"')
        assert status == 408 and PROBLEM in headers
        assert time.monotonic() - started < 4


# ------------------------------------------------------------------ the page


def test_the_security_page_example_prints_what_it_says() -> None:
    doc = Path(__file__).parents[2] / "docs" / "security.md"
    example = doc.read_text().split("## Example", 1)[1]
    code = re.search(r"```python\n(.*?)```", example, re.S)
    expected = re.search(r"```text\n(.*?)```", example, re.S)
    assert code and expected
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), str(doc), "exec"), {})
    assert out.getvalue() == expected.group(1)


@pytest.mark.parametrize("path", ["/modes", "/modes/fm-1/edit", "/alerts/a1/ack"])
def test_a_dashboard_form_is_not_read_before_its_sign_in_is_checked(
    tokened_server: int, path: str
) -> None:
    # Under the 1 MiB limit, promised and never sent: a signed-out browser is sent to sign in at
    # once; before, the guard waited for the form (408) and only the page then checked the cookie.
    head = post_head(tokened_server, path, 900_000).replace(
        "application/json", "application/x-www-form-urlencoded"
    )
    status, headers = status_of(tokened_server, head)
    assert status == 303 and "location: /login?next=" in headers
    viewer = head.replace("Content-Length", "Cookie: premortem_token=r3ad\nContent-Length")
    if path.startswith("/modes"):  # editing modes needs `admin`: a reader is refused, unread
        assert status_of(tokened_server, viewer)[0] == 403
