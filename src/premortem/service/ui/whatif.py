"""The What-If page: sliders for the service's parameters, a fault selector, and a chart of each
failure mode's probability along the varied parameter. The page only renders the form; its
script (`static/whatif.js`) posts to `POST /api/v1/what-if` and draws the answer."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from premortem.runtime.assembly import Runtime
from premortem.service.routes_whatif import DEFAULT_DURATION_S, trained_model
from premortem.service.ui.web import Reader, render, runtime_of
from premortem.sim import MODELS
from premortem.sim.faults import FAULT_DEFAULT_VALUES
from premortem.sim.inference import load_thresholds

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Slider:
    """One parameter the page lets you set, and the range it sweeps when varied."""

    name: str
    label: str
    minimum: float
    maximum: float
    step: float
    value: float
    unit: str

    @property
    def default_to(self) -> float:
        """Where a sweep of this parameter ends by default: far enough to show trouble."""
        return min(self.maximum, self.value * 4) if self.value else self.maximum


def sliders() -> list[Slider]:
    defaults = {p.name: p for p in MODELS["service"].params}
    chosen = (
        ("request_rate", "Request rate", 5, 1000, 5),
        ("pool_size", "Connection pool size", 1, 64, 1),
        ("workers", "Workers", 1, 64, 1),
        ("timeout_s", "Client timeout", 0.1, 5, 0.1),
    )
    return [
        Slider(name, text, low, high, step, defaults[name].default, defaults[name].unit)
        for name, text, low, high, step in chosen
    ]


@dataclass(frozen=True, slots=True)
class LoadParameter:
    """A parameter of the user's own test runs the trained model learned a load condition on:
    no built-in model simulates it, What-If gives it to the network as evidence."""

    name: str
    thresholds: list[float]

    @property
    def learned(self) -> str:
        return " or ".join(f"≥ {x:g}" for x in self.thresholds)

    @property
    def default_to(self) -> str:
        """A sweep from 0 ends past the highest learned threshold (as the form shows it)."""
        return f"{2 * self.thresholds[-1]:.3g}" if self.thresholds[-1] > 0 else "1"


def load_parameters(runtime: Runtime) -> list[LoadParameter]:
    model, _ = trained_model(runtime)
    found = load_thresholds(model.network if model else None)
    return [LoadParameter(name, thresholds) for name, thresholds in found.items()]


FAULT_LABELS = {
    "latency": "Added query latency (s)",
    "cpu_hog": "CPU hog (time factor)",
    "process_kill": "Process kill (workers lost)",
    "connection_leak": "Connection leak (probability)",
    "load_spike": "Load spike (rate factor)",
}


@router.get("/what-if", response_class=HTMLResponse)
def what_if_page(request: Request, viewer: Reader, service: str | None = None) -> HTMLResponse:
    return render(
        request,
        "whatif.html",
        viewer=viewer,
        sliders=sliders(),
        load_params=load_parameters(runtime_of(request)),
        faults=[(name, FAULT_LABELS[name], value) for name, value in FAULT_DEFAULT_VALUES.items()],
        services=runtime_of(request).overview.services(),
        service=service or "",
        duration_s=DEFAULT_DURATION_S,
    )
