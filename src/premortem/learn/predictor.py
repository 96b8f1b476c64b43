"""The online predictor: log records in, failure-mode predictions out.

Each record is matched to a template (the model's miner keeps learning), may fire precursor
indicators, and whenever the set of active indicators changes — a new one fires or one expires —
the network gives every mode's probability of manifesting within the horizon. Evaluating only on
changes keeps the per-line cost at a template match and a dict lookup.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

from premortem.clock import Clock
from premortem.domain import LogRecord, Prediction, stable_id
from premortem.learn.model import TrainedModel


@dataclass(slots=True)
class _Fired:
    time_ns: int
    record_id: str
    template_id: int
    line: str
    service: str
    template: str = ""


class OnlinePredictor:
    """Feed records with `observe`; get predictions for modes at or above `min_probability`.

    A prediction is returned when the evidence changes and the mode's probability is at least
    `min_probability` (default: the model's alert threshold). `reset()` forgets the evidence
    (windows), not the templates — used between independent runs in a replay.
    """

    def __init__(
        self,
        model: TrainedModel,
        clock: Clock,
        horizon_s: float | None = None,
        *,
        min_probability: float | None = None,
    ) -> None:
        self.model = model
        self.clock = clock
        self.horizon_s = horizon_s or model.horizon_s
        self.min_probability = model.alert_threshold if min_probability is None else min_probability
        self._miner = copy.deepcopy(model.miner)
        self._indicators = model.indicators
        self._window_ns = int(model.indicators.window_s * 1e9)
        self._fired: dict[str, _Fired] = {}
        self._active: frozenset[str] = frozenset()
        self._next_expiry = 0
        self._names = {m.id: m for m in model.modes}

    def reset(self) -> None:
        self._fired.clear()
        self._active = frozenset()
        self._next_expiry = 0

    def observe(self, records: Iterable[LogRecord]) -> list[Prediction]:
        predictions: list[Prediction] = []
        add = self._miner.add
        fired_of = self._indicators.fired
        for record in records:
            match = add(record.body, service=record.service)
            names = fired_of(match.template_id, record.service, record.severity_number)
            now = record.time_ns
            changed = False
            for name in names:
                self._fired[name] = _Fired(
                    now,
                    record.id,
                    match.template_id,
                    record.body[:300],
                    record.service,
                    match.template,
                )
                changed = changed or name not in self._active
            if changed or (self._next_expiry and now >= self._next_expiry):
                predictions += self._evaluate(now)
        now = self.clock.now_ns()
        if self._next_expiry and now >= self._next_expiry:
            predictions += self._evaluate(now)
        return predictions

    def probabilities(self) -> dict[str, float]:
        """P(mode within the horizon) for the current evidence, per mode id."""
        posterior = self.model.network.posterior(self._active)
        factor = self.model.mode_factor
        return {mode: p * factor.get(mode, 1.0) for mode, p in posterior.items()}

    def _evaluate(self, now: int) -> list[Prediction]:
        horizon = now - self._window_ns
        self._fired = {k: v for k, v in self._fired.items() if v.time_ns > horizon}
        self._active = frozenset(self._fired)
        self._next_expiry = (
            min(v.time_ns for v in self._fired.values()) + self._window_ns if self._fired else 0
        )
        out = []
        for mode_id, probability in self.probabilities().items():
            if probability >= self.min_probability and self._active:
                out.append(self._prediction(mode_id, probability, now))
        return out

    def _prediction(self, mode_id: str, probability: float, now: int) -> Prediction:
        mode = self._names.get(mode_id)
        fired = sorted(self._fired.items(), key=lambda item: item[1].time_ns)
        leads = [t for trig in (mode.triggers if mode else []) for t in trig.lead_times_s]
        return Prediction(
            id="pr-" + stable_id(mode_id, now, sorted(self._active))[:16],
            time_ns=now,
            mode_id=mode_id,
            service=mode.service if mode else "",
            probability=round(min(max(probability, 0.0), 1.0), 4),
            horizon_s=self.horizon_s,
            lead_time_s=sorted(leads)[len(leads) // 2] if leads else None,
            evidence={
                "indicators": sorted(self._active),
                "template_ids": sorted({f.template_id for _, f in fired}),
                "record_ids": [f.record_id for _, f in fired][:20],
                "samples": [{"service": f.service, "line": f.line} for _, f in fired][:5],
                # The live lines that fired the indicators, in the shape alerting shows first.
                "templates": _templates(fired),
                "mode_name": mode.name if mode else mode_id,
            },
        )


def _templates(fired: list[tuple[str, _Fired]]) -> list[dict[str, object]]:
    by_template: dict[int, dict[str, object]] = {}
    for _, f in fired:
        entry = by_template.setdefault(
            f.template_id,
            {"template_id": None, "template": f.template or f.line, "samples": [], "count": 0},
        )
        samples = entry["samples"]
        assert isinstance(samples, list)
        if f.line not in samples:
            samples.append(f.line)
        entry["count"] = len(samples)
    return list(by_template.values())[:5]
