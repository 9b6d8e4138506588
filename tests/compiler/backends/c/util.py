"""Helpers of the C backend tests: compile IR modules into plugins with the real `cc`, call them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from rpsc.driver.build import compiler_workaround_flags
from rpsc.backends.c.emit import emit_c
from rpsc.ir import ir
from rpsrt.plugins import include_dir, write_sidecar

#: The strict flags of the tests: every warning an error, UBSan aborting on the first report, plus the
#: C compiler bug workarounds that `rpsc build` adds (GCC: `--param=max-iterations-to-track=0`).
STRICT_CFLAGS = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined",
                 "-fno-sanitize-recover=undefined", "-fPIC",
                 *compiler_workaround_flags(os.environ.get("CC", "") or "cc")]
REPO = Path(__file__).resolve().parents[4]


def llvm_test_helper(name: str):  # type: ignore[no-untyped-def]
    """A helper module of the LLVM tests (tests/compiler/backends/llvm/NAME.py), e.g. `randprog` or `irfactory`."""
    import importlib

    sys.path.insert(0, str(REPO / "tests" / "compiler" / "backends" / "llvm"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def randprog():  # type: ignore[no-untyped-def]
    """The LLVM engineer's random IR program generator (tests/compiler/backends/llvm/randprog.py)."""
    return llvm_test_helper("randprog")


def compile_modules(modules: Sequence[ir.Module], folder: Path, cflags: Sequence[str] = STRICT_CFLAGS,
                    sidecar: bool = True) -> list[Path]:
    """Emit and compile each module into `folder/plugins/rps<oid>-mod.so` (with its sidecar)."""
    plugins = folder / "plugins"
    gen = folder / "generated"
    plugins.mkdir(parents=True, exist_ok=True)
    gen.mkdir(parents=True, exist_ok=True)
    out = []
    for m in modules:
        src = emit_c(m)
        c = gen / src.file_name
        c.write_text(src.text)
        so = plugins / f"rps{m.oid}-mod.so"
        cmd = [os.environ.get("CC", "cc"), *cflags, f"-I{include_dir()}", "-shared", str(c), "-o", str(so), "-lm"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, f"cc failed on {m.name}:\n{proc.stderr[:4000]}"
        if sidecar:
            write_sidecar(so, src.manifest)
        out.append(so)
    return out


from backend_matrix import outcome, same  # noqa: E402,F401 - the one definition, re-exported