"""The online predictor: log records in, failure-mode predictions out.

Each record is matched to a template (the model's miner keeps learning) and may fire precursor
indicators; when new evidence arrives the network gives every mode's probability of manifesting
within the horizon. Evaluating only on new evidence keeps the per-line cost at a template match
and a dict lookup.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import astuple, dataclass

from premortem import textjson
from premortem.clock import Clock
from premortem.domain import (
    ERROR_SEVERITY,
    LogRecord,
    MetricSeries,
    Prediction,
    is_fragment,
    stable_id,
)
from premortem.ingest.severity import without_header
from premortem.learn.metric_signals import signal_id
from premortem.learn.model import TrainedModel
from premortem.learn.precursors import SPILL_GAP_S
from premortem.learn.rows import RECENT_GAPS, evidence_life_ns, regap_ns
from premortem.learn.run_end import RunEnd, RunEnds
from premortem.logs.miner import Match, PrefixTreeMiner

# Why a prediction closes (its `evidence["closes"]`): the alert it raised resolves.
RISK_LOWERED = "risk lowered"
EVIDENCE_EXPIRED = "evidence expired"
FAILURE_MANIFESTED = "failure manifested"
UNNAMED_FAILURE = "a failure no learned mode names"
RUN_ENDED = "its test run ended"
_NEVER = 1 << 62
FLOOD_LINES = 5
FAILURE_GAP_MARGIN = 1.5
MAX_TRACKED = 256  # unknown error templates whose recent lines are kept
MAX_LEADS = 50  # lead times a prediction quotes (its training failures, usually a handful)


@dataclass(frozen=True, slots=True)
class ObservedFailure:
    """A failure seen live: the first line of a learned mode's manifestation in an incident."""

    time_ns: int
    service: str
    mode_id: str  # "" when the model does not say whose failure the template is
    record_id: str
    line: str
    template: str
    mode_ids: tuple[str, ...] = ()  # every mode that template is the failure of
    test_id: str = ""  # a failed test run's report (no line of the failure was seen)


@dataclass(slots=True)
class _Fired:
    time_ns: int
    record_id: str
    template_id: int
    line: str
    service: str
    template: str = ""


