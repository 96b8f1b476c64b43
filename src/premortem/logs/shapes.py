"""Cache keys that name a message's masked token sequence without running the masking regex.

A message's *shape* is its UTF-8 bytes with every ASCII digit turned into ``0`` (one C-level
``bytes.translate``): messages that differ only in digit values share it. Real logs also vary
in ways that change the shape (a UUID's hex letters, a number's length), so a second key is made
per whitespace token: a token without a digit stands for itself; in a token with one, every word
holding a digit (words as `premortem.logs.masking` splits them) becomes a class marker:

- ``0`` for a plain number (``12``, ``-3.5``), which the quantity rules may join with a unit;
- ``0u`` for a number glued to a unit (``12KB``, ``5ms``), which may be a ``(12KB)`` quantity;
- ``0x`` for any other word with a digit, which is always masked whole.

Two messages with the same key mask to the same tokens under every combination of heuristics (the
markers keep exactly what the rules look at; a marker holds a digit, so it never equals a word that
stays as written), so the key can stand in for the masked text in a cache. Tokens are memoised, so
a key costs a split, one dict look-up per token and a join.
"""

from __future__ import annotations

import re

from premortem.logs.masking import DELIMITERS, NUMBER, UNITS

_ZERO = ord("0")
_WORDS = re.compile(rf"([{DELIMITERS}]+)")
_HAS_DIGIT = re.compile(r"\d")
_PLAIN_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)*")
_NUMBER_WITH_UNIT = re.compile(rf"{NUMBER}{UNITS}")
assert NUMBER.startswith(r"[-+]?\d+")  # the plain-number class must follow the masking rule


class TokenShapes(dict[bytes, bytes]):
    """Memoised token shapes, cleared when `limit` tokens are held (unique ids would fill it)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def key(self, shape: bytes) -> bytes:
        """The cache key of a message, from its digit shape."""
        return b" ".join(map(self.__getitem__, shape.split()))

    def __missing__(self, token: bytes) -> bytes:
        found = token_shape(token) if _ZERO in token or not token.isascii() else token
        if len(self) >= self.limit:
            self.clear()
        self[token] = found
        return found


def token_shape(token: bytes) -> bytes:
    """`token` with each word holding a digit replaced by its class marker."""
    words = _WORDS.split(token.decode("utf-8", "surrogatepass"))
    for i in range(0, len(words), 2):
        word = words[i]
        if word and _HAS_DIGIT.search(word):
            if _PLAIN_NUMBER.fullmatch(word):
                words[i] = "0"
            elif _NUMBER_WITH_UNIT.fullmatch(word):
                words[i] = "0u"
            else:
                words[i] = "0x"
    return "".join(words).encode("utf-8", "surrogatepass")
