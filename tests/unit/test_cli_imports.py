"""The command line starts light (issue 16): `premortem --help`, `version` and `mine` import only
what they need; the learning side, the simulator and the HTTP stack load with their commands."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "sklearn", "pgmpy", "numpy", "scipy", "simpy", "sqlalchemy", "fastapi", "httpx")


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_importing_the_cli_loads_nothing_heavy() -> None:
    assert _loaded_after("import premortem.cli") == []


def test_mining_needs_no_learning_side() -> None:
    code = (
        "import io, premortem.commands.mine as m\n"
        "from premortem.logs.miner import PrefixTreeMiner\n"
        "m.mine_stream(io.StringIO('disk full on /dev/sda1\\n'), io.StringIO(), miner=PrefixTreeMiner())"
    )
    assert _loaded_after(code) == []


def test_the_simulate_help_names_every_built_in_model() -> None:
    from premortem.commands.simulate import MODEL_NAMES
    from premortem.sim import MODELS

    assert tuple(MODELS) == MODEL_NAMES
