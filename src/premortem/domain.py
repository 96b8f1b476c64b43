"""Domain records: what premortem knows about, independent of wire formats and storage.

Ingested inputs (`TestRun`, `SimulationRun`, `LogRecord`, `Event`) are validated here once; every
later stage trusts them. Log records and events are plain slotted dataclasses because they arrive by
the hundred thousand; the rarer records are pydantic models so the API can serve them directly.

Times: log records and events carry integer nanoseconds since the Unix epoch (UTC), which sorts,
compares and stores the same way on every database. Datetimes in pydantic models are timezone-aware
UTC (a naive datetime is read as UTC).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

JSON = dict[str, Any]


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are UTC by convention (SQLite drops tzinfo)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


MIN_NS = -(2**63)
MAX_NS = 2**63 - 1  # times are stored as signed 64-bit nanoseconds since the epoch
MAX_EPOCH_S = MAX_NS // 1_000_000_000  # the last whole second of that range (2262-04-11)


def in_ns_range(value: datetime) -> datetime:
    """`as_utc`, refusing a time outside 64-bit nanoseconds (1677-09-21 .. 2262-04-11)."""
    value = as_utc(value)
    if not MIN_NS <= datetime_to_ns(value) <= MAX_NS:
        raise ValueError("must be between 1677-09-21 and 2262-04-11 (64-bit ns since 1970)")
    return value


# The documented form of that range: RFC 3339 with a year from 1678 to 2261 (JSON Schema has no
# minimum for dates; the partial years at both ends are accepted but not promised).
NS_RANGE_YEARS = r"^(16(7[89]|[89][0-9])|1[7-9][0-9]{2}|2[01][0-9]{2}|22[0-5][0-9]|226[01])-"
# The last microsecond inside the range (pydantic keeps microseconds), in epoch s and ms.
_MAX_S = 9_223_372_036.854775
_MAX_MS = 9_223_372_036_854.775
_MS_FROM = 2e10  # pydantic reads an epoch number above this as milliseconds, below as seconds


def _ns_range_schema(schema: dict[str, Any]) -> None:
    """What `in_ns_range` accepts: an RFC 3339 string, or epoch seconds or milliseconds."""
    string = {**schema, "pattern": NS_RANGE_YEARS}
    schema.clear()
    schema["anyOf"] = [
        string,
        {"type": "number", "minimum": -_MAX_S, "maximum": _MAX_S},
        {"type": "number", "exclusiveMinimum": _MS_FROM, "maximum": _MAX_MS},
        {"type": "number", "minimum": -_MAX_MS, "exclusiveMaximum": -_MS_FROM},
    ]


UtcDatetime = Annotated[
    datetime, AfterValidator(in_ns_range), Field(json_schema_extra=_ns_range_schema)
]


def stable_id(*parts: object) -> str:
    """A 32-hex-char id derived from content, so that a re-sent record is recognised."""
    try:
        data = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # a lone surrogate, which orjson refuses: escape it instead
        data = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def ns_to_datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def datetime_to_ns(value: datetime) -> int:
    # Exact integer arithmetic (a float timestamp rounds, and truncates the wrong way before 1970).
    delta = as_utc(value) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def optional_ns(value: datetime | None) -> int | None:
    """`datetime_to_ns` for optional bounds (query parameters such as since/until)."""
    return datetime_to_ns(value) if value is not None else None


def rfc3339_ns(ns: int) -> str:
    """Nanosecond timestamp as RFC 3339 UTC with microseconds, e.g. 2024-05-01T12:00:00.123456Z."""
    return ns_to_datetime(ns).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _not_a_boolean(value: Any) -> Any:
    """JSON's true and false are not numbers; pydantic's lax mode would read them as 1 and 0, so a
    client sending one would get 2xx where the published schema promises a 4xx."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


Number = Annotated[float, BeforeValidator(_not_a_boolean)]
Integer = Annotated[int, BeforeValidator(_not_a_boolean)]


# --------------------------------------------------------------------------- test runs


