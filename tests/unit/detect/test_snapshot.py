"""An analyzer restored from its snapshot goes on exactly as the one that was never stopped
(scale-out checkpoints), and a snapshot naming anything but an analyzer's types is refused."""

from __future__ import annotations

import pickle
import subprocess
import zlib

import pytest

from premortem.detect import snapshot
from premortem.detect.analyzer import Analyzer, AnalyzerConfig
from premortem.domain import LogRecord

SECOND = 10**9


def _records(start: int, count: int) -> list[LogRecord]:
    """Steady lines of three services with sessions, then a new error and a burst."""
    out = []
    for n in range(start, start + count):
        service = f"svc-{n % 3}"
        template = 100 + n % 4
        if n % 997 == 0:
            template = 900 + n % 5  # new, then rare
        out.append(
            LogRecord(
                time_ns=n * SECOND // 20,
                body=f"line {n}",
                service=service,
                template_id=template,
                attributes={"session_id": f"s{n % 40}"},
            )
        )
    return out


def _config() -> AnalyzerConfig:
    return AnalyzerConfig(warmup_records=50, warmup_s=5, sequence_warmup=50, rate_warmup=3)


def test_a_restored_analyzer_finds_what_the_uninterrupted_one_finds() -> None:
    first, rest = _records(0, 6000), _records(6000, 6000)
    burst_at = rest[3000].time_ns
    burst = [
        LogRecord(time_ns=burst_at + k, body="retry", service="svc-0", template_id=101)
        for k in range(400)
    ]
    rest = sorted(rest + burst, key=lambda r: r.time_ns)
    kept = Analyzer(_config())
    kept.observe(first)
    kept.tick(first[-1].time_ns)
    restored = snapshot.loads(snapshot.dumps(kept))

    expected = kept.observe(rest) + kept.tick(10**15)
    found = restored.observe(rest) + restored.tick(10**15)
    assert expected, "the data must make the detectors speak"
    assert {a.detector for a in expected} >= {"new_template", "rate_burst"}
    assert found == expected
    assert restored.closed_windows() == kept.closed_windows()
    assert restored.config == kept.config == _config()  # a worker checks it before restoring


def test_a_snapshot_naming_other_code_is_refused() -> None:
    hostile = snapshot.VERSION + zlib.compress(pickle.dumps(subprocess.Popen))
    with pytest.raises(snapshot.SnapshotError, match=r"cannot hold subprocess\.Popen"):
        snapshot.loads(hostile)
    with pytest.raises(snapshot.SnapshotError, match="not an analyzer snapshot"):
        snapshot.loads(b"anything")
    with pytest.raises(snapshot.SnapshotError, match="unreadable"):
        snapshot.loads(snapshot.VERSION + b"\x00truncated")
