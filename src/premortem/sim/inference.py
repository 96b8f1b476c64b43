"""What-If inference with the trained Bayesian network, falling back to the simulation alone.

A simulated run says things the network may have variables for. `NetworkEstimator` is an
`estimate` for `what_if`: for every grid point it turns the run into evidence for the network
variables it can speak for, asks the network `P(mode | evidence)` by exact inference (variable
elimination; unmatched variables stay unobserved and are summed out) and combines the answer with
the simulation-only estimate (`failure_modes_from_run`).

Which network variables a run can speak for (everything else is left unobserved):

    sim:<condition>        a boolean of `conditions(run)`, e.g. ``sim:pool_saturated``
    sim:<condition>>=<x>   a numeric condition at or above x: ``sim:pool_utilisation_p95>=0.9``
    load:<parameter>>=<x>  a model parameter at or above x, e.g. ``load:request_rate>=200``
    fault                  the first injected fault's type, when the network knows that state

Combining: a mode only the simulation knows (the catalogue: pool exhaustion, queue overflow,
timeout storm) keeps the simulation's estimate; a mode only the network knows gets its posterior;
a mode both know (same id) gets the noisy-OR ``1 - (1 - p_sim)(1 - p_net)`` — two independent
sources of evidence, either of which may show the mode. When there is no trained network, or it
has no variable a run can speak for, the answer is the simulation's alone and says so
(`inference == "simulation-only"`).

>>> estimator = NetworkEstimator(None)
>>> estimator.inference, estimator.note
('simulation-only', 'no trained model yet')
"""

from __future__ import annotations

import math
import re
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

from premortem.conditions import (
    CONDITIONS,
    FAULT,
    LOAD_PREFIX,
    NO_FAULT,
    SIM_PREFIX,
    conditions,
)
from premortem.domain import FailureMode, SimulationRun
from premortem.sim.faults import FaultSpec
from premortem.sim.whatif import (
    ModeAppearance,
    ModeEstimate,
    ModePrediction,
    WhatIfResult,
    failure_modes_from_run,
)

Inference = Literal["bayesian-network", "simulation-only"]
# P(mode = 1 | evidence) for each of the modes; variables left out of the evidence are summed out.
Posterior = Callable[[Mapping[str, int | str], Sequence[str]], Mapping[str, float]]
# A condition that is an event in the run: its first occurrence is when the evidence appears.
_EVENT_CONDITIONS = {"pool_exhausted", "queue_overflow", "timeout_storm"}
_THRESHOLD = re.compile(r"^(?P<name>[a-z_0-9]+)>=(?P<value>-?[0-9.]+(?:e-?[0-9]+)?)$")
# The fault names test runs use for what the simulator calls by another name.
_FAULT_STATES = {
    "latency": ("latency", "network_latency", "added_latency"),
    "process_kill": ("process_kill", "kill"),
}
_BOOLEAN_CONDITIONS = _EVENT_CONDITIONS | {"pool_saturated", "workers_saturated", "high_error_rate"}
_NUMERIC_CONDITIONS = frozenset(CONDITIONS) - _BOOLEAN_CONDITIONS


class Network(Protocol):
    """What What-If reads of a trained network (`premortem.learn.network.ModeNetwork` is one)."""

    @property
    def indicators(self) -> Sequence[str]: ...
    @property
    def modes(self) -> Sequence[str]: ...
    def to_state(self) -> dict[str, Any]: ...


_engines: weakref.WeakKeyDictionary[Network, Any] = weakref.WeakKeyDictionary()


def speaks_for(variable: str) -> bool:
    """Whether a simulated run can give evidence for a network variable of this name."""
    if variable.startswith(LOAD_PREFIX):
        return _THRESHOLD.match(variable[len(LOAD_PREFIX) :]) is not None
    if not variable.startswith(SIM_PREFIX):
        return False
    name = variable[len(SIM_PREFIX) :]
    if (found := _THRESHOLD.match(name)) is not None:
        return found["name"] in _NUMERIC_CONDITIONS
    return name in _BOOLEAN_CONDITIONS