class InjectedFault(BaseModel):
    """One fault injected during a test run. Unknown keys are kept and read back."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        min_length=1, max_length=256, description="e.g. network_latency, cpu_hog, process_kill"
    )
    target: str | None = None
    process: str | None = None
    value: int | float | str | None = None
    unit: str | None = None
    duration: int | float | str | None = None
    start: UtcDatetime | float | None = Field(
        default=None, description="absolute time, or seconds after the run's timestamp"
    )


Outcome = str | dict[str, Any] | list[Any] | None


class TestRun(BaseModel):
    """A chaos or synthetic test result, in premortem's native (seed) format.

    Extra top-level keys are allowed and kept, so a document is read back exactly as it was sent.
    """

    __test__ = False  # not a pytest test class
    model_config = ConfigDict(extra="allow")

    test_id: str = Field(min_length=1, max_length=256)
    timestamp: UtcDatetime
    parameters: dict[str, Any] = Field(default_factory=dict)
    injected_faults: list[InjectedFault] = Field(default_factory=list)
    expected_outcome: Outcome = None
    actual_outcome: Outcome = None
    failure_details: Outcome = None
    failure_time: UtcDatetime | None = Field(
        default=None, description="when the failure manifested; found in the run's logs if absent"
    )
    ended_at: UtcDatetime | None = Field(default=None, description="when the run ended")
    duration_s: Number | None = Field(
        default=None, ge=0, description="how long the run lasted (when ended_at is absent)"
    )
    services: list[str] | None = Field(
        default=None, description="the services whose logs belong to the run (default: all)"
    )
    environment: str | None = Field(default=None, max_length=256)
    service: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _ends_after_start(self) -> TestRun:
        if self.ended_at is not None and self.ended_at < self.timestamp:
            raise ValueError("ended_at must not be before timestamp")
        return self

    @property
    def failed(self) -> bool:
        """Whether the run failed (docs/ingest.md, "When a run failed"): an actual outcome the
        same as the expected one passed; else a verdict word in it ("pass", "failed", "ok", …)
        decides; else a run failed when its actual outcome differs from the expected one —
        unless, with neither `failure_details` nor `failure_time` to say what broke, the actual
        outcome reads as a success in other words ("all orders succeeded" against "every order
        succeeds (no 5xx)")."""
        if self.actual_outcome is None:  # no outcome yet (a run still going on)
            return self.failure_time is not None
        if self.expected_outcome is not None and _norm(self.actual_outcome) == _norm(
            self.expected_outcome
        ):
            return False  # what should happen happened, whatever its words
        verdict = outcome_verdict(self.actual_outcome)
        if verdict is not None:
            return verdict == "fail"
        explicit = bool(self.failure_details) or self.failure_time is not None
        if self.expected_outcome is None:
            return explicit
        return explicit or not reads_as_success(self.actual_outcome)

    @property
    def outcome(self) -> str:
        return "fail" if self.failed else "pass"

    @property
    def onset(self) -> datetime:
        """When the failure manifested: its failure_time, else the run's timestamp."""
        return self.failure_time or self.timestamp

    @property
    def fault_types(self) -> list[str]:
        return sorted({fault.type for fault in self.injected_faults})


_PASS_WORDS = frozenset(
    [
        "pass",
        "passed",
        "passing",
        "ok",
        "okay",
        "success",
        "succeeded",
        "successful",
        "green",
        "healthy",
        "true",
    ]
)
_FAIL_WORDS = frozenset(
    ["fail", "failed", "failing", "failure", "error", "errored", "red", "unhealthy", "false"]
)
# "no 5xx", "without errors", "0 failures": a failure word that says it did not happen.
_DENIED = re.compile(
    r"\b(?:no|without|zero|(?<![\d.])0|never)\s+(?:\w+\s+)?"
    r"(?:fail\w*|errors?|exceptions?|5xx|5\d\d|timeouts?|time-?outs?|crash\w*|deviations?)\b"
)
_FAILURE_WORDS = re.compile(
    r"\b(?:fail\w*|errors?|errored|exceptions?|timed out|timeouts?|unavailable|exceed\w*|"
    r"deviat\w*|broke\w*|crash\w*|refused|rejected|denied|down|5xx|5\d\d\w*|4\d\d\w*|"
    r"not|no|never|unhealthy|lost|missing|degraded|aborted|killed|restart\w*|drop\w*|"
    r"slow\w*|oom\w*|rose|grew|spik\w*|leak\w*|stuck|hung|full)\b"
)
# Words that say a check came out well; "all" or "within" alone say nothing ("all pods
# restarted", "p99 rose to 9 s within a minute").
_SUCCESS_WORDS = re.compile(
    r"\b(?:succe\w*|pass(?:ed|es|ing)?|ok|okay|healthy|green|as expected)\b"
    r"|\bsteady[ -]state (?:held|holds|was met|met|maintained)\b"
)


def outcome_verdict(value: Outcome) -> str | None:
    """ "pass" or "fail" when the outcome is a plain verdict word, else None."""
    if not isinstance(value, str):
        return None
    word = value.strip().strip(".!").lower()
    if word in _PASS_WORDS:
        return "pass"
    if word in _FAIL_WORDS:
        return "fail"
    return None


def reads_as_success(value: Outcome) -> bool:
    """A free-text outcome that says things went well and names nothing going wrong."""
    if not isinstance(value, str):
        return False
    text = _DENIED.sub(" ", value.lower())
    return bool(_SUCCESS_WORDS.search(text)) and not _FAILURE_WORDS.search(text)


def _norm(value: Outcome) -> str:
    if isinstance(value, str):
        return " ".join(value.lower().split())
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def outcome_text(value: Outcome) -> str:
    """A readable one-line rendering of an outcome or failure-details field."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "; ".join(f"{k}: {outcome_text(v)}" for k, v in value.items())
    return "; ".join(outcome_text(v) for v in value)


# --------------------------------------------------------------------------- simulations


class SimEvent(BaseModel):
    """Something that happened in a simulation, `time` seconds after `started_at`."""

    model_config = ConfigDict(extra="forbid")

    time: Number = Field(ge=0)
    type: str = Field(min_length=1, description="e.g. pool_exhausted, queue_overflow")
    attributes: dict[str, Any] = Field(default_factory=dict)


class Series(BaseModel):
    """One sampled series; `timestamps` are seconds after `started_at`, ascending."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="e.g. pool_utilisation, queue_length, latency_p99")
    unit: str = ""
    timestamps: list[Number]
    values: list[Number | None]
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _same_length(self) -> Series:
        if len(self.timestamps) != len(self.values):
            raise ValueError(
                f"timestamps has {len(self.timestamps)} items but values has {len(self.values)}"
            )
        if any(b < a for a, b in zip(self.timestamps, self.timestamps[1:], strict=False)):
            raise ValueError("timestamps must be ascending")
        return self


class SimulationRun(BaseModel):
    """The output of one discrete-event simulation run (see docs/simulation-schema.md)."""

    model_config = ConfigDict(extra="forbid")

    simulation_id: str = Field(min_length=1, max_length=256)
    model: str = Field(min_length=1, max_length=256, description="e.g. connection_pool, service")
    parameters: dict[str, Any] = Field(default_factory=dict)
    started_at: UtcDatetime
    duration_s: Number | None = Field(default=None, ge=0)
    seed: Integer | None = None
    service: str | None = Field(default=None, max_length=256)
    environment: str | None = Field(default=None, max_length=256)
    source: str = Field(
        default="external", max_length=32, description="external, or builtin for premortem.sim"
    )
    events: list[SimEvent] = Field(default_factory=list)
    series: list[Series] = Field(default_factory=list)

    def series_named(self, name: str) -> Series | None:
        return next((s for s in self.series if s.name == name), None)


# --------------------------------------------------------------------------- logs and events


class Severity(StrEnum):
    TRACE = "TRACE"
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"
    FATAL = "FATAL"


_SEVERITY_BASE = {
    Severity.TRACE: 1,
    Severity.DEBUG: 5,
    Severity.INFO: 9,
    Severity.WARN: 13,
    Severity.ERROR: 17,
    Severity.FATAL: 21,
}


def severity_text_from_number(number: int) -> str:
    if number <= 0:
        return ""
    for level in reversed(Severity):
        if number >= _SEVERITY_BASE[level]:
            return level.value
    return ""


ERROR_SEVERITY = 17
WARN_SEVERITY = 13
# Set on a record that continues a message whose start came in an earlier batch (a shipper cut
# a stack trace between two exports): a piece of a message, not one (ingest/multiline.py).
FRAGMENT_ATTRIBUTE = "premortem.fragment"


def is_fragment(record: LogRecord) -> bool:
    """A piece of a message split across batches: stored and shown, never learned from."""
    attributes = record.attributes
    return bool(attributes) and attributes.get(FRAGMENT_ATTRIBUTE) is True


@dataclass(slots=True)
class LogRecord:
    """One log line. `id` is derived from content unless the sender gave one (docs/ingest.md)."""

    time_ns: int
    body: str
    service: str = ""
    severity_number: int = 0
    severity_text: str = ""
    observed_ns: int = 0
    attributes: JSON = field(default_factory=dict)
    resource: JSON = field(default_factory=dict)
    trace_id: str | None = None
    span_id: str | None = None
    id: str = ""
    template_id: int | None = None

    def __post_init__(self) -> None:
        if not self.id:
            self.id = self.content_id()
        if not self.observed_ns:
            self.observed_ns = self.time_ns

    def content_id(self) -> str:
        """The id derived from every field the sender gave (all but `id` and `template_id`), so
        records that differ in anything are never merged and a re-sent one is recognised."""
        # Time first: ids of a stream arrive almost in order, so the id index is appended to
        # rather than written at random places (several times faster on SQLite).
        return f"{self.time_ns & 0xFFFF_FFFF_FFFF_FFFF:016x}{self.timeless_digest(self.time_ns)}"

    def timeless_digest(self, time_ns: int | None = None) -> str:
        """16 hex digits of the content, with the time only if `time_ns` is given."""
        observed = self.observed_ns if self.observed_ns != self.time_ns else 0  # 0: not given
        digest = stable_id(
            "log",
            self.service,
            time_ns,
            observed,
            self.severity_number,
            self.severity_text,
            self.body,
            self.attributes,
            self.resource,
            self.trace_id,
            self.span_id,
        )
        return digest[:16]

    @property
    def is_error(self) -> bool:
        return self.severity_number >= ERROR_SEVERITY

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "timestamp": rfc3339_ns(self.time_ns),
            "observed_timestamp": rfc3339_ns(self.observed_ns),
            "service": self.service,
            "severity_text": self.severity_text,
            "severity_number": self.severity_number,
            "body": self.body,
            "attributes": self.attributes,
            "resource": self.resource,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "template_id": self.template_id,
        }


