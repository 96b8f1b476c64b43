"""Multi-line messages stay one record: PostgreSQL continuations, stack traces, tracebacks."""

from __future__ import annotations

import orjson

from premortem.domain import FRAGMENT_ATTRIBUTE, LogRecord, is_fragment
from premortem.ingest import loki
from premortem.ingest.multiline import assemble
from premortem.ingest.native import parse_logs

# PostgreSQL's stderr log with the default log_line_prefix '%m [%p] ': a lock wait, a deadlock
# whose DETAIL spans two lines (the second indented by a tab), interleaved backends, FATALs.
POSTGRES = """\
2024-05-01 10:00:01.001 UTC [812] LOG:  process 812 still waiting for ShareLock on transaction 1234 after 1000.123 ms
2024-05-01 10:00:01.001 UTC [812] DETAIL:  Process holding the lock: 813. Wait queue: 812.
2024-05-01 10:00:01.001 UTC [812] CONTEXT:  while updating tuple (0,1) in relation "accounts"
2024-05-01 10:00:01.001 UTC [812] STATEMENT:  UPDATE accounts SET balance = balance - 10 WHERE id = 1;
2024-05-01 10:00:02.002 UTC [813] ERROR:  deadlock detected
2024-05-01 10:00:02.002 UTC [812] LOG:  process 812 acquired ShareLock on transaction 1234 after 2001.456 ms
2024-05-01 10:00:02.002 UTC [813] DETAIL:  Process 813 waits for ShareLock on transaction 1235; blocked by process 812.
\tProcess 812 waits for ShareLock on transaction 1234; blocked by process 813.
\tProcess 813: UPDATE accounts SET balance = balance + 10 WHERE id = 2;
2024-05-01 10:00:02.002 UTC [813] HINT:  See server log for query details.
2024-05-01 10:00:02.002 UTC [813] STATEMENT:  UPDATE accounts SET balance = balance + 10 WHERE id = 2;
2024-05-01 10:00:05.000 UTC [900] FATAL:  remaining connection slots are reserved for non-replication superuser connections
2024-05-01 10:00:06.000 UTC [901] FATAL:  password authentication failed for user "app"
2024-05-01 10:00:06.000 UTC [901] DETAIL:  Connection matched pg_hba.conf line 95: "host all all 0.0.0.0/0 md5"
2024-05-01 10:00:07.000 UTC [902] DETAIL:  a continuation whose message is not in this batch
"""

JAVA = """\
2024-05-01 10:00:03.000 ERROR [http-nio-8080-exec-1] c.e.CheckoutController - payment failed
java.lang.IllegalStateException: pool exhausted
\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:155)
\tat com.example.Checkout.pay(Checkout.java:42)
Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - timeout after 30000ms
\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)
\t... 12 more
2024-05-01 10:00:04.000 INFO [main] c.e.App - retrying after error
"""

PYTHON = """\
2024-05-01 10:00:05,000 ERROR app.worker: job 17 failed
Traceback (most recent call last):
  File "/srv/app/worker.py", line 12, in run
    result = handler(job)
  File "/srv/app/handlers.py", line 40, in handler
    raise ValueError("bad payload")
ValueError: bad payload
2024-05-01 10:00:06,000 INFO app.worker: job 18 done
Traceback (most recent call last):
  File "/srv/app/main.py", line 3, in <module>
KeyError: 'job'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/app/main.py", line 5, in <module>
RuntimeError: no job
"""

GO = """\
level=info msg="serving" addr=:8080
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f4a2]

goroutine 1 [running]:
main.(*Server).handle(0x0, {0x4d2, 0x5})
\t/app/main.go:42 +0x22
main.main()
\t/app/main.go:17 +0x45
E0501 10:00:08.000123       1 reflector.go:138] failed to list *v1.Pod: connection refused
"""


def _lines(text: str, service: str) -> bytes:
    """The file as a line shipper sends it: one native record per line, no level."""
    return b"\n".join(
        orjson.dumps({"service": service, "timestamp": 1_714_557_600_000_000_000, "body": line})
        for line in text.splitlines()
    )


