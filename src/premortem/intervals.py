"""Windows of time [begin, end) and which of them holds a moment, by bisection: the scorer's run
windows (`evaluation.history`) and the stretches training leaves out of normal time
(`runtime.training.series_between_runs`)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate


class Intervals:
    """Windows [begin, end), sorted by begin: which holds a moment, by bisection (the window
    starting last at or before it; an earlier one only where windows overlap, as runs of disjoint
    `services` may)."""

    def __init__(self, spans: Sequence[tuple[int, int]]) -> None:
        self.spans = sorted(spans)
        self._begins = [begin for begin, _ in self.spans]
        self._ends = sorted(end for _, end in self.spans)
        # Runs of disjoint `services` may overlap: then the reach of every earlier window counts.
        self._reach = list(accumulate((end for _, end in self.spans), max))

    def holds(self, when: int) -> bool:
        i = bisect_right(self._begins, when)
        if i == 0 or when >= self._reach[i - 1]:
            return False
        if when < self.spans[i - 1][1]:
            return True
        # Only where windows overlap: an earlier, longer window may hold it.
        return any(begin <= when < end for begin, end in self.spans[: i - 1])

    def end_before(self, when: int) -> int:
        """The latest window end at or before `when` (0: none)."""
        i = bisect_right(self._ends, when)
        return self._ends[i - 1] if i else 0
