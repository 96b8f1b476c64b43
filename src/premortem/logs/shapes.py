"""Cache keys that name a message's masked token sequence without running the masking regex.

A message's *shape* is its UTF-8 bytes with every ASCII digit turned into ``0`` (one C-level
``bytes.translate``): messages that differ only in digit values share it. Real logs also vary
in ways that change the shape (a UUID's hex letters, a number's length), so a second key is made
per whitespace token: a token without a digit stands for itself; in a token with one, every word
holding a digit (words as `premortem.logs.masking` splits them) becomes a class marker:

- ``0`` for a plain number (``12``, ``-3.5``), which the quantity rules may join with a unit;
- ``0s`` for a number glued to a unit (``12KB``, ``5ms``), which may be a ``(12KB)`` quantity;
- ``0x`` for any other word with a digit, which is always masked whole (after the slashes it
  starts with, which make ``http://10.0.0.1`` or ``C:\\dir1`` one path).

Two messages with the same key mask to the same tokens under every combination of heuristics (the
markers keep exactly what the rules look at; a marker holds a digit, so it never equals a word that
stays as written), so the key can stand in for the masked text in a cache. Tokens are memoised, so
a key costs a split, one dict look-up per token and a join.
"""

from __future__ import annotations

import re
from itertools import pairwise

from premortem.logs.heuristics import Heuristics
from premortem.logs.masking import DELIMITERS, NUMBER, UNITS, WILDCARD, mask_pattern

_ZERO = ord("0")
# a word holding a digit: starts after a delimiter, no backtracking (possessive), so O(length)
_DIGIT_WORD = re.compile(rf"(?<![^{DELIMITERS}])[^{DELIMITERS}\d]*+\d[^{DELIMITERS}]*+")
# the masking rules' number (within one word: "," is a delimiter), maybe glued to a unit
_QUANTITY = re.compile(rf"[-+]?\d+(?:\.\d+)*({UNITS})?")
assert NUMBER.startswith(r"[-+]?\d+")  # the classes must follow the masking rule's number


def _marker(word: re.Match[str]) -> str:
    text = word.group()
    found = _QUANTITY.fullmatch(text)
    if found is None:  # a path after "scheme:" or "C:" starts with slashes the path rule needs
        return text[: len(text) - len(text.lstrip("/\\"))] + "0x"
    return "0" if found.group(1) is None else "0s"


_RUNS = re.compile(rb"00+")


def collapse_runs(shape: bytes) -> bytes:
    """A digit shape with each run of digits as one ``0``: no masking rule counts digits."""
    return _RUNS.sub(b"0", shape)


# A message's runs key is its digit shape with each run of digits as one, written so that plain
# bytes methods make it (a regex substitution costs a few times more, per run): every digit becomes
# a space, and `bytes.split` cuts at each run of spaces, whatever its length; whitespace becomes
# bytes that UTF-8 never holds (0xF8-0xFD), so it stays apart from the cuts; and 0xFF marks both
# ends, so that a run there is a cut too instead of vanishing with the split.
_CUT_AT_DIGITS = bytes.maketrans(b"0123456789 \t\n\r\x0b\x0c", b" " * 10 + bytes(range(0xF8, 0xFE)))
_CUTS_TO_DIGITS = bytes.maketrans(b" " + bytes(range(0xF8, 0xFE)), b"0 \t\n\r\x0b\x0c")
_ENDS = b"\xff".join


def runs_key(encoded: bytes) -> bytes:
    """A cache key for the UTF-8 `encoded` message: ``collapse_runs(digit_shape(message))``
    between two 0xFF, in another alphabet (`runs_shape` reads it back). It starts with 0xFF, which
    UTF-8 never holds, so it never equals a digit shape and can share a cache with them.

    >>> runs_shape(runs_key(b"took 12 ms, 7 tries")) == collapse_runs(b"took 00 ms, 0 tries")
    True
    """
    return b" ".join(_ENDS((b"", encoded, b"")).translate(_CUT_AT_DIGITS).split())


def runs_shape(key: bytes) -> bytes:
    """The digit shape, runs collapsed, that `runs_key` wrote as `key`."""
    return key.translate(_CUTS_TO_DIGITS)[1:-1]


