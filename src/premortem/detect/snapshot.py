"""An analyzer's whole state as bytes and back: the analysis checkpoint of a scale-out worker.

The analyzer is a tree of plain objects (windows, per-source samples, detector counts), so it is
pickled. Unpickling runs constructors named in the data, so `loads` accepts only the classes an
analyzer is made of (premortem's own analysis types, `OrderedDict`, `deque`, compiled patterns)
and refuses anything else: a checkpoint row altered in the store cannot run code. Checkpoints
are written and read by the same premortem version; `VERSION` changes when their shape does.
"""

from __future__ import annotations

import io
import pickle
import zlib
from typing import Any

from premortem.detect.analyzer import Analyzer

VERSION = b"premortem-analyzer-1\n"

_ALLOWED = {
    ("collections", "OrderedDict"),
    ("collections", "deque"),
    ("re", "_compile"),
    ("premortem.clock", "SystemClock"),
    ("premortem.counts", "window_from_json"),
    ("premortem.domain", "LogRecord"),
    ("premortem.logs.windows", "WindowCounter"),
    ("premortem.logs.windows", "_Open"),
    ("premortem.logs.windows", "_Source"),
    ("premortem.detect.analyzer", "Analyzer"),
    ("premortem.detect.analyzer", "AnalyzerConfig"),
    ("premortem.detect.analyzer", "_SourceState"),
    ("premortem.detect.rates", "ErrorRatioDetector"),
    ("premortem.detect.rates", "RateDetector"),
    ("premortem.detect.rates", "_Histories"),
    ("premortem.detect.sequence", "NextTemplateDetector"),
    ("premortem.detect.sequence", "SessionKeys"),
    ("premortem.detect.sequence", "SessionTracker"),
    ("premortem.detect.templates", "NewTemplateDetector"),
    ("premortem.detect.templates", "RareTemplateDetector"),
}


class SnapshotError(ValueError):
    """Not an analyzer snapshot of this version, or one naming a type an analyzer has not."""


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise SnapshotError(f"an analyzer snapshot cannot hold {module}.{name}")
        return super().find_class(module, name)


def dumps(analyzer: Analyzer) -> bytes:
    return VERSION + zlib.compress(pickle.dumps(analyzer, protocol=5), 1)


def loads(data: bytes) -> Analyzer:
    if not data.startswith(VERSION):
        raise SnapshotError("not an analyzer snapshot of this version")
    try:
        restored = _Restricted(io.BytesIO(zlib.decompress(data[len(VERSION) :]))).load()
    except SnapshotError:
        raise
    except Exception as error:  # a truncated or corrupt row
        raise SnapshotError(f"unreadable analyzer snapshot: {error}") from error
    if not isinstance(restored, Analyzer):
        raise SnapshotError("an analyzer snapshot holds no analyzer")
    return restored
