"""Summaries of samples shown beside each other (lead times): one percentile definition.

`percentile` interpolates linearly between the closest ranks, as numpy's default (`method=
"linear"`) does, so a p10–p90 range on a page can be checked against numpy on the same values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float | None:
    """The `q`-th percentile (0–100) of `values`; None when there are none."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0 and 100, got {q}")
    ordered = sorted(float(v) for v in values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction
