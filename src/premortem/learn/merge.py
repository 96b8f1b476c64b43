"""Merging retrained modes into the failure-mode database without losing hand-written knowledge.

Rules: a manual mode is kept as it is (learned triggers and evidence for the same id are added to
it, its own text never changes); inside a learned mode, manual triggers and mitigations survive
and learned ones are replaced by the new learning (matched by id, so nothing is duplicated); the
version goes up when the learned content changed. A learned mode that retraining no longer
finds, with nothing written into it by hand, is retired (`retired_modes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from premortem.domain import Evidence, FailureMode, Mitigation, Source, Trigger


def merge_modes(
    existing: Sequence[FailureMode], learned: Sequence[FailureMode]
) -> list[FailureMode]:
    """The database after retraining: every existing mode (updated) and every new learned one."""
    merged = {mode.id: mode.model_copy(deep=True) for mode in existing}
    for new in learned:
        old = merged.get(new.id)
        merged[new.id] = new.model_copy(deep=True) if old is None else _merge_one(old, new)
    return list(merged.values())


def retired_modes(existing: Sequence[FailureMode], learned_ids: Iterable[str]) -> list[FailureMode]:
    """The learned modes that a retraining on the whole history no longer learns: the runs they
    were learned from are gone, or no longer failures (an outcome corrected), or the same
    failure is now known under another key. A mode someone wrote into (an edited field, a manual
    trigger or mitigation) is kept."""
    learned = set(learned_ids)
    return [
        mode
        for mode in existing
        if mode.source != Source.MANUAL
        and mode.id not in learned
        and not mode.manual_fields
        and not _keep_manual(mode.triggers)
        and not _keep_manual(mode.mitigations)
    ]


def _merge_one(old: FailureMode, new: FailureMode) -> FailureMode:
    triggers = _keep_manual(old.triggers) + _fresh(new.triggers, old.triggers)
    mitigations = _keep_manual(old.mitigations) + _fresh(new.mitigations, old.mitigations)
    evidence = Evidence(
        test_runs=list(dict.fromkeys([*old.evidence.test_runs, *new.evidence.test_runs])),
        simulation_runs=list(
            dict.fromkeys([*old.evidence.simulation_runs, *new.evidence.simulation_runs])
        ),
        log_excerpts=_unique_excerpts([*old.evidence.log_excerpts, *new.evidence.log_excerpts]),
    )
    changed = (
        _learned_state(old.triggers) != _learned_state(triggers)
        or _learned_state(old.mitigations) != _learned_state(mitigations)
        or old.evidence != evidence
    )
    if old.source == Source.MANUAL:
        base = old
    else:  # learned text follows the learning; the manual edits of fields are kept below
        base = old.model_copy(update={"manifestation": new.manifestation or old.manifestation})
    return base.model_copy(
        update={
            "triggers": triggers,
            "mitigations": mitigations,
            "evidence": evidence,
            "version": old.version + (1 if changed else 0),
        }
    )


def _keep_manual(items: Sequence[Trigger] | Sequence[Mitigation]) -> list:  # type: ignore[type-arg]
    return [item.model_copy() for item in items if item.source == Source.MANUAL]


def _fresh(
    new: Sequence[Trigger] | Sequence[Mitigation], old: Sequence[Trigger] | Sequence[Mitigation]
) -> list:  # type: ignore[type-arg]
    """The learned items of `new`. Its manual items are the ones already in `old` (a trained model
    carries the manual modes it was given), so taking them again would double them on every
    retraining when they have no id."""
    manual_ids = {item.id for item in old if item.source == Source.MANUAL and item.id}
    return [
        item.model_copy()
        for item in new
        if item.source != Source.MANUAL and item.id not in manual_ids
    ]


def _learned_state(items: Sequence[Trigger] | Sequence[Mitigation]) -> list[str]:
    return sorted(item.model_dump_json() for item in items if item.source != Source.MANUAL)


def _unique_excerpts(excerpts: list[dict[str, object]]) -> list[dict[str, object]]:
    seen: dict[str, dict[str, object]] = {}
    for excerpt in excerpts:
        seen.setdefault(str(excerpt.get("record_id") or excerpt), excerpt)
    return list(seen.values())[:50]
