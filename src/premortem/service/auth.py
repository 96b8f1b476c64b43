"""Bearer-token scopes. With no tokens configured every route is open (and the server binds to
127.0.0.1 only); with tokens, every route but health needs a token of the right scope."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request

from premortem.config import Scope

AUTH_COOKIE = "premortem_token"


def token_from(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip()
    return request.cookies.get(AUTH_COOKIE)


def scopes_of(request: Request, token: str | None) -> set[str] | None:
    """The scopes a token grants; None when tokens are not configured (everything allowed)."""
    known: dict[str, set[str]] = request.app.state.token_scopes
    if not known:
        return None
    if token is None:
        return set()
    for candidate, scopes in known.items():
        if hmac.compare_digest(candidate.encode(), token.encode()):
            return scopes
    return set()


def require(scope: Scope) -> Callable[[Request], Coroutine[Any, Any, None]]:
    async def check(request: Request) -> None:
        token = token_from(request)
        scopes = scopes_of(request, token)
        if scopes is None:
            return
        if token is None or not scopes:
            raise HTTPException(
                401,
                "a bearer token is required" if token is None else "unknown token",
                headers={"WWW-Authenticate": 'Bearer realm="premortem"'},
            )
        if scope not in scopes:
            raise HTTPException(403, f"this token lacks the {scope!r} scope")

    return check
