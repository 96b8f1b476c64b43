"""A small synthetic campaign in the layout of the OpenStack fault-injection dataset.

Written from scratch (the real dataset is AGPL): one subsystem, `n` experiments ten minutes apart.
Experiments alternate between a delayed failure (an ERROR template from the fault on, the workload's
assertion failing 60 s later) and a harmless fault (a WARNING that never becomes a failure); round 2
is always fault-free. Clocks are local time at UTC+2, like the Nova campaign.
"""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta
from pathlib import Path

START = datetime(2018, 6, 26, 3, 0, 0)
TZ_OFFSET_H = 2
ROUND_S = 200
ACTIVATION_S = 60
FAILURE_AFTER_S = 60


def _stamp(when: datetime, digits: int = 3) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")[: 20 + digits]


def _service_lines(start: datetime, *, fault: str | None) -> list[str]:
    lines = []
    for second in range(ROUND_S):
        now = start + timedelta(seconds=second)
        lines.append(
            f"{_stamp(now)} 1867 DEBUG nova.compute.resource_tracker [req-{second:08d}-0000"
            f"-0000-0000-000000000000 admin] Auditing locally available resources "
            f"for node{second % 3}"
        )
        if second % 7 == 0:
            lines.append(
                f"{_stamp(now)} 1867 INFO nova.compute.manager [-] Instance spawned in "
                f"{second / 10:.1f} seconds"
            )
        if fault and second >= ACTIVATION_S and second % 5 == 0:
            if fault == "failing":
                lines.append(
                    f"{_stamp(now)} 1867 ERROR nova.compute.manager [-] Failed to attach "
                    f"volume vol-{second} to instance: TimeoutError"
                )
                lines.append("Traceback (most recent call last):")
                lines.append('  File "manager.py", line 12, in attach')
            else:
                lines.append(
                    f"{_stamp(now)} 1867 WARNING nova.compute.manager [-] Retrying "
                    f"connection to db host 10.0.0.{second % 9}"
                )
    return lines


def _write(path: Path, lines: list[str], *, compress: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(line + "\n" for line in lines)
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")


def write_campaign(root: Path, n: int = 8, *, compress: bool = True) -> Path:
    """Write `n` experiments under `root` and return `root`."""
    index = ["subsystem,test,category,tz_offset_h"]
    for number in range(1, n + 1):
        failing = number % 2 == 1
        test = root / "tests" / "Nova" / f"Test_{number}"
        start = START + timedelta(minutes=10 * number)
        (test).mkdir(parents=True, exist_ok=True)
        (test / "fip_info.data").write_text(
            "FAULT TYPE: OPENSTACK_MISSING_FUNCTION_CALL-VOLUME\n"
            "TARGET COMPONENT: /nova/compute/manager.py\nTARGET CLASS: ComputeManager\n"
            "TARGET FUNCTION DEF: do_attach_volume+4920;8\n",
            encoding="utf-8",
        )
        for round_no in (1, 2):
            begin = start + timedelta(seconds=(round_no - 1) * (ROUND_S + 20))
            logs = test / "logs" / f"round_{round_no}"
            fault = ("failing" if failing else "harmless") if round_no == 1 else None
            _write(
                logs / "nova" / "nova-compute.log",
                _service_lines(begin, fault=fault),
                compress=compress,
            )
            workload = logs / "foreground_wl" / f"openstack_demo_workload-{number}"
            out = [f"{_stamp(begin, 6)} INFO [sample_workload.sh]: Workload started!"]
            out.append(
                f"{_stamp(begin + timedelta(seconds=ROUND_S), 6)} INFO "
                "[sample_workload.sh]: Workload ended"
            )
            _write(workload.with_name(workload.name + ".out.log"), out, compress=compress)
            err = []
            if fault == "failing":
                when = begin + timedelta(seconds=ACTIVATION_S + FAILURE_AFTER_S)
                err.append(
                    f"{_stamp(when, 6)} INFO [sample_workload.sh]: Assertion results: "
                    "FAILURE_VOLUME_ATTACHED"
                )
            _write(workload.with_name(workload.name + ".err.log"), err, compress=compress)
            if round_no == 1:
                trigger = begin + timedelta(seconds=ACTIVATION_S)
                (logs / "trigger_log").write_text(
                    f"{_stamp(trigger, 6)} [manager.pyc]: Injection activated!\n", encoding="utf-8"
                )
        category = "failure_delayed" if failing else "no_failure"
        index.append(f"Nova,Test_{number},{category},{TZ_OFFSET_H}")
    (root / "subset_index.csv").write_text("\n".join(index) + "\n", encoding="utf-8")
    return root


if __name__ == "__main__":
    import sys

    write_campaign(Path(sys.argv[1]))
