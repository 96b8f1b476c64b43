"""One record per message: continuation lines folded into the record they continue.

Shippers that tail a file send a multi-line message as one record per line, and PostgreSQL writes
one message as several lines (`ERROR`, then `DETAIL`, `HINT`, `STATEMENT`, ...). `assemble` takes
a parsed batch, in the order sent, and

- folds every continuation into the record it continues, joined by "\\n": the record keeps its
  own time, level and attributes, and its id is derived again from the joined body (an id the
  sender gave is kept), so the same batch sent twice gives the same ids;
- gives a record sent without any level the one its message starts with (`severity` module).

A *continuation* continues the previous record of the same service:

- a PostgreSQL continuation level (DETAIL, HINT, STATEMENT, CONTEXT, QUERY, LOCATION), given as
  the level or as the leading level token of a record without one; when the line carries a pid
  (`... [812] DETAIL:`), it continues the latest record of that pid;
- for records without a level: a blank line, a line starting with whitespace, a Java frame
  (`at pkg.Class.method(`), `Caused by:`, `Suppressed:`, `... N more`, a Python frame
  (`File "`), Python's chained-exception sentences;
- a crash report's header (`Traceback (most recent call last):`, `java.lang.FooException: ...`,
  `goroutine 1 [running]:`) when the previous record is a warning or worse, the way
  `logger.exception()` or `log.error("...", e)` writes it; after a plain or INFO line it starts a
  record of its own, an ERROR. A Go `panic:` always starts its own record;
- inside a Python traceback, its closing exception line (`ValueError: ...`); inside a goroutine
  dump, its frames (`main.main()`).

Only records of one batch are joined: a message split across two batches stays two records.
The piece at the start of the later batch — continuation lines with nothing before them to
continue — keeps no level and is marked `premortem.fragment` (`domain.is_fragment`): stored and
shown, but neither training nor the predictor takes it for a message of its own (a shipper that
cut a traceback mid-way made a "new error" out of its tail). When it is the middle of a Python
traceback, the exception line that closes it is folded in too.

>>> from premortem.domain import LogRecord
>>> lines = ["ERROR:  deadlock detected", "DETAIL:  Process 812 waits", "LOG:  checkpoint"]
>>> for record in assemble([LogRecord(0, line) for line in lines]):
...     print(record.severity_text, repr(record.body))
ERROR 'ERROR:  deadlock detected\\nDETAIL:  Process 812 waits'
INFO 'LOG:  checkpoint'
"""

from __future__ import annotations

import dataclasses
import re

from premortem.domain import FRAGMENT_ATTRIBUTE, WARN_SEVERITY, LogRecord, is_fragment
from premortem.ingest.severity import (
    CONTINUATION_LEVELS,
    TIMESTAMP,
    headline,
    infer_severity,
    leading_level_name,
)

_FRAME = re.compile(
    r"\s|$"  # blank or indented: stack frames, code lines, wrapped text
    r"|at [\w$.<>/-]+\("  # Java frame with its indentation stripped
    r"|\.\.\. \d+ (?:more|common frames omitted)"
    r"|(?:Caused by|Suppressed): "
    r'|File "'  # Python frame
    r"|During handling of the above exception, another exception occurred:"
    r"|The above exception was the direct cause of the following exception:"
)
_PYTHON_TRACE = "Traceback (most recent call last):"
# The middle of a Python traceback: a frame, its code line, or the carets under it (a Java
# frame, `at ...`, is indented too, and is not one).
_PYTHON_MIDDLE = re.compile(r'\s*File "|\s*[~^]+\s*$|\s+(?!at )\S')
_CHAINED = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
_TRACE_STARTS = (_PYTHON_TRACE, "goroutine ", "panic: ")
_TRACE_FIRST = frozenset(start[0] for start in _TRACE_STARTS)
_GO_TRACE = re.compile(r"goroutine \d+ \[[^\]]*\]:")
_CRASH_HEADER = re.compile(
    rf"{re.escape(_PYTHON_TRACE)}|goroutine \d+ \["
    # `java.lang.Exception` itself too (HikariCP's leak report), not only `…FooException`
    r"|(?:[a-z_$][\w$]*\.)+(?:[A-Z][\w$]*)?(?:Exception|Error|Throwable)(?::\s|:?$)"
)
_GO_FRAME = re.compile(r"[\w./*()\[\]-]+\(.*\)$|created by |\[signal |goroutine \d+ \[")
# A stack's machinery inside a record: trace headers, frames (Python's, Java's, Go's), their
# code lines, carets and elisions — the lines that name code, not what happened (`readable`).
_MACHINERY = re.compile(
    rf"\s|{re.escape(_PYTHON_TRACE)}|at [\w$.<>/-]+\(|File \""
    r"|\.\.\. \d+ (?:more|common frames omitted)|goroutine \d+ \[|created by "
    r"|[\w./*()\[\]-]+\(.*\)$|" + "|".join(re.escape(line) for line in _CHAINED)
)
_BODY_PID = re.compile(rf"\s*{TIMESTAMP}\s+\[(\d+)(?:-\d+)?\]")
_PID_KEYS = ("pid", "process.pid", "syslog.procid")
_LOOKBACK = 1000  # records searched back for the record a line continues
_PID_LOOKBACK = 64  # records searched back for the message of a continuation's pid


