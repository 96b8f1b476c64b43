"""The What-If page: sliders for the service's parameters, a fault selector, and a chart of each
failure mode's probability along the varied parameter. The page only renders the form; its
script (`static/whatif.js`) posts to `POST /api/v1/what-if` and draws the answer."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from premortem.service.routes_whatif import DEFAULT_DURATION_S
from premortem.service.ui.web import Reader, render, runtime_of
from premortem.sim import MODELS
from premortem.sim.faults import FAULT_DEFAULT_VALUES

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
        faults=[(name, FAULT_LABELS[name], value) for name, value in FAULT_DEFAULT_VALUES.items()],
        services=runtime_of(request).overview.services(),
        service=service or "",
        duration_s=DEFAULT_DURATION_S,
    )
