"""`premortem worker`: analysis in its own process, fed by NATS JetStream (scale-out).

The server publishes accepted log records to `premortem.logs.<partition>` (a service always
lands in the same partition; runtime/handoff.py). Any number of workers share the partitions:

- **Ownership.** A worker owns a partition while it holds that partition's lease (a PostgreSQL
  advisory lock, store/leases.py); it tries to take free leases every `CLAIM_INTERVAL_S`. A
  worker that dies loses its leases with its database connection, and another takes them.
- **Per partition, in order.** The owner pulls the partition's durable consumer (`logs-<p>`)
  one message at a time (`max_ack_pending=1`: nothing newer is delivered while a message is
  unacknowledged, so a partition's records are mined in the order they were published, even
  across a takeover). For each message it assigns templates (the partition's own miner, restored
  from the store when it takes the partition; its ids come from the partition's range), stores
  the records by id (a redelivered message stores nothing twice), runs the windows and
  detectors, and only then acknowledges. A message taken by a worker that died unacknowledged is
  delivered again after `PREMORTEM_BUS_ACK_WAIT_S` to whoever owns the partition then.
- **Prediction is one role.** The predictor reads indicators of every service, so one worker
  (the holder of the `predict` lease) runs it over every partition through one durable consumer
  (`premortem.logs.>`, stream order = publish order), with alerting: one notification per alert.

Not yet (docs/scaling.md): the windows' and detectors' in-memory state is not checkpointed; a
partition that changes owner starts its open windows afresh.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from premortem.bus import Incoming, every_partition, stream_name, subject
from premortem.bus.jetstream import JetStreamBus
from premortem.bus.records import decode
from premortem.clock import Clock, StreamClocks, SystemClock
from premortem.config import Settings
from premortem.detect.analyzer import Analyzer, AnalyzerConfig
from premortem.logs.catalog import TemplateCatalog
from premortem.runtime.analysis import AnalysisStage, PredictionStage
from premortem.runtime.assembly import build_prediction_side
from premortem.store.anomalies import SqlAnomalyRepository
from premortem.store.engine import make_engine, migrate
from premortem.store.inputs import SqlInputStore
from premortem.store.leases import Leases
from premortem.store.modes import SqlModeRepository
from premortem.store.tables_windows import SqlWindowRepository
from premortem.store.templates import SqlTemplateRepository, TemplateScope

log = logging.getLogger(__name__)

CLAIM_INTERVAL_S = 2.0
TICK_INTERVAL_S = 1.0
PULL_TIMEOUT_S = 0.05
PREDICT = "predict"


@dataclass(slots=True)
class OwnedPartition:
    number: int
    catalog: TemplateCatalog
    analysis: AnalysisStage


class Worker:
    """One worker process's analysis; `run(stop)` until `stop` is set."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        if not settings.bus_url:
            raise ValueError("a worker needs PREMORTEM_BUS_URL (nats://host:4222)")
        self.settings = settings
        self.clock = clock or SystemClock()
        self.engine: Engine = make_engine(settings.database_url)
        migrate(self.engine)
        self.inputs = SqlInputStore(self.engine, clock=self.clock)
        self.leases = Leases(self.engine)
        self.partitions: dict[int, OwnedPartition] = {}
        self.stream_clocks = StreamClocks()
        modes = SqlModeRepository(self.engine, clock=self.clock)
        side = build_prediction_side(
            settings, self.engine, self.clock, self.stream_clocks, modes, self.inputs
        )
        self.alerting = side[1]
        self.prediction: PredictionStage = side[4]
        self.predicting = False
        self.slot: int | None = None  # this worker's place among the live workers (a lease)
        self.records_done = 0
        self._claimed_at = 0.0
        self._ticked_at = 0.0

    async def run(self, stop: asyncio.Event, *, on_ready: Callable[[], None] | None = None) -> None:
        name = self.settings.bus_name
        bus = await JetStreamBus.connect(
            str(self.settings.bus_url),
            prefix=name,
            stream=stream_name(name),
            ack_wait_s=self.settings.bus_ack_wait_s,
            max_ack_pending=1,
        )
        self.alerting.start()
        try:
            self._take_slot()
            # Workers started together see each other on the next claim: wait for it, so the
            # first one up does not take every partition only to give most of them back.
            await asyncio.sleep(CLAIM_INTERVAL_S)
            self._claim()
            if on_ready is not None:
                on_ready()
            while not stop.is_set():
                busy = await self._round(bus)
                self._tick()
                if not busy:
                    await asyncio.sleep(0.01)
        finally:
            self._tick(force=True)
            for owned in self.partitions.values():
                owned.catalog.flush()
            await bus.close()
            self.alerting.stop()
            self.leases.release_all()
            self.engine.dispose()

    async def _round(self, bus: JetStreamBus) -> bool:
        """Pull and handle at most one message per owned partition and one for prediction."""
        busy = False
        name = self.settings.bus_name
        for number in sorted(self.partitions):
            for message in await bus.pull(
                subject("logs", number, prefix=name),
                durable=f"logs-{number}",
                batch=1,
                timeout_s=PULL_TIMEOUT_S,
            ):
                self._analyse(self.partitions[number], message)
                await message.ack()
                busy = True
        if self.predicting:
            for message in await bus.pull(
                every_partition("logs", prefix=name),
                durable=PREDICT,
                batch=1,
                timeout_s=PULL_TIMEOUT_S,
            ):
                self.prediction.on_logs(decode(message.data))
                await message.ack()
                busy = True
        return busy

    def _analyse(self, owned: OwnedPartition, message: Incoming) -> None:
        records = decode(message.data)
        owned.catalog.assign(records)  # new templates are saved before their records
        self.inputs.add_logs(records)  # by id: a redelivered message stores nothing twice
        owned.analysis.on_logs(records)
        self.records_done += len(records)

    def _lease(self, what: str) -> str:
        return f"{self.settings.bus_name}:{what}"

    def _claim(self) -> None:
        """Keep this worker's fair share of the partitions: take free ones up to
        ceil(partitions / live workers), give back the surplus when more workers came."""
        self._claimed_at = time.monotonic()
        if not self.leases.alive():
            self.partitions.clear()
            self.predicting = False
            self.slot = None
        total = self.settings.bus_partitions
        self._take_slot()
        share = -(-total // max(1, self.leases.holders(self._slots())))
        for number in sorted(self.partitions, reverse=True)[: max(0, len(self.partitions) - share)]:
            self._give_back(number)
        for number in range(total):
            if len(self.partitions) >= share:
                break
            taken = number in self.partitions
            if not taken and self.leases.try_take(self._lease(f"logs-{number}")):
                self.partitions[number] = self._take(number)
                log.info("worker took partition %d", number)
        if not self.predicting and self.leases.try_take(self._lease(PREDICT)):
            self.predicting = True
            log.info("worker took the prediction role")

    def _slots(self) -> list[str]:
        return [self._lease(f"worker-{k}") for k in range(self.settings.bus_partitions)]

    def _take_slot(self) -> None:
        """Be counted among the live workers (a worker beyond the partitions' count idles)."""
        if self.slot is None:
            slots = self._slots()
            self.slot = next((k for k, name in enumerate(slots) if self.leases.try_take(name)), -1)

    def _give_back(self, number: int) -> None:
        """Hand a partition over: its templates and windows stored first, then its lease freed
        (its last message was acknowledged; the next owner restores the miner from the store)."""
        owned = self.partitions.pop(number)
        owned.analysis.on_tick(self.clock.now_ns())
        owned.catalog.flush()
        self.leases.release(self._lease(f"logs-{number}"))
        log.info("worker gave back partition %d", number)

    def _take(self, number: int) -> OwnedPartition:
        repository = SqlTemplateRepository(
            self.engine, clock=self.clock, scope=TemplateScope.partition(number)
        )
        catalog = TemplateCatalog.restore(
            repository, max_templates=self.settings.miner.max_templates
        )
        analysis = AnalysisStage(
            Analyzer(AnalyzerConfig(window_s=self.settings.window.seconds)),
            anomalies=SqlAnomalyRepository(self.engine),
            windows=SqlWindowRepository(self.engine),
            clocks=self.stream_clocks,
        )
        return OwnedPartition(number, catalog, analysis)

    def _tick(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if now - self._claimed_at >= CLAIM_INTERVAL_S and not force:
            self._claim()
        if not force and now - self._ticked_at < TICK_INTERVAL_S:
            return
        self._ticked_at = now
        stream_now = self.clock.now_ns()
        for owned in self.partitions.values():
            owned.analysis.on_tick(stream_now)
            owned.catalog.flush_if_due(stream_now)
        if self.predicting:
            self.prediction.on_tick(stream_now)
