"""`rpsc plugin` and `rpsc config` on real plugin files, including a plugin that crashes in a child."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rpsc.driver.cli import main
from rpsrt.plugins import PluginManager

from .conftest import HELLO_SRC, Built

RPSC = [sys.executable, "-m", "rpsc"]


def rpsc(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_config_flags_build_a_plugin(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`rpsc config --cflags/--ldflags` are exactly what `cc` needs to build a loadable plugin."""
    code, include, _ = rpsc(capsys, "config", "--include-dir")
    assert code == 0
    assert (Path(include.strip()) / "rps" / "plugin.h").is_file()
    assert (Path(include.strip()) / "rps" / "runtime.h").is_file()
    cflags = shlex.split(rpsc(capsys, "config", "--cflags")[1])
    ldflags = shlex.split(rpsc(capsys, "config", "--ldflags")[1])
    assert "-fPIC" in cflags and f"-I{include.strip()}" in cflags and ldflags == ["-shared"]
    out = tmp_path / "hello_c.so"
    subprocess.run(["cc", *cflags, "-Wall", "-Wextra", "-Werror", str(HELLO_SRC), *ldflags, "-o", str(out)],
                   check=True)
    assert rpsc(capsys, "plugin", "sidecar", str(out))[0] == 0
    mgr = PluginManager([tmp_path], use_env=False)
    mgr.declare("combine", "i64(i64,i64)", "all")
    mgr.load("hello_c")
    assert mgr.point("combine")(1, 2) == [3]
    mgr.close()
    assert rpsc(capsys, "config", "--abi-version")[1] == "1\n"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_hello_makefile(tmp_path: Path) -> None:
    """plugins_src/hello_c's Makefile builds hello_c.so and a sidecar that verifies."""
    for name in ("hello.c", "Makefile"):
        shutil.copy(HELLO_SRC.parent / name, tmp_path / name)
    subprocess.run(["make", "-s", "-C", str(tmp_path), f"RPSC={shlex.join(RPSC)}"], check=True,
                   capture_output=True)
    side = json.loads((tmp_path / "hello_c.json").read_text())
    assert side["name"] == "hello_c" and len(side["sha256"]) == 64
    proc = subprocess.run([*RPSC, "plugin", "inspect", str(tmp_path / "hello_c.so")], capture_output=True, text=True)
    assert "checksum verified" in proc.stdout, proc.stderr


def test_list(capsys: pytest.CaptureFixture[str], built: Built, tmp_path: Path) -> None:
    """`plugin list` shows search path, name, version and status, broken files included."""
    bad = tmp_path / "bad"
    for case in ("wrongabi", "noinit"):
        built.copy_of(built.failing(case), bad)
    code, out, _ = rpsc(capsys, "plugin", "list", "--no-python", "--plugin-path", str(built.deps),
                        "--plugin-path", str(bad))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["SEARCH", "PATH", "NAME", "VERSION", "STATUS"]
    assert any(line.split()[:4] == [str(built.deps), "geometry", "1.2.0", "ok"] for line in lines)
    assert any("wrongabi.so" in line and "built for plugin ABI 2" in line for line in lines)
    assert any("noinit.so" in line and "does not export rps_plugin_init" in line for line in lines)


def test_inspect_without_loading(capsys: pytest.CaptureFixture[str], built: Built) -> None:
    """`plugin inspect` prints manifest and exports of a plugin whose constructor would abort us."""
    code, out, _ = rpsc(capsys, "plugin", "inspect", str(built.deps / "geometry.so"))
    assert code == 0
    assert "geometry 1.2.0 (ABI 1; manifest from sidecar; checksum verified)" in out
    assert "requires: core >=1.0, <2" in out and "export: geometry_quad  quad  i64(i64)" in out
    code, out, _ = rpsc(capsys, "plugin", "inspect", "--json", str(built.failing("ctor_abort")))
    info = json.loads(out)
    assert code == 0 and info["manifest"]["name"] == "ctor_abort" and "rps_plugin_init" in info["exported_functions"]


