"""Readable names for failure modes: what broke, not which check noticed it.

A check's report ("probe api-health-ok failed its tolerance (status 503: ...)") says *that*
something failed; the failure's own log lines, or the words inside the report, say *what*. The
name is looked for in that order of trust:

1. a recognised failure phrase (`FAILURE_PHRASES`: general SRE vocabulary, not per dataset) in
   the lines logged at the failure's onset, then in the failure details;
2. an assertion token in the details (`FAILURE_VOLUME_ATTACHED` → "volume attached check failed");
3. a recognised failure phrase in the precursors (what led to the failure, so trusted less);
4. the content words of the first onset line, else of the details, with variables masked and
   probe/test boilerplate dropped.

When the details name a failed command ("API ERROR: openstack server create ..."), the operation
is added ("internal server error in server create"), or is the name ("server create failed").
The service is the prefix. Everything is a pure function of its arguments, so retraining gives
the same names.

>>> mode_name("shop-api", "probe api-health-ok failed", ["pool exhausted: 10 of 10 in use"])
'shop-api: connection pool exhaustion'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from premortem.ingest.multiline import readable
from premortem.ingest.severity import message_part
from premortem.logs.masking import mask

# The name a bare "timed out" gets in FAILURE_PHRASES; `recognised_phrase` says what it means.
BARE_TIMEOUT = "timeout"
# (pattern, name), most specific first: the first pattern found in a text names the failure, so
# "pool exhausted: timed out after 2000 ms" is pool exhaustion, not a timeout. Patterns run on
# `normalised` text: lower case, CamelCase split ("ShareLock" → "share lock"), `_`/`-` as spaces.
FAILURE_PHRASES: tuple[tuple[str, str], ...] = (
    (r"\bdeadlock", "deadlock"),
    (
        r"\block (?:wait )?time ?out|\block request timed out|\block not available",
        "lock wait timeout",
    ),
    (
        r"\bwait(?:s|ing)? for \w*(?: \w+)? lock\b|\block wait|\block contention"
        r"|\b(?:share|exclusive|advisory|row|table) lock\b|\bblocked by (?:process|transaction)",
        "lock contention",
    ),
    (
        r"\btoo many (?:connections|clients)|\bremaining connection slots"
        r"|\bmax (?:user )?connections",
        "connection limit reached",
    ),
    (
        r"\bpool\b[^.;]{0,40}\b(?:exhaust\w*|depleted|empty|full|limit)"
        r"|\bconnection is not available|\bwaiting for (?:a|an idle) (?:connection|object)"
        r"|(?:\b\d+|<\*>) of (?:\d+|<\*>) connections in use"
        r"|\bno (?:free|available|idle) connections?"
        r"|\bno (?:database |db )?connections? (?:available|left)"
        # ActiveRecord's "could not obtain a connection from the pool within 5.000 seconds
        # … all pooled connections were in use", SQLAlchemy's "QueuePool limit … reached"
        r"|\bcould not obtain a (?:database )?connection|\ball pooled connections"
        r"|\bqueue ?pool limit|\bno (?:database |db )?connection within"
        # "timed out acquiring db connection after 2000 ms"
        r"|\b(?:timed out|timeout) (?:while )?(?:acquiring|obtaining|getting|waiting for)"
        r" (?:a |an )?(?:\w+ )?connection\b",
        "connection pool exhaustion",
    ),
    (
        r"\bout of memory|\boom\b|\boom killed|\bmemory error|\bheap space|\bgc overhead"
        r"|\bcannot allocate memory|\bmemory (?:exhausted|limit exceeded)|\bbad alloc"
        # a supervisor's kill: "killed: rss 301 MB exceeded memory limit 300 MB"
        r"|\bexceed\w* (?:the |its )?memory limit|\bmemory limit (?:reached|hit)"
        r"|\b(?:rss|resident (?:set|memory))\b[^.;\n]{0,40}\bexceed",
        "memory exhaustion",
    ),
    (
        r"\btoo many open files|\bemfile\b|\bfile descriptors? (?:exhausted|limit)"
        r"|\bout of file descriptors|\bopen files limit",
        "file descriptor exhaustion",
    ),
    (
        r"\bno space left|\bdisk (?:is )?full|\bdisk quota|\benospc\b|\bfile ?system (?:is )?full"
        r"|\b(?:volume|partition|file ?system|mount)\b[^.;\n]{0,40}\bfull\b",
        "disk full",
    ),
    (
        r"\bcertificate (?:has )?expired|\bcertificate verify failed|\bx509\b"
        r"|\b(?:ssl|tls) handshake",
        "TLS certificate failure",
    ),
    (
        r"\bname or service not known|\btemporary failure in name resolution"
        r"|\bcould not resolve host|\bnxdomain\b|\bno such host\b|\bdns\b",
        "DNS resolution failure",
    ),
    (
        # Hystrix "short-circuited and is OPEN", resilience4j "CircuitBreaker 'x' is OPEN" /
        # CallNotPermittedException, Polly BrokenCircuitException, a CircuitOpenError.
        r"\bcircuit (?:breaker )?(?:is )?(?:now )?open|\bcircuit\b[^.;\n]{0,40}?\bis (?:now )?open"
        r"|\bshort circuited|\bbroken circuit|\bcall not permitted",
        "circuit breaker open",
    ),
    (
        # "timed out in the work queue"; "request timed out after 2000 ms waiting in queue"
        r"\btimed out in (?:the )?(?:work )?queue"
        r"|\btimed out\b[^.;\n]{0,40}?\bwaiting in (?:the )?(?:\w+ )?queue",
        "queue wait timeout",
    ),
    (
        r"\bqueue (?:(?!not\b|isn't\b)\S+ )?(?:is )?(?:full|overflow\w*)|\bqueue capacity"
        r"|\brejected execution"
        r"|\bbacklog (?:is )?full",
        "queue overflow",
    ),
    (r"\btoo many requests|\brate limit\w*|\bthrottl\w+", "rate limiting"),
    (
        r"\bstatement timeout|\bquery (?:timeout|timed out)|\bslow query",
        "slow query timeout",
    ),
    (
        r"\bupstream\b[^.;]{0,30}\btime\w* ?out|\bgateway time ?out|\bdeadline exceeded"
        r"|\bdid not (?:answer|respond|reply)\b|\bno (?:answer|response|reply) from\b"
        r"|\btimed out\b[^.;\n]{0,40}?\b(?:calling|downstream|upstream|dependency|backend)\b"
        r"|\b(?:downstream|dependency|backend) (?:\w+ )?(?:timed out|time ?out)",
        "slow dependency timeout",
    ),
    # A bare "timed out" names no dependency: in a service's own lines it is a call of its that
    # timed out, in a probe's report the system under test not answering (`mode_name`).
    (r"\btimed out\b|\btime ?out\b|\bno (?:answer|response|reply) within\b", BARE_TIMEOUT),
    (r"\bno valid host", "no valid host"),
    (
        r"\b(?:database|db|postgres\w*|mysql|redis|mongo\w*)\b[^.;]{0,30}"
        r"\b(?:unavailable|down|refused|unreachable|shutting down|starting up|in recovery)"
        r"|\bcould not connect to (?:the )?(?:server|database)",
        "database unavailable",
    ),
    (
        r"\bconnection refused|\beconnrefused\b|\bconnection reset|\beconnreset\b"
        r"|\bno route to host|\b(?:host|network) (?:is )?unreachable|\bbroken pipe",
        "dependency unavailable",
    ),
    (
        r"\bsegmentation fault|\bsigsegv\b|\bsigkill\b|\bcore dumped|\bpanic\b|\bcrash ?loop"
        r"|\b(?:worker|process|thread|pod|container)\b[^.;]{0,20}"
        r"\b(?:died|crashed|killed|exited unexpectedly|terminated)",
        "worker crash",
    ),
    (
        r"\b(?:workers?|threads?|consumers?|executors?)\b[^.;\n]{0,40}"
        r"\b(?:stuck|hung|hanging|stalled|blocked for)\b|\bhung (?:task|thread|worker)s?\b",
        "stuck workers",
    ),
    (r"\bcpu (?:saturat\w*|throttl\w*|starv\w*|exhaust\w*)|\bhigh cpu", "CPU saturation"),
    (r"\bconnection leak", "connection leak"),
    # Words only, no status numbers: the masked template, which names a mode, has none.
    (r"\bservice unavailable", "service unavailable"),
    (r"\binternal server error", "internal server error"),
    (r"\bunauthori[sz]ed|\bforbidden\b|\bpermission denied|\baccess denied", "permission denied"),
    (r"\binvalid (?:input|argument|request)|\bbad request\b", "invalid request"),
    (r"\bno \w+ found\b|\bnot found\b", "resource not found"),
)
_PHRASES = tuple((re.compile(pattern), name) for pattern, name in FAILURE_PHRASES)

# Words that say a check failed rather than what failed (Chaos Toolkit, test runners, log levels).
# Never a negation: "order not settled" without its "not" says the opposite.
_BOILERPLATE_WORDS = """
    probe probes steady state hypothesis deviated deviation tolerance tolerances met expected
    got actual outcome http status code output body failed fails failure failures error errors
    exception check checks test tests assertion assertions results result run runs experiment
    info warning warn fatal critical debug log detail statement hint traceback true false null
    none the and for with was were its this that from into has have had but are an in on at
    to of by as is after before within via