def test_postgres_messages_keep_their_detail_lines() -> None:
    records = parse_logs(_lines(POSTGRES, "postgres"), now_ns=0)
    assert [(r.severity_text, r.body.count("\n") + 1) for r in records] == [
        ("INFO", 4),  # lock wait + DETAIL, CONTEXT, STATEMENT
        ("ERROR", 6),  # deadlock + DETAIL (3 lines), HINT, STATEMENT of pid 813
        ("INFO", 1),  # pid 812's LOG in between
        ("FATAL", 1),
        ("FATAL", 2),
        ("INFO", 1),  # pid 902's DETAIL has no message of its pid: it stands alone
    ]
    deadlock = records[1].body.splitlines()
    assert deadlock[0].endswith("ERROR:  deadlock detected")
    assert deadlock[1].endswith("blocked by process 812.")
    assert (
        deadlock[2]
        == "\tProcess 812 waits for ShareLock on transaction 1234; blocked by process 813."
    )
    assert "[813] STATEMENT:" in deadlock[5]


def test_continuation_level_as_severity_text_with_pid_metadata() -> None:
    values = [
        ["1714557602002000000", "ERROR:  deadlock detected", {"level": "ERROR", "pid": "813"}],
        ["1714557602002000000", "LOG:  acquired lock", {"level": "LOG", "pid": "812"}],
        ["1714557602002000000", "DETAIL:  Process 813 waits", {"level": "DETAIL", "pid": "813"}],
        ["1714557602002000000", "HINT:  See server log", {"level": "hint", "pid": "813"}],
    ]
    push = {"streams": [{"stream": {"app": "postgres"}, "values": values}]}
    error, log = loki.parse_push(orjson.dumps(push))
    assert (
        error.body == "ERROR:  deadlock detected\nDETAIL:  Process 813 waits\nHINT:  See server log"
    )
    assert (error.severity_number, log.body) == (17, "LOG:  acquired lock")


def test_java_stack_trace_is_one_error_record() -> None:
    error, info = parse_logs(_lines(JAVA, "checkout"), now_ns=0)
    assert (error.severity_text, error.body.count("\n") + 1) == ("ERROR", 7)
    assert error.body.splitlines()[1] == "java.lang.IllegalStateException: pool exhausted"
    assert error.body.endswith("\t... 12 more")
    assert (info.severity_text, info.body) == (
        "INFO",
        "2024-05-01 10:00:04.000 INFO [main] c.e.App - retrying after error",
    )


def test_python_traceback_continues_the_error_and_stands_alone_after_info() -> None:
    logged, done, uncaught = parse_logs(_lines(PYTHON, "worker"), now_ns=0)
    assert (logged.severity_text, logged.body.splitlines()[-1]) == (
        "ERROR",
        "ValueError: bad payload",
    )
    assert logged.body.count("\n") + 1 == 7
    assert (done.severity_text, done.body.count("\n")) == ("INFO", 0)
    # printed by the interpreter, not the logger: its own ERROR record, chained exceptions included
    assert uncaught.severity_text == "ERROR"
    assert uncaught.body.startswith("Traceback (most recent call last):")
    assert uncaught.body.endswith("RuntimeError: no job")


def test_go_panic_and_klog() -> None:
    serving, panic, klog = parse_logs(_lines(GO, "api"), now_ns=0)
    assert serving.severity_text == "INFO"
    assert (panic.severity_text, panic.body.count("\n") + 1) == ("FATAL", 8)
    assert panic.body.endswith("\t/app/main.go:17 +0x45")
    assert (klog.severity_text, klog.body.count("\n")) == ("ERROR", 0)


def test_continuations_join_only_their_own_service() -> None:
    records = [
        LogRecord(1, "ERROR: boom", service="a"),
        LogRecord(2, "INFO: other", service="b"),
        LogRecord(3, "\tat a.B.c(B.java:1)", service="a"),
        LogRecord(4, "\tat x.Y.z(Y.java:1)", service="c"),  # nothing of service c before it
    ]
    joined = assemble(records)
    assert [r.body for r in joined] == [
        "ERROR: boom\n\tat a.B.c(B.java:1)",
        "INFO: other",
        "\tat x.Y.z(Y.java:1)",
    ]
    assert joined[2].severity_number == 0


def test_exception_after_an_info_record_is_its_own_error() -> None:
    records = assemble(
        [
            LogRecord(1, "x", service="a", severity_text="INFO", severity_number=9),
            LogRecord(2, "java.lang.RuntimeException: boom", service="a"),
            LogRecord(3, "\tat a.B.c(B.java:1)", service="a"),
        ]
    )
    assert [(r.severity_text, r.body.count("\n")) for r in records] == [("INFO", 0), ("ERROR", 1)]


