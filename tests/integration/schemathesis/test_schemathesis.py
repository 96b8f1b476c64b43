"""schemathesis (`st run`, every check, every operation, a fixed seed) against `premortem serve`
on SQLite and on PostgreSQL: no server error, no answer outside the OpenAPI document, and the
document's request schemas are what the server accepts (issue 13).

What a schema cannot say is listed, with the reason, in schemathesis.toml beside this file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from premortem_serving import PremortemProcess

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 20261202
EXAMPLES = 50  # per operation and phase: about 5,000 requests, a few minutes per database


@pytest.fixture(params=["sqlite", "postgresql"])
def server_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    premortem_process: Callable[..., PremortemProcess],
) -> str:
    if request.param == "sqlite":
        database = f"sqlite:///{tmp_path / 'premortem.db'}"
    else:
        database = request.getfixturevalue("fresh_postgres_url")
    server = premortem_process(database)
    server.start()
    return server.url


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    server_url: str, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    command = [
        str(BIN / "st"),
        "--config-file",
        str(CONFIG),
        "run",
        f"{server_url}/openapi.json",
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(EXAMPLES),
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False)
    elapsed = time.monotonic() - started
    summary = run.stdout[run.stdout.rfind("=== SUMMARY") :] if "SUMMARY" in run.stdout else ""
    print(f"schemathesis on {server_url}: {elapsed:.0f} s\n{summary}")
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-2000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", run.stdout)
    assert selected and selected[1] == selected[2], "not every operation was tested"
    assert report.exists() and json.loads(report.read_text())
