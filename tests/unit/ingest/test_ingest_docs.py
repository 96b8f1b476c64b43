"""The examples in docs/simulation-schema.md and docs/ingest.md parse as documented."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from premortem.ingest import simulation
from premortem.ingest.native import parse_logs

DOCS = Path(__file__).parents[3] / "docs"


def _json_blocks(name: str) -> list[str]:
    return re.findall(r"```json\n(.*?)```", (DOCS / name).read_text(), flags=re.S)


def test_simulation_schema_example_parses() -> None:
    [block] = _json_blocks("simulation-schema.md")
    [run] = simulation.parse(block.encode())
    assert run.simulation_id == "pool-sim-001"
    assert run.events[0].time == 241.5


def test_ingest_doc_log_example_parses() -> None:
    blocks = [b for b in _json_blocks("ingest.md") if '"body"' in b]
    assert blocks
    for block in blocks:
        assert parse_logs(block.encode(), now_ns=0)


def test_ingest_doc_postgres_excerpt_gives_the_records_it_names() -> None:
    text = (DOCS / "ingest.md").read_text()
    [block] = re.findall(r"```text\n(.*?)```", text, flags=re.S)
    batch = "\n".join(
        orjson.dumps({"service": "db", "body": line}).decode() for line in block.splitlines()
    )
    records = parse_logs(batch, now_ns=0)
    assert [(r.severity_text, r.body.count("\n") + 1) for r in records] == [
        ("INFO", 3),
        ("ERROR", 2),
        ("INFO", 1),
        ("FATAL", 1),
    ]
    assert "becomes four records: INFO (3 lines), ERROR (2 lines" in " ".join(text.split())
