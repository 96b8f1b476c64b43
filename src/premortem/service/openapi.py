"""The OpenAPI document, complete enough that a generated client (and schemathesis) agree with
the server.

FastAPI documents what it sees: pydantic bodies, query and path parameters, the success status.
It cannot see what the routes that read a raw batch accept (`ingest_body` declares it, per media
type), nor the problem+json answers of the edge guard and the error handlers: `complete` adds
those to every operation, by the same rules the guard applies (docs/security.md):

    every guarded route ........... 400 (Host, invalid input), 401 / 403 (token)
    writes ........................ 403 (cross-site), 408 / 413 (body), 415 (open server)
    a path parameter .............. 404
    what a route declares itself .. `responses=problem_responses(409)`

Every 4xx is `application/problem+json`; a 401 carries `WWW-Authenticate`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from premortem.domain import MAX_EPOCH_S, SimulationRun
from premortem.ingest.loki import MAX_ENTRY_NS
from premortem.service.guard import UNGUARDED_PATHS, WRITES
from premortem.service.problems import PROBLEM

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_CHALLENGE = {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}}

_WHY = {
    400: "Host not allowed, or the input is invalid (the `errors` name the field)",
    401: "no token, or an unknown one (servers with tokens)",
    403: "the token lacks the route's scope, or a cross-site write",
    404: "no such resource",
    408: "the body stalled (`PREMORTEM_BODY_TIMEOUT_S`)",
    409: "conflicts with the current state",
    413: "the body is over the route's limit",
    415: "a content type a web page may send, on an open server",
    422: "a parameter or a field of the body is invalid (the `errors` name it)",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route's own problem answers (`complete` gives them their schema)."""
    return {
        status: {"description": _WHY.get(status, HTTPStatus(status).phrase)} for status in statuses
    }


def ingest_body(content: dict[str, dict[str, Any]], *, description: str) -> dict[str, Any]:
    """`openapi_extra=` for a route that reads the raw body: its media types and their schemas."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {media: {"schema": schema} for media, schema in content.items()},
        }
    }


def one_or_many(item: dict[str, Any]) -> dict[str, Any]:
    """A JSON object or a JSON array of them (every native ingest route takes both)."""
    return {"anyOf": [item, {"type": "array", "items": item}]}


def complete(app: FastAPI) -> None:
    """Make `app.openapi()` add the problem answers to FastAPI's document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_SCHEMA
        simulation = SimulationRun.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, schema in simulation.pop("$defs", {}).items():
            schemas.setdefault(name, schema)
        schemas.setdefault("SimulationRun", simulation)
        for path, operations in document.get("paths", {}).items():
            if path in UNGUARDED_PATHS:
                continue
            for method, operation in operations.items():
                _add_problems(path, method.upper(), operation)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _add_problems(path: str, method: str, operation: dict[str, Any]) -> None:
    statuses = {400, 401, 403}
    if method in WRITES:
        statuses |= {408, 413, 415}
    if "{" in path:
        statuses.add(404)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in statuses:
        responses.setdefault(str(status), {"description": _WHY[status]})
    for code, response in responses.items():
        if code.startswith("4"):
            response["content"] = {PROBLEM: {"schema": _PROBLEM_REF}}
            if code == "401":
                response["headers"] = _CHALLENGE


# ---------------------------------------------------------------------------- ingest bodies
# What the raw-body routes take, for clients and fuzzers. The parsers check more than a schema
# can say (times within 64-bit nanoseconds, a tool's format chosen by `?format`, nesting depth):
# a body of the right shape can still get 400 naming the field.

