"""The streaming template miner: Drain's failure modes, parameters, eviction, state."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from premortem.domain import Template
from premortem.logs import Match, PrefixTreeMiner, TemplateMiner
from premortem.logs.heuristics import Heuristics
from premortem.logs.masking import mask

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "logs"


def grouping_accuracy(truth: list[str], predicted: list[int]) -> float:
    true_groups: dict[str, set[int]] = defaultdict(set)
    predicted_groups: dict[int, set[int]] = defaultdict(set)
    for line, (event, group) in enumerate(zip(truth, predicted, strict=True)):
        true_groups[event].add(line)
        predicted_groups[group].add(line)
    correct = sum(
        len(lines)
        for lines in true_groups.values()
        if predicted_groups[predicted[min(lines)]] == lines
    )
    return correct / len(truth)


def test_distinct_events_differing_in_one_word_stay_apart() -> None:
    miner = PrefixTreeMiner()
    started = miner.add("[instance: 7f3a] VM Started (Lifecycle Event)")
    paused = miner.add("[instance: 9b1c] VM Paused (Lifecycle Event)")
    assert started.template_id != paused.template_id
    assert miner.add("VM Started").template_id != miner.add("VM Paused").template_id


def test_a_name_after_user_or_for_is_a_parameter() -> None:
    miner = PrefixTreeMiner()
    first = miner.add("Failed password for root from 10.0.0.1 port 22 ssh2")
    second = miner.add("Failed password for admin from 10.0.0.2 port 23 ssh2")
    assert second.template_id == first.template_id
    # "23 ssh2": every word holding a digit is a variable, and a run of variables is one
    assert second.template == "Failed password for <*> from <*> port <*>"
    assert second.parameters == ("admin", "10.0.0.2", "23 ssh2")


def test_mostly_parameter_lines_do_not_spawn_clusters() -> None:
    miner = PrefixTreeMiner()
    ids = {
        miner.add(f"{i} {i * 7}.{i % 10} 0x{i:04x} {i}ms /data/blk_{i} node-{i % 5}").template_id
        for i in range(500)
    }
    assert len(ids) == 1
    assert len(miner.templates()) == 1


def test_identical_short_messages_match_and_distinct_ones_do_not() -> None:
    miner = PrefixTreeMiner()
    assert miner.add("succeeded").template_id == miner.add("succeeded").template_id
    assert miner.add("ok").template_id != miner.add("failed").template_id
    assert miner.add("").template == ""


def test_parameters_are_extracted_with_the_template() -> None:
    miner = PrefixTreeMiner()
    found = miner.add("Received block blk_-1608 of size 67108864 from /10.250.19.102")
    assert found.is_new
    assert found.template == "Received block <*> of size <*> from <*>"
    assert found.parameters == ("blk_-1608", "67108864", "/10.250.19.102")
    again = miner.add("Received block blk_77 of size 1 from /10.0.0.9")
    assert not again.is_new and again.parameters == ("blk_77", "1", "/10.0.0.9")


def test_a_parameter_spanning_tokens_is_one_parameter() -> None:
    miner = PrefixTreeMiner()
    short = miner.add("close, 0 bytes sent, lifetime 00:01")
    long = miner.add("close, 1190 bytes (1.16 KB) sent, lifetime 00:02")
    assert long.template_id == short.template_id
    assert long.parameters == ("1190 bytes (1.16 KB)", "00:02")


def test_templates_generalise_and_keep_their_id() -> None:
    miner = PrefixTreeMiner()
    first = miner.add("ssl.gstatic.com:443 open through proxy proxy.example.org:5070 HTTPS")
    second = miner.add("tcp.tencent.com:80 open through proxy proxy.example.org:5070 HTTPS")
    assert second.template_id == first.template_id
    # host names without a digit are constants unless dotted_names is on (docs/detectors.md)
    assert second.template == "<*> open through proxy proxy.example.org:<*> HTTPS"
    assert second.parameters == ("tcp.tencent.com:80", "proxy.example.org:5070")
    dotted = PrefixTreeMiner(heuristics=Heuristics(dotted_names=True))
    dotted.add("ssl.gstatic.com:443 open through proxy proxy.example.org:5070 HTTPS")
    assert (
        dotted.add("tcp.tencent.com:80 open through proxy proxy.example.org:5070 HTTPS").template
        == "<*>:<*> open through proxy <*>:<*> HTTPS"
    )


def test_services_have_their_own_templates_and_global_ids() -> None:
    miner = PrefixTreeMiner()
    a = miner.add("connection reset", service="api")
    b = miner.add("connection reset", service="db")
    assert a.template_id != b.template_id
    assert {t.service for t in miner.templates()} == {"api", "db"}


def test_match_does_not_learn() -> None:
    miner = PrefixTreeMiner()
    assert miner.match("Disk 3 is full") is None
    learned = miner.add("Disk 3 is full")
    found = miner.match("Disk 12 is full")
    assert found is not None and found.template_id == learned.template_id
    assert found.parameters == ("12",)
    assert miner.match("Disk 12 is empty") is None
    assert len(miner.templates()) == 1


def test_cap_evicts_the_rarest_and_counts_evictions() -> None:
    miner = PrefixTreeMiner(max_templates=3)
    for _ in range(5):
        kept = miner.add("alpha event happened")
    miner.add("beta event happened")
    miner.add("gamma event happened")
    assert miner.evictions == 0
    delta = miner.add("delta event happened")
    assert miner.evictions == 1
    ids = {t.id for t in miner.templates()}
    assert len(ids) == 3 and kept.template_id in ids and delta.template_id in ids
    again = miner.add("beta event happened")  # evicted: comes back under a fresh id
    assert again.is_new and again.template_id > delta.template_id


def test_state_round_trip_keeps_ids_and_counts() -> None:
    miner = PrefixTreeMiner(max_templates=50)
    first = [miner.add(f"user {i} logged in from 10.0.0.{i}") for i in range(3)]
    other = miner.add("cache flushed")
    restored = PrefixTreeMiner.loads(miner.dumps())
    assert restored.templates() == miner.templates()
    assert restored.add("user 9 logged in from 10.0.0.9").template_id == first[0].template_id
    assert restored.add("cache flushed").template_id == other.template_id
    assert restored.add("brand new event").template_id > other.template_id
    assert restored.max_templates == 50 and restored.evictions == 0


def test_loads_rejects_unknown_state() -> None:
    with pytest.raises(ValueError):
        PrefixTreeMiner.loads(b'{"version": 99}')


def test_templates_are_domain_templates() -> None:
    miner = PrefixTreeMiner()
    miner.add("job 1 done")
    miner.add("job 2 done")
    assert miner.templates() == [Template(id=1, service="", template="job <*> done", count=2)]


def test_drain_miner_plays_the_template_miner_role() -> None:
    miner: TemplateMiner = PrefixTreeMiner()
    assert isinstance(miner.add("x"), Match)


def test_masking_defaults() -> None:
    line = (
        "id=3f2a9c1e-1b2c-4d5e-8f90-0123456789ab at 10.0.0.1:8080 took 15ms "
        "file /var/log/app.log host db.internal.example.com on Tue Jul 12 mask=ffffffff"
    )
    assert mask(line) == (
        "id=<*> at <*>:<*> took <*> file <*> host db.internal.example.com on <*> <*> <*> mask=<*>"
    )
    assert mask(line, Heuristics(dotted_names=True)) == (
        "id=<*> at <*>:<*> took <*> file <*> host <*> on <*> <*> <*> mask=<*>"
    )


@pytest.mark.parametrize(("system", "floor"), [("HDFS", 0.99), ("BGL", 0.95)])
def test_grouping_accuracy_on_loghub_excerpts(system: str, floor: float) -> None:
    with (FIXTURES / f"{system}_200_structured.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    miner = PrefixTreeMiner()
    predicted = [miner.add(row["Content"]).template_id for row in rows]
    assert grouping_accuracy([row["EventTemplate"] for row in rows], predicted) >= floor


def test_parameters_read_late_are_those_read_at_once() -> None:
    """A match's parameters are taken out only when asked for (most callers never ask), with
    the getter of the template as matched: read after the miner moved on, they are the same."""
    lines = [
        "ssl.gstatic.com:443 open through proxy proxy.example.org:5070 HTTPS",
        "Received block blk_-1608 of size 67108864 from /10.250.19.102",
        "tcp.tencent.com:80 open through proxy proxy.example.org:5070 HTTPS",
        "close, 0 bytes sent, lifetime 00:01",
        "close, 1190 bytes (1.16 KB) sent, lifetime 00:02",
        "Received block blk_77 of size 1 from /10.0.0.9",
    ]
    eager, lazy = PrefixTreeMiner(), PrefixTreeMiner()
    at_once = [eager.add(line).parameters for line in lines]
    matches = [lazy.add(line) for line in lines]
    assert [m.parameters for m in matches] == at_once
    assert at_once[2] == ("tcp.tencent.com:80", "proxy.example.org:5070")
    again = lazy.add(lines[2])
    assert again == Match(matches[2].template_id, matches[2].template, at_once[2], False)
    assert again != matches[1]


def test_state_round_trips_lines_that_are_not_utf8() -> None:
    """Syslog bytes that are not UTF-8 arrive as lone surrogates; the miner's state (saved by
    the catalog, and in a predictor's checkpoint) keeps them."""
    miner = PrefixTreeMiner()
    for n in range(3):
        miner.add(f"disk \udc80\udcff full on sd{n}", service="api\udc80")
    restored = PrefixTreeMiner.loads(miner.dumps())
    assert restored.dumps() == miner.dumps()
    assert restored.add("disk \udc80\udcff full on sd9", service="api\udc80").template_id == (
        miner.add("disk \udc80\udcff full on sd9", service="api\udc80").template_id
    )
