"""What every page shares: the Jinja2 environment (autoescape always on), page authentication,
the login form, same-site checks on form posts, time ranges and the static files.

Every value shown on a page came from outside and is hostile: templates never mark data safe, and
chart labels are HTML-escaped before plotly sees them (plotly reads a few tags in labels).
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import plotly
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from premortem.domain import rfc3339_ns
from premortem.runtime.assembly import Runtime
from premortem.service.auth import AUTH_COOKIE, PageScope, login_url, scopes_of, token_from
from premortem.service.ui import timerange
from premortem.service.ui.timerange import DEFAULT_RANGE, RANGES, TimeRange

HERE = Path(__file__).parent
STATIC = HERE / "static"
PLOTLY_JS = Path(os.path.dirname(plotly.__file__)) / "package_data" / "plotly.min.js"
NS = 1_000_000_000

environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

router = APIRouter(include_in_schema=False)


# --------------------------------------------------------------------------- formatting


def when(ns: int | None) -> str:
    return rfc3339_ns(ns)[:19].replace("T", " ") if ns else ""


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def count_ticks(highest: int) -> dict[str, Any]:
    """A count axis's ticks: whole ones while they are few (plotly drew 0.2, 0.4, … failures)."""
    return {"tick0": 0, "dtick": 1} if highest <= 10 else {"tickformat": ",d"}


def label(text: object) -> str:
    """Text bound for a plotly label: `<`, `>` and `&` escaped, because plotly reads tags like
    <a> and <br>. Not quotes: plotly decodes no `&quot;`, and a JSON log line's legend entry
    read `{&quot;time&quot;: …` (a trial); outside a tag a quote is only text."""
    return html.escape(str(text), quote=False)


def json_text(value: object) -> str:
    """A value as JSON text for a page, escaped by the template like any text. Not `tojson`:
    that escapes `<` as `\\u003c` for scripts, which a reader then sees as is."""
    return json.dumps(value, ensure_ascii=False, default=str)


environment.filters.update(when=when, duration=duration, percent=percent, json_text=json_text)


def sparkline_points(values: list[float], *, width: int = 120, height: int = 28) -> str:
    """SVG polyline points for a 0..1 series, oldest first (drawn server-side: no script needed)."""
    if not values:
        return ""
    if len(values) == 1:
        values = values * 2
    step = width / (len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - max(0.0, min(1.0, v)) * (height - 2) - 1:.1f}"
        for i, v in enumerate(values)
    )


@functools.cache
def plotly_style_ids() -> tuple[str, ...]:
    """Ids of the `<style>` elements plotly.js writes when it loads unless an element with that
    id exists (its bundled map library's CSS): base.html puts one in the head, so plotly writes
    none and the CSP (`style-src 'self'`) has nothing to refuse. Read from the bundle, since the
    id changes with plotly's version."""
    text = PLOTLY_JS.read_text(encoding="utf-8", errors="replace")  # once, at the first page
    return tuple(sorted(set(_PLOTLY_STYLE_ID.findall(text))))


_PLOTLY_STYLE_ID = re.compile(
    r'getElementById\("([0-9a-f]{64})"\)\)\{var [\w$]+=document\.createElement\("style"\)'
)
environment.globals.update(
    sparkline_points=sparkline_points, ranges=list(RANGES), plotly_style_ids=plotly_style_ids
)


