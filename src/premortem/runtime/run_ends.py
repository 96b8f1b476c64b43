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

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from premortem.domain import TestRun, datetime_to_ns
from premortem.learn.run_end import RunEnd
from premortem.ports import Page, StoredTestRun, TestRunQuery
from premortem.runtime.training import run_end_ns, run_window_ns, run_windows_ns

HOUR_NS = 3600 * 10**9
LOOK_BACK_NS = 2 * HOUR_NS  # runs that started this long before the stream's time still count
LOOK_AHEAD_NS = 24 * HOUR_NS  # and runs sent before their logs (a replay), this far ahead
MAX_RUNS = 1000
MAX_SEEN = 10_000
# Every look asks only for the runs sent since the last one (a margin for the clocks of several
# hosts); all runs near the stream are read again this often, as the stream moves on.
FULL_LOOK_NS = 30 * 10**9
RECEIVED_MARGIN_NS = 30 * 10**9


class RunSource(Protocol):
    def list_test_runs(self, query: TestRunQuery) -> Page[StoredTestRun]: ...


class StoredRunEnds:
    """The ends of the stored test runs near the stream's time, by the training windows' rule.

    Validating a thousand stored runs takes about a tenth of a second, so each look reads only
    the runs sent since the last one and keeps the others; every FULL_LOOK_NS it reads all the
    runs near the stream again (the stream has moved on; a host's clock may be behind)."""

    def __init__(self, runs: RunSource, *, wall_ns: Callable[[], int] = time.time_ns) -> None:
        self._runs = runs
        self._wall_ns = wall_ns
        self._known: dict[str, TestRun] = {}  # the runs near the stream, by test id
        self._full_at = -FULL_LOOK_NS  # wall clock of the last look at every run
        self._looked_at = 0  # wall clock of the last look
        # Per run: the stream's time when it was first seen (a run without an end of its own,
        # reported after its start, ended by then).
        self._first_seen: dict[str, int] = {}

    def near(self, newest_ns: int, *, every: bool = False) -> list[RunEnd]:
        """The ends of the runs near `newest_ns` — none when this look found no run sent since
        the last one (the predictor keeps what it was told), all of them on a full look or when
        asked for `every` one (a new predictor)."""
        now = self._wall_ns()
        since, until = newest_ns - LOOK_BACK_NS, newest_ns + LOOK_AHEAD_NS
        full = now - self._full_at >= FULL_LOOK_NS
        query = TestRunQuery(
            since_ns=since,
            until_ns=until,
            limit=MAX_RUNS,
            newest_first=False,  # more than MAX_RUNS ahead: the nearest are the ones due
            received_since_ns=None if full else self._looked_at - RECEIVED_MARGIN_NS,
        )
        fresh = [stored.run for stored in self._runs.list_test_runs(query).items]
        if not (fresh or full or every):
            self._looked_at = now
            return []
        if full:
            self._known, self._full_at = {}, now
        self._looked_at = now
        self._known.update((run.test_id, run) for run in fresh)
        runs = [r for r in self._known.values() if since <= datetime_to_ns(r.timestamp) < until]
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
