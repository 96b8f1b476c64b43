"""A mined template (`Cluster`), what the caches remember about a message (`Entry`), the rule
by which a message may join a template (`similarity`), and the index that finds the few templates
of a group a message may join (`Bucket`).

Which grouping rules apply is set by `Heuristics` (``docs/detectors.md`` gives the reasons).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from operator import itemgetter

from premortem.logs.heuristics import Heuristics
from premortem.logs.masking import WILDCARD

ParamGetter = Callable[[str], tuple[str, ...]]


class Cluster:
    """One template: its tokens (``<*>`` for variables), how often it matched, whether held."""

    __slots__ = (
        "__weakref__",
        "_aligned",
        "_unaligned",
        "alive",
        "count",
        "home",
        "id",
        "service",
        "text",
        "tokens",
    )

    def __init__(self, cluster_id: int, service: str, tokens: list[str], count: int = 0) -> None:
        self.id = cluster_id
        self.service = service
        self.tokens = tokens
        self.count = count
        self.alive = True
        self.home: Bucket | None = None  # the bucket indexing this template's tokens, if held
        self._refresh()

    def _refresh(self) -> None:
        self.text = " ".join(self.tokens)
        # built when first asked for, in two slots rather than a dict: one object fewer for
        # every template, of which past a busy cap most are evicted before anyone reads them
        self._aligned: ParamGetter | None = None
        self._unaligned: ParamGetter | None = None

    def getter(self, *, aligned: bool) -> ParamGetter:
        """The parameter getter for messages (not) aligned with the template, built once."""
        if aligned:
            found = self._aligned
            if found is None:
                found = self._aligned = self.aligned_getter()
        else:
            found = self._unaligned
            if found is None:
                found = self._unaligned = self.regex_getter()
        return found

    @classmethod
    def as_it_was(cls, text: str) -> Cluster:
        """A detached copy of a template's earlier text, to read parameters with it."""
        return cls(-1, "", text.split(" ") if text else [])

    def absorb(self, tokens: list[str]) -> None:
        """Generalise: every position where the message differs becomes a variable."""
        changed = [
            i
            for i, (mine, theirs) in enumerate(zip(self.tokens, tokens, strict=True))
            if mine != theirs and mine != WILDCARD
        ]
        if not changed:
            return
        home = self.home
        if home is not None:  # the index holds the old tokens: take them out while they are known
            home.unfile(self)
        for i in changed:
            self.tokens[i] = WILDCARD
        self._refresh()
        if home is not None:
            home.file(self)

    def aligned_getter(self) -> ParamGetter:
        """Parameters of a message whose whitespace tokens line up with this template."""
        if WILDCARD not in self.text:  # one C-level search; a parameter lies within a token
            return no_parameters
        positions = tuple(i for i, token in enumerate(self.tokens) if WILDCARD in token)
        if not positions:
            return no_parameters
        # split no further than the last parameter: the rest of a long line stays one string
        last = positions[-1]
        if len(positions) == 1:
            return lambda message: (message.split(None, last + 1)[last],)
        pick = itemgetter(*positions)
        return lambda message: pick(message.split(None, last + 1))

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


def no_parameters(message: str) -> tuple[str, ...]:
    return ()


class Entry:
    """What a cache remembers about a message shape: its template and how to read parameters.

    `hits` counts messages found by their digit shape, `misses` those found only once digit runs
    were collapsed, `shapes` the digit shapes cached for this entry: whether the miner caches one
    more depends on them.
    """

    __slots__ = ("aligned", "cluster", "getter", "hits", "misses", "shapes", "version")

    def __init__(self, cluster: Cluster, *, aligned: bool) -> None:
        self.cluster = cluster
        self.aligned = aligned
        self.version = ""
        self.getter: ParamGetter = no_parameters
        self.hits = 0
        self.misses = 0
        self.shapes = 0

    def refresh(self) -> None:
        """Rebuild the parameter getter: new entry, or the template generalised since."""
        cluster = self.cluster
        self.version = cluster.text
        self.getter = cluster.getter(aligned=self.aligned)

    def parameters(self, message: str, text: str | None = None) -> tuple[str, ...]:
        """`message`'s parameters under the template now, or under its earlier `text`."""
        cluster = self.cluster
        if text is not None and text != cluster.text:
            return Cluster.as_it_was(text).getter(aligned=self.aligned)(message)
        if self.version is not cluster.text:
            self.refresh()
        return self.getter(message)