def load_thresholds(network: Network | None) -> dict[str, list[float]]:
    """The test-run parameters the network has `load:<parameter>>=x` variables for, with their
    thresholds x: What-If may set and vary them though no model simulates them
    (`what_if(load_parameters=…)`)."""
    found: dict[str, list[float]] = {}
    for variable in network.indicators if network else ():
        match = _THRESHOLD.match(variable[len(LOAD_PREFIX) :])
        if variable.startswith(LOAD_PREFIX) and match is not None:
            found.setdefault(match["name"], []).append(float(match["value"]))
    return {name: sorted(found[name]) for name in sorted(found)}


def load_parameters(network: Network | None) -> list[str]:
    """The names of `load_thresholds`."""
    return list(load_thresholds(network))


class NetworkEstimator:
    """`estimate=` for `what_if`: the network's P(mode | evidence) combined with the simulation's.

    `modes` are the trained model's failure modes (names and service of network modes);
    `service` keeps network modes of that service (or of no service); `faults` are the What-If's
    injected faults (the first one is evidence for the network's fault variable); `posterior`
    answers P(mode | evidence) over the network (default: exact inference, `exact_posterior`).
    """

    def __init__(
        self,
        network: Network | None,
        modes: Sequence[FailureMode] = (),
        *,
        service: str | None = None,
        faults: Sequence[FaultSpec] = (),
        posterior: Posterior | None = None,
    ) -> None:
        self.network = network
        self.posterior = posterior or (exact_posterior(network) if network else None)
        self.faults = list(faults)
        self.fault_state = _fault_state(network, self.faults)
        self.variables = sorted(v for v in (network.indicators if network else []) if speaks_for(v))
        if self.fault_state is not None:
            self.variables.append(FAULT)
        known = {m.id: m for m in modes}
        self.network_modes = [
            mode
            for mode in (network.modes if network else [])
            if not service or mode not in known or known[mode].service in ("", service)
        ]

    @property
    def inference(self) -> Inference:
        return "bayesian-network" if self.variables else "simulation-only"

    @property
    def note(self) -> str:
        if self.network is None:
            return "no trained model yet"
        if not self.variables:
            return (
                f"the trained network has no variable a simulation can give evidence for "
                f"(it has {len(self.network.indicators)} log indicators and the fault variable, "
                f"which knows none of the injected faults)"
            )
        return "evidence for " + ", ".join(self.variables)

    def evidence(self, run: SimulationRun) -> dict[str, int | str]:
        """The states of the matched network variables in one run."""
        found: dict[str, int | str] = {}
        values = conditions(run)
        for variable in self.variables:
            if variable == FAULT:
                found[FAULT] = self.fault_state or NO_FAULT
            else:
                found[variable] = int(_holds(variable, values, run.parameters))
        return found

    def __call__(self, run: SimulationRun) -> list[ModeEstimate]:
        simulated = failure_modes_from_run(run)
        if self.posterior is None or not self.variables:
            return simulated
        evidence = self.evidence(run)
        posterior = dict(self.posterior(evidence, self.network_modes))
        onset = self._evidence_onset(run, evidence)
        combined = []
        for estimate in simulated:
            p_net = posterior.pop(estimate.mode, None)
            if p_net is None:
                combined.append(estimate)
                continue
            p = 1.0 - (1.0 - estimate.probability) * (1.0 - p_net)
            first = estimate.first_time_s if estimate.first_time_s is not None else onset
            combined.append(ModeEstimate(estimate.mode, round(p, 6), first))
        combined += [ModeEstimate(m, round(p, 6), onset) for m, p in posterior.items()]
        return combined

    def _evidence_onset(
        self, run: SimulationRun, evidence: Mapping[str, int | str]
    ) -> float | None:
        """When the first piece of evidence appeared in the run (None: no evidence is active)."""
        times: list[float] = []
        for variable, state in evidence.items():
            if variable == FAULT and state != NO_FAULT and self.faults:
                times.append(self.faults[0].start_s)
            elif variable.startswith(LOAD_PREFIX) and state == 1:
                times.append(0.0)
            elif state == 1:
                name = variable[len(SIM_PREFIX) :]
                times += [e.time for e in run.events if e.type == name][:1]
        return min(times) if times else None


