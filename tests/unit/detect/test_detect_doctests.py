"""The examples in the detector and window docstrings, and in docs/detectors.md, run."""

from __future__ import annotations

import doctest
import re
from pathlib import Path
from types import ModuleType

import pytest

from premortem.detect import analyzer, rates, sequence, templates
from premortem.logs import windows


@pytest.mark.parametrize("module", [analyzer, rates, sequence, templates, windows])
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_the_example_in_docs_prints_what_the_page_says(capsys: pytest.CaptureFixture[str]) -> None:
    page = (Path(__file__).parents[3] / "docs" / "detectors.md").read_text()
    code = re.search(r"```python\n(.*?)```", page, re.S)
    shown = re.search(r"prints\n\n```\n(.*?)```", page, re.S)
    assert code and shown
    exec(compile(code.group(1), "docs/detectors.md", "exec"), {})
    assert capsys.readouterr().out == shown.group(1)
