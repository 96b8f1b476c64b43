"""Bearer-token scopes. With no tokens configured every route is open (and the server binds to
127.0.0.1 only); with tokens, every route but health needs a token of the right scope.

`refusal` is the one rule; `Require` applies it as a route dependency, and the edge guard
(premortem.service.guard) applies the same rule to the same route before its body is read.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import HTTPException, Request

from premortem.config import Scope

AUTH_COOKIE = "premortem_token"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="premortem"'}


def token_from(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip()
    return request.cookies.get(AUTH_COOKIE)


def granted(known: Mapping[str, set[str]], token: str | None) -> set[str] | None:
    """The scopes a token grants; None when tokens are not configured (everything allowed)."""
    if not known:
        return None
    if token is None:
        return set()
    for candidate, scopes in known.items():
        if hmac.compare_digest(candidate.encode(), token.encode()):
            return scopes
    return set()


def scopes_of(request: Request, token: str | None) -> set[str] | None:
    """The scopes a token grants; None when tokens are not configured (everything allowed)."""
    return granted(request.app.state.token_scopes, token)


def refusal(known: Mapping[str, set[str]], token: str | None, scope: str) -> tuple[int, str] | None:
    """Why `token` may not use a route that needs `scope`, as (status, reason); None if it may."""
    scopes = granted(known, token)
    if scopes is None:
        return None
    if token is None:
        return 401, "a bearer token is required"
    if not scopes:
        return 401, "unknown token"
    if scope not in scopes:
        return 403, f"this token lacks the {scope!r} scope"
    return None


@dataclass(frozen=True, slots=True)
class Require:
    """Route dependency: the request's token grants `scope`."""

    scope: Scope

    async def __call__(self, request: Request) -> None:
        refused = refusal(request.app.state.token_scopes, token_from(request), self.scope)
        if refused is not None:
            status, reason = refused
            raise HTTPException(status, reason, headers=CHALLENGE if status == 401 else None)


def require(scope: Scope) -> Require:
    return Require(scope)


@dataclass(frozen=True, slots=True)
class PageScope:
    """Marks a dashboard dependency with the scope its page needs, so that the edge guard checks
    a form post's cookie before it reads the form (premortem.service.ui.web.SignedIn)."""

    scope: Scope


def login_url(next_url: str) -> str:
    return "/login?next=" + quote(next_url, safe="")
