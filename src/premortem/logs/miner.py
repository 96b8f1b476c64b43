"""Streaming template mining in the manner of Drain, without Drain's known failure modes.

A message is masked (`premortem.logs.masking`), runs of variables collapse into one ``<*>``, and
the resulting tokens are compared with the templates of the same service and token count. Where
Drain compares every token, this miner compares *constant* tokens only, so a line that is mostly
parameters joins its template instead of founding a new one per occurrence; and it refuses a match
that rests on too few shared words, so short messages ("VM Started" vs "VM Paused") stay apart.

Speed comes from two caches in front of the search: one keyed by the message with every digit
turned into ``0`` (one C-level ``bytes.translate``), one keyed by the masked text. Both are plain
bounded dicts; the clustering itself runs only for a shape never seen before.

A multi-line message (a PostgreSQL error with its DETAIL lines, a stack trace) is templated by its
first line only: what varies below the headline names no other event.

State (`dumps`/`loads`) holds the templates and the id counter; where it is kept is the caller's
business. Template ids are global across services and never reused, evicted ids included.

Memory is bounded whatever the cardinality: at most `max_templates` templates (the rarest are
evicted, and `on_evict` is told their ids so whoever keeps statistics can drop them too), and the
two caches hold at most `cache_limit` entries each over all services together.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, cast

import orjson

from premortem.domain import Template
from premortem.logs.masking import DIGITS_TO_ZERO, WILDCARD, digit_shape, mask

_STATE_VERSION = 1
_CACHE_LIMIT = 1 << 16
# A mismatch is only tolerated between templates that share at least this many constant words.
_MIN_SHARED_FOR_MISMATCH = 3

ParamGetter = Callable[[str], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Match:
    template_id: int
    template: str
    parameters: tuple[str, ...]
    is_new: bool


# Match is frozen; building it through its slot descriptors skips the frozen __setattr__ guard,
# which is a third of the cost of a cache hit.
_MATCH_SLOTS = cast(Any, Match)
_SET_ID = _MATCH_SLOTS.template_id.__set__
_SET_TEMPLATE = _MATCH_SLOTS.template.__set__
_SET_PARAMETERS = _MATCH_SLOTS.parameters.__set__
_SET_IS_NEW = _MATCH_SLOTS.is_new.__set__


def _new_match(template_id: int, template: str, parameters: tuple[str, ...], is_new: bool) -> Match:
    match = object.__new__(Match)
    _SET_ID(match, template_id)
    _SET_TEMPLATE(match, template)
    _SET_PARAMETERS(match, parameters)
    _SET_IS_NEW(match, is_new)
    return match


class _Cluster:
    __slots__ = ("_getters", "_positions", "alive", "count", "id", "service", "text", "tokens")

    def __init__(self, cluster_id: int, service: str, tokens: list[str], count: int = 0) -> None:
        self.id = cluster_id
        self.service = service
        self.tokens = tokens
        self.count = count
        self.alive = True
        self._refresh()

    def _refresh(self) -> None:
        self.text = " ".join(self.tokens)
        self._positions = tuple(i for i, token in enumerate(self.tokens) if WILDCARD in token)
        self._getters: dict[bool, ParamGetter] = {}

    def getter(self, *, aligned: bool) -> ParamGetter:
        """The parameter getter for messages (not) aligned with the template, built once."""
        found = self._getters.get(aligned)
        if found is None:
            found = self.aligned_getter() if aligned else self.regex_getter()
            self._getters[aligned] = found
        return found

    def absorb(self, tokens: list[str]) -> None:
        """Generalise: every position where the message differs becomes a variable."""
        changed = False
        for i, (mine, theirs) in enumerate(zip(self.tokens, tokens, strict=True)):
            if mine != theirs and mine != WILDCARD:
                self.tokens[i] = WILDCARD
                changed = True
        if changed:
            self._refresh()

    def aligned_getter(self) -> ParamGetter:
        """Parameters of a message whose whitespace tokens line up with this template."""
        positions = self._positions
        if not positions:
            return _no_parameters
        if len(positions) == 1:
            only = positions[0]
            return lambda message: (message.split()[only],)
        pick = itemgetter(*positions)
        return lambda message: pick(message.split())

    def regex_getter(self) -> ParamGetter:
        """Parameters of any message of this template, by matching a regex built from it."""
        parts = []
        for token in self.tokens:
            if WILDCARD in token:
                inner = ".*?".join(re.escape(piece) for piece in token.split(WILDCARD))
                parts.append(f"({inner})")
            else:
                parts.append(re.escape(token))
        pattern = re.compile(r"\s*" + r"\s+".join(parts) + r"\s*", re.DOTALL)

        def extract(message: str) -> tuple[str, ...]:
            found = pattern.fullmatch(message)
            return tuple(found.groups()) if found else ()

        return extract


def _no_parameters(message: str) -> tuple[str, ...]:
    return ()


def headline(message: str) -> str:
    """The first line of a multi-line message, or the first non-blank one if it is blank."""
    first, _, rest = message.partition("\n")
    if first.strip() or not rest.strip():
        return first.rstrip("\r")
    return next(line for line in rest.split("\n") if line.strip()).rstrip("\r")


class _Entry:
    """What a cache remembers about a message shape."""

    __slots__ = ("aligned", "cluster", "getter", "version")

    def __init__(self, cluster: _Cluster, *, aligned: bool) -> None:
        self.cluster = cluster
        self.aligned = aligned
        self.version = ""
        self.getter: ParamGetter = _no_parameters

    def refresh(self) -> None:
        """Rebuild the parameter getter: new entry, or the template generalised since."""
        cluster = self.cluster
        self.version = cluster.text
        self.getter = cluster.getter(aligned=self.aligned)

    def parameters(self, message: str) -> tuple[str, ...]:
        if self.version is not self.cluster.text:
            self.refresh()
        return self.getter(message)


_WORD = re.compile(r"[\W_]*[A-Za-z]+(?:[=:_/-]+[A-Za-z]+)*[\W_]*")


def _is_word(token: str) -> bool:
    """A plain word, which names an event rather than carrying a value."""
    return WILDCARD not in token and _WORD.fullmatch(token) is not None


# Words after which a plain word is a name (a user, a host), not the name of an event.
_NAME_CUES = frozenset({"user", "for"})


def _names_something(before: str, token: str) -> bool:
    """Whether a word here is a name: after a cue word ("for root") or a cue key ("user=root")."""
    key, sep, _ = token.partition("=")
    return before.lower() in _NAME_CUES or (bool(sep) and key.lower() in _NAME_CUES)


_VARIABLE_RUN = re.compile(r"(?<!\S)<\*>(?:\s+<\*>)+(?!\S)")
_BARE_VARIABLE = re.compile(r"[^\w<>]*<\*>[^\w<>]*")


def _any_value(mine: str, theirs: str) -> bool:
    """Whether one of two variable tokens is a bare variable, which stands for any value."""
    return (
        _BARE_VARIABLE.fullmatch(mine) is not None or _BARE_VARIABLE.fullmatch(theirs) is not None
    )


def _tokens(masked: str) -> list[str]:
    """Whitespace tokens of a masked message, each run of variables collapsed into one."""
    return _VARIABLE_RUN.sub(WILDCARD, masked).split()


class PrefixTreeMiner:
    """Drain-style streaming template miner (see the module docstring).

    `similarity` is the share of a template's constant words a message must repeat to join it.
    """

    def __init__(
        self, *, max_templates: int = 5000, similarity: float = 0.5, cache_limit: int = _CACHE_LIMIT
    ) -> None:
        if max_templates < 1:
            raise ValueError("max_templates must be at least 1")
        if not 0 < similarity <= 1:
            raise ValueError("similarity must be in (0, 1]")
        self.max_templates = max_templates
        self.similarity = similarity
        self.cache_limit = cache_limit
        self.evictions = 0
        self.on_evict: Callable[[list[int]], None] | None = None
        self._next_id = 1
        self._clusters: dict[int, _Cluster] = {}
        # Eviction order, kept lazily: (count when pushed, id, cluster). Counts only grow, so a
        # stale entry sorts too early and is pushed again with its count when it surfaces.
        self._rarity: list[tuple[int, int, _Cluster]] = []
        self._groups: dict[tuple[str, int], list[_Cluster]] = {}
        self._by_shape: dict[str, dict[bytes, _Entry]] = {}
        self._by_masked: dict[str, dict[str, _Cluster]] = {}
        self._cached = 0
        self._masked_cached = 0

    # ------------------------------------------------------------------ matching

    def add(self, message: str, *, service: str = "") -> Match:
        """Match `message` to a template of `service`, learning a new or wider one if needed.

        Only a multi-line message's first line (its headline) is templated, so the same error with
        another DETAIL line or stack trace is the same template; parameters are the headline's.
        """
        if "\n" in message:
            message = headline(message)
        try:
            shape = message.encode().translate(DIGITS_TO_ZERO)
        except UnicodeEncodeError:  # lone surrogates
            shape = digit_shape(message)
        shapes = self._by_shape.get(service)
        entry = shapes.get(shape) if shapes is not None else None
        if entry is None or not entry.cluster.alive:
            entry, is_new = self._remember(message, shape, service)
        else:
            is_new = False
        cluster = entry.cluster
        cluster.count += 1
        if entry.version is not cluster.text:
            entry.refresh()
        return _new_match(cluster.id, cluster.text, entry.getter(message), is_new)

    def _remember(self, message: str, shape: bytes, service: str) -> tuple[_Entry, bool]:
        entry, is_new = self._learn(message, service)
        if self._cached >= self.cache_limit:  # a crude bound: start again rather than track age
            self._by_shape.clear()
            self._cached = 0
        self._by_shape.setdefault(service, {})[shape] = entry
        self._cached += 1
        return entry, is_new

    def match(self, message: str, *, service: str = "") -> Match | None:
        """The template `message` belongs to, without learning anything; None if there is none."""
        if "\n" in message:
            message = headline(message)
        entry = self._by_shape.get(service, {}).get(digit_shape(message))
        if entry is not None and entry.cluster.alive:
            return Match(entry.cluster.id, entry.cluster.text, entry.parameters(message), False)
        tokens = _tokens(mask(message))
        cluster = self._best(tokens, service)
        if cluster is None or any(
            mine != theirs and mine != WILDCARD
            for mine, theirs in zip(cluster.tokens, tokens, strict=True)
        ):
            return None
        probe = _Entry(cluster, aligned=len(tokens) == len(message.split()))
        return Match(cluster.id, cluster.text, probe.parameters(message), False)

    def _learn(self, message: str, service: str) -> tuple[_Entry, bool]:
        masked = mask(message)
        by_masked = self._by_masked.get(service)
        if by_masked is None:
            by_masked = self._by_masked[service] = {}
        tokens = _tokens(masked)
        aligned = len(tokens) == len(message.split())
        cluster = by_masked.get(masked)
        is_new = False
        if cluster is None or not cluster.alive:
            cluster = self._best(tokens, service)
            if cluster is None:
                cluster = self._create(tokens, service)
                is_new = True
            else:
                cluster.absorb(tokens)
            if masked not in by_masked:
                by_masked = self._make_room_for_masked(service)
                self._masked_cached += 1
            by_masked[masked] = cluster
        return _Entry(cluster, aligned=aligned), is_new

    def _make_room_for_masked(self, service: str) -> dict[str, _Cluster]:
        """The service's masked-text cache, all of them cleared first when they are full."""
        if self._masked_cached >= self.cache_limit:
            self._by_masked.clear()
            self._masked_cached = 0
        return self._by_masked.setdefault(service, {})

    def _best(self, tokens: list[str], service: str) -> _Cluster | None:
        best: _Cluster | None = None
        best_score = (-1.0, -1, -1)
        for cluster in self._groups.get((service, len(tokens)), ()):
            similarity = self._similarity(cluster.tokens, tokens)
            if similarity is None:
                continue
            score = (similarity, -cluster.tokens.count(WILDCARD), cluster.count)
            if score > best_score:
                best, best_score = cluster, score
        return best

    def _similarity(self, template: list[str], tokens: list[str]) -> float | None:
        """Share of the constant words the message repeats; None if the match is not acceptable.

        Variables never count against a match; a differing plain word always vetoes it, since
        such words name events ("VM Started" vs "VM Paused"); other differing constants are
        tolerated when enough words are shared.
        """
        constants = shared = own_constants = 0
        previous = ""
        for mine, theirs in zip(template, tokens, strict=True):
            before, previous = previous, mine
            variable = WILDCARD in theirs
            if not variable:
                own_constants += 1
            if mine == theirs:
                if not variable:
                    constants += 1
                    shared += 1
                continue
            if mine == WILDCARD or (variable and WILDCARD in mine and _any_value(mine, theirs)):
                continue
            if (_is_word(mine) or _is_word(theirs)) and not _names_something(before, mine):
                return None
            constants += 1
        if shared == constants:
            return 1.0 if shared or not own_constants else None
        if shared < _MIN_SHARED_FOR_MISMATCH or shared / constants < self.similarity:
            return None
        return shared / constants

    def _create(self, tokens: list[str], service: str) -> _Cluster:
        cluster = _Cluster(self._next_id, service, tokens)
        self._next_id += 1
        self._hold(cluster)
        if len(self._clusters) > self.max_templates:
            self._evict()
        return cluster

    def _hold(self, cluster: _Cluster) -> None:
        self._clusters[cluster.id] = cluster
        self._groups.setdefault((cluster.service, len(cluster.tokens)), []).append(cluster)
        heapq.heappush(self._rarity, (cluster.count, cluster.id, cluster))

    # ------------------------------------------------------------------ memory bound

    def _evict(self) -> None:
        """Drop the rarest templates (the oldest first among equals)."""
        excess = len(self._clusters) - self.max_templates
        batch = max(excess, self.max_templates // 100, 1)
        newest = self._next_id - 1  # never evict the template just created
        evicted: list[_Cluster] = []
        kept: list[tuple[int, int, _Cluster]] = []
        rarity = self._rarity
        while len(evicted) < batch and rarity:
            entry = heapq.heappop(rarity)
            count, cluster_id, cluster = entry
            if count != cluster.count:
                heapq.heappush(rarity, (cluster.count, cluster_id, cluster))
            elif cluster_id == newest:
                kept.append(entry)
            else:
                evicted.append(cluster)
        for entry in kept:
            heapq.heappush(rarity, entry)
        for cluster in evicted:
            cluster.alive = False
            del self._clusters[cluster.id]
            key = (cluster.service, len(cluster.tokens))
            group = self._groups[key]
            group.remove(cluster)
            if not group:  # one service per template must not leave a key per service behind
                del self._groups[key]
            self.evictions += 1
        if self.on_evict is not None:
            self.on_evict([cluster.id for cluster in evicted])

    # ------------------------------------------------------------------ ids

    @property
    def next_id(self) -> int:
        """The id the next new template will get."""
        return self._next_id

    def reserve(self, next_id: int) -> None:
        """Never hand out an id below `next_id` (ids recorded elsewhere before a crash)."""
        self._next_id = max(self._next_id, next_id)

    def adopt(self, template: Template) -> None:
        """Take back a template that was saved outside the miner's state (see `TemplateCatalog`).

        It joins as if it had just been learned, with its id; an id already held is left alone.
        """
        if template.id in self._clusters:
            return
        tokens = template.template.split()
        self._hold(_Cluster(template.id, template.service, tokens, template.count))
        self._next_id = max(self._next_id, template.id + 1)
        if len(self._clusters) > self.max_templates:
            self._evict()

    # ------------------------------------------------------------------ inspection and state

    def templates(self) -> list[Template]:
        clusters = list(self._clusters.values())  # one C-level copy: safe beside another thread
        return [
            Template(id=c.id, service=c.service, template=c.text, count=c.count)
            for c in sorted(clusters, key=lambda c: c.id)
        ]

    def sizes(self) -> dict[str, int]:
        """How much the miner holds: templates, template groups, cache entries, cached services."""
        return {
            "templates": len(self._clusters),
            "groups": len(self._groups),
            "cached": self._cached + self._masked_cached,
            "services": len(self._by_shape.keys() | self._by_masked.keys()),
        }

    def dumps(self) -> bytes:
        clusters = [[c.id, c.service, c.tokens, c.count] for c in self._clusters.values()]
        return orjson.dumps(
            {
                "version": _STATE_VERSION,
                "max_templates": self.max_templates,
                "similarity": self.similarity,
                "next_id": self._next_id,
                "evictions": self.evictions,
                "clusters": clusters,
            }
        )

    @classmethod
    def loads(cls, data: bytes) -> PrefixTreeMiner:
        state = orjson.loads(data)
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"unknown miner state version {state.get('version')!r}")
        miner = cls(max_templates=state["max_templates"], similarity=state["similarity"])
        miner._next_id = state["next_id"]
        miner.evictions = state["evictions"]
        for cluster_id, service, tokens, count in state["clusters"]:
            miner._hold(_Cluster(cluster_id, service, list(tokens), count))
        return miner


DrainMiner = PrefixTreeMiner
