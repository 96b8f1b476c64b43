"""Streaming template mining in the manner of Drain, without Drain's known failure modes.

A message is masked (`premortem.logs.masking`), runs of variables collapse into one ``<*>``, and
the resulting tokens are compared with the templates of the same service and token count. Where
Drain compares every token, this miner compares *constant* tokens only, so a line that is mostly
parameters joins its template instead of founding a new one per occurrence; and it refuses a match
that rests on too few shared words, so short messages ("VM Started" vs "VM Paused") stay apart.

Speed comes from caches in front of the search, keyed (cheapest first) by the message with every
digit turned into ``0`` (one C-level ``bytes.translate``), by the same with each run of digits as
one (`premortem.logs.shapes.runs_key`: numbers that change length) and by the message's token
shapes (`premortem.logs.shapes`). All are plain bounded dicts; the clustering itself runs only for
a key never seen before. A digit shape found only by the second key is cached only while its
entry's shapes are found again: where numbers change length, most never come back.

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
from collections.abc import Callable, Iterable
from itertools import chain
from typing import TYPE_CHECKING

from premortem import textjson
from premortem.logs.clusters import Bucket, Cluster, Entry, lead, similarity, tokens_of
from premortem.logs.heuristics import Heuristics
from premortem.logs.masking import DEFAULTS, DIGITS_TO_ZERO, WILDCARD, digit_shape, mask
from premortem.logs.shapes import TokenMasks, TokenShapes, collapse_runs, runs_key, runs_shape

if TYPE_CHECKING:  # the domain model pulls in pydantic; mining alone does not need it
    from premortem.domain import Template

_STATE_VERSION = 1
_CACHE_LIMIT = 1 << 16


class Match:
    """What `add` found: the template (id and text), whether it is new, and the message's
    parameters.

    The parameters are taken out of the message when first asked for, not on every match: most
    callers never ask (the template catalog keeps them for a template's first few samples only),
    and taking them — building the template's getter, a regex, included — was a third of a
    cache hit's cost on real logs. They are read with the template as it was matched, so a later
    generalisation does not change them."""

    __slots__ = ("_entry", "_message", "_parameters", "is_new", "template", "template_id")

    template_id: int
    template: str
    is_new: bool
    _entry: Entry
    _message: str

    def __init__(
        self, template_id: int, template: str, parameters: tuple[str, ...], is_new: bool
    ) -> None:
        self.template_id = template_id
        self.template = template
        self._parameters: tuple[str, ...] | None = parameters
        self.is_new = is_new

    @property
    def parameters(self) -> tuple[str, ...]:
        found = self._parameters
        if found is None:
            found = self._parameters = self._entry.parameters(self._message, self.template)
        return found

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Match):
            return NotImplemented
        return (self.template_id, self.template, self.parameters, self.is_new) == (
            other.template_id,
            other.template,
            other.parameters,
            other.is_new,
        )

    __hash__ = None  # type: ignore[assignment]  # equal by value, and not immutable

    def __repr__(self) -> str:
        return (
            f"Match(template_id={self.template_id!r}, template={self.template!r}, "
            f"parameters={self.parameters!r}, is_new={self.is_new!r})"
        )


_NEW = object.__new__


def headline(message: str) -> str:
    """The first line of a multi-line message, or the first non-blank one if it is blank."""
    first, _, rest = message.partition("\n")
    if first.strip() or not rest.strip():
        return first.rstrip("\r")
    return next(line for line in rest.split("\n") if line.strip()).rstrip("\r")


class PrefixTreeMiner:
    """Drain-style streaming template miner (see the module docstring).

    `similarity` is the share of a template's constant words a message must repeat to join it;
    `heuristics` switches the generic masking and grouping rules (`Heuristics`).
    """

    def __init__(
        self,
        *,
        max_templates: int = 5000,
        similarity: float = 0.5,
        cache_limit: int = _CACHE_LIMIT,
        heuristics: Heuristics = DEFAULTS,
    ) -> None:
        if max_templates < 1:
            raise ValueError("max_templates must be at least 1")
        if not 0 < similarity <= 1:
            raise ValueError("similarity must be in (0, 1]")
        self.max_templates = max_templates
        self.similarity = similarity
        self.cache_limit = cache_limit
        self.heuristics = heuristics
        self.evictions = 0
        self.on_evict: Callable[[list[int]], None] | None = None
        self._next_id = 1
        self._clusters: dict[int, Cluster] = {}
        # Eviction order, kept lazily: (count when pushed, id). Counts only grow, so a stale
        # entry sorts too early and is pushed again with its count when it surfaces. Every held
        # template has one entry; its cluster is found by id. Pairs of ints, not triples with
        # the cluster: the collector stops tracking them at once, where a triple stayed until
        # eviction and made every full collection longer.
        self._rarity: list[tuple[int, int]] = []
        # Templates by service and token count, then by their first word (`lead`).
        self._groups: dict[tuple[str, int], dict[str, Bucket]] = {}
        self._by_shape: dict[str, dict[bytes, Entry]] = {}
        self._by_key: dict[str, dict[bytes, Entry]] = {}
        self._token_shapes = TokenShapes(cache_limit)
        self._token_masks = TokenMasks(cache_limit, heuristics)
        self._cached = 0
        self._keyed = 0
        self._stale = 0
        self._stale_services: set[str] = set()  # services whose caches may hold evicted entries
        self.shape_misses = 0
        self.key_misses = 0

    # ------------------------------------------------------------------ matching

    def add(self, message: str, *, service: str = "") -> Match:
        """Match `message` to a template of `service`, learning a new or wider one if needed.

        Only a multi-line message's first line (its headline) is templated, so the same error with
        another DETAIL line or stack trace is the same template; parameters are the headline's.
        """
        if "\n" in message:
            message = headline(message)
        try:
            encoded = message.encode()
        except UnicodeEncodeError:  # lone surrogates
            encoded = message.encode("utf-8", "surrogatepass")
        shape = encoded.translate(DIGITS_TO_ZERO)
        shapes = self._by_shape.get(service)
        entry = shapes.get(shape) if shapes is not None else None
        if entry is not None and entry.cluster.alive:
            entry.hits += 1
            is_new = False
        else:
            entry, is_new = self._remember(message, encoded, shape, service)
        cluster = entry.cluster
        cluster.count += 1
        match = _NEW(Match)  # no __init__ call: this is the hot path
        match.template_id = cluster.id
        match.template = cluster.text
        match.is_new = is_new
        match._parameters = None
        match._entry = entry
        match._message = message
        return match

    def _remember(
        self, message: str, encoded: bytes, shape: bytes, service: str
    ) -> tuple[Entry, bool]:
        """The entry of a message whose digit shape is not cached: by its digit shape with each
        run of digits as one (`runs_key`, same cache), by its token key, or learned.
        """
        self.shape_misses += 1
        runs = runs_key(encoded)
        shapes = self._by_shape.get(service)
        entry = shapes.get(runs) if shapes is not None else None
        if entry is None or not entry.cluster.alive:
            entry, is_new = self._search(message, runs_shape(runs), service)
            self._cache_shape(service, runs, entry)
        else:
            is_new = False
            entry.misses += 1
            # Where numbers change length, most digit shapes never come back: cached, they would
            # cost a write each and crowd out the keys that do come back. So the entry takes one
            # more only while the shapes it holds are found again, or one miss in 16 (a shape
            # that does come back is taken in the end, and its hits open the way for more).
            if entry.hits < entry.shapes and entry.misses % 16:
                return entry, False
        self._cache_shape(service, shape, entry)
        entry.shapes += 1
        return entry, is_new

    def _search(self, message: str, runs: bytes, service: str) -> tuple[Entry, bool]:
        """The entry of a message no shape knows (`runs`: its digit shape, runs collapsed): by its
        token key, or learned."""
        key, tokens = self._token_shapes.key(runs)
        keys = self._by_key.get(service)
        entry = keys.get(key) if keys is not None else None
        if entry is not None and entry.cluster.alive:
            return entry, False
        self.key_misses += 1
        entry, is_new = self._learn(message, service, self._token_masks.masked(tokens, key))
        self._cache_key(service, key, entry)
        return entry, is_new

    def _cache_shape(self, service: str, shape: bytes, entry: Entry) -> None:
        if self._cached >= self.cache_limit:  # a crude bound: start again rather than track age
            self._by_shape.clear()
            self._cached = 0
        entries = self._by_shape.get(service)
        if entries is None:  # not `setdefault`: it would build a dict on every call
            entries = self._by_shape[service] = {}
        entries[shape] = entry
        self._cached += 1

    def _cache_key(self, service: str, key: bytes, entry: Entry) -> None:
        if self._keyed >= self.cache_limit:
            self._by_key.clear()
            self._keyed = 0
        entries = self._by_key.get(service)
        if entries is None:
            entries = self._by_key[service] = {}
        entries[key] = entry
        self._keyed += 1

    def match(self, message: str, *, service: str = "") -> Match | None:
        """The template `message` belongs to, without learning anything; None if there is none."""
        if "\n" in message:
            message = headline(message)
        shape = digit_shape(message)
        entry = self._by_shape.get(service, {}).get(shape)
        if entry is None or not entry.cluster.alive:
            key, _ = self._token_shapes.key(collapse_runs(shape))
            entry = self._by_key.get(service, {}).get(key)
        if entry is not None and entry.cluster.alive:
            return Match(entry.cluster.id, entry.cluster.text, entry.parameters(message), False)
        tokens = tokens_of(mask(message, self.heuristics), self.heuristics)
        cluster = self._best(tokens, service)
        if cluster is None or any(
            mine != theirs and mine != WILDCARD
            for mine, theirs in zip(cluster.tokens, tokens, strict=True)
        ):
            return None
        probe = Entry(cluster, aligned=len(tokens) == len(message.split()))
        return Match(cluster.id, cluster.text, probe.parameters(message), False)

    def _learn(self, message: str, service: str, masked: str | None) -> tuple[Entry, bool]:
        if masked is None:
            masked = mask(message, self.heuristics)
        tokens = tokens_of(masked, self.heuristics)
        aligned = len(tokens) == len(message.split())
        cluster = self._best(tokens, service)
        if cluster is None:
            return Entry(self._create(tokens, service), aligned=aligned), True
        cluster.absorb(tokens)
        return Entry(cluster, aligned=aligned), False

    def _best(self, tokens: list[str], service: str) -> Cluster | None:
        """The template `tokens` joins best among its group's candidates, or None."""
        best: Cluster | None = None
        best_score = (-1.0, -1, -1, 0)
        threshold, heuristics = self.similarity, self.heuristics
        for cluster in self._candidates(tokens, service):
            share = similarity(cluster.tokens, tokens, threshold=threshold, heuristics=heuristics)
            if share is None:
                continue
            # the oldest wins a tie, whatever order the candidates come in
            score = (share, -cluster.tokens.count(WILDCARD), cluster.count, -cluster.id)
            if score > best_score:
                best, best_score = cluster, score
        return best

    def _candidates(self, tokens: list[str], service: str) -> Iterable[Cluster]:
        """The templates of the message's group it may join: the buckets' indexes leave out
        only templates `similarity` would refuse (`Bucket`)."""
        group = self._groups.get((service, len(tokens)))
        if group is None:
            return ()
        first = lead(tokens, self.heuristics)
        leadless = group.get("")
        bucket = group.get(first) if first else None
        if bucket is None or leadless is None:  # most often one bucket: no chain to build
            found = bucket if bucket is not None else leadless
            return found.candidates(tokens) if found is not None else ()
        return chain(bucket.candidates(tokens), leadless.candidates(tokens))

    def _create(self, tokens: list[str], service: str) -> Cluster:
        cluster = Cluster(self._next_id, service, tokens)
        self._next_id += 1
        self._hold(cluster)
        if len(self._clusters) > self.max_templates:
            self._make_room()
        return cluster

    def _hold(self, cluster: Cluster) -> None:
        self._clusters[cluster.id] = cluster
        key = (cluster.service, len(cluster.tokens))
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = {}
        first = lead(cluster.tokens, self.heuristics)
        bucket = group.get(first)
        if bucket is None:
            bucket = group[first] = Bucket(len(cluster.tokens), self.heuristics, lead=first)
        bucket.append(cluster)
        heapq.heappush(self._rarity, (cluster.count, cluster.id))

    # ------------------------------------------------------------------ memory bound

    def _evict(self) -> None:
        """Drop the rarest templates (the oldest first among equals)."""
        excess = len(self._clusters) - self.max_templates
        batch = max(excess, self.max_templates // 100, 1)
        newest = self._next_id - 1  # never evict the template just created
        evicted: list[Cluster] = []
        kept: list[tuple[int, int]] = []
        rarity, clusters = self._rarity, self._clusters
        while len(evicted) < batch and rarity:
            entry = rarity[0]
            count, cluster_id = entry
            cluster = clusters[cluster_id]
            if count != cluster.count:  # stale (every new template's is): one sift, not two
                heapq.heapreplace(rarity, (cluster.count, cluster_id))
                continue
            heapq.heappop(rarity)
            if cluster_id == newest:
                kept.append(entry)
            else:
                evicted.append(cluster)
        for entry in kept:
            heapq.heappush(rarity, entry)
        for cluster in evicted:
            self._drop(cluster)
        if self.on_evict is not None:
            self.on_evict([cluster.id for cluster in evicted])

    def _drop(self, cluster: Cluster) -> None:
        """Let go of an evicted template (the caches notice it is no longer alive)."""
        cluster.alive = False
        del self._clusters[cluster.id]
        key = (cluster.service, len(cluster.tokens))
        group = self._groups[key]
        bucket = cluster.home
        assert bucket is not None  # every held template is filed
        first = bucket.lead  # a template's lead never changes: no need to work it out again
        bucket.remove(cluster)
        if not bucket:  # one service per template must not leave a key per service behind
            del group[first]
            if not group:
                del self._groups[key]
        self._stale_services.add(cluster.service)
        self.evictions += 1

    def _make_room(self) -> None:
        evictions = self.evictions
        self._evict()
        self._stale += self.evictions - evictions
        self._forget()

    def _forget(self) -> None:
        """Drop cache entries of evicted templates, so that the templates leave memory.

        A pass over the caches runs once the templates evicted since the last pass reach an
        eighth of the cached entries: each pass then pays for itself however fast templates churn.
        """
        if self._stale * 8 < self._cached + self._keyed:
            return
        self._stale = 0
        # A service's caches point only at its own templates: only the services that lost one
        # are walked (with many services, walking them all cost a tenth of a busy server's time).
        for service in self._stale_services:  # each on its own: the order changes nothing
            for level in (self._by_shape, self._by_key):
                entries = level.get(service)
                if entries is None:
                    continue
                held = {key: entry for key, entry in entries.items() if entry.cluster.alive}
                if held:
                    level[service] = held
                else:
                    del level[service]
        self._stale_services.clear()
        # Recounted, not adjusted: a cached key written again over a dead entry was counted twice.
        self._cached = sum(map(len, self._by_shape.values()))
        self._keyed = sum(map(len, self._by_key.values()))

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
        self._hold(Cluster(template.id, template.service, tokens, template.count))
        self._next_id = max(self._next_id, template.id + 1)
        if len(self._clusters) > self.max_templates:
            self._make_room()

    # ------------------------------------------------------------------ inspection and state

    def templates(self) -> list[Template]:
        from premortem.domain import Template

        clusters = list(self._clusters.values())  # one C-level copy: safe beside another thread
        return [
            Template(id=c.id, service=c.service, template=c.text, count=c.count)
            for c in sorted(clusters, key=lambda c: c.id)
        ]

    def sizes(self) -> dict[str, int]:
        """How much the miner holds: templates, template groups, cache entries (messages and
        memoised tokens), cached services."""
        return {
            "templates": len(self._clusters),
            "groups": len(self._groups),
            "cached": self._cached + self._keyed,
            "tokens": len(self._token_shapes) + len(self._token_masks),
            "services": len(self._by_shape.keys() | self._by_key.keys()),
        }

    def dumps(self) -> bytes:
        clusters = [[c.id, c.service, c.tokens, c.count] for c in self._clusters.values()]
        return textjson.dumps(
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
    def loads(cls, data: bytes, *, heuristics: Heuristics = DEFAULTS) -> PrefixTreeMiner:
        """A miner from `dumps` output; heuristics are settings, not state, so they are given."""
        state = textjson.loads(data)
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"unknown miner state version {state.get('version')!r}")
        miner = cls(
            max_templates=state["max_templates"],
            similarity=state["similarity"],
            heuristics=heuristics,
        )
        miner._next_id = state["next_id"]
        miner.evictions = state["evictions"]
        for cluster_id, service, tokens, count in state["clusters"]:
            miner._hold(Cluster(cluster_id, service, list(tokens), count))
        return miner
