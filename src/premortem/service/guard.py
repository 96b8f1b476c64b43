"""The edge of the HTTP service: what a request must pass before any route reads it.

Checked in this order, each refusal an RFC 9457 problem+json answer sent before a byte of the
body is read (so a 200 MB body costs nothing unless its sender may send it):

    Host not one this server answers to (DNS rebinding) ........................ 400
    cross-site write (Origin, Sec-Fetch-Site) by cookie or on an open server ... 403
    browser-form content type on an API route of an open server ................ 415
    no or unknown token, or one lacking the route's scope ...................... 401 / 403
    Content-Length over the route's limit ...................................... 413

Then the guard reads the body itself, bounded in size (413) and in the wait for each part (408),
and hands it to the route. Ingest routes (those reading a raw batch) get `max_body_bytes`, every
other route `max_api_body_bytes`. See docs/security.md.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from premortem.config import Settings
from premortem.service import problems
from premortem.service.auth import CHALLENGE, PageScope, Require, login_url, refusal, token_from
from premortem.service.deps import read_body

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What a page of another site can send without a CORS preflight (besides no type at all).
BROWSER_FORM_TYPES = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)
LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost")
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})
# Probes (Kubernetes sends the pod IP as Host) learn nothing worth rebinding for.
UNGUARDED_PATHS = frozenset({"/healthz", "/readyz"})
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::[0-9]{1,5})?")


def host_name(value: str) -> str | None:
    """The name in a Host header (or host[:port]), lower-cased; None if it is not one."""
    match = _HOST.fullmatch(value.strip())
    if match is None:
        return None
    return match.group(1).strip("[]").lower().rstrip(".")


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """localhost, the bound address, public_url's host and the configured ones ('*': any)."""
    names = set(LOCAL_HOSTS)
    if settings.bind_host not in WILDCARD_BINDS:
        names.add(settings.bind_host.strip("[]").lower())
    if settings.public_url:
        names.add(urlsplit(settings.public_url).hostname or "")
    names.update(host_name(h) or h.lower() for h in settings.allowed_hosts)
    return frozenset(names - {""})


@dataclass(frozen=True, slots=True)
class RouteNeeds:
    """What the guard must know of the route a request goes to."""

    scope: str | None = None  # the token scope it requires; None: open to all
    ingest: bool = False  # reads a raw batch: the ingest body limit applies
    page: bool = False  # a dashboard page: forms are its content type, sign-in its refusal


def needs_of(route: BaseRoute) -> RouteNeeds:
    """A route's token scope (from its `Require` dependency) and whether it ingests batches."""
    if not isinstance(route, APIRoute):
        return RouteNeeds()
    calls = list(_calls(route.dependant))
    scope = next((call.scope for call in calls if isinstance(call, Require)), None)
    page = next((call.scope for call in calls if isinstance(call, PageScope)), None)
    if scope is None and page is not None:
        return RouteNeeds(scope=page, page=True)
    return RouteNeeds(scope=scope, ingest=read_body in calls)


def _flat(routes: Sequence[BaseRoute]) -> list[tuple[Any, BaseRoute]]:
    """(what matches a request, the route) for every route, inside included routers too."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers: the list is already flat
        return [(route, route) for route in routes]
    return [(context, context.original_route) for context in iter_route_contexts(routes)]


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def same_site(origin: str, host: str, *, public_origin: str | None) -> bool:
    """An Origin (or Referer) is this site's: the public URL's origin, or the request's Host."""
    origin = origin.strip().lower().rstrip("/")
    if public_origin is not None and (
        origin == public_origin or origin.startswith(public_origin + "/")
    ):
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower()


def public_origin(settings: Settings) -> str | None:
    public = urlsplit(settings.public_url) if settings.public_url else None
    return f"{public.scheme}://{public.netloc}".lower() if public else None


def _bearer(request: Request) -> bool:
    return request.headers.get("authorization", "").lower().startswith("bearer ")


