"""One conformance suite for the failure-mode database, the prediction store and the model
repository (`ports.ModeRepository`, `PredictionStore`, `ModelRepository`): the in-memory twins,
SQLite and PostgreSQL (issue 14: any process serves the API from the store)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from premortem.clock import ManualClock
from premortem.domain import FailureMode, Prediction, Source, ns_to_datetime
from premortem.errors import NotFound
from premortem.ports import ModelRepository, ModeRepository, PredictionStore
from premortem.store.engine import make_engine, migrate
from premortem.store.models import SqlModelRepository
from premortem.store.modes import SqlModeRepository, SqlPredictionRepository
from premortem.testing import MemoryModelRepository, MemoryModeRepository, MemoryPredictionStore

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000_000_000
SECOND = 1_000_000_000


@dataclass
class Stores:
    modes: ModeRepository
    predictions: PredictionStore
    models: ModelRepository
    clock: ManualClock


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    clock = ManualClock(T0)
    if request.param == "memory":
        yield Stores(
            MemoryModeRepository(clock=clock),
            MemoryPredictionStore(),
            MemoryModelRepository(clock=clock),
            clock,
        )
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    engine = make_engine(url)
    migrate(engine)
    yield Stores(
        SqlModeRepository(engine, clock=clock),
        SqlPredictionRepository(engine),
        SqlModelRepository(engine, clock=clock),
        clock,
    )
    engine.dispose()


def mode(
    mode_id: str, name: str, *, service: str = "checkout", manual: bool = False
) -> FailureMode:
    return FailureMode(
        id=mode_id,
        name=name,
        service=service,
        source=Source.MANUAL if manual else Source.LEARNED,
        manifestation={"failure_lines": ["pool exhausted <b>"]},
    )


def prediction(
    pid: str, *, mode_id: str, at_s: int, p: float, service: str = "checkout"
) -> Prediction:
    return Prediction(
        id=pid,
        time_ns=T0 + at_s * SECOND,
        mode_id=mode_id,
        service=service,
        probability=p,
        horizon_s=300.0,
        lead_time_s=30.0,
        evidence={"indicators": ["tpl:3"]},
    )


# ----------------------------------------------------------------------------- modes


def test_every_save_is_the_next_version_and_history_keeps_each(stores: Stores) -> None:
    first = stores.modes.save_mode(mode("m1", "Pool exhaustion"), change="learned")
    assert first.version == 1 and first.updated_at == ns_to_datetime(T0)
    stores.clock.advance(60)
    edited = first.model_copy(update={"name": "Pool exhaustion (reviewed)"})
    second = stores.modes.save_mode(edited, change="edited by hand " + "x" * 300)
    assert second.version == 2 and second.updated_at == ns_to_datetime(T0 + 60 * SECOND)
    assert stores.modes.get_mode("m1") == second
    history = stores.modes.versions("m1")
    assert [(v.version, v.changed_ns) for v in history] == [(2, T0 + 60 * SECOND), (1, T0)]
    assert history[0].change == ("edited by hand " + "x" * 300)[:256]
    assert history[1].mode.name == "Pool exhaustion"
    assert stores.modes.versions("nothing") == []


def test_listing_filters_orders_and_pages(stores: Stores) -> None:
    for saved in (
        mode("b", "Zeta"),
        mode("a", "Alpha", service="db"),
        mode("c", "Alpha"),
        mode("d", "Manual one", manual=True),
    ):
        stores.modes.save_mode(saved, change="seed")
    page = stores.modes.list_modes()
    assert [m.id for m in page.items] == ["a", "c", "d", "b"] and page.total == 4
    assert [m.id for m in stores.modes.list_modes(service="checkout").items] == ["c", "d", "b"]
    assert [m.id for m in stores.modes.list_modes(source="manual").items] == ["d"]
    paged = stores.modes.list_modes(limit=2, offset=1)
    assert [m.id for m in paged.items] == ["c", "d"] and paged.total == 4
    assert [m.id for m in stores.modes.all_modes()] == ["a", "b", "c", "d"]
    assert stores.modes.get_mode("a").manifestation == {"failure_lines": ["pool exhausted <b>"]}


def test_missing_modes_and_deletes(stores: Stores) -> None:
    with pytest.raises(NotFound):
        stores.modes.get_mode("nope")
    assert stores.modes.find_mode("nope") is None
    with pytest.raises(NotFound):
        stores.modes.delete_mode("nope")
    stores.modes.save_mode(mode("m1", "Pool"), change="learned")
    stores.modes.delete_mode("m1")
    assert stores.modes.find_mode("m1") is None
    assert [v.version for v in stores.modes.versions("m1")] == [1], "history outlives the mode"
    again = stores.modes.save_mode(mode("m1", "Pool"), change="learned again")
    assert again.version == 2, "a mode learned again goes on from its history"
    assert [v.version for v in stores.modes.versions("m1")] == [2, 1]


def concurrently(work: Callable[[], object], *, threads: int = 2, each: int = 10) -> list[object]:
    results: list[object] = []
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def run() -> None:
        start.wait()
        for _ in range(each):
            try:
                results.append(work())
            except BaseException as exc:
                errors.append(exc)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors[0]
    return results


def test_two_writers_saving_one_mode_get_distinct_versions(stores: Stores) -> None:
    saved = concurrently(lambda: stores.modes.save_mode(mode("m1", "Pool"), change="race"))
    versions = sorted(m.version for m in saved)  # type: ignore[attr-defined]
    assert versions == list(range(1, 21))
    assert [v.version for v in stores.modes.versions("m1")] == list(range(20, 0, -1))


# ----------------------------------------------------------------------------- predictions


def seed_predictions(store: PredictionStore) -> None:
    added = store.add_predictions(
        [
            prediction("p1", mode_id="m1", at_s=10, p=0.6),
            prediction("p2", mode_id="m1", at_s=20, p=0.9),
            prediction("p3", mode_id="m2", at_s=20, p=0.4, service="db"),
            prediction("p0", mode_id="m2", at_s=20, p=0.5, service="db"),
            prediction("p4", mode_id="m2", at_s=5, p=0.7, service="db"),
        ]
    )
    assert added == 5


def test_predictions_are_idempotent_by_id(stores: Stores) -> None:
    seed_predictions(stores.predictions)
    again = [
        prediction("p1", mode_id="m1", at_s=99, p=0.1),
        prediction("p9", mode_id="m1", at_s=30, p=0.2),
    ]
    assert stores.predictions.add_predictions(again) == 1
    assert stores.predictions.add_predictions([]) == 0
    kept = stores.predictions.list_predictions(mode_id="m1").items
    assert [(p.id, p.time_ns) for p in kept][-1] == ("p1", T0 + 10 * SECOND)


def test_predictions_filter_order_and_page(stores: Stores) -> None:
    seed_predictions(stores.predictions)
    every = stores.predictions.list_predictions()
    assert [p.id for p in every.items] == ["p0", "p2", "p3", "p1", "p4"] and every.total == 5
    assert every.items[0].evidence == {"indicators": ["tpl:3"]}
    window = stores.predictions.list_predictions(
        since_ns=T0 + 10 * SECOND, until_ns=T0 + 20 * SECOND
    )
    assert [p.id for p in window.items] == ["p1"]
    assert [p.id for p in stores.predictions.list_predictions(service="db").items] == [
        "p0",
        "p3",
        "p4",
    ]
    assert [p.id for p in stores.predictions.list_predictions(min_probability=0.6).items] == [
        "p2",
        "p1",
        "p4",
    ]
    paged = stores.predictions.list_predictions(limit=2, offset=2)
    assert [p.id for p in paged.items] == ["p3", "p1"] and paged.total == 5


def test_latest_per_mode_and_probability_points(stores: Stores) -> None:
    seed_predictions(stores.predictions)
    latest = stores.predictions.latest_per_mode()
    assert [p.id for p in latest] == ["p2", "p0", "p3"]
    assert [p.id for p in stores.predictions.latest_per_mode(service="checkout")] == ["p2"]
    points = stores.predictions.probability_points(
        ["m1", "m2", "m3"], since_ns=T0 + 6 * SECOND, until_ns=T0 + 21 * SECOND
    )
    assert points == {
        "m1": [(T0 + 10 * SECOND, 0.6), (T0 + 20 * SECOND, 0.9)],
        "m2": [(T0 + 20 * SECOND, 0.4), (T0 + 20 * SECOND, 0.5)],
        "m3": [],
    }
    last = stores.predictions.probability_points(
        ["m1"], since_ns=T0, until_ns=T0 + 60 * SECOND, per_mode=1
    )
    assert last == {"m1": [(T0 + 20 * SECOND, 0.9)]}
    assert stores.predictions.probability_points([], since_ns=T0, until_ns=T0 + 1) == {}


# ----------------------------------------------------------------------------- models


def test_models_are_versioned_and_the_newest_is_served(stores: Stores) -> None:
    assert stores.models.latest_version() == 0 and stores.models.latest() is None
    assert stores.models.save(b"first", kind="bn", summary={"modes": 1}) == 1
    stores.clock.advance(5)
    assert stores.models.save(b"second", kind="bn", summary={"modes": 2}) == 2
    latest = stores.models.latest()
    assert latest is not None
    assert (latest.version, latest.created_ns, latest.blob, latest.summary) == (
        2,
        T0 + 5 * SECOND,
        b"second",
        {"modes": 2},
    )
    history = stores.models.history()
    assert [(m.version, m.blob, m.summary) for m in history] == [
        (2, b"", {"modes": 2}),
        (1, b"", {"modes": 1}),
    ]
    assert [m.version for m in stores.models.history(limit=1)] == [2]


def test_two_trainings_saving_at_once_get_distinct_versions(stores: Stores) -> None:
    versions = concurrently(lambda: stores.models.save(b"m", kind="bn", summary={}))
    assert sorted(versions) == list(range(1, 21))  # type: ignore[type-var]
    assert stores.models.latest_version() == 20