class TokenShapes(dict[bytes, bytes]):
    """Memoised token shapes, cleared when `limit` tokens are held (unique ids would fill it)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def key(self, shape: bytes) -> tuple[bytes, list[bytes]]:
        """The cache key of a message, from its digit shape, and the token shapes it joins."""
        if _ZERO not in shape and shape.isascii():
            # every token stands for itself (`__missing__`): no look-up, and no memo entry for
            # words that may never come back (a message of new words used to cost one each)
            shapes = shape.split()
        else:
            shapes = list(map(self.__getitem__, shape.split()))
        return b" ".join(shapes), shapes

    def __missing__(self, token: bytes) -> bytes:
        found = token_shape(token) if _ZERO in token or not token.isascii() else token
        if len(self) >= self.limit:
            self.clear()
        self[token] = found
        return found


# The same classes on an ASCII token whose digits are all "0" already, without decoding.
_ASCII_WORDS = re.compile(rb"([%b]+)" % DELIMITERS.encode())
_ASCII_QUANTITY = re.compile(rb"[-+]?0+(?:\.0+)*(%b)?" % UNITS.encode())


def _ascii_marker(word: bytes) -> bytes:
    found = _ASCII_QUANTITY.fullmatch(word)
    if found is None:
        return word[: len(word) - len(word.lstrip(b"/\\"))] + b"0x"
    return b"0" if found.group(1) is None else b"0s"


def token_shape(token: bytes) -> bytes:
    """`token` with each word holding a digit replaced by its class marker."""
    if token.isascii() and b"1" not in token:  # a digit shape: every ASCII digit is "0"
        words = _ASCII_WORDS.split(token)
        for i in range(0, len(words), 2):
            if b"0" in words[i]:
                words[i] = _ascii_marker(words[i])
        return b"".join(words)
    text = token.decode("utf-8", "surrogatepass")
    return _DIGIT_WORD.sub(_marker, text).encode("utf-8", "surrogatepass")


# A quantity rule may join a token with the next: "(12 KB)", "( 12 )", "12 ms". Its tokens end in
# "(", or in a number ("0", "0s") that a unit or a ")" follows.
_OPENS_QUANTITY = (b"(", b"0", b"0s")
_CLOSES_QUANTITY = re.compile(
    rb"\)|(?:" + UNITS.encode() + rb")(?:[" + DELIMITERS.encode() + rb"]|\Z)"
)


class TokenMasks(dict[bytes, str]):
    """Masked token shapes (a token shape masks like every token it stands for), memoised.

    Masking token by token gives the masking regex's result whenever no quantity rule spans two
    tokens; `masked` says None when one might, and the caller masks the whole message.
    """

    def __init__(self, limit: int, heuristics: Heuristics) -> None:
        super().__init__()
        self.limit = limit
        self.heuristics = heuristics
        self._pattern = mask_pattern(heuristics)

    def masked(self, shapes: list[bytes], joined: bytes | None = None) -> str | None:
        """The masked message, from its token shapes; None if a rule might span tokens.

        `joined`, the shapes joined (`TokenShapes.key`), spares the pairwise test when it holds
        neither byte a quantity's first token ends with."""
        if self.heuristics.quantities and (joined is None or b"(" in joined or b"0" in joined):
            for token, after in pairwise(shapes):
                if token.endswith(_OPENS_QUANTITY) and (
                    token.endswith(b"(") or _CLOSES_QUANTITY.match(after)
                ):
                    return None
        # written out rather than `map(self.__getitem__, ...)`: where most tokens are new (a
        # message no key knew), the dispatch to `__missing__` cost a fifth of masking them
        get, sub, masked = self.get, self._pattern.sub, []
        for token in shapes:
            found = get(token)
            if found is None:  # `__missing__`, inline
                found = sub(WILDCARD, token.decode("utf-8", "surrogatepass"))
                if len(self) >= self.limit:
                    self.clear()
                self[token] = found
            masked.append(found)
        return " ".join(masked)

    def __missing__(self, token: bytes) -> str:
        found = self._pattern.sub(WILDCARD, token.decode("utf-8", "surrogatepass"))
        if len(self) >= self.limit:
            self.clear()
        self[token] = found
        return found
