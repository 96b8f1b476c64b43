"""Discrete-event simulation results (`SimulationRun`, see docs/simulation-schema.md).

There is no common wire format for simulation output, so premortem defines one: the JSON form of
`premortem.domain.SimulationRun`. One run or a JSON array of runs; pydantic validates, and every
error is reported with a JSON pointer (`/series/0/values`, `/2/started_at` in a batch).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from premortem.domain import SimulationRun
from premortem.ingest.fields import (
    check_depth,
    each_record,
    expect_object,
    load_documents,
    validation_error,
)


def parse(data: bytes | str | Any, *, now_ns: int = 0) -> list[SimulationRun]:
    del now_ns  # a run carries its own start time
    items, batch = load_documents(data)
    return [run for _, run in each_record(items, _simulation_run, batch=batch)]


def _simulation_run(item: Any) -> SimulationRun:
    check_depth(item, "")
    doc = expect_object(item, "")
    try:
        return SimulationRun.model_validate(doc)
    except ValidationError as exc:
        raise validation_error(exc, doc=doc) from exc