def _holds(
    variable: str, values: Mapping[str, bool | float], parameters: Mapping[str, Any]
) -> bool:
    if variable.startswith(LOAD_PREFIX):
        found = _THRESHOLD.match(variable[len(LOAD_PREFIX) :])
        raw = parameters.get(found["name"]) if found else None
        return found is not None and _number(raw) >= float(found["value"])
    name = variable[len(SIM_PREFIX) :]
    if (found := _THRESHOLD.match(name)) is not None:
        return _number(values.get(found["name"])) >= float(found["value"])
    return bool(values.get(name, False))


def _number(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return -math.inf
    return number if not math.isnan(number) else -math.inf


def _fault_state(network: Network | None, faults: Sequence[FaultSpec]) -> str | None:
    """The network's state of the fault variable for the first injected fault, if it has one."""
    if network is None or not faults:
        return None
    states = _fault_states(network)
    for name in _FAULT_STATES.get(faults[0].type, (faults[0].type,)):
        if name in states:
            return name
    return None


def _fault_states(network: Network) -> set[str]:
    for cpd in network.to_state()["cpds"]:
        if cpd["variable"] == FAULT:
            return {str(s) for s in cpd["state_names"].get(FAULT, [])} - {NO_FAULT}
    return set()


def exact_posterior(network: Network) -> Posterior:
    """P(mode | evidence) by variable elimination over the network's CPDs (`to_state()`)."""

    def posterior(evidence: Mapping[str, int | str], modes: Sequence[str]) -> dict[str, float]:
        engine = _engine(network)
        found = {}
        for mode in modes:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                factor = engine.query([mode], evidence=dict(evidence), show_progress=False)
            found[mode] = float(factor.get_value(**{mode: 1}))
        return found

    return posterior


def _engine(network: Network) -> Any:
    """A variable-elimination engine over the network's CPDs (built once per network)."""
    engine = _engines.get(network)
    if engine is None:
        from pgmpy.factors.discrete import TabularCPD
        from pgmpy.inference import VariableElimination
        from pgmpy.models import DiscreteBayesianNetwork

        state = network.to_state()
        graph = DiscreteBayesianNetwork([tuple(edge) for edge in state["edges"]])
        graph.add_nodes_from([cpd["variable"] for cpd in state["cpds"]])
        graph.add_cpds(
            *[
                TabularCPD(
                    cpd["variable"],
                    cpd["cardinality"],
                    cpd["values"],
                    evidence=cpd["evidence"] or None,
                    evidence_card=cpd["evidence_card"] or None,
                    state_names=cpd["state_names"],
                )
                for cpd in state["cpds"]
            ]
        )
        engine = VariableElimination(graph)
        _engines[network] = engine
    return engine


def describe_modes(result: WhatIfResult, modes: Sequence[FailureMode]) -> WhatIfResult:
    """Names and mitigations of the network's modes (the simulation's catalogue has its own)."""
    known = {m.id: m for m in modes}
    items: list[ModePrediction | ModeAppearance] = [
        *(p for point in result.points for p in point.modes),
        *result.appearances,
    ]
    for item in items:
        mode = known.get(item.mode)
        if mode is None:
            continue
        if item.name == item.mode:
            item.name = mode.name
        if not item.mitigation and mode.mitigations:
            # Actions are sentences ("Raise the pool size….")
            item.mitigation = " ".join(_sentence(m.action) for m in mode.mitigations[:2])
    return result


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."
