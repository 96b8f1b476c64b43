"""The Backtest page's lead-time histogram: what a reader sees (counts on whole ticks) and
nothing a browser warns about (an empty trace beside a full one)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from premortem.service.ui.backtest import lead_histogram


def _report(model: list[float], baseline: list[float]) -> Any:
    return SimpleNamespace(
        model_name="premortem",
        baseline_name="first ERROR line",
        model=SimpleNamespace(lead_times_s=model),
        baseline=SimpleNamespace(lead_times_s=baseline),
    )


def test_a_detector_without_lead_times_draws_no_trace_and_counts_are_whole() -> None:
    # Trial 20: the baseline warned of none of three failures; its empty trace made plotly
    # warn on the console ("group the bins … with a calendar"), and the y axis read 0.2 failures.
    chart = lead_histogram(_report([7.9, 12.3, 16.6], []))
    assert [len(trace["x"]) for trace in chart["data"]] == [3]
    assert chart["layout"]["xaxis"]["type"] == "linear"
    assert chart["layout"]["yaxis"]["dtick"] == 1


def test_many_lead_times_keep_plotly_s_ticks_but_whole_numbers() -> None:
    chart = lead_histogram(_report([float(x) for x in range(30)], [1.0]))
    assert len(chart["data"]) == 2
    assert "dtick" not in chart["layout"]["yaxis"]
    assert chart["layout"]["yaxis"]["tickformat"] == ",d"
