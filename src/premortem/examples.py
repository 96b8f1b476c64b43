"""The bundled examples: the seed test run (and its logs), as shipped in premortem/data."""

from __future__ import annotations

from importlib import resources

from premortem.ingest import native
from premortem.ports import StoredTestRun


def seed_example_bytes() -> bytes:
    return resources.files("premortem.data").joinpath("seed-test-run.json").read_bytes()


def load_seed_example() -> list[StoredTestRun]:
    return [StoredTestRun(p.run, p.doc) for p in native.parse_test_runs(seed_example_bytes())]
