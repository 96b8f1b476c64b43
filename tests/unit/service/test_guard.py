"""Which Host headers the edge guard answers (the request-level checks run in tests/e2e)."""

from __future__ import annotations

import pytest

from premortem.config import Settings
from premortem.service.guard import allowed_hosts, host_name


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("LocalHost:8080", "localhost"),
        ("[::1]:8080", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("premortem.example.", "premortem.example"),
        ("evil.example@127.0.0.1", None),
        ("127.0.0.1/x", None),
        ("127.0.0.1:99999999", None),
        ("", None),
    ],
)
def test_host_name_reads_only_a_plain_host_and_port(header: str, name: str | None) -> None:
    assert host_name(header) == name


def test_allowed_hosts_are_localhost_the_bound_address_public_url_and_configured() -> None:
    assert allowed_hosts(Settings()) == {"127.0.0.1", "::1", "localhost"}
    settings = Settings(
        host="10.0.0.5",
        public_url="https://PM.example:8443/base",
        allowed_hosts="a.example, B.example:8080,",  # type: ignore[arg-type]
    )
    assert allowed_hosts(settings) == {
        "127.0.0.1",
        "::1",
        "localhost",
        "10.0.0.5",
        "pm.example",
        "a.example",
        "b.example",
    }
    wildcard = Settings(host="0.0.0.0", tokens="t=read")  # type: ignore[arg-type]
    assert allowed_hosts(wildcard) == {"127.0.0.1", "::1", "localhost"}
