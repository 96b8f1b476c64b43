"""RFC 9457 problem+json: every error the API returns is mapped here, in one place."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from premortem.errors import (
    Busy,
    ConfigError,
    Conflict,
    IngestError,
    NotFound,
    PayloadTooLarge,
    PremortemError,
    Unavailable,
)

PROBLEM = "application/problem+json"
TYPE_BASE = "https://premortem.dev/problems/"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    kind: str = "",
    instance: str = "",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"{TYPE_BASE}{kind}" if kind else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _pointer(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return "/" + "/".join(parts) if parts else ""


def install(app: FastAPI) -> None:
    @app.exception_handler(PremortemError)
    async def _premortem_error(request: Request, exc: PremortemError) -> JSONResponse:
        path = request.url.path
        if isinstance(exc, PayloadTooLarge):
            return problem(413, "Payload too large", str(exc), kind="too-large", instance=path)
        if isinstance(exc, IngestError):
            errors = [{"pointer": e.pointer, "detail": e.message} for e in exc.errors]
            return problem(
                400, "Invalid input", str(exc), kind="invalid-input", instance=path, errors=errors
            )
        if isinstance(exc, Busy):  # analysis behind (429), or the log stream not there (503)
            status, title, kind = (
                (503, "Service unavailable", "unavailable")
                if isinstance(exc, Unavailable)
                else (429, "Too many requests", "busy")
            )
            return problem(
                status,
                title,
                str(exc),
                kind=kind,
                instance=path,
                headers={"Retry-After": str(exc.retry_after_s)},
            )
        if isinstance(exc, NotFound):
            return problem(404, "Not found", str(exc), kind="not-found", instance=path)
        if isinstance(exc, Conflict):
            return problem(409, "Conflict", str(exc), kind="conflict", instance=path)
        if isinstance(exc, ConfigError):
            return problem(400, "Invalid configuration", str(exc), kind="config", instance=path)
        return problem(500, "Internal error", str(exc), kind="internal", instance=path)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"pointer": _pointer(tuple(e.get("loc", ()))), "detail": e.get("msg", "")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['pointer'] or '/'}: {e['detail']}" for e in errors)
        return problem(
            422,
            "Invalid request",
            detail,
            kind="invalid-request",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405:
            # Starlette names the methods of the first route on the path only (POST for
            # /api/v1/logs, whose GET is another route); RFC 9110 wants all of them.
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return problem(
            exc.status_code,
            _reason(exc.status_code),
            str(exc.detail),
            instance=request.url.path,
            headers=headers,
        )


def allowed_methods(request: Request) -> list[str]:
    """Every method some route on the request's path answers."""
    from fastapi.routing import iter_route_contexts

    methods: set[str] = set()
    for context in iter_route_contexts(request.app.router.routes):
        match, _ = context.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(context.original_route, "methods", None) or set()
    return sorted(methods)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
