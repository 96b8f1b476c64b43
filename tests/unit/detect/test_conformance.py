"""One conformance suite for every detector: the river contract, determinism, and that planted
anomalies score above normal data."""

from __future__ import annotations

import copy
import inspect
import math
import pickle
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from premortem.detect import (
    Detector,
    ErrorRatioDetector,
    NewTemplateDetector,
    NextTemplateDetector,
    RareTemplateDetector,
    RateDetector,
)
from premortem.detect.sequence import START

X = Mapping[str, Any]


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], Any]
    normal: Callable[[random.Random], Iterator[X]]  # an endless stream of usual inputs
    anomalies: Callable[[random.Random], list[X]]


def _templates(rng: random.Random) -> Iterator[X]:
    while True:
        yield {"service": "api", "template": rng.choices([1, 2, 3, 4], weights=[50, 30, 15, 5])[0]}


def _counts(rng: random.Random) -> Iterator[X]:
    while True:
        yield {"key": "api", "count": sum(rng.random() < 0.5 for _ in range(80))}  # ~40 ± 4.5


def _errors(rng: random.Random) -> Iterator[X]:
    while True:
        total = rng.randint(180, 220)
        yield {
            "key": "api",
            "errors": sum(rng.random() < 0.02 for _ in range(total)),
            "total": total,
        }


_SCRIPT = (1, 2, 3, 4)  # every session: open, read, write, close


def _steps(rng: random.Random) -> Iterator[X]:
    while True:
        context: tuple[int, ...] = (START,)
        for template in _SCRIPT:
            if template == 3 and rng.random() < 0.3:  # reads repeat sometimes
                yield {"context": context, "template": 2}
                context = (*context, 2)[-2:]
            yield {"context": context, "template": template}
            context = (*context, template)[-2:]


CASES = [
    Case(
        "new_template",
        NewTemplateDetector,
        _templates,
        lambda rng: [{"service": "api", "template": 99}, {"service": "db", "template": 1}],
    ),
    Case(
        "rare_template",
        RareTemplateDetector,
        _templates,
        lambda rng: [{"service": "api", "template": 99}, {"service": "api", "template": 98}],
    ),
    Case(
        "rate",
        RateDetector,
        _counts,
        lambda rng: [{"key": "api", "count": 120}, {"key": "api", "count": 0}],
    ),
    Case(
        "error_ratio",
        ErrorRatioDetector,
        _errors,
        lambda rng: [{"key": "api", "errors": 40, "total": 200}],
    ),
    Case(
        "next_template",
        NextTemplateDetector,
        _steps,
        lambda rng: [
            {"context": (2, 3), "template": 1},  # re-open mid-session
            {"context": (START,), "template": 4},  # close before open
            {"context": (1, 2), "template": 77},  # never seen
        ],
    ),
]


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


def _take(stream: Iterator[X], n: int) -> list[X]:
    return [next(stream) for _ in range(n)]


def _learned(case: Case, n: int = 500, seed: int = 7) -> Any:
    detector = case.make()
    for x in _take(case.normal(random.Random(seed)), n):
        detector.learn_one(x)
    return detector


def test_is_a_detector(case: Case) -> None:
    assert isinstance(case.make(), Detector)


def test_constructor_only_stores_parameters(case: Case) -> None:
    detector = case.make()
    params = set(inspect.signature(type(detector).__init__).parameters) - {"self"}
    assert set(vars(detector)) == params
    assert not any(name.endswith("_") for name in vars(detector))


def test_learned_state_ends_in_underscore(case: Case) -> None:
    detector = case.make()
    before = set(vars(detector))
    for x in _take(case.normal(random.Random(1)), 50):
        detector.learn_one(x)
    added = set(vars(detector)) - before
    assert added and all(name.endswith("_") for name in added)


def test_score_before_learning_is_finite(case: Case) -> None:
    detector = case.make()
    rng = random.Random(2)
    for x in [*_take(case.normal(rng), 20), *case.anomalies(rng)]:
        score = detector.score_one(x)
        assert isinstance(score, float) and math.isfinite(score) and score >= 0


def test_scoring_does_not_learn(case: Case) -> None:
    detector = _learned(case)
    state = copy.deepcopy(vars(detector))
    rng = random.Random(3)
    for x in [*_take(case.normal(rng), 50), *case.anomalies(rng)]:
        detector.score_one(x)
    assert vars(detector) == state


def test_same_stream_gives_same_scores(case: Case) -> None:
    def scores() -> list[float]:
        detector = case.make()
        out = []
        for x in _take(case.normal(random.Random(4)), 300):
            out.append(detector.score_one(x))
            detector.learn_one(x)
        return out

    assert scores() == scores()


def test_planted_anomalies_score_above_normal_data(case: Case) -> None:
    detector = _learned(case, n=1000)
    rng = random.Random(5)
    normal = [detector.score_one(x) for x in _take(case.normal(rng), 300)]
    planted = [detector.score_one(x) for x in case.anomalies(rng)]
    assert min(planted) > max(normal)


def test_survives_pickling(case: Case) -> None:
    detector = _learned(case)
    copy_ = pickle.loads(pickle.dumps(detector))
    xs = _take(case.normal(random.Random(6)), 50) + case.anomalies(random.Random(6))
    assert [copy_.score_one(x) for x in xs] == [detector.score_one(x) for x in xs]
