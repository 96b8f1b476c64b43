"""docs/detectors.md, "Template mining": the example prints what the page says; every heuristic
is in its table; the heuristics' docstring examples run."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

from premortem.logs import heuristics
from premortem.logs.heuristics import Heuristics

PAGE = Path(__file__).parents[3] / "docs" / "detectors.md"


def _section() -> str:
    page = PAGE.read_text()
    return page[page.index("## Template mining") : page.index("## Benchmark")]


def test_the_mining_example_prints_what_the_page_says(capsys: pytest.CaptureFixture[str]) -> None:
    section = _section()
    code = re.search(r"```python\n(.*?)```", section, re.S)
    shown = re.search(r"prints\n\n```\n(.*?)```", section, re.S)
    assert code and shown
    exec(compile(code.group(1), "docs/detectors.md", "exec"), {})
    assert capsys.readouterr().out == shown.group(1)


def test_every_heuristic_is_documented_with_its_default() -> None:
    rows = {
        line.split("|")[1].strip(" `"): line.split("|")[2].strip(" `")
        for line in _section().splitlines()
        if line.startswith("| `")
    }
    defaults = Heuristics()
    assert rows == {name: str(getattr(defaults, name)) for name in Heuristics.names()}


def test_heuristics_docstring_examples() -> None:
    result = doctest.testmod(heuristics)
    assert result.attempted > 0 and result.failed == 0
