"""The command line renders frontend diagnostics: `file:line:col: error:`, the caret, exit status 1, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from rpsc.driver.cli import main


def test_compile_reports_all_errors_with_status_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc compile` on a file with a syntax and a type error exits 1 and prints both diagnostics."""
    src = tmp_path / "bad.rps"
    src.write_text("module bad;\nfn f() -> int {\n    var x = 1\n    return x + 2.0;\n}\n", encoding="utf-8")
    store = tmp_path / "store"
    status = main(["compile", str(src), "--store", str(store)])
    err = capsys.readouterr().err
    assert status == 1
    assert f"{src}:3:14: error: expected `;`, found keyword `return`" in err
    assert "Traceback" not in err
    assert not (store / "rps_manifest.json").exists()


def test_compile_reports_type_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A type error is rendered with its source line, a `^~~` range under the culprit and a hint."""
    src = tmp_path / "types.rps"
    src.write_text("module types;\nfn f(x: float) -> float {\n    return 1 + x;\n}\n", encoding="utf-8")
    status = main(["compile", str(src), "--store", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert status == 1
    assert err.splitlines()[:4] == [
        f"{src}:3:12: error: mismatched types int and float for `+`",
        " 3 |     return 1 + x;",
        "   |            ^~~~~",
        "hint: no implicit conversions: write `float(1)` or `1.0`",
    ]
