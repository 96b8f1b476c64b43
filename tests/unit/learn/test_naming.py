from __future__ import annotations

import doctest
from typing import Any

import pytest

from premortem.ingest import chaostoolkit
from premortem.learn import naming
from premortem.learn.episodes import ModeKey, details_template
from premortem.learn.episodes import mode_name as key_name
from premortem.learn.naming import content_words, failed_operation, mode_name

# The demo's failure, as `make demo` produces it. Every shipped experiment
# (src/premortem/demo/experiments/*.json) has one steady-state probe, `api-health-ok`: an HTTP GET
# of /health with tolerance 200. When the leaked connections exhaust the pool, `Shop.health`
# (src/premortem/demo/service.py) answers 503 with {"status": "unavailable", "reason": ...}, the
# reason being the text of `PoolExhausted` (src/premortem/demo/pool.py) before its first colon:
# "connection pool exhausted". Chaos Toolkit's HTTP provider parses the JSON body; the journal
# becomes failure details in src/premortem/ingest/chaostoolkit.py (`_failing_probes`).
DEMO_HEALTH_BODY = {"status": "unavailable", "reason": "connection pool exhausted"}
# The lines the demo's service logs at the failure's onset (service.py `_orders`, pool.py).
DEMO_ONSET_LINES = (
    "connection pool exhausted: timed out after 2000 ms waiting for a connection "
    "(5 active, 0 idle, 3 other requests waiting)",
    "GET /api/orders 503 in 2001.3 ms: connection pool exhausted",
)
DEMO_PRECURSORS = (
    "connection leak suspected: connection #3 checked out by GET /api/orders for 12.0 s "
    "without being returned (leak detection threshold 10.0 s)",
    "pool low: 0 of 5 connections idle, 2 requests waiting",
)


def _demo_journal(body: Any) -> dict[str, Any]:
    probe = {
        "activity": {
            "type": "probe",
            "name": "api-health-ok",
            "tolerance": 200,
            "provider": {"type": "http", "url": "http://127.0.0.1:8081/health", "timeout": 2},
        },
        "output": {"status": 503, "headers": {"Content-Type": "application/json"}, "body": body},
        "status": "succeeded",
        "tolerance_met": False,
        "start": "2026-05-01T12:00:40+00:00",
        "end": "2026-05-01T12:00:41+00:00",
    }
    return {
        "experiment": {
            "title": "shop-api survives a connection leak",
            "tags": ["service:shop-api"],
        },
        "start": "2026-05-01T12:00:00+00:00",
        "end": "2026-05-01T12:00:42+00:00",
        "status": "completed",
        "deviated": True,
        "steady_states": {"after": {"steady_state_met": False, "probes": [probe]}},
        "run": [],
        "rollbacks": [],
    }


def demo_failure_details(body: Any = DEMO_HEALTH_BODY) -> str:
    details = chaostoolkit.journal_doc(_demo_journal(body))["failure_details"]
    assert isinstance(details, str)
    return details


def test_the_demo_failure_details_are_the_health_probe_report() -> None:
    details = demo_failure_details()
    assert details.startswith("probe api-health-ok failed its tolerance (status 503:")
    assert "connection pool exhausted" in details


@pytest.mark.parametrize("body", [DEMO_HEALTH_BODY, '{"status": "unavailable", "reason": '
                                  '"connection pool exhausted"}'])  # fmt: skip
def test_the_demo_mode_is_named_after_what_broke_not_the_probe(body: Any) -> None:
    details = demo_failure_details(body)
    for text in (details, details_template(details)):
        name = mode_name("shop-api", text)
        assert name == "shop-api: connection pool exhaustion"
        assert "probe" not in name and "health" not in name


def test_the_demo_mode_keeps_its_name_with_onset_lines_and_precursors() -> None:
    details = demo_failure_details()
    assert mode_name("shop-api", details, DEMO_ONSET_LINES, DEMO_PRECURSORS) == (
        "shop-api: connection pool exhaustion"
    )


