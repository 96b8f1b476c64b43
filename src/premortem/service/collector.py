"""The garbage collector, set for a long-running server with a large, long-lived heap.

The server keeps hundreds of thousands of objects alive on purpose (the miner's templates and
caches, every source's windows, baselines, sequence contexts — all bounded, docs/design.md), and
ingestion makes objects that live a little while (a batch in flight between threads). With
Python's default thresholds (700, 10, 10) enough of those survive two young collections that a
full collection — a walk over the whole heap, 0.3–0.4 s here — ran about twice a second under
`bench/cardinality.py`: 46 s of 90 in full collections, every request waiting behind them.
A larger first threshold lets short-lived objects die young; a larger last one makes full
collections rare (Python also waits until a quarter of the heap is new since the last one);
`gc.freeze()` moves what start-up made (modules, the app) out of every later collection.
Reference cycles are still collected, only less often.
"""

from __future__ import annotations

import gc


def tune_collector(thresholds: tuple[int, int, int]) -> None:
    """Freeze the start-up heap and set the collector's thresholds for serving."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
