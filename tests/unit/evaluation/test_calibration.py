"""The probability metrics: Brier score, ECE over 10 bins, the reliability table, false alarms."""

from __future__ import annotations

import pytest

from premortem.evaluation import Forecast, calibration_report, false_alarms_per_day
from premortem.evaluation.scoring import Alerts, RunOutcome, score

S = 1_000_000_000


def test_calibration_by_hand() -> None:
    forecasts = [
        Forecast(0.9, True),
        Forecast(0.9, True),
        Forecast(0.9, False),
        Forecast(0.15, False),
    ]
    report = calibration_report(forecasts)
    # Brier: (0.01 + 0.01 + 0.81 + 0.0225) / 4
    assert report["brier"] == pytest.approx(0.2131, abs=1e-4)
    # ECE: 3/4 * |0.9 - 2/3| + 1/4 * |0.15 - 0|
    assert report["ece"] == pytest.approx(0.75 * (0.9 - 2 / 3) + 0.25 * 0.15, abs=1e-4)
    assert report["reliability"] == [
        {"bin_lo": 0.1, "bin_hi": 0.2, "n": 1, "mean_p": 0.15, "observed": 0.0},
        {"bin_lo": 0.9, "bin_hi": 1.0, "n": 3, "mean_p": 0.9, "observed": 0.6667},
    ]


def test_probability_one_falls_in_the_last_bin_and_nothing_gives_none() -> None:
    assert calibration_report([Forecast(1.0, True)])["reliability"][0]["bin_hi"] == 1.0
    assert calibration_report([]) == {"brier": None, "ece": None, "reliability": []}


def test_false_alarms_per_day() -> None:
    assert false_alarms_per_day(3, 12 * 3600 * S) == 6.0
    assert false_alarms_per_day(3, 0) is None


def _failed(alerts: list[tuple[int, str, float]], *, onset_s: int, kind: str) -> RunOutcome:
    return RunOutcome(
        "r1",
        failed=True,
        faulty=True,
        kind=kind,
        onset_ns=onset_s * S,
        fault_ns=0,
        model=Alerts([(t, k) for t, k, _ in alerts], alerts),
        baseline=Alerts([(0, "other")], [(0, "other", 1.0)]),
        lines=10,
        watched_ns=onset_s * S,
        horizon_ns=300 * S,
    )


def test_a_forecast_comes_true_only_for_its_kind_within_the_horizon() -> None:
    outcome = _failed(
        [(100 * S, "db", 0.8), (200 * S, "cache", 0.6), (700 * S, "db", 0.9)],
        onset_s=900,
        kind="db",
    )
    report = score([outcome], "model")
    # 100 s: 800 s before onset, beyond the 300 s horizon; 200 s: wrong kind; 700 s: came true.
    assert [row["observed"] for row in report["reliability"]] == [0.0, 0.0, 1.0]
    assert report["brier"] == pytest.approx((0.64 + 0.36 + 0.01) / 3, abs=1e-4)
    baseline = score([outcome], "baseline")
    assert baseline["ece"] == 1.0  # it asserted "other" with certainty and was wrong
    assert baseline["false_alarms_per_day"] == 0.0