def test_the_learning_stage_names_a_mode_key_the_same_way() -> None:
    details = demo_failure_details()
    key = ModeKey("shop-api", details_template(details))
    assert key_name(key) == "shop-api: connection pool exhaustion"
    assert key_name(key, details=details, manifest_lines=DEMO_ONSET_LINES) == key_name(key)


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ("ERROR:  deadlock detected", "deadlock"),
        (
            "ERROR:  deadlock detected\nDETAIL:  Process 812 waits for ShareLock on transaction "
            "1234; blocked by process 813.",
            "deadlock",
        ),
        ("ERROR:  canceling statement due to lock timeout", "lock wait timeout"),
        (
            "ActiveRecord::ConnectionTimeoutError: could not obtain a connection from the pool "
            "within 5.000 seconds (waited 5.001 seconds); all pooled connections were in use",
            "connection pool exhaustion",
        ),
        (
            "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, "
            "connection timed out, timeout 30.00",
            "connection pool exhaustion",
        ),
        (
            "booking failed for event 4: no database connection within 1500 ms (10 of 10 in use)",
            "connection pool exhaustion",
        ),
        ("Lock wait timeout exceeded; try restarting transaction", "lock wait timeout"),
        (
            "LOG:  process 812 still waiting for ShareLock on transaction 1234 after 1000.072 ms"
            "\nDETAIL:  Process holding the lock: 813. Wait queue: 812.",
            "lock contention",
        ),
        ("FATAL:  sorry, too many clients already", "connection limit reached"),
        ('Exception in thread "main" java.lang.OutOfMemoryError: Java heap space', "memory"),
        ("java.lang.OutOfMemoryError: GC overhead limit exceeded", "memory exhaustion"),
        ("Traceback (most recent call last):\n  ...\nMemoryError", "memory exhaustion"),
        ("MemoryError", "memory exhaustion"),
        ("GET /checkout 504: timed out after 5000 ms calling inventory", "slow dependency"),
        ("upstream request timeout", "slow dependency timeout"),
        ("database is unavailable: connection refused", "database unavailable"),
        ("dial tcp 10.0.0.7:6379: connect: connection refused", "dependency unavailable"),
        ("write /var/lib/data/seg-7: no space left on device", "disk full"),
        ("work queue full (32/32)", "queue overflow"),
        ("request timed out after 2000 ms waiting in queue (depth 57)", "queue wait timeout"),
        (
            "reservation failed: timed out acquiring db connection after 2000 ms",
            "connection pool exhaustion",
        ),
        ("request timed out after 2000 ms: pricing downstream call still running", "slow"),
        ("x509: certificate has expired or is not yet valid", "TLS certificate failure"),
        ("Temporary failure in name resolution", "DNS resolution failure"),
        ("worker 3 died with SIGKILL", "worker crash"),
        (
            "reports-supervisor: reports-api (pid 10110) killed: rss 301 MB exceeded memory "
            "limit 300 MB",
            "memory exhaustion",
        ),
        ("report 2604 failed: <urlopen error [Errno 24] Too many open files>", "file descriptor"),
        ("WARNING volume /var/lib/orders is 91% full (58.2 of 64.0 MiB used)", "disk full"),
        ("worker orders-worker-2 stuck sending the receipt for order 1071 for 2.2 s", "stuck"),
        ("INFO: task kworker/3:1 blocked for more than 120 seconds; hung task", "stuck workers"),
        (
            "job 48301 failed: CircuitOpenError: circuit 'blobstore' is open (retry in 29s)",
            "circuit breaker open",
        ),
        (
            "io.github.resilience4j.circuitbreaker.CallNotPermittedException: CircuitBreaker "
            "'backendA' is OPEN and does not permit further calls",
            "circuit breaker open",
        ),
        ("Hystrix circuit short-circuited and is OPEN", "circuit breaker open"),
        ("The circuit is now open and is not allowing calls.", "circuit breaker open"),
    ],
)
def test_recognised_failure_phrases_become_noun_phrases(details: str, expected: str) -> None:
    name = mode_name("svc", details)
    assert name.startswith("svc: ") and expected in name
    assert mode_name("svc", details_template(details)) == name  # masked templates too


def test_the_failure_s_own_lines_outrank_the_details_and_the_precursors() -> None:
    details = "probe checkout-ok failed its tolerance (status 500: {})"
    onset = ["ERROR:  deadlock detected"]
    precursors = ["LOG:  process 812 still waiting for ShareLock on transaction 1234"]
    assert mode_name("db", details, onset, precursors) == "db: deadlock"
    assert mode_name("db", "steady state deviated", (), precursors) == "db: lock contention"
    assert mode_name("db", "upstream request timeout", (), precursors) == (
        "db: slow dependency timeout"
    )


def test_openstack_assertion_failures_name_the_failed_check() -> None:
    # learn/openstack_fi.py: failure_details = the first `.err` line of the workload, after the
    # timestamp, level and "[sample_workload.sh]: " prefix.
    details = "Assertion results: FAILURE_VOLUME_ATTACHED"
    assert mode_name("nova", details) == "nova: volume attached check failed"
    assert mode_name("nova", details, ["No valid host was found. There are not enough hosts"]) == (
        "nova: no valid host"
    )


