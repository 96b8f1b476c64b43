"""The syslog listener: RFC 6587 framing (sans I/O), then TCP and UDP on loopback into a fake
pipeline (batching, malformed and cut frames, peers that leave mid-frame, a failing store)."""

from __future__ import annotations

import asyncio
import doctest
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from premortem.clock import ManualClock
from premortem.config import Settings, SyslogSettings
from premortem.domain import LogRecord
from premortem.errors import ConfigError, IngestError
from premortem.ingest import syslog
from premortem.service import syslog_listener
from premortem.service.metrics import ServiceMetrics
from premortem.service.syslog_listener import FrameDecoder, RateLimitedLog, SyslogListener

NOW = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z
RFC5424 = b"<12>1 2024-05-01T12:00:01.5Z web-1 checkout 42 - - pool exhausted"
RFC3164 = b"<11>May  1 12:00:02 web-2 api[7]: upstream timed out"
T = TypeVar("T")


def run_alone(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on a thread of its own: the browser tests' sync Playwright leaves an event
    loop running on the main thread, where asyncio.run refuses to start another."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def octets(message: bytes) -> bytes:
    return b"%d %s" % (len(message), message)


def feed_all(decoder: FrameDecoder, chunks: Sequence[bytes]) -> list[bytes]:
    return [frame for chunk in chunks for frame in decoder.feed(chunk)]


def test_doctests() -> None:
    assert doctest.testmod(syslog_listener).failed == 0


# --------------------------------------------------------------------------- framing


def test_octet_counted_frames_may_hold_newlines() -> None:
    multiline = b"<13>1 - - app - - - Traceback:\n  File x\nValueError: y"
    stream = octets(RFC5424) + octets(multiline) + octets(RFC3164 + b"\n")  # rsyslog's LF
    assert FrameDecoder().feed(stream) == [RFC5424, multiline, RFC3164]


def test_lf_framing_drops_cr_and_blank_lines() -> None:
    stream = RFC5424 + b"\r\n\r\n" + RFC3164 + b"\n\x00"
    assert FrameDecoder().feed(stream) == [RFC5424, RFC3164]


def test_framing_is_detected_per_frame() -> None:
    stream = octets(RFC5424) + RFC3164 + b"\n" + octets(RFC3164) + b"\n" + RFC5424 + b"\n"
    assert FrameDecoder().feed(stream) == [RFC5424, RFC3164, RFC3164, RFC5424]


def test_digits_not_followed_by_a_pri_are_a_line() -> None:
    # "12 x" is no octet count (no '<' after it): the line is one (malformed) frame, and the
    # stream stays in step
    assert FrameDecoder().feed(b"12 x y\n" + RFC3164 + b"\n") == [b"12 x y", RFC3164]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_any_read_boundaries_give_the_same_frames(size: int) -> None:
    stream = octets(RFC5424) + RFC3164 + b"\r\n" + octets(RFC3164) + RFC5424 + b"\n"
    chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
    assert feed_all(FrameDecoder(), chunks) == [RFC5424, RFC3164, RFC3164, RFC5424]


def test_an_oversize_octet_counted_frame_is_cut_and_the_stream_stays_in_step() -> None:
    big = b"<14>1 - - app - - - " + b"x" * 1000
    decoder = FrameDecoder(max_frame=100)
    chunks = [octets(big)[:50], octets(big)[50:600], octets(big)[600:] + octets(RFC3164)]
    assert feed_all(decoder, chunks) == [big[:100], RFC3164]
    assert decoder.truncated == 1


def test_an_oversize_line_is_cut_and_its_rest_discarded() -> None:
    big = b"<14>" + b"y" * 500
    decoder = FrameDecoder(max_frame=100)
    chunks = [big[:300], big[300:] + b"\n" + RFC3164[:10], RFC3164[10:] + b"\n"]
    assert feed_all(decoder, chunks) == [big[:100], RFC3164]
    assert decoder.truncated == 1


def test_the_buffer_stays_bounded_whatever_a_peer_sends() -> None:
    decoder = FrameDecoder(max_frame=1000)
    for _ in range(100):
        decoder.feed(b"z" * 999)  # one endless line
    assert len(decoder._buffer) <= 2000
    decoder = FrameDecoder(max_frame=1000)
    decoder.feed(b"999999999 <")  # a huge announced length
    for _ in range(100):
        decoder.feed(b"z" * 999)
    assert len(decoder._buffer) <= 2000


def test_at_the_end_of_the_stream() -> None:
    decoder = FrameDecoder()
    decoder.feed(RFC5424 + b"\n" + RFC3164)  # the last line without its LF
    assert decoder.close() == ([RFC3164], False)
    decoder = FrameDecoder()
    assert decoder.feed(RFC5424 + b"\n" + octets(RFC3164)[:20]) == [RFC5424]
    assert decoder.close() == ([], True)  # the peer left in the middle of a counted frame
    decoder = FrameDecoder()
    decoder.feed(b"4")
    assert decoder.close() == ([], True)


def test_rsyslog_forward_format_is_read() -> None:
    # RSYSLOG_ForwardFormat: a BSD header with an RFC 3339 time (the parser's fix for the listener)
    line = "<12>2024-05-01T12:00:01.250+02:00 web-1 app[9]: slow query"
    record = syslog.parse_line(line, now_ns=NOW)
    assert (record.service, record.body, record.resource) == (
        "app",
        "slow query",
        {"host.name": "web-1"},
    )
    assert record.time_ns == NOW + 1_250_000_000 - 2 * 3600 * 1_000_000_000
    with pytest.raises(IngestError, match="invalid TIMESTAMP"):
        syslog.parse_line("<12>2024-13-01T12:00:00Z web-1 app: x", now_ns=NOW)


def test_rate_limited_log_holds_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    complaints = RateLimitedLog(10, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger=syslog_listener.__name__):
        assert complaints.warn("bad", "bad %s", "%s %d{}")  # hostile text as an argument
        assert not complaints.warn("bad", "bad %s", "b")
        assert not complaints.warn("bad", "bad %s", "c")
        assert complaints.warn("other", "other")
        now[0] = 11
        assert complaints.warn("bad", "bad %s", "d")
    assert [r.getMessage() for r in caplog.records] == [
        "bad %s %d{}",
        "other",
        "bad d (and 2 more like it since)",
    ]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREMORTEM_SYSLOG__TCP_PORT", "5514")
    monkeypatch.setenv("PREMORTEM_SYSLOG__UDP_PORT", "5515")
    settings = Settings().syslog
    assert (settings.host, settings.tcp_port, settings.udp_port) == ("127.0.0.1", 5514, 5515)
    assert SyslogSettings().tcp_port is None  # off by default


# --------------------------------------------------------------------------- listening


class FakePipeline:
    """The two things the listener uses: a clock and the store-first ingest."""

    def __init__(self, *, failures: int = 0) -> None:
        self.clock = ManualClock(NOW)
        self.batches: list[list[LogRecord]] = []
        self.failures = failures

    def ingest_logs(self, records: Sequence[LogRecord]) -> int:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database is down")
        self.batches.append(list(records))
        return len({r.id for r in records})

    @property
    def records(self) -> list[LogRecord]:
        return [r for batch in self.batches for r in batch]


def run_listener(
    pipeline: FakePipeline,
    body: Callable[[SyslogListener], Awaitable[None]],
    **options: Any,
) -> SyslogListener:
    settings = SyslogSettings(tcp_port=0, udp_port=0, max_message_bytes=options.pop("max", 4096))

    async def main() -> SyslogListener:
        listener = SyslogListener(pipeline, settings, metrics=ServiceMetrics(), **options)
        await listener.start()
        try:
            await body(listener)
        finally:
            await listener.stop()
        return listener

    return run_alone(main())


async def until(check: Callable[[], bool], timeout_s: float = 5) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def send_tcp(listener: SyslogListener, *chunks: bytes) -> None:
    assert listener.tcp_address is not None
    _, writer = await asyncio.open_connection(*listener.tcp_address)
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
        await asyncio.sleep(0.01)  # separate reads
    writer.close()
    await writer.wait_closed()


def test_tcp_records_arrive_whole_and_a_peer_may_leave_mid_frame() -> None:
    pipeline = FakePipeline()

    async def body(listener: SyslogListener) -> None:
        stream = octets(RFC5424) + b"not syslog\n" + RFC3164 + b"\n" + octets(RFC3164)
        await send_tcp(listener, stream[:5], stream[5:40], stream[40:-3])  # the last cut short
        await send_tcp(listener, b"<13>1 - - late - - - still listening\n")
        await until(lambda: len(pipeline.records) == 3)

    listener = run_listener(pipeline, body)
    [a, b, c] = pipeline.records
    assert (a.service, a.body, a.severity_number) == ("checkout", "pool exhausted", 13)
    assert a.resource == {"host.name": "web-1"}
    assert a.time_ns == NOW + 1_500_000_000
    assert (b.service, b.body, b.severity_number) == ("api", "upstream timed out", 17)
    assert b.time_ns == NOW + 2_000_000_000 and b.attributes["syslog.procid"] == "7"
    assert (c.service, c.body, c.time_ns) == ("late", "still listening", NOW)
    stats = listener.stats
    assert (stats.frames, stats.malformed, stats.incomplete, stats.stored) == (4, 1, 1, 3)
    metrics = listener.metrics
    assert metrics is not None
    assert metrics.rejected.labels("syslog")._value.get() == 1
    assert metrics.ingested.labels("syslog")._value.get() == 3


def test_records_are_batched() -> None:
    pipeline = FakePipeline()
    lines = [b"<14>1 - - app - - - line %d" % i for i in range(1200)]

    async def body(listener: SyslogListener) -> None:
        await send_tcp(listener, b"".join(octets(line) for line in lines))
        await until(lambda: len(pipeline.records) == 1200)

    run_listener(pipeline, body, batch_size=512, batch_wait_s=1.0)
    assert [r.body for r in pipeline.records] == [f"line {i}" for i in range(1200)]
    assert max(len(batch) for batch in pipeline.batches) == 512
    assert len(pipeline.batches) <= 6


def test_a_lone_record_is_stored_after_the_batch_wait_without_more_traffic() -> None:
    pipeline = FakePipeline()

    async def body(listener: SyslogListener) -> None:
        await send_tcp(listener, RFC5424 + b"\n")
        await until(lambda: len(pipeline.records) == 1, timeout_s=2)

    run_listener(pipeline, body, batch_wait_s=0.05)


def test_identical_untimed_lines_stay_two_records() -> None:
    pipeline = FakePipeline()
    line = b"<14>1 - - app - - - ok\n"

    async def body(listener: SyslogListener) -> None:
        await send_tcp(listener, line + line)
        await until(lambda: len(pipeline.records) == 2)

    run_listener(pipeline, body)
    assert len({r.id for r in pipeline.records}) == 2


def test_udp_one_message_per_datagram_and_oversize_cut() -> None:
    pipeline = FakePipeline()
    long = b"<14>1 - - app - - - " + b"w" * 5000

    async def body(listener: SyslogListener) -> None:
        assert listener.udp_address is not None
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=listener.udp_address
        )
        for datagram in (RFC5424 + b"\n", b"junk", RFC3164, long, b"<13>1 - - a - - - x\ny"):
            transport.sendto(datagram)
        transport.close()
        await until(lambda: len(pipeline.records) == 4)

    listener = run_listener(pipeline, body, max=1000)
    a, b, c, d = pipeline.records
    assert (a.body, b.body, c.body) == ("pool exhausted", "upstream timed out", "w" * 980)
    assert d.body == "x\ny"  # a datagram is one message, newlines and all
    assert (listener.stats.malformed, listener.stats.truncated) == (1, 1)


