"""Syslog over TCP and UDP, ingested like `POST /api/v1/logs` (`premortem serve --syslog-tcp`).

    socket ─ FrameDecoder ─> frames ─ bounded queue ─> batch (512 frames or 200 ms)
        ─ thread: syslog.parse_line per frame ─> pipeline.ingest_logs (stored, then analysed)

A TCP stream carries RFC 6587 frames, octet-counted (`LEN SP MSG`) or LF-terminated, told apart
frame by frame; a UDP datagram is one message. Frames longer than `max_message_bytes` are cut
there. A frame that is not syslog is counted (`premortem_rejected_records_total{kind="syslog"}`)
and logged at most every few seconds; nothing a peer sends stops a listener. While the store is
slow, TCP readers wait on the queue (the sender's own queue holds the rest) and UDP datagrams
that find it full are dropped and counted.

Message content is hostile: it is only ever a logging *argument*, as a cut-short repr.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from premortem.clock import Clock
from premortem.config import SyslogSettings
from premortem.domain import LogRecord
from premortem.errors import Busy, ConfigError
from premortem.ingest import syslog
from premortem.ingest.fields import check_log_lengths
from premortem.ingest.identity import identify_untimed
from premortem.service.metrics import ServiceMetrics

log = logging.getLogger(__name__)

KIND = "syslog"  # the `kind` label of the ingest metrics
_READ_SIZE = 64 * 1024
_SEPARATORS = b"\r\n\x00"
_OCTET_COUNT = re.compile(rb"([1-9][0-9]{0,8}) <")  # LEN SP and the '<' of PRI
_MAYBE_COUNT = re.compile(rb"[0-9]{1,9} ?")  # all that has arrived could still become one


class LogIngest(Protocol):
    """What the listener needs of the pipeline: its clock and the store-first ingest path."""

    @property
    def clock(self) -> Clock: ...

    def ingest_logs(self, records: Sequence[LogRecord]) -> int: ...


class FrameDecoder:
    """Cuts a TCP byte stream into syslog frames (RFC 6587), whatever the read boundaries.

    A frame starting with `LEN SP <` is octet-counted; anything else runs to the next LF. Line
    ends (CR, LF, NUL) at a frame's end are dropped. Frames over `max_frame` bytes are cut to it
    and the rest discarded.

    >>> decoder = FrameDecoder()
    >>> decoder.feed(b"11 <13>1 - - -<14>hi\\n<15")
    [b'<13>1 - - -', b'<14>hi']
    >>> decoder.feed(b">there\\n"), decoder.close()
    ([b'<15>there'], ([], False))
    """

    def __init__(self, max_frame: int = 64 * 1024) -> None:
        self.max_frame = max_frame
        self.truncated = 0
        self._buffer = bytearray()
        self._skip = 0  # bytes of a cut octet-counted frame still to discard
        self._skip_line = False  # the rest of a cut line is discarded up to its LF

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames: list[bytes] = []
        while (frame := self._next()) is not None:
            if frame:
                frames.append(frame)
        return frames

    def close(self) -> tuple[list[bytes], bool]:
        """At the end of the stream: a last line sent without its LF, and whether an
        octet-counted frame was left incomplete (the peer went away in the middle of it)."""
        rest = bytes(self._buffer).lstrip(_SEPARATORS)
        self._buffer.clear()
        if not rest or self._skip or self._skip_line:
            return [], False
        if _OCTET_COUNT.match(rest) or _MAYBE_COUNT.fullmatch(rest):
            return [], True
        return [rest.rstrip(b"\r")], False

    def _next(self) -> bytes | None:
        """The next frame; b"" when only discarded bytes were consumed; None: more is needed."""
        buffer = self._buffer
        if self._skip:
            taken = min(self._skip, len(buffer))
            del buffer[:taken]
            self._skip -= taken
            return b"" if taken and not self._skip else None
        if self._skip_line:
            end = buffer.find(b"\n")
            self._skip_line = end < 0
            del buffer[: len(buffer) if end < 0 else end + 1]
            return None if end < 0 else b""
        start = 0
        while start < len(buffer) and buffer[start] in _SEPARATORS:
            start += 1
        del buffer[:start]
        if not buffer:
            return None
        if (count := _OCTET_COUNT.match(buffer)) is not None:
            return self._counted(count.end() - 1, int(count.group(1)))
        if _MAYBE_COUNT.fullmatch(buffer):
            return None
        return self._line()

    def _counted(self, start: int, length: int) -> bytes | None:
        kept = min(length, self.max_frame)
        if len(self._buffer) < start + kept:
            return None
        # rsyslog's RSYSLOG_SyslogProtocol23Format ends the message in LF inside the count
        frame = bytes(self._buffer[start : start + kept]).rstrip(_SEPARATORS)
        del self._buffer[: start + kept]
        if kept < length:
            self.truncated += 1
            self._skip = length - kept
        return frame

    def _line(self) -> bytes | None:
        end = self._buffer.find(b"\n", 0, self.max_frame + 1)
        if end >= 0:
            frame = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[: end + 1]
            return frame
        if len(self._buffer) <= self.max_frame:
            return None
        frame = bytes(self._buffer[: self.max_frame])
        del self._buffer[: self.max_frame]
        self.truncated += 1
        self._skip_line = True
        return frame


class RateLimitedLog:
    """At most one warning of a kind per `interval_s`; the next one says how many were held."""

    def __init__(
        self, interval_s: float = 10.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._next: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def warn(self, kind: str, message: str, *args: object) -> bool:
        """Log `message % args` unless a `kind` warning was logged lately; True if logged."""
        with self._lock:
            now = self._clock()
            if now < self._next.get(kind, float("-inf")):
                self._held[kind] = self._held.get(kind, 0) + 1
                return False
            self._next[kind] = now + self.interval_s
            held = self._held.pop(kind, 0)
        if held:
            message, args = message + " (and %d more like it since)", (*args, held)
        log.warning(message, *args)
        return True


@dataclass(slots=True)
class ListenerStats:
    frames: int = 0  # received (cut ones included)
    stored: int = 0  # new records stored (a record already stored is not counted again)
    malformed: int = 0  # frames that are not syslog
    truncated: int = 0  # frames cut to max_message_bytes
    incomplete: int = 0  # octet-counted frames a TCP peer left unfinished
    dropped: int = 0  # UDP datagrams that found the queue full, records the store refused


_Frame = tuple[bytes, int, str]  # (message, received at, peer)


class SyslogListener:
    """The TCP and UDP servers and the batching writer; `start()` binds, `stop()` drains."""

    def __init__(
        self,
        pipeline: LogIngest,
        settings: SyslogSettings,
        *,
        metrics: ServiceMetrics | None = None,
        batch_size: int = 512,
        batch_wait_s: float = 0.2,
        store_attempts: int = 5,
        max_connections: int = 256,
    ) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.metrics = metrics
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.store_attempts = store_attempts
        self.max_connections = max_connections
        self.stats = ListenerStats()
        self.complaints = RateLimitedLog()
        self.tcp_address: tuple[str, int] | None = None
        self.udp_address: tuple[str, int] | None = None
        self._queue: asyncio.Queue[_Frame | None] = asyncio.Queue(maxsize=4 * batch_size)
        self._tcp: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self._writer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._writer = asyncio.create_task(self._write_batches())
        host = self.settings.host
        try:
            if self.settings.tcp_port is not None:
                self._tcp = await asyncio.start_server(
                    self._serve_tcp, host, self.settings.tcp_port, limit=_READ_SIZE
                )
                self.tcp_address = self._tcp.sockets[0].getsockname()[:2]
            if self.settings.udp_port is not None:
                loop = asyncio.get_running_loop()
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(self), local_addr=(host, self.settings.udp_port)
                )
                self._udp = transport
                self.udp_address = transport.get_extra_info("sockname")[:2]
        except OSError as exc:
            await self.stop()
            raise ConfigError(f"cannot listen for syslog on {host}: {exc}") from exc

    async def stop(self) -> None:
        """Stop listening, let open connections finish their reads, store what was received."""
        if self._tcp is not None:
            self._tcp.close()
        if self._udp is not None:
            self._udp.close()
        for writer in list(self._connections.values()):
            writer.close()
        if self._connections:
            _, late = await asyncio.wait(list(self._connections), timeout=5)
            for task in late:
                task.cancel()
        if self._writer is not None:
            if not self._writer.done():
                await self._queue.put(None)
            await self._writer
            self._writer = None

    # ------------------------------------------------------------------ receiving

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer.get_extra_info("peername"))
        if len(self._connections) >= self.max_connections:
            self.complaints.warn("connections", "syslog: refused %s, too many connections", peer)
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        decoder = FrameDecoder(self.settings.max_message_bytes)
        try:
            while data := await reader.read(_READ_SIZE):
                for frame in decoder.feed(data):
                    await self._receive(frame, peer)
                self._count_cut(decoder, peer)
            frames, incomplete = decoder.close()
            for frame in frames:
                await self._receive(frame, peer)
            if incomplete:
                self.stats.incomplete += 1
                self.complaints.warn("incomplete", "syslog: %s left a frame unfinished", peer)
        except OSError:
            pass  # a reset connection ends like a closed one
        finally:
            del self._connections[task]
            writer.close()

    def _count_cut(self, decoder: FrameDecoder, peer: str) -> None:
        if decoder.truncated:
            self.stats.truncated += decoder.truncated
            decoder.truncated = 0
            limit = self.settings.max_message_bytes
            self.complaints.warn("cut", "syslog: a frame from %s was cut at %d bytes", peer, limit)

    async def _receive(self, frame: bytes, peer: str) -> None:
        self.stats.frames += 1
        await self._queue.put((frame, self.pipeline.clock.now_ns(), peer))

    def receive_datagram(self, data: bytes, peer: str) -> None:
        """One UDP message: stripped of a trailing LF, cut to size, queued unless it is full."""
        self.stats.frames += 1
        frame = data.rstrip(_SEPARATORS)
        if len(frame) > self.settings.max_message_bytes:
            frame = frame[: self.settings.max_message_bytes]
            self.stats.truncated += 1
        if not frame:
            return
        try:
            self._queue.put_nowait((frame, self.pipeline.clock.now_ns(), peer))
        except asyncio.QueueFull:
            self.stats.dropped += 1
            self.complaints.warn("full", "syslog: queue full, dropped a datagram from %s", peer)

    # ------------------------------------------------------------------ storing

    async def _write_batches(self) -> None:
        loop = asyncio.get_running_loop()
        running = True
        while running:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = loop.time() + self.batch_wait_s
            while len(batch) < self.batch_size:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    try:
                        item = await asyncio.wait_for(self._queue.get(), deadline - loop.time())
                    except TimeoutError:
                        break
                if item is None:
                    running = False
                    break
                batch.append(item)
            try:
                await self._store(batch)
            except Exception:  # a bug must not leave TCP readers waiting on a full queue
                log.exception("syslog: a batch of %d frames was lost", len(batch))

    async def _store(self, batch: list[_Frame]) -> None:
        records = await asyncio.to_thread(self._parse, batch)
        if not records:
            return
        attempt = 0
        while attempt < self.store_attempts:
            try:
                stored = await asyncio.to_thread(self.pipeline.ingest_logs, records)
            except Busy as busy:  # analysis is behind: hold the frames (TCP senders wait)
                self.complaints.warn("busy", "syslog: %s", busy)
                await asyncio.sleep(busy.retry_after_s)
                continue
            except Exception as exc:  # the database is down or refused: retry, then give up
                attempt += 1
                if attempt == self.store_attempts:
                    self.stats.dropped += len(records)
                    log.error("syslog: %d records lost, the store failed: %r", len(records), exc)
                    return
                self.complaints.warn("store", "syslog: storing failed, retrying: %r", exc)
                await asyncio.sleep(0.2 * 2 ** (attempt - 1))
            else:
                self.stats.stored += stored
                if self.metrics is not None:
                    self.metrics.ingested.labels(KIND).inc(stored)
                return

    def _parse(self, batch: list[_Frame]) -> list[LogRecord]:
        """The batch's records; a frame that is not syslog is counted and skipped."""
        records: list[LogRecord] = []
        received: set[int] = set()
        for frame, now_ns, peer in batch:
            try:
                record = syslog.parse_line(frame.decode("utf-8", errors="replace"), now_ns=now_ns)
                check_log_lengths(record, {"service": "/app-name"})
            except Exception as exc:  # IngestError, or a parser bug hostile input found
                self._reject(peer, exc)
                continue
            received.add(now_ns)
            records.append(record)
        # One message sent as several lines becomes one record (syslog.assemble); then, as in
        # syslog.parse_lines, the id of a line without a time must not depend on when it came.
        records = syslog.assemble(records)
        identify_untimed(records, [i for i, r in enumerate(records) if r.time_ns in received])
        return records

    def _reject(self, peer: str, exc: Exception) -> None:
        self.stats.malformed += 1
        if self.metrics is not None:
            self.metrics.rejected.labels(KIND).inc()
        # repr: the reason quotes the frame, whose newlines must not forge log lines
        self.complaints.warn(
            "malformed", "syslog: malformed frame from %s: %r", peer, str(exc)[:200]
        )


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, listener: SyslogListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.listener.receive_datagram(data, _peer(addr))

    def error_received(self, exc: Exception) -> None:
        log.debug("syslog UDP socket error: %r", exc)


def _peer(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


@asynccontextmanager
async def serve_syslog(
    pipeline: LogIngest, settings: SyslogSettings, *, metrics: ServiceMetrics | None = None
) -> AsyncIterator[SyslogListener | None]:
    """The listeners `settings` ask for, for as long as the block runs (none: yields None)."""
    if settings.tcp_port is None and settings.udp_port is None:
        yield None
        return
    listener = SyslogListener(pipeline, settings, metrics=metrics)
    await listener.start()
    try:
        yield listener
    finally:
        try:
            await listener.stop()
        except Exception:  # the server's own shutdown must go on
            log.exception("syslog: the listeners did not stop cleanly")