def test_openstack_cli_api_errors_name_the_failure_and_the_operation() -> None:
    internal = (
        "API ERROR:  openstack router add subnet tempest-router-1537174235 "
        "tempest-private-subnet-1537174235 ; HttpException: Internal Server Error (HTTP 500) "
        "(Request-ID: req-2e0656d9-103b-482b-8078-f1d4bacc9775), "
    )
    assert mode_name("neutron", internal) == "neutron: internal server error in router add subnet"
    missing = (
        "API ERROR:  openstack subnet create --subnet-range 11.60.1.0/24 --network "
        "tempest-private-1536822631 ; ResourceNotFound: No Network found for tempest-private-1536822631"
    )
    assert mode_name("neutron", missing) == "neutron: resource not found in subnet create"
    unknown = (
        "API ERROR:  openstack server create --flavor m1.tiny --image tempest-cirros-0.4.0 "
        "tempest-INSTANCE_SAMPLE-1530548437 ; Errore API non previsto. <type 'exceptions.TypeError'>"
    )
    assert mode_name("nova", unknown) == "nova: server create failed"
    assert mode_name("nova", unknown + " (HTTP 500)") == "nova: server create failed"
    no_host = "API ERROR:  cinder create 1 ; No valid host was found."
    assert mode_name("cinder", no_host) == "cinder: no valid host in cinder create"


def test_failed_operation_drops_the_program_name_and_stops_at_options() -> None:
    assert failed_operation("API ERROR:  openstack server add volume vm-1 vol-1") == (
        "server add volume"
    )
    assert failed_operation("API ERROR:  cinder list --all-tenant ; ERROR") == "cinder list"
    assert failed_operation("no command here") is None


def test_unrecognised_failures_fall_back_to_masked_content_words() -> None:
    details = 'probe orders-ok failed its tolerance (status 500: {"error": "renderer blew up"})'
    assert mode_name("shop", details) == "shop: renderer blew up"
    assert mode_name("shop", details, ["template engine 7 returned garbage"]) == (
        "shop: template engine returned garbage"
    )
    assert mode_name("", "steady state deviated") == "failure"
    assert content_words(["expected 200 got 418 teapot brewing"]) == "teapot brewing"
    # a hyphenated compound keeps its short words ("in" alone is boilerplate)
    assert content_words(["request rejected: too many in-flight requests (limit 64)"]) == (
        "request rejected too many in flight"
    )


def test_names_are_deterministic_and_never_empty() -> None:
    details = demo_failure_details()
    assert len({mode_name("shop-api", details, DEMO_ONSET_LINES) for _ in range(3)}) == 1
    assert mode_name("svc", "") == "svc: failure"


def test_module_examples() -> None:
    assert doctest.testmod(naming).failed == 0


def test_failures_reported_differently_that_name_the_same_thing_broken_are_one_mode() -> None:
    from premortem.learn.episodes import Episode, ModeKey, details_template, mode_skeletons

    reports = [
        "probe POST /api/checkout answered 503: java.lang.OutOfMemoryError: cannot allocate 65536 "
        "bytes (heap 64.0 MiB of 64 MiB in use)",
        "probe POST /api/checkout answered 504: no quote: supplier-api did not answer in time",
        "probe POST /api/checkout answered 503: worker unavailable: restarting after OOM kill",
    ]
    episodes = [
        Episode(f"run-{i}", i, ModeKey("inventory-api", details_template(text)), text)
        for i, text in enumerate(reports)
    ]
    modes = mode_skeletons(episodes)
    assert sorted(m.name for m in modes.values()) == [
        "inventory-api: memory exhaustion",
        "inventory-api: slow dependency timeout",
    ]
    memory = next(m for m in modes.values() if "memory" in m.name)
    # the earliest failure's key names the mode, so later failures never rename it
    assert memory.id == episodes[0].key.mode_id == episodes[2].mode
    assert memory.manifestation["reported_as"] == sorted(
        [episodes[0].key.mode_id, episodes[2].key.mode_id]
    )
    assert [e.source_id for e in episodes if e.mode == memory.id] == ["run-0", "run-2"]


def test_a_negation_stays_in_the_name() -> None:
    """Without its "not", "order not settled within 3 s" would name the opposite of what broke."""
    name = mode_name("orders-api", "probe POST /api/orders answered 504: order not settled")
    assert "not settled" in name


