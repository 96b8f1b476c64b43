"""The token index of a template group (`Bucket`): it only spares comparisons, it never changes
which template a message joins. The reference scans every template of the group, as the miner
did before the index."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from premortem.logs import PrefixTreeMiner
from premortem.logs.clusters import Bucket, Cluster, lead
from premortem.logs.heuristics import Heuristics
from premortem.logs.masking import DEFAULTS, WILDCARD

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "logs"
Lines = list[tuple[str, str]]  # (message, service)


class FullScanMiner(PrefixTreeMiner):
    """Compares a message with every held template of its service, length and lead."""

    def _candidates(self, tokens: list[str], service: str) -> Iterator[Cluster]:
        leads = {lead(tokens, self.heuristics), ""}
        for cluster in self._clusters.values():
            if (
                cluster.service == service
                and len(cluster.tokens) == len(tokens)
                and lead(cluster.tokens, self.heuristics) in leads
            ):
                yield cluster


def assert_index_consistent(miner: PrefixTreeMiner) -> None:
    """Every bucket holds exactly its group's templates, indexed by their current tokens."""
    held = 0
    for (service, size), group in miner._groups.items():
        for first, bucket in group.items():
            held += len(bucket)
            fresh = Bucket(size, miner.heuristics)
            for cluster in bucket.members.values():
                assert cluster.alive and cluster.home is bucket
                assert (cluster.service, len(cluster.tokens)) == (service, size)
                assert lead(cluster.tokens, miner.heuristics) == first
                fresh.file(cluster)
            assert bucket._at == fresh._at
            assert bucket._open == fresh._open
    assert held == len(miner._clusters)


def _fixture_lines() -> Lines:
    lines: Lines = []
    for name in ("HDFS_200_structured.csv", "BGL_200_structured.csv"):
        with (FIXTURES / name).open(newline="") as handle:
            lines += [(row["Content"], name[:4]) for row in csv.DictReader(handle)]
    return lines


def _word(n: int) -> str:
    letters = "bcdfghjklmnpqrstvwxz"
    out = ""
    while True:
        n, digit = divmod(n, len(letters))
        out += letters[digit]
        if not n:
            return out + "a"


def _many_templates(count: int) -> Lines:
    """Every message a new word sequence, all of one length and first word."""
    rng = random.Random(7)
    return [
        (f"handler {' '.join(_word(rng.randrange(10**6)) for _ in range(5))} finished", "svc")
        for _ in range(count)
    ]


def _absorbing(count: int, seed: int) -> Lines:
    """Many templates of one length and lead whose non-word constants differ, so they generalise;
    names after ``for`` and in ``user=``, numbers, and a few all-variable lines."""
    rng = random.Random(seed)
    verbs = [_word(n) for n in range(30)]
    odd = ["a.b", "c.d", "e.f", "g.h", "k:v", "42", "0x1f", "10.0.0.7"]
    lines: Lines = []
    for _ in range(count):
        if rng.random() < 0.02:
            lines.append((" ".join(str(rng.randrange(999)) for _ in range(4)), "svc-0"))
            continue
        first = rng.choice(["fetch", "store", "->"])
        name = rng.choice(["root", "admin", "bob", "7"])
        user = rng.choice(["user=root", "user=eve", "x.y"])
        words = [first, rng.choice(verbs), rng.choice(odd), "for", name, user, rng.choice(odd)]
        if rng.random() < 0.2:
            words.insert(rng.randrange(1, len(words)), rng.choice(odd))
        lines.append((" ".join(words), f"svc-{int(rng.random() < 0.1)}"))
    return lines


def _names(count: int, seed: int) -> Lines:
    """Templates told apart by non-word constants only, with a name where a plain word would
    otherwise veto: the index must keep a template holding another name a candidate."""
    rng = random.Random(seed)
    odd = [f"{_word(n)}.{_word(n + 1)}" for n in range(200)]
    names = [_word(n) for n in range(1000)]
    lines: Lines = []
    for _ in range(count):
        key = rng.choice(["for", "user"])
        lines.append((f"grant {rng.choice(odd)} {key} {rng.choice(names)}", "svc"))
    return lines


