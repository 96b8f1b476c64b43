"""premortem.store.text: what every database is given in place of text it refuses (no I/O)."""

from __future__ import annotations

import doctest

import orjson
import pytest

from premortem.ingest import identity
from premortem.store import text

R = "\ufffd"


def test_doctests() -> None:
    for module in (text, identity):
        assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (("a\x00", 1, None), ("a" + R, 1, None)),
        ({"k": "\ud800x", "n": 2}, {"k": R + "x", "n": 2}),
        ([("\x00",), ("ok",)], [(R,), ("ok",)]),
        ([{"a": "\x00"}], [{"a": R}]),
        (["x\x00", "y"], ["x" + R, "y"]),
    ],
)
def test_parameters_are_made_storable(parameters: object, expected: object) -> None:
    assert text.storable_parameters(parameters) == expected


def test_clean_parameters_are_passed_through_untouched() -> None:
    rows = [("a", 1), ("b", 2)]
    assert text.storable_parameters(rows) is rows
    mapping = {"a": "é", "b": b"\x00"}
    assert text.storable_parameters(mapping) is mapping


def test_json_has_no_nul_escape_and_no_surrogate() -> None:
    doc = {"k\x00": ["\x00", "\ud800", "\\u0000 stays"], "big": 2**70}
    dumped = text.json_dumps(doc)
    assert "\\u0000" not in dumped.replace("\\\\u0000", "")
    assert orjson.loads(dumped) == {f"k{R}": [R, R, "\\u0000 stays"], "big": float(2**70)}
