"""Syslog lines, RFC 5424 and the older BSD format (RFC 3164), one message per line.

The severity comes from PRI (facility x 8 + severity) and is mapped onto OpenTelemetry's scale;
the service is APP-NAME (5424) or TAG (3164). RFC 3164 times carry neither year nor zone: they are
read as UTC in the year of `now_ns` (the previous year if that would put them in the future); an
RFC 3339 time in their place (rsyslog's `RSYSLOG_ForwardFormat`) is read as such.
A line may carry an RFC 6587 octet-count prefix (`123 <34>1 ...`). `parse_lines` reads one
message per line; `parse_line` takes one whole message, newlines and all (as the syslog listener
of `premortem serve` cuts them from a stream). `assemble` turns a batch of parsed lines into the
messages their senders wrote (PostgreSQL's chunks joined, the message's own level over PRI's).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from premortem.domain import JSON, LogRecord, severity_text_from_number
from premortem.errors import IngestError
from premortem.ingest import multiline
from premortem.ingest.fields import check_log_lengths, rfc3339_to_ns
from premortem.ingest.identity import identify_untimed
from premortem.ingest.severity import (
    CONTINUATION_LEVELS,
    access_level,
    headline,
    leading_level_name,
    severity_number,
    stated_level,
)

# syslog severity code -> its name, whose OpenTelemetry number is in the `severity` table
_SEVERITY_NAMES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_SEVERITY_NUMBERS = tuple(severity_number(name) for name in _SEVERITY_NAMES)
_NIL = "-"

_PRI = re.compile(r"(?:\d+ )?<(\d{1,3})>")
_RFC5424 = re.compile(r"1 (\S+) (\S+) (\S+) (\S+) (\S+) ?")
_RFC3164 = re.compile(
    r"(?:([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"  # timestamp, or RFC 3339 (rsyslog's ForwardFormat)
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) )?"
    r"(?:([^\s\[]*[^\s:\]]) )?"  # hostname (never ends in ':' so a bare 'tag:' is not taken)
    r"(?:([^\s:\[]+)(?:\[([^\]]*)\])?: ?)?"  # TAG[PID]:
)
_SD_PARAM = re.compile(r'\s*([^\s=\]"]+)="((?:[^"\\]|\\.)*)"')
# PostgreSQL's syslog_sequence_numbers (on by default) starts each line it sends with "[seq] ";
# a message of several lines (an ERROR with its DETAIL and STATEMENT) or longer than its syslog
# limit goes as chunks "[seq-1] ", "[seq-2] ", ... of one sequence number.
_SEQUENCE = re.compile(r"\[(\d+)(?:-(\d+))?\] ")


def parse_lines(data: bytes | str, *, now_ns: int) -> list[LogRecord]:
    """One record per non-empty line; raises on the first line that is not syslog."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    records = []
    for index, line in enumerate(line for line in text.splitlines() if line.strip()):
        try:
            record = parse_line(line, now_ns=now_ns)
            check_log_lengths(record, {"service": "/app-name"})
            records.append(record)
        except IngestError as exc:
            raise exc.at(f"/{index}") from None
    records = assemble(records)
    # A line without TIMESTAMP was stamped now_ns: its id must not depend on it.
    identify_untimed(records, [i for i, r in enumerate(records) if r.time_ns == now_ns])
    return records


def assemble(records: list[LogRecord]) -> list[LogRecord]:
    """A batch of syslog lines (in the order received) as the messages their senders wrote.

    - PostgreSQL's sequence prefix is taken off, and the chunks of one message (the same service,
      process and sequence number; chunk n right after chunk n - 1 of it, other senders' lines in
      between allowed) become one record, joined by newlines;
    - a message that states its level at its start (`ERROR:  ...`, `[WARN] ...`, a timestamp and
      then `LOG:`) takes that level rather than PRI's: senders map their levels onto syslog's
      eight coarsely (PostgreSQL sends an ERROR as `warning`); PRI's stays in `syslog.severity`;
    - then the continuation rules of every log parser (`multiline.assemble`): a `DETAIL:`,
      `HINT:` or `STATEMENT:` line sent on its own continues the latest message of its process.
    """
    out: list[LogRecord] = []
    chunks: dict[tuple[str, object, str], tuple[int, int]] = {}  # message -> (index, last chunk)
    for record in records:
        found = _SEQUENCE.match(record.body)
        if found is not None:
            rest = record.body[found.end() :]
            key = (record.service, record.attributes.get("syslog.procid"), found.group(1))
            chunk = int(found.group(2) or 1)
            head = chunks.get(key)
            if head is not None and chunk == head[1] + 1:
                joined = f"{out[head[0]].body}\n{rest}"
                out[head[0]] = multiline.rebuilt(out[head[0]], joined)
                chunks[key] = (head[0], chunk)
                continue
            # A first chunk is taken for PostgreSQL's only when a level follows the prefix: an
            # application's own "[42] worker started" keeps its text.
            if chunk == 1 and leading_level_name(headline(rest)[:200]):
                derived = record.id == record.content_id()
                record.body = rest
                if derived:
                    record.id = record.content_id()
                chunks[key] = (len(out), chunk)
        _own_level(record)
        out.append(record)
    return multiline.assemble(out)


