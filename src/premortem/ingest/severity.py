"""Level names of real logs on OpenTelemetry's severity scale, and levels read from a message.

`severity_number(text)` knows the level names of syslog, PostgreSQL, Java (log4j, logback, JUL),
Python, Go (zap, logrus, glog/klog) and .NET/Serilog, case-insensitively and with surrounding
brackets or colons ignored (`[WARN]`, `error:`). Unknown text is 0, like no level at all.

`infer_severity(body)` reads a level from the *start* of a message that came without one: a
leading level token (`ERROR: ...`, `[warn] ...`), one after a timestamp and a short header
(`2024-05-01 10:00:00.123 UTC [812] LOG:  ...`), `level=error` in a logfmt line, a klog header
(`E1202 10:00:00.000123 1 file.go:12] ...`), or the first line of a crash (`Traceback (most recent
call last):`, `panic: ...`, `Exception in thread "main" ...`), or an HTTP access line's 5xx status
(`"GET /api HTTP/1.1" 504`: ERROR). A level word anywhere else in the message never counts:
"retrying after error" stays whatever level it was sent with.

>>> severity_number("LOG"), severity_number("[warning]"), severity_number("E"), severity_number("3")
(9, 13, 17, 0)
>>> infer_severity("2024-05-01 10:00:00.123 UTC [812] ERROR:  deadlock detected")
(17, 'ERROR')
>>> infer_severity("retrying after error")
(0, '')
"""

from __future__ import annotations

import re

from premortem.domain import severity_text_from_number

TRACE, DEBUG, INFO, WARN, ERROR, FATAL = 1, 5, 9, 13, 17, 21

# PostgreSQL's lines that continue the previous message of the same backend.
CONTINUATION_LEVELS = frozenset({"DETAIL", "HINT", "STATEMENT", "CONTEXT", "QUERY", "LOCATION"})

# Names that are levels wherever they stand as the level field.
LEVELS: dict[str, int] = {
    # OpenTelemetry and most loggers
    "TRACE": TRACE, "DEBUG": DEBUG, "INFO": INFO, "WARN": WARN, "ERROR": ERROR, "FATAL": FATAL,
    # syslog (the numbers syslog.py gives the same codes)
    "EMERG": 24, "EMERGENCY": 24, "ALERT": 23, "CRIT": FATAL, "CRITICAL": FATAL, "ERR": ERROR,
    "WARNING": WARN, "NOTICE": 10, "INFORMATIONAL": INFO, "INFORMATION": INFO,
    # PostgreSQL (DEBUG5 is the most verbose), continuation levels standing alone are INFO
    "DEBUG1": 8, "DEBUG2": 7, "DEBUG3": 6, "DEBUG4": DEBUG, "DEBUG5": DEBUG, "LOG": INFO,
    "PANIC": FATAL, **dict.fromkeys(CONTINUATION_LEVELS, INFO),
    # MySQL's and MariaDB's error log (`[Note]`, `[Warning]`, `[ERROR]`)
    "NOTE": INFO,
    # Java util logging, log4j
    "SEVERE": ERROR, "CONFIG": 8, "FINE": DEBUG, "FINER": 4, "FINEST": TRACE,
    # Python (`logger.exception` logs at ERROR), Go zap (DPanic: a panic in development only)
    "EXCEPTION": ERROR, "DPANIC": 20,
    # .NET / Serilog, zerolog console and other three-letter spellings
    "VERBOSE": TRACE, "VRB": TRACE, "TRC": TRACE, "DBG": DEBUG, "INF": INFO, "WRN": WARN,
    "EROR": ERROR, "FTL": FATAL, "CRT": FATAL,
    # glog / klog / logcat single letters
    "V": TRACE, "D": DEBUG, "I": INFO, "W": WARN, "E": ERROR, "F": FATAL,
}  # fmt: skip

_DECORATION = " \t[]()<>{}:|"