def test_a_bare_java_lang_exception_header_folds_into_its_warning() -> None:
    """HikariCP's leak report: a WARN line, then `java.lang.Exception: Apparent connection leak
    detected` and its frames — one record, as `…IllegalStateException` folds."""
    for header in (
        "java.lang.Exception: Apparent connection leak detected",
        "java.lang.Error",
        "java.lang.Throwable: stack trace follows",
    ):
        records = assemble(
            [
                LogRecord(
                    1,
                    "Connection leak detection triggered for conn-1, stack trace follows",
                    service="pool",
                    severity_text="WARN",
                    severity_number=13,
                ),
                LogRecord(2, header, service="pool"),
                LogRecord(
                    3, "\tat com.acme.pay.db.LedgerDao.open(LedgerDao.java:88)", service="pool"
                ),
            ]
        )
        assert [(r.severity_text, r.body.count("\n")) for r in records] == [("WARN", 2)], header


def test_ids_are_stable_and_derived_from_the_joined_body() -> None:
    batch = _lines(JAVA, "checkout")
    first = parse_logs(batch, now_ns=0)
    again = parse_logs(batch, now_ns=0)
    assert [r.id for r in first] == [r.id for r in again]
    headline_only = parse_logs(_lines(JAVA.splitlines()[0], "checkout"), now_ns=0)[0]
    assert first[0].id != headline_only.id
    head = first[0]
    rebuilt = LogRecord(
        head.time_ns, head.body, "checkout", head.severity_number, head.severity_text
    )
    assert head.id == rebuilt.id  # the id of the joined record, level included


def test_sender_id_is_kept() -> None:
    lines = [
        {"id": "mine", "body": "ERROR: boom", "attributes": {"k": 1}},
        {"id": "frame", "body": "\tat a.B.c(B.java:1)"},
    ]
    [record] = parse_logs(orjson.dumps(lines), now_ns=0)
    assert (record.id, record.body, record.attributes) == (
        "mine",
        "ERROR: boom\n\tat a.B.c(B.java:1)",
        {"k": 1},
    )


SCHEDULER = """\
2026-12-06 05:05:20,099 ERROR [scheduler] failed to refresh tenant quotas; keeping cached quotas
Traceback (most recent call last):
  File "/srv/scheduler.py", line 247, in _billing_get
    return _fetch_quotas(1)
           ^^^^^^^^^^^^^^^^
  File "/srv/scheduler.py", line 242, in _fetch_quotas
    raise TimeoutError("timed out")
TimeoutError: timed out

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/srv/scheduler.py", line 260, in refresh
    raise QuotaError("billing-api unreachable") from exc
QuotaError: billing-api unreachable
2026-12-06 05:05:21,000 INFO [scheduler] next refresh in 300s
"""


def test_a_traceback_cut_between_two_batches_leaves_one_fragment_not_a_new_error() -> None:
    """A line shipper (an OpenTelemetry filelog receiver without multiline rules) may end an
    export mid-traceback: the later batch's piece is one record marked as a fragment, without a
    level of its own, the closing and chained exception lines folded into it."""
    lines = _lines(SCHEDULER, "scheduler").split(b"\n")
    cut = 4  # the first batch ends after the call's code line
    (head,) = parse_logs(b"\n".join(lines[:cut]), now_ns=0)
    assert head.severity_text == "ERROR" and not is_fragment(head)
    piece, info = parse_logs(b"\n".join(lines[cut:]), now_ns=0)
    assert is_fragment(piece) and piece.attributes[FRAGMENT_ATTRIBUTE] is True
    assert (piece.severity_number, piece.severity_text) == (0, "")
    assert piece.body.splitlines()[0] == "           ^^^^^^^^^^^^^^^^"
    assert piece.body.endswith("QuotaError: billing-api unreachable")
    assert (info.severity_text, is_fragment(info)) == ("INFO", False)
    whole = parse_logs(b"\n".join(lines), now_ns=0)
    assert [r.severity_text for r in whole] == ["ERROR", "INFO"], "one batch: one message"
    assert not any(is_fragment(r) for r in whole)


def test_a_java_stack_cut_between_batches_does_not_swallow_the_next_message() -> None:
    text = "\tat com.example.Pool.borrow(Pool.java:88)\n\t... 12 more\n" + (
        "2024-05-01 10:00:04.000 ERROR [main] c.e.App - pool exhausted"
    )
    piece, error = parse_logs(_lines(text, "checkout"), now_ns=0)
    assert is_fragment(piece) and piece.body.count("\n") == 1
    assert error.severity_text == "ERROR" and not is_fragment(error)
