"""Load tests of a service no built-in model simulates, for What-If with learned load parameters:
eight runs of `shop` with a `concurrent_users` parameter; those with 150 users or more exhausted
its connection pool two minutes in, the lighter ones passed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

START = datetime(2024, 5, 1, tzinfo=UTC)
USERS = (10, 150, 20, 200, 30, 250, 15, 180)
FAILING_FROM = 150
FAILURE = "connection pool exhausted: timed out waiting for a connection"


class Poster(Protocol):  # fastapi's TestClient, or an httpx.Client with a base_url
    def post(self, url: str, *, json: Any) -> Any: ...


def _stamp(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def post_load_tests(client: Poster) -> None:
    """The runs and their logs (the caller drains the pipeline and trains)."""
    for n, users in enumerate(USERS):
        begin = START + timedelta(minutes=10 * n)
        failing = users >= FAILING_FROM
        failure = begin + timedelta(seconds=120)
        run: dict[str, object] = {
            "test_id": f"load-{n}",
            "timestamp": _stamp(begin),
            "service": "shop",
            "duration_s": 300,
            "parameters": {"concurrent_users": users},
            "expected_outcome": "p99 under 1 s",
            "actual_outcome": "requests failed" if failing else "p99 under 1 s",
        }
        if failing:
            run["failure_details"] = FAILURE
            run["failure_time"] = _stamp(failure)
        assert client.post("/api/v1/test-runs", json=run).status_code == 201
        lines = []
        for i in range(280):
            t = begin + timedelta(seconds=i)
            lines.append(
                {"timestamp": _stamp(t), "service": "shop", "severity_text": "INFO",
                 "body": f"GET /items/{i} 200 in {5 + i % 7}ms"}
            )  # fmt: skip
            if failing and t >= failure:
                lines.append(
                    {"timestamp": _stamp(t), "service": "shop", "severity_text": "ERROR",
                     "body": FAILURE}
                )  # fmt: skip
        assert client.post("/api/v1/logs", json=lines).status_code == 200
