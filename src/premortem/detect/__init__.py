"""Online anomaly detectors with the river contract, and the `Analyzer` the pipeline calls.

Every detector is a `Detector`: `learn_one(x)` updates it with one observation, `score_one(x)`
says how unusual `x` is (0 = usual, higher = more anomalous; always finite) without changing it.
Constructors only store parameters; learned state lives in attributes ending in `_`; randomness
comes only from a `seed`. `x` is a plain dict whose keys each detector documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Detector(Protocol):
    def learn_one(self, x: Mapping[str, Any]) -> None: ...

    def score_one(self, x: Mapping[str, Any]) -> float: ...


from premortem.detect.rates import ErrorRatioDetector, RateDetector  # noqa: E402
from premortem.detect.sequence import NextTemplateDetector, SessionTracker  # noqa: E402
from premortem.detect.templates import NewTemplateDetector, RareTemplateDetector  # noqa: E402

__all__ = [
    "Detector",
    "ErrorRatioDetector",
    "NewTemplateDetector",
    "NextTemplateDetector",
    "RareTemplateDetector",
    "RateDetector",
    "SessionTracker",
]
