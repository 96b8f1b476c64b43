"""Shared by the log benchmarks: the message workloads, and drain3 set up the logparser way.

Workloads are lists of ``(service, message)``: the header of each line is split off here, before
any clock starts, with the same regex for both parsers.

- ``openstack-<n>``: real OpenStack service logs (``openstack-fi``): every timestamped line of the
  ~18 service logs of each run, message after ``date time pid level logger [context]``, ids,
  UUIDs, IPs and numbers as logged. Runs (faulty and fault-free rounds) are merged in time order
  within a run and concatenated in the order the runs started (UTC); the first `n` lines.
  Continuation lines (tracebacks) are left out. The service is the log file (``nova-api``).
- ``<System>-varlen``: `copies` copies of Loghub-2k ``<S>_2k.log``; copy 0 verbatim, in the others
  every run of digits re-drawn at a random length (1 to its length + 2, seeded), so numbers change
  length the way counters, sizes and durations do.
- ``<System>-recipe`` / ``<System>-verbatim``: the older recipe (every digit re-drawn, the length of
  each run kept) and plain repeats; easy for a cache keyed on digit shape, quoted beside the rest.
"""

from __future__ import annotations

import csv
import gzip
import random
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

Workload = list[tuple[str, str]]

# Per-system settings of the logparser Drain benchmark: header format, masking regexes, depth, st.
LOGPARSER_DRAIN: dict[str, dict[str, Any]] = {
    "HDFS": dict(
        fmt="<Date> <Time> <Pid> <Level> <Component>: <Content>",
        regex=[r"blk_-?\d+", r"(\d+\.){3}\d+(:\d+)?"],
        st=0.5,
        depth=4,
    ),
    "Hadoop": dict(
        fmt=r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>",
        regex=[r"(\d+\.){3}\d+"],
        st=0.5,
        depth=4,
    ),
    "Spark": dict(
        fmt="<Date> <Time> <Level> <Component>: <Content>",
        regex=[r"(\d+\.){3}\d+", r"\b[KGTM]?B\b", r"([\w-]+\.){2,}[\w-]+"],
        st=0.5,
        depth=4,
    ),
    "Zookeeper": dict(
        fmt=r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
        regex=[r"(/|)(\d+\.){3}\d+(:\d+)?"],
        st=0.5,
        depth=4,
    ),
    "BGL": dict(
        fmt="<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> "
        "<Content>",
        regex=[r"core\.\d+"],
        st=0.5,
        depth=4,
    ),
    "HPC": dict(
        fmt="<LogId> <Node> <Component> <State> <Time> <Flag> <Content>",
        regex=[r"=\d+"],
        st=0.5,
        depth=4,
    ),
    "Thunderbird": dict(
        fmt=r"<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> "
        r"<Component>(\[<PID>\])?: <Content>",
        regex=[r"(\d+\.){3}\d+"],
        st=0.5,
        depth=4,
    ),
    "Windows": dict(
        fmt="<Date> <Time>, <Level>                  <Component>    <Content>",
        regex=[r"0x.*?\s"],
        st=0.7,
        depth=5,
    ),
    "Linux": dict(
        fmt=r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
        regex=[r"(\d+\.){3}\d+", r"\d{2}:\d{2}:\d{2}"],
        st=0.39,
        depth=6,
    ),
    "Android": dict(
        fmt="<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>",
        regex=[
            r"(/[\w-]+)+",
            r"([\w-]+\.){2,}[\w-]+",
            r"\b(\-?\+?\d+)\b|\b0[Xx][a-fA-F\d]+\b|\b[a-fA-F\d]{4,}\b",
        ],
        st=0.2,
        depth=6,
    ),
    "HealthApp": dict(fmt=r"<Time>\|<Component>\|<Pid>\|<Content>", regex=[], st=0.2, depth=4),
    "Apache": dict(
        fmt=r"\[<Time>\] \[<Level>\] <Content>", regex=[r"(\d+\.){3}\d+"], st=0.5, depth=4
    ),
    "Proxifier": dict(
        fmt=r"\[<Time>\] <Program> - <Content>",
        regex=[r"<\d+\ssec", r"([\w-]+\.)+[\w-]+(:\d+)?", r"\d{2}:\d{2}(:\d{2})*", r"[KGTM]B"],
        st=0.6,
        depth=3,
    ),
    "OpenSSH": dict(
        fmt=r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
        regex=[r"(\d+\.){3}\d+", r"([\w-]+\.){2,}[\w-]+"],
        st=0.6,
        depth=5,
    ),
    "OpenStack": dict(
        fmt=r"<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<ADDR>\] <Content>",
        regex=[r"((\d+\.){3}\d+,?)+", r"/.+?\s", r"\d+"],
        st=0.5,
        depth=5,
    ),
    "Mac": dict(
        fmt=r"<Month>  <Date> <Time> <User> <Component>\[<PID>\]( \(<Address>\))?: <Content>",
        regex=[r"([\w-]+\.){2,}[\w-]+"],
        st=0.7,
        depth=6,
    ),
}
SYSTEMS = tuple(LOGPARSER_DRAIN)