class _ContinuationText(dict[str, bool]):
    """Severity text -> whether it is a continuation level, filled on first sight."""

    def __missing__(self, text: str) -> bool:
        if len(self) > 256:
            self.clear()
        found = self[text] = text.strip(" []:").upper() in CONTINUATION_LEVELS
        return found


_IS_CONTINUATION_TEXT = _ContinuationText()


@dataclasses.dataclass(slots=True)
class _Joined:
    """The lines of a record that received continuations, and the stack trace it is inside."""

    lines: list[str]
    trace: str = ""  # "python" or "go" while a traceback / goroutine dump is open


class _Batch:
    """The records kept so far, and where each service's latest line went.

    Records with a level of their own are appended without any bookkeeping (the hot path), so
    `previous` finds them by looking back from the end, as far as the last line it was told of.
    """

    def __init__(self) -> None:
        self.out: list[LogRecord] = []
        self.joined: dict[int, _Joined] = {}
        self._noted: dict[str, tuple[int, int]] = {}  # service -> (record index, len(out) then)

    def previous(self, service: str) -> int | None:
        """Index of the record the latest line of `service` belongs to."""
        out = self.out
        index, seen = self._noted.get(service, (-1, 0))
        for candidate in range(len(out) - 1, max(seen, len(out) - _LOOKBACK) - 1, -1):
            if out[candidate].service == service:
                return candidate
        return index if index >= 0 else None

    def keep(self, record: LogRecord) -> None:
        self.out.append(record)
        self._noted[record.service] = (len(self.out) - 1, len(self.out))
        self.open_trace(len(self.out) - 1, record.body)

    def keep_fragment(self, record: LogRecord) -> None:
        """Continuation lines with nothing before them in this batch: the rest of a message
        whose start was sent earlier."""
        derived = record.id == record.content_id()
        record.attributes = {**record.attributes, FRAGMENT_ATTRIBUTE: True}
        if derived:
            record.id = record.content_id()
        self.keep(record)
        if _PYTHON_MIDDLE.match(record.body) is not None:
            self.joined.setdefault(len(self.out) - 1, _Joined([record.body])).trace = "python"

    def join(self, index: int, body: str) -> None:
        self._noted[self.out[index].service] = (index, len(self.out))
        lines = self.joined.get(index)
        if lines is None:
            lines = self.joined[index] = _Joined([self.out[index].body])
        lines.lines.append(body)
        if body in _CHAINED:
            lines.trace = "chained"  # another traceback follows
        elif lines.trace == "python" and _FRAME.match(body) is None and body != _PYTHON_TRACE:
            lines.trace = ""  # the exception line ends the traceback
        elif lines.trace == "go" and _GO_FRAME.match(body) is None and _FRAME.match(body) is None:
            lines.trace = ""
        self.open_trace(index, body)

    def open_trace(self, index: int, body: str) -> None:
        """Note that `body` opens a traceback or goroutine dump inside record `index`."""
        if body.startswith(_PYTHON_TRACE):
            trace = "python"
        elif body.startswith("panic: ") or _GO_TRACE.match(body) is not None:
            trace = "go"
        else:
            return
        lines = self.joined.get(index)
        if lines is None:
            lines = self.joined[index] = _Joined([self.out[index].body])
        lines.trace = trace

    def trace(self, index: int) -> str:
        lines = self.joined.get(index)
        return lines.trace if lines is not None else ""

    def records(self) -> list[LogRecord]:
        out = self.out
        for index, lines in self.joined.items():
            if len(lines.lines) > 1:
                out[index] = rebuilt(out[index], "\n".join(lines.lines))
        return out


