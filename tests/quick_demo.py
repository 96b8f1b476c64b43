"""`premortem demo --quick --exit` in a folder of its own, as the e2e tests run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from premortem.demo.servers import free_port

PREMORTEM = str(Path(sys.executable).with_name("premortem"))


def run_quick_demo(workdir: Path) -> subprocess.CompletedProcess[str]:
    """The demo's run; its store is left in `workdir/premortem-demo-*/premortem.db`."""
    return subprocess.run(
        [PREMORTEM, "demo", "--quick", "--exit", "--port", str(free_port())],
        cwd=workdir,
        env={**os.environ, "TMPDIR": str(workdir)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
