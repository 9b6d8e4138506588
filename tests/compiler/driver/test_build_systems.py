"""The build-system kit (issue 12): `rpsc compile --stamp` depfiles, `--compdb`, CPPFLAGS, by-module names,
and the CMake and Meson examples of docs/build-systems.md built for real, doing nothing the second time."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rpsc.driver.build import store_files
from rpsc.driver.cli import main

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((REPO / "plugins_src").glob("*.rps"))
DOC = REPO / "docs" / "build-systems.md"


def depfile_entries(path: Path) -> tuple[str, list[str]]:
    """(target, prerequisites) of a Makefile-style depfile with one rule."""
    text = path.read_text().replace("\\\n", " ")
    target, _, deps = text.partition(": ")
    return target, deps.split()


def test_compile_stamp_depfile_names_sources_and_the_store_files_read(tmp_path: Path):
    """`rpsc compile --stamp F` touches F and writes F.d: into a fresh store it names the sources only (the
    store is its output); into an existing store it also names every manifest and space file it read."""
    store, stamp = tmp_path / "st", tmp_path / "out" / "c.stamp"
    first, *rest = [str(p) for p in EXAMPLES if p.stem == "numeric"] + [str(p) for p in EXAMPLES
                                                                          if p.stem != "numeric"]
    assert main(["compile", first, "--store", str(store), "--stamp", str(stamp)]) == 0
    target, deps = depfile_entries(stamp.with_name("c.stamp.d"))
    assert stamp.is_file() and target == str(stamp) and deps == [first]
    before = [str(p.absolute()) for p in store_files(store)]
    assert main(["compile", *rest, "--store", str(store), "--stamp", str(stamp)]) == 0
    _, deps = depfile_entries(stamp.with_name("c.stamp.d"))
    assert deps[:len(rest)] == [os.path.abspath(p) for p in rest]
    assert sorted(deps[len(rest):]) == sorted(before) and len(before) >= 3
    assert any(d.endswith("rps_manifest.json") for d in deps)


def test_failed_compile_writes_no_stamp(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """A compile error leaves neither the stamp nor its depfile behind."""
    bad = tmp_path / "bad.rps"
    bad.write_text("module bad;\nfn f() -> int { return nope; }\n")
    stamp = tmp_path / "c.stamp"
    assert main(["compile", str(bad), "--store", str(tmp_path / "st"), "--stamp", str(stamp)]) != 0
    assert not stamp.exists() and not stamp.with_name("c.stamp.d").exists()
    assert "bad.rps:2:" in capsys.readouterr().err


def test_compdb_cppflags_and_by_module_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`--compdb` writes compile_commands.json with one relative-path entry per module carrying CPPFLAGS;
    plugins/by-module/<module>.so link to each module's plugin."""
    store = tmp_path / "st"
    assert main(["compile", *map(str, EXAMPLES), "--store", str(store)]) == 0
    monkeypatch.setenv("CPPFLAGS", "-DRPSC_FROM_CPPFLAGS=7")
    assert main(["build", "--store", str(store), "--compdb", "-q"]) == 0
    db = json.loads((store / "build" / "compile_commands.json").read_text())
    assert len(db) == 3
    for entry in db:
        assert entry["directory"] == str((store / "build").absolute())
        assert entry["file"].startswith("../generated/rps") and entry["file"].endswith("-mod.c")
        assert "-DRPSC_FROM_CPPFLAGS=7" in entry["command"] and "-I../generated" in entry["command"]
        assert str(store) not in entry["command"]
    links = sorted(os.listdir(store / "plugins" / "by-module"))
    assert links == sorted(f"{p.stem}.so" for p in EXAMPLES)
    for name in links:
        link = store / "plugins" / "by-module" / name
        assert link.is_symlink() and re.fullmatch(r"\.\./rps_\w+-mod\.so", os.readlink(link))
        assert link.resolve().is_file()


def test_compdb_is_written_again_only_when_build_ninja_or_the_file_changed(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch):
    """After an edit (build.ninja's text unchanged), `--compdb` leaves the compile_commands.json it wrote
    untouched; one edited or removed by hand, or a new CPPFLAGS (another build.ninja), is written again and
    is what `ninja -t compdb` gives."""
    from rpsc.driver import quick
    from rpsc.driver.build import ninja_executable

    src, store = tmp_path / "src", tmp_path / "st"
    shutil.copytree(REPO / "plugins_src", src)
    files = sorted(str(p) for p in src.glob("*.rps"))
    assert main(["compile", *files, "--store", str(store)]) == 0
    assert main(["build", "--store", str(store), "--compdb", "-q"]) == 0
    db = store / "build" / "compile_commands.json"
    numeric = src / "numeric.rps"
    original = numeric.read_text()
    edits = iter(range(1, 100))

    def edit_and_build() -> None:  # a body edit
        numeric.write_text(original + f"\nfn compdb_probe() -> int {{ return {next(edits)}; }}\n")
        assert main(["compile", *files, "--store", str(store)]) == 0
        assert main(["build", "--store", str(store), "--compdb", "-q"]) == 0

    def reference() -> str:
        quick.write_compdb(ninja_executable(), store / "build")
        return db.read_text()

    before = db.stat().st_mtime_ns
    edit_and_build()
    assert db.stat().st_mtime_ns == before
    db.write_text("[]\n")
    edit_and_build()
    assert db.read_text() == reference()
    db.unlink()
    edit_and_build()
    assert db.read_text() == reference()
    monkeypatch.setenv("CPPFLAGS", "-DRPSC_COMPDB_PROBE=1")
    edit_and_build()
    text = db.read_text()
    assert "-DRPSC_COMPDB_PROBE=1" in text and text == reference()


