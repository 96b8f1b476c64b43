"""The rate detector's shortcut for histories mostly of zeros gives the full computation's answer."""

from __future__ import annotations

import math
import random

from premortem.detect.rates import MAD_TO_SD, RateDetector, median_mad


def _full(values: list[float], min_scale: float) -> tuple[float, float]:
    median, mad = median_mad(values)
    return median, max(MAD_TO_SD * mad, math.sqrt(max(median, 0.0)), min_scale)


def test_baselines_of_sparse_and_dense_histories_match_median_and_mad() -> None:
    rng = random.Random(3)
    for trial in range(2000):
        detector = RateDetector(history=rng.randint(6, 40), warmup=1, min_scale=1.0)
        share = rng.random()  # how often the template shows up in a window
        counts = [float(rng.randint(1, 9)) if rng.random() < share else 0.0 for _ in range(50)]
        for count in counts:
            detector.learn_one({"key": "k", "count": count})
        kept = counts[-detector.history :]
        assert detector.baseline({"key": "k", "count": 0}) == _full(kept, 1.0), trial
