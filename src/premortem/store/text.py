"""Text that every database stores the same way.

PostgreSQL refuses two things Python strings may hold: the NUL character (U+0000) in text columns
and in JSON (`\\u0000` in JSONB), and lone UTF-16 surrogates (U+D800-U+DFFF), which are no
characters at all and cannot be encoded as UTF-8 (SQLite's driver refuses them too). Rather than
fail a whole batch, both are replaced by U+FFFD REPLACEMENT CHARACTER, the character Unicode
reserves for exactly this, on SQLite and PostgreSQL alike: in every bound parameter (so a query for
`a\\x00b` finds what was stored as `a\\ufffdb`) and in every JSON document, keys included. In JSON
documents an integer past 64 bits (which orjson cannot write) becomes a float, as orjson reads it.

Record ids are derived before this happens, so two records that differed only there stay two.

>>> storable("a\\x00b")
'a\\ufffdb'
>>> storable_json({"k\\x00": ["\\ud800", 1, 2**70]})
{'k\\ufffd': ['\\ufffd', 1, 1.1805916207174113e+21]}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import Engine, event

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_storable(text: str) -> bool:
    # isascii() is O(1) in CPython, so the common case costs one scan for NUL.
    return "\x00" not in text and (text.isascii() or _UNSTORABLE.search(text) is None)


def storable(text: str) -> str:
    """`text` with NUL and lone surrogates replaced by U+FFFD."""
    return text if is_storable(text) else _UNSTORABLE.sub(REPLACEMENT, text)


def storable_json(value: Any) -> Any:
    """A decoded JSON value with every string (keys too) made storable; others returned as is."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, Mapping):
        return {
            storable(k) if isinstance(k, str) else k: storable_json(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [storable_json(v) for v in value]
    if type(value) is int and not _INT_MIN <= value <= _UINT_MAX:
        return _wide_int(value)
    return value


_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1


def _wide_int(value: int) -> float | str:
    """An integer no JSON column keeps exactly: a float, as orjson reads such a number back."""
    try:
        return float(value)
    except OverflowError:
        return str(value)


def json_dumps(value: Any) -> str:
    """JSON text for a JSON column: orjson, with unstorable text replaced (see module doc)."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:  # a lone surrogate, an integer past 64 bits (a nesting
        # deeper than orjson writes is re-raised: the API refuses those, see ingest.fields)
        return orjson.dumps(storable_json(value), option=orjson.OPT_NON_STR_KEYS).decode()
    if "\\u0000" in text:  # may also be an escaped backslash before "u0000": then nothing changes
        return orjson.dumps(storable_json(value), option=orjson.OPT_NON_STR_KEYS).decode()
    return text


def storable_parameters(parameters: Any) -> Any:
    """DB-API parameters (a tuple, a dict, or a list of them) with unstorable strings replaced.

    Returns the same object when nothing needs replacing, which is almost always."""
    if isinstance(parameters, Mapping):
        if all(type(v) is not str or is_storable(v) for v in parameters.values()):
            return parameters
        return {k: storable(v) if type(v) is str else v for k, v in parameters.items()}
    if isinstance(parameters, tuple):
        if all(type(v) is not str or is_storable(v) for v in parameters):
            return parameters
        return tuple(storable(v) if type(v) is str else v for v in parameters)
    if isinstance(parameters, list):
        if parameters and isinstance(parameters[0], Mapping | tuple | list):  # executemany
            cleaned = [storable_parameters(p) for p in parameters]
            unchanged = all(a is b for a, b in zip(cleaned, parameters, strict=True))
            return parameters if unchanged else cleaned
        return list(storable_parameters(tuple(parameters)))
    return parameters


def install(engine: Engine) -> None:
    """Make every statement on `engine` bind storable text (its JSON goes through `json_dumps`).

    A statement run with the execution option `storable_text=True` skips the check: its caller
    has cleaned the values already (the log hot path)."""
    event.listen(engine, "before_cursor_execute", _clean_parameters, retval=True)


def _clean_parameters(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any, _many: bool
) -> tuple[str, Any]:
    if context is not None and context.execution_options.get("storable_text"):
        return statement, parameters
    return statement, storable_parameters(parameters)
