"""Level names of real logs, and levels read from messages sent without one."""

from __future__ import annotations

import orjson
import pytest

from premortem.ingest import loki, otlp
from premortem.ingest.native import parse_logs
from premortem.ingest.severity import infer_severity, severity_number


@pytest.mark.parametrize(
    ("text", "number"),
    [
        # OpenTelemetry, case and decoration ignored
        ("INFO", 9), ("info", 9), ("[WARN]", 13), ("error:", 17), (" <Fatal> ", 21),
        # syslog
        ("emerg", 24), ("emergency", 24), ("alert", 23), ("crit", 21), ("critical", 21),
        ("err", 17), ("warning", 13), ("notice", 10), ("informational", 9), ("debug", 5),
        # PostgreSQL, continuation levels standing alone
        ("DEBUG1", 8), ("DEBUG5", 5), ("LOG", 9), ("PANIC", 21),
        ("DETAIL", 9), ("HINT", 9), ("STATEMENT", 9), ("CONTEXT", 9), ("QUERY", 9),
        ("LOCATION", 9),
        # Java / JUL / log4j
        ("SEVERE", 17), ("CONFIG", 8), ("FINE", 5), ("FINER", 4), ("FINEST", 1), ("TRACE", 1),
        # Python, Go
        ("EXCEPTION", 17), ("panic", 21), ("dpanic", 20), ("fatal", 21),
        # glog / klog letters, .NET / Serilog
        ("E", 17), ("W", 13), ("I", 9), ("D", 5), ("F", 21),
        ("Information", 9), ("Verbose", 1), ("WRN", 13), ("FTL", 21),
        # unknown, and bare numbers (ambiguous between scales)
        ("", 0), ("chatty", 0), ("3", 0), ("17", 0),
    ],
)  # fmt: skip
def test_level_names_map_to_opentelemetry(text: str, number: int) -> None:
    assert severity_number(text) == number


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("ERROR: connection refused", (17, "ERROR")),
        ("[WARN] pool nearly exhausted", (13, "WARN")),
        ("[warn] pool nearly exhausted", (13, "WARN")),
        ("Error: connection refused", (17, "ERROR")),
        ("INFO:root:started", (9, "INFO")),
        ("2024-05-01 10:00:00.123 UTC [812] LOG:  checkpoint starting: time", (9, "INFO")),
        ("2024-05-01 10:00:00.123 UTC [813] ERROR:  deadlock detected", (17, "ERROR")),
        ("2024-05-01 10:00:00.123 UTC [813] FATAL:  terminating connection", (21, "FATAL")),
        ("2024-05-01 10:00:00,123 WARNING disk 91% full", (13, "WARN")),
        ("2024-05-01 10:00:00,123 - app.db - ERROR - query failed", (17, "ERROR")),
        ("10:00:00.123 [main] ERROR c.e.Checkout - payment failed", (17, "ERROR")),
        ("2024-05-01T10:00:00Z INFO retrying after ERROR", (9, "INFO")),
        ("2024/05/01 10:00:00 [error] 12#0: *3 upstream timed out", (17, "ERROR")),
        ('time=2024-05-01T10:00:00Z level=warn msg="slow query" duration=1.2s', (13, "WARN")),
        ('level=error msg="dial tcp: connection refused"', (17, "ERROR")),
        ("E0501 10:00:00.000123       1 reflector.go:138] failed to list *v1.Pod", (17, "ERROR")),
        ("W0501 10:00:00.000123 1 reflector.go:138] watch closed", (13, "WARN")),
        ("I0501 10:00:00.000123 1 main.go:12] started", (9, "INFO")),
        ("Traceback (most recent call last):", (17, "ERROR")),
        ("panic: runtime error: index out of range [3] with length 3", (21, "FATAL")),
        ('Exception in thread "main" java.lang.NullPointerException', (17, "ERROR")),
        ("java.lang.IllegalStateException: pool exhausted", (17, "ERROR")),
        ("java.lang.Exception: Apparent connection leak detected", (17, "ERROR")),
        ("Exception: boom", (17, "ERROR")),
        ("Exceptional traffic today", (0, "")),
        # a JSON logger's line forwarded as text (rsyslog's imfile, a Loki line): its own field
        ('{"level":50,"time":1733590000000,"pid":7,"msg":"order failed"}', (17, "ERROR")),
        (
            '{"level":40,"time":1733590000000,"msg":"slow transaction","durationMs":2874}',
            (13, "WARN"),
        ),
        ('{"time":"2024-05-01T10:00:00Z", "level": "warning", "msg":"slow"}', (13, "WARN")),
        ('{"@t":"2024-05-01T10:00:00Z","@l":"Error","@m":"failed"}', (17, "ERROR")),
        ('{"level":35,"msg":"not a pino level"}', (0, "")),
        ('{"msg":"no level field","count":40}', (0, "")),
        # Apache httpd's error log (2.4's default format, and 2.2's without the module)
        (
            "[Mon Dec 07 21:28:02.132866 2026] [proxy_http:error] [pid 4242:tid 4243] (70007)The "
            "timeout specified has expired: [client 127.0.0.1:5512] AH01102: error reading status "
            "line from remote server 127.0.0.1:18701",
            (17, "ERROR"),
        ),
        (
            "[Mon Dec 07 21:28:02.132866 2026] [mpm_event:notice] [pid 1:tid 2] AH00489",
            (10, "INFO"),
        ),
        ("[Mon Dec  7 21:28:02 2026] [warn] child process 7 still did not exit", (13, "WARN")),
        ("[Mon Dec 07 21:28:02.1 2026] [core:trace3] [pid 1:tid 2] request.c(1): x", (1, "TRACE")),
        # PHP-FPM's log, and PHP's own error log (its two-word fatal levels are errors)
        (
            "[08-Dec-2026 00:45:37] WARNING: [pool www] server reached pm.max_children setting "
            "(4), consider raising it",
            (13, "WARN"),
        ),
        ("[08-Dec-2026 00:45:37] NOTICE: fpm is running, pid 77", (10, "INFO")),
        (
            "[08-Dec-2026 00:45:37 UTC] PHP Warning:  pg_query(): Query failed: ERROR:  "
            "canceling statement due to lock timeout in /srv/book.php on line 12",
            (13, "WARN"),
        ),
        (
            "[08-Dec-2026 00:45:37 Europe/Berlin] PHP Fatal error:  Maximum execution time of 5 "
            "seconds exceeded in /srv/book.php on line 9",
            (17, "ERROR"),
        ),
        ("[08-Dec-2026 00:45:37]  [pool www] pid 1234", (0, "")),
        # PostgreSQL with `%u@%d` in log_line_prefix
        (
            "2026-12-08 00:45:37.123 UTC [1234] app@shop FATAL:  sorry, too many clients",
            (21, "FATAL"),
        ),
        ("2026-12-08 00:45:37.123 UTC [1234] [unknown]@[unknown] LOG:  connection", (9, "INFO")),
        # MariaDB's error log (a space-padded hour), RabbitMQ's
        (
            "2026-12-08  0:45:37 12 [Warning] Aborted connection 12 to db: 'shop' user: 'app' "
            "host: 'localhost' (Got an error reading communication packets)",
            (13, "WARN"),
        ),
        ("2026-12-08 10:45:37 0 [Note] InnoDB: Buffer pool(s) load completed", (9, "INFO")),
        ("2026-12-08 00:45:37.123456+00:00 [error] <0.1234.0> Channel error", (17, "ERROR")),
        ("Note that the cache was cold", (0, "")),
        # bracketed fields after a bracketed time (Elasticsearch, Envoy), Celery, Redis, MongoDB
        (
            "[2026-12-08T00:45:37,123][WARN ][o.e.c.r.a.DiskThresholdMonitor] high disk",
            (13, "WARN"),
        ),
        ("[2026-12-08 00:45:37.123][12][warning][upstream] [source/x.cc:1] msg", (13, "WARN")),
        ("[2026-12-08 00:45:37][main][checkout] error here", (0, "")),
        ("[2026-12-08 00:45:37,123: ERROR/ForkPoolWorker-1] Task x raised", (17, "ERROR")),
        ("12345:M 08 Dec 2026 00:45:37.123 # Out Of Memory allocating 1234 bytes!", (13, "WARN")),
        ("12345:M 08 Dec 2026 00:45:37.123 * Ready to accept connections", (10, "INFO")),
        ('{"t":{"$date":"2026-12-08T00:45:37Z"},"s":"E","c":"NETWORK","msg":"x"}', (17, "ERROR")),
        # a syslog file's line read as text: the program's own level after time, host and tag
        ("Dec  8 00:45:37 web-1 checkout[812]: ERROR order 7 failed", (17, "ERROR")),
        ("2026-12-08T00:45:37.123456+00:00 web-1 checkout[812]: WARNING pool busy", (13, "WARN")),
        ("Dec  8 00:45:37 web-1 checkout[812]: retrying after ERROR", (0, "")),
        # an HTTP access line: a 5xx is the server failing the request
        (
            '10.0.0.7 - - [07/Dec/2026:21:00:00 +0000] "POST /orders?id=7 HTTP/1.1" 502 157 "-" '
            '"curl/8.5.0"',
            (17, "ERROR"),
        ),
        ('127.0.0.1 - - [07/Dec/2026:21:00:00] "GET / HTTP/2" 503 0', (17, "ERROR")),
        ('10.0.20.23 "GET /v2.0/ports HTTP/1.1" status: 500  len: 290 time: 0.21', (17, "ERROR")),
    ],
)
def test_level_inferred_from_the_start_of_the_message(body: str, expected: tuple[int, str]) -> None:
    assert infer_severity(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        "retrying after error",
        "error connecting to db",  # a bare lower-case word is not a level token
        "Alert sent to on-call",
        "LOG rotated",  # LOG, DETAIL, CONFIG... need `LOG:` or a timestamp before them
        "2024-05-01 10:00:00 retrying after ERROR",
        "Errors: 3",
        "GET /api/items/7 200 in 12ms",
        # access lines answered, or refused as the client's mistake (OpenTelemetry leaves a
        # server span's status unset for a 4xx)
        '10.0.0.7 - - [07/Dec/2026:21:00:00 +0000] "GET /orders HTTP/1.1" 200 512',
        '10.0.0.7 - - [07/Dec/2026:21:00:00 +0000] "GET /orders HTTP/1.1" 404 0',
        '10.0.0.7 - - [07/Dec/2026:21:00:00 +0000] "GET /orders HTTP/1.1" 304 0 "-" "x" 5000',
        'said "GET / HTTP/1.1" 500 times',  # not a request line quoted as an access log does
        "user=alice action=login",  # logfmt without a level key
        "E is for error",
        "",
    ],
)
def test_no_level_from_words_elsewhere(body: str) -> None:
    assert infer_severity(body) == (0, "")


