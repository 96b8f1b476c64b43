"""Settings, read from the environment (prefix PREMORTEM_, nested with __) by a factory.

Nothing reads settings at import time: `load_settings()` builds them, callers pass them on.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import PurePath
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from premortem.runtime.scheduler import CommandPolicy, Schedule

Scope = Literal["ingest", "read", "admin"]

# A comma-separated environment value ("a,b"), or a list when built in code.
CommaList = Annotated[list[str], NoDecode]

# Programs that run other programs from their arguments: allow-listing one would run anything.
SHELLS = frozenset(
    {"sh", "bash", "dash", "zsh", "ksh", "mksh", "fish", "csh", "tcsh", "ash", "busybox", "env"}
    | {"cmd", "cmd.exe", "powershell", "powershell.exe", "pwsh", "sudo", "su", "doas", "xargs"}
)


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class MinerSettings(BaseModel):
    max_templates: int = Field(default=5000, ge=10)
    similarity: float = Field(default=0.5, gt=0, le=1)


class WindowSettings(BaseModel):
    seconds: float = Field(default=10.0, gt=0)


class NotifierSettings(BaseModel):
    alertmanager_url: str | None = None
    webhook_urls: list[str] = Field(default_factory=list)
    webhook_secret: SecretStr | None = None
    # None: retried until delivered, resolved or PREMORTEM_NOTIFY_MAX_AGE_S old (docs/alerting.md)
    max_attempts: int | None = Field(default=None, ge=1)
    backoff_s: float = Field(default=0.5, ge=0)
    resend_interval_s: float = Field(default=60.0, gt=0)


class SyslogSettings(BaseModel):
    """The syslog listeners of `premortem serve` (docs/ingest.md#syslog-listener); off unless a
    port is set. They take no token: anyone who reaches the address can ingest logs."""

    host: str = Field(default="127.0.0.1", description="address the syslog listeners bind")
    tcp_port: int | None = Field(default=None, ge=0, le=65535, description="0: any free port")
    udp_port: int | None = Field(default=None, ge=0, le=65535, description="0: any free port")
    max_message_bytes: int = Field(
        default=64 * 1024, ge=480, description="longer messages are cut to this size"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PREMORTEM_", env_nested_delimiter="__", extra="forbid"
    )

    database_url: str = "sqlite:///./premortem.db"
    bus_url: str | None = Field(
        default=None,
        description="nats://host:4222: scale-out. `serve` publishes accepted log records to "
        "NATS JetStream and `premortem worker` processes analyse them (docs/scaling.md)",
    )
    bus_name: str = Field(
        default="premortem",
        pattern=r"^[a-z][a-z0-9_]{0,31}$",
        description="names this deployment on the bus and in the database: the stream, its "
        "subjects (`<name>.logs.<partition>`) and the workers' leases",
    )
    bus_partitions: int = Field(
        default=8, ge=1, le=16, description="partitions of the log stream (by service)"
    )
    bus_ack_wait_s: float = Field(
        default=30.0,
        gt=0,
        description="a message a worker took and did not acknowledge within this is delivered "
        "again (to the worker that took over its partition)",
    )
    host: str | None = None
    port: int = 8080
    public_url: str | None = None
    tokens: SecretStr | None = Field(
        default=None,
        description="Comma-separated TOKEN=scope1+scope2 pairs, e.g. 'abc=ingest,def=read+admin'",
    )
    allowed_hosts: CommaList = Field(
        default_factory=list,
        description="Host names (comma-separated) answered besides 127.0.0.1, ::1, localhost, "
        "the bind host and public_url's host; '*' answers any Host",
    )
    allow_command_schedules: CommaList = Field(
        default_factory=list,
        description="Executables (comma-separated names or paths, matched exactly against a "
        "command's argv[0]) that command schedules may run; empty = none. Needs tokens.",
    )
    max_body_bytes: int = Field(
        default=20 * 1024 * 1024, gt=0, description="ingest batches (logs, events, test runs)"
    )
    max_api_body_bytes: int = Field(
        default=1024 * 1024, gt=0, description="every other request body (models, forms)"
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, description="longest wait for the next part of a request body"
    )
    miner: MinerSettings = Field(default_factory=MinerSettings)
    window: WindowSettings = Field(default_factory=WindowSettings)
    notify: NotifierSettings = Field(default_factory=NotifierSettings)
    syslog: SyslogSettings = Field(default_factory=SyslogSettings)
    train_interval_s: float = Field(default=0, ge=0, description="0 disables scheduled training")
    analysis_queue_records: int = Field(
        default=200_000,
        ge=1,
        description="records stored and waiting for analysis before ingestion answers 429 "
        "with Retry-After (nothing is stored then; senders retry)",
    )
    analysis_process: bool | None = Field(
        default=None,
        description="log records stored, and windows, detectors, prediction and alerting run, "
        "in a child process of `premortem serve` (on by default there, without "
        "PREMORTEM_BUS_URL); off: stored by the server and analysed on a thread of it (the "
        "library's and the demo's default)",
    )
    gc_thresholds: tuple[int, int, int] = Field(
        default=(10_000, 20, 100),
        description="the server's garbage-collector thresholds (gc.set_threshold); Python's "
        "(700, 10, 10) spent half the time of a high-cardinality load in full collections",
    )
    schedules: list[Schedule] = Field(
        default_factory=list, description="simulations, test commands and training to run"
    )
    horizon_s: float = Field(default=300, gt=0)
    alert_threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="probability at which predictions alert; unset = the one the model learned",
    )

    @field_validator("allowed_hosts", "allow_command_schedules", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("allow_command_schedules")
    @classmethod
    def _no_shells(cls, executables: list[str]) -> list[str]:
        for executable in executables:
            if PurePath(executable).name.lower() in SHELLS:
                raise ValueError(
                    f"{executable!r} runs other programs from its arguments; command schedules "
                    "never run through a shell"
                )
        return executables

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        if not url.startswith(("sqlite", "postgresql+psycopg")):
            raise ValueError("database_url must be sqlite:///PATH or postgresql+psycopg://...")
        return url

    def token_scopes(self) -> dict[str, set[str]]:
        """Token → scopes. `admin` implies `read` and `ingest`."""
        if self.tokens is None:
            return {}
        result: dict[str, set[str]] = {}
        for pair in self.tokens.get_secret_value().split(","):
            if not pair.strip():
                continue
            token, _, scopes = pair.strip().partition("=")
            granted = {s for s in scopes.split("+") if s} or {"read"}
            unknown = granted - {"ingest", "read", "admin"}
            if unknown:
                raise ValueError(f"unknown token scope(s): {', '.join(sorted(unknown))}")
            if "admin" in granted:
                granted |= {"read", "ingest"}
            result[token] = granted
        return result

    def command_policy(self) -> CommandPolicy:
        """Command schedules run only allow-listed executables, and never on an open server."""
        if not self.allow_command_schedules:
            return CommandPolicy()
        if not self.token_scopes():
            return CommandPolicy(
                reason="command schedules need API tokens (PREMORTEM_TOKENS): on an open server "
                "anyone who reaches it could run them"
            )
        return CommandPolicy(frozenset(self.allow_command_schedules))

    @property
    def bind_host(self) -> str:
        """With no tokens configured the server is only reachable from this machine."""
        if self.host:
            return self.host
        return "0.0.0.0" if self.tokens else "127.0.0.1"


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    return Settings()
