"""The security headers every answer carries (set by app.ObserveMiddleware)."""

from __future__ import annotations

# Pages load scripts and styles only from premortem itself: no inline script can run, so log
# content that slipped through escaping still could not execute. A route may send its own
# Content-Security-Policy (apidocs.py's ReDoc page); the middleware then leaves it alone.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)

SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