def test_explicit_level_is_never_second_guessed() -> None:
    [record] = parse_logs(
        b'{"body": "ERROR retrying after error", "severity_text": "INFO"}', now_ns=0
    )
    assert (record.severity_number, record.severity_text) == (9, "INFO")
    [record] = parse_logs(b'{"body": "ERROR: x", "severity_number": 9}', now_ns=0)
    assert (record.severity_number, record.severity_text) == (9, "INFO")


def test_native_record_without_level_gets_the_message_level() -> None:
    lines = [
        {"body": "2024-05-01 10:00:00.123 UTC [812] LOG:  checkpoint starting: time"},
        {"body": "level=warn msg=slow"},
        {"body": "retrying after error"},
        {"body": "x", "severity_text": "LOG"},
        {"body": "x", "level": "warning"},
    ]
    records = parse_logs(b"\n".join(orjson.dumps(line) for line in lines), now_ns=0)
    assert [(r.severity_number, r.severity_text) for r in records] == [
        (9, "INFO"),
        (13, "WARN"),
        (0, ""),
        (9, "LOG"),
        (13, "warning"),
    ]


def test_loki_without_level_label_infers_from_line() -> None:
    push = {
        "streams": [
            {
                "stream": {"job": "postgres"},
                "values": [
                    ["1714557600000000000", "2024-05-01 10:00:00.123 UTC [813] ERROR:  boom"],
                    ["1714557601000000000", "plain line", {"level": "notice"}],
                ],
            }
        ]
    }
    first, second = loki.parse_push(orjson.dumps(push))
    assert (first.severity_number, first.severity_text) == (17, "ERROR")
    assert (second.severity_number, second.severity_text) == (10, "notice")


