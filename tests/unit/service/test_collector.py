"""The server's garbage-collector settings (premortem.service.collector)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from premortem.config import Settings
from premortem.service.collector import tune_collector


@pytest.fixture
def restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored")
def test_the_start_up_heap_is_frozen_and_the_thresholds_set() -> None:
    tune_collector((12_345, 20, 100))
    assert gc.get_threshold() == (12_345, 20, 100)
    assert gc.get_freeze_count() > 0


def test_the_default_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().gc_thresholds == (10_000, 20, 100)
    monkeypatch.setenv("PREMORTEM_GC_THRESHOLDS", "[5000, 10, 50]")
    assert Settings().gc_thresholds == (5000, 10, 50)