def _mine(miner: PrefixTreeMiner, lines: Lines) -> Iterator[tuple[int, str]]:
    for step, (message, service) in enumerate(lines):
        found = miner.add(message, service=service)
        yield found.template_id, found.template
        if step % 97 == 0:
            assert_index_consistent(miner)


HEURISTICS = {
    "defaults": DEFAULTS,
    "no word veto": DEFAULTS.switched("word_veto", on=False),
    "no name cues": DEFAULTS.switched("name_cues", on=False),
    "bare variables": DEFAULTS.switched("bare_variables", on=True),
    "no shared words": DEFAULTS.switched("min_shared_words", on=False),
}
STREAMS = {
    "loghub fixtures": (_fixture_lines, 5000),
    "many templates": (lambda: _many_templates(1200), 150),
    "absorb and evict": (lambda: _absorbing(4000, seed=3), 60),
    "names": (lambda: _names(1500, seed=5), 60),
}


@pytest.mark.parametrize("stream", STREAMS)
@pytest.mark.parametrize("heuristics", HEURISTICS)
def test_the_index_picks_the_template_a_full_scan_picks(stream: str, heuristics: str) -> None:
    make, cap = STREAMS[stream]
    lines, rules = make(), HEURISTICS[heuristics]
    indexed = PrefixTreeMiner(max_templates=cap, heuristics=rules)
    reference = FullScanMiner(max_templates=cap, heuristics=rules)
    half = len(lines) // 2
    assert list(_mine(indexed, lines[:half])) == list(_mine(reference, lines[:half]))
    # state restored: the index is rebuilt from the templates
    indexed = PrefixTreeMiner.loads(indexed.dumps(), heuristics=rules)
    reference = FullScanMiner.loads(reference.dumps(), heuristics=rules)
    assert_index_consistent(indexed)
    assert list(_mine(indexed, lines[half:])) == list(_mine(reference, lines[half:]))
    assert_index_consistent(indexed)
    assert indexed.templates() == reference.templates()
    for message, service in lines[::50]:
        assert indexed.match(message, service=service) == reference.match(message, service=service)


def test_the_streams_exercise_eviction_absorption_and_big_buckets() -> None:
    miner = PrefixTreeMiner(max_templates=60)
    for message, service in _absorbing(4000, seed=3):
        miner.add(message, service=service)
    assert miner.evictions > 0
    # a constant that is no number became a variable: absorbed, and filed again
    assert any(
        WILDCARD in t.template and "." not in t.template and t.template.startswith("fetch")
        for t in miner.templates()
    )
    assert max(len(b) for group in miner._groups.values() for b in group.values()) > 8
    many = PrefixTreeMiner(max_templates=150)
    for message, service in _many_templates(1200):
        many.add(message, service=service)
    assert many.evictions > 0


def test_a_message_of_new_words_is_compared_with_few_templates() -> None:
    miner = PrefixTreeMiner()
    for message, service in _many_templates(2000):
        miner.add(message, service=service)
    (bucket,) = miner._groups[("svc", 7)].values()
    assert len(bucket) > 1000
    tokens = ["handler", "zzza", "yyya", "xxxa", "wwwa", "vvva", "finished"]
    assert len(list(bucket.candidates(tokens))) <= 2


def test_an_open_token_keeps_a_template_a_candidate() -> None:
    bucket = Bucket(3, Heuristics())
    clusters = [Cluster(i, "", ["login", _word(i), "done"]) for i in range(20)]
    clusters += [Cluster(20, "", ["login", WILDCARD, "done"])]
    clusters += [Cluster(21, "", ["login", "user=root", "done"])]  # a name: no veto
    for cluster in clusters:
        bucket.append(cluster)
    asked = ["login", _word(3), "done"]
    assert {c.id for c in bucket.candidates(asked)} == {3, 20, 21}
    clusters[4].absorb(["login", _word(5), "done"])
    assert {c.id for c in bucket.candidates(asked)} == {3, 4, 20, 21}
    assert {c.id for c in bucket.candidates(["login", "user=eve", "done"])} == {4, 20, 21}
    bucket.remove(clusters[3])
    assert {c.id for c in bucket.candidates(asked)} == {4, 20, 21}
    assert clusters[3].home is None and clusters[4].home is bucket
