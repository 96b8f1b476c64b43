"""The vocabulary `learn/` and `sim/` share (premortem.conditions): one definition, both use it."""

from __future__ import annotations

import doctest

import premortem.conditions as conditions_module
from premortem import sim
from premortem.conditions import CONDITIONS, FAULT, NO_FAULT, conditions
from premortem.learn import network


def test_the_doctests_pass() -> None:
    assert doctest.testmod(conditions_module).failed == 0


def test_learn_and_sim_use_the_same_words() -> None:
    assert (network.FAULT, network.NO_FAULT) == (FAULT, NO_FAULT)
    assert sim.conditions is conditions and sim.CONDITIONS is CONDITIONS