def test_a_raw_text_line_names_its_failure_by_its_message() -> None:
    """A failure line shipped raw (timestamp, level, logger, message): the name is the message's
    words, not the header's."""
    line = "2026-12-06 01:24:30,123 ERROR orders.api: order 1136 not settled within 3.0 s"
    assert mode_name("orders-api", "probe answered 504", [line]) == (
        "orders-api: order not settled"
    )


def test_a_logfmt_failure_line_is_named_by_its_message_not_its_keys() -> None:
    """`ts=… level=error svc=gateway msg="…"`: the keys say nothing about what broke (a trial
    named a mode "ts level svc gateway msg")."""
    line = (
        'ts=2026-12-06T11:10:29.517Z level=error svc=gateway msg="reconciliation halted: '
        'dead-letter queue over limit" dlq=12 limit=10'
    )
    assert mode_name("payments", "payments failed", [line]) == (
        "payments: reconciliation halted dead letter queue over"
    )
    pool = 'ts=1 level=error svc=gateway msg="payment failed: processor error (no database connection available)"'
    assert (
        mode_name("payments", "payments failed", [pool]) == "payments: connection pool exhaustion"
    )


def test_mariadb_user_connection_limit_and_a_named_full_queue() -> None:
    """A trial's modes read "database get user ticketapp exceeded" and "publish rejected broker
    queue ticket": MariaDB's `max_user_connections` and "queue ticket.index is full" were not
    recognised."""
    limit = (
        "database error on GET /tickets/7: (1226, \"User 'ticketapp' has exceeded the "
        "'max_user_connections' resource (current value: 30)\")"
    )
    assert (
        mode_name("ticketing", "requests failed", [limit]) == "ticketing: connection limit reached"
    )
    full = "publish rejected by broker: queue ticket.index is full (max-length 200), ticket 9 lost"
    assert mode_name("ticketing", "ticket creation failed", [full]) == "ticketing: queue overflow"


def test_a_kill_for_memory_outranks_the_refused_connections_it_causes() -> None:
    """A trial's supervisor killed the app over its memory limit; the probe saw connections
    refused. The failure's own line says what broke."""
    details = "error rate 29%: ConnectionRefusedError: [Errno 111] Connection refused"
    kill = ["reports-api (pid 10110) killed: rss 301 MB exceeded memory limit 300 MB"]
    assert mode_name("reports-api", details, kill) == "reports-api: memory exhaustion"


def test_experiments_reported_by_the_same_probe_are_told_apart_by_their_titles() -> None:
    """Chaos Toolkit runs of different experiments whose one steady-state probe reports every
    failure alike ("probe no-delivery-failures failed its tolerance (output: False)"): each
    experiment's failures are a mode of their own, named after what their logs say broke —
    not one catch-all mode (a new user's trial, session 36)."""
    from datetime import UTC, datetime, timedelta

    from premortem.domain import LogRecord, TestRun
    from premortem.learn.model import train

    start = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    failures = {
        "notifications survive slow consumers": "publish rejected: queue notify.jobs is full",
        "notifications survive row locks": "job failed: Lock wait timeout exceeded",
    }
    runs, logs = [], {}
    for i in range(6):
        title = list(failures)[i % 2]
        began = start + timedelta(minutes=2 * i)
        fails = i < 4
        run = TestRun.model_validate(
            {
                "test_id": f"run-{i}",
                "timestamp": began.isoformat(),
                "duration_s": 110,
                "title": title,
                "injected_faults": [{"type": f"fault_{i % 2}", "start": 30}],
                "expected_outcome": "steady state met",
                "actual_outcome": "steady state deviated" if fails else "steady state met",
                "failure_details": "probe no-delivery-failures failed its tolerance (output: False)"
                if fails
                else None,
            }
        )
        t0 = int(began.timestamp()) * 10**9
        records = [
            LogRecord(t0 + s * 10**9, f"job {s} delivered in {s % 7} ms", "notify-worker", 9)
            for s in range(0, 100, 2)
        ]
        if fails:
            records += [
                LogRecord(t0 + s * 10**9, failures[title], "notify-api", 17) for s in range(80, 100)
            ]
        runs.append(run)
        logs[run.test_id] = sorted(records, key=lambda r: r.time_ns)
    model = train(runs, logs)
    names = sorted(m.name for m in model.modes)
    assert len(names) == 2, names
    assert any("queue" in n for n in names) and any("lock" in n for n in names), names


