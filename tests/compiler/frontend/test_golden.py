"""Golden diagnostics: each broken program in golden/*.rps gives exactly the diagnostics in its .expected file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rpsc import CompileError
from rpsc.frontend.check import check
from rpsc.frontend.parser import parse

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.rps"))
HEADER = re.compile(r"^[\w.]+\.rps:\d+:\d+: error: \S")


def diagnose(name: str) -> str:
    """Every diagnostic of parsing and checking golden/<name>.rps, rendered with its source."""
    text = (GOLDEN / f"{name}.rps").read_text(encoding="utf-8")
    path = f"{name}.rps"
    try:
        check([parse(text, path)])
    except CompileError as exc:
        return "\n".join(d.render(text) for d in exc.diagnostics) + "\n"
    return ""


def test_enough_cases() -> None:
    """There are at least 25 golden broken programs."""
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str, update_golden: bool) -> None:
    """The program is rejected, and its diagnostics (message, line, column, caret, hint) match the golden file."""
    out = diagnose(name)
    assert out, f"{name}.rps was accepted"
    assert HEADER.match(out), out
    expected_file = GOLDEN / f"{name}.expected"
    if update_golden or not expected_file.exists():
        if not update_golden:
            pytest.fail(f"no golden file {expected_file.name}; run pytest with --update-golden")
        expected_file.write_text(out, encoding="utf-8")
    assert out == expected_file.read_text(encoding="utf-8")
