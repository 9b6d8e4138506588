"""Packaging: the built wheel carries the templates, the grammar, the C headers and both packages."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_carries_package_data(tmp_path: Path) -> None:
    """A wheel built from the source tree contains every package, template, grammar and header."""
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis", ".pytest_cache"))
    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(src)], check=True)
    wheels = list(out.glob("rpsc-*.whl"))
    assert len(wheels) == 1
    names = set(zipfile.ZipFile(wheels[0]).namelist())
    for required in ("rpsc/driver/cli.py", "rpsc/frontend/rps.lark", "rpsrt/include/rps/plugin.h",
                     "rpsrt/include/rps/runtime.h", "rpsrt/store/reader.py", "rpsc/backends/llvm/jit.py",
                     "rpsc/docs/language.md", "rpsc/docs/plugin-author-guide.md", "rpsc/examples/hello_c/hello.c"):
        assert required in names, required
    assert any(n.startswith("rpsc/templates/") and n.endswith(".j2") for n in names)
    # Every package directory in the source tree is in the wheel (a forgotten subpackage is caught here).
    for pkg_root in ("compiler", "runtime"):
        for init in (REPO / pkg_root).rglob("__init__.py"):
            rel = init.relative_to(REPO / pkg_root).as_posix()
            assert rel in names, rel


def test_help_does_not_import_heavy_libraries() -> None:
    """`rpsc --help` builds the whole parser without importing llvmlite, Lark or Jinja2."""
    code = ("import sys, contextlib, io\n"
            "from rpsc.driver.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "heavy = [m for m in ('llvmlite', 'lark', 'jinja2') if m in sys.modules]\n"
            "print(','.join(heavy))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_version_and_module_entry_point() -> None:
    """`python -m rpsc --version` prints the package version and exits 0."""
    import rpsc

    out = subprocess.run([sys.executable, "-m", "rpsc", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.strip() == f"rpsc {rpsc.__version__}"


def test_unknown_command_is_a_usage_error() -> None:
    """An unknown subcommand exits 2 with argparse's usage message, not a traceback."""
    out = subprocess.run([sys.executable, "-m", "rpsc", "no-such-command"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "invalid choice" in out.stderr
