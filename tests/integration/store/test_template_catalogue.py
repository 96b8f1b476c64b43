"""The template catalogue on SQLite and PostgreSQL: the table is bounded with the miner, and a
crash (kill -9) between two periodic flushes never lets an id name another template (issue 13)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest
from prometheus_client import generate_latest
from sqlalchemy import func, select

from premortem.config import Settings
from premortem.domain import LogRecord
from premortem.logs.catalog import TemplateCatalog
from premortem.runtime.assembly import build_runtime
from premortem.service.metrics import ServiceMetrics
from premortem.store import tables as t
from premortem.store.engine import make_engine, migrate
from premortem.store.templates import SqlTemplateRepository

pytestmark = pytest.mark.integration


def records(words: list[str], *, at: int) -> list[LogRecord]:
    return [
        LogRecord(time_ns=at + i, body=f"{w} started on node {i}", service="api")
        for i, w in enumerate(words)
    ]


def test_the_templates_table_is_evicted_with_the_miner(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    repository = SqlTemplateRepository(engine)
    catalog = TemplateCatalog.restore(repository, max_templates=20)
    for batch in range(20):
        words = [f"w{chr(97 + batch)}{chr(97 + i)}" for i in range(20)]
        catalog.assign(records(words, at=batch * 1000))
        catalog.flush()
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(t.templates)).scalar_one()
    engine.dispose()
    assert rows <= 20, f"{rows} template rows kept for a catalogue capped at 20"


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import orjson
    from premortem.config import Settings
    from premortem.domain import LogRecord
    from premortem.runtime.assembly import build_runtime

    def records(words, at):
        return [LogRecord(time_ns=at + i, body=f"{w} started on node {i}", service="api")
                for i, w in enumerate(words)]

    runtime = build_runtime(Settings(database_url=sys.argv[1]))
    pipeline = runtime.pipeline
    pipeline.ingest_logs(records(["alpha", "beta"], at=1_000))
    pipeline.catalog.flush()  # the periodic save; the next batch comes before the next one
    batch = records(["gamma", "delta", "epsilon"], at=2_000)
    pipeline.ingest_logs(batch)  # acknowledged: stored with its template ids
    print(orjson.dumps({r.body: r.template_id for r in batch}).decode(), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_template_ids_survive_kill_9_between_flushes(database_url: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, database_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    before: dict[str, int] = orjson.loads(child.stdout.strip().splitlines()[-1])

    runtime = build_runtime(Settings(database_url=database_url))
    try:
        pipeline = runtime.pipeline
        [unrelated] = records(["zeta"], at=3_000)
        pipeline.ingest_logs([unrelated])
        assert unrelated.template_id not in before.values(), "an acknowledged id was reused"
        again = records(["gamma", "delta", "epsilon"], at=4_000)
        pipeline.ingest_logs(again)
        assert {r.body: r.template_id for r in again} == before
        for body, template_id in before.items():
            template = pipeline.catalog.get(template_id)
            assert template is not None and body.split()[0] in template.template
    finally:
        runtime.engine.dispose()


def test_every_bounded_map_is_counted_for_metrics(tmp_path: Path) -> None:
    runtime = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / 'metrics.db'}"))
    try:
        runtime.pipeline.ingest_logs(records(["alpha", "beta"], at=1_000))
        sizes = runtime.sizes()
    finally:
        runtime.engine.dispose()
    assert sizes["catalog_templates"] == sizes["catalog_statistics"] == 2
    assert sizes["analysis_sources"] == 1 and sizes["analysis_queue_batches"] == 0
    metrics = ServiceMetrics()
    metrics.observe_sizes(sizes, evictions=0)
    text = generate_latest(metrics.registry).decode()
    assert 'premortem_bounded_entries{map="catalog_statistics"} 2.0' in text
    assert "premortem_templates 2.0" in text


LOOP_CHILD = textwrap.dedent(
    """
    import random, sys, threading
    import orjson
    from premortem.config import Settings
    from premortem.domain import LogRecord
    from premortem.runtime.assembly import build_runtime

    url, seed = sys.argv[1], int(sys.argv[2])
    pipeline = build_runtime(Settings(database_url=url)).pipeline
    pipeline.start()  # analysis on its own thread, as in the server
    out = threading.Lock()

    def word(n):  # letters only: a word with digits would be masked as a variable
        return "".join(chr(97 + int(d)) for d in str(n))

    def client(k):
        rng = random.Random(seed * 10 + k)
        while True:
            words = [word(rng.randrange(400)) + "xy"[k % 2] for _ in range(10)]
            batch = [LogRecord(time_ns=rng.randrange(1 << 60), body=f"{w} started on node {i}",
                               service="api") for i, w in enumerate(words)]
            pipeline.ingest_logs(batch)  # acknowledged from here on
            line = orjson.dumps([[r.body.split()[0], r.template_id] for r in batch]).decode()
            with out:
                print(line, flush=True)

    for k in range(4):
        threading.Thread(target=client, args=(k,), daemon=True).start()
    threading.Event().wait()
    """
)


def test_kill_9_in_a_loop_during_ingestion_from_4_clients(database_url: str) -> None:
    """Every acknowledged (word, id) pair holds across three crashes: one id per word and one
    word per id, and the restored catalogue names each id's template as before."""
    seen: dict[str, int] = {}
    for round_ in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", LOOP_CHILD, database_url, str(round_)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        acked = [child.stdout.readline() for _ in range(40 + 30 * round_)]
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        for line in acked:
            for word, template_id in orjson.loads(line):
                assert seen.setdefault(word, template_id) == template_id, f"{word} changed id"
    assert len(set(seen.values())) == len(seen), "one id named two templates"
    runtime = build_runtime(Settings(database_url=database_url))
    try:
        for word, template_id in seen.items():
            template = runtime.pipeline.catalog.get(template_id)
            assert template is not None and template.template.startswith(f"{word} "), word
    finally:
        runtime.engine.dispose()


def test_concurrent_saves_of_the_same_templates_both_land(database_url: str) -> None:
    """The request path saves new templates while the periodic flush saves them again: two
    writers of one id at once must both succeed (no delete-then-insert race on PostgreSQL)."""
    import threading

    from premortem.domain import Template

    engine = make_engine(database_url)
    migrate(engine)
    repository = SqlTemplateRepository(engine)
    failures: list[BaseException] = []

    def fields(round_: int) -> list[Template]:
        return [
            Template(
                id=i,
                service="api",
                template=f"t{i} <*>",
                count=round_ + 1,
                first_seen_ns=1,
                last_seen_ns=round_ + 1,
            )
            for i in range(1, 30)
        ]

    def writer(save: str, barrier: threading.Barrier) -> None:
        for round_ in range(40):
            barrier.wait()
            try:
                if save == "new":
                    repository.save_new(templates=fields(round_), next_id=30)
                else:
                    repository.save(miner_state=b"{}", templates=fields(round_))
            except BaseException as exc:
                failures.append(exc)

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=writer, args=(s, barrier)) for s in ("new", "flush")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = repository.load_templates()
    engine.dispose()
    assert not failures, failures[0]
    assert sorted(tpl.count for tpl in stored) == [40] * 29
