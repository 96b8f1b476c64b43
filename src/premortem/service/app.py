"""The FastAPI app factory: `create_app(settings)` wires routes onto a built runtime."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from premortem import __version__
from premortem.config import Settings
from premortem.runtime import Runtime, build_runtime
from premortem.service import (
    problems,
    routes_alerts,
    routes_chaostoolkit,
    routes_compat,
    routes_inputs,
    routes_learn,
    routes_modes,
    routes_schedules,
    routes_templates,
    routes_whatif,
    ui,
)
from premortem.service.deps import CanRead
from premortem.service.metrics import ServiceMetrics

# Pages load scripts and styles only from premortem itself: no inline script can run, so log
# content that slipped through escaping still could not execute.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> FastAPI:
    runtime = runtime or build_runtime(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            runtime.stop()

    app = FastAPI(
        title="premortem",
        version=__version__,
        description="Predict failure modes before they show up in the logs.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.pipeline = runtime.pipeline
    app.state.alerting = runtime.alerting
    app.state.metrics = ServiceMetrics()
    app.state.token_scopes = settings.token_scopes()
    problems.install(app)
    _install_middleware(app)
    _install_health(app)
    app.include_router(routes_inputs.router)
    app.include_router(routes_compat.router)
    app.include_router(routes_templates.router)
    app.include_router(routes_modes.router)
    app.include_router(routes_alerts.router)
    app.include_router(routes_learn.router)
    app.include_router(routes_chaostoolkit.router)
    app.include_router(routes_schedules.router)
    app.include_router(routes_whatif.router)
    app.include_router(ui.router)
    return app


def _install_middleware(app: FastAPI) -> None:
    metrics: ServiceMetrics = app.state.metrics

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.request_latency.labels(request.method, path).observe(time.perf_counter() - started)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response


def _install_health(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    metrics: ServiceMetrics = app.state.metrics

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(response: Response) -> dict[str, str]:
        """The database answers."""
        try:
            with runtime.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            response.status_code = 503
            return {"status": "unavailable", "detail": str(exc.__class__.__name__)}
        return {"status": "ready"}

    @app.get("/metrics", tags=["health"], dependencies=[CanRead])
    def prometheus_metrics() -> Response:
        catalog = runtime.pipeline.catalog
        metrics.templates.set(len(catalog.miner.templates()))
        metrics.template_evictions.set(catalog.evictions)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
