"""Faults a simulation can inject at set (simulated) times.

Each fault changes one knob of the service model while it is active and restores it afterwards:

    latency          +value seconds on every database query (network or storage latency), or on
                     every request when the model has no database
    cpu_hog          CPU time per request multiplied by value (a noisy neighbour, a GC storm)
    process_kill     value workers lost (killed processes); in-flight requests still finish
    connection_leak  each returned connection is kept (leaked) with probability value; leaked
                     connections stay checked out for the rest of the run, as they do in life
    load_spike       request rate multiplied by value
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FaultType = Literal["latency", "cpu_hog", "process_kill", "connection_leak", "load_spike"]

FAULT_DEFAULT_VALUES: dict[str, float] = {
    "latency": 0.1,
    "cpu_hog": 2.0,
    "process_kill": 1.0,
    "connection_leak": 0.05,
    "load_spike": 3.0,
}
_ALIASES = {"network_latency": "latency", "added_latency": "latency", "kill": "process_kill"}


class FaultSpec(BaseModel):
    """One fault: what, when (seconds after the start) and for how long (None: until the end)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: FaultType
    start_s: float = Field(default=0.0, ge=0)
    duration_s: float | None = Field(default=None, gt=0)
    value: float | None = Field(default=None, description="see the module docstring; by type")

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("type"), str):
            data = {**data, "type": _ALIASES.get(data["type"], data["type"])}
        return data

    @model_validator(mode="after")
    def _sane_value(self) -> FaultSpec:
        value = self.effective_value
        if self.type in ("cpu_hog", "load_spike") and value <= 0:
            raise ValueError(f"{self.type} value must be a positive factor, got {value}")
        if self.type == "connection_leak" and not 0 <= value <= 1:
            raise ValueError(f"connection_leak value is a probability, got {value}")
        if self.type in ("latency", "process_kill") and value < 0:
            raise ValueError(f"{self.type} value must be >= 0, got {value}")
        return self

    @property
    def effective_value(self) -> float:
        return FAULT_DEFAULT_VALUES[self.type] if self.value is None else self.value

    @property
    def end_s(self) -> float | None:
        return None if self.duration_s is None else self.start_s + self.duration_s
