from __future__ import annotations

from premortem.domain import FailureMode, Mitigation, Source, Trigger, TriggerKind
from premortem.modes.edit import apply_patch, differs


def learned(**overrides: object) -> FailureMode:
    base = FailureMode(
        id="m1",
        name="pool exhaustion",
        triggers=[Trigger(kind=TriggerKind.LOG_PATTERN, description="pool wait", precision=0.8)],
        mitigations=[Mitigation(action="raise the pool size", source=Source.CATALOGUE)],
    )
    return base.model_copy(update=overrides)


def test_patch_marks_fields_as_hand_written() -> None:
    mode = apply_patch(learned(), {"name": "DB pool exhaustion"})
    assert mode.name == "DB pool exhaustion" and mode.manual_fields == ["name"]


def test_differs_ignores_version_bookkeeping() -> None:
    assert not differs(learned(version=1), learned(version=7))
    assert differs(learned(), learned(name="other"))
