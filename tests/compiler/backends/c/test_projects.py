"""`rpsc init` scaffolds, the top-level build.ninja and `rpsc demo`: build systems driving the compiler."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rpsc.driver.build import ninja_executable
from rpsc.driver.cli import main

from .conftest import REPO


def _env() -> dict[str, str]:
    """PATH with this interpreter's folder first, so that `rpsc` and `python3` are the venv's."""
    return {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}


def _ninja(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ninja_executable(), *args], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_init_scaffold_builds_and_its_test_passes(tmp_path: Path, capsys):  # type: ignore[no-untyped-def]
    """`rpsc init NAME` gives a project whose `ninja` builds the plugin, whose test passes, and whose
    second `ninja` does nothing."""
    proj = tmp_path / "myplug"
    assert main(["init", "myplug", "--path", str(proj)]) == 0
    assert {p.name for p in proj.iterdir()} >= {"myplug.rps", "test_myplug.py", "README.md", "build.ninja"}
    first = _ninja(proj)
    assert first.returncode == 0, first.stdout + first.stderr
    assert list((proj / "build" / "store" / "plugins").glob("rps*-mod.so"))
    test = _ninja(proj, "test")
    assert test.returncode == 0 and "myplug: all tests passed" in test.stdout, test.stdout + test.stderr
    again = _ninja(proj)
    assert again.stdout.strip().endswith("ninja: no work to do."), again.stdout


def test_init_refuses_a_bad_name_or_a_non_empty_folder(tmp_path: Path, capsys):  # type: ignore[no-untyped-def]
    """A name that is not an identifier, or a folder with files in it, is a clear error."""
    assert main(["init", "no-dash", "--path", str(tmp_path / "a")]) == 1
    assert "invalid module name" in capsys.readouterr().err
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("x")
    assert main(["init", "ok", "--path", str(tmp_path / "b")]) == 1
    assert "not empty" in capsys.readouterr().err


@pytest.mark.slow
def test_top_level_build_ninja_builds_the_examples_then_does_nothing(tmp_path: Path):
    """The repository's build.ninja compiles plugins_src/ and builds every plugin; a second ninja is a no-op."""
    work = tmp_path / "repo"
    work.mkdir()
    shutil.copy(REPO / "build.ninja", work / "build.ninja")
    shutil.copytree(REPO / "plugins_src", work / "plugins_src")
    first = _ninja(work)
    assert first.returncode == 0, first.stdout + first.stderr
    sos = list((work / "build" / "store" / "plugins").glob("rps*-mod.so"))
    assert len(sos) == len(list((work / "plugins_src").glob("*.rps")))
    assert (work / "build" / "plugins" / "hello_c.so").is_file()
    again = _ninja(work)
    assert again.stdout.strip() == "ninja: no work to do.", again.stdout


@pytest.mark.slow
def test_demo_runs_the_pipeline_under_every_backend(tmp_path: Path, capsys):  # type: ignore[no-untyped-def]
    """`rpsc demo --json` compiles the examples, builds and loads the plugins, and every backend agrees."""
    assert main(["demo", "--workdir", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["agree"] and len(report["calls"]) >= 3
    for row in report["calls"]:
        assert row["interp"]["result"] == row["jit"]["result"] == row["c"]["result"]
    assert any(p["implementations"] for p in report["extension_points"])
