"""The miner's caches: keys that stand for the masked message, memory that eviction really frees,
results that depend on nothing but the input (issue 16)."""

from __future__ import annotations

import gc
import random
import weakref

from hypothesis import given, settings
from hypothesis import strategies as st

from premortem.logs import PrefixTreeMiner
from premortem.logs.clusters import Cluster
from premortem.logs.heuristics import Heuristics
from premortem.logs.masking import digit_shape, mask
from premortem.logs.shapes import TokenMasks, TokenShapes, collapse_runs, runs_key, runs_shape

# Pieces that exercise every masking rule and the corners of the token classes.
PIECES = [
    "12", "-3.5", "1,5", "0x1f", "12KB", "5ms", "(", ")", "(12", "KB)", "ms", "s", "%", "KB",
    "http://10.0.0.1:80/v2", "http:", "//host1/x", "C:\\dir1", "/var/log/a1", "~/x", "./y",
    "a.b.c", "host.example.com", "deadbeef", "Tue", "Jul", "user", "for", "root", "id=7",
    "req-3f2a9c1e-1b2c-4d5e-8f90-0123456789ab", "[instance:", "x=12,", "abc", "VM", "Started",
    "\u0663", "12\u00a0ms", "=", ",", ":", "'", '"', "|", "<", ">", "{1}", "[2]", "a1b", "1.2.3",
]  # fmt: skip
messages = st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map(" ".join)
HEURISTICS = [Heuristics(), Heuristics(quantities=False, paths=False), Heuristics(hex_words=False)]


@settings(max_examples=300, deadline=None)
@given(st.lists(messages, min_size=2, max_size=30))
def test_messages_with_one_key_mask_alike(batch: list[str]) -> None:
    """The token key is sound: the same key, the same masked tokens, under any heuristics."""
    shapes = TokenShapes(1 << 10)
    for heuristics in HEURISTICS:
        masked_by_key: dict[bytes, list[str]] = {}
        for message in batch:
            key, _ = shapes.key(collapse_runs(digit_shape(message)))
            masked = mask(message, heuristics).split()
            assert masked_by_key.setdefault(key, masked) == masked, message


@settings(max_examples=300, deadline=None)
@given(messages)
def test_masking_token_by_token_is_the_masking_regex(message: str) -> None:
    shapes = TokenShapes(1 << 10)
    for heuristics in HEURISTICS:
        _, tokens = shapes.key(collapse_runs(digit_shape(message)))
        by_tokens = TokenMasks(1 << 10, heuristics).masked(tokens)
        if by_tokens is not None:  # None: a quantity rule may span tokens, the regex decides
            assert by_tokens.split() == mask(message, heuristics).split()