def test_otlp_severity_zero_infers_from_body() -> None:
    request = {
        "resourceLogs": [
            {
                "resource": {"attributes": []},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {"timeUnixNano": "1", "body": {"stringValue": "[WARN] slow"}},
                            {"timeUnixNano": "2", "severityText": "LOG", "body": {}},
                        ]
                    }
                ],
            }
        ]
    }
    result = otlp.parse_otlp(orjson.dumps(request), content_type="application/json", now_ns=0)
    assert [(r.severity_number, r.severity_text) for r in result.records] == [
        (13, "WARN"),
        (9, "LOG"),
    ]


@pytest.mark.parametrize(
    ("template", "sample", "shown"),
    [
        (  # PostgreSQL's stderr, shipped raw: the header's pid is masked in the template
            "<*> <*>:<*>:<*> UTC [<*>] LOG: process <*> still waiting for ShareLock on <*>",
            "2026-12-05 22:24:20.477 UTC [4343] LOG:  process 4343 still waiting for "
            "ShareLock on transaction 1045 after 200.106 ms",
            "process <*> still waiting for ShareLock on <*>",
        ),
        (  # Python's text format: the logger stays, it says where
            "<*> <*>:<*>:<*>,<*> WARNING orders.volume: volume <*> is <*> full",
            "2026-12-06 01:06:23,276 WARNING orders.volume: volume /var/lib/orders is 81% full",
            "orders.volume: volume <*> is <*> full",
        ),
        (  # no header: as it is
            "pool exhausted after <*> ms",
            "pool exhausted after 3000 ms",
            "pool exhausted after <*> ms",
        ),
        (  # a template that does not start with the sample's header: as it is
            "<*> ERROR something else",
            "2026-12-06 01:06:23,276 WARNING orders.volume: volume full",
            "<*> ERROR something else",
        ),
    ],
)
def test_a_template_reads_without_its_lines_header(template: str, sample: str, shown: str) -> None:
    from premortem.ingest.severity import without_header

    assert without_header(template, sample) == shown
