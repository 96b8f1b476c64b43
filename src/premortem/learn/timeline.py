"""A compact view of one run's logs for learning: when each template occurred, and how severe.

Learning needs every template's occurrence times per run, not the records themselves, so a run's
hundreds of thousands of records shrink to a few thousand integers and one sample line per
template (kept as evidence).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from premortem.domain import WARN_SEVERITY, LogRecord
from premortem.ingest.multiline import readable
from premortem.logs import TemplateMiner


@dataclass(slots=True)
class Sample:
    record_id: str
    line: str
    service: str


@dataclass(slots=True)
class Timeline:
    """Occurrences of templates in one run, by template id (times ascending)."""

    run_id: str
    start_ns: int = 0
    end_ns: int = 0
    times: dict[int, list[int]] = field(default_factory=dict)
    severity: dict[int, int] = field(default_factory=dict)
    service: dict[int, str] = field(default_factory=dict)
    samples: dict[int, Sample] = field(default_factory=dict)
    templates: dict[int, str] = field(default_factory=dict)  # the template's text when first seen
    # Metric series in the run's window: series id -> (time, value) ascending (metric_signals),
    # and the numbers of its warning lines as series of their own (`level_series`).
    metrics: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    metric_names: dict[str, str] = field(default_factory=dict)  # series id -> indicator name
    # Per template, its warning-or-worse lines as (time, severity), ascending: a template's lines
    # need not share a level (an access line is an error when its status is 5xx).
    alarms: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    def first_in(self, template_id: int, since_ns: int, until_ns: int) -> int | None:
        """The first occurrence in [since, until), or None."""
        times = self.times.get(template_id)
        if not times:
            return None
        i = bisect_left(times, since_ns)
        return times[i] if i < len(times) and times[i] < until_ns else None

    def last_before(self, template_id: int, until_ns: int) -> int | None:
        """The last occurrence at or before `until`, or None."""
        times = self.times.get(template_id)
        if not times:
            return None
        i = bisect_right(times, until_ns)
        return times[i - 1] if i else None

    def templates_in(self, since_ns: int, until_ns: int) -> set[int]:
        return {t for t in self.times if self.first_in(t, since_ns, until_ns) is not None}


def build_timeline(run_id: str, records: Iterable[LogRecord], miner: TemplateMiner) -> Timeline:
    """Mine `records` (any order) into a timeline; the miner learns as it goes."""
    timeline = Timeline(run_id)
    times = timeline.times
    severity = timeline.severity
    first = last = None
    for record in sorted(records, key=_time_of):
        match = miner.add(record.body, service=record.service)
        template_id = match.template_id
        record.template_id = template_id
        when = record.time_ns
        first = when if first is None else first
        last = when
        occurrences = times.get(template_id)
        if occurrences is None:
            times[template_id] = [when]
            severity[template_id] = record.severity_number
            timeline.service[template_id] = record.service
            timeline.samples[template_id] = Sample(
                record.id, sample_line(record.body), record.service
            )
            timeline.templates[template_id] = match.template
        else:
            occurrences.append(when)
            if record.severity_number > severity[template_id]:
                severity[template_id] = record.severity_number
        if is_warning_or_worse(record.severity_number):
            timeline.alarms.setdefault(template_id, []).append((when, record.severity_number))
            for key, value in level_series(template_id, record.body, record.attributes):
                points = timeline.metrics.get(key)
                if points is None:
                    points = timeline.metrics[key] = []
                    timeline.metric_names[key] = key
                points.append((when, value))
    timeline.start_ns = first or 0
    timeline.end_ns = last or 0
    return timeline


SAMPLE_CHARS = 500


def sample_line(body: str) -> str:
    """A record's text as a template's sample: whole when short, else without its stack frames
    (`multiline.readable`) so that a long traceback keeps the exception that ends it — what
    names the failure ("OperationalError: (1205, 'Lock wait timeout exceeded')"; a trial's
    lock mode, cut after its frames, was named after the probe's words)."""
    if len(body) <= SAMPLE_CHARS:
        return body
    return readable(body)[:SAMPLE_CHARS]


# A number standing alone in a line, a unit glued to it allowed ("81%", "350ms", "12.5s", one
# that ends a sentence), not part of a word or an id ("w3", "P-0934", "3f2a…", "10.0.1.2"), nor
# of a time or an address ("10:00:05", "db:5432") — but a JSON member's value is one
# (`"durationMs":2874`, a JSON logger's line shipped as text; a trial's lock waits were in them).
# Or a count out of a whole, "19/20", "attempt 2/6": both its numbers (the first says how far
# along; a path "/v1/2" or a date "12/06/2026" is none).
_NUMBER = re.compile(
    r'(?:(?<=":)|(?<![\w.,\-:/]))'
    r"(?:(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)(?!\.?\d)(?![\w\-:/])"
    r"|(\d+(?:\.\d+)?)[a-zA-Z%]*(?!\.?\d)(?![\w\-:/]))"
)
MAX_LEVELS_PER_LINE = 8
LEVEL_PREFIX = "level:"


def level_series(
    template_id: int, body: str, attributes: Mapping[str, object] | None = None
) -> list[tuple[str, float]]:
    """The numbers of a warning line, each as a point of its own series: a level the line
    reports (a queue's depth, a volume's fill, a wait in ms) can say more than the line itself.
    A series is the j-th number of the n numbers in the template's headline
    (`level:<template id>#<j>/<n>`): the count tells lines of one template apart whose numbers
    do not line up. A structured logger puts them in fields instead (pino's, zap's, slog's
    `{"msg": "slow transaction", "durationMs": 2874}`): each numeric attribute is a series of
    its own, by name (`level:<template id>#<key>`), but for names of ids, times and places."""
    headline = body.split("\n", 1)[0][:500]
    found = [n for groups in _NUMBER.findall(headline) for n in groups if n]
    n = len(found)
    series = (
        [(f"{LEVEL_PREFIX}{template_id}#{j}/{n}", float(v)) for j, v in enumerate(found)]
        if found and n <= MAX_LEVELS_PER_LINE
        else []
    )
    if attributes:
        fields = sorted(
            (key, float(value))
            for key, value in attributes.items()
            if isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and _NOT_A_LEVEL.search(key) is None
        )
        if len(fields) <= MAX_LEVELS_PER_LINE:
            series += [(f"{LEVEL_PREFIX}{template_id}#{key}", v) for key, v in fields]
    return series


# Attribute names that are no level: ids, times, places in code or in a stream, versions,
# levels of the log itself (a clock or a counter among the rest is found later: `_went_down`).
_NOT_A_LEVEL = re.compile(
    r"^(?i:id|pid|tid|uid|gid|port|line|lineno|time|timestamp|ts|epoch|seq|sequence|offset"
    r"|version|v|level|severity|status|status_?code|code|errno|msgid)$"
    r"|(?i:[._\-](?:id|pid|port|seq|offset|errno|code|status_?code))$"
    r"|(?<=[a-z])(?:Id|ID|Pid|Port|Seq|Offset|Code|StatusCode)$"
    r"|^(?i:syslog|code|thread|process|log|otel|host|net|k8s|container|service)\."
)


def level_template(series_id: str) -> int | None:
    """The template id of a `level_series` id, None for a metric series."""
    if not series_id.startswith(LEVEL_PREFIX):
        return None
    return int(series_id[len(LEVEL_PREFIX) : series_id.index("#")])


def _time_of(record: LogRecord) -> int:
    return record.time_ns


def is_warning_or_worse(severity_number: int) -> bool:
    return severity_number >= WARN_SEVERITY
