"""The code blocks of docs/plugin-author-guide.md and README.md, extracted and built or run as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

GUIDE = REPO / "docs" / "plugin-author-guide.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(path: Path) -> list[tuple[str, str]]:
    """(language, text) of every fenced code block with a language, in order."""
    return [(m.group(1), m.group(2)) for m in _BLOCK.finditer(path.read_text(encoding="utf-8"))]


def _env() -> dict[str, str]:
    """This interpreter's `rpsc` first on PATH (the one installed with the package under test)."""
    bindir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}


def test_the_guide_is_built_and_run_as_written(tmp_path: Path) -> None:
    """The guide's C blocks, one after the other, are hello.c; its sh and python blocks build, check and
    dispatch it exactly as printed (strict C11, so a missing #include fails), and its .rps block compiles."""
    found = blocks(GUIDE)
    langs = [lang for lang, _ in found]
    assert langs.count("c") == 3 and "sh" in langs and "python" in langs and "rps" in langs, langs
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    work = tmp_path / "guide"
    work.mkdir()
    hello = "\n".join(text for lang, text in found if lang == "c")
    (work / "hello.c").write_text(hello)
    for lang, text in found:
        if lang == "rps":
            name = re.search(r"^module (\w+)", text, re.MULTILINE).group(1)  # type: ignore[union-attr]
            (work / f"{name}.rps").write_text(text)
    # The snippets are one translation unit that the strictest usual flags accept.
    subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                    f"-I{REPO / 'runtime' / 'rpsrt' / 'include'}", "hello.c"], cwd=work, check=True)
    outputs = []
    for lang, text in found:
        if lang == "sh":
            proc = subprocess.run(["bash", "-euo", "pipefail", "-c", text], cwd=work, env=_env(),
                                  capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, f"{text}\n{proc.stdout}\n{proc.stderr}"
            outputs.append(proc.stdout)
        elif lang == "python":
            proc = subprocess.run([sys.executable, "-c", text], cwd=work, env=_env(), capture_output=True,
                                  text=True, timeout=300)
            assert proc.returncode == 0, f"{text}\n{proc.stderr}"
    assert (work / "hello_c.json").is_file() and (work / "out" / "hello_c.so").is_file()
    assert (work / "out" / "hello_c.json").is_file()
    assert "hello_c 1.0.0" in outputs[1] and "combine" in outputs[1]
    # §6: hello_c's add (priority 7) runs before the module's mul (priority 5).
    lines = outputs[-1].splitlines()
    dispatch = lines[next(i for i, t in enumerate(lines) if t.startswith("combine("))]
    dispatch = lines[lines.index(dispatch):]
    assert dispatch[0] == "combine(6, 7) [mode all, 2 implementations]"
    assert "hello_c.add" in dispatch[1] and dispatch[1].endswith("-> 13")
    assert "combos.mul" in dispatch[2] and dispatch[2].endswith("-> 42")


def test_the_guides_trap_site_is_where_it_says(tmp_path: Path) -> None:
    """hello_div's trap reports `hello.c:LINE:COL` of its own `if (b == 0)` in the assembled hello.c."""
    from rpsrt.errors import Trap
    from rpsrt.plugins import PluginManager, compile_c_plugin

    hello = "\n".join(text for lang, text in blocks(GUIDE) if lang == "c")
    (tmp_path / "hello.c").write_text(hello)
    compile_c_plugin([tmp_path / "hello.c"], tmp_path / "plugins" / "hello_c.so")
    manager = PluginManager([tmp_path / "plugins"], use_env=False)
    manager.declare("combine", "i64(i64,i64)", "all")
    manager.load("hello_c", {"priority": "3"})
    try:
        assert manager.point("combine")(2, 5) == [7]
        assert manager.function("hello_gcd", "i64(i64,i64)")(-12, 18) == 6
        with pytest.raises(Trap) as info:
            manager.function("hello_div", "i64(i64,i64)")(1, 0)
    finally:
        manager.close()
    line = next(n for n, t in enumerate(hello.splitlines(), 1) if "if (b == 0)" in t)
    col = hello.splitlines()[line - 1].index("if") + 1
    assert info.value.location == f"hello.c:{line}:{col}" and info.value.function == "div"


@pytest.mark.slow
def test_readme_quick_start_as_written(tmp_path: Path) -> None:
    """The README's quick start, run as written in a copy of the checkout: a fresh venv, `pip install .`,
    `rpsc demo`, which ends with every backend agreeing."""
    readme = blocks(REPO / "README.md")
    sh = [text for lang, text in readme if lang == "sh"]
    quick = next(t for t in sh if "rpsc demo" in t)
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False)
    if files.returncode != 0:
        pytest.skip("not a git checkout")
    for rel in filter(None, files.stdout.decode().split("\0")):
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", quick], cwd=src, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.rstrip().endswith("all backends agree")


def test_readme_test_command_is_what_ci_runs() -> None:
    """The README's test command is, word for word, the command .ci/run runs (they are kept in step)."""
    sh = [text.strip() for lang, text in blocks(REPO / "README.md") if lang == "sh"]
    test_cmd = next(t for t in sh if "pytest" in t)
    assert test_cmd in (REPO / ".ci" / "run").read_text()
    assert all(lang in ("sh", "rps", "c", "python", "json") for lang, _ in blocks(REPO / "README.md"))
