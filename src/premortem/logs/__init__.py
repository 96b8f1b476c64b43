"""Log analysis: template mining (`miner`, `masking`) and windowed counts.

`TemplateMiner` is the role the pipeline codes against; `DrainMiner` is the implementation.
"""

from __future__ import annotations

from typing import Protocol

from premortem.domain import Template
from premortem.logs.miner import DrainMiner, Match, PrefixTreeMiner


class TemplateMiner(Protocol):
    """Assigns each log message a template of its service; state is opaque bytes."""

    evictions: int

    def add(self, message: str, *, service: str = "") -> Match: ...

    def match(self, message: str, *, service: str = "") -> Match | None: ...

    def templates(self) -> list[Template]: ...

    def dumps(self) -> bytes: ...


__all__ = ["DrainMiner", "Match", "PrefixTreeMiner", "TemplateMiner"]
