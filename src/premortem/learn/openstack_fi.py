"""Reader for directories laid out like the OpenStack fault-injection dataset (Cotroneo et al.).

Layout: ``subset_index.csv`` / ``experiments_index.csv`` and ``tests/<Subsystem>/Test_<n>/`` with
``fip_info.data``, ``logs/round_1`` (faulty run, ``trigger_log``) and ``logs/round_2`` (fault-free
rerun), each holding ``<service>/<name>.log[.gz]`` and ``foreground_wl/*.err.log[.gz]``.

Every experiment becomes premortem's own inputs through the public ingestion path: two native
test-run documents (round 1 with its injected fault, round 2 as a passing run) validated by
`premortem.ingest.native.validate_test_run`, and log-record documents turned into `LogRecord`s by
`premortem.ingest.native.log_record`. Local clocks are converted to UTC with the campaign offset
(``tz_offset_h`` in the index; the dataset README's values otherwise).
"""

from __future__ import annotations

import calendar
import csv
import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from premortem.domain import LogRecord, TestRun, rfc3339_ns
from premortem.errors import IngestError
from premortem.ingest.native import log_record, validate_test_run

# Campaign clocks (local minus UTC, hours) from the dataset README, used when the index is silent.
_DEFAULT_TZ_OFFSET_H = {"nova": 2.0, "cinder": -4.0, "neutron": -4.0}
_SERVICE_LINE = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(\.\d+)? (\d+) ([A-Z]+) (\S+) (?:\[([^\]]*)\] )?(.*)"
)
_WORKLOAD_LINE = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(\.\d+)? (?:[A-Z]+ )?(?:\[[^\]]*\]: )?(.*)"
)
_EPOCH_TRIGGER = re.compile(r"(\d{9,11}(?:\.\d+)?) ")
_REQUEST_ID = re.compile(r"req-[0-9a-f-]{36}")


@dataclass(slots=True)
class Experiment:
    """One experiment: the faulty round and the fault-free round with their logs."""

    subsystem: str
    name: str
    path: Path
    tz_offset_h: float
    order_key: str = ""
    category: str = ""
    runs: list[TestRun] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.subsystem}/{self.name}"

    def logs(self, run: TestRun) -> list[LogRecord]:
        """The service logs of `run`'s round, in time order (read on demand; not cached)."""
        round_dir = self.path / "logs" / str(run.parameters["round_dir"])
        return read_service_logs(round_dir, run_id=run.test_id, tz_offset_h=self.tz_offset_h)


def discover(root: Path) -> list[Experiment]:
    """Every experiment under `root`, ordered by subsystem and start of its faulty round."""
    tests = root / "tests"
    if not tests.is_dir():
        raise IngestError(f"{root} has no tests/ directory (not an openstack-fi layout)")
    index = _read_index(root)
    experiments = []
    for test_dir in sorted(p for p in tests.glob("*/Test_*") if p.is_dir()):
        subsystem = test_dir.parent.name
        row = index.get((subsystem, test_dir.name), {})
        offset = _float(row.get("tz_offset_h"))
        if offset is None:
            offset = _DEFAULT_TZ_OFFSET_H.get(subsystem.lower(), 0.0)
        experiment = Experiment(subsystem, test_dir.name, test_dir, offset)
        experiment.category = row.get("category", "")
        experiment.runs = _test_runs(experiment)
        experiment.order_key = experiment.runs[0].timestamp.isoformat() if experiment.runs else ""
        experiments.append(experiment)
    experiments.sort(key=lambda e: (e.subsystem, e.order_key, e.name))
    return experiments


def _read_index(root: Path) -> dict[tuple[str, str], dict[str, str]]:
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for name in ("experiments_index.csv", "subset_index.csv"):  # the subset wins where both
        path = root / name
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    rows[(row.get("subsystem", ""), row.get("test", ""))] = row
    return rows


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


# --------------------------------------------------------------------------- test runs


def _test_runs(experiment: Experiment) -> list[TestRun]:
    fault = _fault_info(experiment.path / "fip_info.data")
    runs = []
    for round_no in (1, 2):
        round_dir = experiment.path / "logs" / f"round_{round_no}"
        if round_dir.is_dir():
            doc = _test_run_doc(experiment, round_dir, round_no, fault)
            runs.append(validate_test_run(doc, at=f"/{experiment.key}/round_{round_no}").run)
    return runs


def _test_run_doc(
    experiment: Experiment, round_dir: Path, round_no: int, fault: dict[str, str]
) -> dict[str, Any]:
    offset_ns = int(experiment.tz_offset_h * 3600 * 1e9)
    workload = _workload_lines(round_dir, "out", offset_ns)
    failures = _workload_lines(round_dir, "err", offset_ns)
    start_ns = workload[0][0] if workload else _first_service_time(round_dir, offset_ns)
    doc: dict[str, Any] = {
        "test_id": f"{experiment.key}/round_{round_no}",
        "timestamp": rfc3339_ns(start_ns),
        "service": experiment.subsystem.lower(),
        "environment": "openstack-fi",
        "parameters": {"subsystem": experiment.subsystem, "round": round_no},
        "expected_outcome": "success",
        "actual_outcome": "failure" if failures else "success",
    }
    doc["parameters"]["round_dir"] = round_dir.name
    if workload:
        doc["parameters"]["workload_end"] = rfc3339_ns(workload[-1][0])
    if failures:
        doc["failure_details"] = failures[0][1]
        doc["failure_time"] = rfc3339_ns(failures[0][0])
        doc["failure_kind"] = failure_kind(failures[0][1])
    activation = _activation_ns(round_dir / "trigger_log", offset_ns) if round_no == 1 else None
    if activation is not None and fault:
        target = ":".join(v for v in (fault.get("component"), fault.get("function")) if v)
        doc["injected_faults"] = [
            {
                "type": fault.get("type", "unknown"),
                "target": target,
                "start": rfc3339_ns(activation),
            }
        ]
    return doc


