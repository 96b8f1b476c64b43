"""Query parameters the routes share, bounded so that every value reaching the database fits.

Out of range is a 422 problem+json naming the parameter, never a database error: times must fit
in signed 64-bit nanoseconds (1677-09-21 .. 2262-04-11), offsets in a signed 64-bit integer,
template ids in the 32-bit column that holds them.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Query
from pydantic import BeforeValidator

from premortem.domain import UtcDatetime

MAX_INT64 = 2**63 - 1
MAX_INT32 = 2**31 - 1

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_INT64)]
_EXPONENT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?[eE][+-]?[0-9]+")


def _exponent_as_number(value: object) -> object:
    """An epoch number written with an exponent (`1.7e9`), read as the number it is: the
    document says "number", and pydantic reads only plain decimals from a query string."""
    if isinstance(value, str) and _EXPONENT.fullmatch(value):
        return float(value)
    return value


QueryTime = Annotated[UtcDatetime | None, BeforeValidator(_exponent_as_number)]
Since = Annotated[QueryTime, Query(description="RFC 3339 or epoch s/ms; inclusive")]
Until = Annotated[QueryTime, Query(description="RFC 3339 or epoch s/ms; exclusive")]
TemplateId = Annotated[int | None, Query(ge=0, le=MAX_INT32)]