def test_a_failing_store_is_retried_then_given_up_without_stopping_the_listener() -> None:
    pipeline = FakePipeline(failures=3)

    async def body(listener: SyslogListener) -> None:
        await send_tcp(listener, RFC5424 + b"\n")  # fails twice: lost
        await until(lambda: listener.stats.dropped == 1)
        await send_tcp(listener, RFC3164 + b"\n")  # fails once, then stored
        await until(lambda: len(pipeline.records) == 1)

    listener = run_listener(pipeline, body, store_attempts=2, batch_wait_s=0.01)
    assert [r.service for r in pipeline.records] == ["api"]
    assert listener.stats.stored == 1


def test_what_was_received_is_stored_on_stop() -> None:
    pipeline = FakePipeline()

    async def body(listener: SyslogListener) -> None:
        await send_tcp(listener, RFC5424 + b"\n" + RFC3164 + b"\n")
        await until(lambda: listener.stats.frames == 2)

    run_listener(pipeline, body, batch_wait_s=30)  # only stop() can flush it
    assert len(pipeline.records) == 2


def test_a_taken_port_is_a_config_error() -> None:
    async def main() -> None:
        first = SyslogListener(FakePipeline(), SyslogSettings(tcp_port=0))
        await first.start()
        assert first.tcp_address is not None
        taken = SyslogSettings(tcp_port=first.tcp_address[1])
        try:
            with pytest.raises(ConfigError, match="cannot listen for syslog"):
                await SyslogListener(FakePipeline(), taken).start()
        finally:
            await first.stop()

    run_alone(main())


