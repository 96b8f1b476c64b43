"""The catalog under high cardinality: statistics evicted with the miner's templates, every
per-service map bounded, and reads that are safe while another thread assigns (issue 13)."""

from __future__ import annotations

import random
import threading
import time

from premortem.domain import LogRecord
from premortem.logs.catalog import TemplateCatalog
from premortem.logs.miner import PrefixTreeMiner


def word(n: int) -> str:
    """A plain word per number ("ba", "bb", …): plain words name events, so each is a template."""
    letters = ""
    while True:
        n, digit = divmod(n, 26)
        letters = chr(ord("a") + digit) + letters
        if n == 0:
            return "b" + letters


def distinct(start: int, count: int, *, services: int = 1) -> list[LogRecord]:
    return [
        LogRecord(
            time_ns=(start + i) * 1_000_000,
            body=f"{word(start + i)} started on node {i}",
            service=f"svc-{(start + i) % services}",
        )
        for i in range(count)
    ]


def test_statistics_are_evicted_with_the_miners_templates() -> None:
    catalog = TemplateCatalog(PrefixTreeMiner(max_templates=50))
    for start in range(0, 3000, 100):
        catalog.assign(distinct(start, 100))
    held = catalog.templates()
    assert len(held) <= 50, f"{len(held)} statistics kept for a miner capped at 50"
    live = {t.id for t in catalog.miner.templates()}
    assert {t.id for t in held} <= live
    assert catalog.evictions >= 2950


def test_per_service_maps_are_bounded_by_the_template_cap() -> None:
    catalog = TemplateCatalog(PrefixTreeMiner(max_templates=50, cache_limit=1000))
    for start in range(0, 6000, 200):
        catalog.assign(distinct(start, 200, services=6000))
    sizes = catalog.sizes()
    assert sizes["templates"] <= 50 and sizes["statistics"] <= 50
    # the miner's two lookup caches are bounded over all services together, not per service
    assert sizes["miner_cached"] <= 2 * 1000
    assert 0 < sizes["miner_tokens"] <= 2 * 1000, "token memos are bounded and in /metrics"
    assert sizes["miner_services"] <= 2 * 1000, "a cache per service ever seen"
    assert sizes["miner_groups"] <= 50, "an empty template group per service ever seen"


def test_reading_while_another_thread_assigns_never_fails() -> None:
    catalog = TemplateCatalog(PrefixTreeMiner(max_templates=2000))
    catalog.assign(distinct(0, 1000))
    stop = threading.Event()

    def ingest() -> None:
        start = 1000
        while not stop.is_set():
            catalog.assign(distinct(start, 50, services=7))
            start += 50

    writer = threading.Thread(target=ingest)
    writer.start()
    errors: list[BaseException] = []
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                templates = catalog.templates()
                catalog.get(templates[-1].id)
                page, total = catalog.page(limit=10, offset=5)  # what GET /api/v1/templates uses
                assert len(page) == 10 and total >= len(templates) - 100
            except RuntimeError as exc:  # "dictionary changed size during iteration"
                errors.append(exc)
                break
    finally:
        stop.set()
        writer.join()
    assert errors == []


def test_a_page_is_ordered_by_count_then_id_and_filtered() -> None:
    catalog = TemplateCatalog(PrefixTreeMiner())
    records = distinct(0, 30, services=3)
    catalog.assign(records + records[:5] + records[:2])
    page, total = catalog.page(limit=4)
    assert total == 30
    assert [(t.count, t.id) for t in page] == [(3, 1), (3, 2), (2, 3), (2, 4)]
    page, total = catalog.page(service="svc-1", contains="started", limit=100, offset=1)
    assert total == 10 and len(page) == 9 and all(t.service == "svc-1" for t in page)


class SortingMiner(PrefixTreeMiner):
    """The eviction as it was first written (sort everything, drop the rarest): the reference."""

    def _evict(self) -> None:
        excess = len(self._clusters) - self.max_templates
        batch = max(excess, self.max_templates // 100, 1)
        newest = self._next_id - 1
        candidates = sorted(
            (c for c in self._clusters.values() if c.id != newest), key=lambda c: (c.count, c.id)
        )
        for cluster in candidates[: min(batch, len(candidates))]:
            self._drop(cluster)


def test_eviction_picks_the_same_templates_as_a_full_sort() -> None:
    rng = random.Random(13)
    lines = [
        (f"{word(rng.randrange(400))} done in {rng.randrange(99)} ms", f"svc-{rng.randrange(3)}")
        for _ in range(20_000)
    ]
    fast, reference = PrefixTreeMiner(max_templates=120), SortingMiner(max_templates=120)
    assigned = [fast.add(line, service=service).template_id for line, service in lines]
    expected = [reference.add(line, service=service).template_id for line, service in lines]
    assert assigned == expected
    assert fast.templates() == reference.templates()
    assert fast.evictions == reference.evictions > 1000
    restored = PrefixTreeMiner.loads(fast.dumps())
    reference = SortingMiner.loads(fast.dumps())
    assert [restored.add(x, service=s).template_id for x, s in lines[:5000]] == [
        reference.add(x, service=s).template_id for x, s in lines[:5000]
    ]


class _SlowRows:
    """An in-memory template table whose first `save_new` waits until released."""

    def __init__(self) -> None:
        self.rows: dict[int, str] = {}
        self.entered = threading.Event()
        self.release = threading.Event()

    def load_miner_state(self) -> bytes | None:
        return None

    def load_templates(self) -> list:
        return []

    def load_next_id(self) -> int:
        return 1

    def save_new(self, *, templates: list, next_id: int) -> None:
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(10)
        self.rows.update({t.id: t.template for t in templates})

    def save(self, *, miner_state: bytes, templates: list, evicted: object = ()) -> None:
        self.rows.update({t.id: t.template for t in templates})
        for template_id in evicted:  # type: ignore[attr-defined]
            self.rows.pop(template_id, None)


def test_a_template_evicted_while_its_row_is_being_saved_leaves_no_row_behind() -> None:
    """Review of issue 13: a flush that ran before the row existed must not forget it."""
    rows = _SlowRows()
    catalog = TemplateCatalog(PrefixTreeMiner(max_templates=2), rows)
    first = threading.Thread(target=catalog.assign, args=(distinct(0, 1),))
    first.start()
    assert rows.entered.wait(10)  # its new template is being saved
    busy = [
        LogRecord(time_ns=10, body=f"{w} started on node 7", service="svc-0") for w in ("xa", "xb")
    ]
    second = threading.Thread(target=catalog.assign, args=(busy * 3,))
    second.start()  # evicts the first template (count 1) and waits for its turn to save
    time.sleep(0.2)
    catalog.flush()  # deletes what was evicted: no row yet
    rows.release.set()
    first.join(10)
    second.join(10)
    catalog.flush()
    assert set(rows.rows) == {t.id for t in catalog.miner.templates()}