@dataclass(slots=True)
class Event:
    """An operational event: a deploy, a config change, a Kubernetes event, an incident.

    `external_id` is the producer's own identifier, kept as sent: a CloudEvent's `id` (unique
    within its `source`), a Kubernetes Event's `metadata.uid`; "" when the producer gave none.
    """

    time_ns: int
    type: str
    source: str
    subject: str = ""
    service: str = ""
    attributes: JSON = field(default_factory=dict)
    data: Any = None
    id: str = ""
    external_id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = self.content_id()

    def content_id(self) -> str:
        """The id derived from every field, so events that differ in anything are never merged."""
        return self.timeless_digest(self.time_ns)

    def timeless_digest(self, time_ns: int | None = None) -> str:
        """The content digest, with the time only if `time_ns` is given."""
        return stable_id(
            "event",
            self.source,
            self.type,
            time_ns,
            self.subject,
            self.service,
            self.attributes,
            self.data,
        )

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "time": rfc3339_ns(self.time_ns),
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "service": self.service,
            "external_id": self.external_id,
            "attributes": self.attributes,
            "data": self.data,
        }


# --------------------------------------------------------------------------- analysis results


class Template(BaseModel):
    """A log template mined from one source (service)."""

    id: int
    service: str
    template: str
    count: int = 0
    first_seen_ns: int = 0
    last_seen_ns: int = 0
    samples: list[str] = Field(default_factory=list)
    parameters: list[list[str]] = Field(default_factory=list)


