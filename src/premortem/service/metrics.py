"""Prometheus metrics of one app instance (own registry, so tests can run several apps)."""

from __future__ import annotations

from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Catalog(Protocol):
    """What the metrics read of the template catalog (`premortem.logs.catalog`)."""

    @property
    def evictions(self) -> int: ...

    def sizes(self) -> dict[str, int]: ...


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
        self.catalog_entries = Gauge(
            "premortem_catalog_entries",
            "Entries held per bounded map of the template catalog (templates, statistics, "
            "miner groups, cache entries, cached services, rows waiting to be deleted).",
            ["map"],
            registry=self.registry,
        )

    def observe_catalog(self, catalog: Catalog) -> None:
        """Set the template gauges from the catalog (call before rendering /metrics)."""
        sizes = catalog.sizes()
        self.templates.set(sizes["templates"])
        self.template_evictions.set(catalog.evictions)
        for name, size in sizes.items():
            self.catalog_entries.labels(name).set(size)
