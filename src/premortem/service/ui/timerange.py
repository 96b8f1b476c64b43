"""The time window of every page: a relative range, an absolute from/to, or one fitted to the data.

In the URL: `?range=24h` (any of RANGES), or `?range=custom&from=…&to=…` with RFC 3339 times or
the `YYYY-MM-DDTHH:MM[:SS]` a browser's date-time field sends (read as UTC). `from`/`to` without
`range` mean custom too. Without either, the page opens on the last 24 h when anything was stored
in it, else on the stored data (`fit`): a replayed history or `make serve`'s 2023 seed example
shows at once instead of an empty page. A chosen window holding no data offers a jump to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import HTTPException

from premortem.domain import datetime_to_ns, rfc3339_ns

NS = 1_000_000_000
RANGES = {"1h": 3600, "6h": 6 * 3600, "24h": 24 * 3600, "7d": 7 * 86400, "30d": 30 * 86400}
DEFAULT_RANGE = "24h"
CUSTOM = "custom"
MAX_FIT_S = RANGES["30d"]  # a fitted window shows at most the newest 30 days of data
MIN_PAD_S = 60
# Oldest and newest stored time, or None when nothing is stored (`SqlOverview.data_extent`).
Extent = Callable[[], tuple[int, int] | None]


@dataclass(frozen=True, slots=True)
class TimeRange:
    name: str  # a RANGES key or "custom"
    since_ns: int
    until_ns: int
    jump: TimeRange | None = None  # where the stored data is, when this window holds none

    @property
    def seconds(self) -> int:
        return (self.until_ns - self.since_ns) // NS

    @property
    def query(self) -> str:
        """This window as URL parameters (links and pagers keep it)."""
        if self.name != CUSTOM:
            return f"range={self.name}"
        return f"range={CUSTOM}&from={self.from_text}Z&to={self.to_text}Z"

    @property
    def from_text(self) -> str:
        return _field_text(self.since_ns)

    @property
    def to_text(self) -> str:
        return _field_text(self.until_ns)

    @property
    def label(self) -> str:
        """How a page names the window: "24h", or "2023-11-15 14:27 – 14:36 UTC"."""
        if self.name != CUSTOM:
            return self.name
        start, end = _shown(self.since_ns), _shown(self.until_ns)
        if start[:10] == end[:10]:
            end = end[11:]
        return f"{start} – {end} UTC"


def choose(
    extent: Extent,
    now_ns: int,
    name: str | None,
    since: str | None,
    until: str | None,
    *,
    default: str = DEFAULT_RANGE,
) -> TimeRange:
    """The window a page asked for (see the module's docstring)."""
    return choose_ns(
        extent,
        now_ns,
        name,
        _parse(since, "from") if since else None,
        _parse(until, "to") if until else None,
        default=default,
    )


def choose_ns(
    extent: Extent,
    now_ns: int,
    name: str | None,
    since_ns: int | None,
    until_ns: int | None,
    *,
    default: str = DEFAULT_RANGE,
    names: tuple[str, str] = ("from", "to"),
) -> TimeRange:
    """`choose` with the bounds already read (the API's `since`/`until`, named by `names`)."""
    if name == CUSTOM or (name is None and (since_ns is not None or until_ns is not None)):
        window = _custom(since_ns, until_ns, now_ns, names)
    elif name in RANGES:
        window = _relative(name, now_ns)
    else:
        window = _relative(default, now_ns)
        stored = extent()
        if stored is not None and not _overlaps(window, stored):
            return fit(stored)
        return _with_jump(window, stored)
    return _with_jump(window, extent())


def fit(extent: tuple[int, int]) -> TimeRange:
    """A custom window around the stored data (its newest 30 days), with a margin each side."""
    low, high = extent
    low = max(low, high - MAX_FIT_S * NS)
    pad = max(MIN_PAD_S * NS, (high - low) // 20)
    return TimeRange(CUSTOM, low - pad, high + pad)


def _relative(name: str, now_ns: int) -> TimeRange:
    return TimeRange(name, now_ns - RANGES[name] * NS, now_ns + 60 * NS)


def _custom(
    since_ns: int | None, until_ns: int | None, now_ns: int, names: tuple[str, str]
) -> TimeRange:
    until_ns = until_ns if until_ns is not None else now_ns + 60 * NS
    since_ns = since_ns if since_ns is not None else until_ns - RANGES[DEFAULT_RANGE] * NS
    if since_ns >= until_ns:
        raise HTTPException(400, f"time range: `{names[0]}` must be before `{names[1]}`")
    return TimeRange(CUSTOM, since_ns, until_ns)


def _with_jump(window: TimeRange, extent: tuple[int, int] | None) -> TimeRange:
    if extent is None or _overlaps(window, extent):
        return window
    return TimeRange(window.name, window.since_ns, window.until_ns, jump=fit(extent))


def _overlaps(window: TimeRange, extent: tuple[int, int]) -> bool:
    return extent[0] <= window.until_ns and extent[1] >= window.since_ns


def _parse(text: str, name: str) -> int:
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        raise HTTPException(
            400, f"time range: `{name}` must be a date and time (2024-05-01T12:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # a browser's date-time field: read as UTC
    if not 1678 <= parsed.year <= 2261:
        raise HTTPException(400, f"time range: `{name}` must fall within 1678–2261")
    return datetime_to_ns(parsed)


def _field_text(ns: int) -> str:
    return rfc3339_ns(ns)[:19]  # YYYY-MM-DDTHH:MM:SS, what a datetime-local field shows


def _shown(ns: int) -> str:
    return rfc3339_ns(ns)[:16].replace("T", " ")
