"""Stream time per source: each source's clock moves with its own records only."""

from __future__ import annotations

import doctest

from premortem import clock as clock_module
from premortem.clock import ManualClock, StreamClocks

S = 1_000_000_000


def test_docstring_examples() -> None:
    result = doctest.testmod(clock_module)
    assert result.attempted > 0 and result.failed == 0


def test_each_source_has_its_own_time() -> None:
    mono = ManualClock(0)
    clocks = StreamClocks(mono)
    clocks.observe("a", 1000 * S)
    clocks.observe("b", 10 * S)
    clocks.observe("b", 5 * S)  # older than what b already said: time never goes back
    assert clocks.now_ns("a") == 1000 * S
    assert clocks.now_ns("b") == 10 * S
    assert clocks.now_ns("never seen") == 0
    assert clocks.newest_ns() == 1000 * S
    assert sorted(clocks.sources()) == ["a", "b"]


def test_a_quiet_source_advances_at_wall_clock_pace_since_its_last_record() -> None:
    mono = ManualClock(0)
    clocks = StreamClocks(mono)
    clocks.observe("a", 1000 * S)
    mono.advance(30)
    clocks.observe("b", 10 * S)
    mono.advance(5)
    assert clocks.now_ns("a") == 1035 * S
    assert clocks.now_ns("b") == 15 * S


def test_views_read_one_source_or_the_newest() -> None:
    clocks = StreamClocks(ManualClock(0))
    clocks.observe("", 7 * S)  # records without a service are the "" source
    clocks.observe("a", 9 * S)
    following = clocks.of("")
    assert following.now_ns() == 7 * S
    following.source = "a"
    assert following.now_ns() == 9 * S
    assert clocks.newest().now_ns() == 9 * S


def test_sources_are_bounded_and_the_stalest_is_forgotten() -> None:
    clocks = StreamClocks(ManualClock(0), max_sources=2)
    clocks.observe("a", 1 * S)
    clocks.observe("b", 2 * S)
    clocks.observe("a", 3 * S)  # a is now the most recently observed
    clocks.observe("c", 4 * S)
    assert sorted(clocks.sources()) == ["a", "c"]
