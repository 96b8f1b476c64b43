"""The API's own documentation pages, served from this machine under the app's CSP.

FastAPI's built-in `/docs` and `/redoc` load Swagger UI and ReDoc from a CDN and start them with
an inline script: the Content-Security-Policy (`script-src 'self'`) blocks both, and a server
without internet could not fetch them anyway. Here the files come from the `fastapi-offline`
package (Swagger UI and ReDoc builds, MIT/Apache-2.0) and each page starts its viewer from a
script file of ours (`ui/static/apidocs.js`), which reads the OpenAPI URL from the page.
"""

from __future__ import annotations

from functools import cache
from html import escape
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

from premortem.service.headers import CSP

VENDOR = Path(fastapi_offline.__file__).parent / "static"
FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
}
OPENAPI_URL = "/openapi.json"
REDOC_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
# ReDoc 2.x draws "API docs by Redocly" with a logo from its CDN: under the CSP (and offline) the
# browser blocks it and logs an error on every visit, so the file we serve points it at an empty
# image instead. Other builds without that URL are served unchanged.
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_SVG = b"data:image/svg+xml,%3Csvg xmlns=%27http://www.w3.org/2000/svg%27/%3E"
CACHE = {"Cache-Control": "public, max-age=86400"}

router = APIRouter(include_in_schema=False)


def _page(title: str, viewer: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        '<link rel="icon" href="/ui/static/favicon.svg" type="image/svg+xml">\n'
        f"{head}</head>\n"
        f'<body data-viewer="{viewer}" data-openapi-url="{OPENAPI_URL}">\n{body}'
        '<script src="/ui/static/apidocs.js"></script>\n</body>\n</html>\n'
    )


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui() -> HTMLResponse:
    return _page(
        "premortem API — Swagger UI",
        "swagger",
        '<link rel="stylesheet" href="/api-docs/swagger-ui.css">\n',
        '<div id="swagger-ui"></div>\n<script src="/api-docs/swagger-ui-bundle.js"></script>\n',
    )


@router.get("/redoc", response_class=HTMLResponse)
def redoc() -> HTMLResponse:
    page = _page(
        "premortem API — ReDoc",
        "redoc",
        "",
        '<div id="redoc"></div>\n<script src="/api-docs/redoc.standalone.js"></script>\n',
    )
    page.headers["Content-Security-Policy"] = REDOC_CSP
    return page


@cache
def _redoc_without_cdn() -> bytes:
    return (VENDOR / "redoc.standalone.js").read_bytes().replace(REDOC_CDN_LOGO, EMPTY_SVG)


@router.get("/api-docs/{name}", response_model=None)
def vendored(name: str) -> FileResponse | Response:
    media = FILES.get(name)
    if media is None:
        raise HTTPException(404, "no such file")
    if name == "redoc.standalone.js":
        return Response(_redoc_without_cdn(), media_type=media, headers=CACHE)
    return FileResponse(VENDOR / name, media_type=media, headers=CACHE)
