"""Sessions and the next-template model: which template is unexpected after the last few.

A *session* is the sequence of templates that share a key: a trace id, a request id, an HDFS
block id. `SessionKeys` extracts the key from a record, `SessionTracker` remembers the last few
templates of each live session, and `NextTemplateDetector` is an n-gram model of
P(next template | previous templates) with Witten–Bell interpolation down to the unigram, so an
unseen context falls back to shorter ones and an unseen continuation of a well-known context is
very surprising.

`x = {"context": tuple[int, ...], "template": int}`; the score is the surprise in bits,
`-log2 P(template | context)`.

>>> detector = NextTemplateDetector(order=1)
>>> for _ in range(100):
...     for context, template in [((START,), 1), ((1,), 2), ((2,), 3)]:
...         detector.learn_one({"context": context, "template": template})
>>> detector.score_one({"context": (1,), "template": 2}) < 1
True
>>> detector.score_one({"context": (1,), "template": 3}) > 8
True
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from premortem.domain import LogRecord

START = -1  # context of a session before its first record
END = -2  # pseudo-template for "the session ended here" (used when a session is known complete)

Context = tuple[int, ...]


class NextTemplateDetector:
    """Interpolated n-gram model over template ids; `order` previous templates form the context.

    Memory is bounded by `max_contexts` (the context first seen longest ago is dropped) and by
    `max_next` continuations per context (the one first seen longest ago is dropped): with a
    million templates the empty context would otherwise count every one of them.
    """

    # context -> [times seen, {next template: count}]
    counts_: OrderedDict[Context, tuple[list[int], dict[int, int]]] | None = None

    def __init__(
        self, *, order: int = 2, max_contexts: int = 200_000, max_next: int = 10_000
    ) -> None:
        self.order = order
        self.max_contexts = max_contexts
        self.max_next = max_next

    def learn_one(self, x: Mapping[str, Any]) -> None:
        if self.counts_ is None:
            self.counts_ = OrderedDict()
        context: Context = tuple(x["context"])[-self.order :] if self.order else ()
        template = int(x["template"])
        for k in range(len(context) + 1):
            suffix = context[len(context) - k :]
            entry = self.counts_.get(suffix)
            if entry is None:
                if len(self.counts_) >= self.max_contexts:
                    self.counts_.popitem(last=False)
                entry = self.counts_[suffix] = ([0], {})
            entry[0][0] += 1
            nexts = entry[1]
            if template not in nexts and len(nexts) >= self.max_next:
                del nexts[next(iter(nexts))]
            nexts[template] = nexts.get(template, 0) + 1

    def score_one(self, x: Mapping[str, Any]) -> float:
        return -math.log2(self.probability(x))

    def probability(self, x: Mapping[str, Any]) -> float:
        """P(template | context), interpolated from the empty context up to the full one."""
        template = int(x["template"])
        counts: Mapping[Context, tuple[list[int], dict[int, int]]] = self.counts_ or {}
        unigram = counts.get(())
        if unigram is None:
            return 1.0  # nothing learned: nothing can be unexpected yet
        seen, nexts = unigram[0][0], unigram[1]
        probability = (nexts.get(template, 0) + 1.0) / (seen + len(nexts) + 1.0)
        context: Context = tuple(x["context"])[-self.order :] if self.order else ()
        for k in range(1, len(context) + 1):
            entry = counts.get(context[len(context) - k :])
            if entry is None:
                continue
            seen, nexts = entry[0][0], entry[1]
            weight = seen / (seen + len(nexts))
            probability = weight * nexts.get(template, 0) / seen + (1 - weight) * probability
        return probability


class SessionTracker:
    """The last `order` templates of each live session (at most `max_sessions`, LRU)."""

    sessions_: OrderedDict[str, Context] | None = None

    def __init__(self, *, order: int = 2, max_sessions: int = 100_000) -> None:
        self.order = order
        self.max_sessions = max_sessions

    def context(self, key: str) -> Context:
        sessions: Mapping[str, Context] = self.sessions_ or {}
        return sessions.get(key, (START,))

    def push(self, key: str, template: int) -> Context:
        """Append a template to a session; returns the context it was seen in."""
        if self.sessions_ is None:
            self.sessions_ = OrderedDict()
        context = self.sessions_.pop(key, (START,))
        if len(self.sessions_) >= self.max_sessions:
            self.sessions_.popitem(last=False)
        self.sessions_[key] = (*context, template)[-self.order :] if self.order else ()
        return context

    def __len__(self) -> int:
        return len(self.sessions_ or {})


DEFAULT_ATTRIBUTES = ("session.id", "session_id", "request_id", "request.id", "block_id")
DEFAULT_PATTERNS = (
    r"blk_-?\d+",  # HDFS block
    r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",  # OpenStack request
)


class SessionKeys:
    """Where a record's session key comes from, in order: attributes, the trace id, the body."""

    def __init__(
        self,
        *,
        attributes: Sequence[str] = DEFAULT_ATTRIBUTES,
        patterns: Sequence[str] = DEFAULT_PATTERNS,
        use_trace_id: bool = True,
    ) -> None:
        self.attributes = tuple(attributes)
        self.use_trace_id = use_trace_id
        self.pattern = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None

    def _settings(self) -> tuple[object, ...]:
        return (self.attributes, self.use_trace_id, self.pattern.pattern if self.pattern else None)

    def __eq__(self, other: object) -> bool:
        # By settings: a restored analyzer's config equals the one it was saved with.
        return isinstance(other, SessionKeys) and self._settings() == other._settings()

    def __hash__(self) -> int:
        return hash(self._settings())

    def key(self, record: LogRecord) -> str | None:
        if record.attributes:
            for name in self.attributes:
                value = record.attributes.get(name)
                if value:
                    return str(value)
        if self.use_trace_id and record.trace_id:
            return record.trace_id
        if self.pattern is not None:
            found = self.pattern.search(record.body)
            if found:
                return found.group()
        return None
