"""Same inputs, same model, whatever the process's string-hash seed (issues 11 and 12)."""

from __future__ import annotations

import os
import subprocess
import sys

# Six indicators that tie exactly in the structure search (each precedes one failure in three of
# four rows): pgmpy keeps the first of equal operations, which followed set order before.
TIED = """
import warnings; warnings.simplefilter("ignore")
from premortem.learn.network import ModeNetwork
names = [f"novel:svc{i}:error" for i in range(6)]
rows = []
for name in names:
    rows += [{"fault": "none", name: 1, "m": 1}] * 3 + [{"fault": "none", name: 1, "m": 0}]
rows += [{"fault": "none", "m": 0}] * 40
print(ModeNetwork(names, ["m"]).fit(rows).edges_)
"""


def _edges(seed: int) -> str:
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    done = subprocess.run(
        [sys.executable, "-c", TIED], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_structure_search_does_not_follow_the_hash_seed() -> None:
    learned = {_edges(seed) for seed in range(5)}
    assert len(learned) == 1, learned
