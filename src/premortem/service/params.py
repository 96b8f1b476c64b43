"""Query parameters the routes share, bounded so that every value reaching the database fits.

Out of range is a 422 problem+json naming the parameter, never a database error: times must fit
in signed 64-bit nanoseconds (1677-09-21 .. 2262-04-11), offsets in a signed 64-bit integer,
template ids in the 32-bit column that holds them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from premortem.domain import UtcDatetime

MAX_INT64 = 2**63 - 1
MAX_INT32 = 2**31 - 1

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_INT64)]
Since = Annotated[UtcDatetime | None, Query(description="RFC 3339; inclusive")]
Until = Annotated[UtcDatetime | None, Query(description="RFC 3339; exclusive")]
TemplateId = Annotated[int | None, Query(ge=0, le=MAX_INT32)]
