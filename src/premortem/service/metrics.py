"""Prometheus metrics of one app instance (own registry, so tests can run several apps).

The predictions open now are two gauges (`PredictionCollector`), one series per (mode, service),
read from the prediction stage's bounded map at each scrape; a series disappears when its
prediction closes (docs/alerting.md, "Predictions in Prometheus").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from premortem.runtime.analysis import LivePrediction
from premortem.store.text import storable

PREDICTION_LABELS = ("mode", "service", "mode_name")


class OpenPredictions(Protocol):
    """What the gauges read at each scrape (`LivePredictions` of the prediction stage)."""

    @property
    def evicted(self) -> int: ...

    def snapshot(self) -> list[LivePrediction]: ...


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.ingested = Counter(
            "premortem_ingested_records_total",
            "Records stored, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "premortem_rejected_records_total",
            "Records rejected as malformed, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "premortem_request_duration_seconds",
            "HTTP request latency.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.templates = Gauge(
            "premortem_templates", "Log templates currently held.", registry=self.registry
        )
        self.template_evictions = Gauge(
            "premortem_template_evictions_total",
            "Templates evicted by the miner's cap (rarest first).",
            registry=self.registry,
        )
        self.bounded_entries = Gauge(
            "premortem_bounded_entries",
            "Entries held now by each bounded in-memory map (`Runtime.sizes()`): the template "
            "catalogue, the analysis, the queue in front of it.",
            ["map"],
            registry=self.registry,
        )

        self.analysis_lag_records = Gauge(
            "premortem_analysis_lag_records",
            "Records stored and not yet analysed (templates' windows, detectors, predictor).",
            registry=self.registry,
        )
        self.analysis_lag_seconds = Gauge(
            "premortem_analysis_lag_seconds",
            "How long the oldest record waiting for analysis has waited.",
            registry=self.registry,
        )
        self.analysis_queue_bound = Gauge(
            "premortem_analysis_queue_bound_records",
            "Records that may wait for analysis before ingestion answers 429.",
            registry=self.registry,
        )

        self.analysis_failures = Gauge(
            "premortem_analysis_failures_total",
            "Analysis steps that raised an error (each is in the server's log with its "
            "traceback); the batch's records stay stored, its analysis is lost.",
            registry=self.registry,
        )

    def observe_lag(self, records: int, seconds: float, bound: int, *, failures: int = 0) -> None:
        self.analysis_failures.set(failures)
        self.analysis_lag_records.set(records)
        self.analysis_lag_seconds.set(seconds)
        self.analysis_queue_bound.set(bound)

    def observe_sizes(self, sizes: Mapping[str, int], *, evictions: int) -> None:
        """Set the template and bounded-map gauges (call before rendering /metrics)."""
        self.templates.set(sizes.get("catalog_templates", 0))
        self.template_evictions.set(evictions)
        for name, size in sizes.items():
            self.bounded_entries.labels(name).set(size)

    def watch_predictions(self, live: OpenPredictions) -> None:
        """Export the predictions open in `live` at each scrape."""
        self.registry.register(PredictionCollector(live))


class PredictionCollector(Collector):
    """`premortem_failure_probability` and `premortem_expected_lead_seconds` of the open
    predictions, and how many the map's cap pushed out. Label values come from users' logs:
    prometheus_client escapes backslash, double quote and newline; lone surrogates, which UTF-8
    cannot encode, become U+FFFD here."""

    def __init__(self, live: OpenPredictions) -> None:
        self._live = live

    def describe(self) -> Iterable[Metric]:
        return [*_families(), _evictions(0)]

    def collect(self) -> Iterable[Metric]:
        probability, lead = _families()
        for p in self._live.snapshot():
            labels = [storable(p.mode_id), storable(p.service), storable(p.mode_name)]
            probability.add_metric(labels, p.probability)
            if p.lead_time_s is not None:
                lead.add_metric(labels, p.lead_time_s)
        return [probability, lead, _evictions(self._live.evicted)]


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "premortem_failure_probability",
            "Probability (0-1) that the failure mode manifests within the horizon, per open "
            "prediction; the series goes away when the prediction closes.",
            labels=PREDICTION_LABELS,
        ),
        GaugeMetricFamily(
            "premortem_expected_lead_seconds",
            "Median lead time learned for the mode (precursor to failure, counted from the "
            "prediction), per open prediction that has one.",
            labels=PREDICTION_LABELS,
        ),
    )


def _evictions(count: int) -> CounterMetricFamily:
    return CounterMetricFamily(
        "premortem_live_prediction_evictions",
        "Open predictions dropped from /metrics by the cap on series (the least recently "
        "updated first).",
        value=count,
    )
