"""Reduce a run's `Trace` to per-second series and to the events an operator would see.

Occupancy (busy workers, connections in use, requests queued) is integrated exactly per second
from interval start and end times: with G(t) = Σ_starts (t-s)⁺ − Σ_ends (t-e)⁺ the busy time in
[k, k+1) is G(k+1) − G(k), whether or not an interval ever ended. Series are stamped at the start
of their one-second window (metadata `window_s`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from premortem.domain import Series, SimEvent
from premortem.sim.engine import ServiceConfig, Trace

FloatArray = npt.NDArray[np.float64]

# A timeout storm is a second in which at least this share of the admitted attempts that ended
# timed out (timeout_rate), and at least STORM_MIN_FAILURES of them (two unlucky ones are no storm).
STORM_ERROR_RATE = 0.1
STORM_MIN_FAILURES = 5
# A second counts as "pool exhausted" when requests waited for a connection this share of it.
EXHAUSTED_SHARE = 0.5

SERIES_UNITS = {
    "worker_utilisation": "ratio",
    "pool_utilisation": "ratio",
    "queue_length": "requests",
    "pool_waiting": "requests",
    "pool_exhausted_fraction": "ratio",
    "pool_wait_s": "s",
    "latency_p50_s": "s",
    "latency_p99_s": "s",
    "error_rate": "ratio",
    "timeout_rate": "ratio",
    "drop_rate": "ratio",
    "throughput": "requests/s",
    "arrival_rate": "requests/s",
}


def _array(values: Sequence[float]) -> FloatArray:
    return np.fromiter(values, dtype=np.float64, count=len(values))


def occupancy(starts: Sequence[float], ends: Sequence[float], n_bins: int) -> FloatArray:
    """Time-integral of the number of open intervals over each one-second bin."""
    edges = np.arange(n_bins + 1, dtype=np.float64)
    return np.diff(_ramp_sum(starts, edges) - _ramp_sum(ends, edges))


def _ramp_sum(points: Sequence[float], edges: FloatArray) -> FloatArray:
    """Σ_p (t − p)⁺ at every edge t."""
    sorted_points = np.sort(_array(points))
    cumulative = np.concatenate(([0.0], np.cumsum(sorted_points)))
    before = np.searchsorted(sorted_points, edges, side="left")
    return np.asarray(before * edges - cumulative[before], dtype=np.float64)


def counts(times: Sequence[float], n_bins: int) -> FloatArray:
    bins = _array(times).astype(np.int64)
    return np.bincount(bins[bins < n_bins], minlength=n_bins)[:n_bins].astype(np.float64)


def capacity_seconds(changes: Sequence[tuple[float, int]], n_bins: int) -> FloatArray:
    """Integral of a step function given as (time, new value) changes, per bin."""
    edges = np.arange(n_bins + 1, dtype=np.float64)
    total = np.zeros(n_bins + 1)
    previous = 0
    for at, value in changes:
        total += (value - previous) * np.clip(edges - at, 0, None)
        previous = value
    return np.diff(total)


def percentiles(
    times: Sequence[float], values: Sequence[float], n_bins: int, quantiles: Sequence[float]
) -> list[FloatArray]:
    """Nearest-rank quantiles of `values` grouped by the second of `times`; NaN when empty."""
    bins = _array(times).astype(np.int64)
    vals = _array(values)
    keep = bins < n_bins
    bins, vals = bins[keep], vals[keep]
    order = np.lexsort((vals, bins))
    sorted_vals = vals[order]
    per_bin = np.bincount(bins, minlength=n_bins)[:n_bins]
    offsets = np.cumsum(per_bin) - per_bin
    out = []
    for q in quantiles:
        rank = np.maximum(np.ceil(q * per_bin).astype(np.int64) - 1, 0)
        index = np.minimum(offsets + rank, max(len(sorted_vals) - 1, 0))
        picked = sorted_vals[index] if len(sorted_vals) else np.zeros(n_bins)
        out.append(np.where(per_bin > 0, picked, np.nan))
    return out


def _ratio(numerator: FloatArray, denominator: FloatArray, empty: float = 0.0) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), empty
        )


def series_arrays(trace: Trace, config: ServiceConfig, n_bins: int) -> dict[str, FloatArray]:
    """Every per-second series of a run, by name."""
    busy = occupancy(trace.busy_start, trace.busy_end, n_bins)
    workers = capacity_seconds(trace.worker_capacity, n_bins)
    arrivals = counts(trace.arrivals, n_bins)
    drops = counts(trace.drops, n_bins)
    timeouts = counts(trace.failures, n_bins)
    successes = counts(trace.successes, n_bins)
    ended = timeouts + drops + successes
    p50, p99 = percentiles(trace.done_at, trace.latency, n_bins, (0.5, 0.99))
    arrays = {
        "worker_utilisation": _ratio(busy, workers, empty=1.0),
        "queue_length": occupancy(trace.queue_in, trace.queue_out, n_bins),
        "latency_p50_s": p50,
        "latency_p99_s": p99,
        "error_rate": _ratio(timeouts + drops, ended),
        "timeout_rate": _ratio(timeouts, timeouts + successes),
        "drop_rate": _ratio(drops, arrivals),
        "throughput": successes,
        "arrival_rate": arrivals,
    }
    if config.pool_size:
        arrays.update(_pool_arrays(trace, config, n_bins, busy=busy))
    return arrays


def _pool_arrays(
    trace: Trace, config: ServiceConfig, n_bins: int, *, busy: FloatArray
) -> dict[str, FloatArray]:
    waiting = occupancy(trace.wait_in, trace.wait_out, n_bins)
    # A busy worker holds a connection unless it is waiting for one; leaked ones stay taken.
    in_use = busy - waiting + occupancy(trace.leaked_at, (), n_bins)
    # Every started request acquires at once, or waits and leaves the wait (with or without one).
    waits_ended = counts(trace.wait_out, n_bins)
    acquisitions = counts(trace.busy_start, n_bins) - counts(trace.wait_in, n_bins) + waits_ended
    wait_bins = _array(trace.wait_out).astype(np.int64)
    weighted = np.bincount(wait_bins, weights=trace.pool_wait, minlength=n_bins)
    wait_sum = weighted[:n_bins].astype(np.float64)
    return {
        "pool_utilisation": np.clip(in_use / config.pool_size, 0.0, 1.0),
        "pool_waiting": waiting,
        "pool_exhausted_fraction": occupancy(trace.exhausted_start, trace.exhausted_end, n_bins),
        "pool_wait_s": np.where(acquisitions > 0, _ratio(wait_sum, acquisitions), np.nan),
    }


def to_series(arrays: dict[str, FloatArray]) -> list[Series]:
    n_bins = len(next(iter(arrays.values()))) if arrays else 0
    timestamps = [float(k) for k in range(n_bins)]
    return [
        Series(
            name=name,
            unit=SERIES_UNITS.get(name, ""),
            timestamps=timestamps,
            values=[None if math.isnan(v) else round(v, 6) for v in values.tolist()],
            metadata={"window_s": 1.0},
        )
        for name, values in arrays.items()
    ]


def episodes(flags: npt.NDArray[np.bool_], *, max_gap: int = 1) -> list[tuple[int, int]]:
    """Runs of flagged seconds as (first, last + 1), bridging gaps of up to `max_gap` seconds."""
    found: list[tuple[int, int]] = []
    for second in np.flatnonzero(flags).tolist():
        if found and second - found[-1][1] <= max_gap:
            found[-1] = (found[-1][0], second + 1)
        else:
            found.append((second, second + 1))
    return found


def _first_at_or_after(times: Sequence[float], second: int) -> float:
    index = int(np.searchsorted(np.asarray(times), second, side="left"))
    return float(times[index]) if index < len(times) else float(second)


def derive_events(
    trace: Trace, config: ServiceConfig, arrays: dict[str, FloatArray]
) -> list[SimEvent]:
    events = [
        SimEvent(
            time=at,
            type=kind,
            attributes={
                "fault": fault.type,
                "value": fault.effective_value,
                "duration_s": fault.duration_s,
            },
        )
        for at, kind, fault in trace.faults
    ]
    events += _pool_events(trace, config, arrays)
    drops = counts(trace.drops, len(arrays["drop_rate"]))
    for first, last in episodes(drops > 0):
        attributes = {
            "dropped": int(drops[first:last].sum()),
            "duration_s": float(last - first),
            "queue_capacity": _finite_or_none(config.queue_capacity),
        }
        at = _first_at_or_after(trace.drops, first)
        events.append(SimEvent(time=at, type="queue_overflow", attributes=attributes))
    events += _storm_events(trace, arrays)
    return sorted(events, key=lambda event: (event.time, event.type))


def _pool_events(
    trace: Trace, config: ServiceConfig, arrays: dict[str, FloatArray]
) -> list[SimEvent]:
    if not config.pool_size:
        return []
    exhausted = arrays["pool_exhausted_fraction"]
    found = []
    for first, last in episodes(exhausted >= EXHAUSTED_SHARE):
        waits = arrays["pool_wait_s"][first:last]
        attributes = {
            "duration_s": float(last - first),
            "pool_size": config.pool_size,
            "peak_waiting": round(float(arrays["pool_waiting"][first:last].max()), 3),
            "max_pool_wait_s": round(float(np.nanmax(waits)), 6)
            if np.any(~np.isnan(waits))
            else None,
            "leaked_connections": int(np.searchsorted(trace.leaked_at, last)),
        }
        at = _first_at_or_after(trace.exhausted_start, first)
        found.append(SimEvent(time=at, type="pool_exhausted", attributes=attributes))
    return found


def _storm_events(trace: Trace, arrays: dict[str, FloatArray]) -> list[SimEvent]:
    failures = sorted(trace.failures)
    timeouts = counts(failures, len(arrays["error_rate"]))
    stormy = (timeouts >= STORM_MIN_FAILURES) & (arrays["timeout_rate"] >= STORM_ERROR_RATE)
    found = []
    for first, last in episodes(stormy):
        attributes = {
            "timeouts": int(timeouts[first:last].sum()),
            "duration_s": float(last - first),
            "peak_timeout_rate": round(float(arrays["timeout_rate"][first:last].max()), 6),
        }
        at = _first_at_or_after(failures, first)
        found.append(SimEvent(time=at, type="timeout_storm", attributes=attributes))
    return found


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
