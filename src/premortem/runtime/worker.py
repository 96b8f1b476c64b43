"""`premortem worker`: analysis in its own process, fed by NATS JetStream (scale-out).

The server publishes accepted log records to `premortem.logs.<partition>` (a service always
lands in the same partition; runtime/handoff.py). Any number of workers share the partitions:

- **Ownership.** A worker owns a partition while it holds that partition's lease (a PostgreSQL
  advisory lock, store/leases.py); it tries to take free leases every `CLAIM_INTERVAL_S`. A
  worker that dies loses its leases with its database connection, and another takes them.
- **Per partition, in order.** The owner pulls the partition's durable consumer (`logs-<p>`)
  in batches of up to `FETCH` messages, on a task of its own per partition. For each message it
  assigns templates (the partition's own miner, restored from the store when it takes the
  partition; its ids come from the partition's range), stores the records by id (a redelivered
  message stores nothing twice) and runs the windows and detectors.
- **Checkpoints.** A partition's analysis state (windows, detectors; detect/snapshot.py) is
  saved to the store with the stream position it covers at least every `CHECKPOINT_S` (or
  `CHECKPOINT_MESSAGES` messages), and only then are the messages it covers acknowledged. A
  worker taking a partition restores its checkpoint, and a redelivered message at or before the
  checkpoint's position is acknowledged without being analysed again: after a SIGKILL the
  partition's anomalies and windows are those one uninterrupted process finds. (Anomaly and
  prediction ids come from their content, so what the dead worker stored after its last
  checkpoint is found again, and stored once.)
  Messages a worker took and died without acknowledging are delivered again after
  `PREMORTEM_BUS_ACK_WAIT_S`: a worker taking over a partition that has such messages waits
  that long before its first pull, so the redelivered ones come first and the partition's
  records are still mined in the order they were published.
- **Prediction is one role.** The predictor reads indicators of every service, so one worker
  (the holder of the `predict` lease) runs it over every partition through one durable consumer
  (`premortem.logs.>`, stream order = publish order), with alerting: one notification per alert.
  It counts as one unit of work when the workers share the partitions. A worker taking the role
  over waits for the dead holder's messages the same way and restores the predictor's checkpoint
  (evidence, open predictions, its miner; for the same model version) with the alerts as they
  were at that checkpoint: the firing ones, and the notifications not delivered yet, which it
  delivers. Analysing the records after the checkpoint again tells the same things again under
  the same batch ids (the webhook's `Idempotency-Key`): a receiver that drops repeated keys,
  as docs/alerting.md asks, hears of each alert once; nothing told is lost with the holder.
  Only the holder runs alerting's ticker (expiry, re-sends): another worker's view is stale.

Workers need PostgreSQL: the leases are its advisory locks (on SQLite two workers could not
see each other).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from premortem.bus import PREDICT, Incoming, every_partition, stream_name, subject
from premortem.bus.jetstream import JetStreamBus
from premortem.bus.records import decode
from premortem.clock import Clock, StreamClocks, SystemClock
from premortem.config import Settings
from premortem.detect import snapshot
from premortem.detect.analyzer import Analyzer, AnalyzerConfig
from premortem.errors import ConfigError
from premortem.logs.catalog import TemplateCatalog
from premortem.runtime.analysis import AnalysisStage, PredictionStage
from premortem.runtime.assembly import build_prediction_side
from premortem.store.anomalies import SqlAnomalyRepository
from premortem.store.checkpoints import SqlCheckpoints
from premortem.store.engine import make_engine, migrate
from premortem.store.inputs import SqlInputStore
from premortem.store.leases import Leases
from premortem.store.modes import SqlModeRepository
from premortem.store.tables_windows import SqlWindowRepository
from premortem.store.templates import SqlTemplateRepository, TemplateScope

log = logging.getLogger(__name__)

CLAIM_INTERVAL_S = 2.0
TICK_INTERVAL_S = 1.0
PULL_TIMEOUT_S = 1.0  # a pull waits this long for a message (each partition pulls on its own)
FETCH = 8  # messages pulled at once per consumer: up to 8,000 records
# A consumer's messages are acknowledged after the checkpoint that covers them, at least this
# often (and at most a third of the ack wait), or after this many messages.
CHECKPOINT_S = 1.0
CHECKPOINT_MESSAGES = 32
MAX_ACK_PENDING = CHECKPOINT_MESSAGES + FETCH


@dataclass(slots=True)
class Progress:
    """A consumer's place: the stream position its checkpoint covers (`covered`), what was
    analysed since (`done`, in the order analysed; `position` is the newest), and the messages
    that wait for the next checkpoint to be acknowledged."""

    covered: int = 0
    done: set[int] = field(default_factory=set)
    unacknowledged: list[Incoming] = field(default_factory=list)
    saved_at: float = field(default_factory=time.monotonic)
    restored: int = -1  # the position its state was restored at (-1: none)

    @property
    def position(self) -> int:
        return max(self.done, default=self.covered)  # what is done is newer than `covered`

    def is_new(self, message: Incoming) -> bool:
        """Not in the checkpoint and not analysed since: a redelivery of a message this process
        analysed, or that the checkpoint covers, is acknowledged without being analysed again;
        one that the previous owner took and never checkpointed is analysed, whatever order
        JetStream redelivers in (it redelivers in the order the ack waits ran out)."""
        return message.position > self.covered and message.position not in self.done

    def analysed(self, message: Incoming) -> None:
        self.done.add(message.position)

    def saved(self) -> None:
        self.covered, self.done = self.position, set()
        self.unacknowledged.clear()
        self.saved_at = time.monotonic()

    @property
    def moved(self) -> bool:
        """Whether anything happened since the state was restored: a worker that took a
        partition and gives it back before analysing anything leaves its checkpoint alone."""
        return bool(self.unacknowledged) or self.position != self.restored


@dataclass(slots=True)
class OwnedPartition:
    number: int
    catalog: TemplateCatalog
    analysis: AnalysisStage
    progress: Progress
    task: asyncio.Task[None] | None = None
    leaving: bool = False  # given back: its task stops after the message it is on


class Worker:
    """One worker process's analysis; `run(stop)` until `stop` is set."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        if not settings.bus_url:
            raise ConfigError("a worker needs PREMORTEM_BUS_URL (e.g. nats://127.0.0.1:4222)")
        if not settings.database_url.startswith("postgresql"):
            raise ConfigError(
                "a worker needs PostgreSQL (PREMORTEM_DATABASE_URL=postgresql+psycopg://…): "
                "workers share the partitions through its locks"
            )
        self.settings = settings
        self.clock = clock or SystemClock()
        self.engine: Engine = make_engine(settings.database_url)
        migrate(self.engine)
        self.inputs = SqlInputStore(self.engine, clock=self.clock)
        self.leases = Leases(self.engine)
        self.anomalies = SqlAnomalyRepository(self.engine)  # stateless: one for every partition
        self.windows = SqlWindowRepository(self.engine)
        self.checkpoints = SqlCheckpoints(self.engine, clock=self.clock)
        self.checkpoint_s = min(CHECKPOINT_S, settings.bus_ack_wait_s / 3)
        self.partitions: dict[int, OwnedPartition] = {}
        # Stream time per source, twice: the partitions run ahead of the prediction role (their
        # own consumers), and the predictor must judge expiry on the records it has seen, not
        # on times the partitions reached already.
        self.stream_clocks = StreamClocks()
        self.prediction_clocks = StreamClocks()
        modes = SqlModeRepository(self.engine, clock=self.clock)
        side = build_prediction_side(
            settings, self.engine, self.clock, self.prediction_clocks, modes, self.inputs
        )
        side[4].follow_runs(self.inputs)
        self.alerting = side[1]
        self.prediction: PredictionStage = side[4]
        self.predicting: asyncio.Task[None] | None = None
        self.predict_progress = Progress()
        self.slot: int | None = None  # this worker's place among the live workers (a lease)
        self.records_done = 0
        # CPU seconds spent on the partitions' messages and on prediction: where a worker's time
        # goes (printed when it stops; bench/scaleout.py reads it).
        self.cpu_s = {"partitions": 0.0, "prediction": 0.0}
        self._bus: JetStreamBus | None = None

    async def run(self, stop: asyncio.Event, *, on_ready: Callable[[], None] | None = None) -> None:
        name = self.settings.bus_name
        self._bus = await JetStreamBus.connect(
            str(self.settings.bus_url),
            prefix=name,
            stream=stream_name(name),
            ack_wait_s=self.settings.bus_ack_wait_s,
            max_ack_pending=MAX_ACK_PENDING,
        )
        try:
            self._take_slot()
            # Workers started together see each other on the next claim: wait for it, so the
            # first one up does not take every partition only to give most of them back.
            await asyncio.sleep(CLAIM_INTERVAL_S)
            await self._claim()
            if on_ready is not None:
                on_ready()
            claimed_at = time.monotonic()
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), TICK_INTERVAL_S)
                self._tick()
                if time.monotonic() - claimed_at >= CLAIM_INTERVAL_S:
                    claimed_at = time.monotonic()
                    await self._claim()
        finally:
            for number in sorted(self.partitions):
                await self._give_back(number)
            if self.predicting is not None:
                self.predicting.cancel()
                await asyncio.gather(self.predicting, return_exceptions=True)
                with contextlib.suppress(Exception):  # as after a kill: redelivered, re-analysed
                    await self._save_prediction()
            await self._bus.close()
            self.alerting.stop()
            self.leases.release_all()
            self.engine.dispose()

    def _lease(self, what: str) -> str:
        return f"{self.settings.bus_name}:{what}"

    async def _claim(self) -> None:
        """Keep this worker's fair share of the work: the partitions plus the prediction role,
        ceil((partitions + 1) / live workers) units each (the predicting worker takes one
        partition fewer); take free leases up to it, give back the surplus when workers came."""
        if not self.leases.alive():  # the lock connection was lost: so was every lease
            for owned in self.partitions.values():
                owned.leaving = True
            self.partitions.clear()
            if self.predicting is not None:
                self.predicting.cancel()
                self.predicting = None
                # Not the holder any more: what it had not told is in its last checkpoint.
                await asyncio.to_thread(self.alerting.stop)
            self.slot = None
        total = self.settings.bus_partitions
        self._take_slot()
        if self.predicting is None and self.leases.try_take(self._lease(PREDICT)):
            self.predicting = asyncio.create_task(self._predict())
            log.info("worker took the prediction role")
        share = -(-(total + 1) // max(1, self.leases.holders(self._slots())))
        quota = max(0, share - (self.predicting is not None))
        for number in sorted(self.partitions, reverse=True)[: max(0, len(self.partitions) - quota)]:
            await self._give_back(number)
        for number in range(total):
            if len(self.partitions) >= quota:
                break
            taken = number in self.partitions
            if not taken and self.leases.try_take(self._lease(f"logs-{number}")):
                owned = self._take(number)
                self.partitions[number] = owned
                owned.task = asyncio.create_task(self._consume(owned))
                log.info("worker took partition %d", number)

    def _slots(self) -> list[str]:
        return [self._lease(f"worker-{k}") for k in range(self.settings.bus_partitions)]

    def _take_slot(self) -> None:
        """Be counted among the live workers (a worker beyond the partitions' count idles)."""
        if self.slot is None:
            slots = self._slots()
            self.slot = next((k for k, name in enumerate(slots) if self.leases.try_take(name)), -1)

    def _take(self, number: int) -> OwnedPartition:
        repository = SqlTemplateRepository(
            self.engine, clock=self.clock, scope=TemplateScope.partition(number)
        )
        catalog = TemplateCatalog.restore(
            repository, max_templates=self.settings.miner.max_templates
        )
        analyzer, progress = self._restore_analyzer(number)
        analysis = AnalysisStage(
            analyzer, anomalies=self.anomalies, windows=self.windows, clocks=self.stream_clocks
        )
        return OwnedPartition(number, catalog, analysis, progress)

    def _restore_analyzer(self, number: int) -> tuple[Analyzer, Progress]:
        """The partition's analyzer as its last checkpoint left it, or a new one (none yet, or
        saved with other analysis settings)."""
        config = AnalyzerConfig(window_s=self.settings.window.seconds)
        saved = self.checkpoints.load(self._lease(f"logs-{number}"))
        if saved is not None:
            try:
                analyzer = snapshot.loads(saved.state)
            except snapshot.SnapshotError as error:
                log.warning("partition %d: checkpoint not restored (%s)", number, error)
            else:
                if analyzer.config == config:
                    return analyzer, Progress(saved.position, restored=saved.position)
                log.info(
                    "partition %d: analysis settings changed, its analysis starts afresh", number
                )
        return Analyzer(config), Progress()

    async def _give_back(self, number: int) -> None:
        """Hand a partition over: its task stops after its message, its templates and windows
        are stored, then its lease is freed (the next owner restores the miner from the store)."""
        owned = self.partitions.pop(number)
        owned.leaving = True
        if owned.task is not None:
            await asyncio.gather(owned.task, return_exceptions=True)
        owned.analysis.on_tick(self.clock.now_ns())
        owned.catalog.flush()
        if owned.progress.moved:
            await self._save_partition(owned)
        self.leases.release(self._lease(f"logs-{number}"))
        log.info("worker gave back partition %d", number)

    async def _consume(self, owned: OwnedPartition) -> None:
        def analyse(message: Incoming) -> None:
            started = time.process_time()
            records = decode(message.data)
            owned.catalog.assign(records)  # new templates are saved before their records
            self.inputs.add_logs(records)  # by id: a redelivery stores nothing twice
            owned.analysis.on_logs(records)
            self.cpu_s["partitions"] += time.process_time() - started
            self.records_done += len(records)

        await self._follow(
            f"partition {owned.number}",
            subject("logs", owned.number, prefix=self.settings.bus_name),
            f"logs-{owned.number}",
            owned.progress,
            analyse,
            lambda: self._save_partition(owned),
            leaving=lambda: owned.leaving,
        )

    async def _follow(
        self,
        what: str,
        topic: str,
        durable: str,
        progress: Progress,
        analyse: Callable[[Incoming], None],
        save: Callable[[], Awaitable[None]],
        *,
        leaving: Callable[[], bool] = lambda: False,
    ) -> None:
        """Pull a durable consumer in stream order: a message not analysed yet is analysed,
        and every message waits for the checkpoint that covers it to be acknowledged."""
        batch = await self._take_over_first_batch(topic, durable)
        while not leaving():
            async with _surviving(what):
                for message in await self._pull(topic, durable, batch):
                    if leaving():
                        return  # not acknowledged: the next owner gets it again
                    if progress.is_new(message):
                        analyse(message)
                        progress.analysed(message)
                    progress.unacknowledged.append(message)
                batch = FETCH
                if self._checkpoint_due(progress) and not leaving():
                    await save()

    def _checkpoint_due(self, progress: Progress) -> bool:
        return bool(progress.unacknowledged) and (
            len(progress.unacknowledged) >= CHECKPOINT_MESSAGES
            or time.monotonic() - progress.saved_at >= self.checkpoint_s
        )

    async def _save_partition(self, owned: OwnedPartition) -> None:
        """Checkpoint the partition's analysis, then acknowledge what the checkpoint covers:
        everything up to the newest message analysed (the first pull after a takeover takes
        every redelivery at once, in stream order, so nothing older is still to come)."""
        state = snapshot.dumps(owned.analysis.analyzer)
        self.checkpoints.save(self._lease(f"logs-{owned.number}"), owned.progress.position, state)
        await _acknowledge(owned.progress)

    async def _save_prediction(self) -> None:
        state = self.prediction.snapshot()
        if state is not None:
            # The alerts with the predictor, in one checkpoint: the records after it, analysed
            # again by the next holder, meet the alerts as they were then (not as the store has
            # them now), and tell the same things under the same batch ids.
            packed = _pack_prediction(state, self.alerting.snapshot())
            self.checkpoints.save(self._lease(PREDICT), self.predict_progress.position, packed)
        await _acknowledge(self.predict_progress)

    async def _predict(self) -> None:
        saved = self.checkpoints.load(self._lease(PREDICT))
        prediction, alerting = _unpack_prediction(saved.state) if saved else (None, None)
        restored = self.prediction.resume(prediction)
        if restored and alerting is not None:
            self.alerting.restore(alerting)  # and delivers what the last holder had not
        else:
            self.alerting.reload_firing()
        # Only the role's holder looks after alerts (resolves, re-sends, tells what a mute held
        # back): another worker's view of them is stale.
        self.alerting.start()
        self.predict_progress = Progress(saved.position if saved and restored else 0)
        log.info("prediction role: %s", "checkpoint restored" if restored else "starts afresh")

        def analyse(message: Incoming) -> None:
            started = time.process_time()
            self.prediction.on_logs(decode(message.data))
            self.cpu_s["prediction"] += time.process_time() - started

        await self._follow(
            "prediction",
            every_partition("logs", prefix=self.settings.bus_name),
            PREDICT,
            self.predict_progress,
            analyse,
            self._save_prediction,
        )

    async def _take_over_first_batch(self, topic: str, durable: str) -> int:
        """A consumer with messages out that nobody acknowledged (their worker died): made again
        from the oldest of them (`JetStreamBus.take_over`), so they come again at once, before
        anything newer. The size of the first pull: all of them at once (`_pull` keeps stream
        order)."""
        assert self._bus is not None
        if await self._bus.take_over(topic, durable):
            return MAX_ACK_PENDING
        return FETCH

    async def _pull(self, topic: str, durable: str, batch: int) -> list[Incoming]:
        assert self._bus is not None
        pulled = await self._bus.pull(topic, durable=durable, batch=batch, timeout_s=PULL_TIMEOUT_S)
        return sorted(pulled, key=lambda message: message.position)

    def _tick(self) -> None:
        now = self.clock.now_ns()
        for owned in self.partitions.values():
            owned.analysis.on_tick(now)
            owned.catalog.flush_if_due(now)
        if self.predicting is not None:
            self.prediction.on_tick(now)


_PREDICTION_CHECKPOINT = b"premortem-prediction/2\n"


def _pack_prediction(prediction: bytes, alerting: bytes) -> bytes:
    return _PREDICTION_CHECKPOINT + struct.pack(">Q", len(prediction)) + prediction + alerting


def _unpack_prediction(blob: bytes) -> tuple[bytes, bytes | None]:
    """(predictor state, alerting state); a checkpoint from before alerts were in it has none."""
    if not blob.startswith(_PREDICTION_CHECKPOINT):
        return blob, None
    body = blob[len(_PREDICTION_CHECKPOINT) :]
    (length,) = struct.unpack(">Q", body[:8])
    return body[8 : 8 + length], body[8 + length :]


async def _acknowledge(progress: Progress) -> None:
    for message in progress.unacknowledged:
        await message.ack()
    progress.saved()


@contextlib.asynccontextmanager
async def _surviving(what: str) -> AsyncIterator[None]:
    """A failing message (the store unreachable, say) is logged and left unacknowledged: it comes
    again after the ack wait, and the partition goes on instead of stopping for good."""
    try:
        yield
    except Exception:
        log.exception("worker: %s failed; its message comes again", what)
        await asyncio.sleep(1.0)
