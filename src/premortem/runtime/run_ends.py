"""Test runs' ends, told to the live predictor: a run's end ends its incident.

Training never takes one run's lines for the next run's precursors (each run is its own window,
`training.run_windows_ns`). Live, the predictor saw one stream: a warning of a run that passed,
or of a failure that no log line reads like (seen only by the run's probe), stayed evidence into
the next run, and its alert fired on there (two trials: three of six "warned" failures were
warned by an alert carried over from the run before, and a fault-free run was alerted so).

So the stage that holds the predictor looks at the stored test runs now and then (a chaos tool
reports a run when it ends; a replay may send every run first) and tells the predictor each
run's end by the same rule training uses for its window. A run without `ended_at`,
`duration_s` or `failure_time` has no end of its own until the run after it is reported; one
reported with its outcome while the stream is already past its start ended by then; one sent
without an outcome yet (a Litmus ChaosResult still `Awaited`) is going on.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from premortem.domain import TestRun
from premortem.learn.run_end import RunEnd
from premortem.ports import Page, StoredTestRun, TestRunQuery
from premortem.runtime.training import run_end_ns, run_window_ns, run_windows_ns

HOUR_NS = 3600 * 10**9
LOOK_BACK_NS = 2 * HOUR_NS  # runs that started this long before the stream's time still count
LOOK_AHEAD_NS = 24 * HOUR_NS  # and runs sent before their logs (a replay), this far ahead
MAX_RUNS = 1000
MAX_SEEN = 10_000


class RunSource(Protocol):
    def list_test_runs(self, query: TestRunQuery) -> Page[StoredTestRun]: ...


class StoredRunEnds:
    """The ends of the stored test runs near the stream's time, by the training windows' rule."""

    def __init__(self, runs: RunSource) -> None:
        self._runs = runs
        # Per run: the stream's time when it was first seen (a run without an end of its own,
        # reported after its start, ended by then).
        self._first_seen: dict[str, int] = {}

    def near(self, newest_ns: int) -> list[RunEnd]:
        page = self._runs.list_test_runs(
            TestRunQuery(
                since_ns=newest_ns - LOOK_BACK_NS,
                until_ns=newest_ns + LOOK_AHEAD_NS,
                limit=MAX_RUNS,
                newest_first=False,  # more than MAX_RUNS ahead: the nearest are the ones due
            )
        )
        runs = [stored.run for stored in page.items]
        for run in runs:
            if run.actual_outcome is not None:
                self._first_seen.setdefault(run.test_id, newest_ns)
        while len(self._first_seen) > MAX_SEEN:
            del self._first_seen[next(iter(self._first_seen))]
        windows = run_windows_ns(runs)
        return sorted(end for run in runs if (end := self._end(run, windows)) is not None)

    def _end(self, run: TestRun, windows: dict[str, tuple[int, int]]) -> RunEnd | None:
        """The run's window's end; for a run with no end of its own that no later run has cut,
        when it was first seen with an outcome (None: no outcome yet, it is going on)."""
        end = RunEnd.of(run, windows)
        if run_end_ns(run) is not None or run.failure_time is not None:
            return end
        if end.end_ns < run_window_ns(run)[1]:
            return end  # cut where the next run starts
        seen = self._first_seen.get(run.test_id)
        if seen is None:
            return None  # no outcome yet (a Litmus ChaosResult `Awaited`): still going on
        start = windows[run.test_id][0]
        if start < seen < end.end_ns:
            return replace(end, end_ns=seen)  # reported while running (or after): ended by then
        return end
