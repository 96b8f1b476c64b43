"""JSON for state that holds log text: orjson, and the standard library where orjson refuses.

Log text can hold lone surrogates (syslog bytes that are not UTF-8 are kept with
`surrogateescape`); orjson refuses to write them and to read their escapes. The fallback writes
them as `\\udcXX` escapes (ASCII JSON) and reads them back unchanged, so a miner's state, a
predictor's checkpoint or a bus message never fails on a hostile line.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # a lone surrogate
        return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode()


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:  # escaped lone surrogates
        return json.loads(data)
