"""Syslog lines as the messages their senders wrote (syslog.assemble, issue 11): PostgreSQL's
chunks joined, the message's own level over PRI's, DETAIL lines continuing their process's
message. PostgreSQL's wire shape: src/backend/utils/error/elog.c, write_syslog (sequence numbers
"[seq-chunk] " with syslog_sequence_numbers on, ERROR sent at LOG_WARNING)."""

from __future__ import annotations

from premortem.ingest import syslog
from premortem.logs.miner import PrefixTreeMiner

NOW = 1_714_557_600_000_000_000


def lines(*texts: str) -> str:
    return "\n".join(texts) + "\n"


PG = lines(
    "<132>1 2024-05-01T10:00:01.001Z db postgres 812 - - [7-1] ERROR:  deadlock detected",
    "<134>1 2024-05-01T10:00:01.002Z db postgres 900 - - [3-1] LOG:  checkpoint starting: time",
    "<132>1 2024-05-01T10:00:01.001Z db postgres 812 - - [7-2] DETAIL:  Process 812 waits for "
    "ShareLock on transaction 1234; blocked by process 813.",
    "<132>1 2024-05-01T10:00:01.001Z db postgres 812 - - [7-3] STATEMENT:  UPDATE accounts SET "
    "balance = balance - 1 WHERE id = 7",
)


def test_the_chunks_of_one_postgresql_message_are_one_record() -> None:
    deadlock, checkpoint = syslog.parse_lines(PG, now_ns=NOW)
    assert deadlock.body.split("\n") == [
        "ERROR:  deadlock detected",
        "DETAIL:  Process 812 waits for ShareLock on transaction 1234; blocked by process 813.",
        "STATEMENT:  UPDATE accounts SET balance = balance - 1 WHERE id = 7",
    ]
    assert (deadlock.severity_number, deadlock.severity_text) == (17, "ERROR")
    assert deadlock.attributes["syslog.severity"] == "warning", "PRI's level is kept"
    assert (checkpoint.body, checkpoint.severity_text) == (
        "LOG:  checkpoint starting: time",
        "INFO",
    )
    assert deadlock.id == deadlock.content_id(), "the id is the joined message's"
    assert [r.id for r in syslog.parse_lines(PG, now_ns=NOW + 5)] == [deadlock.id, checkpoint.id]


def test_one_message_with_other_details_is_one_template() -> None:
    other = PG.replace("1234; blocked by process 813", "98; blocked by process 4").replace(
        "id = 7", "id = 9"
    )
    miner = PrefixTreeMiner()
    first = syslog.parse_lines(PG, now_ns=NOW)[0]
    second = syslog.parse_lines(other.replace("[7-", "[8-"), now_ns=NOW)[0]
    assert (
        miner.add(first.body, service="postgres").template_id
        == miner.add(second.body, service="postgres").template_id
    )


def test_without_sequence_numbers_a_detail_line_continues_its_process() -> None:
    """syslog_sequence_numbers off: chunks are "[1] ", "[2] ", and the pid ties them."""
    records = syslog.parse_lines(
        lines(
            "<132>May  1 10:00:02 db postgres[812]: [1] ERROR:  canceling statement due to lock "
            "timeout",
            "<134>May  1 10:00:02 db postgres[900]: [1] LOG:  automatic vacuum of table x",
            "<132>May  1 10:00:02 db postgres[812]: [2] DETAIL:  while locking tuple (0,7)",
        ),
        now_ns=NOW,
    )
    assert [r.body for r in records] == [
        "ERROR:  canceling statement due to lock timeout\nDETAIL:  while locking tuple (0,7)",
        "LOG:  automatic vacuum of table x",
    ]


def test_a_chunk_whose_message_is_not_in_the_batch_stays_a_record() -> None:
    (alone,) = syslog.parse_lines(
        "<132>1 2024-05-01T10:00:01.001Z db postgres 812 - - [7-2] DETAIL:  Process 812 waits\n",
        now_ns=NOW,
    )
    assert alone.body == "[7-2] DETAIL:  Process 812 waits"


def test_other_applications_keep_their_text_and_their_stated_level_counts() -> None:
    worker, warned, plain = syslog.parse_lines(
        lines(
            "<14>1 2024-05-01T10:00:01Z h app 5 - - [42] worker started",
            "<14>1 2024-05-01T10:00:02Z h app 5 - - [WARN] disk almost full",
            "<11>1 2024-05-01T10:00:03Z h app 5 - - retrying after error",
        ),
        now_ns=NOW,
    )
    assert (worker.body, worker.severity_text) == ("[42] worker started", "INFO")
    assert (warned.body, warned.severity_number) == ("[WARN] disk almost full", 13)
    assert (plain.body, plain.severity_number) == ("retrying after error", 17), "PRI's err"


def test_a_level_stated_in_logfmt_or_a_json_line_overrules_the_tailers_pri() -> None:
    """rsyslog's imfile sends every line of a file at one PRI (a trial: a pino `"level":50` and
    a logfmt `level=error` stored as INFO); the line's own level field counts, PRI's is kept."""
    pino, logfmt, klog, plain = syslog.parse_lines(
        lines(
            '<134>1 2024-05-01T10:00:01Z h fulfil - - - {"level":50,"time":1714557601000,'
            '"msg":"order failed","durationMs":2874}',
            "<134>1 2024-05-01T10:00:02Z h notify - - - time=2024-05-01T10:00:02Z level=warn "
            'msg="slow call"',
            "<134>1 2024-05-01T10:00:03Z h kubelet - - - E0501 10:00:03.000123 1 pod.go:12] failed",
            '<134>1 2024-05-01T10:00:04Z h api - - - order accepted level="high"',
        ),
        now_ns=NOW,
    )
    assert (pino.severity_number, pino.severity_text) == (17, "ERROR")
    assert pino.attributes["syslog.severity"] == "info"
    assert (logfmt.severity_number, logfmt.severity_text) == (13, "WARN")
    assert klog.severity_number == 17
    assert (plain.severity_number, plain.severity_text) == (9, "INFO"), "PRI's: no level stated"


def test_an_access_lines_5xx_overrules_the_pri_its_log_is_sent_at() -> None:
    """nginx sends its access log over syslog at one PRI (`info`): a 504 there is an error."""
    failed, served = syslog.parse_lines(
        lines(
            "<190>1 2024-05-01T10:00:01Z h nginx - - - 10.0.0.7 - - [01/May/2024:10:00:01 +0000] "
            '"GET /orders/7 HTTP/1.1" 504 167 "-" "curl/8.5.0"',
            "<190>1 2024-05-01T10:00:02Z h nginx - - - 10.0.0.7 - - [01/May/2024:10:00:02 +0000] "
            '"GET /orders/8 HTTP/1.1" 200 512 "-" "curl/8.5.0"',
        ),
        now_ns=NOW,
    )
    assert (failed.severity_number, failed.severity_text) == (17, "ERROR")
    assert failed.attributes["syslog.severity"] == "info"
    assert (served.severity_number, served.severity_text) == (9, "INFO")
