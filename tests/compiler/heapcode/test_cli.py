"""`rpsc compile`, `rpsc run` and `rpsc show` end to end, on real files and stores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rpsc.driver.cli import main
from rpsc.frontend.parser import parse

from .conftest import fingerprint

SRC = """module demo version "1.0.0";
fn fib(n: int) -> int {
  if n < 2 { return n; }
  return fib(n - 1) + fib(n - 2);
}
fn half(x: float) -> float { return x / 2.0; }
fn ratio(a: int, b: int) -> int { return a / b; }
fn both(a: bool, b: bool) -> bool { return a && b; }
fn spin() -> int {
  var i = 0;
  while i >= 0 { i = i + 1; if i > 1000000000 { i = 0; } }
  return i;
}
fn depth(n: int) -> int { if n <= 1 { return 1; } return depth(n - 1) + 1; }
"""


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store compiled from SRC with `rpsc compile` (which creates it)."""
    src = tmp_path / "demo.rps"
    src.write_text(SRC)
    st = tmp_path / "store"
    assert main(["compile", str(src), "--store", str(st)]) == 0
    assert (st / "rps_manifest.json").is_file()
    return st


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_prints_results_by_parameter_type(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc run` parses int, float and bool arguments by the parameter types and prints the result."""
    assert run(capsys, "run", "--store", str(store), "--backend", "interp", "fib", "20") == (0, "6765\n", "")
    assert run(capsys, "run", "--store", str(store), "--backend", "interp", "half", "3")[1] == "1.5\n"
    assert run(capsys, "run", "--store", str(store), "--backend", "interp", "both", "true", "false")[1] == "false\n"
    assert run(capsys, "run", "--store", str(store), "--backend", "interp", "demo.ratio", "-7", "2")[1] == "-3\n"


def test_run_reports_a_trap_with_status_3(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trap prints `file:line:col: trap: KIND in FUNC` on stderr and exits with status 3."""
    code, out, err = run(capsys, "run", "--store", str(store), "--backend", "interp", "ratio", "1", "0")
    col = SRC.splitlines()[6].index("a / b") + 1
    assert (code, out) == (3, "")
    assert err.strip().endswith(f"demo.rps:7:{col}: trap: division by zero in ratio")


def test_run_recursion_limit_option(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--recursion-limit N lets N nested calls run and traps at N + 1."""
    base = ["run", "--store", str(store), "--backend", "interp", "--recursion-limit", "30", "depth"]
    assert run(capsys, *base, "30")[:2] == (0, "30\n")
    code, _out, err = run(capsys, *base, "31")
    assert code == 3 and "trap: recursion too deep in depth" in err


@pytest.mark.parametrize("argv,message", [
    (["fib", "x"], "argument 'x' is not an int"),
    (["fib"], "takes 1 argument"),
    (["half", "abc"], "not a float"),
    (["both", "yes", "no"], "not a bool"),
    (["fob", "1"], "did you mean fib"),
])
def test_run_bad_arguments_are_clear_errors(store: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                            message: str) -> None:
    """Bad function names and arguments give a one-line error and status 1, never a traceback."""
    code, out, err = run(capsys, "run", "--store", str(store), "--backend", "interp", *argv)
    assert code == 1 and out == "" and message in err and "Traceback" not in err


def test_run_without_store_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc run` on a folder that is not a store says so."""
    code, _out, err = run(capsys, "run", "--store", str(tmp_path / "none"), "--backend", "interp", "f")
    assert code == 1 and "no store here" in err


def test_compile_error_exits_1_and_leaves_store(store: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A compile error prints `file:line:col: error:` with a caret and leaves every store file unchanged."""
    before = fingerprint(store)
    bad = tmp_path / "bad.rps"
    bad.write_text(SRC.replace("return fib(n - 1)", "return fib(n - 1.0)"))
    code, _out, err = run(capsys, "compile", str(bad), "--store", str(store))
    assert code == 1 and f"{bad}:4:" in err and "error:" in err and "^" in err
    missing = tmp_path / "missing.rps"
    code, _out, err = run(capsys, "compile", str(missing), "--store", str(store))
    assert code == 1 and "missing.rps" in err
    assert fingerprint(store) == before


def test_show_prints_source_that_parses_back(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc show` prints a function and a whole module as source equal (as AST) to the original."""
    code, out, _err = run(capsys, "show", "--store", str(store), "demo")
    assert code == 0 and parse(out, "x.rps") == parse(SRC, "x.rps")
    code, out, _err = run(capsys, "show", "--store", str(store), "fib")
    assert code == 0 and out.startswith("fn fib(n: int) -> int {")
    wrapped = parse("module demo;\n" + out, "x.rps").decls[0]
    assert wrapped == next(d for d in parse(SRC, "x.rps").decls if getattr(d, "name", "") == "fib")
    code, _out, err = run(capsys, "show", "--store", str(store), "nothing")
    assert code == 1 and "no module or function named nothing" in err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_interrupts_a_running_loop(store: Path) -> None:
    """SIGINT during `rpsc run` of an endless loop reports the INTERRUPT trap at the loop and exits 3."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "rpsc", "run", "--store", str(store), "--backend", "interp",
                             "spin"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(1.5)  # let it import and enter the loop
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    col = SRC.splitlines()[10].index("while") + 1
    assert proc.returncode == 3, err
    assert err.strip().endswith(f"demo.rps:11:{col}: trap: interrupted in spin")