# The product's reader of these logs (premortem.learn.openstack_fi) splits lines the same way.
_SERVICE_LINE = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) \d+ [A-Z]+ \S+ (?:\[[^\]]*\] )?(.*)"
)
_DIGITS = re.compile(r"\d+")


def header_regex(fmt: str) -> re.Pattern[str]:
    """The logparser header format as a regex whose `Content` group is the message."""
    pieces = re.split(r"(<[^<>]+>)", fmt)
    pattern = ""
    for piece in pieces:
        if piece.startswith("<") and piece.endswith(">"):
            pattern += f"(?P<{piece[1:-1]}>.*?)"
        else:
            pattern += re.sub(" +", r"\\s+", piece)
    return re.compile(f"^{pattern}$")


def openstack(data: Path, lines: int) -> Workload:
    """The first `lines` service-log messages of the openstack-fi runs, in time order."""
    root = data / "openstack-fi"
    with (root / "subset_index.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    runs = []
    for row in rows:
        offset = timedelta(hours=float(row["tz_offset_h"]))
        for round_ in (1, 2):
            started = datetime.fromisoformat(row[f"wl_start_r{round_}"]) - offset
            folder = root / "tests" / row["subsystem"] / row["test"] / "logs" / f"round_{round_}"
            runs.append((started, str(folder), folder))
    messages: Workload = []
    for _, _, folder in sorted(runs):
        messages.extend(_run_messages(folder))
        if len(messages) >= lines:
            break
    return messages[:lines]


def _run_messages(folder: Path) -> Workload:
    stamped: list[tuple[str, int, str, str]] = []
    for path in sorted(folder.glob("*/*.log*")):
        if path.parent.name == "foreground_wl":
            continue
        name = path.name.split(".log")[0]
        service = name if name.startswith(path.parent.name) else f"{path.parent.name}-{name}"
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                found = _SERVICE_LINE.match(line)
                if found:
                    stamp, message = found.groups()
                    stamped.append((stamp, len(stamped), service, message.rstrip("\r\n")))
    stamped.sort()
    return [(service, message) for _, _, service, message in stamped]


def loghub(data: Path, system: str, *, copies: int, redraw: str, seed: int = 7) -> Workload:
    """`copies` copies of `<S>_2k.log`; digits re-drawn in copies 1.. (`redraw`: see module)."""
    raw = (data / "loghub-2k" / system / f"{system}_2k.log").read_text("utf-8", "replace")
    lines = raw.splitlines()
    header = header_regex(LOGPARSER_DRAIN[system]["fmt"])
    rng = random.Random(seed)
    redraws: dict[str, Callable[[re.Match[str]], str]] = {
        "varlen": lambda m: _digits(rng, rng.randint(1, len(m.group()) + 2)),
        "recipe": lambda m: _digits(rng, len(m.group())),
    }
    messages: Workload = []
    for copy in range(copies):
        for line in lines:
            if copy and redraw in redraws:
                line = _DIGITS.sub(redraws[redraw], line)
            found = header.match(line.strip())
            messages.append(("", found.group("Content") if found else line))
    return messages


def _digits(rng: random.Random, length: int) -> str:
    return "".join(rng.choices("0123456789", k=length))


def workload(data: Path, name: str) -> Workload:
    """The workload called `name` (``openstack-100000``, ``HDFS-varlen-50``, ...)."""
    kind, _, size = name.rpartition("-")
    if kind == "openstack":
        return openstack(data, int(size))
    system, redraw = kind.rsplit("-", 1)
    return loghub(data, system, copies=int(size), redraw=redraw)


def drain3_miner(system: str) -> Any:
    """drain3 with the logparser benchmark's depth, similarity and masking for `system`."""
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    setting = LOGPARSER_DRAIN[system]
    config = TemplateMinerConfig()
    config.profiling_enabled = False
    config.drain_depth = setting["depth"]
    config.drain_sim_th = setting["st"]
    config.masking_instructions = [MaskingInstruction(rx, "*") for rx in setting["regex"]]
    return TemplateMiner(config=config)
