"""A real premortem (uvicorn, SQLite in tmp) with seeded data, and Debian's chromium."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, sync_playwright
from ui_seed import Seeded, seed

from premortem.config import Settings
from premortem.service.app import create_app

CHROMIUM = "/usr/bin/chromium"
# Tests write their screenshots to a temporary folder, so `make test` leaves the tree clean;
# `make screenshots` points this at docs/screenshots to refresh the committed ones.
SCREENSHOTS = Path(
    os.environ.get("PREMORTEM_SCREENSHOTS") or Path(tempfile.gettempdir()) / "premortem-screenshots"
)
SCREENSHOTS.mkdir(parents=True, exist_ok=True)


@dataclass
class Server:
    url: str
    app: FastAPI
    seeded: Seeded


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(app: FastAPI) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("ui") / "ui.db"
    app = create_app(Settings(database_url=f"sqlite:///{path}"))
    seeded = seed(app.state.runtime)
    for url in serve(app):
        yield Server(url, app, seeded)


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@dataclass
class Watched:
    page: Page
    errors: list[str]
    dialogs: list[str]


@pytest.fixture
def watched(chromium_browser: Browser) -> Iterator[Watched]:
    """A laptop-sized page that records script errors, CSP violations and dialogs."""
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    watched = Watched(page, [], [])
    page.on("pageerror", lambda exc: watched.errors.append(f"page error: {exc}"))

    def on_console(message: object) -> None:
        text = getattr(message, "text", "")
        # Every console error and warning counts (issue 15): plotly's "Cannot addRelatedStyleRule"
        # and CSP refusals included; base.html marks plotly's stylesheet so it adds none.
        if getattr(message, "type", "") in ("error", "warning") and "[Deprecation]" not in text:
            watched.errors.append(text)

    page.on("console", on_console)

    def on_dialog(dialog: object) -> None:
        watched.dialogs.append(getattr(dialog, "message", ""))
        dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", on_dialog)
    yield watched
    context.close()
