"""Discrete-event simulation results (`SimulationRun`, see docs/simulation-schema.md).

There is no common wire format for simulation output, so premortem defines one: the JSON form of
`premortem.domain.SimulationRun`. One run or a JSON array of runs; pydantic validates, and its
first error is reported with a JSON pointer (`/series/0/values`, `/2/started_at` in a batch).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from premortem.domain import SimulationRun
from premortem.ingest.fields import (
    check_depth,
    expect_object,
    load_documents,
    validation_error,
)


def parse(data: bytes | str | Any, *, now_ns: int = 0) -> list[SimulationRun]:
    del now_ns  # a run carries its own start time
    items, batch = load_documents(data)
    runs = []
    for index, item in enumerate(items):
        at = f"/{index}" if batch else ""
        check_depth(item, at)
        try:
            runs.append(SimulationRun.model_validate(expect_object(item, at)))
        except ValidationError as exc:
            raise validation_error(exc, at=at) from exc
    return runs
