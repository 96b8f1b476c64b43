"""Generic masking of variable parts of a log message, with no per-dataset tuning.

A *word* is a maximal run of characters that are not whitespace or one of ``= , ; ( ) [ ] { } < >
" ' |``. A word is a variable (masked as ``<*>``) when it

- contains a digit: numbers, hex and decimal ids, IPs with ports, UUIDs, durations (``10ms``),
  sizes (``64KB``), timestamps, host names such as ``node-12``;
- is a path or URL: starts with ``/``, ``~/``, ``./``, a drive letter ``C:\\`` or a ``scheme://``;
- is a dotted name with three or more parts (``proxy.cse.cuhk.edu.hk``, ``org.apache.Foo``);
- is a hex literal or a long run of hex digits (``0xff``, ``deadbeefcafe``).

Two more rules keep one event in one group when a parameter sometimes spans several tokens:
a parenthesised quantity (``(1.21 KB)``, ``(12 %)``) and a ``number unit`` pair (``10 ms``) become a
single ``<*>``.

Every rule treats all ten digits alike and never looks at how many digits a run has. Two messages
that differ only in the values of their digits are therefore masked identically, which lets the
miner cache its decision under a cheap key: the message with every digit turned into ``0``
(`digit_shape`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from premortem.logs.heuristics import Heuristics

WILDCARD = "<*>"
DEFAULTS = Heuristics()

DELIMITERS = r"\s=,:;()\[\]{}<>\"'|"
_WORD_CHAR = rf"[^{DELIMITERS}]"
_START = rf"(?<![^{DELIMITERS}])"
_END = rf"(?![^{DELIMITERS}])"
UNITS = (
    r"(?:[kKmMgGtTpP]i?[bB](?:ytes?)?|[bB](?:ytes?)?|bits?|%|ns|us|µs|ms|s|sec(?:onds?|s)?"
    r"|min(?:utes?|s)?|h|hours?|days?)"
)
_DATE_WORDS = (
    "Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?"
    "|Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    "|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?"
)
NUMBER = r"[-+]?\d+(?:[.,]\d+)*"

_QUANTITIES = (
    # a parenthesised quantity, spaces included: "(1.21 KB)", "(12 %)"
    rf"\(\s*{NUMBER}\s*{UNITS}?\s*\)",
    # a number followed by a unit as a separate token: "10 ms", "64 KB"
    rf"{NUMBER}\s+{UNITS}{_END}",
)
# any word holding a digit: the one rule that is not a switch (the caches rely on it)
_DIGIT_WORD = rf"{_WORD_CHAR}*\d{_WORD_CHAR}*"
_SWITCHED = (
    # paths and URLs
    ("paths", rf"(?:[A-Za-z][\w+.-]*://|~?\.{{0,2}}/|[A-Za-z]:\\){_WORD_CHAR}*"),
    # dotted names with three or more parts (hosts, packages)
    ("dotted_names", rf"[\w-]+(?:\.[\w-]+){{2,}}\.?{_END}"),
    # names of days and months, which only occur in dates
    ("date_words", rf"(?:{_DATE_WORDS}){_END}"),
    # hex without digits is rare but exists: 0x literals and long runs
    ("hex_words", rf"(?:\d[xX][0-9a-fA-F]+|[0-9a-fA-F]{{8,}}){_END}"),
)


@lru_cache(maxsize=64)
def mask_pattern(heuristics: Heuristics = DEFAULTS) -> re.Pattern[str]:
    """The masking regex with the rules `heuristics` switch on (compiled once per combination)."""
    alternatives = [*(_QUANTITIES if heuristics.quantities else ()), _DIGIT_WORD]
    alternatives += [rule for name, rule in _SWITCHED if getattr(heuristics, name)]
    # Every variable starts a word: testing that once up front lets the other positions fail fast.
    return re.compile(rf"{_START}(?:{'|'.join(alternatives)})")


MASK_PATTERN = mask_pattern()

DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")


def mask(message: str, heuristics: Heuristics = DEFAULTS) -> str:
    """The message with every variable part replaced by ``<*>``."""
    return mask_pattern(heuristics).sub(WILDCARD, message)


def digit_shape(message: str) -> bytes:
    """A cache key: the UTF-8 message with every digit turned into ``0``.

    Messages with the same shape mask to the same text (the rules above never distinguish digits).
    """
    return message.encode("utf-8", "surrogatepass").translate(DIGITS_TO_ZERO)
