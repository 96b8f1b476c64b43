"""The Backtest page's windows (premortem.evaluation.history): which window holds a moment."""

from __future__ import annotations


def test_intervals_hold_moments_of_overlapping_windows() -> None:
    from premortem.evaluation.history import Intervals

    windows = Intervals([(0, 100), (10, 20), (150, 160)])
    assert [windows.holds(t) for t in (-1, 0, 15, 50, 99, 100, 120, 155, 160)] == [
        False,
        True,
        True,
        True,
        True,
        False,
        False,
        True,
        False,
    ]
    assert windows.end_before(120) == 100 and windows.end_before(5) == 0
