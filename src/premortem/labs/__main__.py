"""`python -m premortem.labs record OUT_DIR --runs-per-fault N --fault-free M --seed S`
`python -m premortem.labs run --premortem URL --runs-per-fault N --fault-free M --seed S`

Both take `--system inventory|bookings|orders` (which lab), `--pace P` (fault ramps P times
slower) and `--noise R` (client mistakes per second that the app rejects with an ERROR line):
see docs/labs.md."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

from premortem.labs.record import record_suite
from premortem.labs.runner import RunResult, plan_suite, run_suite, scratch_dir
from premortem.labs.systems import SYSTEMS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m premortem.labs")
    commands = parser.add_subparsers(dest="command", required=True)
    record = commands.add_parser("record", help="record a suite to a directory")
    record.add_argument("out_dir", type=Path)
    live = commands.add_parser("run", help="run a suite live against a premortem server")
    live.add_argument("--premortem", default="http://127.0.0.1:8080")
    for sub in (record, live):
        sub.add_argument("--runs-per-fault", type=int, default=6)
        sub.add_argument("--fault-free", type=int, default=6)
        sub.add_argument("--seed", type=int, default=1)
        sub.add_argument(
            "--system", choices=sorted(SYSTEMS), default="inventory",
            help="inventory (inventory-api, supplier-api), bookings (bookings-api on PostgreSQL) "
            "or orders (orders-api: a queue, workers, a ledger; text logs)",
        )  # fmt: skip
        sub.add_argument(
            "--pace", type=float, default=1.0,
            help="fault ramps this many times slower (6: failures 22-77 s after the fault)",
        )  # fmt: skip
        sub.add_argument(
            "--harmless", type=int, default=0, metavar="N",
            help="N runs of each harmless fault (held below what breaks the system; orders)",
        )  # fmt: skip
        sub.add_argument(
            "--noise", type=float, default=0.0, metavar="PER_S",
            help="client mistakes per second the app rejects with an ERROR line",
        )  # fmt: skip
    args = parser.parse_args(argv)
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    if args.command == "record":
        summary = record_suite(
            args.out_dir,
            runs_per_fault=args.runs_per_fault,
            fault_free=args.fault_free,
            seed=args.seed,
            pace=args.pace,
            noise_per_s=args.noise,
            system=args.system,
            harmless_runs=args.harmless,
            say=say,
        )
        print(json.dumps(summary))
        return 0
    make_lab, system = SYSTEMS[args.system]
    plans = plan_suite(
        runs_per_fault=args.runs_per_fault,
        fault_free=args.fault_free,
        seed=args.seed,
        pace=args.pace,
        system=system,
        harmless_runs=args.harmless,
    )
    with httpx.Client(base_url=args.premortem, timeout=30) as http:

        def send(result: RunResult) -> None:
            http.post("/api/v1/test-runs", json=result.doc).raise_for_status()

        lab = make_lab(
            scratch_dir(), premortem_url=args.premortem, seed=args.seed, noise_per_s=args.noise
        )
        try:
            lab.start()
            results = run_suite(lab, plans, send, say=say)
        finally:
            lab.close()
    print(json.dumps([r.truth() for r in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
