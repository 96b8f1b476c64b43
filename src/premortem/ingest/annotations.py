"""What premortem reads from a chaos object's `metadata.annotations` (Chaos Mesh, LitmusChaos).

A Kubernetes chaos object records the fault, and sometimes less: a ChaosResult has no end, a
Chaos Mesh object no outcome. Whoever runs the experiment (a Workflow step, a CI job) knows the
rest and can say it where Kubernetes objects carry such notes, `premortem.dev/<field>`:

    premortem.dev/ended-at          when the run ended (RFC 3339)        -> ended_at
    premortem.dev/duration-s        or how long it ran, in seconds        -> duration_s
    premortem.dev/failure-time      when the system failed, if known      -> failure_time
    premortem.dev/fault-start       when the fault was injected (RFC 3339) -> every fault's start
    premortem.dev/services          the services it touched, comma-separated -> services
    premortem.dev/service           the service under test                -> service
    premortem.dev/environment                                             -> environment
    premortem.dev/expected-outcome, actual-outcome, failure-details       -> the outcome

Any other `premortem.dev/` annotation is refused (a misspelling must not be dropped silently),
and so is a top-level key a Kubernetes object does not have (an `ended_at` next to `spec`).
"""

from __future__ import annotations

from premortem.domain import JSON
from premortem.errors import IngestError

PREFIX = "premortem.dev/"
# annotation (without the prefix) -> native field
RUN_FIELDS = {
    "ended-at": "ended_at",
    "duration-s": "duration_s",
    "failure-time": "failure_time",
    "fault-start": "fault_start",
    "services": "services",
    "service": "service",
    "environment": "environment",
    "expected-outcome": "expected_outcome",
    "actual-outcome": "actual_outcome",
    "failure-details": "failure_details",
}
OBJECT_KEYS = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
# Labels that name an application, most specific first.
APP_LABELS = ("app.kubernetes.io/name", "app", "app.kubernetes.io/component", "k8s-app")


def check_object_keys(obj: JSON) -> None:
    """A key no Kubernetes object has is a mistake worth a 400, not a field dropped."""
    for key in sorted(set(obj) - OBJECT_KEYS):
        raise IngestError(
            f"unknown key {key!r:.64}: a Kubernetes object has apiVersion, kind, metadata, spec "
            f"and status; premortem's own fields go in metadata.annotations "
            f"({', '.join(PREFIX + name for name in RUN_FIELDS)})",
            pointer=f"/{key}",
        )


def run_fields(metadata: JSON) -> JSON:
    """The native run fields the object's `premortem.dev/` annotations give."""
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        return {}
    fields: JSON = {}
    for key, value in sorted(annotations.items()):
        if not isinstance(key, str) or not key.startswith(PREFIX) or value is None:
            continue
        name = key.removeprefix(PREFIX)
        field = RUN_FIELDS.get(name)
        pointer = "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")
        if field is None:
            raise IngestError(
                f"unknown annotation {key!r:.80}; premortem reads "
                + ", ".join(PREFIX + n for n in RUN_FIELDS),
                pointer=pointer,
            )
        fields[field] = _value(field, str(value), pointer)
    return fields


def with_fault_start(doc: JSON) -> JSON:
    """`doc` with the `fault-start` annotation (if any) as the start of each injected fault: a
    ChaosResult names its experiment, not when it injected, so training and the scorers took
    the run's start for it and no failure of it counted as one long after its fault."""
    start = doc.pop("fault_start", None)
    if start is not None:
        doc["injected_faults"] = [{**f, "start": start} for f in doc.get("injected_faults") or []]
    return doc


def _value(field: str, text: str, pointer: str) -> object:
    if field == "services":
        return [s.strip() for s in text.split(",") if s.strip()]
    if field == "duration_s":
        try:
            seconds = float(text)
        except ValueError:
            raise IngestError(
                f"must be a number of seconds, not {text!r:.40}", pointer=pointer
            ) from None
        return int(seconds) if seconds.is_integer() else seconds
    return text


def app_label(labels: object) -> str | None:
    """The application a set of labels names, if any."""
    if isinstance(labels, dict):
        for key in APP_LABELS:
            value = labels.get(key)
            if isinstance(value, str) and value:
                return value
    return None
