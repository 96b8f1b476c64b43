"""A multi-line message is templated by its headline: one message, one template."""

from __future__ import annotations

import orjson

from premortem.ingest.native import parse_logs
from premortem.logs import PrefixTreeMiner

DETAILS = (
    "Process holding the lock: 813. Wait queue: 812.",
    "Process holding the lock: 901. Wait queue: 812, 902.",
    "Processes holding the lock: 813, 814. Wait queue: 812.",
    'Key (id)=(42) already exists in relation "accounts".',
    "Process 813 waits for ShareLock on transaction 1235; blocked by process 812.\n"
    "\tProcess 812 waits for ShareLock on transaction 1234; blocked by process 813.",
)


def _postgres_batch() -> bytes:
    lines = []
    for n, detail in enumerate(DETAILS):
        pid = 812 + n
        prefix = f"2024-05-01 10:00:0{n}.001 UTC [{pid}]"
        lines.append(
            f"{prefix} LOG:  process {pid} still waiting for ShareLock on transaction "
            f"{1234 + n} after 1000.{n}23 ms"
        )
        first, *rest = detail.split("\n")
        lines.append(f"{prefix} DETAIL:  {first}")
        lines.extend(rest)
        lines.append(f"{prefix} STATEMENT:  UPDATE accounts SET balance = {n} WHERE id = {n};")
    return b"\n".join(orjson.dumps({"service": "postgres", "body": line}) for line in lines)


def test_five_detail_variants_are_one_template() -> None:
    records = parse_logs(_postgres_batch(), now_ns=0)
    assert len(records) == 5
    miner = PrefixTreeMiner()
    matches = [miner.add(r.body, service=r.service) for r in records]
    assert {m.template_id for m in matches} == {1}
    [template] = miner.templates()
    assert template.template == (
        "<*> <*>:<*>:<*> UTC [<*>] LOG: process <*> still waiting for ShareLock on transaction <*>"
        " after <*>"
    )
    assert matches[1].parameters[-1] == "1000.123 ms"


def test_headline_parameters_and_match() -> None:
    miner = PrefixTreeMiner()
    first = miner.add("ERROR: timeout after 30 s\nDETAIL: a", service="s")
    second = miner.add("ERROR: timeout after 45 s\n\tat a.B.c(B.java:1)", service="s")
    assert (first.template_id, second.template_id) == (1, 1)
    assert second.template == "ERROR: timeout after <*>"
    assert second.parameters == ("45 s",)
    found = miner.match("ERROR: timeout after 5 s\nanything", service="s")
    assert found is not None and found.template_id == 1


def test_blank_first_line_uses_the_first_line_with_text() -> None:
    miner = PrefixTreeMiner()
    assert miner.add("\nboom 1\nmore", service="s").template == "boom <*>"
