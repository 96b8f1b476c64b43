"""The demo's phases: start everything, learn from chaos experiments, then predict a live failure.

    demo = Demo(DemoOptions(quick=True), ui)
    try:
        result = demo.run()        # DemoResult: alert_before_failure, lead_time_s, ...
    finally:
        demo.close()               # every child process ends, on every path

Every wait has a deadline and checks that the demo service is still alive, so a dead service, a
stopped database or an unreachable premortem ends the demo with a readable `DemoError`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from premortem.config import NotifierSettings, Settings
from premortem.demo import chaos
from premortem.demo.load import LoadGenerator
from premortem.demo.servers import DemoError, PremortemServer, WebhookReceiver, free_port
from premortem.domain import rfc3339_ns

SERVICE = "shop-api"
WARN_SEVERITY = 13
ERROR_SEVERITY = 17
QUIET_S = 3.0  # no warning for this long: the previous fault's aftermath is over
LATE_ALERT_WAIT_S = 8.0  # after the failure, how long a late alert is still waited for


class UI(Protocol):
    def phase(self, name: str, total: float) -> None: ...

    def advance(self, amount: float = 1.0, note: str = "") -> None: ...

    def note(self, text: str) -> None: ...


@dataclass(slots=True)
class DemoOptions:
    quick: bool = False
    port: int = 8080
    workdir: Path | None = None
    baseline_s: float = 15.0
    live_baseline_s: float = 5.0
    live_timeout_s: float = 75.0
    leak_interval_s: float = 4.0
    rps: float = 25.0
    horizon_s: float = 60.0  # the lab's failures develop in seconds, not in hours

    def __post_init__(self) -> None:
        if self.quick:
            self.baseline_s = min(self.baseline_s, 4.0)
            self.live_baseline_s = min(self.live_baseline_s, 2.0)
            self.leak_interval_s = min(self.leak_interval_s, 3.0)

    @property
    def experiments(self) -> tuple[str, ...]:
        return chaos.QUICK if self.quick else chaos.FULL


@dataclass(slots=True)
class DemoResult:
    alert_before_failure: bool = False
    lead_time_s: float | None = None
    failure_mode: str | None = None
    probability: float | None = None
    mode_id: str | None = None
    mitigations: list[str] = field(default_factory=list)
    alert_at: str | None = None
    first_failure_at: str | None = None
    first_failure_line: str | None = None
    experiments: list[dict[str, Any]] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=dict)
    phases_s: dict[str, float] = field(default_factory=dict)
    dashboard_url: str = ""
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        """The one-line JSON `--exit` prints last."""
        return {
            "alert_before_failure": self.alert_before_failure,
            "lead_time_s": self.lead_time_s,
            "failure_mode": self.failure_mode,
            "probability": self.probability,
            "alert_at": self.alert_at,
            "first_failure_at": self.first_failure_at,
            "duration_s": round(sum(self.phases_s.values()), 1),
            "dashboard_url": self.dashboard_url,
            **({"error": self.error} if self.error else {}),
        }


class Demo:
    def __init__(self, options: DemoOptions, ui: UI) -> None:
        self.options = options
        self.ui = ui
        self.workdir = options.workdir or Path(tempfile.mkdtemp(prefix="premortem-demo-"))
        self.result = DemoResult()
        self.http = httpx.Client(timeout=10.0)
        self.premortem: PremortemServer | None = None
        self.webhook: WebhookReceiver | None = None
        self.service: subprocess.Popen[bytes] | None = None
        self.service_url = ""
        self.load: LoadGenerator | None = None

    # ------------------------------------------------------------------ the phases

    def run(self) -> DemoResult:
        for name, phase in (
            ("start", self.start),
            ("baseline", self.baseline),
            ("experiments", self.experiments),
            ("learn", self.learn),
            ("live", self.live),
        ):
            started = time.monotonic()
            phase()
            self.result.phases_s[name] = round(time.monotonic() - started, 1)
        return self.result

    def start(self) -> None:
        self.ui.phase("Starting premortem, the shop-api service and its load", 4)
        self.webhook = WebhookReceiver().start()
        settings = Settings(
            database_url=f"sqlite:///{self.workdir / 'premortem.db'}",
            port=self.options.port,
            notify=NotifierSettings(webhook_urls=[self.webhook.url], backoff_s=0.2),
            horizon_s=self.options.horizon_s,
        )
        self.premortem = PremortemServer(settings).start()
        self.result.dashboard_url = self.premortem.url + "/"
        self.ui.advance(note=f"premortem on {self.premortem.url} ({self.workdir / 'premortem.db'})")
        self._start_service()
        self.ui.advance(note=f"{SERVICE} on {self.service_url}")
        self.load = LoadGenerator(self.service_url, rps=self.options.rps).start()
        self.ui.advance(note=f"load: {self.options.rps:g} requests/s")
        self._wait_for_logs(since_ns=0, timeout_s=15)
        self.ui.advance(note="logs are arriving in premortem")

    def baseline(self) -> None:
        seconds = self.options.baseline_s
        self.ui.phase(f"Normal operation under load ({seconds:g} s)", seconds)
        self._sleep(seconds, tick=1.0)

    def experiments(self) -> None:
        names = self.options.experiments
        self.ui.phase(f"Chaos Toolkit experiments ({len(names)})", len(names))
        assert self.premortem is not None
        settings = chaos.write_settings(self.workdir, self.premortem.url)
        for name in names:
            self.ui.note(f"chaos run {name}: {chaos.experiment_title(name)}")
            self._check_service()
            run = chaos.run_experiment(
                name, workdir=self.workdir, settings=settings, base_url=self.service_url
            )
            stored = self._post("/api/v1/test-runs?format=chaostoolkit", run.journal)
            self.result.experiments.append(
                {"name": name, "title": run.title, "outcome": run.outcome, "ids": stored["ids"]}
            )
            self.ui.advance(note=f"{name}: {run.outcome}")
            self._recover()

    def learn(self) -> None:
        self.ui.phase("Learning failure modes (POST /api/v1/train)", 3)
        self._wait_quiet()
        self.ui.advance(note="the service is healthy and quiet again")
        trained = self._post("/api/v1/train", None, timeout_s=180)
        self.result.model = trained
        self.ui.advance(note=f"model v{trained.get('version')}: {trained.get('modes')} mode(s)")
        self._wait_for_model(int(trained.get("version") or 0))
        self.ui.advance(note="the live predictor uses the new model")

    def live(self) -> None:
        timeout = self.options.live_timeout_s
        self.ui.phase("Live: a connection leak develops slowly", timeout)
        self._sleep(self.options.live_baseline_s, tick=1.0)
        injected_ns = time.time_ns()
        self._admin(
            "faults/connection-leak", {"interval_s": self.options.leak_interval_s, "max": 5}
        )
        self.ui.note(f"leaking one connection every {self.options.leak_interval_s:g} s")
        deadline = time.monotonic() + timeout
        alert = failure = None
        while time.monotonic() < deadline and (alert is None or failure is None):
            self._check_service()
            alert = alert or self._first_alert(injected_ns)
            if failure is None and (failure := self._first_failure(injected_ns)) is not None:
                deadline = min(deadline, time.monotonic() + LATE_ALERT_WAIT_S)
            self.ui.advance(0.5, note=self._live_note(alert, failure))
            time.sleep(0.5)
        self._admin("faults/clear", {})
        self._measure(alert, failure)

    # ------------------------------------------------------------------ measuring

    def _first_alert(self, since_ns: int) -> tuple[int, dict[str, Any]] | None:
        assert self.webhook is not None
        fresh = [(t, a) for t, a in self.webhook.firing() if t >= since_ns]
        return fresh[0] if fresh else None

    def _first_failure(self, since_ns: int) -> dict[str, Any] | None:
        """The oldest error line of the service since `since_ns` (the list is newest first)."""
        params: dict[str, Any] = {
            "service": SERVICE,
            "min_severity": ERROR_SEVERITY,
            "since": rfc3339_ns(since_ns),
            "limit": 1,
        }
        total = int(self._get("/api/v1/logs", params).get("total") or 0)
        if not total:
            return None
        items = self._get("/api/v1/logs", {**params, "offset": total - 1}).get("items") or []
        return dict(items[0]) if items else None

    def _live_note(self, alert: Any, failure: Any) -> str:
        return ("alert received" if alert else "waiting for an alert") + (
            " · first failure line seen" if failure else ""
        )

    def _measure(
        self, alert: tuple[int, dict[str, Any]] | None, failure: dict[str, Any] | None
    ) -> None:
        result = self.result
        if failure is not None:
            result.first_failure_at = str(failure.get("timestamp"))
            result.first_failure_line = str(failure.get("body"))[:300]
        if alert is not None:
            arrived_ns, doc = alert
            result.alert_at = rfc3339_ns(arrived_ns)
            result.failure_mode = str((doc.get("mode") or {}).get("name") or doc.get("mode_id"))
            result.mode_id = str(doc.get("mode_id"))
            result.probability = float(doc.get("probability") or 0.0)
            result.mitigations = [str(m.get("action")) for m in doc.get("mitigations") or []]
        if alert is not None and failure is not None:
            failure_ns = _record_ns(failure)
            result.lead_time_s = round((failure_ns - alert[0]) / 1e9, 1)
            result.alert_before_failure = failure_ns > alert[0]
        elif alert is None:
            result.error = "no alert within the live phase" + (
                "" if failure is None else " (the failure happened unannounced)"
            )
        else:
            result.error = "the service did not fail within the live phase"

    # ------------------------------------------------------------------ the demo service

    def _start_service(self) -> None:
        assert self.premortem is not None
        port = free_port()
        self.service_url = f"http://127.0.0.1:{port}"
        log = (self.workdir / "shop-api.stderr").open("wb")
        command = [
            sys.executable, "-m", "premortem.demo.service", "--port", str(port),
            "--db", str(self.workdir / "shop.db"), "--premortem", self.premortem.url,
            "--service", SERVICE, "--log-file", str(self.workdir / "shop-api.log"),
            "--parent-pid", str(_pid()),
        ]  # fmt: skip
        self.service = subprocess.Popen(
            command, stdout=log, stderr=log, start_new_session=True, cwd=self.workdir
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self._check_service()
            if self._healthy():
                return
            time.sleep(0.2)
        raise DemoError(f"{SERVICE} did not become healthy within 20 s ({self._service_tail()})")

    def _healthy(self) -> bool:
        try:
            return self.http.get(self.service_url + "/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _check_service(self) -> None:
        if self.service is not None and self.service.poll() is not None:
            raise DemoError(
                f"{SERVICE} exited with code {self.service.returncode} ({self._service_tail()})"
            )

    def _service_tail(self) -> str:
        for name in ("shop-api.stderr", "shop-api.log"):
            path = self.workdir / name
            lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
            if lines:
                return f"last line of {path}: {lines[-1][:200]}"
        return f"see {self.workdir}"

    def _recover(self, timeout_s: float = 20.0) -> None:
        """After an experiment, wait until the service answers its health check again."""
        deadline = time.monotonic() + timeout_s
        while not self._healthy():
            self._check_service()
            if time.monotonic() > deadline:
                raise DemoError(
                    f"{SERVICE} stayed unhealthy for {timeout_s:.0f} s after the experiment "
                    f"(is its database down?) — {self._service_tail()}"
                )
            time.sleep(0.3)

    def _admin(self, action: str, body: dict[str, Any]) -> None:
        try:
            self.http.post(f"{self.service_url}/admin/{action}", json=body, timeout=10.0)
        except httpx.HTTPError as exc:
            self._check_service()
            raise DemoError(f"{SERVICE} admin call {action} failed: {exc}") from exc

    # ------------------------------------------------------------------ premortem

    def _post(self, path: str, body: Any, *, timeout_s: float = 30.0) -> dict[str, Any]:
        assert self.premortem is not None
        try:
            answer = self.http.post(self.premortem.url + path, json=body, timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise DemoError(f"premortem did not answer POST {path}: {exc}") from exc
        if answer.status_code >= 300:
            raise DemoError(
                f"premortem answered {answer.status_code} to POST {path}: {answer.text[:300]}"
            )
        return dict(answer.json())

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.premortem is not None
        try:
            answer = self.http.get(self.premortem.url + path, params=params, timeout=10.0)
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            raise DemoError(f"premortem did not answer GET {path}: {exc}") from exc
        return dict(answer.json())

    def _wait_for_logs(self, *, since_ns: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_service()
            params = {"service": SERVICE, "limit": 1, "since": rfc3339_ns(since_ns or 1)}
            if self._get("/api/v1/logs", params).get("total"):
                return
            time.sleep(0.3)
        raise DemoError(f"no logs from {SERVICE} reached premortem within {timeout_s:.0f} s")

    def _wait_quiet(self, timeout_s: float = 40.0) -> None:
        """Until the service logged no warning for QUIET_S seconds: training and the live phase
        start from a healthy service, not from the tail of the last experiment."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_service()
            since = time.time_ns() - int(QUIET_S * 1e9)
            params = {"service": SERVICE, "min_severity": WARN_SEVERITY, "limit": 1}
            if not self._get("/api/v1/logs", {**params, "since": rfc3339_ns(since)}).get("total"):
                return
            time.sleep(0.5)
        raise DemoError(f"{SERVICE} kept logging warnings for {timeout_s:.0f} s after the faults")

    def _wait_for_model(self, version: int, timeout_s: float = 20.0) -> None:
        assert self.premortem is not None
        stage = self.premortem.app.state.runtime.prediction
        stage.reload()  # in-process: no need to wait for its periodic check
        deadline = time.monotonic() + timeout_s
        while stage.version < version:
            if time.monotonic() > deadline:
                raise DemoError(f"the prediction stage did not load model v{version} in time")
            time.sleep(0.2)

    def _sleep(self, seconds: float, *, tick: float = 0.5) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._check_service()
            time.sleep(min(tick, left))
            self.ui.advance(min(tick, max(left, 0.0)))

    # ------------------------------------------------------------------ cleanup

    def close(self) -> None:
        """Stop everything this demo started; safe to call twice and from signal handlers."""
        for running in list(chaos.RUNNING):
            chaos.terminate(running)
        if self.load is not None:
            self.load.stop()
            self.load = None
        if self.service is not None:
            chaos.terminate(self.service, grace_s=5.0)
            self.service = None
        if self.premortem is not None:
            self.premortem.stop()
            self.premortem = None
        if self.webhook is not None:
            self.webhook.stop()
            self.webhook = None
        self.http.close()


def _pid() -> int:
    import os

    return os.getpid()


def _record_ns(record: dict[str, Any]) -> int:
    from premortem.ingest.fields import rfc3339_to_ns

    return rfc3339_to_ns(str(record["timestamp"]))
