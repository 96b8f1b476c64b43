"""`premortem.evaluation.percentile` is numpy's default percentile (linear interpolation)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from premortem.domain import FailureMode, Trigger, TriggerKind
from premortem.evaluation import percentile
from premortem.service.ui.modes import trigger_stats


@pytest.mark.parametrize("seed", range(20))
def test_agrees_with_numpy(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.uniform(0, 600) for _ in range(rng.randint(1, 30))]
    for q in (0, 10, 25, 50, 90, 99.5, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-9)


def test_empty_is_none_and_out_of_range_is_refused() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="within 0 and 100"):
        percentile([1.0], 101)


def test_mode_detail_p10_p90_of_two_lead_times() -> None:
    # The example: [15.8, 29.3] was shown as "16s–16s".
    mode = FailureMode(
        id="fm-x",
        name="x",
        triggers=[
            Trigger(
                id="tr-x", kind=TriggerKind.LOG_PATTERN, description="x", lead_times_s=[29.3, 15.8]
            )
        ],
    )
    (row,) = trigger_stats(mode)
    assert row["p10"] == pytest.approx(float(np.percentile([15.8, 29.3], 10)))
    assert row["p90"] == pytest.approx(float(np.percentile([15.8, 29.3], 90)))
