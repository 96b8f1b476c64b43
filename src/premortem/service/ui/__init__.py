"""The web UI: server-rendered pages (Jinja2, autoescaped) with plotly charts, served by premortem.

`router` holds every page, form post and the static files; `create_app` includes it.
"""

from fastapi import APIRouter

from premortem.service.ui import (
    alerts,
    backtest,
    home,
    logs,
    mode_forms,
    modes,
    playback,
    testruns,
    web,
    whatif,
)

router = APIRouter(include_in_schema=False)
for _part in (web, home, mode_forms, modes, alerts, logs, testruns, backtest, whatif, playback):
    router.include_router(_part.router)

__all__ = ["router"]
