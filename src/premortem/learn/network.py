"""The Bayesian network: faults → precursor indicators → failure modes (pgmpy).

Rows are moments of the training runs (every `step` seconds); columns are the injected fault type
(known in training, never observed at prediction time), binary precursor indicators (active in the
window before the moment) and one binary node per failure mode (it manifests within the horizon).
The structure is searched by hill climbing (BDeu score) inside the layer constraints — only
fault → indicator, fault → mode and indicator → mode edges may exist — and the parameters are
estimated with a BDeu prior. `P(mode | indicators)` is exact inference (variable elimination),
cached per evidence state because the state changes far more rarely than log lines arrive.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import combinations, product
from typing import Any

import numpy as np
import pandas as pd

from premortem.conditions import CONTEXT_PREFIXES, FAULT, NO_FAULT

# "Some failure manifests within the horizon": the alert decision, separate from which mode it is.
ANY_FAILURE = "any_failure"
EQUIVALENT_SAMPLE_SIZE = 10
MAX_PARENTS = 4


class ModeNetwork:
    """A fitted network; `posterior(active)` gives P(mode manifests within H) per mode."""

    def __init__(self, indicators: Sequence[str], modes: Sequence[str]) -> None:
        self.indicators = list(indicators)
        self.modes = list(modes)
        self.edges_: list[tuple[str, str]] = []
        self.cpds_: list[dict[str, Any]] = []
        self.has_any_failure = False
        self._inference: Any = None
        self._cache: dict[frozenset[str], dict[str, float]] = {}
        self._any_cache: dict[frozenset[str], float] = {}

    # ------------------------------------------------------------------ learning

    def fit(self, rows: Sequence[dict[str, Any]], *, any_failure: bool = False) -> ModeNetwork:
        """Learn structure and parameters from rows {fault, indicator: 0/1, mode: 0/1}.

        With `any_failure=True` an `any_failure` node (1 when any mode manifests within the
        horizon) joins the search. It is off by default: in the structure search's tabu walk it
        changed the modes' parents, and that validated worse (see docs/correlation.md)."""
        self.has_any_failure = any_failure and bool(self.modes)
        targets = [*self.modes, ANY_FAILURE] if self.has_any_failure else list(self.modes)
        if self.has_any_failure:
            rows = [_with_any(row, self.modes) for row in rows]
        columns = [FAULT, *self.indicators, *targets]
        frame = pd.DataFrame(list(rows), columns=columns)
        frame[FAULT] = frame[FAULT].fillna(NO_FAULT).astype(str)
        for name in columns[1:]:
            frame[name] = frame[name].fillna(0).astype(int)
        constant = [c for c in columns[1:] if frame[c].nunique() < 2]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.edges_ = self._search(frame.drop(columns=constant))
            self._fit_parameters(frame)
        return self

    def _search(self, frame: pd.DataFrame) -> list[tuple[str, str]]:
        from pgmpy.causal_discovery import ExpertKnowledge, HillClimbSearch

        present = set(frame.columns)
        indicators = [i for i in self.indicators if i in present]
        modes = [m for m in (*self.modes, ANY_FAILURE) if m in present]
        space = [(i, m) for i in indicators for m in modes]
        if frame[FAULT].nunique() > 1:
            space += [(FAULT, x) for x in (*indicators, *modes)]
        if not space or not modes:
            return []
        search = _stable_search(HillClimbSearch)(
            scoring_method="bdeu",
            expert_knowledge=ExpertKnowledge(search_space=space),
            max_indegree=MAX_PARENTS,
            return_type="dag",
            show_progress=False,
        )
        search.fit(frame)
        return [(str(a), str(b)) for a, b in search.causal_graph_.edges()]

    def _fit_parameters(self, frame: pd.DataFrame) -> None:
        from pgmpy.models import DiscreteBayesianNetwork
        from pgmpy.parameter_estimator import DiscreteBayesianEstimator

        network = DiscreteBayesianNetwork(self.edges_)
        network.add_nodes_from(frame.columns)
        states = {c: sorted(frame[c].unique().tolist()) for c in frame.columns}
        states = {c: (s if len(s) > 1 or c == FAULT else [0, 1]) for c, s in states.items()}
        if NO_FAULT not in states[FAULT]:
            states[FAULT] = [*states[FAULT], NO_FAULT]
        estimator = DiscreteBayesianEstimator(
            state_names=states, prior_type="BDeu", equivalent_sample_size=EQUIVALENT_SAMPLE_SIZE
        )
        network.fit(frame, estimator=estimator)
        targets = {*self.modes, ANY_FAILURE}
        self.cpds_ = [
            _backed_off(_cpd_state(cpd), frame) if cpd.variable in targets else _cpd_state(cpd)
            for cpd in network.get_cpds()
        ]
        self._inference = None
        self._cache.clear()
        self._any_cache.clear()

    # ------------------------------------------------------------------ inference

    def posterior(self, active: frozenset[str]) -> dict[str, float]:
        """P(mode = 1 | indicators) for every mode, given the set of active indicators.

        Log indicators not in `active` are observed as 0; context variables (`sim:`, `load:`) are
        observed as 1 when in `active` and otherwise summed out."""
        cached = self._cache.get(active)
        if cached is not None:
            return cached
        evidence = self.evidence(active)
        result = {mode: self._query(mode, evidence) for mode in self.modes}
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[active] = result
        return result

    def any_failure(self, active: frozenset[str]) -> float:
        """P(some mode manifests within the horizon | indicators); the largest mode posterior
        for a network fitted without the any-failure node."""
        cached = self._any_cache.get(active)
        if cached is not None:
            return cached
        if self.has_any_failure:
            value = self._query(ANY_FAILURE, self.evidence(active))
        else:
            value = max(self.posterior(active).values(), default=0.0)
        if len(self._any_cache) > 4096:
            self._any_cache.clear()
        self._any_cache[active] = value
        return value

    def evidence(self, active: frozenset[str]) -> dict[str, int]:
        """The evidence a set of active indicators gives (context variables only when active)."""
        return {
            i: int(i in active)
            for i in self.indicators
            if i in active or not i.startswith(CONTEXT_PREFIXES)
        }

    def _query(self, node: str, evidence: dict[str, int]) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            factor = self._engine().query([node], evidence=evidence, show_progress=False)
        return float(factor.get_value(**{node: 1}))

    def parents(self, node: str) -> list[str]:
        return [a for a, b in self.edges_ if b == node]

    def _engine(self) -> Any:
        if self._inference is None:
            from pgmpy.inference import VariableElimination
            from pgmpy.models import DiscreteBayesianNetwork

            network = DiscreteBayesianNetwork(self.edges_)
            network.add_nodes_from([c["variable"] for c in self.cpds_])
            network.add_cpds(*[_cpd_from_state(c) for c in self.cpds_])
            self._inference = VariableElimination(network)
        return self._inference

    # ------------------------------------------------------------------ state

    def to_state(self) -> dict[str, Any]:
        return {
            "indicators": self.indicators,
            "modes": self.modes,
            "edges": [list(e) for e in self.edges_],
            "cpds": self.cpds_,
            "any_failure": self.has_any_failure,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ModeNetwork:
        network = cls(state["indicators"], state["modes"])
        network.edges_ = [(a, b) for a, b in state["edges"]]
        network.cpds_ = state["cpds"]
        network.has_any_failure = bool(state.get("any_failure", False))
        return network


def _stable_search(base: Any) -> Any:
    """pgmpy's hill climbing, with candidate operations in a stable order.

    pgmpy generates the edges it may add from a set, and `max` keeps the first of equally good
    operations: which one depended on the process's string-hash seed, and so did the learned
    structure. Sorted by operation, the same data always gives the same network."""

    class StableHillClimbSearch(base):  # type: ignore[misc]
        def _legal_operations_dag(self, *args: Any, **kwargs: Any) -> Any:
            operations = list(super()._legal_operations_dag(*args, **kwargs))
            operations.sort(key=lambda item: (item[0][0], str(item[0][1])))
            return iter(operations)

    return StableHillClimbSearch


def _backed_off(state: dict[str, Any], frame: pd.DataFrame) -> dict[str, Any]:
    """A mode's CPD whose parent combinations never seen in training back off to what was seen.

    The BDeu prior alone gives an unseen combination (two precursors that never fired together
    in training) exactly 0.5: an uninformed alert. Instead such a column takes the rows that
    agree with it on the largest subset of its parents that training did see (pooled over
    equally large subsets), shrunk towards the mode's base rate by one row.
    """
    parents: list[str] = state["evidence"]
    if not parents:
        return state
    variable = state["variable"]
    names = state["state_names"]
    outcome = (frame[variable] == 1).to_numpy()
    base = float(outcome.mean()) if len(outcome) else 0.0
    equal = {
        (parent, value): (frame[parent] == value).to_numpy()
        for parent in parents
        for value in names[parent]
    }
    values = np.asarray(state["values"], dtype=float)
    one = names[variable].index(1) if 1 in names[variable] else values.shape[0] - 1
    for column, combination in enumerate(product(*(names[p] for p in parents))):
        agree = [equal[(p, v)] for p, v in zip(parents, combination, strict=True)]
        if np.logical_and.reduce(agree).any():
            continue
        p1 = _backoff_estimate(agree, outcome, base)
        values[:, column] = 0.0
        values[one, column] = p1
        values[1 - one, column] = 1.0 - p1
    return {**state, "values": values.tolist()}


def _backoff_estimate(agree: list[np.ndarray], outcome: np.ndarray, base: float) -> float:
    for size in range(len(agree) - 1, 0, -1):
        hits = rows = 0
        for subset in combinations(agree, size):
            mask = np.logical_and.reduce(subset)
            rows += int(mask.sum())
            hits += int(outcome[mask].sum())
        if rows:
            return (hits + base) / (rows + 1)
    return base


def _with_any(row: dict[str, Any], modes: Sequence[str]) -> dict[str, Any]:
    if ANY_FAILURE in row:
        return row
    return {**row, ANY_FAILURE: int(any(row.get(m) for m in modes))}


def _cpd_state(cpd: Any) -> dict[str, Any]:
    variables = list(cpd.variables)
    return {
        "variable": variables[0],
        "cardinality": int(cpd.cardinality[0]),
        "values": np.asarray(cpd.get_values()).tolist(),
        "evidence": variables[1:],
        "evidence_card": [int(c) for c in cpd.cardinality[1:]],
        "state_names": {k: [_plain(s) for s in v] for k, v in cpd.state_names.items()},
    }


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _cpd_from_state(state: dict[str, Any]) -> Any:
    from pgmpy.factors.discrete import TabularCPD

    return TabularCPD(
        state["variable"],
        state["cardinality"],
        state["values"],
        evidence=state["evidence"] or None,
        evidence_card=state["evidence_card"] or None,
        state_names=state["state_names"],
    )
