from __future__ import annotations

from pathlib import Path

import pytest

from premortem.domain import datetime_to_ns
from premortem.learn.openstack_backtest import split
from premortem.learn.openstack_fi import discover, failure_kind

FIXTURE = Path(__file__).parents[2] / "fixtures" / "openstack_fi"


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("Assertion results: FAILURE_VOLUME_ATTACHED", "FAILURE_VOLUME_ATTACHED"),
        (
            "API ERROR:  openstack router add subnet r-1 s-1 ; HttpException: 500",
            "API_ERROR:router",
        ),
        (
            "API ERROR:  cinder list --all-tenant ; ERROR: The server has either erred",
            "API_ERROR:cinder list",
        ),
    ],
)
def test_failure_kind(line: str, kind: str) -> None:
    assert failure_kind(line) == kind


def test_experiments_become_native_test_runs() -> None:
    experiments = discover(FIXTURE)
    assert [e.name for e in experiments][:3] == ["Test_1", "Test_2", "Test_3"]
    faulty, fault_free = experiments[0].runs
    assert faulty.failed and not fault_free.failed
    assert faulty.failure_details == "Assertion results: FAILURE_VOLUME_ATTACHED"
    assert faulty.model_extra and faulty.model_extra["failure_kind"] == "FAILURE_VOLUME_ATTACHED"
    (fault,) = faulty.injected_faults
    assert fault.type == "OPENSTACK_MISSING_FUNCTION_CALL-VOLUME"
    assert fault.target == "/nova/compute/manager.py:do_attach_volume+4920"
    # local 03:10:00 at UTC+2, activation 60 s in, failure 60 s later
    assert faulty.timestamp.isoformat() == "2018-06-26T01:10:00+00:00"
    assert faulty.failure_time is not None
    assert (datetime_to_ns(faulty.failure_time) - datetime_to_ns(faulty.timestamp)) == 120 * 10**9
    assert fault_free.injected_faults == []


def test_service_logs_attach_continuation_lines_and_convert_to_utc() -> None:
    experiment = discover(FIXTURE)[0]
    records = experiment.logs(experiment.runs[0])
    assert records == sorted(records, key=lambda r: r.time_ns)
    errors = [r for r in records if r.is_error]
    assert errors and errors[0].body.endswith('  File "manager.py", line 12, in attach')
    assert errors[0].service == "nova-compute"
    assert errors[0].attributes["logger"] == "nova.compute.manager"
    assert records[0].time_ns == datetime_to_ns(experiment.runs[0].timestamp)


def test_split_keeps_earlier_half_for_training() -> None:
    earlier, later = split(discover(FIXTURE))
    assert [e.name for e in earlier] == ["Test_1", "Test_2", "Test_3", "Test_4"]
    assert [e.name for e in later] == ["Test_5", "Test_6", "Test_7", "Test_8"]
