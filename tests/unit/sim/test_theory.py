"""The queueing machinery against closed forms (M/M/c: Erlang C; M/M/c/K: stationary distribution).

Estimates come from the public per-second series, after a short warm-up. The mean queue wait is a
noisy statistic (its run-to-run spread is about 2% at 600 simulated seconds), hence long runs and
a 5% tolerance; utilisation and the M/M/c/K quantities settle much faster.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from premortem.domain import SimulationRun
from premortem.sim import run_model

WARM_UP_S = 10


def erlang_c(servers: int, offered: float) -> float:
    """P(an arrival waits) in M/M/c with offered load a = λ/μ."""
    below = sum(offered**k / math.factorial(k) for k in range(servers))
    top = offered**servers / math.factorial(servers) * servers / (servers - offered)
    return top / (below + top)


def mmck_distribution(servers: int, capacity: int, offered: float) -> list[float]:
    weights = [
        offered**n / math.factorial(n)
        if n <= servers
        else offered**n / (math.factorial(servers) * servers ** (n - servers))
        for n in range(capacity + 1)
    ]
    total = sum(weights)
    return [w / total for w in weights]


def steady(run: SimulationRun, name: str) -> np.ndarray:
    series = run.series_named(name)
    assert series is not None, name
    return np.array(series.values[WARM_UP_S:], dtype=float)


@pytest.mark.parametrize(
    ("rate", "servers", "service_s"),
    [(300.0, 5, 0.01), (800.0, 10, 0.01)],
    ids=["rho=0.6,c=5", "rho=0.8,c=10"],
)
def test_mmc_utilisation(rate: float, servers: int, service_s: float) -> None:
    run = run_model(
        "mmc", {"request_rate": rate, "workers": servers, "service_time_s": service_s},
        seed=11, duration_s=300,
    )  # fmt: skip
    expected = rate * service_s / servers
    measured = steady(run, "worker_utilisation").mean()
    assert measured == pytest.approx(expected, rel=0.02)


def test_mmc_mean_wait_matches_erlang_c() -> None:
    rate, servers, service_s = 300.0, 5, 0.01
    run = run_model(
        "mmc", {"request_rate": rate, "workers": servers, "service_time_s": service_s},
        seed=3, duration_s=1800,
    )  # fmt: skip
    offered = rate * service_s
    expected_wait = erlang_c(servers, offered) / (servers / service_s - rate)
    # Little's law on the time-averaged queue: Wq = Lq / λ.
    measured_wait = steady(run, "queue_length").mean() / steady(run, "arrival_rate").mean()
    assert measured_wait == pytest.approx(expected_wait, rel=0.05)


@pytest.mark.parametrize(
    ("rate", "servers", "capacity"),
    [(300.0, 3, 6), (250.0, 2, 5)],
    ids=["c=3,K=6,a=3", "c=2,K=5,a=2.5"],
)
def test_mmck_blocking_and_mean_number_in_system(rate: float, servers: int, capacity: int) -> None:
    service_s = 0.01
    run = run_model(
        "mmck",
        {"request_rate": rate, "workers": servers, "service_time_s": service_s, "capacity": capacity},
        seed=5, duration_s=300,
    )  # fmt: skip
    distribution = mmck_distribution(servers, capacity, rate * service_s)
    expected_blocking = distribution[-1]
    expected_in_system = sum(n * p for n, p in enumerate(distribution))

    arrivals = steady(run, "arrival_rate")
    blocking = (arrivals * steady(run, "drop_rate")).sum() / arrivals.sum()
    in_system = (
        steady(run, "queue_length").mean() + servers * steady(run, "worker_utilisation").mean()
    )

    assert blocking == pytest.approx(expected_blocking, rel=0.04)
    assert in_system == pytest.approx(expected_in_system, rel=0.02)


def test_mmck_never_holds_more_than_capacity() -> None:
    run = run_model(
        "mmck", {"request_rate": 2000, "workers": 2, "service_time_s": 0.01, "capacity": 4},
        duration_s=20,
    )  # fmt: skip
    assert steady(run, "queue_length").max() <= 2 + 1e-9
    assert steady(run, "drop_rate").mean() > 0.8