def severity_number(text: str) -> int:
    """OpenTelemetry severity number (1..24) for a level name; 0 when unknown.

    A bare number is 0: "3" is err on syslog's scale, ERROR3's neighbour on OpenTelemetry's and
    below DEBUG on Python's and pino's, so no reading of it is safe. Syslog's numeric severities
    are mapped where they are unambiguous, from the PRI of a syslog line (`syslog` module).
    """
    return LEVELS.get(text.strip(_DECORATION).upper(), 0)


def severity_name(number: int) -> str:
    """The OpenTelemetry short name of a severity number ("" for 0)."""
    return _NAMES[number] if 0 <= number <= 24 else severity_text_from_number(number)


_NAMES = tuple(severity_text_from_number(number) for number in range(25))


# ---------------------------------------------------------------------------- inference

# Names read bare (no colon or brackets) from the start of a message, when written in capitals.
# The others (LOG, DETAIL, ALERT, CONFIG, ...) are also ordinary words, so they need `LOG:` or
# `[LOG]`, or to follow a timestamp; lower-case names need decoration (`error:`, `[warn]`).
_BARE_AT_START = frozenset(
    {"TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL", "SEVERE", "PANIC"}
)
_LETTER_LEVELS = frozenset("VDIWEF")

_ISO = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
TIMESTAMP = (
    r"\[?(?:"
    # ISO 8601, PostgreSQL %m, log4j; MariaDB pads the hour with a space (`2026-12-08  0:45:37`)
    r"\d{4}[-/]\d\d[-/]\d\d(?:[T ]\d\d|  \d):\d\d:\d\d(?:[.,]\d+)?"
    r"(?:Z|\s?[+-]\d\d(?::?\d\d)?|\s(?:UTC|GMT|(?!CRIT)[A-Z]{2,4}T)(?![A-Za-z]))?"
    r"|[A-Z][a-z]{2}\s+\d{1,2}\s\d\d:\d\d:\d\d"  # BSD syslog
    # PHP's and PHP-FPM's error logs: `[08-Dec-2026 00:45:37 UTC]`, `[08-Dec-2026 00:45:37]`
    r"|\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d(?:\.\d+)?(?: (?:UTC|GMT|[A-Za-z]+/[\w/+-]+))?"
    r"|\d\d:\d\d:\d\d(?:[.,]\d+)?"  # time of day (logback's default)
    r")\]?"
)
# Between a timestamp and the level: [pid], [thread], a pid, separators, `- logger -`,
# PostgreSQL's `%u@%d` (`app@shop`, `[unknown]@[unknown]`), PHP's `PHP` (`PHP Warning:`).
_HEADER_PART = r"(?:\[[^\]\s]*\]|\(\S*\)|\d+|[-|]|[-|]\s+\S+\s+[-|]|[^\s@]*@[^\s@]*|PHP)"
# Spelt out in three cases: an alternation under (?i) is about twice as slow to match.
_NAME = "|".join(
    sorted(
        {
            spelling
            for name in LEVELS
            if len(name) > 1
            for spelling in (name, name.lower(), name.title())
        },
        key=len,
        reverse=True,
    )
)
# `LEVEL:logger:message` is Python's default format, so a colon needs no space after it.
_LEVEL_END = r"(?P<close>[\]>)])?(?:(?P<colon>:)|(?=\s|$))"
_AFTER_TIMESTAMP = re.compile(
    rf"\s*{TIMESTAMP}\s+(?:{_HEADER_PART}\s+){{0,3}}"
    rf"(?P<open>[\[<(])?(?P<name>{_NAME}){_LEVEL_END}"
)
# At the start any word is tried (and looked up), which is several times faster than the names.
_AT_START = re.compile(rf"\s*(?P<open>[\[<(])?(?P<name>[A-Za-z]+\d?){_LEVEL_END}")
_LOGFMT = re.compile(r"[\w.@-]+=\S")
_LOGFMT_LEVEL = re.compile(r"(?:^|\s)(?:level|lvl|severity)=\"?([A-Za-z]+\d?)\"?(?=\s|$)")
_KLOG = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [^\]\s]+\] ")
_CRASH = re.compile(
    r"(?P<fatal>panic: |fatal error: )"
    r"|Traceback \(most recent call last\):|Exception in thread \""
    # an exception line: `java.lang.IllegalStateException: ...`, `ValueError: ...`
    # (`java.lang.Exception: ...` and Python's bare `Exception: ...` too)
    r"|(?:[a-z_$][\w$]*\.)*(?:[A-Z][\w$]*)?(?:Exception|Error)(?::\s|:?$)"
)


