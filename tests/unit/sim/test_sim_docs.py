"""docs/simulation.md: its example prints what the page says, and its parameter tables are true."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from premortem.sim import MODELS

DOC = Path(__file__).parents[3] / "docs" / "simulation.md"


def test_example_output_matches_the_page() -> None:
    example = DOC.read_text().split("## Example", 1)[1]
    code = re.search(r"```python\n(.*?)```", example, re.S)
    expected = re.search(r"```text\n(.*?)```", example, re.S)
    assert code and expected
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), str(DOC), "exec"), {})
    assert out.getvalue() == expected.group(1)


def test_every_parameter_is_documented_with_its_default() -> None:
    text = DOC.read_text()
    for spec in MODELS.values():
        for param in spec.params:
            default = int(param.default) if param.kind == "int" else param.default
            assert re.search(rf"\| `{param.name}`[^|]*\| {default:g} \|", text), param.name
