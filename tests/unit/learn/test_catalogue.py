from __future__ import annotations

import pytest

from premortem.domain import Source, TriggerKind
from premortem.learn.catalogue import CATALOGUE, matching_actions, mitigations_for

# A PostgreSQL lock wait as its log says it: the DETAIL line lists the waiters as a "Wait queue".
LOCK_WAIT = (
    "db logs: LOG:  process 812 still waiting for ShareLock on transaction 1234 after 1000.072 ms"
    "\nDETAIL:  Process holding the lock: 813. Wait queue: 812."
)


def _actions(
    *,
    texts: list[str] | None = None,
    faults: list[str] | None = None,
    kinds: set[TriggerKind] | None = None,
    description: str = "",
) -> list[str]:
    mitigations = mitigations_for(
        "fm-test",
        fault_types=faults or [],
        trigger_kinds=kinds or set(),
        trigger_texts=texts or [],
        description=description,
    )
    assert all(m.source is Source.CATALOGUE and m.id.startswith("mi-") for m in mitigations)
    return [m.action for m in mitigations]


def _topic_actions(topic: str) -> tuple[str, ...]:
    return next(actions for name, _, actions in CATALOGUE if name == topic)


def test_lock_wait_precursors_get_lock_advice_first_and_no_queue_advice() -> None:
    actions = _actions(texts=[LOCK_WAIT], kinds={TriggerKind.LOG_PATTERN})
    assert "blocking session" in actions[0]
    assert any("lock_timeout" in a for a in actions[:4])
    assert not any("queue" in a.lower() for a in actions)


def test_a_mysql_lock_wait_gets_innodb_advice_not_postgresql_tools() -> None:
    """MariaDB's error 1205 (a trial got pg_blocking_pids and lock_timeout for it)."""
    failure = (
        "result write failed: (1205, 'Lock wait timeout exceeded; try restarting transaction')"
    )
    actions = _actions(texts=[failure], kinds={TriggerKind.LOG_PATTERN})
    assert "SHOW ENGINE INNODB STATUS" in actions[0]
    assert "innodb_lock_wait_timeout" in actions[1]
    assert not any("pg_" in a or "lock_timeout (" in a for a in actions)


def test_precursor_advice_outranks_fault_types_and_the_description() -> None:
    actions = _actions(
        texts=[LOCK_WAIT],
        faults=["queue_flood"],
        description="Learned from failures like: upstream request timeout",
        kinds={TriggerKind.LOG_PATTERN, TriggerKind.FAULT_CONDITION},
    )
    lock = actions.index(_topic_actions("lock")[0])
    queue = actions.index(_topic_actions("queue")[0])
    timeout = actions.index(_topic_actions("slow dependency")[0])
    kind = actions.index("Page the owner of the service that logs the precursor.")
    assert lock < queue < timeout < kind


def test_a_faults_specific_advice_comes_before_a_precursors_general_one() -> None:
    """A trial's lock mode, whose precursor said only how slow a transfer was, led with four
    pieces of slow-dependency advice; the injected fault said what was wrong."""
    actions = _actions(
        texts=["ledger logs: slow transfer <*> took <*> (rates <*>, db <*>)"],
        faults=["db_lock_hold"],
    )
    assert actions[0] == _topic_actions("lock")[0]
    assert actions.index(_topic_actions("slow dependency")[0]) > len(_topic_actions("lock")) - 1