def infer_severity(body: str, *, leading_name: str | None = None) -> tuple[int, str]:
    """`(severity_number, severity_text)` read from the start of `body`, or `(0, "")`.

    `leading_name` is `leading_level_name(body)` when the caller has it already.
    """
    line = headline(body)[:200]
    number = (
        stated_level(line, leading_name=leading_name) or _crash_level(line) or access_level(body)
    )
    return (number, severity_name(number)) if number else (0, "")


# An HTTP access line: the quoted request line, then the status (Common/Combined Log Format:
# nginx, Apache, gunicorn; Python's and eventlet's WSGI servers write `status: 500` or the
# status bare; HAProxy's puts the status before the request and is not read). A long URL is
# why the span is wider than a header's; the size after a bare status (a number or "-") tells
# an access line from prose that quotes one.
_ACCESS = re.compile(
    r'"[A-Z]{3,7} \S+ HTTP/\d(?:\.\d)?" (?:status:? ([1-5])\d\d(?!\d)|([1-5])\d\d (?:\d+|-)(?!\S))'
)
_ACCESS_SPAN = 2000


def access_level(body: str) -> int:
    """ERROR for an access line whose status is 5xx (the server failed the request), else 0.

    A 4xx is the client's mistake, as OpenTelemetry's HTTP conventions say of server spans
    (their status stays unset), and a 2xx or 3xx is what the line says anyway: neither is a
    level.

    >>> access_level('10.0.0.7 - - [07/Dec/2026:21:00:00 +0000] "GET /api HTTP/1.1" 504 167')
    17
    >>> access_level('10.0.0.7 - - [07/Dec/2026:21:00:00 +0000] "GET /api HTTP/1.1" 404 0')
    0
    """
    line = headline(body)[:_ACCESS_SPAN]
    found = _ACCESS.search(line) if '"' in line else None
    return ERROR if found is not None and "5" in found.groups() else 0


def stated_level(line: str, *, leading_name: str | None = None) -> int:
    """The severity number of the level a line states in its own header, or 0: a leading level
    token, logfmt's `level=`, a klog header, or the level field of a JSON object (pino's and
    bunyan's numbers too) — what a syslog sender's coarse PRI is overruled by. A crash is not
    a stated level (`infer_severity` reads it for lines sent without one)."""
    if leading_name is None:
        leading_name = leading_level_name(line)
    number = LEVELS[leading_name] if leading_name else 0
    return (
        number
        or _logfmt_level(line)
        or _klog_level(line)
        or _json_level(line)
        or _apache_level(line)
        or _php_level(line)
        or _bracketed_level(line)
        or _redis_level(line)
        or _syslog_file_level(line)
    )


def headline(body: str) -> str:
    """The first line of a message."""
    return body.split("\n", 1)[0] if "\n" in body else body


def message_part(line: str) -> str:
    """The line after its header (timestamp, pid, level), or the whole line without one.

    >>> message_part("2026-12-05 22:24:20.477 UTC [4343] LOG:  process 4343 still waiting")
    'process 4343 still waiting'
    """
    end = _header_end(line)
    return line if end is None else line[end:].lstrip()


def _header_end(line: str) -> int | None:
    """Where a line's header (timestamp, pid, level) ends, or None without one."""
    found = _AFTER_TIMESTAMP.match(line)
    if found is None or not _accepted(found, after_timestamp=True):
        return None
    return found.end()


