"""Every per-key map of the analysis is bounded under high cardinality (issue 13): sources,
their samples, services of the rare-template detector, continuations of the sequence model."""

from __future__ import annotations

from premortem.detect import NextTemplateDetector, RareTemplateDetector
from premortem.detect.analyzer import Analyzer, AnalyzerConfig
from premortem.domain import LogRecord

S = 1_000_000_000


def test_the_analyzer_forgets_the_stalest_source_past_its_bound() -> None:
    analyzer = Analyzer(AnalyzerConfig(max_sources=100, max_templates_per_source=20))
    records = [
        LogRecord(time_ns=i * S // 100, body=f"line {i}", service=f"svc-{i}", template_id=i)
        for i in range(5000)
    ]
    analyzer.observe(records)
    analyzer.tick(100 * S)
    sizes = analyzer.sizes()
    assert sizes["sources"] <= 100, sizes
    assert sizes["window_sources"] <= 100, sizes
    assert sizes["rare_template_services"] <= 100, sizes
    assert sizes["samples"] <= 100 * 20, sizes


def test_samples_per_source_are_bounded() -> None:
    analyzer = Analyzer(AnalyzerConfig(max_templates_per_source=20))
    analyzer.observe(
        [LogRecord(time_ns=i, body=f"{i}", service="api", template_id=i) for i in range(500)]
    )
    assert analyzer.sizes()["samples"] <= 20


def test_rare_template_services_are_bounded() -> None:
    detector = RareTemplateDetector(max_services=10)
    for i in range(100):
        detector.learn_one({"service": f"svc-{i}", "template": i})
    assert detector.counts_ is not None and detector.totals_ is not None
    assert len(detector.counts_) == len(detector.totals_) == 10
    assert detector.score_one({"service": "svc-99", "template": 99}) < detector.score_one(
        {"service": "svc-99", "template": 98}
    )


def test_continuations_per_context_are_bounded() -> None:
    detector = NextTemplateDetector(order=1, max_next=50)
    for template in range(1000):
        detector.learn_one({"context": (-1,), "template": template})
    assert detector.counts_ is not None
    assert all(len(nexts) <= 50 for _, nexts in detector.counts_.values())
