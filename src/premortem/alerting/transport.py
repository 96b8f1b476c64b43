"""One HTTP POST with the retry classification every notifier shares."""

from __future__ import annotations

import httpx

from premortem.alerting.notify import NotifyError

RETRYABLE_STATUS = frozenset({408, 425, 429})


def post(client: httpx.Client, url: str, *, content: bytes, headers: dict[str, str]) -> None:
    """POSTs; raises NotifyError, retryable for 5xx, 408/425/429 and any transport failure."""
    try:
        response = client.post(url, content=content, headers=headers)
    except httpx.TransportError as exc:
        raise NotifyError(f"{url}: {type(exc).__name__}: {exc}", retryable=True) from exc
    if response.is_success:
        return
    status = response.status_code
    retryable = status >= 500 or status in RETRYABLE_STATUS
    raise NotifyError(f"{url}: HTTP {status}: {response.text[:300]}", retryable=retryable)