def without_header(template: str, sample: str) -> str:
    """A template as a person reads it: without the header (timestamp, pid, level) its sample
    line starts with, when the line has one and the template's tokens line up with the line's
    (`<*> <*>:<*>:<*> UTC [<*>] LOG: process <*> still waiting …` reads as `process <*> still
    waiting …`). Otherwise the template as it is. Display only: the template itself, and its id,
    keep the header.

    >>> without_header("<*> <*>:<*>:<*>,<*> WARNING app.pool: waited <*> ms",
    ...                "2026-12-06 01:02:03,456 WARNING app.pool: waited 210 ms")
    'app.pool: waited <*> ms'
    """
    line = headline(sample)
    end = _header_end(line)
    if end is None:
        return template
    header = line[:end].split()
    tokens = template.split(" ")
    words = [t for t in tokens if t]
    if len(words) <= len(header) or words[len(header) - 1] != header[-1]:
        return template  # the template does not start with this header: leave it whole
    rest, count = tokens, 0
    while count < len(header):  # drop the header's tokens, keep the message's own spacing
        if rest[0]:
            count += 1
        rest = rest[1:]
    return " ".join(rest).lstrip(" ")


def leading_level_name(line: str) -> str:
    """The level token at the start of `line` (after a timestamp/header), upper-case, or ""."""
    found = _AFTER_TIMESTAMP.match(line)
    if found is not None and _accepted(found, after_timestamp=True):
        return found.group("name").upper()
    found = _AT_START.match(line)
    if found is not None and _accepted(found, after_timestamp=False):
        return found.group("name").upper()
    return ""


def _accepted(found: re.Match[str], *, after_timestamp: bool) -> bool:
    """Whether the token is a level rather than a word that happens to be a level name."""
    name = found.group("name")
    upper = name.upper()
    if upper not in LEVELS or upper in _LETTER_LEVELS:
        return False
    bracketed = found.group("open") is not None and found.group("close") is not None
    if found.group("open") and not bracketed:
        return False  # "(error" or "[warn": not a level token
    decorated = bracketed or found.group("colon") is not None
    if name != upper:  # "error:" or "[warn]", never a bare lower-case word
        return decorated and upper in _BARE_AT_START | {"ERR", "CRIT", "NOTICE", "EMERG", "NOTE"}
    return after_timestamp or decorated or upper in _BARE_AT_START


def _crash_level(line: str) -> int:
    found = _CRASH.match(line)
    if found is None:
        return 0
    return FATAL if found.group("fatal") else ERROR


def _logfmt_level(line: str) -> int:
    if "=" not in line or _LOGFMT.match(line) is None:
        return 0
    found = _LOGFMT_LEVEL.search(line)
    return severity_number(found.group(1)) if found else 0