class Anomaly(BaseModel):
    """A signal from an online detector, with the evidence that raised it."""

    id: str
    time_ns: int
    service: str
    detector: str
    score: float
    template_id: int | None = None
    summary: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)


class TriggerKind(StrEnum):
    LOG_PATTERN = "log_pattern"
    EVENT_SEQUENCE = "event_sequence"
    FAULT_CONDITION = "fault_condition"
    LOAD_CONDITION = "load_condition"
    SIMULATION_CONDITION = "simulation_condition"


class Source(StrEnum):
    LEARNED = "learned"
    MANUAL = "manual"
    CATALOGUE = "catalogue"
    ROLLBACK = "rollback"


class Trigger(BaseModel):
    id: str = ""
    kind: TriggerKind
    description: str
    condition: dict[str, Any] = Field(default_factory=dict)
    support: Number = 0.0
    precision: Number = 0.0
    lead_times_s: list[Number] = Field(default_factory=list)
    source: Source = Source.LEARNED


class Mitigation(BaseModel):
    id: str = ""
    action: str = Field(min_length=1)
    runbook_url: str | None = None
    source: Source = Source.MANUAL


class Evidence(BaseModel):
    test_runs: list[str] = Field(default_factory=list)
    simulation_runs: list[str] = Field(default_factory=list)
    log_excerpts: list[dict[str, Any]] = Field(default_factory=list)


