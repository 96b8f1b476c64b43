"""`GET /api/v1/backtest`: the Backtest page's report as JSON.

What premortem said live in a time range (its stored predictions) scored against what failed in
it, next to the naive baseline — the same `premortem.evaluation.history` report, from the same
source and for the same window as the page (`/backtest`), and the `live` section of
`premortem backtest history`. The window: `since`/`until`, or a relative `range`; by default the
last seven days, or the stored data when none of it is that recent.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from premortem.domain import optional_ns
from premortem.service.deps import CanRead
from premortem.service.params import Since, Until
from premortem.service.ui import timerange
from premortem.service.ui.backtest import DEFAULT_RANGE, source_of
from premortem.service.ui.web import runtime_of

router = APIRouter(prefix="/api/v1", tags=["learning"])

RangeName = Annotated[
    str | None,
    Query(pattern="^(" + "|".join(timerange.RANGES) + ")$", description="a relative window"),
]


@router.get("/backtest", dependencies=[CanRead])
def backtest(
    request: Request,
    since: Since = None,
    until: Until = None,
    range: RangeName = None,
    service: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    runtime = runtime_of(request)
    window = timerange.choose_ns(
        runtime.overview.data_extent,
        runtime.clock.now_ns(),
        range,
        optional_ns(since),
        optional_ns(until),
        default=DEFAULT_RANGE,
        names=("since", "until"),
    )
    report = source_of(request).report(
        since_ns=window.since_ns, until_ns=window.until_ns, service=service or None
    )
    return report.to_json()
