"""The stages that run after the store, on the pipeline's background thread.

Each is a small object with `on_logs(records)` and/or `on_tick(now_ns)`, wired by the runtime:
analysis (windows and detectors → anomalies), then prediction and alerting.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from premortem.clock import StreamClock
from premortem.detect.analyzer import Analyzer
from premortem.domain import Anomaly, LogRecord
from premortem.logs.windows import Window

log = logging.getLogger(__name__)


class AnomalySink(Protocol):
    def add_anomalies(self, anomalies: Sequence[Anomaly]) -> int: ...


class WindowSink(Protocol):
    def add(self, windows: Sequence[Window]) -> int: ...


class AnalysisStage:
    """Windows and online detectors over every record; anomalies and closed windows are stored."""

    def __init__(
        self,
        analyzer: Analyzer,
        *,
        anomalies: AnomalySink,
        windows: WindowSink,
        clock: StreamClock,
    ) -> None:
        self.analyzer = analyzer
        self._anomalies = anomalies
        self._windows = windows
        self.clock = clock

    def on_logs(self, records: Sequence[LogRecord]) -> None:
        for record in records:
            self.clock.observe(record.time_ns)
        self._store(self.analyzer.observe(records))

    def on_tick(self, _now_ns: int) -> None:
        # Windows close on stream time, not on the wall clock (see StreamClock).
        now = self.clock.now_ns()
        if now:
            self._store(self.analyzer.tick(now))

    def _store(self, anomalies: list[Anomaly]) -> None:
        if anomalies:
            self._anomalies.add_anomalies(anomalies)
        closed = self.analyzer.closed_windows()
        if closed:
            self._windows.add(closed)
