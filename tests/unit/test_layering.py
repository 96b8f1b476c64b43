"""Issue 14: who may import whom. Read from the source (`ast`), so lazy imports count too.

- routes and pages hold no SQL: nothing in `service/` imports sqlalchemy; neither does
  `alerting/` (its SQL repository is `store/alerts.py`) nor `evaluation/`;
- no cycle between `learn/` and `sim/`: their shared words live in `premortem.conditions`;
- the store keeps what the miner counts without knowing the miner: `store/` never imports
  `logs/` (the plain types are in `premortem.counts`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "premortem"

# (package whose modules are checked, module it must not import, why)
RULES = [
    ("premortem.service", "sqlalchemy", "routes and pages call repositories in store/"),
    ("premortem.alerting", "sqlalchemy", "the alert repository lives in store/alerts.py"),
    ("premortem.evaluation", "sqlalchemy", "the history backtest reads logs via store/overview.py"),
    ("premortem.learn", "premortem.sim", "shared vocabulary lives in premortem.conditions"),
    ("premortem.sim", "premortem.learn", "What-If takes a posterior function"),
    ("premortem.store", "premortem.logs", "window and template types live in premortem.counts"),
]


def imported(source: str) -> Iterator[tuple[int, str]]:
    """(line, module name) of every import in a module's source, at any depth (lazy ones too)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            yield node.lineno, base
            # `from premortem import sim` imports the package `premortem.sim`
            yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations(package: str, forbidden: str) -> list[str]:
    folder = SRC.joinpath(*package.split("."))
    return [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in sorted(folder.rglob("*.py"))
        for line, name in imported(path.read_text(encoding="utf-8"))
        if _within(name, forbidden)
    ]


@pytest.mark.parametrize(
    ("package", "forbidden", "why"), RULES, ids=[f"{p}-{f}" for p, f, _ in RULES]
)
def test_package_does_not_import(package: str, forbidden: str, why: str) -> None:
    assert violations(package, forbidden) == [], f"{package} must not import {forbidden}: {why}"


def test_the_alert_repository_has_one_home() -> None:
    assert not (PACKAGE / "alerting" / "sql.py").exists()
    assert (PACKAGE / "store" / "alerts.py").exists()


def test_imports_are_absolute_so_the_rules_see_them() -> None:
    relative = [
        f"{path.relative_to(SRC)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, name in imported(path.read_text(encoding="utf-8"))
        if name.startswith(".")
    ]
    assert relative == []


def test_the_checker_sees_lazy_and_package_imports() -> None:
    source = "def f():\n    from premortem import sim\n    import sqlalchemy.orm\n"
    found = [name for _, name in imported(source)]
    assert found == ["premortem", "premortem.sim", "sqlalchemy.orm"]
    assert _within("premortem.sim.whatif", "premortem.sim")
    assert _within("sqlalchemy.orm", "sqlalchemy")
    assert not _within("premortem.simulation", "premortem.sim")
