"""The native suite (`native_suite.py`) and a model trained on its first eight runs, shared by
the tests of the online predictor on runs back to back (a module may define its own)."""

from __future__ import annotations

import pytest

from premortem.domain import LogRecord, TestRun
from premortem.learn import TrainedModel, train
from premortem.runtime.training import logs_by_run, run_windows_ns

from .native_suite import suite


@pytest.fixture(scope="module")
def recorded() -> tuple[list[TestRun], list[LogRecord], dict[str, int]]:
    return suite(12)


@pytest.fixture(scope="module")
def model(recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]) -> TrainedModel:
    """Trained on the first eight runs, their logs tied to them by the training window rule."""
    runs, records, _ = recorded
    return train(runs[:8], logs_by_run(runs[:8], records, windows=run_windows_ns(runs)))
