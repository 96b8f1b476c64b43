"""Prometheus metrics of one app instance (own registry, so tests can run several apps)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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

    def observe_sizes(self, sizes: Mapping[str, int], *, evictions: int) -> None:
        """Set the template and bounded-map gauges (call before rendering /metrics)."""
        self.templates.set(sizes.get("catalog_templates", 0))
        self.template_evictions.set(evictions)
        for name, size in sizes.items():
            self.bounded_entries.labels(name).set(size)
