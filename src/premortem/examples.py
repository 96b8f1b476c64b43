"""The bundled seed example: a failed chaos test run and the service logs around it."""

from __future__ import annotations

from importlib import resources

from premortem.domain import LogRecord
from premortem.ingest import native
from premortem.ports import StoredTestRun


def _data(name: str) -> bytes:
    return resources.files("premortem.data").joinpath(name).read_bytes()


def seed_example_bytes() -> bytes:
    return _data("seed-test-run.json")


def seed_logs_bytes() -> bytes:
    return _data("seed-logs.jsonl")


def load_seed_example() -> list[StoredTestRun]:
    return native.parse_test_runs(seed_example_bytes())


def load_seed_logs() -> list[LogRecord]:
    return native.parse_logs(seed_logs_bytes(), now_ns=0)
