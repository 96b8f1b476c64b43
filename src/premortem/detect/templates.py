"""Detectors over template ids: never seen before, or seldom seen.

`x = {"template": int, "service": str}` (`service` optional; templates are counted per service).

>>> detector = RareTemplateDetector()
>>> for _ in range(999):
...     detector.learn_one({"template": 1})
>>> detector.learn_one({"template": 2})
>>> detector.score_one({"template": 1}) < 1 < detector.score_one({"template": 2})
True
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

_NO_COUNTS: dict[int, float] = {}


def _key(x: Mapping[str, Any]) -> tuple[str, int]:
    return (str(x.get("service", "")), int(x["template"]))


class NewTemplateDetector:
    """1.0 for a template its service has never shown, else 0.0.

    `max_templates` bounds memory: past it, the oldest remembered template is forgotten (the
    template miner caps its templates too, so this is only a guard).
    """

    seen_: OrderedDict[tuple[str, int], None] | None = None

    def __init__(self, *, max_templates: int = 100_000) -> None:
        self.max_templates = max_templates

    def learn_one(self, x: Mapping[str, Any]) -> None:
        if self.seen_ is None:
            self.seen_ = OrderedDict()
        key = _key(x)
        if key in self.seen_:
            return
        if len(self.seen_) >= self.max_templates:
            self.seen_.popitem(last=False)
        self.seen_[key] = None

    def score_one(self, x: Mapping[str, Any]) -> float:
        return 0.0 if self.seen_ is not None and _key(x) in self.seen_ else 1.0


class RareTemplateDetector:
    """Surprise in bits, `-log2 P(template | service)`, with add-one smoothing.

    Counts are halved each time a service reaches `horizon` records, so "rare" means rare
    lately: a template that has become common stops being reported, and memory stays bounded.
    At most `max_services` services are counted (the one first seen longest ago is forgotten).
    """

    counts_: OrderedDict[str, dict[int, float]] | None = None
    totals_: dict[str, float] | None = None

    def __init__(self, *, horizon: int = 100_000, max_services: int = 10_000) -> None:
        self.horizon = horizon
        self.max_services = max_services

    def learn_one(self, x: Mapping[str, Any]) -> None:
        if self.counts_ is None or self.totals_ is None:
            self.counts_, self.totals_ = OrderedDict(), {}
        service, template = _key(x)
        per_service = self.counts_.get(service)
        if per_service is None:
            if len(self.counts_) >= self.max_services:
                oldest, _ = self.counts_.popitem(last=False)
                self.totals_.pop(oldest, None)
            per_service = self.counts_[service] = {}
        per_service[template] = per_service.get(template, 0.0) + 1.0
        total = self.totals_[service] = self.totals_.get(service, 0.0) + 1.0
        if total >= self.horizon:
            self._halve(service, per_service)

    def score_one(self, x: Mapping[str, Any]) -> float:
        service, template = _key(x)
        per_service = self.counts_.get(service, _NO_COUNTS) if self.counts_ else _NO_COUNTS
        total = self.totals_.get(service, 0.0) if self.totals_ else 0.0
        count = per_service.get(template, 0.0)
        return -math.log2((count + 1.0) / (total + len(per_service) + 1.0))

    def count(self, x: Mapping[str, Any]) -> float:
        """How often (with decay) the service has shown the template."""
        service, template = _key(x)
        per_service = self.counts_.get(service, _NO_COUNTS) if self.counts_ else _NO_COUNTS
        return per_service.get(template, 0.0)

    def _halve(self, service: str, per_service: dict[int, float]) -> None:
        for template, count in list(per_service.items()):
            if count < 1.0:
                del per_service[template]
            else:
                per_service[template] = count / 2
        assert self.totals_ is not None
        self.totals_[service] = sum(per_service.values())