def test_a_postgresql_message_sent_as_several_lines_is_stored_as_one_record() -> None:
    pipeline = FakePipeline()
    frames = [
        b"<132>1 2024-05-01T10:00:01.001Z db postgres 812 - - [7-1] ERROR:  deadlock detected",
        b"<134>1 2024-05-01T10:00:01.002Z db postgres 900 - - [3-1] LOG:  checkpoint starting",
        b"<132>1 2024-05-01T10:00:01.001Z db postgres 812 - - [7-2] DETAIL:  Process 812 waits",
        b"<132>1 - db postgres 812 - - [9-1] ERROR:  could not serialize access",
        b"<132>1 - db postgres 812 - - [9-2] HINT:  The transaction might succeed if retried.",
    ]

    async def body(listener: SyslogListener) -> None:
        await send_tcp(listener, b"".join(frame + b"\n" for frame in frames))
        await until(lambda: len(pipeline.records) == 3)

    run_listener(pipeline, body)
    deadlock, checkpoint, serialize = pipeline.records
    assert deadlock.body == "ERROR:  deadlock detected\nDETAIL:  Process 812 waits"
    assert deadlock.severity_number == 17 and checkpoint.severity_text == "INFO"
    assert serialize.body.endswith("\nHINT:  The transaction might succeed if retried.")
    assert serialize.time_ns == NOW and len({r.id for r in pipeline.records}) == 3