# Optional keys take `null` for "absent", as the parsers do.
_TIME = {"type": ["string", "number", "null"], "description": "RFC 3339, or epoch s/ms/us/ns"}
_TEXT = {"type": ["string", "null"]}
_NAME = {"type": "string", "minLength": 1}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
LOG_RECORD: dict[str, Any] = {
    "type": "object",
    "required": ["body"],
    "properties": {
        "body": {"type": "string"},
        "timestamp": _TIME,
        "service": _TEXT,
        "severity_text": _TEXT,
        "severity_number": {"type": ["integer", "null"], "minimum": 0, "maximum": 24},
        "attributes": {"type": ["object", "null"]},
        "resource": {"type": ["object", "null"]},
        "trace_id": _TEXT,
        "span_id": _TEXT,
    },
    "description": "only `body` is required; other keys are kept as attributes",
}
CLOUDEVENT: dict[str, Any] = {
    "type": "object",
    "required": ["specversion", "id", "source", "type"],
    "properties": {
        "specversion": {"type": "string", "pattern": "^1\\.[0-9]+$"},
        "id": _NAME,
        "source": _NAME,
        "type": _NAME,
        "time": _TIME,
        "subject": _TEXT,
        "datacontenttype": _TEXT,
        "data": {},
    },
    "description": "a CloudEvent 1.x in structured mode; extension attributes are kept",
}
NATIVE_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "not": {"anyOf": [{"required": ["specversion"]}, {"required": ["involvedObject"]}]},
    "properties": {
        "type": _NAME,
        "time": _TIME,
        "source": _TEXT,
        "subject": _TEXT,
        "service": _TEXT,
        "id": _TEXT,
        "attributes": {"type": ["object", "null"]},
        "data": {},
    },
    "description": "a native event: only `type` is required, `time` defaults to the receive time",
}
EVENT: dict[str, Any] = {
    "anyOf": [CLOUDEVENT, NATIVE_EVENT, {"type": "object", "required": ["involvedObject"]}],
    "description": "a CloudEvent (`specversion`), a Kubernetes Event (`involvedObject`), or a "
    "native event (`type`, `time`, `service`, `attributes`)",
}
NDJSON = {"type": "string", "description": "JSON lines"}

LOGS = ingest_body(
    {"application/json": one_or_many(LOG_RECORD), "application/x-ndjson": NDJSON},
    description="native log records: one, an array, or JSON lines",
)
EVENTS = ingest_body(
    {
        "application/json": one_or_many(EVENT),
        "application/cloudevents+json": CLOUDEVENT,
        "application/cloudevents-batch+json": {"type": "array", "items": CLOUDEVENT},
        "application/x-ndjson": NDJSON,
    },
    description="CloudEvents (structured, batch, or binary mode with `ce-` headers), "
    "Kubernetes Events, or native events",
)
TEST_RUNS = ingest_body(
    {"application/json": one_or_many({"type": "object"})},
    description="`?format=native`: a TestRun or an array of them (the TestRun schema); "
    "`?format=chaostoolkit|litmus|k6|locust`: the tool's own report",
)
SIMULATIONS = ingest_body(
    {"application/json": one_or_many({"$ref": "#/components/schemas/SimulationRun"})},
    description="a SimulationRun or an array of them",
)
OTLP_LOGS = ingest_body(
    {
        "application/json": {
            "type": "object",
            "properties": {
                "resourceLogs": {"type": ["array", "null"], "items": {"type": "object"}}
            },
        },
        "application/x-protobuf": {"type": "string", "format": "binary"},
    },
    description="OTLP ExportLogsServiceRequest, JSON or protobuf (optionally gzip)",
)
_LOKI_VALUE = {
    "type": "array",
    "prefixItems": [
        {
            "anyOf": [
                {"type": "string", "pattern": "^([0-9]{1,18}|[0-8][0-9]{18}|9000000000000000000)$"},
                {"type": "integer", "minimum": 0, "maximum": MAX_ENTRY_NS},
            ],
            "description": "Unix nanoseconds, as a string of digits (or a number)",
        },
        {"type": "string", "description": "the line"},
        {"type": "object", "additionalProperties": {"type": "string"}},
    ],
    "minItems": 2,
    "maxItems": 3,
}
LOKI_PUSH = ingest_body(
    {
        "application/json": {
            "type": "object",
            "required": ["streams"],
            "properties": {
                "streams": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["stream", "values"],
                        "properties": {
                            "stream": _STRINGS,
                            "values": {"type": "array", "items": _LOKI_VALUE},
                        },
                    },
                }
            },
        },
        "application/x-protobuf": {"type": "string", "format": "binary"},
    },
    description="Loki's push body: JSON, or a snappy-compressed logproto.PushRequest",
)
CHAOSTOOLKIT_NOTIFICATION = ingest_body(
    {
        "application/json": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "payload": {},
                "phase": _TEXT,
                "ts": {
                    "type": ["number", "null"],
                    "exclusiveMinimum": 0,
                    "maximum": MAX_EPOCH_S,
                    "description": "epoch seconds; the arrival time when absent",
                },
            },
        }
    },
    description="one Chaos Toolkit HTTP notification",
)