def _own_level(record: LogRecord) -> None:
    """The level the message states in its own header, if it states one (`stated_level`: a
    leading level word, logfmt's `level=`, a klog header, a JSON object's `level`; or an access
    line's 5xx status): a tailer such as rsyslog's imfile sends every line at one PRI."""
    line = headline(record.body)[:200]
    name = leading_level_name(line)
    # an access line's 5xx is its own too (nginx sends its access log at one PRI, `info`)
    number = stated_level(line, leading_name=name) or access_level(record.body)
    if not number:
        return
    derived = record.id == record.content_id()
    record.severity_number = number
    # A continuation keeps its name: that is how `multiline.assemble` knows it.
    record.severity_text = (
        name if name in CONTINUATION_LEVELS else severity_text_from_number(number)
    )
    if derived:
        record.id = record.content_id()


def parse_line(line: str, *, now_ns: int) -> LogRecord:
    head = _PRI.match(line)
    if head is None:
        raise IngestError(f"not a syslog message (no <PRI> at the start): {line[:64]!r}")
    pri = int(head.group(1))
    if pri > 191:
        raise IngestError(f"PRI must be 0..191, got {pri}")
    rest = line[head.end() :]
    if _RFC5424.match(rest):
        return _rfc5424(rest, pri, now_ns)
    return _rfc3164(rest, pri, now_ns)


def _severity(pri: int) -> tuple[int, JSON]:
    facility, code = divmod(pri, 8)
    attributes: JSON = {"syslog.facility": facility, "syslog.severity": _SEVERITY_NAMES[code]}
    return _SEVERITY_NUMBERS[code], attributes


def _rfc5424(rest: str, pri: int, now_ns: int) -> LogRecord:
    header = _RFC5424.match(rest)
    assert header is not None  # checked by the caller
    stamp, host, app, procid, msgid = header.groups()
    number, attributes = _severity(pri)
    if stamp == _NIL:
        time_ns = now_ns
    else:
        try:
            time_ns = rfc3339_to_ns(stamp)
        except ValueError as exc:
            raise IngestError(f"invalid TIMESTAMP {stamp!r}: {exc}", pointer="/timestamp") from exc
    structured, message = _structured_data(rest[header.end() :])
    attributes.update(structured)
    if procid != _NIL:
        attributes["syslog.procid"] = procid
    if msgid != _NIL:
        attributes["syslog.msgid"] = msgid
    return LogRecord(
        time_ns=time_ns,
        body=message.removeprefix("\ufeff"),
        service="" if app == _NIL else app,
        severity_number=number,
        severity_text=severity_text_from_number(number),
        attributes=attributes,
        resource={} if host == _NIL else {"host.name": host},
    )


def _structured_data(text: str) -> tuple[JSON, str]:
    """STRUCTURED-DATA elements as `sd-id.param` attributes, and the message after them."""
    if text.startswith(_NIL):
        return {}, text[2:]
    attributes: JSON = {}
    position = 0
    while text.startswith("[", position):
        end = position + 1
        while end < len(text) and text[end] not in " ]":
            end += 1
        sd_id = text[position + 1 : end]
        while (param := _SD_PARAM.match(text, end)) is not None:
            value = re.sub(r"\\([\"\\\]])", r"\1", param.group(2))
            attributes[f"{sd_id}.{param.group(1)}"] = value
            end = param.end()
        if not text.startswith("]", end):
            raise IngestError(f"malformed STRUCTURED-DATA near {text[position : end + 16]!r}")
        position = end + 1
    if position == 0:
        raise IngestError(f"STRUCTURED-DATA must be '-' or [elements], got {text[:32]!r}")
    return attributes, text[position + 1 :]


def _rfc3164(rest: str, pri: int, now_ns: int) -> LogRecord:
    header = _RFC3164.match(rest)
    assert header is not None  # every group is optional, so it always matches
    stamp, host, tag, pid = header.groups()
    number, attributes = _severity(pri)
    if pid:
        attributes["syslog.procid"] = pid
    return LogRecord(
        time_ns=_rfc3164_time(stamp, now_ns) if stamp else now_ns,
        body=rest[header.end() :],
        service=tag or "",
        severity_number=number,
        severity_text=severity_text_from_number(number),
        attributes=attributes,
        resource={"host.name": host} if host else {},
    )


def _rfc3164_time(stamp: str, now_ns: int) -> int:
    if stamp[0].isdigit():  # RFC 3339, as rsyslog's RSYSLOG_ForwardFormat writes it
        try:
            return rfc3339_to_ns(stamp)
        except ValueError as exc:
            raise IngestError(f"invalid TIMESTAMP {stamp!r}: {exc}", pointer="/timestamp") from exc
    now = datetime.fromtimestamp(now_ns / 1e9, tz=UTC)
    try:
        parsed = datetime.strptime(f"{now.year} {' '.join(stamp.split())}", "%Y %b %d %H:%M:%S")
    except ValueError as exc:
        raise IngestError(f"invalid TIMESTAMP {stamp!r}: {exc}", pointer="/timestamp") from exc
    moment = parsed.replace(tzinfo=UTC)
    if moment.timestamp() > now.timestamp() + 86_400:  # December's lines read in January
        moment = moment.replace(year=now.year - 1)
    return int(moment.timestamp()) * 1_000_000_000