class FailureMode(BaseModel):
    id: str
    name: str = Field(min_length=1)
    description: str = ""
    severity: str = "warning"
    service: str = ""
    manifestation: dict[str, Any] = Field(default_factory=dict)
    triggers: list[Trigger] = Field(default_factory=list)
    mitigations: list[Mitigation] = Field(default_factory=list)
    evidence: Evidence = Field(default_factory=Evidence)
    source: Source = Source.LEARNED
    manual_fields: list[str] = Field(
        default_factory=list, description="fields edited by hand: retraining leaves them alone"
    )
    version: int = 1
    updated_at: UtcDatetime | None = None

    def expected_lead_times_s(self, fired_templates: Iterable[int] = ()) -> list[float]:
        """How long before the failure, in training, the precursors seen live came: the lead
        times of this mode's triggers on the templates that fired (the model's template ids),
        else of every trigger a live stream can show (log lines, event sequences). A fault's
        injection, which premortem never sees live, came earlier than any line: counting it
        said "46 s" where the lines that fired came 13 s ahead."""
        fired = set(fired_templates)
        own = [
            t
            for trig in self.triggers
            if trig.condition.get("template_id") in fired
            for t in trig.lead_times_s
            if t >= 0
        ]
        if own:
            return own
        return [
            t
            for trig in self.triggers
            if trig.kind in (TriggerKind.LOG_PATTERN, TriggerKind.EVENT_SEQUENCE)
            for t in trig.lead_times_s
            if t >= 0
        ]


class Prediction(BaseModel):
    id: str
    time_ns: int
    mode_id: str
    service: str = ""
    probability: float = Field(ge=0, le=1)
    horizon_s: float
    lead_time_s: float | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)

    @property
    def closing(self) -> bool:
        """Whether this prediction closes the mode's open one (`evidence["closes"]` says why:
        its evidence expired, the failure came): its alert resolves, nothing is predicted."""
        return bool(self.evidence.get("closes"))

    @property
    def fired_template_ids(self) -> list[int]:
        """The model's template ids that fired this prediction (its evidence's `template_ids`)."""
        found = self.evidence.get("template_ids")
        return [t for t in found if isinstance(t, int)] if isinstance(found, list) else []


@dataclass(slots=True)
class MetricSeries:
    """A metric's samples under one label set (Prometheus remote-write), `(time_ns, value)`."""

    metric: str
    labels: dict[str, str]
    points: list[tuple[int, float]] = field(default_factory=list)

    @property
    def id(self) -> str:
        """One id per metric and label set, whatever the order the labels came in."""
        return "ms-" + stable_id(self.metric, sorted(self.labels.items()))[:24]

    @property
    def service(self) -> str:
        """The service the series belongs to: its first label of SERIES_SERVICE_LABELS."""
        return series_service(self.labels)


# Labels that name the service a metric series belongs to, in the order they are trusted.
SERIES_SERVICE_LABELS = ("service", "service_name", "app", "job")


def series_service(labels: dict[str, str]) -> str:
    return next((labels[k] for k in SERIES_SERVICE_LABELS if labels.get(k)), "")