class OnlinePredictor:
    """Feed records with `observe`; get predictions for modes at or above their threshold (each
    mode's learned one, `TrainedModel.threshold_of`, or `min_probability` for all when given).

    A prediction opens only on new evidence: an indicator that was not active fires, or an active
    one fires again after a pause (`rows.REGAP_SHARE` of the window: a new incident of a signal that
    never quite went quiet). Evidence expires `window_s` after it fired — sooner for a signal that
    kept coming at a steady pace and then stopped (`rows.evidence_life_ns`, as in the training rows:
    five of its own gaps of silence, the fault behind it is gone) — judged on the time of the source
    that logged it (one late source never expires another's evidence). A source that has gone quiet
    moves on with the rest of the stream: its time is its newest record's plus how far the newest
    record of any source has moved since it last sent (a lock manager that logs only lock waits
    would otherwise hold its last warning, and the alert it keeps open, until it logs again);
    `pass_time` moves it on while the whole stream is quiet. Expiry only ever lowers risk: it never
    opens or raises a prediction, and an open one that falls below the threshold is *closed* —
    returned once more with `evidence["closes"]` set, so that its alert resolves. When a failure's
    own lines are seen (a mode's manifestation, learned in training), the incident is over: open
    predictions close, the evidence is dropped, and no new evidence counts while the failure's lines
    keep coming (and for REGAP_SHARE of the window after the last), so the failure cannot warn about
    itself or about the next run. An indicator that fired in the incident stays spent while it keeps
    firing after it (gaps under REGAP_SHARE of the window): the aftermath of a failure (a slow call
    still in flight when the fault is rolled back) is not the warning of the next one. A failure no
    learned mode names ends the incident the same way: while a prediction is open, an error template
    training never saw logged FLOOD_LINES times within REGAP_SHARE of the window (every request
    failing). A test run's end (`end_runs`, when the stream reaches it, or at once for a run
    reported after its end) ends its incident too: the evidence its lines fired stops counting
    (the same signals still coming right after it are its tail), and the open predictions it
    alone held close — the next run starts with nothing carried over, as in training, whether the
    run failed (a failure no line reads like, seen only by its probe: a failure seen) or passed.
    `reset()` forgets the evidence, not the templates — used between independent runs."""

    def __init__(
        self,
        model: TrainedModel,
        clock: Clock,
        horizon_s: float | None = None,
        *,
        min_probability: float | None = None,
    ) -> None:
        self.model = model
        self.clock = clock
        self.horizon_s = horizon_s or model.horizon_s
        # One threshold for every mode when one is given (PREMORTEM_ALERT_THRESHOLD), else each
        # mode's learned one.
        self.min_probability = min_probability
        self._miner = copy.deepcopy(model.miner)
        self._indicators = model.indicators
        self._window_ns = int(model.indicators.window_s * 1e9)
        self._regap_ns = regap_ns(model.indicators.window_s, model.indicators.step_s)
        # A failure goes on until this long after its last line: its lines' usual spacing in
        # training, with a margin (at least the re-gap, at most half the window).
        failing = int(model.indicators.failure_gap_s * FAILURE_GAP_MARGIN * 1e9)
        self._failing_ns = max(self._regap_ns, min(failing, self._window_ns // 2))
        self._manifest = frozenset(model.manifest_templates)
        self._unknown_from = self._miner.next_id  # templates from here on: training never saw
        self._fired: dict[str, _Fired] = {}
        # Per active indicator: the gaps between its recent firings, which say how long its
        # last firing stays evidence (`rows.evidence_life_ns`: a steady signal that stops expires).
        self._gaps: dict[str, list[int]] = {}
        self._source_now: dict[str, int] = {}  # per source: its newest record's time
        self._newest = 0  # the newest record time of any source
        self._seen_at: dict[str, int] = {}  # per source: `_newest` when it last sent
        self._open: dict[str, float] = {}  # modes predicted at or above the threshold, and p
        # When each mode was last predicted in this incident: a failure whose lines two modes
        # share is the one warned of, even if that warning closed a moment before it came.
        self._predicted_at: dict[str, int] = {}
        self._failing_until = 0  # a failure is manifesting: no evidence until then
        # The last failure line, and whether new evidence came since: a failure whose lines
        # pause and come back with nothing new between is the same failure (`_is_new_failure`).
        self._last_failure_ns = -_NEVER
        self._warned_since_failure = True
        self._spent: dict[str, int] = {}  # indicators of a failed incident: when they last fired
        self._names = {m.id: m for m in model.modes}
        self._observed: list[ObservedFailure] = []
        self._recent_errors: dict[int, list[int]] = {}  # unknown error templates: recent times
        self._expiry_due = _NEVER  # stream time before which no evidence can expire
        self._run_ends = RunEnds()  # test runs' ends the stream has not reached
        self._tail: dict[str, int] = {}  # indicators of the run that ended: when they last fired

    @property
    def _active(self) -> frozenset[str]:
        """The indicators whose evidence has not expired."""
        return frozenset(self._fired)

    def reset(self) -> None:
        self._observed.clear()
        self._fired.clear()
        self._gaps.clear()
        self._source_now.clear()
        self._newest = 0
        self._seen_at.clear()
        self._open.clear()
        self._predicted_at.clear()
        self._failing_until = 0
        self._last_failure_ns = -_NEVER
        self._warned_since_failure = True
        self._spent.clear()
        self._recent_errors.clear()
        self._expiry_due = _NEVER
        self._run_ends = RunEnds()
        self._tail.clear()

    def state(self) -> bytes:
        """What this predictor learned and holds live (its miner, the evidence, the open
        predictions), for a checkpoint; `restore` on a predictor of the same model resumes it.
        Failures seen but not yet collected (`observed_failures`) are not part of it."""
        return textjson.dumps(
            {
                "miner": self._miner.dumps().decode(),
                "fired": {name: astuple(f) for name, f in sorted(self._fired.items())},
                "gaps": {name: gaps for name, gaps in sorted(self._gaps.items())},
                "source_now": self._source_now,
                "newest": self._newest,
                "seen_at": self._seen_at,
                "open": self._open,
                "predicted_at": self._predicted_at,
                "failing_until": self._failing_until,
                "last_failure_ns": self._last_failure_ns,
                "warned_since_failure": self._warned_since_failure,
                "spent": self._spent,
                "recent_errors": {str(k): v for k, v in sorted(self._recent_errors.items())},
                "run_ends": self._run_ends.state(),
                "tail": self._tail,
            }
        )

    def restore(self, data: bytes) -> None:
        state = textjson.loads(data)
        self._miner = PrefixTreeMiner.loads(state["miner"].encode())
        self._fired = {name: _Fired(*fields) for name, fields in state["fired"].items()}
        # A checkpoint from before steady signals expired early has no gaps: the window.
        self._gaps = {str(k): [int(g) for g in v] for k, v in state.get("gaps", {}).items()}
        self._source_now = {str(k): int(v) for k, v in state["source_now"].items()}
        # A checkpoint from before quiet sources moved on: each source was last seen just now.
        self._newest = int(state.get("newest", max(self._source_now.values(), default=0)))
        seen_at = state.get("seen_at") or dict.fromkeys(self._source_now, self._newest)
        self._seen_at = {str(k): int(v) for k, v in seen_at.items()}
        self._open = {str(k): float(v) for k, v in state["open"].items()}
        self._predicted_at = {str(k): int(v) for k, v in state.get("predicted_at", {}).items()}
        self._failing_until = int(state["failing_until"])
        self._last_failure_ns = int(state.get("last_failure_ns", -_NEVER))
        self._warned_since_failure = bool(state.get("warned_since_failure", True))
        self._spent = {str(k): int(v) for k, v in state.get("spent", {}).items()}
        recent = state.get("recent_errors", {})
        self._recent_errors = {int(k): [int(t) for t in v] for k, v in recent.items()}
        self._expiry_due = 0  # checked on the next record
        self._run_ends = RunEnds.restore(state.get("run_ends"))
        self._tail = {str(k): int(v) for k, v in state.get("tail", {}).items()}

    def end_runs(self, ends: Iterable[RunEnd], *, started_ns: int = 0) -> list[Prediction]:
        """Test runs' ends: each ends its incident when the stream reaches it — at once for one
        the stream has passed (a run reported after it ended, as chaos tools report); see
        `RunEnds.tell` for a run told again and `started_ns`. Returns the predictions that
        closed."""
        self._run_ends.tell(ends, started_ns=started_ns)
        return self._runs_ended(self._newest)

    def _runs_ended(self, now: int) -> list[Prediction]:
        """Apply the run ends at or before `now`, oldest first."""
        return [p for end in self._run_ends.due(now) for p in self._end_run(end)]

    def _end_run(self, end: RunEnd) -> list[Prediction]:
        """The run is over: what its lines fired is no longer evidence (a signal going on right
        after it is its tail, `_past_tail`), and open predictions that evidence alone held close.
        A failed run whose failure no line showed (a probe's deadline) is a failure seen."""
        if end.failed and self._last_failure_ns < end.start_ns:
            self._observed.append(self._reported_failure(end))
        fired = self._fired.items()
        gone = [name for name, f in fired if f.time_ns < end.end_ns and end.holds(f.service)]
        # Only the run's tail stays spent: a signal going on from its end, each firing within
        # SPILL_GAP_S of the last (requests in flight when its fault was rolled back), as
        # training reads a run's first lines (`precursors.spilled_over`). The next run's own
        # warnings, seconds later, are evidence of its own incident.
        self._tail = dict.fromkeys(gone, end.end_ns)
        for name in gone:
            del self._fired[name]
            self._gaps.pop(name, None)
        if gone:
            self._predicted_at.clear()
        return self._lower(max(end.end_ns, self._newest), RUN_ENDED)

    def observe(self, records: Iterable[LogRecord]) -> list[Prediction]:
        predictions: list[Prediction] = []
        add = self._miner.add
        fired_of = self._indicators.fired
        levels, levels_fired = self._indicators.watched_levels, self._indicators.levels_fired
        source_now = self._source_now
        sources: set[str] = set()
        for record in records:
            sources.add(record.service)
            now = record.time_ns
            if now >= self._run_ends.next_ns:  # before the record: it belongs to the next run
                predictions += self._runs_ended(now)
            self._heard(record.service, now)
            if self._newest >= self._expiry_due and self._expire():
                # Evidence expires when the stream reaches its time, not when a batch ends:
                # the alert it kept open closes at the same moment however records are batched
                # (a shipper's quarter second, a replay's thousand lines).
                predictions += self._lower(self._newest)
            if record.attributes and is_fragment(record):
                continue  # the rest of a message cut between batches: its time only
            match = add(record.body, service=record.service)
            if match.template_id in self._manifest:
                # The failure is here: its precursors are spent and its predictions fulfilled.
                # While it goes on (its lines keep coming) nothing new is evidence of it.
                if self._is_new_failure(now):
                    self._observed.append(self._observed_failure(record, match))
                self._last_failure_ns, self._warned_since_failure = now, False
                self._end_incident(now)
                if self._fired or self._open:
                    predictions += self._close_all(now, FAILURE_MANIFESTED)
                continue
            if (
                self._open
                and match.template_id >= self._unknown_from
                and record.severity_number >= ERROR_SEVERITY
                and now >= self._failing_until
                and self._flooding(match.template_id, now)
            ):
                # An error no training run ever logged, while premortem warns: a failure it has
                # no name for (a kind the training runs never had). The incident is over as when
                # a known one manifests, or its warnings would keep the alert firing into the
                # next incident.
                self._end_incident(now)
                predictions += self._close_all(now, UNNAMED_FAILURE)
                continue
            names = fired_of(match.template_id, record.service, record.severity_number)
            if match.template_id in levels:
                more = levels_fired(
                    match.template_id, record.body, record.severity_number, record.attributes
                )
                names = tuple(dict.fromkeys((*names, *more)))
            if not names or not (names := self._unspent(names, now)):
                continue
            fired = _Fired(
                now, record.id, match.template_id, record.body[:300], record.service, match.template
            )
            if self._fire(names, fired):
                predictions += self._evaluate(now)
        clock_now = self.clock.now_ns()
        if self._expire(clock_now, frozenset(sources)):
            predictions += self._lower(max([clock_now, *(source_now.get(s, 0) for s in sources)]))
        return predictions

    def observe_series(self, series: Iterable[MetricSeries]) -> list[Prediction]:
        """Live metric samples: one above its learned normal range fires its indicator
        (learn/metric_signals.py) and, when that is new evidence, the modes are evaluated."""
        predictions: list[Prediction] = []
        metric_fired = self._indicators.metric_fired
        # In time order, ties by series id: one scrape stamps every series alike, and their values
        # tie often (a zero), so the series themselves must never be compared. NaN never fires
        # (value == value is False only for NaN).
        # Each series' ids once (both are hashes), not once per sample: by signal (any instance
        # of the series), and its own id, which a model stored before signals were told apart
        # from their instances knows.
        series = list(series)
        ids = {id(s): (s.id, signal_id(s)) for s in series}
        samples = sorted(
            (
                (t, ids[id(s)][0], value, s)
                for s in series
                for t, value in s.points
                if value == value
            ),
            key=_time_and_series,
        )
        for now, own_id, value, s in samples:
            name = metric_fired(ids[id(s)][1], value) or metric_fired(own_id, value)
            if name is None or not self._unspent((name,), now):
                continue
            source = s.service
            self._heard(source, now)
            line = f"{s.metric}{_labels_text(s.labels)} = {value:g}"
            if self._fire((name,), _Fired(now, "", -1, line, source, f"{s.metric} above normal")):
                predictions += self._evaluate(now)
        return predictions

    def pass_time(self, now_ns: int) -> list[Prediction]:
        """The stream's time has reached `now_ns` without records (a live tick: stream time moves
        on at wall-clock pace while every source is quiet). Evidence it takes past the window
        expires; like any expiry that only lowers risk, closing what falls below the threshold.
        A test run's end it reaches ends the run's incident."""
        ended = self._runs_ended(now_ns) if now_ns >= self._run_ends.next_ns else []
        if not self._expire(global_now=now_ns):
            return ended
        return ended + self._lower(max(now_ns, self._newest))

    def _flooding(self, template_id: int, now: int) -> bool:
        """The template's lines come as a failure's do: FLOOD_LINES of them within a
        REGAP_SHARE of the window (every request failing), not one error now and then."""
        if len(self._recent_errors) > MAX_TRACKED and template_id not in self._recent_errors:
            self._recent_errors.clear()  # bounded: only a flood matters, and it refills at once
        times = self._recent_errors.setdefault(template_id, [])
        times.append(now)
        del times[: max(0, len(times) - FLOOD_LINES)]
        return len(times) == FLOOD_LINES and now - times[0] <= self._regap_ns

    def _is_new_failure(self, now: int) -> bool:
        """A failure line starts a failure of its own once the last one's lines have paused
        (`_failing_until`) and either new evidence came since or a whole evidence window passed:
        a lock fault held on fails in bursts seconds apart, one failure, not one per burst."""
        return now >= self._failing_until and (
            self._warned_since_failure or now - self._last_failure_ns >= self._window_ns
        )

    def _end_incident(self, now: int) -> None:
        """A failure is here: what warned of it is spent, and nothing is evidence while its
        lines keep coming."""
        self._failing_until = now + self._failing_ns
        self._spent.update((name, f.time_ns) for name, f in self._fired.items())
        self._predicted_at.clear()

    def _heard(self, source: str, time_ns: int) -> None:
        if time_ns > self._source_now.get(source, 0):
            self._source_now[source] = time_ns
        if time_ns > self._newest:
            self._newest = time_ns
        self._seen_at[source] = self._newest

    def _unspent(self, names: Iterable[str], now: int) -> tuple[str, ...]:
        """The indicators among `names` that are evidence at `now`: none while a failure's
        lines keep coming (each is spent), and none still firing on from a failed incident or
        from a test run that ended (its tail)."""
        if self._tail:
            names = self._past_tail(names, now)
        spent = self._spent
        if now < self._failing_until:
            spent.update((name, now) for name in names)
            return ()
        if not spent:
            return tuple(names)
        fresh = []
        for name in names:
            last = spent.get(name)
            if last is not None and now - last < self._regap_ns:
                spent[name] = now  # the same incident's aftermath, still going on
            else:
                spent.pop(name, None)
                fresh.append(name)
        return tuple(fresh)

    def _past_tail(self, names: Iterable[str], now: int) -> tuple[str, ...]:
        """The names that are not the ended run's tail (still coming, each within SPILL_GAP_S)."""
        tail, gap = self._tail, int(SPILL_GAP_S * 1e9)
        fresh = []
        for name in names:
            last = tail.get(name)
            if last is not None and now - last <= gap:
                tail[name] = now
                continue
            tail.pop(name, None)
            fresh.append(name)
        return tuple(fresh)

    def _fire(self, names: Iterable[str], fired: _Fired) -> bool:
        """Record the indicators one observation fires; True when that is new evidence."""
        fresh = False
        for name in names:
            previous = self._fired.get(name)
            anew = previous is None or fired.time_ns - previous.time_ns >= self._regap_ns
            fresh = fresh or anew
            gaps = self._gaps.setdefault(name, [])
            if anew:
                gaps.clear()
            elif previous is not None:
                gaps.append(fired.time_ns - previous.time_ns)
                del gaps[:-RECENT_GAPS]
            self._expiry_due = min(self._expiry_due, fired.time_ns + self._life(name))
            self._fired[name] = fired
        if fresh:  # log line or metric sample: a failure after it is a failure of its own
            self._warned_since_failure = True
        return fresh

    def _life(self, name: str) -> int:
        """How long the indicator's last firing stays evidence."""
        return evidence_life_ns(self._gaps.get(name, ()), self._window_ns, self._regap_ns)

    def observed_failures(self) -> list[ObservedFailure]:
        """The failures seen since the last call (one per incident: its first manifestation
        line after a quiet REGAP_SHARE of the window), oldest first."""
        observed, self._observed = self._observed, []
        return observed

    def _reported_failure(self, end: RunEnd) -> ObservedFailure:
        """A failed run's report as a failure seen: at its `failure_time` (else its end), the
        mode predicted then (the likeliest open one, else the last predicted within the
        horizon; none: a failure no mode was warned of)."""
        when = end.failure_ns if end.failure_ns is not None else end.end_ns
        self._last_failure_ns, self._warned_since_failure = when, False
        mode = self._warned_of(sorted(self._names), when)
        return ObservedFailure(
            when, end.service, mode, "", end.details[:300], "", (mode,) if mode else (), end.test_id
        )

    def _observed_failure(self, record: LogRecord, match: Match) -> ObservedFailure:
        modes = tuple(self.model.manifest_modes.get(match.template_id, ()))
        return ObservedFailure(
            record.time_ns,
            record.service,
            self._failed_mode(modes, record.time_ns),
            record.id,
            record.body[:300],
            match.template,
            modes,
        )

    def _failed_mode(self, modes: tuple[str, ...], now: int) -> str:
        """Which of the modes a failure line manifests failed: when training saw the same line
        end failures of several modes, the one predicted now (the likeliest), else the one last
        predicted within the horizon (a trial's warning closed 2 s before the failure, and the
        failure went to the other mode), else the likeliest on the evidence, else the first
        learned."""
        if len(modes) < 2:
            return modes[0] if modes else ""
        if warned := self._warned_of(modes, now):
            return warned
        if self._fired:
            probability = self.probabilities()
            return max(modes, key=lambda m: probability.get(m, 0.0))
        return modes[0]

    def _warned_of(self, modes: Iterable[str], now: int) -> str:
        """Of `modes`, the one premortem is warning of at `now`: the likeliest predicted now, else
        the one last predicted within the horizon; "" when none was."""
        modes = tuple(modes)
        if predicted := [m for m in modes if m in self._open]:
            return max(predicted, key=lambda m: self._open[m])
        horizon_ns = int(self.horizon_s * 1e9)
        lately = [
            (at, m) for m in modes if (at := self._predicted_at.get(m, -_NEVER)) >= now - horizon_ns
        ]
        return max(lately)[1] if lately else ""

    def probabilities(self) -> dict[str, float]:
        """P(mode within the horizon) for the current evidence, per mode id."""
        posterior = self.model.network.posterior(self._active)
        factor = self.model.mode_factor
        return {mode: p * factor.get(mode, 1.0) for mode, p in posterior.items()}

    def threshold_of(self, mode_id: str) -> float:
        """The probability at which this mode's predictions are made."""
        if self.min_probability is not None:
            return self.min_probability
        return self.model.threshold_of(mode_id)

    def _expire(
        self, clock_now: int = 0, sources: frozenset[str] = frozenset(), *, global_now: int = 0
    ) -> bool:
        """Drop evidence older than the window on its own source's time; True if any went.

        A source's time is its newest record's, moved on by as much as the whole stream (its
        newest record, or `global_now`) has moved since the source last sent. `clock_now` (the
        stream clock, which moves on while a source is quiet) counts only for the `sources` just
        observed."""
        fired = self._fired
        if not fired:
            self._expiry_due = _NEVER
            return False
        source_now, seen_at = self._source_now, self._seen_at
        stream_now = max(self._newest, global_now)

        def now_of(service: str) -> int:
            own = source_now.get(service, 0)
            now = own + stream_now - seen_at.get(service, stream_now)
            return max(now, clock_now) if service in sources else now

        life = {name: self._life(name) for name in fired}
        kept = {name: f for name, f in fired.items() if now_of(f.service) - f.time_ns <= life[name]}
        # No source's time is ahead of the stream's newest record: nothing can expire before
        # the newest record passes the earliest end of a firing's life.
        self._expiry_due = min((f.time_ns + life[name] for name, f in kept.items()), default=_NEVER)
        if len(kept) == len(fired):
            return False
        for name in fired.keys() - kept.keys():
            self._gaps.pop(name, None)
        self._fired = kept
        return True

    def _evaluate(self, now: int) -> list[Prediction]:
        """New evidence: every mode at or above the threshold is predicted; an open prediction
        the new evidence takes below it is closed."""
        self._expire()
        out = []
        for mode_id, probability in sorted(self.probabilities().items()):
            if probability >= self.threshold_of(mode_id) and self._active:
                self._open[mode_id] = probability
                self._predicted_at[mode_id] = now
                out.append(self._prediction(mode_id, probability, now))
            elif mode_id in self._open:
                del self._open[mode_id]
                out.append(self._prediction(mode_id, probability, now, closes=RISK_LOWERED))
        return out

    def _lower(self, now: int, reason: str = EVIDENCE_EXPIRED) -> list[Prediction]:
        """Expired evidence: risk can only go down; open predictions that fall below the
        threshold are closed (their alerts resolve), none is raised or opened."""
        current = self.probabilities() if self._active else {}
        out = []
        for mode_id in sorted(self._open):
            probability = min(current.get(mode_id, 0.0), self._open[mode_id])
            if probability >= self.threshold_of(mode_id):
                self._open[mode_id] = probability
                continue
            del self._open[mode_id]
            out.append(self._prediction(mode_id, probability, now, closes=reason))
        return out

    def _close_all(self, now: int, reason: str) -> list[Prediction]:
        out = [self._prediction(mode_id, 0.0, now, closes=reason) for mode_id in sorted(self._open)]
        self._open.clear()
        self._fired.clear()
        self._gaps.clear()
        return out

    def _prediction(
        self, mode_id: str, probability: float, now: int, *, closes: str | None = None
    ) -> Prediction:
        mode = self._names.get(mode_id)
        fired = sorted(self._fired.items(), key=lambda item: item[1].time_ns)
        fired_ids = [f.template_id for _, f in fired if f.template_id >= 0]
        # How long before the failure this mode's alerts came in training; a model without
        # them (stored before): how long before it the precursors that fired came.
        leads = list(self.model.alert_leads_s.get(mode_id, ())) or (
            sorted(mode.expected_lead_times_s(fired_ids)) if mode else []
        )
        return Prediction(
            id="pr-" + stable_id(mode_id, now, sorted(self._active), closes)[:16],
            time_ns=now,
            mode_id=mode_id,
            service=mode.service if mode else "",
            probability=round(min(max(probability, 0.0), 1.0), 4),
            horizon_s=self.horizon_s,
            lead_time_s=leads[len(leads) // 2] if leads else None,
            evidence={
                "indicators": sorted(self._active),
                "lead_times_s": leads[:MAX_LEADS],
                "template_ids": sorted({f.template_id for _, f in fired if f.template_id >= 0}),
                # One record can fire several indicators (its template, "new warning here"):
                # each record and line once.
                "record_ids": list(dict.fromkeys(f.record_id for _, f in fired if f.record_id))[
                    :20
                ],
                "samples": [
                    {"service": service, "line": line}
                    for service, line in dict.fromkeys((f.service, f.line) for _, f in fired)
                ][:5],
                # The live lines that fired the indicators, in the shape alerting shows first.
                "templates": _templates(fired),
                "mode_name": mode.name if mode else mode_id,
                **({"closes": closes} if closes else {}),
            },
        )


def _labels_text(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _templates(fired: list[tuple[str, _Fired]]) -> list[dict[str, object]]:
    by_template: dict[int, dict[str, object]] = {}
    for _, f in fired:
        entry = by_template.setdefault(
            f.template_id,
            {
                "template_id": None,
                "template": without_header(f.template, f.line) if f.template else f.line,
                "samples": [],
                "count": 0,
            },
        )
        samples = entry["samples"]
        assert isinstance(samples, list)
        if f.line not in samples:
            samples.append(f.line)
        entry["count"] = len(samples)
    return list(by_template.values())[:5]


def _time_and_series(sample: tuple[int, str, float, MetricSeries]) -> tuple[int, str]:
    return sample[0], sample[1]
