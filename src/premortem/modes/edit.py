"""Editing failure modes by hand, and merging retrained modes into the database.

The rule both follow: what a person wrote wins. A hand-written mode is never touched by training;
on a learned mode, the fields a person edited (`manual_fields`) and the triggers and mitigations
they added (`source == "manual"`) are kept, while the learned parts are replaced by the new ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from premortem.domain import FailureMode, Source


def apply_patch(mode: FailureMode, changes: dict[str, Any]) -> FailureMode:
    """The mode with `changes` applied; the changed fields become hand-written."""
    edited = sorted(set(mode.manual_fields) | set(changes))
    return mode.model_validate({**mode.model_dump(), **changes, "manual_fields": edited})


def merge_learned(existing: FailureMode | None, learned: FailureMode) -> FailureMode:
    """The stored mode updated with what training learned, keeping every hand-written part."""
    if existing is None:
        return learned
    if existing.source is Source.MANUAL:
        return existing
    merged = learned.model_dump()
    for field in existing.manual_fields:
        merged[field] = getattr(existing, field)
    if "triggers" not in existing.manual_fields:
        merged["triggers"] = [*_hand_written(existing.triggers), *learned.triggers]
    if "mitigations" not in existing.manual_fields:
        kept = _hand_written(existing.mitigations)
        actions = {m.action for m in kept}
        merged["mitigations"] = [
            *kept,
            *(m for m in learned.mitigations if m.action not in actions),
        ]
    merged["manual_fields"] = existing.manual_fields
    merged["version"] = existing.version
    return FailureMode.model_validate(merged)


def _hand_written(items: Iterable[Any]) -> list[Any]:
    return [item for item in items if item.source is Source.MANUAL]


def differs(before: FailureMode, after: FailureMode) -> bool:
    """Whether saving `after` would change anything a reader sees (ignores version bookkeeping)."""
    ignore = {"version", "updated_at"}
    return before.model_dump(exclude=ignore) != after.model_dump(exclude=ignore)