def _real_like(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """Messages whose variables change shape: hex ids, numbers of any length, words."""
    events = [
        "Instance {} spawned in {} seconds",
        "Lock {} acquired by {} :: waited {}s",
        "GET /v2/{}/servers/detail HTTP/1.1 status: 200 len: {} time: {}",
        "VM {} (Lifecycle Event)",
        "Failed password for {} from {} port {} ssh2",
    ]
    words = ["Started", "Paused", "Resumed", "root", "admin", "guest"]
    lines = []
    for _ in range(n):
        values = [
            rng.choice(
                [
                    f"{rng.getrandbits(128):032x}",
                    str(rng.randrange(10 ** rng.randint(1, 9))),
                    f"{rng.random() * 10 ** rng.randint(0, 4):.{rng.randint(0, 4)}f}",
                    rng.choice(words),
                    f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
                ]
            )
            for _ in range(3)
        ]
        lines.append((rng.choice(events).format(*values), f"svc-{rng.randrange(3)}"))
    return lines


def _uncached(lines: list[tuple[str, str]]) -> list[tuple[int, str, tuple[str, ...]]]:
    """The same miner with its caches emptied before every message: clustering alone."""
    miner = PrefixTreeMiner()
    out = []
    for message, service in lines:
        miner._by_shape.clear()
        miner._by_key.clear()
        match = miner.add(message, service=service)
        out.append((match.template_id, match.template, match.parameters))
    return out


def test_cached_miner_gives_the_templates_of_the_uncached_one() -> None:
    lines = _real_like(random.Random(3), 3000)
    miner = PrefixTreeMiner()
    cached = [miner.add(message, service=service) for message, service in lines]
    assert [(m.template_id, m.template, m.parameters) for m in cached] == _uncached(lines)
    # the caches answered most lines without masking (the point of keying on token shapes)
    assert miner.key_misses < len(lines) / 4 < miner.shape_misses


def test_numbers_of_another_length_and_hex_ids_hit_the_cache() -> None:
    miner = PrefixTreeMiner()
    miner.add("Lock 3f2a9c acquired by 7 :: waited 0.5s")
    miner.add("Lock 99e1b0d7 acquired by 12345 :: waited 10.25s")
    assert miner.key_misses == 1 and miner.shape_misses == 2


def test_mining_is_deterministic_across_runs_and_hash_seeds() -> None:
    """No set or dict order leaks into ids: two miners agree, including after eviction."""
    lines = _real_like(random.Random(5), 2000)
    first, second = PrefixTreeMiner(max_templates=20), PrefixTreeMiner(max_templates=20)
    assert [first.add(m, service=s) for m, s in lines] == [
        second.add(m, service=s) for m, s in lines
    ]
    assert first.templates() == second.templates()
    assert first.dumps() == second.dumps()


def test_evicted_templates_leave_memory() -> None:
    miner = PrefixTreeMiner(max_templates=20, cache_limit=10_000)
    alive: list[weakref.ref[Cluster]] = []
    for i in range(3000):
        word = "".join(chr(97 + (i // 26**k) % 26) for k in range(3))
        miner.add(f"event {word} happened on node {i}")
        newest = miner._clusters[max(miner._clusters)]
        if not alive or alive[-1]() is not newest:
            alive.append(weakref.ref(newest))
    gc.collect()
    held = sum(ref() is not None for ref in alive)
    assert miner.evictions > 2500
    # the templates held, plus at most the evictions since the last pass over the caches
    assert held <= miner.max_templates + (miner.sizes()["cached"] // 8) + 1
    assert held < 300
    assert miner.sizes()["templates"] <= miner.max_templates


def test_evicted_templates_of_many_services_leave_memory() -> None:
    """A pass over the caches walks only the services that lost a template; it still frees
    every evicted template, whichever service held it."""
    miner = PrefixTreeMiner(max_templates=20, cache_limit=10_000)
    alive: list[weakref.ref[Cluster]] = []
    for i in range(3000):
        word = "".join(chr(97 + (i // 26**k) % 26) for k in range(3))
        miner.add(f"event {word} happened on node {i}", service=f"svc-{i % 500}")
        alive.append(weakref.ref(miner._clusters[max(miner._clusters)]))
    gc.collect()
    held = len({id(c) for ref in alive if (c := ref()) is not None})
    assert miner.evictions > 2500
    assert held <= miner.max_templates + (miner.sizes()["cached"] // 8) + 1
    assert miner.sizes()["templates"] <= miner.max_templates


def test_every_heuristic_can_be_switched_off() -> None:
    for name in Heuristics.names():
        off = Heuristics().switched(name, on=False)
        miner = PrefixTreeMiner(heuristics=off)
        assert miner.add("disk 3 of /dev/sda1 full (12 KB left)").template_id == 1
    assert Heuristics().switched("min_shared_words", on=False).min_shared_words == 0


# Whitespace of every kind bytes.split knows, digits in runs of any length, and non-ASCII text.
RUN_PIECES = ["a", "b1", "12", "007", "1234567890123", " ", "  ", "\t", "\r", "\x0b", "\x0c", "\u00e9",
              "\u0663", "\u00a0", ":", "-", "\x00", "\x1f"]  # fmt: skip
run_messages = st.lists(st.sampled_from(RUN_PIECES), max_size=12).map("".join)


@settings(max_examples=500, deadline=None)
@given(run_messages, run_messages)
def test_runs_key_is_the_digit_shape_with_runs_collapsed(first: str, second: str) -> None:
    """`runs_key` (bytes methods only) names exactly what `collapse_runs` (a regex) gives, and is
    never a digit shape, so both share one cache."""
    keys = [runs_key(m.encode()) for m in (first, second)]
    collapsed = [collapse_runs(digit_shape(m)) for m in (first, second)]
    assert [runs_shape(key) for key in keys] == collapsed
    assert (keys[0] == keys[1]) == (collapsed[0] == collapsed[1])
    assert keys[0] != digit_shape(first) and keys[0] != digit_shape(second)


def test_one_off_digit_shapes_do_not_fill_the_cache() -> None:
    """Numbers that change length make a new digit shape almost every line: those are answered by
    the runs key and not cached one by one, while shapes that come back still are."""
    rng = random.Random(11)
    miner = PrefixTreeMiner()
    for _ in range(5000):
        numbers = [str(rng.randrange(10 ** rng.randint(1, 12))) for _ in range(4)]
        miner.add("Served {} bytes to {}:{} in {} ms".format(*numbers))
    assert miner.key_misses == 1
    assert miner.sizes()["cached"] < 5000 / 10
    for _ in range(16):
        miner.add("Served 10 bytes to 10:10 in 10 ms")
    before = miner.shape_misses
    miner.add("Served 99 bytes to 12:34 in 56 ms")
    assert miner.shape_misses == before  # its digit shape came back: it was cached
