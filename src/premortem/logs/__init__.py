"""Log analysis: template mining (`miner`, `masking`) and windowed counts.

`TemplateMiner` is the role the pipeline codes against; `DrainMiner` is the implementation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from premortem.logs.miner import DrainMiner, Match, PrefixTreeMiner

if TYPE_CHECKING:  # pydantic stays out of a process that only mines
    from premortem.domain import Template


class TemplateMiner(Protocol):
    """Assigns each log message a template of its service; state is opaque bytes."""

    evictions: int

    def add(self, message: str, *, service: str = "") -> Match: ...

    def match(self, message: str, *, service: str = "") -> Match | None: ...

    def templates(self) -> list[Template]: ...

    def dumps(self) -> bytes: ...


__all__ = ["DrainMiner", "Match", "PrefixTreeMiner", "TemplateMiner"]