@pytest.mark.parametrize(
    ("line", "name"),
    [
        # TrainTicket (Nezha): logback's abbreviated logger and the trace fields named modes
        # "trace id span id query for travel" before.
        (
            "19:38:52.065 INFO  f.m.c.StationController#71 TraceID: cf96aa SpanID: da24bb "
            "[queryForIdBatch][query stations by ids]",
            "query for id batch query stations ids",
        ),
        ("connection pool exhausted request_id=abc123 trace_id=77", "connection pool exhausted"),
        # unabbreviated, a class is what broke
        ("at com.shop.Cart.add java.lang.NullPointerException", "com shop cart add java"),
        ("order 7 not settled: payment.gateway timeout", "order not settled payment gateway"),
    ],
)
def test_content_words_leave_out_request_ids_and_logger_names(line: str, name: str) -> None:
    assert content_words([line]) == name


def test_a_logger_after_the_level_word_is_not_the_name() -> None:
    """A trial's mode was named "ledger transfer transfer aborted fx rates" from its failure
    line `ERROR ledger.transfer: transfer 332 aborted: …`: the logger came after the level."""
    line = "ERROR ledger.transfer: transfer 332 aborted: fx-rates unavailable after 5/5 retries"
    assert content_words([line]) == "transfer aborted fx rates unavailable retries"


def test_a_stack_frame_names_code_not_what_broke() -> None:
    """A frame's code line (`urlopen(req, timeout=TIMEOUT)`) in a full disk's traceback named the
    mode a timeout, and the trace header gave the words "most recent" (a trial)."""
    trace = (
        "2026-12-07T13:19:47.845 ERROR gateway - request j0000528 failed upstream\n"
        "Traceback (most recent call last):\n"
        '  File "/srv/gateway.py", line 19, in do_POST\n'
        "    with urllib.request.urlopen(req, timeout=TIMEOUT) as r: r.read()\n"
        "urllib.error.HTTPError: HTTP Error 502: Bad Gateway"
    )
    name = mode_name("gateway", "gateway answered 503 to clients", [trace])
    assert "timeout" not in name and "recent" not in name
    assert name.startswith("gateway: request upstream"), "the service is not named twice"
    timed_out = trace.replace(
        "urllib.error.HTTPError: HTTP Error 502: Bad Gateway", "TimeoutError: timed out"
    )
    assert (
        mode_name("gateway", "gateway answered 503", [timed_out])
        == "gateway: slow dependency timeout"
    )


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ("probe: GET /export timed out after 5.0 s (3 in a row)", "shop: request timeout"),
        ("checkout request timeout", "shop: request timeout"),
        ("probe: GET /order/7 failed for 8.0 s (no answer within 4 s)", "shop: request timeout"),
        # a dependency named beside the timeout is still one
        ("GET /checkout 504: timed out after 5000 ms calling inventory", "shop: slow dependency"),
        ("upstream request timeout", "shop: slow dependency timeout"),
    ],
)
def test_a_probe_that_timed_out_names_no_dependency(details: str, expected: str) -> None:
    """A probe's "timed out" is the system under test not answering: a trial's lock waits and
    worker exhaustion, with no failure line of their own, were all "slow dependency timeout"."""
    assert mode_name("shop", details).startswith(expected)
    assert mode_name("shop", details_template(details)).startswith(expected)
    # the service's own line saying so is a call of its that timed out
    assert mode_name("shop", details, ["pricing call timed out"]) == "shop: slow dependency timeout"


def test_a_long_traceback_keeps_the_exception_that_names_the_failure() -> None:
    """A template's sample was the record's first 500 characters: a Python traceback's frames
    filled them and its last line, the exception, was lost — a trial's lock mode was then named
    after the probe's "timed out"."""
    from premortem.learn.timeline import sample_line

    frames = "".join(
        f'  File "/srv/venv/lib/python3.11/site-packages/pymysql/connections.py", line {n}, in '
        f"_read_query_result\n    result = self._read_packet(packet_type={n})\n"
        for n in range(6)
    )
    body = (
        "[2026-12-07 21:25:33,549] ERROR in app: order failed for item 4\n"
        "Traceback (most recent call last):\n" + frames + "pymysql.err.OperationalError: "
        "(1205, 'Lock wait timeout exceeded; try restarting transaction')"
    )
    assert len(body) > 500
    details = "probe: GET /order/7 through apache failed for 8.0 s (timeout x2)"
    assert mode_name("shop", details, [body[:500]]) == "shop: request timeout"
    line = sample_line(body)
    assert line.startswith("[2026-12-07 21:25:33,549] ERROR in app: order failed")
    assert line.endswith("Lock wait timeout exceeded; try restarting transaction')")
    assert mode_name("shop", details, [line]) == "shop: lock wait timeout"
    assert sample_line("short line") == "short line"
