"""The examples in the detector and window docstrings run."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from premortem.detect import analyzer, rates, sequence, templates
from premortem.logs import windows


@pytest.mark.parametrize("module", [analyzer, rates, sequence, templates, windows])
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
