"""`rpsc init NAME`: scaffolds a plugin project (a `.rps` module, a test script, a README, a build.ninja).

Entry point: `scaffold(name, path) -> Path`. The project builds with `ninja` (which runs `rpsc compile` and
`rpsc build`) and its test passes as generated.
"""

from __future__ import annotations

import re
from pathlib import Path

from rpsc import CompileError

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_KEYWORDS = {"module", "version", "requires", "space", "class", "attribute", "selector", "symbol", "object",
             "fn", "var", "if", "else", "while", "for", "in", "break", "continue", "return", "true", "false",
             "null", "extension_point", "extend", "priority", "with", "method", "mode", "int", "float", "bool"}

MODULE = """\
// {name}.rps: a plugin module (the language: `rpsc config --docs-dir`/language.md). `ninja` compiles it into build/store and builds
// its native plugin build/store/plugins/rps<oid>-mod.so.
module {name} version "0.1.0";

// Sum of the integers in [0, n), wrapping like every int operation.
fn sum_below(n: int) -> int {{
  var total = 0;
  for i in 0 .. n {{
    total = total + i;
  }}
  return total;
}}

// The mean of two floats.
fn mean(a: float, b: float) -> float {{
  return (a + b) / 2.0;
}}

// Integer division (traps on a zero divisor, like in every backend).
fn quotient(a: int, b: int) -> int {{
  return a / b;
}}
"""

TEST = '''\
"""Tests of the {name} plugin: run `ninja` first, then `python test_{name}.py` (or `pytest`)."""

from __future__ import annotations

import sys
from pathlib import Path

from rpsc.backends.c.native import NativeEngine
from rpsrt import Trap

STORE = Path(__file__).resolve().parent / "build" / "store"


def test_functions() -> None:
    """The built plugin computes what the module says."""
    with NativeEngine(STORE, interruptible=False) as engine:
        assert engine.call("sum_below", [10]) == 45
        assert engine.call("mean", [1.0, 2.0]) == 1.5
        assert engine.call("quotient", [-7, 2]) == -3


def test_trap() -> None:
    """Dividing by zero traps, naming the function and the source position."""
    with NativeEngine(STORE, interruptible=False) as engine:
        try:
            engine.call("quotient", [1, 0])
        except Trap as trap:
            assert trap.kind == "division by zero" and trap.function == "quotient"
        else:
            raise AssertionError("no trap")


if __name__ == "__main__":
    test_functions()
    test_trap()
    print("{name}: all tests passed")
    sys.exit(0)
'''

README = """\
# {name}

A plugin for rpsc. Build it and run its tests:

```sh
ninja                      # rpsc compile {name}.rps into build/store, then rpsc build (C plugin via Ninja)
python test_{name}.py      # or: pytest test_{name}.py
rpsc run --store build/store --backend c sum_below 10
```

`ninja` again does nothing until `{name}.rps` changes. Edit `{name}.rps` (the language reference is
`language.md` in the folder `rpsc config --docs-dir` prints),
then `ninja` recompiles the module and rebuilds only what changed.
"""

NINJA = """\
# build.ninja of the {name} plugin project (written by `rpsc init`; edit freely).
# `ninja` compiles {name}.rps into the store build/store, then builds its native plugin with `rpsc build`.
# `rpsc build --stamp` writes a depfile of the store files it read (it also rewrites some of them, to
# record the plugins: `restat = 1` makes ninja log the stamp's own mtime, so the next run is a no-op).
ninja_required_version = 1.10
rpsc = rpsc
python = python3

rule compile
  command = $rpsc compile --store build/store $in && touch $out
  description = RPSC compile $in

rule plugins
  command = $rpsc build --store build/store --stamp $out
  depfile = $out.d
  deps = gcc
  restat = 1
  description = RPSC build build/store

rule test
  command = $python $in && touch $out
  description = TEST $in

build build/compile.stamp: compile {name}.rps
build build/plugins.stamp: plugins | build/compile.stamp
build build/test.stamp: test test_{name}.py | build/plugins.stamp

build test: phony build/test.stamp
default build/plugins.stamp
"""

GITIGNORE = "build/\n__pycache__/\n"


def scaffold(name: str, path: Path) -> Path:
    """Create the project `name` in `path` (which must not exist or be empty); return the path."""
    if not _NAME_RE.fullmatch(name) or name in _KEYWORDS:
        raise CompileError(f"error: invalid module name {name!r}: use an identifier that is not a keyword "
                           "(letters, digits, '_')")
    if path.exists() and any(path.iterdir()):
        raise CompileError(f"{path}: error: the folder exists and is not empty")
    path.mkdir(parents=True, exist_ok=True)
    files = {
        f"{name}.rps": MODULE,
        f"test_{name}.py": TEST,
        "README.md": README,
        "build.ninja": NINJA,
        ".gitignore": GITIGNORE,
    }
    for fname, template in files.items():
        (path / fname).write_text(template.format(name=name), encoding="utf-8")
    return path
