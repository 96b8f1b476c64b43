"""The orders lab's parts without its processes: the volume fills to its last byte and then the
ledger fails with ENOSPC; a stuck worker is reported; and the app's text lines, shipped one by one
as the lab ships them, reach premortem as one record per message — a `logger.exception`
traceback folded into its ERROR line — with the level the line names."""

from __future__ import annotations

import errno
import json
import logging
import time
from pathlib import Path

import pytest

from premortem.ingest.native import parse_logs
from premortem.labs.orders import MIB, Orders, Volume, supervisor_log
from premortem.labs.orders_lab import FAULTS, ORDERS
from premortem.labs.runner import RunResult, native_document, plan_suite
from premortem.labs.shipping import TextLineShipper

SECOND = 1_000_000_000


def test_a_dump_fills_the_volume_to_its_last_byte_then_the_ledger_gets_enospc() -> None:
    volume = Volume(size_mib=1.0, used_mib=0.5)
    volume.write(1000)
    volume.dump_into(2 * MIB)  # more than is left: as much as fits
    assert volume.share() == 1.0
    with pytest.raises(OSError) as raised:
        volume.write(180)
    assert raised.value.errno == errno.ENOSPC
    assert volume.remove_dump() > 0 and volume.share() < 0.6
    volume.write(180)  # the rollback frees the volume


def test_a_worker_stuck_over_two_seconds_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    orders = Orders(Volume())
    state = orders.workers[0]
    state.busy_since, state.doing = time.monotonic() - 2.5, "sending the receipt for order 7"
    with caplog.at_level(logging.WARNING, logger=supervisor_log.name):
        orders.supervise()
        orders.supervise()  # reported again only after another two seconds
    assert [r.getMessage()[:60] for r in caplog.records] == [
        "worker orders-worker-1 stuck sending the receipt for order 7 for 2.5 s"[:60]
    ]


def test_an_orders_suite_plans_both_faults_and_a_slower_pace_stalls_more_slowly() -> None:
    plans = plan_suite(runs_per_fault=2, fault_free=1, seed=3, system=ORDERS, pace=3)
    assert sorted(p.fault or "" for p in plans) == ["", *sorted([*FAULTS] * 2)]
    stall = next(p for p in plans if p.fault == "worker_stall")
    result = RunResult(stall, 100 * SECOND, fault_ns=104 * SECOND, ended_ns=130 * SECOND)
    result.failed_probes, result.probes = 2, 50
    doc = native_document(result, seed=3)
    assert doc["service"] == "orders-api"
    assert doc["actual_outcome"] == "2 of 50 order probes failed"
    (fault,) = doc["injected_faults"]
    assert (fault["target"], fault["stalls_per_s"]) == ("orders-worker", 0.15)


def test_text_lines_shipped_one_by_one_are_one_record_per_message(tmp_path: Path) -> None:
    shipper = TextLineShipper("orders-api", path=tmp_path / "orders.jsonl", flush_interval_s=60)
    log = logging.getLogger("orders.test-shipping")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(shipper)
    try:
        log.warning("volume /var/lib/orders is %d%% full", 81)
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/var/lib/orders/ledger.log")
        except OSError:
            log.exception("could not write order %d to the ledger", 1234)
        log.info("order %d settled in %d ms", 1235, 12)
    finally:
        log.removeHandler(shipper)
        shipper.close()
    sent = [json.loads(line) for line in (tmp_path / "orders.jsonl").read_text().splitlines()]
    assert len(sent) > 3 and not any("severity_text" in r for r in sent), "a tailer's lines"
    assert sent[0]["body"].split(" ")[2:4] == ["WARNING", "orders.test-shipping:"]
    records = parse_logs(json.dumps(sent), now_ns=0)
    assert [r.severity_text for r in records] == ["WARN", "ERROR", "INFO"]
    failed = records[1].body.splitlines()
    assert failed[0].endswith("could not write order 1234 to the ledger")
    assert failed[1] == "Traceback (most recent call last):"
    assert failed[-1].startswith("OSError: [Errno 28] No space left on device")


def test_a_stalled_receipt_holds_its_worker_until_the_client_recovers() -> None:
    import threading

    orders = Orders(Volume())
    state, stop = orders.workers[0], threading.Event()
    worker = threading.Thread(target=orders.work, args=(state, stop), daemon=True)
    worker.start()
    try:
        orders.stall_next_receipt()
        status, _ = orders.place("P-0001", 1)
        assert status == 200, "the order is settled before its receipt hangs"
        deadline = time.monotonic() + 5
        while not state.doing.startswith("sending the receipt") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert state.busy_since, "the worker is stuck on the receipt"
        orders.release_stuck()
        while state.busy_since and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not state.busy_since, "the receipt returned: the worker is free again"
        assert orders.place("P-0002", 1)[0] == 200
    finally:
        stop.set()
        orders.release_stuck()
        worker.join(2)


def test_a_capped_dump_stops_short_of_a_full_volume() -> None:
    """`--harmless`: the same fault held below what breaks the system — warnings, no failure."""
    from premortem.labs.orders import WARN_SHARE, Faults
    from premortem.labs.orders_lab import HARMLESS

    orders = Orders(Volume())
    faults = Faults(orders)
    capped = HARMLESS["disk_fill_capped"]
    faults.inject("disk-fill", {**capped.body, "mib_per_s": 80.0})  # the same cap, sooner
    deadline = time.monotonic() + 5
    while orders.volume.share() < WARN_SHARE and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # it would fill the volume in a quarter of a second if it went on
    assert WARN_SHARE <= orders.volume.share() < 0.85
    orders.volume.write(180)  # the ledger still has room
    assert faults.clear()["freed_mib"] == 8.0