def test_precursors_keep_their_order() -> None:
    memory = "app logs: GC overhead: heap 94% full after full collection"
    actions = _actions(texts=[memory, LOCK_WAIT])
    assert actions.index(_topic_actions("memory")[0]) < actions.index(_topic_actions("lock")[0])


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("ERROR:  deadlock detected", "deadlock"),
        ("Lock wait timeout exceeded; try restarting transaction", "innodb lock"),
        ("process 4343 still waiting for ShareLock on transaction 77", "postgres lock"),
        ("row lock held by the batch job", "lock"),
        ("GET /checkout: timed out after 5000 ms calling inventory", "slow dependency"),
        ("upstream request timeout", "slow dependency"),
        ("java.lang.OutOfMemoryError: Java heap space", "memory"),
        ("container OOMKilled", "memory"),
        ("dial tcp 10.0.0.7:5432: connect: connection refused", "unavailable dependency"),
        ("write failed: No space left on device", "disk"),
        ("FATAL:  sorry, too many clients already", "connection pool"),
        ("pool low: 0 of 5 connections idle, 3 requests waiting", "connection pool"),
        ("retrying request (attempt 7 of 10)", "retry storm"),
        ("x509: certificate has expired or is not yet valid", "certificate"),
        ("lookup inventory.svc: no such host", "dns"),
        ("queue depth high: 9/10 requests waiting for a worker", "consumer backlog"),
        ("connection_leak", "connection leak"),
        ("OPENSTACK_MISSING_PARAMETERS-VOLUME", "volume"),
        ("WARNING volume /var/lib/orders is <*> full (<*> of <*> used)", "disk"),
        ("worker <*> stuck sending the receipt for order <*> for <*>", "stuck workers"),
        ("open file descriptors high (<*> of <*>)", "file descriptors"),
        ("fd_leak", "file descriptors"),
        # before retry advice: retrying is what a poison message abuses
        ("message m-7 moved to dead-letter queue after 5 attempts, will retry", "poison message"),
    ],
)
def test_general_entries_match_their_vocabulary(text: str, topic: str) -> None:
    assert matching_actions(text)[: len(_topic_actions(topic))] == list(_topic_actions(topic))


@pytest.mark.parametrize(
    "text",
    [
        "DETAIL:  Process holding the lock: 813. Wait queue: 812.",  # lock advice, not queue
        "clock skew detected",  # no lock
        "a warning template never seen in normal operation appears in db",
    ],
)
def test_words_inside_other_words_or_phrases_do_not_match(text: str) -> None:
    assert not any("queue" in a.lower() for a in matching_actions(text))
    if "lock:" not in text:
        assert matching_actions(text) == []


def test_fault_types_from_every_source_still_find_their_entries() -> None:
    for fault, topic in [
        ("db-pool-exhausted", "connection pool"),
        ("network_latency", "slow dependency"),
        ("process_kill", "crash"),
        ("cpu_hog", "cpu"),
        ("mem_hog", "memory"),
        ("OPENSTACK_THROW_EXCEPTION-INSTANCE", "exception"),
    ]:
        assert set(_topic_actions(topic)) <= set(_actions(faults=[fault])), fault


def test_trigger_kind_advice_comes_last_in_a_fixed_order() -> None:
    kinds = [TriggerKind.LOAD_CONDITION, TriggerKind.LOG_PATTERN]
    forward = _actions(texts=["pool low"], kinds=set(kinds))
    backward = _actions(texts=["pool low"], kinds=set(reversed(kinds)))
    assert forward == backward
    assert forward[-3:] == [
        "Page the owner of the service that logs the precursor.",
        "Shed or rate-limit load above the learned threshold.",
        "Scale out before the load reaches the threshold.",
    ]


def test_no_duplicates_and_stable_ids() -> None:
    first = mitigations_for(
        "fm-a",
        fault_types=["connection_leak", "connection_leak"],
        trigger_kinds=[TriggerKind.FAULT_CONDITION],
        trigger_texts=["pool low", "pool wait high"],
    )
    again = mitigations_for(
        "fm-a",
        fault_types=["connection_leak"],
        trigger_kinds=[TriggerKind.FAULT_CONDITION],
        trigger_texts=["pool low", "pool wait high"],
    )
    assert [m.action for m in first] == list(dict.fromkeys(m.action for m in first))
    assert [(m.id, m.action) for m in first] == [(m.id, m.action) for m in again]


