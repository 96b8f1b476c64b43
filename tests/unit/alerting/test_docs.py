"""docs/alerting.md's example runs and prints what the page says it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).parents[3] / "docs" / "alerting.md"


def test_example_output_matches_the_page() -> None:
    example = DOC.read_text().split("## Example", 1)[1]
    code = re.search(r"```python\n(.*?)```", example, re.S)
    expected = re.search(r"```text\n(.*?)```", example, re.S)
    assert code and expected
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), str(DOC), "exec"), {})
    assert out.getvalue() == expected.group(1)
