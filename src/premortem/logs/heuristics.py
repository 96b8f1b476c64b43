"""The miner's heuristics, each one switchable: which masking rules and grouping rules apply.

Every field is a generic rule about how log messages are written, not about one dataset; why each
one exists, and what it is worth on Loghub-2k, is in ``docs/detectors.md`` ("Template mining").
One rule is not a switch: a word holding a digit is always a variable. The miner's caches rely on
it (two messages that differ only in their digits must mask alike), and it is the rule every
template miner starts from.

>>> Heuristics().switched("word_veto", on=False).word_veto
False
>>> sorted(Heuristics.names())[:3]
['bare_variables', 'date_words', 'dotted_names']
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True, slots=True)
class Heuristics:
    """Switches for the miner's generic rules; the defaults are what ``PrefixTreeMiner`` uses."""

    # masking (premortem.logs.masking)
    quantities: bool = True
    """``(1.21 KB)``, ``(12 %)`` and ``10 ms`` are one variable, not a number and a word."""
    paths: bool = True
    """A word starting with ``/``, ``./``, ``~/``, ``C:\\`` or ``scheme://`` is a variable."""
    dotted_names: bool = False
    """A dotted name of three or more parts (host, package, class) is a variable."""
    date_words: bool = True
    """Names of days and months are variables: they only occur in dates."""
    hex_words: bool = True
    """``0x`` literals and runs of 8+ hex digits without a decimal digit are variables."""
    # grouping (premortem.logs.miner)
    variable_runs: bool = True
    """A run of variables is one ``<*>``: a parameter may span several tokens."""
    word_veto: bool = True
    """Two messages differing in a plain word (``Started``/``Paused``) are different events."""
    name_cues: bool = True
    """A plain word after ``user``/``for`` (or in ``user=``) is a name and does not veto."""
    bare_variables: bool = False
    """A bare ``<*>`` matches any variable token (``<*>`` vs ``id=<*>``) instead of vetoing."""
    min_shared_words: int = 3
    """A mismatch is tolerated only between templates sharing this many constant words."""

    @classmethod
    def names(cls) -> list[str]:
        """The names of the switches, in declaration order."""
        return [field.name for field in fields(cls)]

    def switched(self, name: str, *, on: bool) -> Heuristics:
        """These heuristics with `name` on or off (``min_shared_words`` off is 0, on is 3)."""
        if name not in self.names():
            raise ValueError(f"unknown heuristic {name!r}")
        if name == "min_shared_words":
            return replace(self, min_shared_words=3 if on else 0)
        return replace(self, **{name: on})
