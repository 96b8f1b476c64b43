"""Shipped mitigation catalogue: what to do about what a mode's precursors and faults say.

Each entry is a topic, a pattern and its actions. Patterns are matched on word boundaries in
`normalised` text (lower case, CamelCase split, `_`/`-` as spaces), so `pool_exhaustion`,
`db-pool-exhausted`, `ShareLock` and `OPENSTACK_MISSING_PARAMETERS-VOLUME` all find their entries
without a per-dataset table, while PostgreSQL's "Wait queue: 812" is not a queue.

Ranking follows trust in what was seen: the precursors (trigger texts, in the mode's order) first,
with each injected fault type's advice before the precursors' more general topics (a lock fault
before a precursor's "slow"), then the mode's description, then advice per trigger kind. Within a
text, entries come in table order (specific before general). The result is deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from premortem.domain import Mitigation, Source, TriggerKind, stable_id
from premortem.ingest.multiline import readable
from premortem.learn.naming import normalised

_TIMEOUTS = "Set client timeouts below the caller's deadline, per dependency."
_BREAKER = "Put a circuit breaker in front of the slow dependency and fail fast while it is open."
_BACKOFF = "Retry idempotent calls with exponential backoff and jitter."
_RESTART = "Run the process under a supervisor with a restart policy."
_REPLICAS = "Run more than one replica behind a health-checked load balancer."
_ROLLBACK = "Roll back the last deployment of the failing component."

# (topic, pattern, actions), specific topics first.
CATALOGUE: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "deadlock",
        r"\bdeadlock",
        (
            "Take locks in one consistent order in every code path that updates the same rows.",
            "Retry transactions that fail with a deadlock, with backoff.",
        ),
    ),
    (
        # MySQL / MariaDB (InnoDB) say it their way: error 1205 "Lock wait timeout exceeded; try
        # restarting transaction". PostgreSQL's tools would be the wrong advice there.
        "innodb lock",
        r"\block wait timeout exceeded|\btry restarting transaction|\binnodb\b",
        (
            "Find the blocking transaction (SHOW ENGINE INNODB STATUS, sys.innodb_lock_waits) "
            "and end or fix it.",
            "Lower innodb_lock_wait_timeout for the application's sessions so waiters fail fast, "
            "and retry the transaction with backoff.",
        ),
    ),
    (
        "postgres lock",
        r"\bshare ?(?:row ?)?(?:exclusive ?)?lock\b|\bexclusive ?lock\b|\bstill waiting for\b"
        r"|\bdue to lock timeout|\block timeout\b|\bpg (?:locks|stat activity|blocking pids)\b",
        (
            "Find the blocking session (pg_blocking_pids, pg_stat_activity) and end or fix it.",
            "Set lock_timeout (and statement_timeout) so waiters fail fast instead of piling up.",
        ),
    ),
    (
        "lock",
        r"\block(?:s|ed|ing)?\b|\bblocked by\b",
        (
            "Find the session or transaction holding the lock and end or fix it.",
            "Shorten transactions: no user or network waits while holding row locks.",
            "Take locks in one consistent order in every code path that updates the same rows.",
            "Set a lock wait timeout so waiters fail fast instead of piling up.",
        ),
    ),
    (
        "connection leak",
        r"\bconnection leak|\bleak(?:ed|ing|s)? (?:\w+ )?connections?\b|\bleak detection",
        (
            "Find the code path that does not return its connection (leak detection stack traces).",
            "Set a maximum connection lifetime so leaked connections are reclaimed.",
        ),
    ),
    (
        # Before "connection pool": the database's own limit, reached by queries that hold on.
        "long-running queries",
        r"\blong[ -]?running (?:quer\w*|statements?|transactions?)|\bslow quer\w*"
        r"|\bmax (?:user )?connections|\bconnection usage",
        (
            "Find the long-running queries holding connections (SHOW PROCESSLIST, "
            "pg_stat_activity) and end them; set a statement timeout so they cannot pile up.",
            "Cap connections per user; keep the application's pools below the database's limit.",
        ),
    ),
    (
        # Before "connection pool": a pool of workers (render, thread, process) saturates from
        # slow work, not from connections held; the database's limits do not apply to it.
        "worker pool",
        r"\b(?:workers?|threads?|render|process(?:es)?|executors?|task) pool\b"
        # a pool said by what it ran out of: "worker exhaustion" (a fault type), Tomcat's "All
        # threads (200) are currently busy", "4 of 4 request threads busy"
        r"|\b(?:workers?|threads?|executors?) (?:pool )?(?:exhaust\w*|saturat\w*|starv\w*)"
        r"|\b(?:workers?|threads?)\b[^.;\n]{0,25}\b(?:are )?(?:currently )?busy\b",
        (
            "Bound the work queue in front of the pool and reject fast when it is full.",
            "Put a timeout on every call a worker makes, so one slow dependency cannot hold "
            "every worker.",
        ),
    ),
    (
        "connection pool",
        # a pool, unless a worker pool's (above)
        r"\b(?<!worker )(?<!workers )(?<!thread )(?<!threads )(?<!render )(?<!task )pool\b"
        r"|\btoo many (?:connections|clients)|\bconnection slots|\bmax connections",
        (
            "Raise the connection pool size or shed load before the pool saturates.",
            "Add a pool acquire timeout so callers fail fast instead of piling up.",
            "Keep the sum of all pools below the database's max_connections.",
        ),
    ),
    (
        "memory",
        r"\bmemory|\bmem\b|\bheap\b|\boom\b|\bgc\b|\bgarbage collect|\bbad alloc",
        (
            "Set memory limits and alert on growth before the limit.",
            "Hunt the leak: compare heap dumps or allocation profiles taken minutes apart.",
            "Cap caches and buffers by size; restart leaking workers before they reach the limit.",
        ),
    ),
    (
        "file descriptors",
        r"\bfile descriptors?|\bopen files\b|\bfds?\b|\bemfile\b|\bulimit\b|\bnofile\b",
        (
            "Find what is left open: count the process's descriptors by kind (ls -l /proc/PID/fd, "
            "lsof -p PID) and close files and sockets on every path, errors included.",
            "Alert on open descriptors against the process's limit; raise the limit "
            "(ulimit -n, LimitNOFILE) only once the leak is fixed.",
        ),
    ),
    (
        "disk",
        r"\bdisk|\bno space left|\benospc\b|\bfile ?system (?:is )?full|\binodes?\b"
        r"|\b(?:volume|partition|mount)\b[^.;\n]{0,40}\bfull\b",
        (
            "Free disk space: rotate and compress logs, delete old temporary files.",
            "Alert on disk usage trends well before full; move writes to a healthy volume.",
        ),
    ),
    (
        "certificate",
        r"\bcertificates?\b|\bx509\b|\bssl\b|\btls\b|\bhandshake",
        (
            "Renew certificates automatically and alert 30 days before any expiry.",
            "Check the served chain and the client trust store after every rotation.",
        ),
    ),
    (
        "dns",
        r"\bdns\b|\bname resolution|\bcould not resolve|\bname or service not known"
        r"|\bnxdomain\b|\bno such host",
        (
            "Configure more than one resolver and cache lookups within their TTL.",
            "Check the resolver's health and the record's TTL before changing records.",
        ),
    ),
    (
        # Before "retry storm": a message that fails every time is not helped by more retries.
        "poison message",
        r"\bdead ?letter|\bpoison(?:ed)? (?:message|pill)|\bdlq\b|\bredeliver",
        (
            "Cap delivery attempts and park a message that keeps failing on a dead-letter queue "
            "instead of retrying it.",
            "Alert on dead-letter queue depth and inspect the parked messages before replaying.",
            "Validate messages at the producer so malformed payloads never enter the queue.",
        ),
    ),
    (
        # Before "slow dependency": a queue that grows is its consumers' problem, whatever else
        # is slow.
        "consumer backlog",
        r"\bqueue depth|\bconsumer lag"
        r"|\bqueue (?:(?!not\b|isn't\b)\S+ )?(?:is )?(?:nearly |almost )?full"
        r"|\bbacklog\b|\bunacked|\bmessages? (?:ready|waiting)",
        (
            "Scale out the consumers or workers (or speed up their handler) while queue depth "
            "or consumer lag keeps growing.",
            "Alert on the queue's depth and consumer lag trend, not only on a full queue.",
            "Bound the queue and shed or reject load when it is full.",
        ),
    ),
    (
        "retry storm",
        r"\bretr(?:y|ies|ying|ied)\b|\bthundering herd",
        (
            _BACKOFF,
            "Give each client a retry budget so retries cannot multiply the load.",
        ),
    ),
    (
        "slow dependency",
        r"\btime ?outs?\b|\btimed out|\bupstream\b|\bslow\b|\blatency|\bdelay"
        r"|\bdeadline exceeded|\bgateway time ?out",
        (
            _TIMEOUTS,
            _BREAKER,
            "Isolate the slow dependency in its own bulkhead (a bounded pool of its own).",
            "Serve a fallback (cached or degraded answer) when the dependency is slow.",
        ),
    ),
    (
        "unavailable dependency",
        r"\bconnection refused|\beconnrefused\b|\bunavailable\b|\bunreachable\b"
        r"|\bno route to host|\bconnection reset|\bcould not connect|\bfailed to connect",
        (
            "Fail over to a healthy replica of the dependency.",
            "Health-check the dependency and take failing instances out of rotation.",
        ),
    ),
    (
        "load",
        r"\b(?:load|traffic) (?:spike|surge|burst)|\bspike\b|\btoo many requests|\brate limit",
        (
            "Rate-limit or shed load above what the service sustains.",
            "Autoscale on request rate before saturation.",
        ),
    ),
    ("cpu", r"\bcpu\b", ("Set CPU limits and requests; autoscale on CPU saturation.",)),
    (
        "stuck workers",
        r"\b(?:workers?|threads?|consumers?|executors?)\b[^.;\n]{0,40}"
        r"\b(?:stuck|hung|hanging|stalled|blocked for)\b|\bhung (?:task|thread|worker)s?\b",
        (
            "Put a timeout on every blocking call a worker makes, so one hung dependency cannot "
            "hold the pool.",
            "Dump the stuck workers' stacks (py-spy dump, jstack) to see what they wait on.",
            "Restart a worker busy far longer than its longest task, and alert before the last "
            "one is taken.",
        ),
    ),
    (
        "crash",
        r"\bkill(?:ed|s)?\b|\bcrash\w*|\bsegmentation fault|\bpanic\b|\bsigkill\b"
        r"|\bexited unexpectedly|\b(?:worker|process) died",
        (_RESTART, _REPLICAS),
    ),
    (
        "network",
        r"\bnetwork\b|\bpacket loss|\bpartition\b|\bdhcp\b",
        (
            "Check the network path (ports, DHCP, routers) and fail over to a healthy agent.",
            "Retry idempotent network operations with backoff.",
        ),
    ),
    (
        # "Wait queue: 812" in a PostgreSQL lock DETAIL is a list of waiters, not a work queue.
        "queue",
        r"(?<!wait )(?<!lock )\bqueue\b|\bbacklog\b|\brejected execution",
        ("Bound the queue and shed or reject load when it is full.",),
    ),
    (
        # A block-storage volume (OpenStack Cinder); one that is filling up is the disk topic's.
        "volume",
        r"\bvolumes?\b(?![^.;\n]{0,40}\bfull\b)",
        (
            "Check the storage backend (volume service, iSCSI sessions) before attaching.",
            "Retry the volume operation once the backend reports healthy.",
        ),
    ),
    (
        "instance",
        r"\binstances?\b|\bno valid host",
        (
            "Reschedule the instance on another compute host.",
            "Check the compute service and hypervisor health before booting.",
        ),
    ),
    (
        "image",
        r"\bimages?\b",
        ("Verify the image service and the image's checksum before using it.",),
    ),
    (
        "exception",
        r"\bexceptions?\b",
        (_ROLLBACK, "Add error handling around the failing call and surface the error early."),
    ),
    (
        "parameters",
        r"\bparameters?\b",
        (_ROLLBACK, "Validate call arguments at the component boundary."),
    ),
    (
        "return value",
        r"\breturn values?\b",
        (_ROLLBACK, "Validate return values at the component boundary."),
    ),
    ("function call", r"\bfunction calls?\b", (_ROLLBACK,)),
)
_COMPILED = tuple((re.compile(pattern), actions) for _, pattern, actions in CATALOGUE)

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
    description: str = "",
    failure_lines: Iterable[str] = (),
) -> list[Mitigation]:
    """Catalogue mitigations for a mode, precursors' advice first (see module doc; no
    duplicates). The failure's own lines say what broke as a fault type does: their specific
    advice goes before a precursor's more general one (a trial's MariaDB "Lock wait timeout
    exceeded" got only the general lock advice, not InnoDB's)."""
    topics = _fault_topics_first_where_specific(
        [t for text in trigger_texts for t in matching_topics(text)],
        [t for fault in fault_types for t in matching_topics(fault)]
        + [t for line in failure_lines for t in matching_topics(readable(line))],
    )
    topics += matching_topics(without_data(description))
    actions = [action for topic in topics for action in _COMPILED[topic][1]]
    kinds = sorted(set(trigger_kinds), key=list(TriggerKind).index)
    actions += [action for kind in kinds for action in KIND_ACTIONS.get(kind, ())]
    return [
        Mitigation(
            id="mi-" + stable_id(mode_id, action)[:16], action=action, source=Source.CATALOGUE
        )
        for action in dict.fromkeys(actions)
    ]


