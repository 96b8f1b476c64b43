"""Shipped mitigation catalogue, keyed by fault type and trigger kind.

Keys are matched as lower-case substrings of the fault types and trigger descriptions of a mode,
so `pool_exhaustion`, `db-pool-exhausted` and `OPENSTACK_MISSING_PARAMETERS-VOLUME` all find their
entries without a per-dataset table.
"""

from __future__ import annotations

from collections.abc import Iterable

from premortem.domain import Mitigation, Source, TriggerKind, stable_id

# (keyword, actions): the keyword is looked for in fault types and trigger texts.
FAULT_ACTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "pool",
        (
            "Raise the connection pool size or shed load before the pool saturates.",
            "Add a queue timeout so callers fail fast instead of piling up.",
        ),
    ),
    (
        "latency",
        (
            "Set client timeouts below the caller's deadline.",
            "Retry with exponential backoff and jitter.",
            "Put a circuit breaker in front of the slow dependency.",
        ),
    ),
    (
        "delay",
        (
            "Set client timeouts below the caller's deadline.",
            "Put a circuit breaker in front of the slow dependency.",
        ),
    ),
    (
        "kill",
        (
            "Run the process under a supervisor with a restart policy.",
            "Run more than one replica behind a health-checked load balancer.",
        ),
    ),
    (
        "crash",
        (
            "Run the process under a supervisor with a restart policy.",
            "Run more than one replica behind a health-checked load balancer.",
        ),
    ),
    ("cpu", ("Set CPU limits and requests; autoscale on CPU saturation.",)),
    ("memory", ("Set memory limits; alert on growth and restart leaking workers.",)),
    ("disk", ("Alert on disk usage and I/O errors; move writes to a healthy volume.",)),
    (
        "network",
        (
            "Check the network path (ports, DHCP, routers) and fail over to a healthy agent.",
            "Retry idempotent network operations with backoff.",
        ),
    ),
    ("queue", ("Bound the queue and shed or reject load when it is full.",)),
    (
        "volume",
        (
            "Check the storage backend (volume service, iSCSI sessions) before attaching.",
            "Retry the volume operation once the backend reports healthy.",
        ),
    ),
    (
        "instance",
        (
            "Reschedule the instance on another compute host.",
            "Check the compute service and hypervisor health before booting.",
        ),
    ),
    ("image", ("Verify the image service and the image's checksum before using it.",)),
    (
        "exception",
        (
            "Roll back the last deployment of the failing component.",
            "Add error handling around the failing call and surface the error early.",
        ),
    ),
    (
        "parameters",
        (
            "Roll back the last deployment of the failing component.",
            "Validate call arguments at the component boundary.",
        ),
    ),
    (
        "return_value",
        (
            "Roll back the last deployment of the failing component.",
            "Validate return values at the component boundary.",
        ),
    ),
    ("function_call", ("Roll back the last deployment of the failing component.",)),
)

KIND_ACTIONS: dict[TriggerKind, tuple[str, ...]] = {
    TriggerKind.LOG_PATTERN: ("Page the owner of the service that logs the precursor.",),
    TriggerKind.EVENT_SEQUENCE: ("Pause or roll back the change that starts the sequence.",),
    TriggerKind.FAULT_CONDITION: ("Remove or isolate the faulty component.",),
    TriggerKind.LOAD_CONDITION: (
        "Shed or rate-limit load above the learned threshold.",
        "Scale out before the load reaches the threshold.",
    ),
    TriggerKind.SIMULATION_CONDITION: (
        "Resize the simulated resource (pool, queue, workers) "
        "until the predicted utilisation stays below 0.9.",
    ),
}


def mitigations_for(
    mode_id: str,
    *,
    fault_types: Iterable[str],
    trigger_kinds: Iterable[TriggerKind],
    trigger_texts: Iterable[str] = (),
) -> list[Mitigation]:
    """Catalogue mitigations for a mode with these faults and triggers (no duplicates)."""
    haystack = " ".join([*fault_types, *trigger_texts]).lower()
    actions: list[str] = []
    for keyword, entries in FAULT_ACTIONS:
        if keyword in haystack:
            actions += entries
    for kind in trigger_kinds:
        actions += KIND_ACTIONS.get(kind, ())
    unique = list(dict.fromkeys(actions))
    return [
        Mitigation(
            id="mi-" + stable_id(mode_id, action)[:16], action=action, source=Source.CATALOGUE
        )
        for action in unique
    ]


def rollback_mitigations(mode_id: str, steps: Iterable[str]) -> list[Mitigation]:
    """The rollback steps of chaos experiments that reproduced the mode."""
    return [
        Mitigation(
            id="mi-" + stable_id(mode_id, "rollback", step)[:16],
            action=f"Rollback step that restored service in a reproduction: {step}",
            source=Source.ROLLBACK,
        )
        for step in dict.fromkeys(steps)
    ]
