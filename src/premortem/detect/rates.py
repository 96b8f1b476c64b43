"""Detectors over per-window counts: rate bursts and drops, and rises of the error ratio.

Both keep, per key (a service, or a service and template), the values of the last `history`
windows, and judge a new window against them. Robust statistics (median and MAD) keep one past
burst from hiding the next one.

>>> detector = RateDetector(warmup=3)
>>> for count in [10, 12, 9, 11, 10]:
...     detector.learn_one({"key": "api", "count": count})
>>> round(detector.score_one({"key": "api", "count": 60}), 1)
15.8
>>> round(detector.score_one({"key": "api", "count": 11}), 2)
0.32
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAD_TO_SD = 1.4826  # MAD of a normal distribution times this is its standard deviation


def median_mad(values: list[float]) -> tuple[float, float]:
    """Median and median absolute deviation."""
    ordered = sorted(values)
    median = _middle(ordered)
    return median, _middle(sorted(abs(v - median) for v in ordered))


def _middle(ordered: list[float]) -> float:
    n = len(ordered)
    if n == 0:
        return 0.0
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


@dataclass(slots=True)
class _Histories:
    """Bounded per-key histories; the key first seen longest ago is dropped past `max_keys`."""

    history: int
    max_keys: int
    values: OrderedDict[Hashable, deque[Any]] = field(default_factory=OrderedDict)

    def append(self, key: Hashable, value: Any) -> None:
        values = self.values.get(key)
        if values is None:
            if len(self.values) >= self.max_keys:
                self.values.popitem(last=False)
            values = self.values[key] = deque(maxlen=self.history)
        values.append(value)

    def get(self, key: Hashable) -> deque[Any] | None:
        return self.values.get(key)


class RateDetector:
    """|count − median| / scale over the last `history` windows of the same key.

    `x = {"key": hashable, "count": number}`. The scale is the larger of 1.4826·MAD (a robust
    standard deviation), √median (the Poisson spread, so steady counts with MAD 0 don't turn
    every wiggle into an alarm) and `min_scale`. Scores 0 until a key has `warmup` windows.
    """

    histories_: _Histories | None = None

    def __init__(
        self,
        *,
        history: int = 180,
        warmup: int = 6,
        min_scale: float = 1.0,
        max_keys: int = 50_000,
    ) -> None:
        self.history = history
        self.warmup = warmup
        self.min_scale = min_scale
        self.max_keys = max_keys

    def learn_one(self, x: Mapping[str, Any]) -> None:
        if self.histories_ is None:
            self.histories_ = _Histories(self.history, self.max_keys)
        self.histories_.append(x["key"], float(x["count"]))

    def score_one(self, x: Mapping[str, Any]) -> float:
        return self.score_against(self.baseline(x), x)

    def score_against(self, baseline: tuple[float, float] | None, x: Mapping[str, Any]) -> float:
        """`score_one` given the key's `baseline` (computed once by a caller that needs both)."""
        if baseline is None:
            return 0.0
        median, scale = baseline
        return abs(float(x["count"]) - median) / scale

    def knows(self, key: Hashable) -> bool:
        """Whether the key has a history (it may have been dropped past `max_keys`)."""
        return self.histories_ is not None and self.histories_.get(key) is not None

    def baseline(self, x: Mapping[str, Any]) -> tuple[float, float] | None:
        """(median, scale) of the key's history, or None while it is warming up."""
        values = self.histories_.get(x["key"]) if self.histories_ else None
        if values is None or len(values) < self.warmup:
            return None
        if values.count(0.0) > len(values) // 2:
            # Counts are never negative: with more than half of them zero the median is 0 and
            # so is the MAD. Most templates of a busy service are rare, and their histories
            # mostly zeros; this skips two sorts per template and window for the same answer.
            return 0.0, max(0.0, self.min_scale)
        median, mad = median_mad(list(values))
        return median, max(MAD_TO_SD * mad, math.sqrt(max(median, 0.0)), self.min_scale)


class ErrorRatioDetector:
    """How far the errors of a window exceed what the key's recent error ratio predicts.

    `x = {"key": hashable, "errors": int, "total": int}`. The baseline ratio p pools the last
    `history` windows (with a pseudo-count, so a clean past still allows rare errors); the score
    is the binomial z-score (errors − total·p) / √(total·p·(1−p) + 1), floored at 0 because fewer
    errors than usual is not a failure signal. Windows with fewer than `min_total` records, and
    keys with fewer than `warmup` windows, score 0.
    """

    histories_: _Histories | None = None

    def __init__(
        self,
        *,
        history: int = 180,
        warmup: int = 6,
        min_total: int = 10,
        max_keys: int = 50_000,
    ) -> None:
        self.history = history
        self.warmup = warmup
        self.min_total = min_total
        self.max_keys = max_keys

    def learn_one(self, x: Mapping[str, Any]) -> None:
        if self.histories_ is None:
            self.histories_ = _Histories(self.history, self.max_keys)
        self.histories_.append(x["key"], (int(x["errors"]), int(x["total"])))

    def score_one(self, x: Mapping[str, Any]) -> float:
        total, errors = int(x["total"]), int(x["errors"])
        ratio = self.baseline_ratio(x)
        if ratio is None or total < self.min_total:
            return 0.0
        expected = total * ratio
        return max(0.0, (errors - expected) / math.sqrt(expected * (1 - ratio) + 1.0))

    def baseline_ratio(self, x: Mapping[str, Any]) -> float | None:
        """The key's pooled recent error ratio, or None while it is warming up."""
        values = self.histories_.get(x["key"]) if self.histories_ else None
        if values is None or len(values) < self.warmup:
            return None
        errors: int = sum(e for e, _ in values)
        total: int = sum(n for _, n in values)
        return (errors + 0.5) / (total + 1.0)
