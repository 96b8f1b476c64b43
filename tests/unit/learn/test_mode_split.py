"""Failures reported alike whose own lines name different things broken are different modes
(`episodes.tell_alike_reports_apart`): a load generator reports a saturated queue and a slow
dependency alike ("504 Gateway Timeout"); the service's failure lines tell them apart."""

from __future__ import annotations

from premortem.learn.episodes import (
    Episode,
    ModeKey,
    assign_modes,
    mode_skeletons,
    tell_alike_reports_apart,
)

REPORT = ModeKey("quotes", "GET <*>: HTTPError('<*> Server Error: Gateway Timeout') <*>")
QUEUE = "request timed out after 2000 ms waiting in queue (depth 57)"
SLOW = "request timed out after 2000 ms: pricing downstream call still running"


def failure(n: int, manifest: tuple[int, ...], line: str) -> Episode:
    return Episode(
        source_id=f"run-{n}",
        onset_ns=n * 1_000_000_000,
        key=REPORT,
        details="GET /quote/[id]: HTTPError('504 Server Error: Gateway Timeout') x65",
        manifest=manifest,
        manifest_lines=(line,) if manifest else (),
    )


def modes_of(episodes: list[Episode]) -> list[str]:
    tell_alike_reports_apart(episodes)
    assign_modes(episodes)
    return [e.mode for e in episodes]


def test_two_failures_logged_differently_are_two_modes() -> None:
    episodes = [failure(1, (7,), SLOW), failure(2, (9,), QUEUE)]
    episodes += [failure(3, (7,), SLOW), failure(4, (9,), QUEUE)]
    modes = modes_of(episodes)
    assert modes[0] == modes[2] != modes[1] == modes[3]
    assert modes[0] == REPORT.mode_id, "the earliest keeps the id a mode learned before had"
    names = {name for name, _ in assign_modes(episodes).values()}
    assert names == {"quotes: slow dependency timeout", "quotes: queue wait timeout"}


def test_failures_sharing_a_line_or_too_few_to_learn_from_stay_one_mode() -> None:
    shared = [failure(1, (7,), SLOW), failure(2, (7, 9), QUEUE), failure(3, (9,), QUEUE)]
    assert len(set(modes_of(shared))) == 1
    lone = [failure(1, (7,), SLOW), failure(2, (7,), SLOW), failure(3, (9,), QUEUE)]
    assert len(set(modes_of(lone))) == 1, "one failure is no mode of its own (nor a trigger)"
    unknown = [failure(1, (7,), SLOW), failure(2, (), ""), failure(3, (7,), SLOW)]
    assert len(set(modes_of(unknown))) == 1


def caused(n: int, fault: str) -> Episode:
    episode = failure(n, (7,), "GET /quote failed upstream")
    episode.fault_types = (fault,)
    return episode


def test_failures_alike_in_every_line_are_told_apart_by_their_injected_fault() -> None:
    episodes = [caused(1, "disk_fill"), caused(2, "cpu_hog"), caused(3, "disk_fill")]
    episodes += [caused(4, "cpu_hog"), failure(5, (7,), "GET /quote failed upstream")]
    modes = modes_of(episodes)
    assert modes[0] == modes[2] == modes[4] != modes[1] == modes[3]
    assert modes[0] == REPORT.mode_id, "the earliest cause keeps the report's id"
    names = sorted(name for name, _ in assign_modes(episodes).values())
    assert [n.rsplit(" caused by ", 1)[-1] for n in names] == ["cpu_hog", "disk_fill"]
    shown = mode_skeletons(episodes)[modes[1]].manifestation
    assert (shown["cause"], shown["manifest_templates"]) == ("cpu_hog", [])


def test_a_cause_seen_once_is_no_mode_of_its_own() -> None:
    episodes = [caused(1, "disk_fill"), caused(2, "cpu_hog"), caused(3, "disk_fill")]
    assert len(set(modes_of(episodes))) == 1
    assert all("caused by" not in name for name, _ in assign_modes(episodes).values())


def test_the_fault_tells_causes_apart_even_where_their_lines_would_split_them_otherwise() -> None:
    """Trial 23: three faults, one 502 at the front; the lines split the failures in two groups
    that named alike and merged again: one mode for three causes, no alert said what broke."""
    same = "GET /order failed upstream"

    def run(n: int, fault: str, manifest: tuple[int, ...]) -> Episode:
        episode = failure(n, manifest, same)
        episode.fault_types = (fault,)
        return episode

    episodes = [run(1, "row_lock", (7,)), run(2, "redis_pause", (7,)), run(3, "pool", (9,))]
    episodes += [run(4, "row_lock", (7,)), run(5, "redis_pause", (7,)), run(6, "pool", (9,))]
    modes = modes_of(episodes)
    assert len(set(modes)) == 3
    assert modes[:3] == modes[3:]
    assert len(assign_modes(episodes)) == 3
