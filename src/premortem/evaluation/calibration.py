"""Does "p = 0.9" mean 90 %? Brier score, expected calibration error and a reliability table.

A *forecast* is one alerting prediction: at time t premortem says "mode M manifests within H, with
probability p". It *came true* when the run failed with M's kind after t and no later than t + H.
Every alerting prediction counts (a re-fire is a new statement), so a detector that keeps
repeating a wrong p is judged by how often it repeats it.

- `brier`: mean of (p − outcome)²; 0 is perfect.
- `ece`: expected calibration error over 10 equal-width bins of p: the bins' |mean p − share
  that came true|, weighted by how many forecasts fell in each.
- `reliability`: per non-empty bin, `{bin_lo, bin_hi, n, mean_p, observed}` — the diagram's points.

The naive baseline states no probability; it asserts a failure (p = 1), so its calibration error
is the share of its alerts that did not come true.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

BINS = 10
DAY_NS = 86_400 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class Forecast:
    probability: float
    came_true: bool


def calibration_report(forecasts: Sequence[Forecast]) -> dict[str, Any]:
    """`brier`, `ece` and `reliability` over the forecasts (None and [] when there are none)."""
    if not forecasts:
        return {"brier": None, "ece": None, "reliability": []}
    bins: list[list[Forecast]] = [[] for _ in range(BINS)]
    for forecast in forecasts:
        p = min(max(forecast.probability, 0.0), 1.0)
        bins[min(int(p * BINS), BINS - 1)].append(forecast)
    total = len(forecasts)
    ece = 0.0
    table = []
    for index, members in enumerate(bins):
        if not members:
            continue
        mean_p = sum(f.probability for f in members) / len(members)
        observed = sum(f.came_true for f in members) / len(members)
        ece += len(members) / total * abs(mean_p - observed)
        table.append(
            {
                "bin_lo": round(index / BINS, 2),
                "bin_hi": round((index + 1) / BINS, 2),
                "n": len(members),
                "mean_p": round(mean_p, 4),
                "observed": round(observed, 4),
            }
        )
    brier = sum((f.probability - f.came_true) ** 2 for f in forecasts) / total
    return {"brier": round(brier, 4), "ece": round(ece, 4), "reliability": table}


def false_alarms_per_day(wrong_alerts: int, watched_ns: int) -> float | None:
    """Wrong alerts per day of replayed logs (None when nothing was watched)."""
    if watched_ns <= 0:
        return None
    return round(wrong_alerts / (watched_ns / DAY_NS), 3)
