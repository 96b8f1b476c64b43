"""What the pages compute from what the repositories give: pagers and who reproduced which mode.

The queries themselves live in the store (`store/overview.py` and the repositories).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from premortem.domain import FailureMode


@dataclass(frozen=True, slots=True)
class PageInfo:
    total: int
    offset: int
    limit: int
    shown: int

    @property
    def first(self) -> int:
        return self.offset + 1 if self.shown else 0

    @property
    def last(self) -> int:
        return self.offset + self.shown

    @property
    def prev(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None

    @property
    def next(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None


def modes_reproduced_by(modes: Sequence[FailureMode]) -> dict[str, list[FailureMode]]:
    """Test run id → the failure modes whose evidence cites it."""
    found: dict[str, list[FailureMode]] = {}
    for mode in modes:
        for run_id in mode.evidence.test_runs:
            found.setdefault(run_id, []).append(mode)
    return found
