"""`premortem mine`, tried through a throwaway typer app."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import typer
from typer.testing import CliRunner

from premortem.commands.mine import register


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        """Keep `mine` a named subcommand."""

    return app


def test_mine_writes_one_row_per_line_in_order() -> None:
    lines = ["VM Started", "VM Paused", 'said "hi", 3 times', "VM Started", ""]
    result = CliRunner().invoke(_app(), ["mine"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["line", "template_id", "template"]
    assert [row[0] for row in rows[1:]] == ["1", "2", "3", "4", "5"]
    assert rows[1][1] == rows[4][1] != rows[2][1]
    assert rows[3][2] == 'said "hi", <*> times'


def test_mine_reads_and_writes_files(tmp_path: Path) -> None:
    source = tmp_path / "in.log"
    source.write_text("job 1 done\njob 2 done\r\n", encoding="utf-8")
    target = tmp_path / "out.csv"
    result = CliRunner().invoke(_app(), ["mine", "--input", str(source), "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == (
        "line,template_id,template\n1,1,job <*> done\n2,1,job <*> done\n"
    )


def test_mine_reports_a_missing_file_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["mine", "--input", str(tmp_path / "nope.log")])
    assert result.exit_code == 1
    assert "premortem mine:" in result.output
