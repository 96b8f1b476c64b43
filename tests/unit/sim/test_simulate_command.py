from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
import typer
from typer.testing import CliRunner

from premortem.commands import simulate as command
from premortem.domain import SimulationRun
from premortem.errors import ConfigError
from premortem.sim import run_model


@pytest.fixture
def app() -> typer.Typer:
    throwaway = typer.Typer()
    command.register(throwaway)
    return throwaway


runner = CliRunner()


def test_simulate_prints_a_summary_and_writes_the_run(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    result = runner.invoke(
        app,
        ["simulate", "service", "-p", "request_rate=300", "-p", "pool_size=5",
         "--fault", "cpu_hog@5+5=2", "--duration", "20", "--seed", "4", "--output", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "pool_utilisation" in result.output and "queue_overflow" in result.output
    run = SimulationRun.model_validate(orjson.loads(out.read_bytes()))
    assert run.seed == 4 and run.parameters["pool_size"] == 5
    assert run.parameters["faults"] == [
        {"type": "cpu_hog", "start_s": 5.0, "duration_s": 5.0, "value": 2.0}
    ]


def test_simulate_posts_the_run(app: typer.Typer, monkeypatch: pytest.MonkeyPatch) -> None:
    posted: list[tuple[str, str, str | None]] = []
    monkeypatch.setattr(
        command, "post_run", lambda run, url, *, token: posted.append((run.model, url, token))
    )
    result = runner.invoke(
        app, ["simulate", "mmc", "--duration", "2", "--post", "http://x:8080", "--token", "t"]
    )
    assert result.exit_code == 0, result.output
    assert posted == [("mmc", "http://x:8080", "t")]


def test_post_run_sends_the_json_to_the_simulations_endpoint() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"stored": 1})

    run = run_model("mmc", {}, duration_s=2)
    command.post_run(run, "http://srv/", token="secret", transport=httpx.MockTransport(handler))
    assert str(seen[0].url) == "http://srv/api/v1/simulations"
    assert seen[0].headers["Authorization"] == "Bearer secret"
    assert SimulationRun.model_validate_json(seen[0].content) == run

    refuse = httpx.MockTransport(lambda request: httpx.Response(422, text="bad run"))
    with pytest.raises(command.PostFailed, match="422"):
        command.post_run(run, "http://srv", transport=refuse)


def test_whatif_prints_points_by_modes_and_first_appearance(app: typer.Typer) -> None:
    result = runner.invoke(
        app,
        ["whatif", "-p", "pool_size=4", "--vary", "request_rate=30,200", "--duration", "15"],
    )
    assert result.exit_code == 0, result.output
    assert "Connection pool exhaustion" in result.output
    assert "appears at request_rate=200" in result.output
    assert "raise the pool size or shed load" in result.output


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "service", "-p", "pool_sise=3"],
        ["simulate", "service", "-p", "novalue"],
        ["simulate", "service", "--fault", "cpu_hog"],
        ["whatif", "--vary", "request_rate"],
    ],
)
def test_bad_input_raises_a_config_error(app: typer.Typer, argv: list[str]) -> None:
    result = runner.invoke(app, argv)
    assert isinstance(result.exception, ConfigError)


def test_parsers() -> None:
    assert command.parse_vary("pool_size=2, 4,8") == ("pool_size", [2, 4, 8])
    assert command.parse_vary("timeout_s=0.5,inf")[1] == [0.5, float("inf")]
    fault = command.parse_faults(["load_spike@60+30=3"])[0]
    assert (fault.type, fault.start_s, fault.duration_s, fault.value) == ("load_spike", 60, 30, 3)