"""
BOILERPLATE = frozenset(_BOILERPLATE_WORDS.split())
_ASSERTION = re.compile(r"\bFAILURE_([A-Z][A-Z0-9_]*)")
# A dotted logger name before the message (`orders.api: order 7 not settled`) names the code,
# not what broke; after a level word too (`ERROR ledger.transfer: transfer 7 aborted`).
_LOGGER = re.compile(
    r"^\s*(?:(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL)\s+)?"
    r"[A-Za-z_][\w$-]*(?:\.[\w$-]+)+:\s"
)
_PROBE_NAME = re.compile(r"\bprobe\s+\S+", re.IGNORECASE)
# Fields that tie a line to a request, not to what broke (`TraceID: 7f… SpanID: 01…`,
# `request_id=…`), and a Java logger's name as logback abbreviates it, one letter a package
# (`f.m.c.StationController#71`, `o.a.c.c.C.[.[localhost].[/].[dispatcherServlet]`): they
# name the code path, not the failure (`java.lang.OutOfMemoryError`, unabbreviated, stays).
_CORRELATION = re.compile(
    r"\b(?:trace|span|request|correlation|parent)[_ -]?id\b\s*[:=]?\s*\S*", re.IGNORECASE
)
_JAVA_CLASS = re.compile(r"(?<!\S)(?:[a-z]\.)+[A-Z][\w$.\[\]/-]*(?:#\d+)?")
_COMMAND = re.compile(r"\b(?:api error|command failed|error running)\s*:?\s+(.*)", re.IGNORECASE)
_COMMAND_WORD = re.compile(r"[a-z][a-z_]*")
# A hyphenated compound is one word ("in-flight": its "in" alone is boilerplate and was dropped).
_CONTENT_WORD = re.compile(r"[A-Za-z][A-Za-z_]*(?:-[A-Za-z][A-Za-z_]*)+|[A-Za-z][A-Za-z_]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_MAX_WORDS = 5
# A logfmt line (`ts=… level=error svc=gateway msg="payment failed: …" id=…`): its message is the
# `msg` value; the keys name the format, not what broke.
_LOGFMT_MESSAGE = re.compile(r'(?:^|\s)(?:msg|message)=(?:"((?:[^"\\]|\\.)*)"|(\S+))')


def mode_name(
    service: str,
    details: str,
    manifest_lines: Sequence[str] = (),
    precursor_lines: Sequence[str] = (),
) -> str:
    """`service: what broke`, e.g. "shop-api: connection pool exhaustion" (see module doc)."""
    phrase = (
        recognised_phrase(manifest_lines)
        # a probe's "timed out" is the system under test not answering, not a dependency of it
        # (a trial: lock waits and a worker pool's exhaustion named "slow dependency timeout")
        or recognised_phrase([details], bare="request timeout")
        or _assertion_name(details)
        or recognised_phrase(precursor_lines)
    )
    operation = failed_operation(details)
    if phrase and operation:
        phrase = f"{phrase} in {operation}"
    elif operation:
        phrase = f"{operation} failed"
    else:
        phrase = (
            phrase
            or content_words(manifest_lines[:1], besides=service)
            or content_words([details], besides=service)
        )
    text = phrase or "failure"
    return f"{service}: {text}" if service else text


def normalised(text: str) -> str:
    """Lower case, CamelCase split and `_`/`-` as spaces, so phrases match on word boundaries.

    >>> normalised("ShareLock java.lang.OutOfMemoryError connection_leak")
    'share lock java.lang.out of memory error connection leak'
    """
    return " ".join(_CAMEL.sub(" ", text).replace("_", " ").replace("-", " ").lower().split())


def recognised_phrase(lines: Iterable[str], *, bare: str = "slow dependency timeout") -> str | None:
    """The name of the most specific failure phrase found in any of the lines (their stack
    frames left out), or None; a bare "timed out" is called `bare`."""
    text = "\n".join(normalised(readable(line)) for line in lines)
    if not text:
        return None
    found = next((name for pattern, name in _PHRASES if pattern.search(text)), None)
    return bare if found == BARE_TIMEOUT else found


def failed_operation(details: str) -> str | None:
    """The command a failure report names ("API ERROR: openstack server create ..."), briefly.

    Words up to the first option, variable or separator; of three or more, the first is the
    program ("openstack") and is dropped.
    """
    found = _COMMAND.search(details)
    if not found:
        return None
    words: list[str] = []
    for word in found.group(1).split():
        if not _COMMAND_WORD.fullmatch(word.lower()) or len(words) == 4:
            break
        words.append(word.lower())
    if len(words) > 2:
        words = words[1:]
    return " ".join(words) or None


def _assertion_name(details: str) -> str | None:
    found = _ASSERTION.search(details)
    if not found:
        return None
    return f"{found.group(1).replace('_', ' ').lower()} check failed"


def content_words(lines: Sequence[str], *, besides: str = "") -> str | None:
    """The first few masked words of the lines that are not probe/test boilerplate, or None;
    nor the service's name (`besides`), which the mode's name starts with already ("gateway:
    gateway request upstream")."""
    messages = (_LOGGER.sub("", _message(readable(line)), count=1) for line in lines)
    text = _PROBE_NAME.sub(" ", mask(" ".join(messages)))
    text = _JAVA_CLASS.sub(" ", _CORRELATION.sub(" ", text))
    own = normalised(besides)
    words = [
        word
        for word in (normalised(w) for w in _CONTENT_WORD.findall(text))
        if len(word) > 1 and word not in BOILERPLATE and word != own
    ]
    return " ".join(words[:_MAX_WORDS]) or None


def _message(line: str) -> str:
    """The message of a log line: a logfmt line's `msg` value, else the line after its header."""
    found = _LOGFMT_MESSAGE.search(line)
    if found is not None:
        return found.group(1) if found.group(1) is not None else found.group(2)
    return message_part(line)
