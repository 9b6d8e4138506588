"""`rpsc fmt`: the canonical form with comments kept where they stand; idempotent; the examples are formatted."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rpsc.driver.cli import main
from rpsc.frontend.fmt import _tokens, format_source, scan_comments
from rpsc.frontend.parser import parse
from rpsc.frontend.printer import print_module
from strategies_rps import modules

from .conftest import EXAMPLES

MESSY = """// header comment


module   demo version "1.0.0"; // trailing on module
/* block
   comment */
fn f(a: int, /* inline */ b: int) -> int {   // after brace
    // leading in body
    var x = ((a + b));  // why


    if x > 1 { return x; } // after if
    while x > 100 {
        x = x / 2;
        // last in loop
    }
    return 0;
    // before closing brace
}
// at end
"""

TIDY = """// header comment

module demo version "1.0.0";  // trailing on module

/* block
   comment */
fn f(a: int, /* inline */ b: int) -> int {  // after brace
    // leading in body
    var x = a + b;  // why

    if x > 1 {
        return x;
    }  // after if
    while x > 100 {
        x = x / 2;
        // last in loop
    }
    return 0;
    // before closing brace
}
// at end
"""


def test_comments_stay_where_they_stand() -> None:
    """Own-line, trailing, inline and block comments keep their places through reformatting; one blank line
    of several is kept, parentheses and spacing become canonical."""
    assert format_source(MESSY, "demo.rps") == TIDY
    assert format_source(TIDY, "demo.rps") == TIDY


def test_the_examples_are_formatted(capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc fmt --check` accepts every example module as it is (they are kept formatted)."""
    files = sorted(str(p) for p in EXAMPLES.glob("*.rps"))
    assert files
    assert main(["fmt", "--check", *files]) == 0, capsys.readouterr().out
    for f in files:
        text = Path(f).read_text(encoding="utf-8")
        assert format_source(text, f) == text


def test_cli_rewrites_checks_and_keeps_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc fmt FILE` rewrites in place keeping the file's mode; --check lists unformatted files, exit 1;
    --diff prints a unified diff and writes nothing."""
    f = tmp_path / "demo.rps"
    f.write_text(MESSY)
    f.chmod(0o640)
    assert main(["fmt", "--check", str(f)]) == 1
    assert f"{f}: not formatted" in capsys.readouterr().out
    assert main(["fmt", "--diff", str(f)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"--- a/{f}") and "-    var x = ((a + b));  // why" in out and f.read_text() == MESSY
    assert main(["fmt", str(f)]) == 0
    assert f.read_text() == TIDY and stat.S_IMODE(os.stat(f).st_mode) == 0o640
    assert main(["fmt", "--check", str(f)]) == 0


def test_a_file_that_does_not_parse_is_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A syntax error is reported with its location, status 1, the file untouched, the other files done."""
    bad, good = tmp_path / "bad.rps", tmp_path / "good.rps"
    bad.write_text('module bad;\nfn f() -> int { return 1 }\n')
    good.write_text(MESSY)
    assert main(["fmt", str(bad), str(good)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:2:25: error:" in err and "Traceback" not in err
    assert bad.read_text() == 'module bad;\nfn f() -> int { return 1 }\n' and good.read_text() == TIDY


def test_stdin_to_stdout(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc fmt -` formats standard input to standard output."""
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(MESSY))
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr().out == TIDY


@st.composite
def commented_sources(draw: st.DrawFn) -> tuple[str, object, list[str]]:
    """A generated module printed, then re-spaced at random with comments between its tokens."""
    module = draw(modules(max_functions=3))
    text = print_module(module)
    code, _ = _tokens(text)
    out: list[str] = []
    comments: list[str] = []
    for i, tok in enumerate(code):
        out.append(tok.text)
        if i + 1 < len(code) and tok.text == "-" and code[i + 1].text[0].isdigit():
            continue  # `-5` is one literal: keep it together
        kind = draw(st.integers(0, 9))
        indent = " " * draw(st.integers(0, 6))
        if kind == 0:
            comments.append(f"// c{len(comments)}")
            out.append(f"  {comments[-1]}\n{indent}")
        elif kind == 1:
            comments.append(f"/* c{len(comments)} */")
            out.append(f" {comments[-1]} ")
        elif kind == 2:
            comments.append(f"// c{len(comments)}")
            out.append(f"\n{'' if draw(st.booleans()) else chr(10)}{indent}{comments[-1]}\n{indent}")
        elif kind == 3:
            out.append("\n\n" + indent)
        else:
            out.append(draw(st.sampled_from([" ", "\n" + indent, "  "])))
    return "".join(out), module, comments


@settings(max_examples=120)
@given(commented_sources())
def test_formatting_is_idempotent_and_keeps_every_comment(case: tuple[str, object, list[str]]) -> None:
    """For random modules with comments anywhere: the output parses to the same module, holds every comment
    in order, and formatting it again changes nothing."""
    source, module, comments = case
    once = format_source(source, "gen.rps")
    assert parse(once, "gen.rps") == module
    assert [c.text for c in scan_comments(once)[1]] == comments
    assert format_source(once, "gen.rps") == once


@settings(max_examples=60)
@given(modules(max_functions=3))
def test_printed_modules_are_already_formatted(module: object) -> None:
    """The printer's canonical text is a fixed point of the formatter."""
    text = print_module(module)  # type: ignore[arg-type]
    assert format_source(text, "gen.rps") == text
