"""Alert latency of the alerting stage: prediction submitted → webhook received over real HTTP.

    python bench/alert_latency.py [--alerts 50] [--background 2000] [--json OUT]

Scope: the alerting stage alone (AlertingService on a SQLite AlertStore, dispatcher threads, a
real HTTP webhook receiver on 127.0.0.1), while a background thread submits sub-threshold
predictions at `--background` per second (far more than a predictor makes; each one runs the
policy stage). The end-to-end benchmark of issue 5 (10,000 log lines/s through `POST
/api/v1/logs`, precursor lines in, webhook out) needs the server's predictor; this one measures
the share of the 1 s budget the alerting stage uses.

Anchor, measured in the same run: a bare `httpx` POST to the same receiver (the transport floor).
Each alert is fired and then resolved; both notifications are timed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.table import Table

from premortem.alerting import AlertingService, Route
from premortem.alerting.sql import AlertStore
from premortem.alerting.webhook import WebhookNotifier
from premortem.clock import SystemClock
from premortem.domain import Prediction
from premortem.store.engine import make_engine, migrate

BUDGET_S = 1.0


class Receiver:
    """Notes when each alert id's notification arrived (monotonic clock)."""

    def __init__(self) -> None:
        self.arrivals: dict[tuple[str, str], float] = {}
        self.hit = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                now = time.monotonic()
                for alert in orjson.loads(body).get("alerts", []):
                    receiver.arrivals.setdefault((alert["mode_id"], alert["event"]), now)
                receiver.hit.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def prediction(mode: str, probability: float) -> Prediction:
    now = time.time_ns()
    return Prediction(
        id=f"{mode}-{now}",
        time_ns=now,
        mode_id=mode,
        service="bench",
        probability=probability,
        horizon_s=600,
    )


def background(service: AlertingService, rate: float, stop: threading.Event) -> int:
    sent = 0
    started = time.monotonic()
    while not stop.is_set():
        service.submit([prediction(f"quiet-{sent % 20}", 0.2)])
        sent += 1
        delay = started + sent / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return sent


def measure_alerting(alerts: int, rate: float, receiver: Receiver, db: Path) -> dict[str, Any]:
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    service = AlertingService(
        AlertStore(engine),
        routes=[Route("hook", WebhookNotifier(receiver.url))],
        modes=lambda _m: None,
        clock=SystemClock(),
    )
    service.start()
    stop = threading.Event()
    counted: list[int] = []
    load = threading.Thread(target=lambda: counted.append(background(service, rate, stop)))
    load.start()
    load_started = time.monotonic()
    latencies, submit_s = [], []
    for n in range(alerts):
        for probability, event in ((0.9, "firing"), (0.1, "resolved")):
            sent = time.monotonic()
            service.submit([prediction(f"mode-{n}", probability)])
            submit_s.append(time.monotonic() - sent)
            deadline = sent + 5
            while (f"mode-{n}", event) not in receiver.arrivals and time.monotonic() < deadline:
                receiver.hit.wait(0.01)
                receiver.hit.clear()
            if (f"mode-{n}", event) in receiver.arrivals:
                latencies.append(receiver.arrivals[(f"mode-{n}", event)] - sent)
    stop.set()
    load.join()
    elapsed = time.monotonic() - load_started
    service.stop()
    engine.dispose()
    return {
        "latencies": latencies,
        "submit_s": submit_s,
        "background_predictions_per_s": counted[0] / elapsed,
        "alerts_expected": 2 * alerts,
        "alerts_received": len(latencies),
    }


def measure_anchor(samples: int, receiver: Receiver) -> list[float]:
    latencies = []
    with httpx.Client() as client:
        for n in range(samples):
            body = orjson.dumps({"alerts": [{"mode_id": f"anchor-{n}", "event": "firing"}]})
            sent = time.monotonic()
            client.post(receiver.url, content=body)
            latencies.append(receiver.arrivals[(f"anchor-{n}", "firing")] - sent)
    return latencies


def quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=50)
    parser.add_argument("--background", type=float, default=2000, help="predictions per second")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    receiver = Receiver()
    anchor = measure_anchor(2 * args.alerts, receiver)
    with tempfile.TemporaryDirectory() as tmp:
        result = measure_alerting(args.alerts, args.background, receiver, Path(tmp) / "a.db")
    lat = result.pop("latencies")
    submit = result.pop("submit_s")
    report = {
        "scope": "alerting stage (prediction submitted -> webhook received)",
        "p50_s": quantile(lat, 0.50),
        "p99_s": quantile(lat, 0.99),
        "submit_p99_s": quantile(submit, 0.99),
        "anchor_http_post_p50_s": quantile(anchor, 0.50),
        "anchor_http_post_p99_s": quantile(anchor, 0.99),
        "budget_s": BUDGET_S,
        **result,
    }
    table = Table(title="alert latency (2 shared cores: noisy)")
    for column in ("measure", "p50 ms", "p99 ms"):
        table.add_column(column)
    table.add_row(
        "anchor: bare HTTP POST",
        f"{report['anchor_http_post_p50_s'] * 1e3:.2f}",
        f"{report['anchor_http_post_p99_s'] * 1e3:.2f}",
    )
    table.add_row(
        "submit() returns",
        f"{quantile(submit, 0.5) * 1e3:.2f}",
        f"{report['submit_p99_s'] * 1e3:.2f}",
    )
    table.add_row(
        "prediction → webhook", f"{report['p50_s'] * 1e3:.2f}", f"{report['p99_s'] * 1e3:.2f}"
    )
    console = Console()
    console.print(table)
    console.print(
        f"received {report['alerts_received']}/{report['alerts_expected']} notifications, "
        f"background {report['background_predictions_per_s']:.0f} predictions/s, "
        f"budget {BUDGET_S:.1f} s: {'ok' if report['p99_s'] < BUDGET_S else 'MISSED'}"
    )
    if args.json:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