# The level fields of JSON loggers (`native` reads them from a record, `_json_level` from a line
# sent as text), and pino's and bunyan's numeric levels.
LEVEL_FIELDS = ("level", "lvl", "severity", "loglevel", "levelname", "log.level", "@l")
_JSON_LEVEL = re.compile(
    r'"(?:'
    + "|".join(re.escape(k) for k in LEVEL_FIELDS)
    + r')"\s*:\s*(?:"([A-Za-z]+\d?)"|(\d+)\b)'
)
_MONGO_LEVEL = re.compile(r'"s"\s*:\s*"([FEWI])"')
PINO_LEVELS = {10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL"}


def _json_level(line: str) -> int:
    """The level field of a JSON object line, as a logger wrote it (`{"level":50,...}`,
    `{"level":"warn",...}`), read without parsing the object: a shipper that forwards such a
    line as text (syslog, Loki, OTLP) keeps the level inside it. Only a key of the object's
    own first level counts as far as a reader can tell from the text: the first match."""
    if not line.startswith("{"):
        return 0
    if line.startswith('{"t":{"$date"'):  # MongoDB's structured log: `"s":"W"`
        mongo = _MONGO_LEVEL.search(line)
        return severity_number(mongo.group(1)) if mongo is not None else 0
    found = _JSON_LEVEL.search(line)
    if found is None:
        return 0
    name, number = found.groups()
    if number is not None:
        named = PINO_LEVELS.get(int(number))
        return LEVELS[named] if named else 0
    return severity_number(name)


# Apache httpd's error log: `[Mon Dec 07 21:28:02.132866 2026] [proxy_http:error] [pid 12:tid 3]
# ...` (2.4's default ErrorLogFormat; 2.2 wrote `[error]` without the module); trace1–trace8 are
# its levels below debug.
_APACHE = re.compile(
    r"\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? \d{4}\] "
    r"\[(?:[\w-]+:)?([a-z]+)\d?\]"
)


# A run of bracketed fields after a bracketed time, one of them the level: Elasticsearch's
# `[2026-12-08T00:45:37,123][WARN ][o.e.c.DiskThresholdMonitor]`, Envoy's
# `[2026-12-08 00:45:37.123][12][warning][upstream]`; Celery's `[2026-12-08 00:45:37,123:
# WARNING/MainProcess]`.
_BRACKETED = re.compile(
    rf"\[{_ISO}\]((?:\[[^\]\[]*\]){{1,3}})|\[{_ISO}: (?P<celery>[A-Z]+)/[\w-]+\]"
)
_FIELD = re.compile(r"\[([^\]\[]*)\]")


def _bracketed_level(line: str) -> int:
    found = _BRACKETED.match(line) if line[:1] == "[" else None
    if found is None:
        return 0
    if found.group("celery"):
        return LEVELS.get(found.group("celery"), 0)
    for field in _FIELD.findall(found.group(1)):
        name = field.strip().upper()
        if name in LEVELS and name not in _LETTER_LEVELS:
            return LEVELS[name]
    return 0


# A syslog file's line read as text (a tailer of /var/log/syslog or messages): its time, host and
# tag come before the program's own message, which may start with a level.
_SYSLOG_FILE_LINE = re.compile(
    rf"(?:[A-Z][a-z]{{2}}\s+\d{{1,2}}\s\d\d:\d\d:\d\d|{_ISO})\s+[\w.-]+\s+[\w./-]+(?:\[\d+\])?:\s+"
)


def _syslog_file_level(line: str) -> int:
    found = _SYSLOG_FILE_LINE.match(line)
    if found is None:
        return 0
    name = leading_level_name(line[found.end() :])
    return LEVELS[name] if name else 0


# Redis: `12345:M 08 Dec 2026 00:45:37.123 # WARNING …` — its level is the mark after the time
# (`.` debug, `-` verbose, `*` notice, `#` warning).
_REDIS = re.compile(r"\d+:[XCSM] \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d\.\d+ ([.*#-]) ")
_REDIS_LEVELS = {".": DEBUG, "-": 7, "*": 10, "#": WARN}


def _redis_level(line: str) -> int:
    found = _REDIS.match(line) if line[:1].isdigit() else None
    return _REDIS_LEVELS[found.group(1)] if found is not None else 0


# PHP's own error log: `[08-Dec-2026 00:45:37 UTC] PHP Fatal error:  Uncaught …`. Its two-word
# levels are no level tokens; a fatal error ends the request, not the process: an error.
_PHP = re.compile(r"\[[^\]]{20,60}\] PHP (Fatal error|Parse error|Recoverable fatal error):")


def _php_level(line: str) -> int:
    return ERROR if line[:1] == "[" and _PHP.match(line) is not None else 0


def _apache_level(line: str) -> int:
    found = _APACHE.match(line) if line[:1] == "[" else None
    if found is None:
        return 0
    name = found.group(1)
    return TRACE if name == "trace" else severity_number(name)


def _klog_level(line: str) -> int:
    found = _KLOG.match(line) if line[:1] in _LETTER_LEVELS else None
    return LEVELS[found.group(1)] if found else 0