_DATA = re.compile(r"\{[^{}]*\}|\[[^\[\]]*\]")


def without_data(text: str) -> str:
    """`text` without the JSON objects and lists in it: a Chaos Toolkit failure report carries
    its probe's raw output (`{"ok": false, "pool_in_use": 0, "cache_mb": 220}`), whose key names
    are data, not words about what broke — a memory mode got connection-pool advice from it."""
    while True:
        shorter = _DATA.sub(" ", text)
        if shorter == text:
            return text
        text = shorter


def matching_actions(text: str) -> list[str]:
    """The actions of every catalogue entry whose pattern occurs in the text, in table order."""
    return [action for topic in matching_topics(text) for action in _COMPILED[topic][1]]


def matching_topics(text: str) -> list[int]:
    """The catalogue entries (their places in the table) whose pattern occurs in the text."""
    plain = normalised(text)
    return [index for index, (pattern, _) in enumerate(_COMPILED) if pattern.search(plain)]


def _fault_topics_first_where_specific(precursors: list[int], faults: list[int]) -> list[int]:
    """The precursors' topics in their order, each injected fault's topic placed before the
    first of them that is more general (later in the table): a lock fault whose precursor
    said only "slow transfer … (rates N ms, db N ms)" was advised circuit breakers for a slow
    dependency first, and the lock's own advice fifth (a trial)."""
    ordered = list(precursors)
    for fault in faults:
        at = next((i for i, topic in enumerate(ordered) if topic > fault), len(ordered))
        ordered.insert(at, fault)
    return ordered


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
