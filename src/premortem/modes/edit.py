"""Editing failure modes by hand.

What a person wrote wins: a field edited here is listed in `manual_fields`, and triggers and
mitigations written here are marked `source == "manual"`; retraining (learn/merge.py) keeps both.
"""

from __future__ import annotations

import re
from typing import Any

from premortem.domain import FailureMode, stable_id


def manual_mode_id(name: str, service: str) -> str:
    """The id of a hand-written mode: readable, and the same for the same name and service."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48] or "mode"
    return f"manual-{slug}-{stable_id('mode', name, service)[:8]}"


def apply_patch(mode: FailureMode, changes: dict[str, Any]) -> FailureMode:
    """The mode with `changes` applied; the changed fields become hand-written."""
    edited = sorted(set(mode.manual_fields) | set(changes))
    return mode.model_validate({**mode.model_dump(), **changes, "manual_fields": edited})


def differs(before: FailureMode, after: FailureMode) -> bool:
    """Whether saving `after` would change anything a reader sees (ignores version bookkeeping)."""
    ignore = {"version", "updated_at"}
    return before.model_dump(exclude=ignore) != after.model_dump(exclude=ignore)