class Refused(Exception):
    """A request the guard answers itself, with a problem+json response."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        kind: str = "",
        challenge: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.kind = status, title, detail, kind
        self.headers = CHALLENGE if challenge else headers


class EdgeGuard:
    """Pure ASGI middleware (a body read here is replayed to the route, never read twice)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        tokens: dict[str, set[str]],
        routes: Sequence[BaseRoute],
    ) -> None:
        self.app = app
        self.settings = settings
        self.tokens = tokens
        self.routes = routes  # the app's own list: complete by the first request
        self._table: list[tuple[Any, RouteNeeds]] | None = None
        self.hosts = allowed_hosts(settings)
        self.public_origin = public_origin(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            replayed = await self._admit(request, receive)
        except Refused as refused:
            response = problems.problem(
                refused.status,
                refused.title,
                refused.detail,
                kind=refused.kind,
                instance=scope["path"],
                headers=refused.headers,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, replayed, send)

    async def _admit(self, request: Request, receive: Receive) -> Receive:
        """The checks in order; the receive channel the route should read its body from."""
        if request.scope["path"] in UNGUARDED_PATHS:
            return receive
        self.check_host(request)
        length = _content_length(request)
        writes = request.method in WRITES
        if not writes and length == 0:
            return receive  # reads: the route's own dependencies check the token
        needs = self.needs(request.scope)
        open_server = not self.tokens
        if writes:
            self.check_same_origin(request, open_server=open_server)
        if writes and open_server and needs.scope is not None and not needs.page:
            check_content_type(request)
        if needs.scope is not None:
            self.check_token(request, needs.scope, page=needs.page)
        if length == 0:
            return receive
        limit = self.settings.max_body_bytes if needs.ingest else self.settings.max_api_body_bytes
        if length is not None and length > limit:
            raise _too_large(f"body of {length} bytes exceeds the limit of {limit} bytes")
        messages = await self.read(receive, limit=limit)
        return _replay(messages, receive)

    def check_host(self, request: Request) -> None:
        if "*" in self.hosts:
            return
        if self.tokens and _bearer(request):
            # DNS rebinding borrows a browser's ambient access (an open server, a login cookie);
            # a request that presents a token of its own (Prometheus by pod IP, a shipper by the
            # server's address) is not one. The token is checked next, like any other.
            return
        header = request.headers.get("host", "")
        if host_name(header) not in self.hosts:
            raise Refused(
                400,
                "Host not allowed",
                f"this server does not answer to Host {header!r}; "
                "add the name to PREMORTEM_ALLOWED_HOSTS",
                kind="host-not-allowed",
            )

    def check_same_origin(self, request: Request, *, open_server: bool) -> None:
        """A browser's cross-site write carries no bearer token: only its cookie, or nothing."""
        if _bearer(request) and not open_server:
            return
        origin = request.headers.get("origin")
        cross = request.headers.get("sec-fetch-site", "").lower() == "cross-site"
        if origin is not None and not self._own(origin, request.headers.get("host", "")):
            cross = True
        if cross:
            raise Refused(
                403,
                "Cross-site request refused",
                f"a write from another site (Origin {origin!r}) is refused; "
                "use a bearer token from outside a browser",
                kind="cross-site",
            )

    def _own(self, origin: str, host: str) -> bool:
        return same_site(origin, host, public_origin=self.public_origin)

    def check_token(self, request: Request, scope: str, *, page: bool = False) -> None:
        refused = refusal(self.tokens, token_from(request), scope)
        if refused is None:
            return
        status, reason = refused
        if page and status == 401:  # a signed-out browser: to the sign-in page, as the page would
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise Refused(303, "See Other", reason, headers={"Location": login_url(path)})
        title = "Unauthorized" if status == 401 else "Forbidden"
        raise Refused(status, title, reason, challenge=status == 401)

    def needs(self, scope: Scope) -> RouteNeeds:
        """What the route this request goes to needs (nothing, if it goes to none)."""
        if self._table is None:
            self._table = [(matcher, needs_of(route)) for matcher, route in _flat(self.routes)]
        for matcher, needs in self._table:
            match, _ = matcher.matches(scope)
            if match is Match.FULL:
                return needs
        return RouteNeeds()

    async def read(self, receive: Receive, *, limit: int) -> list[Message]:
        """The body's messages, refused past `limit` bytes or a stall of `body_timeout_s`."""
        messages: list[Message] = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.settings.body_timeout_s)
            except TimeoutError:
                raise Refused(
                    408,
                    "Request timeout",
                    f"the body stalled for {self.settings.body_timeout_s:g}s "
                    f"after {size} bytes (is Content-Length larger than the body?)",
                    kind="body-timeout",
                ) from None
            messages.append(message)
            if message["type"] != "http.request":
                return messages  # the client went away: the route sees the disconnect
            size += len(message.get("body", b""))
            if size > limit:
                raise _too_large(f"body exceeds the limit of {limit} bytes")
            if not message.get("more_body", False):
                return messages


def check_content_type(request: Request) -> None:
    """On an open server the API takes no type a cross-site page could send without asking."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in BROWSER_FORM_TYPES:
        raise Refused(
            415,
            "Unsupported media type",
            f"{media} is refused on an open server (a web page could send it); "
            "send application/json, application/x-ndjson or the format's own type",
            kind="unsupported-media-type",
        )


def _content_length(request: Request) -> int | None:
    """The declared length; 0 for no body, None when the length is not declared (chunked)."""
    declared = request.headers.get("content-length")
    if declared is None:
        chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
        return None if chunked else 0
    if not declared.strip().isdigit():
        raise Refused(400, "Invalid request", "Content-Length must be a number", kind="invalid")
    return int(declared)


def _too_large(detail: str) -> Refused:
    return Refused(413, "Payload too large", detail, kind="too-large")


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = deque(messages)

    async def replayed() -> Message:
        if pending:
            return pending.popleft()
        return await receive()  # after the body: wait for the disconnect, as before

    return replayed
