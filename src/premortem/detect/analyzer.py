"""The analysis stage: records in, anomalies out, every detector on.

Per record (already carrying `service` and `template_id`): count it in its window, then ask
the new-template, rare-template and next-template (session) detectors about it. Per closed
window: ask the rate detector about every template of the source (bursts *and* drops, so absent
templates count 0) and about the source's total, and the error-ratio detector about its errors.

Warm-up and thresholds keep steady logs quiet: a source reports nothing until it has shown
`warmup_records` records over at least `warmup_s` seconds; window detectors need `warmup`
windows per key; each (detector, source, template) reports at most once per window, and each
session at most once. Anomaly ids are derived from content (the record id, or the window start),
so re-processing the same records yields the same ids.

Memory is bounded whatever the cardinality: at most `max_sources` sources are tracked (the one
seen least recently is forgotten, with its samples and ongoing conditions; the window counter
keeps the same number), each keeps samples of at most `max_templates_per_source` templates, and
every detector bounds its own keys.

>>> from premortem.domain import LogRecord
>>> analyzer = Analyzer(AnalyzerConfig(warmup_records=10, warmup_s=0))
>>> steady = [LogRecord(time_ns=i * 10**8, body="ok", service="api", template_id=1)
...           for i in range(100)]
>>> analyzer.observe(steady)
[]
>>> odd = LogRecord(time_ns=10**10, body="disk full", service="api", template_id=2)
>>> [a.detector for a in analyzer.observe([odd])]
['new_template']
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from premortem.clock import Clock
from premortem.counts import Window
from premortem.detect.rates import ErrorRatioDetector, RateDetector
from premortem.detect.sequence import NextTemplateDetector, SessionKeys, SessionTracker
from premortem.detect.templates import NewTemplateDetector, RareTemplateDetector
from premortem.domain import Anomaly, LogRecord, stable_id
from premortem.logs.windows import NS_PER_S, WindowCounter

SAMPLE_CHARS = 500
RECORD_IDS = 5


@dataclass(frozen=True, slots=True)
class AnalyzerConfig:
    window_s: float = 10.0
    grace_s: float = 0.0
    history: int = 180  # windows in each rate baseline (30 min at 10 s)
    warmup_records: int = 1000
    warmup_s: float = 60.0
    rare_bits: float = 14.0  # report a known template whose share is below 2**-14
    sequence_order: int = 2
    sequence_bits: float = 12.0  # HDFS-100k cross-validation picks ~12.5 bits
    sequence_warmup: int = 1000  # transitions a source shows before its sessions may report
    rate_threshold: float = 6.0  # robust z-score
    rate_warmup: int = 6
    min_burst_count: int = 5
    min_drop_median: float = 5.0
    error_threshold: float = 6.0
    max_sessions: int = 100_000
    max_windows_buffered: int = 10_000
    max_sources: int = 1000
    max_templates_per_source: int = 1000
    max_rate_keys: int = 10_000  # (source, template) baselines of the rate detector
    # New templates a source reports one by one per window; past it one anomaly says there were
    # more (a deploy that changes log formats, or unique messages) and the rest stay quiet.
    max_new_templates_per_window: int = 20
    windows_kept: int = 6  # closed windows a source keeps in memory (the store keeps them all)
    session_keys: SessionKeys = field(default_factory=SessionKeys)


@dataclass(slots=True)
class _SourceState:
    first_ns: int
    records: int = 0
    # template id -> (last record, recent record ids)
    samples: OrderedDict[int, tuple[LogRecord, deque[str]]] = field(default_factory=OrderedDict)
    # template id -> start of the last window it appeared in
    last_window: dict[int, int] = field(default_factory=dict)
    reported: set[tuple[str, int]] = field(default_factory=set)  # (detector, template) this window
    new_reported: int = 0  # new-template anomalies this window
    window_start: int = -1
    # (detector, template) whose window condition holds; reported on entry only
    ongoing: set[tuple[str, int | None]] = field(default_factory=set)
    # Session transitions learned: the sequence model's warm-up counts per source, so a
    # source's anomalies never depend on which other sources share its analyzer (scale-out).
    transitions: int = 0


class Analyzer:
    def __init__(self, config: AnalyzerConfig | None = None, *, clock: Clock | None = None) -> None:
        self.config = config = config or AnalyzerConfig()
        self.windows = WindowCounter(
            config.window_s,
            clock=clock,
            grace_s=config.grace_s,
            history=config.windows_kept,
            max_services=config.max_sources,
        )
        self.new_templates = NewTemplateDetector()
        self.rare_templates = RareTemplateDetector(max_services=config.max_sources)
        self.next_template = NextTemplateDetector(order=config.sequence_order)
        self.sessions = SessionTracker(
            order=config.sequence_order, max_sessions=config.max_sessions
        )
        self.rates = RateDetector(
            history=config.history, warmup=config.rate_warmup, max_keys=config.max_rate_keys
        )
        self.error_ratio = ErrorRatioDetector(
            history=config.history, warmup=config.rate_warmup, max_keys=config.max_sources
        )
        self._sources: OrderedDict[str, _SourceState] = OrderedDict()
        self._reported_sessions: OrderedDict[str, None] = OrderedDict()
        self._closed: deque[Window] = deque(maxlen=config.max_windows_buffered)

    # ------------------------------------------------------------------ stage API

    def observe(self, records: Sequence[LogRecord]) -> list[Anomaly]:
        anomalies: list[Anomaly] = []
        for record in records:
            for window in self.windows.add(record):
                anomalies.extend(self._on_window(window))
            if record.template_id is not None:
                anomalies.extend(self._on_record(record, record.template_id))
        return anomalies

    def tick(self, now_ns: int | Callable[[str], int]) -> list[Anomaly]:
        """Close the windows that now has passed and run the window detectors on them.

        `now_ns` is one time for all sources, or each source's own stream time (a function of
        the source), so that a late or replayed source closes its windows on its own time.
        """
        anomalies: list[Anomaly] = []
        for window in self.windows.tick(now_ns):
            anomalies.extend(self._on_window(window))
        return anomalies

    def sizes(self) -> dict[str, int]:
        """Entries held per bounded map (for /metrics)."""
        sources = list(self._sources.values())  # one C-level copy: callable from any thread
        return {
            "sources": len(sources),
            "samples": sum(len(s.samples) for s in sources),
            "window_sources": len(self.windows.services()),
            "new_template_keys": len(self.new_templates.seen_ or ()),
            "rare_template_services": len(self.rare_templates.counts_ or ()),
            "sessions": len(self.sessions),
            "sequence_contexts": len(self.next_template.counts_ or ()),
            "rate_keys": len(self.rates.histories_.values) if self.rates.histories_ else 0,
            "error_ratio_keys": (
                len(self.error_ratio.histories_.values) if self.error_ratio.histories_ else 0
            ),
        }

    def closed_windows(self) -> list[Window]:
        """Windows closed since the last call (for the store); the buffer is bounded."""
        closed = list(self._closed)
        self._closed.clear()
        return closed

    # ------------------------------------------------------------------ per record

    def _on_record(self, record: LogRecord, template: int) -> list[Anomaly]:
        config = self.config
        source = self._source(record)
        source.records += 1
        window_start = record.time_ns - record.time_ns % self.windows.width_ns
        if window_start != source.window_start:
            source.window_start, source.reported, source.new_reported = window_start, set(), 0
        self._remember(source, record, template)
        warm = (
            source.records >= config.warmup_records
            and record.time_ns - source.first_ns >= config.warmup_s * NS_PER_S
        )
        x = {"service": record.service, "template": template}
        found: list[Anomaly] = []
        if self.new_templates.score_one(x) > 0:
            self.new_templates.learn_one(x)
            if warm and source.new_reported <= config.max_new_templates_per_window:
                source.new_reported += 1
                found.append(self._new_template(record, source))
        elif warm:
            bits = self.rare_templates.score_one(x)
            if bits > config.rare_bits and ("rare_template", template) not in source.reported:
                source.reported.add(("rare_template", template))
                found.append(self._record_anomaly("rare_template", bits, record, source))
        self.rare_templates.learn_one(x)
        found.extend(self._on_session(record, template, source))
        return found

    def _on_session(self, record: LogRecord, template: int, source: _SourceState) -> list[Anomaly]:
        key = self.config.session_keys.key(record)
        if key is None:
            return []
        session = f"{record.service}\x00{key}"
        context = self.sessions.push(session, template)
        x = {"context": context, "template": template}
        found: list[Anomaly] = []
        if (
            source.transitions >= self.config.sequence_warmup
            and session not in self._reported_sessions
        ):
            bits = self.next_template.score_one(x)
            if bits > self.config.sequence_bits:
                if len(self._reported_sessions) >= self.config.max_sessions:
                    self._reported_sessions.popitem(last=False)
                self._reported_sessions[session] = None
                extra = {"session": key, "context": list(context)}
                found.append(
                    self._record_anomaly("unexpected_next", bits, record, source, extra=extra)
                )
        self.next_template.learn_one(x)
        source.transitions += 1
        return found

    def _source(self, record: LogRecord) -> _SourceState:
        return self._source_named(record.service, record.time_ns)

    def _source_named(self, service: str, first_ns: int) -> _SourceState:
        # dicts keep insertion order; re-inserting on use makes the first the stalest
        source = self._sources.pop(service, None)
        if source is None:
            if len(self._sources) >= self.config.max_sources:
                self._sources.popitem(last=False)
            source = _SourceState(first_ns=first_ns)
        self._sources[service] = source
        return source

    def _remember(self, source: _SourceState, record: LogRecord, template: int) -> None:
        sample = source.samples.get(template)
        if sample is None:
            if len(source.samples) >= self.config.max_templates_per_source:
                source.samples.popitem(last=False)
            source.samples[template] = (record, deque([record.id], maxlen=RECORD_IDS))
        else:
            sample[1].append(record.id)
            source.samples[template] = (record, sample[1])

    def _new_template(self, record: LogRecord, source: _SourceState) -> Anomaly:
        cap = self.config.max_new_templates_per_window
        if source.new_reported <= cap:
            return self._record_anomaly("new_template", 1.0, record, source)
        flood = {"more_than": cap, "window_start_ns": source.window_start}
        summary = (
            f"New templates: more than {cap} in one window of "
            f"{record.service or 'unnamed source'}, from this one on: {record.body[:120]}"
        )
        return self._record_anomaly(
            "new_template", 1.0, record, source, extra=flood, summary=summary
        )

    def _record_anomaly(
        self,
        detector: str,
        score: float,
        record: LogRecord,
        source: _SourceState,
        *,
        extra: dict[str, Any] | None = None,
        summary: str | None = None,
    ) -> Anomaly:
        template = record.template_id
        evidence: dict[str, Any] = {
            "template_id": template,
            "sample": record.body[:SAMPLE_CHARS],
            "record_ids": [record.id],
            "seen_before": self.rare_templates.count(
                {"service": record.service, "template": template}
            ),
            **(extra or {}),
        }
        return Anomaly(
            id=stable_id("anomaly", detector, record.service, record.id),
            time_ns=record.time_ns,
            service=record.service,
            detector=detector,
            score=score,
            template_id=template,
            summary=summary or f"{_TITLES[detector]}: {record.body[:120]}",
            evidence=evidence,
        )

    # ------------------------------------------------------------------ per window

    def _on_window(self, window: Window) -> list[Anomaly]:
        self._closed.append(window)
        source = self._source_named(window.service, window.start_ns)
        for template in window.by_template:
            source.last_window[template] = window.start_ns
        self._forget_quiet_templates(source, window)
        found: list[Anomaly] = []
        for template in source.last_window:
            count = window.by_template.get(template, 0)
            if count == 0 and not self.rates.knows((window.service, template)):
                # Its history was dropped (more templates than `max_rate_keys`): a zero would
                # only start a new one and drop another's, every window, for nothing.
                source.ongoing.discard(("rate_burst", template))
                source.ongoing.discard(("rate_drop", template))
                continue
            found.extend(self._rate(window, source, template, count))
        found.extend(self._rate(window, source, None, window.total))
        found.extend(self._errors(window, source))
        return found

    def _forget_quiet_templates(self, source: _SourceState, window: Window) -> None:
        horizon = window.start_ns - self.config.history * self.windows.width_ns
        quiet = [t for t, start in source.last_window.items() if start < horizon]
        for template in quiet:
            del source.last_window[template]
            source.samples.pop(template, None)
            for detector in ("rate_burst", "rate_drop"):
                source.ongoing.discard((detector, template))

    def _rate(
        self, window: Window, source: _SourceState, template: int | None, count: int
    ) -> list[Anomaly]:
        x = {"key": (window.service, template), "count": count}
        baseline = self.rates.baseline(x)
        score = self.rates.score_against(baseline, x)
        self.rates.learn_one(x)
        median, scale = baseline or (0.0, 0.0)
        burst = count > median
        detector = "rate_burst" if burst else "rate_drop"
        holds = (
            baseline is not None
            and score > self.config.rate_threshold
            and (
                count >= self.config.min_burst_count
                if burst
                else median >= self.config.min_drop_median
            )
        )
        started_burst = self._enters("rate_burst", source, template, holds and burst)
        started_drop = self._enters("rate_drop", source, template, holds and not burst)
        if not (started_burst or started_drop):
            return []
        evidence = {"count": count, "baseline_median": median, "baseline_scale": scale}
        return [self._window_anomaly(detector, score, window, source, template, evidence)]

    def _errors(self, window: Window, source: _SourceState) -> list[Anomaly]:
        x = {"key": window.service, "errors": window.errors, "total": window.total}
        ratio = self.error_ratio.baseline_ratio(x)
        score = self.error_ratio.score_one(x)
        self.error_ratio.learn_one(x)
        holds = ratio is not None and score > self.config.error_threshold
        if not self._enters("error_ratio", source, None, holds):
            return []
        evidence = {"errors": window.errors, "total": window.total, "baseline_ratio": ratio}
        return [self._window_anomaly("error_ratio", score, window, source, None, evidence)]

    @staticmethod
    def _enters(detector: str, source: _SourceState, template: int | None, holds: bool) -> bool:
        """Whether a window condition starts holding now (a sustained one is reported once)."""
        key = (detector, template)
        if not holds:
            source.ongoing.discard(key)
            return False
        if key in source.ongoing:
            return False
        source.ongoing.add(key)
        return True

    def _window_anomaly(
        self,
        detector: str,
        score: float,
        window: Window,
        source: _SourceState,
        template: int | None,
        evidence: dict[str, Any],
    ) -> Anomaly:
        sample = source.samples.get(template) if template is not None else None
        what = f"template {template}" if template is not None else "all records"
        return Anomaly(
            id=stable_id("anomaly", detector, window.service, template, window.start_ns),
            time_ns=window.end_ns,
            service=window.service,
            detector=detector,
            score=score,
            template_id=template,
            summary=f"{_TITLES[detector]} of {what} in {window.service or 'unnamed source'}",
            evidence={
                "template_id": template,
                "window_start_ns": window.start_ns,
                "window_end_ns": window.end_ns,
                "window_total": window.total,
                **evidence,
                "sample": sample[0].body[:SAMPLE_CHARS] if sample else None,
                "record_ids": list(sample[1]) if sample else [],
            },
        )


_TITLES = {
    "new_template": "New template",
    "rare_template": "Rare template",
    "unexpected_next": "Unexpected next template in session",
    "rate_burst": "Rate burst",
    "rate_drop": "Rate drop",
    "error_ratio": "Error ratio rise",
}
