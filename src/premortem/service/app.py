"""The FastAPI app factory: `create_app(settings)` wires routes onto a built runtime."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from premortem import __version__
from premortem.config import Settings
from premortem.runtime.assembly import Runtime, build_runtime
from premortem.service import (
    apidocs,
    openapi,
    problems,
    routes_alerts,
    routes_backtest,
    routes_chaostoolkit,
    routes_compat,
    routes_failures,
    routes_inputs,
    routes_learn,
    routes_modes,
    routes_schedules,
    routes_series,
    routes_templates,
    routes_whatif,
    ui,
)
from premortem.service.deps import CanRead
from premortem.service.guard import EdgeGuard
from premortem.service.headers import SECURITY_HEADERS
from premortem.service.metrics import ServiceMetrics
from premortem.service.syslog_listener import serve_syslog
from premortem.store.engine import ping


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> FastAPI:
    runtime = runtime or build_runtime(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            # Inside the runtime's life: the listeners' last batches reach a running pipeline.
            async with serve_syslog(runtime.pipeline, settings.syslog, metrics=_app.state.metrics):
                yield
        finally:
            runtime.stop()

    app = FastAPI(
        title="premortem",
        version=__version__,
        description="Predict failure modes before they show up in the logs.",
        lifespan=lifespan,
        # Served by apidocs.py from local files: FastAPI's pages load them from a CDN.
        docs_url=None,
        redoc_url=None,
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
    # Before routes_inputs: `/simulations/{id}/playback` must win over `/simulations/{id}`, whose
    # id may hold `/`.
    app.include_router(routes_whatif.router)
    app.include_router(routes_inputs.router)
    app.include_router(routes_compat.router)
    app.include_router(routes_templates.router)
    app.include_router(routes_modes.router)
    app.include_router(routes_alerts.router)
    app.include_router(routes_learn.router)
    app.include_router(routes_failures.router)
    app.include_router(routes_backtest.router)
    app.include_router(routes_series.router)
    app.include_router(routes_chaostoolkit.router)
    app.include_router(routes_schedules.router)
    app.include_router(ui.router)
    app.include_router(apidocs.router)
    openapi.complete(app)
    return app


def _install_middleware(app: FastAPI) -> None:
    # The guard sits inside ObserveMiddleware, so its refusals are timed and carry the headers.
    app.add_middleware(
        EdgeGuard,
        settings=app.state.settings,
        tokens=app.state.token_scopes,
        routes=app.router.routes,
    )
    app.add_middleware(ObserveMiddleware, metrics=app.state.metrics)


class ObserveMiddleware:
    """Request latency per route, and the security headers every answer carries.

    A plain ASGI middleware: unlike `@app.middleware("http")` it leaves the request body stream
    alone, which matters for megabyte-sized ingest batches.
    """

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    if name.decode() not in headers:
                        headers.append(name.decode(), value.decode())
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.request_latency.labels(scope["method"], path).observe(
                time.perf_counter() - started
            )


def _install_health(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    metrics: ServiceMetrics = app.state.metrics
    metrics.watch_predictions(runtime.prediction.live)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(response: Response) -> dict[str, str]:
        """The database answers."""
        try:
            ping(runtime.engine)
        except Exception as exc:
            response.status_code = 503
            return {"status": "unavailable", "detail": str(exc.__class__.__name__)}
        return {"status": "ready"}

    @app.get(
        "/metrics",
        tags=["health"],
        dependencies=[CanRead],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
    )
    def prometheus_metrics() -> Response:
        sizes = runtime.sizes() | {"live_predictions": len(runtime.prediction.live)}
        metrics.observe_sizes(sizes, evictions=runtime.pipeline.catalog.evictions)
        lag = runtime.pipeline.lag()
        metrics.observe_lag(
            lag.records,
            lag.seconds,
            runtime.pipeline.max_queued_records,
            failures=runtime.pipeline.failed_steps,
        )
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