_WORD = re.compile(r"[\W_]*[A-Za-z]+(?:[=:_/-]+[A-Za-z]+)*[\W_]*")
_VARIABLE_RUN = re.compile(r"(?<!\S)<\*>(?:\s+<\*>)+(?!\S)")
_BARE_VARIABLE = re.compile(r"[^\w<>]*<\*>[^\w<>]*")
# Words after which a plain word is a name (a user, a host), not the name of an event.
_NAME_CUES = frozenset({"user", "for"})


def tokens_of(masked: str, heuristics: Heuristics) -> list[str]:
    """Whitespace tokens of a masked message, each run of variables collapsed if switched on."""
    if heuristics.variable_runs and WILDCARD in masked:  # no variable, no run: spare the regex
        masked = _VARIABLE_RUN.sub(WILDCARD, masked)
    return masked.split()


@lru_cache(maxsize=1 << 12)  # the same few words lead and face most messages searched
def _is_word(token: str) -> bool:
    """A plain word, which names an event rather than carrying a value."""
    return WILDCARD not in token and _WORD.fullmatch(token) is not None


_CUE_LENGTH = max(map(len, _NAME_CUES))


def _names_something(before: str, token: str) -> bool:
    """Whether a word here is a name: after a cue word ("for root") or a cue key ("user=root")."""
    # Lowering never shortens a string: a longer word cannot be a cue, and needs no copy. This
    # runs for every token of every template filed, so the copies were a sixth of creating one.
    if len(before) <= _CUE_LENGTH and before.lower() in _NAME_CUES:
        return True
    if "=" not in token:
        return False
    key = token.partition("=")[0]
    return len(key) <= _CUE_LENGTH and key.lower() in _NAME_CUES


def lead(tokens: list[str], heuristics: Heuristics) -> str:
    """The first token if it is a plain word that vetoes any other there, else ``""``.

    With ``word_veto`` on, a message can only join a template with the same lead or none, so the
    miner searches those two buckets only (and a template's lead never changes).
    """
    if not tokens or not heuristics.word_veto or not _is_word(tokens[0]):
        return ""
    if heuristics.name_cues and _names_something("", tokens[0]):
        return ""
    return tokens[0]


def _any_value(mine: str, theirs: str) -> bool:
    """Whether one of two variable tokens is a bare variable, which stands for any value."""
    return (
        _BARE_VARIABLE.fullmatch(mine) is not None or _BARE_VARIABLE.fullmatch(theirs) is not None
    )


def similarity(
    template: list[str], tokens: list[str], *, threshold: float, heuristics: Heuristics
) -> float | None:
    """Share of the template's constant words the message repeats; None if it may not join.

    Variables never count against a match; a differing plain word vetoes it (``word_veto``),
    since such words name events ("VM Started" vs "VM Paused"); other differing constants are
    tolerated when at least ``min_shared_words`` words are shared.
    """
    constants = shared = own_constants = 0
    previous = ""
    veto = heuristics.word_veto
    cues = heuristics.name_cues
    bare = heuristics.bare_variables
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
        if mine == WILDCARD or (
            bare and variable and WILDCARD in mine and _any_value(mine, theirs)
        ):
            continue
        vetoed = veto and (_is_word(mine) or _is_word(theirs))
        if vetoed and not (cues and _names_something(before, mine)):
            return None
        constants += 1
    if shared == constants:
        return 1.0 if shared or not own_constants else None
    if shared < heuristics.min_shared_words or shared / constants < threshold:
        return None
    return shared / constants


# A bucket this small is scanned whole: cheaper than asking the index.
_SCAN = 8


