"""Test runs' ends as the live predictor keeps them: a run's end ends its incident.

Training never takes one run's lines for the next run's precursors, so live a run's end, when
the stream reaches it, drops the evidence of its lines (`OnlinePredictor.end_runs`). This module
holds the ends told and not yet reached, in order; `runtime.run_ends` tells them from the
stored test runs, the offline replays from the runs they replay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import astuple, dataclass, replace
from typing import Any

from premortem.domain import TestRun, datetime_to_ns, outcome_text

NEVER = 1 << 62
MAX_ENDED = 10_000  # test runs whose end was reached (a run told again is not ended twice)


@dataclass(frozen=True, slots=True, order=True)
class RunEnd:
    """A test run's end (its window's, `training.run_windows_ns`). A failed run says when it
    failed (`failure_ns`, else its end) and what its test saw (`details`)."""

    end_ns: int
    test_id: str
    services: tuple[str, ...] = ()  # the run's `services`; empty: every source
    start_ns: int = 0
    failed: bool = False
    failure_ns: int | None = None
    service: str = ""
    details: str = ""

    @classmethod
    def of(cls, run: TestRun, windows: Mapping[str, tuple[int, int]]) -> RunEnd:
        """The end of `run`'s window among `windows` (`training.run_windows_ns`)."""
        start, end = windows[run.test_id]
        failed = run.failed
        details = outcome_text(run.failure_details) or outcome_text(run.actual_outcome)
        return cls(
            end,
            run.test_id,
            tuple(sorted(run.services or ())),
            start,
            failed,
            datetime_to_ns(run.failure_time) if failed and run.failure_time else None,
            run.service or "",
            details if failed else "",
        )

    def holds(self, service: str) -> bool:
        return not self.services or service in self.services


class RunEnds:
    """The ends told and not reached yet (by test id), and the runs already ended."""

    def __init__(self) -> None:
        self._pending: dict[str, RunEnd] = {}
        self._ended: dict[str, None] = {}  # the newest MAX_ENDED test ids whose end was reached
        self._before_start: set[str] = set()  # runs going on when the predictor started
        self.next_ns = NEVER  # the earliest pending end

    def tell(self, ends: Iterable[RunEnd], *, started_ns: int = 0) -> None:
        """A run told again replaces its end until the stream reaches it (its window is cut when
        the run after it is reported). `started_ns`: the stream's time when the predictor
        started (a model loaded then) — a run that ended before it has nothing there to end,
        and one going on then is not reported failed by it (its failure, seen or not, was in
        what the model learned from, or before it)."""
        for end in ends:
            if end.test_id in self._ended:
                continue
            if end.end_ns <= started_ns:
                self._remember(end.test_id)
                continue
            if end.start_ns < started_ns:
                self._before_start.add(end.test_id)
            if end.test_id in self._before_start:
                end = replace(end, failed=False)
            self._pending[end.test_id] = end
        self._next()

    def due(self, now_ns: int) -> list[RunEnd]:
        """The ends at or before `now_ns`, oldest first; each is then over."""
        due = [end for end in sorted(self._pending.values()) if end.end_ns <= now_ns]
        for end in due:
            del self._pending[end.test_id]
            self._before_start.discard(end.test_id)
            self._remember(end.test_id)
        self._next()
        return due

    def state(self) -> dict[str, Any]:
        return {
            "pending": [astuple(end) for end in sorted(self._pending.values())],
            "ended": list(self._ended),
            "before_start": sorted(self._before_start),
        }

    @classmethod
    def restore(cls, state: dict[str, Any] | None) -> RunEnds:
        ends = cls()
        if state:
            for end_ns, test_id, services, *more in state.get("pending", []):
                ends._pending[str(test_id)] = RunEnd(end_ns, test_id, tuple(services), *more)
            ends._ended = dict.fromkeys(str(i) for i in state.get("ended", []))
            ends._before_start = {str(i) for i in state.get("before_start", [])}
            ends._next()
        return ends

    def _remember(self, test_id: str) -> None:
        self._ended[test_id] = None
        if len(self._ended) > MAX_ENDED:
            del self._ended[next(iter(self._ended))]

    def _next(self) -> None:
        self.next_ns = min((end.end_ns for end in self._pending.values()), default=NEVER)
