from __future__ import annotations

from premortem.domain import FailureMode, Mitigation, Source, Trigger, TriggerKind
from premortem.modes.edit import apply_patch, differs, merge_learned


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


def test_retraining_keeps_hand_written_fields_triggers_and_mitigations() -> None:
    stored = apply_patch(learned(), {"description": "written by on-call"})
    stored = stored.model_copy(
        update={
            "mitigations": [
                *stored.mitigations,
                Mitigation(action="page the DBA", source=Source.MANUAL),
            ],
            "triggers": [
                *stored.triggers,
                Trigger(
                    kind=TriggerKind.EVENT_SEQUENCE, description="deploy", source=Source.MANUAL
                ),
            ],
        }
    )
    retrained = learned(
        description="learned text",
        triggers=[Trigger(kind=TriggerKind.LOG_PATTERN, description="pool wait", precision=0.9)],
    )
    merged = merge_learned(stored, retrained)
    assert merged.description == "written by on-call"
    assert [t.description for t in merged.triggers] == ["deploy", "pool wait"]
    assert merged.triggers[1].precision == 0.9
    assert [m.action for m in merged.mitigations] == ["page the DBA", "raise the pool size"]


def test_manual_modes_are_never_touched_by_training() -> None:
    manual = learned(source=Source.MANUAL, name="mine")
    assert merge_learned(manual, learned()) == manual


def test_differs_ignores_version_bookkeeping() -> None:
    assert not differs(learned(version=1), learned(version=7))
    assert differs(learned(), learned(name="other"))