class Bucket:
    """The templates of one service, token count and lead, indexed by their tokens.

    `similarity` vetoes a plain word of the message facing any other token than itself, ``<*>``
    or a name (``word_veto``, ``name_cues``); so a template the message may join holds, at *every*
    position where the message has a plain word, that word or an open token (``<*>``, a name).
    `candidates` looks up the position where the fewest templates do, and compares only those:
    a superset of the templates `similarity` accepts, so the best match is the one a full scan
    finds (the miner's score tuple breaks ties by id, whatever order the candidates come in).
    Without a plain word, a template must share a constant word with the message (`similarity`
    accepts no match resting on none), unless the message has no constant at all.
    """

    __slots__ = ("_at", "_cues", "_open", "_veto", "lead", "members")

    def __init__(self, size: int, heuristics: Heuristics, *, lead: str = "") -> None:
        self.members: dict[int, Cluster] = {}
        self.lead = lead  # its templates' `lead`: where the miner files the bucket
        self._veto = heuristics.word_veto
        self._cues = heuristics.name_cues
        # By position: the templates by their constant token there (the template itself where it
        # is the only one: most tokens of a group with thousands of templates are, and a dict
        # for each made every template several objects more to allocate and to collect); and
        # the templates open there.
        self._at: list[dict[str, Cluster | dict[int, Cluster]]] = [{} for _ in range(size)]
        self._open: list[dict[int, Cluster]] = [{} for _ in range(size)]

    def __len__(self) -> int:
        return len(self.members)

    def append(self, cluster: Cluster) -> None:
        self.members[cluster.id] = cluster
        cluster.home = self
        self.file(cluster)

    def remove(self, cluster: Cluster) -> None:
        del self.members[cluster.id]
        cluster.home = None
        self.unfile(cluster)

    def file(self, cluster: Cluster) -> None:
        """Index the template's tokens (`Cluster.absorb` files it again once generalised)."""
        at, opened, cluster_id, cues = self._at, self._open, cluster.id, self._cues
        before = ""
        # A template is open at a position where a plain word of a message escapes the veto
        # there: a variable, or a name (`name_cues`).
        for i, token in enumerate(cluster.tokens):
            if token == WILDCARD:
                opened[i][cluster_id] = cluster
            else:
                if WILDCARD not in token:
                    same = at[i].get(token)
                    if same is None:
                        at[i][token] = cluster
                    elif isinstance(same, dict):
                        same[cluster_id] = cluster
                    elif same is not cluster:
                        at[i][token] = {same.id: same, cluster_id: cluster}
                if cues and _names_something(before, token):
                    opened[i][cluster_id] = cluster
            before = token

    def unfile(self, cluster: Cluster) -> None:
        at, opened, cluster_id = self._at, self._open, cluster.id
        for i, token in enumerate(cluster.tokens):
            if WILDCARD not in token:
                same = at[i][token]
                if not isinstance(same, dict):
                    del at[i][token]
                else:
                    del same[cluster_id]
                    if len(same) == 1:  # as if the one left had been filed alone
                        at[i][token] = next(iter(same.values()))
            opened[i].pop(cluster_id, None)

    def candidates(self, tokens: list[str]) -> Iterable[Cluster]:
        """Every template `tokens` may join (see the class docstring), and maybe a few more."""
        members = self.members
        if len(members) <= _SCAN:
            return members.values()
        if self._veto:
            found = self._facing_word(tokens)
            if found is not None:
                return found
        return self._sharing(tokens)

    def _facing_word(self, tokens: list[str]) -> Iterable[Cluster] | None:
        """Templates holding the message's plain word or an open token where the fewest do;
        None if the message has no plain word."""
        at, opened = self._at, self._open
        fewest, where = len(self.members) + 1, -1
        for i, token in enumerate(tokens):
            same = at[i].get(token)
            count = len(opened[i])
            if same is not None:
                count += len(same) if isinstance(same, dict) else 1
            if count < fewest and _is_word(token):  # the count first: it is cheaper
                fewest, where = count, i
                if not count:  # none can do better: a new message's first new word ends it
                    break
        if where < 0:
            return None
        if fewest >= len(self.members):
            return self.members.values()
        same = at[where].get(tokens[where])
        if same is None:
            return list(opened[where].values())
        if not isinstance(same, dict):
            return list({same.id: same, **opened[where]}.values())
        return list({**same, **opened[where]}.values())

    def _sharing(self, tokens: list[str]) -> Iterable[Cluster]:
        """Templates sharing a constant with the message; all if the message has none."""
        at, members = self._at, self.members
        found: dict[int, Cluster] = {}
        constant = False
        for i, token in enumerate(tokens):
            if WILDCARD in token:
                continue
            constant = True
            same = at[i].get(token)
            if same is not None:
                if isinstance(same, dict):
                    found.update(same)
                else:
                    found[same.id] = same
                if len(found) >= len(members):
                    return members.values()
        return list(found.values()) if constant else members.values()