# --------------------------------------------------------------------------- request helpers


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: whether they may edit (admin scope, or no tokens configured)."""

    can_edit: bool
    signed_in: bool


def _viewer(request: Request, scope: str) -> Viewer:
    token = token_from(request)
    scopes = scopes_of(request, token)
    if scopes is None:
        return Viewer(can_edit=True, signed_in=False)
    if not scopes:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        # A 303 with Location: the browser follows it whatever the (problem+json) body says.
        raise HTTPException(303, "sign in first", headers={"Location": login_url(here)})
    if scope not in scopes:
        raise HTTPException(403, f"this token lacks the {scope!r} scope")
    return Viewer(can_edit="admin" in scopes, signed_in=True)


@dataclass(frozen=True, slots=True)
class SignedIn(PageScope):
    """Who is looking, with `scope` required once tokens are set; a `form` post must also come
    from this site. The guard checks the same scope before it reads a form (PageScope)."""

    form: bool = False

    async def __call__(self, request: Request) -> Viewer:
        if self.form:
            check_same_site(request)
        return _viewer(request, self.scope)


Reader = Annotated[Viewer, Depends(SignedIn("read"))]
Editor = Annotated[Viewer, Depends(SignedIn("admin", form=True))]
# Form posts that change state but not the mode database (ack, feedback): `read` scope.
Poster = Annotated[Viewer, Depends(SignedIn("read", form=True))]


def check_same_site(request: Request) -> None:
    """A form post must come from a page of this site (the cookie is SameSite=Strict as well):
    the guard's rule (premortem.service.guard.same_site), so a proxy's public URL counts too."""
    from premortem.service.guard import public_origin, same_site

    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return  # not a browser: no ambient cookie to abuse
    runtime: Runtime = request.app.state.runtime
    host = request.headers.get("host", "")
    own = same_site(origin, host, public_origin=public_origin(runtime.settings))
    if origin == "null" or not own:
        raise HTTPException(403, "cross-site form posts are refused")


def render(
    request: Request, name: str, *, viewer: Viewer, status: int = 200, **context: Any
) -> HTMLResponse:
    page = environment.get_template(name).render(
        request=request, viewer=viewer, path=request.url.path, **context
    )
    return HTMLResponse(page, status_code=status, headers=_PAGE_HEADERS)


# Browsers send `Origin: null` on form posts from a no-referrer page; pages send their origin to
# themselves (only), so the same-site check on posts can rely on it.
_PAGE_HEADERS = {"Referrer-Policy": "same-origin", "Cache-Control": "no-store"}


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def time_range(request: Request, name: str | None, *, default: str = DEFAULT_RANGE) -> TimeRange:
    """The page's window from `range` and the request's `from`/`to` (ui/timerange.py)."""
    params = request.query_params
    runtime = runtime_of(request)
    now = runtime.clock.now_ns()
    since, until = params.get("from"), params.get("to")
    return timerange.choose(runtime.overview.data_extent, now, name, since, until, default=default)


def safe_next(url: str | None) -> str:
    """Only a local path may follow a login (no open redirect)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


# --------------------------------------------------------------------------- routes


@router.get("/ui/static/plotly.min.js")
def plotly_js() -> FileResponse:
    return FileResponse(PLOTLY_JS, media_type="text/javascript", headers=_CACHE)


@router.get("/ui/static/{name}")
def static_file(name: str) -> FileResponse:
    path = STATIC / name
    if "/" in name or name.startswith(".") or not path.is_file():
        raise HTTPException(404, "no such file")
    media = _MEDIA.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media, headers=_CACHE)


_CACHE = {"Cache-Control": "public, max-age=3600"}
_MEDIA = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    viewer = Viewer(can_edit=False, signed_in=False)
    return render(request, "login.html", viewer=viewer, next_url=safe_next(next), error=None)


@router.post("/login", response_model=None)
def login(
    request: Request,
    token: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    check_same_site(request)
    scopes = scopes_of(request, token.strip())
    if scopes is not None and "read" not in scopes:
        viewer = Viewer(can_edit=False, signed_in=False)
        return render(
            request,
            "login.html",
            viewer=viewer,
            status=401,
            next_url=safe_next(next),
            error="That token is not known or lacks the read scope.",
        )
    response = see_other(safe_next(next))
    response.set_cookie(
        AUTH_COOKIE,
        token.strip(),
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
        max_age=12 * 3600,
    )
    return response


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    check_same_site(request)
    response = see_other("/login")
    response.delete_cookie(AUTH_COOKIE, path="/", httponly=True, samesite="strict")
    return response