def test_inspect_bad_file(capsys: pytest.CaptureFixture[str], built: Built, tmp_path: Path) -> None:
    """Bad input is a one-line diagnostic and exit status 1, not a traceback."""
    code, out, err = rpsc(capsys, "plugin", "inspect", str(tmp_path / "absent.so"))
    assert code == 1 and err.startswith(f"{tmp_path / 'absent.so'}: error: cannot read plugin")
    code, out, err = rpsc(capsys, "plugin", "inspect", str(built.failing("malformed")))
    assert code == 1 and "malformed manifest" in err and "Traceback" not in err


def test_check_ok(built: Built) -> None:
    """`plugin check` loads a plugin and its dependencies in a child and reports its registrations."""
    proc = subprocess.run([*RPSC, "plugin", "check", str(built.deps / "geometry.so"),
                           "--point", "combine=i64(i64,i64):all"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "ok: geometry 1.2.0 loaded, initialised and unloaded" in proc.stdout
    assert "dependency: core 1.0.0" in proc.stdout and "extension: combine <- max (priority 1)" in proc.stdout


@pytest.mark.parametrize("case, message", [
    ("crash", "plugin crashed while loading (child process killed by SIGSEGV)"),
    ("ctor_abort", "plugin crashed while loading (child process killed by SIGABRT)"),
])
def test_check_reports_crash(built: Built, case: str, message: str) -> None:
    """A plugin crashing in init (or in a constructor) is a report with exit 1; the caller survives."""
    proc = subprocess.run([*RPSC, "plugin", "check", str(built.failing(case)), "--point",
                           "combine=i64(i64,i64):all"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert f"{built.failing(case)}: error: {message}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_in_process_api_survives_crash(built: Built) -> None:
    """check_in_child, called in this very process, reports the crash and returns normally."""
    from rpsrt.plugins.check import check_in_child

    report = check_in_child(str(built.failing("crash")))
    assert report.crashed and not report.ok and "SIGSEGV" in report.render()


def test_check_reports_errors(built: Built) -> None:
    """A refused plugin's check prints the manager's error; unknown point without --point is reported."""
    proc = subprocess.run([*RPSC, "plugin", "check", str(built.hello / "hello_c.so")], capture_output=True, text=True)
    assert proc.returncode == 1 and "unknown extension point 'combine'" in proc.stderr
    proc = subprocess.run([*RPSC, "plugin", "check", str(built.failing("initfail")), "--point",
                           "combine=i64(i64,i64):all"], capture_output=True, text=True)
    assert proc.returncode == 1 and "rps_plugin_init returned 7" in proc.stderr


def test_graph(capsys: pytest.CaptureFixture[str], built: Built, tmp_path: Path) -> None:
    """`plugin graph` prints DOT with labelled dependency edges and marks missing plugins."""
    code, out, _ = rpsc(capsys, "plugin", "graph", "--no-python", "--plugin-path", str(built.deps),
                        "--plugin-path", str(built.cycle))
    assert code == 0 and out.startswith("digraph plugins {")
    assert '"geometry" -> "core" [label=">=1.0, <2"];' in out
    assert '"cyc_c" -> "cyc_a"' in out
    assert '"nowhere" [label="nowhere\\n(missing)", color=red];' in out
    svg = tmp_path / "g.svg"
    code, _, err = rpsc(capsys, "plugin", "graph", "--no-python", "--plugin-path", str(built.deps), "-o", str(svg))
    if shutil.which("dot"):
        assert code == 0 and svg.read_text().lstrip().startswith("<?xml")
    else:
        assert code == 1 and "needs Graphviz `dot`" in err
    code, _, _ = rpsc(capsys, "plugin", "graph", "--no-python", "--plugin-path", str(built.deps), "-o",
                      str(tmp_path / "g.dot"))
    assert code == 0 and (tmp_path / "g.dot").read_text().startswith("digraph")
