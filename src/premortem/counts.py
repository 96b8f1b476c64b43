"""What the log miner counts and the store keeps: closed windows, series points, template fields.

Plain data shared by `logs/` (which produces it) and `store/` (which persists it), so that the
store never imports the miner. Imports only the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Window:
    """Counts of one source over `[start_ns, end_ns)`. Immutable once closed."""

    service: str
    start_ns: int
    end_ns: int
    total: int
    errors: int
    by_template: Mapping[int, int]
    by_severity: Mapping[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "total": self.total,
            "errors": self.errors,
            "by_template": {str(k): v for k, v in self.by_template.items()},
            "by_severity": dict(self.by_severity),
        }

    def __reduce__(self) -> tuple[Any, ...]:
        # Read-only views do not pickle (analysis checkpoints): a window pickles as its JSON.
        return (window_from_json, (self.to_json(),))

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Window:
        return window_from_json(doc)


def window_from_json(doc: Mapping[str, Any]) -> Window:
    return make_window(
        str(doc["service"]),
        int(doc["start_ns"]),
        int(doc["end_ns"]),
        total=int(doc["total"]),
        errors=int(doc["errors"]),
        by_template={int(k): int(v) for k, v in doc["by_template"].items()},
        by_severity={str(k): int(v) for k, v in doc["by_severity"].items()},
    )


def make_window(
    service: str,
    start_ns: int,
    end_ns: int,
    *,
    total: int,
    errors: int,
    by_template: dict[int, int],
    by_severity: dict[str, int],
) -> Window:
    """A window whose mappings are read-only views (callers must not keep the dicts)."""
    return Window(
        service,
        start_ns,
        end_ns,
        total,
        errors,
        MappingProxyType(by_template),
        MappingProxyType(by_severity),
    )


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    start_ns: int
    count: int


class TemplateFields(Protocol):
    """What a repository stores of a template: `Template`, or the catalog's own statistics."""

    @property
    def id(self) -> int: ...
    @property
    def service(self) -> str: ...
    @property
    def template(self) -> str: ...
    @property
    def count(self) -> int: ...
    @property
    def first_seen_ns(self) -> int: ...
    @property
    def last_seen_ns(self) -> int: ...
    @property
    def samples(self) -> list[str]: ...
    @property
    def parameters(self) -> list[list[str]]: ...
