"""Log analysis: template mining (`miner`, `masking`) and windowed counts.

`TemplateMiner` is the one miner role the pipeline and the learning code against (the server's
catalog, the model's own miner, a run's timeline); `PrefixTreeMiner` is its implementation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Self

from premortem.logs.miner import Match, PrefixTreeMiner

if TYPE_CHECKING:  # pydantic stays out of a process that only mines
    from premortem.domain import Template


class TemplateMiner(Protocol):
    """Assigns each log message a template of its service; state is opaque bytes."""

    evictions: int

    def add(self, message: str, *, service: str = "") -> Match: ...

    def match(self, message: str, *, service: str = "") -> Match | None: ...

    def templates(self) -> list[Template]: ...

    def dumps(self) -> bytes: ...

    @classmethod
    def loads(cls, data: bytes) -> Self: ...


__all__ = ["Match", "PrefixTreeMiner", "TemplateMiner"]