def failure_kind(details: str) -> str:
    """FAILURE_<KIND> for assertion failures, ``API_ERROR:<noun>`` for failed CLI commands."""
    assertion = re.search(r"(FAILURE_[A-Z_]+)", details)
    if "API ERROR" not in details and assertion:
        return assertion.group(1)
    command = details.split("API ERROR:", 1)[-1].split(";", 1)[0].split()
    if command[:1] == ["openstack"] and len(command) > 1:
        return f"API_ERROR:{command[1]}"
    return "API_ERROR:" + " ".join(command[:2]) if command else "API_ERROR"


def _fault_info(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    keys = {
        "FAULT TYPE": "type",
        "TARGET COMPONENT": "component",
        "TARGET FUNCTION DEF": "function",
    }
    info = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        label, _, value = line.partition(":")
        if label.strip() in keys:
            info[keys[label.strip()]] = value.strip().split(";")[0]
    return info


def _activation_ns(path: Path, offset_ns: int) -> int | None:
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    epoch = _EPOCH_TRIGGER.match(text)
    if epoch:
        return round(float(epoch.group(1)) * 1e9)
    found = _WORKLOAD_LINE.match(text)
    return _local_ns(found.group(1), found.group(2), offset_ns) if found else None


def _workload_lines(round_dir: Path, kind: str, offset_ns: int) -> list[tuple[int, str]]:
    lines = []
    for path in sorted((round_dir / "foreground_wl").glob(f"*.{kind}.log*")):
        with _open_text(path) as handle:
            for line in handle:
                found = _WORKLOAD_LINE.match(line)
                if found:
                    when = _local_ns(found.group(1), found.group(2), offset_ns)
                    lines.append((when, found.group(3).strip()))
    return lines


def _first_service_time(round_dir: Path, offset_ns: int) -> int:
    for path in sorted(round_dir.glob("*/*.log*")):
        with _open_text(path) as handle:
            for line in handle:
                found = _SERVICE_LINE.match(line)
                if found:
                    return _local_ns(found.group(1), found.group(2), offset_ns)
    raise IngestError(f"{round_dir}: no timestamped line to date the run")


# --------------------------------------------------------------------------- service logs


def read_service_logs(round_dir: Path, *, run_id: str, tz_offset_h: float) -> list[LogRecord]:
    """The OpenStack service logs of one round as log records sorted by time."""
    offset_ns = int(tz_offset_h * 3600 * 1e9)
    records: list[LogRecord] = []
    for path in sorted(round_dir.glob("*/*.log*")):
        if path.parent.name == "foreground_wl":
            continue
        service = _service_name(path)
        records.extend(_parse_file(path, service=service, run_id=run_id, offset_ns=offset_ns))
    records.sort(key=_time_of)
    return records


def _time_of(record: LogRecord) -> int:
    return record.time_ns


def _service_name(path: Path) -> str:
    name = path.name.split(".log")[0]
    group = path.parent.name
    return name if name.startswith(group) else f"{group}-{name}"


def _parse_file(path: Path, *, service: str, run_id: str, offset_ns: int) -> Iterator[LogRecord]:
    """Parse one service log; lines without a timestamp continue the previous record."""
    pending: dict[str, Any] | None = None
    seconds_cache: dict[str, int] = {}
    with _open_text(path) as handle:
        for number, line in enumerate(handle):
            found = _SERVICE_LINE.match(line)
            if found is None:
                if pending is not None:
                    pending["body"] += "\n" + line.rstrip("\n")
                continue
            if pending is not None:
                yield log_record(pending, 0)
            stamp, fraction, pid, level, logger, context, message = found.groups()
            base = seconds_cache.get(stamp)
            if base is None:
                base = seconds_cache[stamp] = _local_ns(stamp, None, offset_ns)
            attributes: dict[str, Any] = {"logger": logger, "pid": int(pid), "run": run_id}
            if context:
                request = _REQUEST_ID.match(context)
                if request:
                    attributes["request_id"] = request.group(0)
            pending = {
                "id": f"{run_id}/{service}/{number}",
                "timestamp": base + _fraction_ns(fraction),
                "service": service,
                "severity_text": level,
                "body": message,
                "attributes": attributes,
            }
    if pending is not None:
        yield log_record(pending, 0)


def _local_ns(stamp: str, fraction: str | None, offset_ns: int) -> int:
    """`YYYY-MM-DD HH:MM:SS` local time (+ `.fff`) to UTC nanoseconds."""
    year, month, day = int(stamp[0:4]), int(stamp[5:7]), int(stamp[8:10])
    hour, minute, second = int(stamp[11:13]), int(stamp[14:16]), int(stamp[17:19])
    epoch = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return epoch * 1_000_000_000 - offset_ns + _fraction_ns(fraction)


def _fraction_ns(fraction: str | None) -> int:
    if not fraction:
        return 0
    digits = fraction[1:10]
    scale: int = 10 ** (9 - len(digits))
    return int(digits) * scale


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")