def assemble(records: list[LogRecord]) -> list[LogRecord]:
    """The batch with continuations folded in and missing levels read from the messages."""
    batch = _Batch()
    append = batch.out.append
    is_continuation = _IS_CONTINUATION_TEXT
    for record in records:
        text = record.severity_text
        if text or record.severity_number:
            if not is_continuation[text]:  # the hot path: a record with its own level
                append(record)
                if record.body[:1] in _TRACE_FIRST and record.body.startswith(_TRACE_STARTS):
                    batch.open_trace(len(batch.out) - 1, record.body)
                continue
            target = _pid_target(batch, record)
        elif record.attributes and is_fragment(record):
            # A piece a premortem server already kept apart (its own pages, replayed): as it
            # was stored, or a replay folds what the live server did not.
            target = None
        else:
            target = _levelless_target(batch, record)
        if target is None:
            batch.keep(record)
        elif target != _FRAGMENT_KEPT:
            batch.join(target, record.body)
    return batch.records()


_FRAGMENT_KEPT = -1


def _levelless_target(batch: _Batch, record: LogRecord) -> int | None:
    """Where a record sent without a level belongs; if nowhere, give it its message's level."""
    body = record.body
    index = batch.previous(record.service)
    if index is not None and _continues(body, batch.out[index], batch.trace(index)):
        return index
    if index is None and body and _FRAME.match(body) is not None:
        batch.keep_fragment(record)
        return _FRAGMENT_KEPT
    line = headline(body)
    name = leading_level_name(line)
    if name in CONTINUATION_LEVELS:
        target = _pid_target(batch, record)
        if target is not None:
            return target
    derived = record.id == record.content_id()
    record.severity_number, record.severity_text = infer_severity(line, leading_name=name)
    if derived and (record.severity_number or record.severity_text):
        record.id = record.content_id()  # the level is part of the id
    return None


def _continues(body: str, head: LogRecord, trace: str) -> bool:
    if _FRAME.match(body) is not None:
        return True
    if trace == "python":
        return True  # the exception line that closes the traceback
    if trace == "chained":
        return body.startswith(_PYTHON_TRACE)
    if trace == "go" and _GO_FRAME.match(body) is not None:
        return True
    return head.severity_number >= WARN_SEVERITY and _CRASH_HEADER.match(body) is not None


def _pid_target(batch: _Batch, record: LogRecord) -> int | None:
    """The record a PostgreSQL continuation continues: the latest one of its service and pid."""
    index = batch.previous(record.service)
    if index is None:
        return None
    out = batch.out
    pid = _pid(record)
    if not pid or not _pid(out[index]):
        return index  # no pid on one side: the previous record of the service
    for candidate in range(index, max(index - _PID_LOOKBACK, -1), -1):
        head = out[candidate]
        if head.service == record.service and _pid(head) == pid:
            return candidate
    return None


def _pid(record: LogRecord) -> str:
    attributes = record.attributes
    for key in _PID_KEYS:
        value = attributes.get(key)
        if value is not None:
            return str(value)
    found = _BODY_PID.match(record.body)
    return found.group(1) if found else ""


def readable(body: str) -> str:
    """A record's text without its stack machinery (`_MACHINERY`): the message, its exception
    lines (`urllib.error.HTTPError: HTTP Error 502: Bad Gateway`, `Caused by: ...`) and
    PostgreSQL's DETAIL and HINT stay. A frame's code line names what the code does, not what
    broke: `urlopen(req, timeout=TIMEOUT)` in a full disk's traceback named it a timeout (a
    trial). A body that is machinery only is kept whole."""
    if "\n" not in body:
        return body
    kept = [line for line in body.split("\n") if line.strip() and not _MACHINERY.match(line)]
    return "\n".join(kept) if kept else body


def rebuilt(record: LogRecord, body: str) -> LogRecord:
    """`record` with the joined body; an id derived from the old body is derived again."""
    derived = record.content_id() == record.id
    return dataclasses.replace(record, body=body, id="" if derived else record.id)