def test_progress_names_phases_and_modules_and_quiet_silences_it(tmp_path: Path):
    """Off a terminal, `rpsc build` prints each phase as a plain line and ninja's steps by module name;
    `--quiet` prints nothing."""
    store = tmp_path / "st"
    assert main(["compile", *map(str, EXAMPLES), "--store", str(store)]) == 0
    run = [sys.executable, "-m", "rpsc", "build", "--store", str(store)]
    quiet = subprocess.run([*run, "--build-dir", str(tmp_path / "q"), "-q"], capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    proc = subprocess.run([*run, "-O", "1"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for phase in ("loading the store", "building the IR of 3 module(s) (0 unchanged)", "generating C for 3 module(s)",
                  "running ninja on 3 module(s)", "recording the plugins in the store"):
        assert f"rpsc build: {phase}" in lines
    for mod in ("numeric", "shapes", "events"):
        assert any(re.fullmatch(rf"\[\d/6\] CC {mod} \(_\w+\)", line) for line in lines), lines
        assert any(re.fullmatch(rf"\[\d/6\] LINK {mod} \(_\w+\)", line) for line in lines), lines
    assert "\r" not in proc.stdout


def doc_block(lang: str) -> str:
    m = re.search(rf"```{lang}\n(.*?)```", DOC.read_text(), re.S)
    assert m, f"no {lang} example in {DOC}"
    return m.group(1)


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")  # rpsc, ninja, meson
    return env


def run(cmd: list[str], cwd: Path) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def project(tmp_path: Path, name: str, text: str) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for p in EXAMPLES:
        shutil.copy(p, src / p.name)
    (src / name).write_text(text)
    return src


def check_plugins(store: Path) -> None:
    from rpsc.backends.c.native import NativeEngine

    for mod in ("numeric", "shapes", "events"):
        assert (store / "plugins" / "by-module" / f"{mod}.so").resolve().is_file()
    with NativeEngine(store, interruptible=False) as eng:
        assert eng.call("numeric.gcd", [12, 18]) == 6


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed (.ci/run installs it)")
def test_cmake_example_builds_the_plugins_and_then_does_nothing(tmp_path: Path):
    """The CMake example of docs/build-systems.md (add_custom_command + DEPFILE, Ninja generator) compiles
    and builds the examples' plugins; a second `cmake --build` has no work to do."""
    src = project(tmp_path, "CMakeLists.txt", doc_block("cmake"))
    build = tmp_path / "build"
    run(["cmake", "-S", str(src), "-B", str(build), "-G", "Ninja"], tmp_path)
    out = run(["cmake", "--build", str(build)], tmp_path)
    assert "rpsc compile" in out and "rpsc build" in out
    check_plugins(build / "store")
    again = run(["cmake", "--build", str(build), "--", "-d", "explain"], tmp_path)
    assert "no work to do" in again, again


def test_meson_example_builds_the_plugins_and_then_does_nothing(tmp_path: Path):
    """The Meson example of docs/build-systems.md (custom_target + depfile) compiles and builds the
    examples' plugins; a second `meson compile` has no work to do."""
    if shutil.which("meson", path=tool_env()["PATH"]) is None:
        pytest.fail("meson is missing: it is in the test extras (pip install '.[test]')")
    src = project(tmp_path, "meson.build", doc_block("meson"))
    build = tmp_path / "build"
    run(["meson", "setup", str(build), str(src)], tmp_path)
    out = run(["meson", "compile", "-C", str(build)], tmp_path)
    assert "rpsc-compile" in out and "rpsc-build" in out
    check_plugins(build / "store")
    again = run(["meson", "compile", "-C", str(build)], tmp_path)
    assert "no work to do" in again, again


def test_progress_on_a_terminal_is_one_status_line_rewritten_in_place():
    """On a TTY each phase overwrites the previous one on a single line (carriage returns, no newline),
    padded over a longer previous text, and `done()` clears it."""
    from rpsc.driver.progress import Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    p = Progress(out, "rpsc build")
    p.phase("loading the store")
    p.phase("IR")
    assert "\n" not in out.getvalue()
    assert out.getvalue().endswith("\rrpsc build: IR") and "rpsc build: IR" + " " * (len("loading the store") - len("IR")) + "\r" in out.getvalue()
    p.done()
    assert out.getvalue().endswith("\r" + " " * len("rpsc build: IR") + "\r")


def test_plugin_include_dir_is_rpsrt_plugins_own():
    """The build's key takes the plugin headers' folder without importing rpsrt.plugins: the same folder."""
    from rpsc.driver.build import plugin_include_dir
    from rpsrt.plugins.build import include_dir

    assert plugin_include_dir() == include_dir() and (include_dir() / "rps").is_dir()