def test_a_volume_filling_up_gets_disk_advice_not_storage_backend_advice() -> None:
    actions = matching_actions("WARNING volume /var/lib/orders is <*> full (<*> of <*> used)")
    assert actions == list(_topic_actions("disk"))


def test_a_growing_queue_gets_consumer_advice_before_slow_dependency_advice() -> None:
    """A trial's backlog mode (queue depth growing behind a slowed consumer, whose handler logs
    "slow handler") was advised circuit breakers and fallbacks for a slow dependency only."""
    backlog = list(_topic_actions("consumer backlog"))
    texts = [
        'msg="queue depth above threshold" queue=ticket.index depth=<*>',
        "slow handler <*> ms",
    ]
    actions = [
        m.action
        for m in mitigations_for("fm", fault_types=[], trigger_kinds=[], trigger_texts=texts)
    ]
    assert actions[: len(backlog)] == backlog


def test_long_running_queries_get_database_advice() -> None:
    actions = matching_actions('msg="long running queries" user=ticketapp count=<*> longest_s=<*>')
    assert actions == list(_topic_actions("long-running queries"))


def test_a_saturated_worker_pool_gets_no_database_connection_advice() -> None:
    """A trial's render pool (workers waiting on a slow upstream) was advised to keep "the sum
    of all pools below the database's max_connections" on a system with no database."""
    actions = matching_actions("render pool saturated (<*> of <*> busy, queue <*>)")
    assert actions[:2] == list(_topic_actions("worker pool"))
    assert not any("max_connections" in a for a in actions)
    assert matching_actions("HikariPool-1 - Connection is not available")[:3] == list(
        _topic_actions("connection pool")
    )


@pytest.mark.parametrize(
    "text",
    [
        "worker-exhaustion",  # a fault type
        "thread_pool_saturation",
        "All threads (200) are currently busy, waiting. Increase maxThreads (200) or check the "
        "servlet status",
        "[<*> <*>:<*>:<*>,<*>] WARNING in app: <*> of <*> request threads busy",
    ],
)
def test_a_pool_said_by_what_it_ran_out_of_is_a_worker_pool(text: str) -> None:
    """A trial's worker exhaustion (slow exports holding gunicorn's threads) was advised only
    circuit breakers for a slow dependency: neither its fault type nor its warning said "pool"."""
    assert matching_actions(text)[:2] == list(_topic_actions("worker pool"))


def test_the_failures_own_line_steers_advice_as_a_fault_type_does() -> None:
    """A trial's MariaDB lock mode, warned of by "slow db update", got the general lock advice;
    its failure line said "Lock wait timeout exceeded", which is InnoDB's."""
    actions = [
        m.action
        for m in mitigations_for(
            "fm",
            fault_types=["db-row-lock"],
            trigger_kinds=[],
            trigger_texts=["WARNING in app: slow db update for item <*> took <*>"],
            failure_lines=[
                "ERROR in app: order failed for item 4\npymysql.err.OperationalError: (1205, "
                "'Lock wait timeout exceeded; try restarting transaction')"
            ],
        )
    ]
    assert actions[:2] == list(_topic_actions("innodb lock"))
    assert actions.index(next(iter(_topic_actions("lock")))) < actions.index(
        next(iter(_topic_actions("slow dependency")))
    )


def test_a_probes_raw_output_in_the_report_steers_no_advice() -> None:
    # Trial 20: a memory mode's Chaos Toolkit report carried its health probe's output, whose
    # key `pool_in_use` earned it connection-pool advice.
    report = (
        "Learned from failures like: probe health deviated "
        '(output: {"ok": false, "pool_in_use": 0, "cache_mb": 220})'
    )
    actions = [
        m.action
        for m in mitigations_for(
            "fm-m",
            fault_types=["memory_hog"],
            trigger_kinds=[],
            trigger_texts=["cache memory at <*>% of budget"],
            description=report,
        )
    ]
    assert actions and not [a for a in actions if "pool" in a.lower()], actions
